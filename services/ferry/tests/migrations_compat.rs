//! The rule that keeps a rollback possible (issue 20): migrations stay backward compatible for
//! one release. After the migration Job of release N+1 ran, a replica of release N (a
//! rollback, or an old pod still draining during the rollout) must keep working on the new
//! schema. There is no older binary to run here, so the previous release is represented by
//! what it knew: its migration list per service (`released-migrations.json`, copied from the
//! current lists at each release). On a real PostgreSQL schema per service:
//!
//! 1. the released list is a prefix of the current one (released migrations are never edited
//!    away, renamed or reordered);
//! 2. the released migrations are applied alone (the previous release's schema), its shape
//!    (every table, column, type, nullability) recorded; then the new migrations are applied;
//! 3. every table and column of the previous schema is still there with the same type, none
//!    became NOT NULL, every column added to an old table is nullable or has a default (the old
//!    release's INSERTs do not name it), and the old release's query shapes run: a `SELECT` of
//!    exactly its columns and an `INSERT` naming only its columns, rolled back.
//!
//! A new migration that breaks the rule (the self-check below adds a NOT NULL column without a
//! default to an old table, and drops a column) is caught.
//!
//! At a release: `FERRY_WRITE_RELEASED_MIGRATIONS=1 cargo nextest run -p ferry --test
//! migrations_compat` rewrites the file with the current lists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use ferry_platform::db::{self, testing::postgres_schema};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use sea_orm_migration::{MigrationTrait, MigratorTrait, SchemaManager};
use serde_json::{Value, json};

const RELEASED: &str = "tests/released-migrations.json";

/// Every standalone service's migrator (bus tables plus its own), by service name.
fn current() -> BTreeMap<&'static str, Vec<Box<dyn MigrationTrait>>> {
    BTreeMap::from([
        (
            "connector-mailchimp",
            ferry_connector_mailchimp::Migrator::migrations(),
        ),
        (
            "connector-mpluskassa",
            ferry_connector_mpluskassa::Migrator::migrations(),
        ),
        ("mapper", ferry_mapper::Migrator::migrations()),
        (
            "order-orchestrator",
            ferry_order_orchestrator::Migrator::migrations(),
        ),
        ("notifier", ferry_notifier::Migrator::migrations()),
    ])
}

/// A column as the old release sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    data_type: String,
    nullable: bool,
    has_default: bool,
}

type Shape = BTreeMap<String, BTreeMap<String, Column>>;

async fn shape(db: &DatabaseConnection) -> Shape {
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty, \
             is_nullable::text AS n, column_default::text AS d FROM information_schema.columns \
             WHERE table_schema = current_schema()",
        ))
        .await
        .unwrap();
    let mut shape = Shape::new();
    for row in rows {
        let table: String = row.try_get("", "t").unwrap();
        let column: String = row.try_get("", "c").unwrap();
        let default: Option<String> = row.try_get("", "d").unwrap();
        shape.entry(table).or_default().insert(
            column,
            Column {
                data_type: row.try_get("", "ty").unwrap(),
                nullable: row.try_get::<String>("", "n").unwrap() == "YES",
                has_default: default.is_some(),
            },
        );
    }
    shape
}

/// What the old release could no longer do on the new schema.
fn breaks(old: &Shape, new: &Shape) -> Vec<String> {
    let mut problems = Vec::new();
    for (table, columns) in old {
        let Some(now) = new.get(table) else {
            problems.push(format!("table {table} was dropped or renamed"));
            continue;
        };
        for (name, before) in columns {
            match now.get(name) {
                None => problems.push(format!("column {table}.{name} was dropped or renamed")),
                Some(after) if after.data_type != before.data_type => problems.push(format!(
                    "column {table}.{name} changed type {} -> {}",
                    before.data_type, after.data_type
                )),
                Some(after) if before.nullable && !after.nullable => {
                    problems.push(format!("column {table}.{name} became NOT NULL"))
                }
                Some(_) => {}
            }
        }
        for (name, added) in now {
            if !columns.contains_key(name) && !added.nullable && !added.has_default {
                problems.push(format!(
                    "column {table}.{name} was added NOT NULL without a default (the previous \
                     release's INSERTs do not name it)"
                ));
            }
        }
    }
    problems
}

