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

/// The migrations of the release before the kit's cursors.
struct BeforeKitCursors;

#[async_trait::async_trait]
impl MigratorTrait for BeforeKitCursors {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations: Vec<Box<dyn MigrationTrait>> = vec![
            Box::new(BusMigration),
            Box::new(ferry_platform::registry::MirrorMigration),
        ];
        migrations.extend(
            ferry_connector_mailchimp::migrations()
                .into_iter()
                .filter(|m| !m.name().starts_with("m20261208")),
        );
        migrations
    }

    fn migration_table_name() -> DynIden {
        db::service_migration_table(SERVICE)
    }
}

/// Upgrading from the release before the kit's cursors: each `mailchimp_cursors` row becomes a
/// `connector_cursors` row (watermark, last poll) and a `connector_runs` row (the sync), the
/// progress served from it is the same, and the legacy table is left empty.
async fn cursors_upgrade(config: &ferry_platform::config::DatabaseConfig) {
    use ferry_platform::connector::progress::{Sample, Samples};
    let conn = db::connect(config).await.expect("connect");
    db::migrate::<BeforeKitCursors>(&conn)
        .await
        .expect("previous release");
    let integration = IntegrationId::new();
    let t = |s: i64| chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
    let mut samples = Samples::started(t(0));
    samples.record(Sample {
        at: t(5),
        done: 10,
        position: 10,
    });
    let done = store::cursor::Model {
        integration_id: integration.as_uuid(),
        resource: "orders".into(),
        watermark: Some(t(-30)),
        last_poll_at: Some(t(8)),
        sync_state: "done".into(),
        sync_mode: "full".into(),
        sync_total: 10,
        sync_done: 10,
        sync_published: 7,
        sync_rejected: 1,
        sync_started_at: Some(t(0)),
        sync_finished_at: Some(t(8)),
        last_error: None,
        sync_samples: Some(samples.to_json()),
    };
    let failed = store::cursor::Model {
        resource: "members".into(),
        watermark: None,
        last_poll_at: None,
        sync_state: "failed".into(),
        sync_total: 0,
        sync_done: 0,
        sync_published: 0,
        sync_rejected: 0,
        last_error: Some("members.list: 500".into()),
        sync_samples: None,
        ..done.clone()
    };
    for row in [&done, &failed] {
        store::cursor::Entity::insert(store::cursor::ActiveModel::from(row.clone()))
            .exec_without_returning(&conn)
            .await
            .expect("legacy row");
    }

    for _ in 0..2 {
        // Migrating again changes nothing.
        db::migrate::<Migrator>(&conn).await.expect("upgrade");
        let cursors = store::CURSORS.all(&conn, integration).await.unwrap();
        let watermarks: Vec<_> = cursors
            .iter()
            .map(|c| (c.resource.as_str(), c.watermark, c.polled_at))
            .collect();
        assert_eq!(
            watermarks,
            [
                ("members", None, None),
                ("orders", Some(t(-30)), Some(t(8)))
            ]
        );
        let orders = store::CURSORS
            .run(&conn, integration, "orders")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (orders.state.as_str(), orders.mode.as_str(), orders.done()),
            ("done", "full", 10)
        );
        assert_eq!(
            (
                orders.published,
                orders.parked,
                orders.skipped,
                orders.total
            ),
            (7, 1, 2, Some(10))
        );
        assert_eq!(
            (orders.started_at, orders.finished_at),
            (Some(t(0)), Some(t(8)))
        );
        assert_eq!(Samples::from_json(orders.samples.as_ref()), samples);
        let view = orders.run().view("orders", t(100));
        assert_eq!(
            (view.percent, view.rate_per_second, view.total),
            (Some(100.0), Some(1.3), Some(10))
        );
        let members = store::CURSORS
            .run(&conn, integration, "members")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(members.state, "failed");
        assert_eq!(members.last_error.as_deref(), Some("members.list: 500"));
        assert_eq!(store::cursor::Entity::find().count(&conn).await.unwrap(), 0);
    }
    // Erasing the integration forgets them.
    store::forget_integration(&conn, integration).await.unwrap();
    assert!(
        store::CURSORS
            .all(&conn, integration)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store::CURSORS
            .runs(&conn, integration)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn legacy_cursors_move_into_the_kit_on_sqlite() {
    let db = testing::sqlite_temp();
    cursors_upgrade(db.config()).await;
}

#[tokio::test]
async fn legacy_cursors_move_into_the_kit_on_postgres() {
    let db = testing::postgres_schema().await.expect("schema");
    cursors_upgrade(db.config()).await;
}
