//! Upgrading from the release before the connector kit: the cross-references kept in
//! `mailchimp_xrefs` (with their fingerprints) move into the kit's `connector_xrefs` and the
//! legacy table is left empty, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use ferry_connector_mailchimp::store::{self, XREFS, XrefKind, xref};
use ferry_connector_mailchimp::{Migrator, SERVICE};
use ferry_platform::bus::BusMigration;
use ferry_platform::db::{self, testing};
use ferry_proto::IntegrationId;
use sea_orm::{EntityTrait, PaginatorTrait, Set};
use sea_orm_migration::prelude::{DynIden, MigrationTrait, MigratorTrait};

/// The migrations of the release before the kit.
struct Previous;

#[async_trait::async_trait]
impl MigratorTrait for Previous {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(BusMigration),
            Box::new(ferry_platform::registry::MirrorMigration),
            Box::new(store::CreateTables),
        ]
    }

    fn migration_table_name() -> DynIden {
        db::service_migration_table(SERVICE)
    }
}

async fn upgrade(config: &ferry_platform::config::DatabaseConfig) {
    let conn = db::connect(config).await.expect("connect");
    db::migrate::<Previous>(&conn)
        .await
        .expect("previous release");
    let integration = IntegrationId::new();
    let legacy = [
        (
            XrefKind::Customer,
            "c-1",
            Some("jan@example.nl"),
            Some("v1"),
        ),
        (XrefKind::Variant, "100/100", Some("100"), None),
        (XrefKind::Order, "WEB-1", Some("WEB-1"), Some("v2")),
    ];
    for (k, id, key, fingerprint) in legacy {
        xref::Entity::insert(xref::ActiveModel {
            integration_id: Set(integration.as_uuid()),
            kind: Set(k.as_str().to_owned()),
            mailchimp_id: Set(id.to_owned()),
            canonical_key: Set(key.map(str::to_owned)),
            fingerprint: Set(fingerprint.map(str::to_owned)),
            updated_at: Set(Utc::now()),
        })
        .exec_without_returning(&conn)
        .await
        .expect("legacy row");
    }

    db::migrate::<Migrator>(&conn).await.expect("upgrade");

    for (k, id, key, fingerprint) in legacy {
        let row = XREFS
            .by_id(&conn, integration, k.as_str(), id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} moved"));
        assert_eq!(row.canonical_key.as_deref(), key);
        assert_eq!(row.fingerprint.as_deref(), fingerprint);
    }
    assert_eq!(
        XREFS
            .id_of(
                &conn,
                integration,
                XrefKind::Customer.as_str(),
                "jan@example.nl"
            )
            .await
            .unwrap()
            .as_deref(),
        Some("c-1")
    );
    assert_eq!(xref::Entity::find().count(&conn).await.unwrap(), 0);
}

#[tokio::test]
async fn legacy_cross_references_move_into_the_kit_on_sqlite() {
    let db = testing::sqlite_temp();
    upgrade(db.config()).await;
}

#[tokio::test]
async fn legacy_cross_references_move_into_the_kit_on_postgres() {
    let db = testing::postgres_schema().await.expect("schema");
    upgrade(db.config()).await;
}