/// Runs the previous release's query shapes on the new schema: a `SELECT` of its columns and
/// an `INSERT` of one row naming only them (values copied from a row it made), rolled back.
async fn old_queries_run(
    db: &DatabaseConnection,
    old: &Shape,
    sample: &Shape,
    kept: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (table, columns) in old {
        let names: Vec<String> = columns.keys().map(|c| format!("\"{c}\"")).collect();
        let list = names.join(", ");
        let select = format!("SELECT {list} FROM \"{table}\" LIMIT 1");
        if let Err(error) = db
            .execute(Statement::from_string(db.get_database_backend(), select))
            .await
        {
            problems.push(format!("SELECT of the old columns of {table}: {error}"));
        }
        // Only tables the old release wrote a row to in `sample` get the INSERT shape.
        if !sample.contains_key(table) {
            continue;
        }
        let txn = db.begin().await.unwrap();
        let insert =
            format!("INSERT INTO \"{table}\" ({list}) SELECT {list} FROM \"{kept}\".\"{table}\"");
        if let Err(error) = txn
            .execute(Statement::from_string(db.get_database_backend(), insert))
            .await
        {
            problems.push(format!("INSERT of the old columns into {table}: {error}"));
        }
        txn.rollback().await.unwrap();
    }
    problems
}

async fn apply(db: &DatabaseConnection, migrations: &[&dyn MigrationTrait]) {
    let manager = SchemaManager::new(db);
    for migration in migrations {
        migration
            .up(&manager)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", migration.name()));
    }
}

/// Checks one service: `released` names applied alone, then the rest of `all`.
async fn check(service: &str, released: &[String], all: &[&dyn MigrationTrait]) -> Vec<String> {
    let names: Vec<&str> = all.iter().map(|m| m.name()).collect();
    if names.len() < released.len()
        || names[..released.len()] != released.iter().map(String::as_str).collect::<Vec<_>>()
    {
        return vec![format!(
            "{service}: the released migrations {released:?} are not the start of the current \
             ones {names:?} (a released migration was removed, renamed or reordered)"
        )];
    }
    let schema = postgres_schema().await.unwrap();
    let conn = db::connect(&schema).await.unwrap();
    let (old, new): (Vec<&dyn MigrationTrait>, Vec<&dyn MigrationTrait>) = all
        .iter()
        .partition(|m| released.iter().any(|r| r == m.name()));
    apply(&conn, &old).await;
    let before = shape(&conn).await;
    // One row per table the old release could have written: kept aside (in a schema of its
    // own, which the new migrations do not touch) to replay its INSERT shape afterwards. Tables whose rows
    // need values this generic check cannot invent (constraints) keep only the SELECT check.
    let kept = format!("{}_old", schema.schema.as_deref().unwrap());
    let sample = keep_old_rows(&conn, &before, &kept).await;
    apply(&conn, &new).await;
    let after = shape(&conn).await;
    let mut problems: Vec<String> = breaks(&before, &after)
        .into_iter()
        .map(|p| format!("{service}: {p}"))
        .collect();
    problems.extend(
        old_queries_run(&conn, &before, &sample, &kept)
            .await
            .into_iter()
            .map(|p| format!("{service}: {p}")),
    );
    let _ = conn
        .execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{kept}\" CASCADE"))
        .await;
    problems
}

/// Copies, for each old table, an empty table of its shape into schema `kept_in` and
/// inserts one row of defaults and NULLs where the old table accepts it (the shape of an
/// INSERT of the old release, not its data). Returns the tables that got a row.
async fn keep_old_rows(db: &DatabaseConnection, old: &Shape, kept_in: &str) -> Shape {
    db.execute_unprepared(&format!("CREATE SCHEMA \"{kept_in}\""))
        .await
        .unwrap();
    let mut kept = Shape::new();
    for (table, columns) in old {
        db.execute_unprepared(&format!(
            "CREATE TABLE \"{kept_in}\".\"{table}\" AS SELECT * FROM \"{table}\" WITH NO DATA"
        ))
        .await
        .unwrap();
        let values: Vec<String> = columns.values().map(sample_value).collect();
        let list: Vec<String> = columns.keys().map(|c| format!("\"{c}\"")).collect();
        // The row must be one the old table itself accepts.
        let txn = db.begin().await.unwrap();
        let accepted = txn
            .execute_unprepared(&format!(
                "INSERT INTO \"{table}\" ({}) VALUES ({})",
                list.join(", "),
                values.join(", ")
            ))
            .await
            .is_ok();
        txn.rollback().await.unwrap();
        if accepted {
            db.execute_unprepared(&format!(
                "INSERT INTO \"{kept_in}\".\"{table}\" ({}) VALUES ({})",
                list.join(", "),
                values.join(", ")
            ))
            .await
            .unwrap();
            kept.insert(table.clone(), columns.clone());
        }
    }
    kept
}

