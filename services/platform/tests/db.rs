//! Database setup against SQLite files and the local PostgreSQL (127.0.0.1:5432, user
//! `postgres`, database `test`; override with `FERRY_TEST_POSTGRES_URL`).

use ferry_platform::admin::ReadinessCheck;
use ferry_platform::config::{DatabaseConfig, Secret};
use ferry_platform::db::{self, DbError, DbReadiness, testing};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::prelude::*;

/// Example migration: an owners table and an items table referencing it.
struct CreateItems;

impl MigrationName for CreateItems {
    fn name(&self) -> &str {
        "m20250101_000001_create_items"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateItems {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("owners"))
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("items"))
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("owner_id")).integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("items"), Alias::new("owner_id"))
                            .to(Alias::new("owners"), Alias::new("id")),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("items")).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Alias::new("owners")).to_owned())
            .await
    }
}

struct MapperMigrator;

#[async_trait::async_trait]
impl MigratorTrait for MapperMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateItems)]
    }

    fn migration_table_name() -> DynIden {
        db::service_migration_table("mapper")
    }
}

/// A second service's migrator, sharing the same database.
struct NotifierMigrator;

struct CreateActivity;

impl MigrationName for CreateActivity {
    fn name(&self) -> &str {
        "m20250101_000001_create_activity"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateActivity {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("activity"))
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .to_owned(),
            )
            .await
    }
}

#[async_trait::async_trait]
impl MigratorTrait for NotifierMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateActivity)]
    }

    fn migration_table_name() -> DynIden {
        db::service_migration_table("notifier")
    }
}

async fn query_string(db: &DatabaseConnection, sql: &str) -> String {
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("one row");
    row.try_get_by_index::<String>(0).expect("a text column")
}

async fn query_i64(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("an integer column")
}

