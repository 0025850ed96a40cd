//! Upgrading from the release before the connector kit: the cross-references kept in
//! `mpluskassa_xrefs` move into the kit's `connector_xrefs` (found by key and by id as before)
//! and the legacy table is left empty, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use ferry_connector_mpluskassa::store::{self, XREFS, kind, xref_row};
use ferry_connector_mpluskassa::{Migrator, SERVICE};
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
        (kind::RELATION, "jan@example.nl", "1001"),
        (kind::ARTICLE, "4000001", "77"),
        (kind::ORDER, "WEB-1", "ord-9"),
    ];
    for (k, key, target) in legacy {
        xref_row::Entity::insert(xref_row::ActiveModel {
            integration_id: Set(integration.to_string()),
            kind: Set(k.to_owned()),
            key: Set(key.to_owned()),
            target_id: Set(target.to_owned()),
            updated_at: Set(Utc::now()),
        })
        .exec_without_returning(&conn)
        .await
        .expect("legacy row");
    }

    db::migrate::<Migrator>(&conn).await.expect("upgrade");

    for (k, key, target) in legacy {
        assert_eq!(
            XREFS
                .id_of(&conn, integration, k, key)
                .await
                .unwrap()
                .as_deref(),
            Some(target),
            "{k} {key}"
        );
        let row = XREFS.by_id(&conn, integration, k, target).await.unwrap();
        assert_eq!(row.and_then(|r| r.canonical_key).as_deref(), Some(key));
    }
    assert_eq!(xref_row::Entity::find().count(&conn).await.unwrap(), 0);
    // Migrating again changes nothing.
    db::migrate::<Migrator>(&conn).await.expect("again");
    assert_eq!(
        XREFS
            .id_of(&conn, integration, kind::RELATION, "jan@example.nl")
            .await
            .unwrap()
            .as_deref(),
        Some("1001")
    );
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
            ferry_connector_mpluskassa::migrations()
                .into_iter()
                .filter(|m| !m.name().starts_with("m20261208")),
        );
        migrations
    }

    fn migration_table_name() -> DynIden {
        db::service_migration_table(SERVICE)
    }
}

/// Upgrading from the release before the kit's cursors: `mpluskassa_cursors` rows become
/// `connector_cursors` rows, `mpluskassa_progress` rows `connector_runs` rows (the progress
/// served from them is the same), and both legacy tables are left empty.
async fn cursors_upgrade(config: &ferry_platform::config::DatabaseConfig) {
    use store::{cursor_row, progress_row};
    let conn = db::connect(config).await.expect("connect");
    db::migrate::<BeforeKitCursors>(&conn)
        .await
        .expect("previous release");
    let integration = IntegrationId::new();
    let t = |s: i64| chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
    for (entity, marker, records, parked) in [("relations", 700, 40, 2), ("stock", 9, 3, 0)] {
        cursor_row::Entity::insert(cursor_row::ActiveModel {
            integration_id: Set(integration.to_string()),
            entity: Set(entity.to_owned()),
            marker: Set(marker),
            records: Set(records),
            parked: Set(parked),
            updated_at: Set(t(10)),
        })
        .exec_without_returning(&conn)
        .await
        .expect("legacy cursor");
    }
    progress_row::Entity::insert(progress_row::ActiveModel::from(progress_row::Model {
        integration_id: integration.to_string(),
        entity: "relations".into(),
        state: "running".into(),
        full_sync: true,
        start_marker: 100,
        marker: 700,
        target: 1_100,
        observed: 40,
        parked: 2,
        skipped: 5,
        started_at: Some(t(0)),
        finished_at: None,
        last_error: None,
        samples: None,
    }))
    .exec_without_returning(&conn)
    .await
    .expect("legacy progress");

    for _ in 0..2 {
        // Migrating again changes nothing.
        db::migrate::<Migrator>(&conn).await.expect("upgrade");
        let cursors: Vec<_> = store::cursors(&conn, integration)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.entity, c.marker, c.records, c.parked, c.updated_at))
            .collect();
        assert_eq!(
            cursors,
            [
                ("relations".to_owned(), 700, 40, 2, t(10)),
                ("stock".to_owned(), 9, 3, 0, t(10))
            ]
        );
        let run = store::CURSORS
            .run(&conn, integration, "relations")
            .await
            .unwrap()
            .unwrap();
        let stats = ferry_connector_mpluskassa::ingest::Progress::of(&run);
        assert!(stats.running && stats.full_sync);
        assert_eq!(
            (
                stats.cursor,
                stats.target,
                stats.observed,
                stats.parked,
                stats.skipped
            ),
            (700, 1_100, 40, 2, 5)
        );
        assert_eq!(stats.started_at, Some(t(0)));
        // 600 of 1,000 markers passed; 47 records read.
        let view = run.run().view("relations", t(10));
        assert_eq!(
            (view.percent, view.done, view.total),
            (Some(60.0), 47, None)
        );
        assert_eq!(cursor_row::Entity::find().count(&conn).await.unwrap(), 0);
        assert_eq!(progress_row::Entity::find().count(&conn).await.unwrap(), 0);
    }
    store::forget_integration(&conn, &integration.to_string())
        .await
        .unwrap();
    assert!(store::cursors(&conn, integration).await.unwrap().is_empty());
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