/// A value of `column`'s type (its default when it has one).
fn sample_value(column: &Column) -> String {
    if column.has_default {
        return "DEFAULT".to_owned();
    }
    if column.nullable {
        return "NULL".to_owned();
    }
    match column.data_type.as_str() {
        "integer" | "bigint" | "smallint" | "numeric" | "double precision" | "real" => "1",
        "boolean" => "false",
        "uuid" => "'0190a6a0-0000-7000-8000-000000000001'",
        "json" | "jsonb" => "'{}'",
        "bytea" => "'\\x00'",
        t if t.starts_with("timestamp") => "'2026-01-01T00:00:00Z'",
        "date" => "'2026-01-01'",
        _ => "'compat-check'",
    }
    .to_owned()
}

#[tokio::test]
async fn migrations_stay_backward_compatible_for_one_release() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(RELEASED);
    let current = current();
    let lists: BTreeMap<&str, Vec<&str>> = current
        .iter()
        .map(|(service, migrations)| (*service, migrations.iter().map(|m| m.name()).collect()))
        .collect();
    if std::env::var_os("FERRY_WRITE_RELEASED_MIGRATIONS").is_some() {
        let file = json!({"release": db::RELEASE, "services": lists});
        std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    }
    let released: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut problems = Vec::new();
    for (service, migrations) in &current {
        let names: Vec<String> = released["services"][service]
            .as_array()
            .unwrap_or_else(|| panic!("{RELEASED} has no list for {service}"))
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        let all: Vec<&dyn MigrationTrait> = migrations.iter().map(|m| m.as_ref()).collect();
        problems.extend(check(service, &names, &all).await);
    }
    assert!(
        problems.is_empty(),
        "{}\n(current lists: {})",
        problems.join("\n"),
        serde_json::to_string(&lists).unwrap()
    );
}

/// The check catches a new migration that breaks the previous release.
#[tokio::test]
async fn a_breaking_migration_is_caught() {
    struct Breaking;
    impl sea_orm_migration::MigrationName for Breaking {
        fn name(&self) -> &str {
            "m29990101_000001_breaking"
        }
    }
    #[async_trait::async_trait]
    impl MigrationTrait for Breaking {
        async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
            let db = manager.get_connection();
            db.execute_unprepared(
                "ALTER TABLE notifier_alerts ADD COLUMN owner TEXT NOT NULL; \
                 ALTER TABLE notifier_alerts DROP COLUMN action",
            )
            .await
            .map(|_| ())
        }
    }
    let migrations = ferry_notifier::Migrator::migrations();
    let released: Vec<String> = migrations.iter().map(|m| m.name().to_owned()).collect();
    let mut all: Vec<&dyn MigrationTrait> = migrations.iter().map(|m| m.as_ref()).collect();
    all.push(&Breaking);
    let problems = check("notifier", &released, &all).await;
    let text = problems.join("\n");
    assert!(
        text.contains("notifier_alerts.owner was added NOT NULL without a default"),
        "{text}"
    );
    assert!(
        text.contains("notifier_alerts.action was dropped"),
        "{text}"
    );
    assert!(
        text.contains("INSERT of the old columns into notifier_alerts"),
        "{text}"
    );

    // A removed released migration is caught as well.
    let fewer: Vec<&dyn MigrationTrait> = migrations[1..].iter().map(|m| m.as_ref()).collect();
    let problems = check("notifier", &released, &fewer).await;
    assert!(
        problems.join("\n").contains("are not the start"),
        "{problems:?}"
    );
}