async fn applied(db: &DatabaseConnection, table: &str) -> i64 {
    query_i64(db, &format!("SELECT COUNT(*) FROM {table}")).await
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode_with_foreign_keys() {
    let test_db = testing::sqlite_temp();
    let db = db::connect(test_db.config()).await.expect("connect");

    assert_eq!(query_string(&db, "PRAGMA journal_mode").await, "wal");
    assert_eq!(query_i64(&db, "PRAGMA foreign_keys").await, 1);

    db::migrate::<MapperMigrator>(&db)
        .await
        .expect("first migration");
    db::migrate::<MapperMigrator>(&db)
        .await
        .expect("second migration is a no-op");
    assert_eq!(applied(&db, "ferry_migrations_mapper").await, 1);

    // Foreign keys are enforced.
    let orphan = db
        .execute_unprepared("INSERT INTO items (id, owner_id) VALUES (1, 42)")
        .await;
    assert!(orphan.is_err(), "{orphan:?}");

    // Another service's migrator shares the file with its own table.
    db::migrate::<NotifierMigrator>(&db)
        .await
        .expect("notifier migration");
    assert_eq!(applied(&db, "ferry_migrations_notifier").await, 1);
    assert_eq!(applied(&db, "ferry_migrations_mapper").await, 1);

    assert_eq!(DbReadiness::new(db.clone()).check().await, Ok(()));
    db.close().await.expect("close");
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let config = DatabaseConfig {
        url: Secret::new("sqlite::memory:"),
        ..DatabaseConfig::default()
    };
    let db = db::connect(&config).await.expect("connect");
    db::migrate::<MapperMigrator>(&db).await.expect("migration");
    assert_eq!(applied(&db, "ferry_migrations_mapper").await, 1);
}

#[tokio::test]
async fn postgres_schema_isolates_and_migrations_are_idempotent() {
    let test_db = testing::postgres_schema().await.expect("test schema");
    let schema = test_db.schema.clone().expect("a schema");
    let db = db::connect(test_db.config()).await.expect("connect");

    assert_eq!(
        query_string(&db, "SELECT current_schema()::text").await,
        schema
    );
    db::migrate::<MapperMigrator>(&db)
        .await
        .expect("first migration");
    db::migrate::<MapperMigrator>(&db)
        .await
        .expect("second migration is a no-op");
    db::migrate::<NotifierMigrator>(&db)
        .await
        .expect("notifier migration");
    assert_eq!(applied(&db, "ferry_migrations_mapper").await, 1);
    assert_eq!(applied(&db, "ferry_migrations_notifier").await, 1);
    let tables = query_i64(
        &db,
        &format!(
            "SELECT COUNT(*)::bigint FROM information_schema.tables WHERE table_schema = '{schema}' \
             AND table_name IN ('owners', 'items', 'activity')"
        ),
    )
    .await;
    assert_eq!(tables, 3);

    assert_eq!(DbReadiness::new(db.clone()).check().await, Ok(()));
    db.close().await.expect("close");

    drop(test_db);
    let check = db::connect(&DatabaseConfig {
        url: Secret::new(testing::postgres_url()),
        max_connections: 1,
        schema: None,
        migrate_at_start: true,
    })
    .await
    .expect("connect");
    let left = query_i64(
        &check,
        &format!(
            "SELECT COUNT(*)::bigint FROM information_schema.schemata WHERE schema_name = '{schema}'"
        ),
    )
    .await;
    assert_eq!(left, 0, "schema dropped with its guard");
}

/// A test schema's guard and name, with the schema dropped again so that connect has to
/// create it.
async fn missing_schema() -> (testing::TestDatabase, String) {
    let test_db = testing::postgres_schema().await.expect("test schema");
    let schema = test_db.schema.clone().expect("a schema");
    let admin = db::connect(&DatabaseConfig {
        url: Secret::new(testing::postgres_url()),
        max_connections: 1,
        schema: None,
        migrate_at_start: true,
    })
    .await
    .expect("connect");
    admin
        .execute_unprepared(&format!(r#"DROP SCHEMA "{schema}""#))
        .await
        .expect("drop schema");
    (test_db, schema)
}

/// Replicas of a service start together on a fresh database (a first deployment): each
/// creates the schema and runs the migrations at the same moment, and every one succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_create_the_schema_and_migrate_once() {
    let (test_db, _) = missing_schema().await;

    let replicas = (0..6).map(|_| {
        let config = test_db.config().clone();
        tokio::spawn(async move {
            let db = db::connect(&config).await?;
            db::migrate::<MapperMigrator>(&db).await?;
            db::migrate::<NotifierMigrator>(&db).await?;
            Ok::<_, DbError>(db)
        })
    });
    let mut started = Vec::new();
    for replica in replicas.collect::<Vec<_>>() {
        started.push(
            replica
                .await
                .expect("replica task")
                .expect("replica starts"),
        );
    }
    assert_eq!(applied(&started[0], "ferry_migrations_mapper").await, 1);
    assert_eq!(applied(&started[0], "ferry_migrations_notifier").await, 1);
    for db in started {
        db.close().await.expect("close");
    }
}

#[tokio::test]
async fn postgres_schema_is_created_when_missing() {
    let (test_db, schema) = missing_schema().await;

    let db = db::connect(test_db.config())
        .await
        .expect("connect creates the schema");
    assert_eq!(
        query_string(&db, "SELECT current_schema()::text").await,
        schema
    );
}

#[tokio::test]
async fn connection_failures_do_not_reveal_the_password() {
    let config = DatabaseConfig {
        // The server refuses the unknown role at once (a closed port would be retried until
        // the connect timeout).
        url: Secret::new("postgres://no_such_role:pw-do-not-print@127.0.0.1:5432/test"),
        max_connections: 1,
        schema: None,
        migrate_at_start: true,
    };
    let err = db::connect(&config)
        .await
        .expect_err("the role does not exist");
    assert!(
        matches!(
            err,
            DbError::Connect {
                kind: "postgres",
                ..
            }
        ),
        "{err:?}"
    );
    let mut message = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    assert!(!message.contains("pw-do-not-print"), "{message}");

    let unsupported = DatabaseConfig {
        url: Secret::new("mysql://db/ferry"),
        ..DatabaseConfig::default()
    };
    assert!(matches!(
        db::connect(&unsupported).await,
        Err(DbError::UnsupportedUrl)
    ));
}

/// The mapper of a newer release: one migration more.
struct NewerMapperMigrator;

#[async_trait::async_trait]
impl MigratorTrait for NewerMapperMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateItems), Box::new(CreateActivity)]
    }

    fn migration_table_name() -> DynIden {
        db::service_migration_table("mapper")
    }
}

async fn set_schema_release(db: &DatabaseConnection, release: &str) {
    db.execute_unprepared(&format!(
        "UPDATE ferry_schema_releases SET release = '{release}' \
         WHERE migration_table = 'ferry_migrations_mapper'"
    ))
    .await
    .expect("update");
}

#[tokio::test]
async fn a_schema_of_the_next_release_is_accepted_and_a_later_one_refused_clearly() {
    let config = DatabaseConfig {
        url: Secret::new("sqlite::memory:"),
        ..DatabaseConfig::default()
    };
    let db = db::connect(&config).await.expect("connect");
    db::migrate::<NewerMapperMigrator>(&db)
        .await
        .expect("the newer release migrates");
    let (major, minor) = {
        let mut parts = db::RELEASE
            .split('.')
            .map(|p| p.parse::<u64>().expect("a number"));
        (parts.next().expect("major"), parts.next().expect("minor"))
    };

    // The next release migrated it: this build (the previous release) runs on it, as after
    // a rollback.
    set_schema_release(&db, &format!("{major}.{}.0", minor + 1)).await;
    db::migrate::<MapperMigrator>(&db)
        .await
        .expect("one release back is the rollback window");

    // Two releases ahead: refused, naming the table, the release and the migrations.
    set_schema_release(&db, &format!("{major}.{}.0", minor + 2)).await;
    let err = db::migrate::<MapperMigrator>(&db)
        .await
        .expect_err("the older build must refuse a schema two releases ahead");
    let DbError::SchemaNewer {
        table,
        unknown,
        release,
    } = &err
    else {
        panic!("expected SchemaNewer, got {err:?}");
    };
    assert_eq!(table, "ferry_migrations_mapper");
    assert_eq!(unknown, &["m20250101_000001_create_activity"]);
    assert_eq!(release, &format!("{major}.{}.0", minor + 2));
    assert!(err.to_string().contains("newer than this build"), "{err}");
    // The release that knows every migration still starts.
    db::migrate::<NewerMapperMigrator>(&db)
        .await
        .expect("same release");
}

#[tokio::test]
async fn without_migrations_at_start_a_service_refuses_a_schema_it_lacks_migrations_of() {
    let schema = testing::postgres_schema().await.expect("schema");
    let config = DatabaseConfig {
        migrate_at_start: false,
        ..schema.config().clone()
    };
    let db = db::connect(&config).await.expect("connect");

    // A fresh schema: every migration is missing, named, with the command that fixes it.
    let err = db::prepare::<MapperMigrator>(&db, &config)
        .await
        .expect_err("a schema without the migrations must be refused");
    let DbError::SchemaBehind { table, pending } = &err else {
        panic!("expected SchemaBehind, got {err:?}");
    };
    assert_eq!(table, "ferry_migrations_mapper");
    assert_eq!(pending, &["m20250101_000001_create_items"]);
    let message = err.to_string();
    assert!(
        message.contains("older than this build")
            && message.contains("m20250101_000001_create_items")
            && message.contains("`migrate`"),
        "{message}"
    );
    assert_eq!(
        applied(&db, "ferry_migrations_mapper").await,
        0,
        "nothing migrated"
    );

    // The newer build's Job migrated: this build lacks nothing, and the next release's
    // migration is within the rollback window.
    db::migrate::<NewerMapperMigrator>(&db)
        .await
        .expect("the Job");
    db::prepare::<MapperMigrator>(&db, &config)
        .await
        .expect("a schema of the next release is accepted");
    db::prepare::<NewerMapperMigrator>(&db, &config)
        .await
        .expect("the schema its own Job made");

    // The older migrator after the newer one, with migrations at start: unchanged.
    db::prepare::<MapperMigrator>(
        &db,
        &DatabaseConfig {
            migrate_at_start: true,
            ..config.clone()
        },
    )
    .await
    .expect("migrating at start on the same schema");
}
