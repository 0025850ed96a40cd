//! Database setup: connecting to PostgreSQL (production) or SQLite (embedded), running a
//! service's migrations, and the `/readyz` check.
//!
//! - SQLite: the file is created if missing, in WAL mode, with foreign keys on and a 5 s busy
//!   timeout. `sqlite::memory:` works with one connection only (each connection would get its
//!   own database), so the pool is capped at 1 for it.
//! - PostgreSQL: with [`DatabaseConfig::schema`], the schema is created if missing and every
//!   pooled connection gets it as `search_path`.
//!
//! Each service has its own migrator with its own migration table
//! ([`service_migration_table`]), so that all services can share one SQLite file in the
//! all-in-one binary:
//!
//! ```
//! use ferry_platform::db;
//! use sea_orm_migration::prelude::*;
//!
//! pub struct Migrator;
//!
//! #[async_trait::async_trait]
//! impl MigratorTrait for Migrator {
//!     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
//!         vec![] // the service's migrations
//!     }
//!
//!     fn migration_table_name() -> DynIden {
//!         db::service_migration_table("mapper")
//!     }
//! }
//! # async fn run(config: &ferry_platform::config::DatabaseConfig) -> Result<(), db::DbError> {
//! let conn = db::connect(config).await?;
//! db::migrate::<Migrator>(&conn).await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbBackend,
    DbErr, Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::{Alias, DynIden, IntoIden};

use crate::admin::ReadinessCheck;
use crate::config::{DatabaseConfig, DatabaseKind};

/// How long to wait for a connection (connect and pool acquire).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long SQLite waits for a lock held by another connection.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the database could not be set up. Messages never contain the URL (it may hold a
/// password).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no supported engine.
    #[error("database.url: must start with postgres://, postgresql:// or sqlite:")]
    UnsupportedUrl,
    /// The database was migrated by a release more than one ahead of this build.
    #[error(
        "the database schema is newer than this build ({}): {table} lists migrations it does \
         not know ({}), applied by release {release}, more than one release ahead. Run that \
         release (or newer), or restore the backup taken before the upgrade",
        RELEASE,
        .unknown.join(", ")
    )]
    SchemaNewer {
        /// The service's migration table.
        table: String,
        /// The release that last migrated it (`unknown` when not recorded).
        release: String,
        /// The migrations applied that this build does not have.
        unknown: Vec<String>,
    },
    /// The service does not migrate at start and the schema lacks some of its migrations.
    #[error(
        "the database schema is older than this build ({}): {table} lacks the migrations {}. \
         Run the service's `migrate` command first (on Kubernetes the migration Job of this \
         release), or set database.migrate_at_start = true",
        RELEASE,
        .pending.join(", ")
    )]
    SchemaBehind {
        /// The service's migration table.
        table: String,
        /// This build's migrations not applied yet.
        pending: Vec<String>,
    },
    /// `database.schema` is not a plain lowercase identifier.
    #[error("database.schema: {0:?} is not a valid schema name")]
    InvalidSchema(String),
    /// Connecting failed.
    #[error("cannot connect to the {kind} database")]
    Connect {
        /// `postgres` or `sqlite`.
        kind: &'static str,
        /// Why.
        #[source]
        source: DbErr,
    },
    /// The schema could not be created.
    #[error("cannot create schema {schema}")]
    CreateSchema {
        /// The schema.
        schema: String,
        /// Why.
        #[source]
        source: DbErr,
    },
    /// A migration failed.
    #[error("migrations in {table} failed")]
    Migrate {
        /// The migration table of the migrator.
        table: String,
        /// Why.
        #[source]
        source: DbErr,
    },
    /// A statement failed.
    #[error("database statement failed")]
    Query(#[source] DbErr),
}

/// Connects to the database of `config` (see the module documentation for what is set up).
#[tracing::instrument(level = "debug", skip(config), fields(kind = ?config.kind(), schema = ?config.schema))]
pub async fn connect(config: &DatabaseConfig) -> Result<DatabaseConnection, DbError> {
    let mut db = match config.kind() {
        None => Err(DbError::UnsupportedUrl),
        Some(DatabaseKind::Sqlite) => connect_sqlite(config).await,
        Some(DatabaseKind::Postgres) => connect_postgres(config).await,
    }?;
    // Every statement counted by verb and table (`ferry_db_statements_total`): what a message
    // costs in round trips to the database, the first thing a profile asks.
    db.set_metric_callback(|info| {
        crate::metrics::global().db_statement(&info.statement.sql, info.elapsed);
    });
    Ok(db)
}

fn base_options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections.max(1))
        .min_connections(0)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(CONNECT_TIMEOUT)
        .sqlx_logging(false);
    options
}

async fn connect_sqlite(config: &DatabaseConfig) -> Result<DatabaseConnection, DbError> {
    let url = config.url.expose();
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let max = if in_memory { 1 } else { config.max_connections };
    let mut options = base_options(url, max);
    options.map_sqlx_sqlite_opts(|opts| {
        opts.create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
    });
    Database::connect(options)
        .await
        .map_err(|source| DbError::Connect {
            kind: "sqlite",
            source,
        })
}

async fn connect_postgres(config: &DatabaseConfig) -> Result<DatabaseConnection, DbError> {
    let url = config.url.expose();
    let Some(schema) = config.schema.clone() else {
        return Database::connect(base_options(url, config.max_connections))
            .await
            .map_err(|source| DbError::Connect {
                kind: "postgres",
                source,
            });
    };
    if !crate::config::is_sql_identifier(&schema) {
        return Err(DbError::InvalidSchema(schema));
    }

    let setup = Database::connect(base_options(url, 1))
        .await
        .map_err(|source| DbError::Connect {
            kind: "postgres",
            source,
        })?;
    // Replicas starting together race to create the schema (`IF NOT EXISTS` is not safe
    // against a concurrent create): one at a time, under a transaction-scoped advisory lock.
    let created = async {
        let txn = setup.begin().await?;
        txn.execute_unprepared(&advisory_lock_sql(&format!("create-schema/{schema}")))
            .await?;
        txn.execute_unprepared(&format!(r#"CREATE SCHEMA IF NOT EXISTS "{schema}""#))
            .await?;
        txn.commit().await
    }
    .await;
    // Closing the setup pool can only fail on an already closed pool; nothing to do then.
    let _ = setup.close().await;
    created.map_err(|source| DbError::CreateSchema {
        schema: schema.clone(),
        source,
    })?;

    let mut options = base_options(url, config.max_connections);
    options.map_sqlx_postgres_opts(move |opts| opts.options([("search_path", schema.as_str())]));
    Database::connect(options)
        .await
        .map_err(|source| DbError::Connect {
            kind: "postgres",
            source,
        })
}

/// Applies every pending migration of `M` (idempotent: applied ones are skipped).
///
/// Replicas of a service start together on a fresh database: on PostgreSQL the migrations
/// run in one transaction holding an advisory lock named after the schema and the migration
/// table, so the second replica waits and then finds them applied. SQLite serialises
/// writers by itself.
#[tracing::instrument(level = "info", skip(db), fields(table = %M::migration_table_name().to_string()))]
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbError> {
    let table = M::migration_table_name().to_string();
    let migrate_err = |source| DbError::Migrate {
        table: table.clone(),
        source,
    };
    if db.get_database_backend() != DbBackend::Postgres {
        return migrate_within::<M, _>(db, &table).await;
    }
    let txn = db.begin().await.map_err(migrate_err)?;
    txn.execute_unprepared(&advisory_lock_sql(&format!("migrate/{table}")))
        .await
        .map_err(migrate_err)?;
    migrate_within::<M, _>(&txn, &table).await?;
    txn.commit().await.map_err(migrate_err)
}

/// This build's release (the workspace version), recorded with the schema it migrates.
pub const RELEASE: &str = env!("CARGO_PKG_VERSION");

/// Table recording, per migration table, the newest release that migrated it.
const RELEASES_TABLE: &str = "ferry_schema_releases";

/// The migrations of `M`, unless the schema is newer than this build: a schema migrated by the
/// next release is accepted as it is (the rollback window: migrations stay backward compatible
/// for one release, see `docs/runbooks/README.md`), a newer one refused.
async fn migrate_within<M: MigratorTrait, C: ConnectionTrait>(
    db: &C,
    table: &str,
) -> Result<(), DbError>
where
    for<'c> &'c C: sea_orm_migration::IntoSchemaManagerConnection<'c>,
{
    let migrate_err = |source| DbError::Migrate {
        table: table.to_owned(),
        source,
    };
    let recorded = schema_release(db, table).await.map_err(migrate_err)?;
    let unknown = unknown_migrations::<M, _>(db).await?;
    if !unknown.is_empty() {
        return accept_newer(table, recorded, unknown);
    }
    M::up(db, None).await.map_err(migrate_err)?;
    if recorded
        .as_deref()
        .is_none_or(|release| release_key(release) <= release_key(RELEASE))
    {
        let sql = format!(
            "INSERT INTO {RELEASES_TABLE} (migration_table, release) VALUES ('{}', '{}') \
             ON CONFLICT (migration_table) DO UPDATE SET release = excluded.release",
            table.replace('\'', "''"),
            RELEASE.replace('\'', "''")
        );
        db.execute_unprepared(&sql).await.map_err(migrate_err)?;
    }
    Ok(())
}

/// A schema with migrations this build does not know: accepted when the release that made
/// it is at most one ahead (the rollback window), else [`DbError::SchemaNewer`].
fn accept_newer(
    table: &str,
    recorded: Option<String>,
    unknown: Vec<String>,
) -> Result<(), DbError> {
    match &recorded {
        Some(release) if within_one_release(RELEASE, release) => {
            tracing::warn!(
                table,
                schema_release = %release,
                release = RELEASE,
                unknown = ?unknown,
                "the schema was migrated by the next release; running on it unchanged (rollback window)"
            );
            Ok(())
        }
        _ => Err(DbError::SchemaNewer {
            table: table.to_owned(),
            release: recorded.unwrap_or_else(|| "unknown".to_owned()),
            unknown,
        }),
    }
}

/// What a service does with its schema at start: applies the migrations of `M` when
/// `config.migrate_at_start` (the embedded default), else only checks that the schema is one
/// this build runs on ([`check_schema`]).
pub async fn prepare<M: MigratorTrait>(
    db: &DatabaseConnection,
    config: &DatabaseConfig,
) -> Result<(), DbError> {
    if config.migrate_at_start {
        migrate::<M>(db).await
    } else {
        check_schema::<M>(db).await
    }
}

/// Checks, without changing anything but the bookkeeping tables, that every migration of `M`
/// is applied ([`DbError::SchemaBehind`] otherwise) and that migrations this build does not
/// know come from at most one release ahead ([`DbError::SchemaNewer`] otherwise).
pub async fn check_schema<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbError> {
    let table = M::migration_table_name().to_string();
    let migrate_err = |source| DbError::Migrate {
        table: table.clone(),
        source,
    };
    let recorded = schema_release(db, &table).await.map_err(migrate_err)?;
    let applied: std::collections::HashSet<String> = M::get_migration_models(db)
        .await
        .map_err(migrate_err)?
        .into_iter()
        .map(|model| model.version)
        .collect();
    let pending: Vec<String> = M::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .filter(|name| !applied.contains(name))
        .collect();
    if !pending.is_empty() {
        return Err(DbError::SchemaBehind { table, pending });
    }
    let unknown = unknown_migrations::<M, _>(db).await?;
    if !unknown.is_empty() {
        return accept_newer(&table, recorded, unknown);
    }
    Ok(())
}

/// The release recorded for `table` (creating the record table when missing).
async fn schema_release<C: ConnectionTrait>(db: &C, table: &str) -> Result<Option<String>, DbErr> {
    db.execute_unprepared(&format!(
        "CREATE TABLE IF NOT EXISTS {RELEASES_TABLE} \
         (migration_table TEXT PRIMARY KEY, release TEXT NOT NULL)"
    ))
    .await?;
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT release FROM {RELEASES_TABLE} WHERE migration_table = '{}'",
                table.replace('\'', "''")
            ),
        ))
        .await?;
    row.map(|row| row.try_get_by_index::<String>(0)).transpose()
}

/// `(major, minor)` of a `major.minor.patch` version (unparsable parts count as 0).
fn release_key(version: &str) -> (u64, u64) {
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|part| part.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Whether a schema of release `schema` is at most one (minor) release ahead of `ours`.
pub fn within_one_release(ours: &str, schema: &str) -> bool {
    let (major, minor) = release_key(ours);
    release_key(schema) <= (major, minor + 1)
}

/// Whether the database refused a statement for the text it carried (PostgreSQL's
/// `character_not_in_repertoire` 22021 and `untranslatable_character` 22P05: a NUL character,
/// which no text column or JSON document stores). An admin API answers 400 for it: the request
/// is malformed, the database is not unavailable.
pub fn refused_text(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::Database(e)))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::Database(e)))) = e
    else {
        return false;
    };
    matches!(e.code().as_deref(), Some("22021" | "22P05"))
}

/// The migrations applied to the database that `M` does not have (a newer release's).
pub async fn unknown_migrations<M: MigratorTrait, C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<String>, DbError> {
    let table = M::migration_table_name().to_string();
    let applied = M::get_migration_models(db)
        .await
        .map_err(|source| DbError::Migrate {
            table: table.clone(),
            source,
        })?;
    let known: std::collections::HashSet<String> = M::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect();
    Ok(applied
        .into_iter()
        .map(|model| model.version)
        .filter(|version| !known.contains(version))
        .collect())
}

/// `SELECT pg_advisory_xact_lock(…)` of a lock named `name` within the current schema (held
/// until the transaction ends).
fn advisory_lock_sql(name: &str) -> String {
    let name = name.replace('\'', "''");
    format!("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/ferry/{name}'))")
}

/// `migrations` with each name once, the first kept: a process hosting several services
/// (the embedded `ferry`, cross-service tests) gathers their migrations into one table, and
/// some are shared (the connector kit's tables).
pub fn unique_migrations(
    mut migrations: Vec<Box<dyn sea_orm_migration::MigrationTrait>>,
) -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
    let mut seen = std::collections::HashSet::new();
    migrations.retain(|m| seen.insert(m.name().to_owned()));
    migrations
}

/// The migration table of `service`: `ferry_migrations_<service>` with `-` turned into `_`
/// (`ferry_migrations_order_orchestrator`). Return it from
/// `MigratorTrait::migration_table_name`.
pub fn service_migration_table(service: &str) -> DynIden {
    let name: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    Alias::new(format!("ferry_migrations_{name}")).into_iden()
}

/// Declares a service's migrator: a unit struct whose migrations are the listed ones, then
/// those of an expression, recorded in the service's own table ([`service_migration_table`]).
///
/// ```
/// # use ferry_platform::bus::BusMigration;
/// # fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> { vec![] }
/// ferry_platform::service_migrator! {
///     /// The bus tables plus the mapper's, in `ferry_migrations_mapper`.
///     pub struct Migrator("mapper") = [BusMigration] + migrations();
/// }
/// ```
#[macro_export]
macro_rules! service_migrator {
    ($(#[$meta:meta])* $vis:vis struct $name:ident($service:expr) = [$($first:expr),* $(,)?] + $then:expr;) => {
        $(#[$meta])*
        $vis struct $name;

        impl $crate::db::__migration::MigratorTrait for $name {
            fn migrations() -> ::std::vec::Vec<::std::boxed::Box<dyn $crate::db::__migration::MigrationTrait>> {
                let mut all: ::std::vec::Vec<::std::boxed::Box<dyn $crate::db::__migration::MigrationTrait>> =
                    ::std::vec![$(::std::boxed::Box::new($first)),*];
                all.extend($then);
                all
            }

            fn migration_table_name() -> $crate::db::__migration::prelude::DynIden {
                $crate::db::service_migration_table($service)
            }
        }
    };
}

#[doc(hidden)]
pub use sea_orm_migration as __migration;

/// The `OFFSET` of a page whose caller asked to skip `requested` rows (none: 0).
///
/// Both databases bind integers as signed 64-bit: sea-query's binder panics on a `u64`
/// above `i64::MAX` (the admin worker died and the client lost its connection). Skipping
/// `i64::MAX` rows already skips every row, so larger offsets read the same empty page.
pub fn page_offset(requested: Option<u64>) -> u64 {
    requested.unwrap_or(0).min(i64::MAX.unsigned_abs())
}

/// Runs `SELECT 1`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbError> {
    db.execute(Statement::from_string(
        db.get_database_backend(),
        "SELECT 1",
    ))
    .await
    .map(|_| ())
    .map_err(DbError::Query)
}

/// Sets `ferry_db_pool_connections` and `ferry_db_pool_max_connections` from the pool at
/// each scrape.
#[derive(Debug, Clone)]
pub struct PoolProbe {
    db: DatabaseConnection,
    max: u32,
}

impl PoolProbe {
    /// A probe of `db`, whose pool holds at most `max` connections.
    pub fn new(db: DatabaseConnection, max: u32) -> Self {
        Self { db, max }
    }
}

#[async_trait::async_trait]
impl crate::metrics::Probe for PoolProbe {
    fn name(&self) -> &'static str {
        "db_pool"
    }

    async fn refresh(&self, metrics: &crate::metrics::Metrics) {
        let (size, idle) = match self.db.get_database_backend() {
            DatabaseBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            DatabaseBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => return,
        };
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        let size = i64::from(size);
        metrics.set_db_pool((size - idle).max(0), idle, i64::from(self.max));
    }
}

/// Sets a gauge to a `SELECT COUNT(*)` at each scrape (failed sagas, open alerts).
pub struct CountProbe {
    name: &'static str,
    db: DatabaseConnection,
    sql: &'static str,
    set: fn(&crate::metrics::Metrics, i64),
}

impl CountProbe {
    /// A probe named `name` setting `set` to the single integer `sql` selects.
    pub fn new(
        name: &'static str,
        db: DatabaseConnection,
        sql: &'static str,
        set: fn(&crate::metrics::Metrics, i64),
    ) -> Self {
        Self { name, db, sql, set }
    }
}

#[async_trait::async_trait]
impl crate::metrics::Probe for CountProbe {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn refresh(&self, metrics: &crate::metrics::Metrics) {
        let statement = Statement::from_string(self.db.get_database_backend(), self.sql);
        match self.db.query_one(statement).await {
            Ok(Some(row)) => match row.try_get_by_index::<i64>(0) {
                Ok(count) => (self.set)(metrics, count),
                Err(error) => tracing::warn!(probe = self.name, %error, "metrics probe"),
            },
            Ok(None) => {}
            Err(error) => tracing::warn!(probe = self.name, %error, "metrics probe failed"),
        }
    }
}

/// `/readyz` check of a database: `SELECT 1`.
#[derive(Debug, Clone)]
pub struct DbReadiness {
    db: DatabaseConnection,
}

impl DbReadiness {
    /// A check of `db` (a clone of the pool handle).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl ReadinessCheck for DbReadiness {
    async fn check(&self) -> Result<(), String> {
        ping(&self.db)
            .await
            .map_err(|e| match std::error::Error::source(&e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            })
    }
}

/// Throw-away databases for tests (feature `test-util`).
#[cfg(any(test, feature = "test-util"))]
pub mod testing {
    use std::path::PathBuf;

    use sea_orm::{ConnectionTrait, Database};

    use super::{DbError, base_options};
    use crate::config::{DatabaseConfig, Secret};

    /// Variable overriding [`DEFAULT_POSTGRES_URL`].
    pub const POSTGRES_URL_ENV: &str = "FERRY_TEST_POSTGRES_URL";
    /// The test PostgreSQL: local, trust authentication, database `test`.
    pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// A test database; dropping it removes the schema or the SQLite files.
    #[derive(Debug)]
    pub struct TestDatabase {
        config: DatabaseConfig,
        cleanup: Cleanup,
    }

    #[derive(Debug)]
    enum Cleanup {
        PostgresSchema { url: Secret, schema: String },
        SqliteFile(PathBuf),
    }

    impl TestDatabase {
        /// The configuration pointing at this database.
        pub fn config(&self) -> &DatabaseConfig {
            &self.config
        }
    }

    impl std::ops::Deref for TestDatabase {
        type Target = DatabaseConfig;

        fn deref(&self) -> &DatabaseConfig {
            &self.config
        }
    }

    /// The PostgreSQL URL tests use.
    pub fn postgres_url() -> String {
        std::env::var(POSTGRES_URL_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
    }

    /// Creates a fresh, uniquely named schema in the test PostgreSQL and returns a
    /// configuration using it. The schema is dropped (with everything in it) on drop.
    pub async fn postgres_schema() -> Result<TestDatabase, DbError> {
        let url = postgres_url();
        let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
        let db = Database::connect(base_options(&url, 1))
            .await
            .map_err(|source| DbError::Connect {
                kind: "postgres",
                source,
            })?;
        let created = db
            .execute_unprepared(&format!(r#"CREATE SCHEMA "{schema}""#))
            .await;
        let _ = db.close().await;
        created.map_err(|source| DbError::CreateSchema {
            schema: schema.clone(),
            source,
        })?;
        Ok(TestDatabase {
            config: DatabaseConfig {
                url: Secret::new(url.clone()),
                max_connections: 5,
                schema: Some(schema.clone()),
                migrate_at_start: true,
            },
            cleanup: Cleanup::PostgresSchema {
                url: Secret::new(url),
                schema,
            },
        })
    }

    /// A configuration for a new SQLite file in the temporary directory (created on
    /// connect). The file and its WAL files are removed on drop.
    pub fn sqlite_temp() -> TestDatabase {
        let path = std::env::temp_dir().join(format!("ferry-test-{}.db", uuid::Uuid::new_v4()));
        TestDatabase {
            config: DatabaseConfig {
                url: Secret::new(format!("sqlite://{}?mode=rwc", path.display())),
                max_connections: 5,
                schema: None,
                migrate_at_start: true,
            },
            cleanup: Cleanup::SqliteFile(path),
        }
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            match &self.cleanup {
                Cleanup::SqliteFile(path) => {
                    for suffix in ["", "-wal", "-shm"] {
                        let mut file = path.clone().into_os_string();
                        file.push(suffix);
                        let _ = std::fs::remove_file(file);
                    }
                }
                Cleanup::PostgresSchema { url, schema } => {
                    let url = url.expose().to_owned();
                    let statement = format!(r#"DROP SCHEMA IF EXISTS "{schema}" CASCADE"#);
                    // Drop runs inside the test's runtime, which cannot be blocked on; use a
                    // short-lived runtime on a thread of its own.
                    let dropped = std::thread::spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .map_err(|e| e.to_string())?;
                        runtime.block_on(async {
                            let db = Database::connect(base_options(&url, 1))
                                .await
                                .map_err(|e| e.to_string())?;
                            let result = db.execute_unprepared(&statement).await;
                            let _ = db.close().await;
                            result.map(|_| ()).map_err(|e| e.to_string())
                        })
                    })
                    .join();
                    if let Ok(Err(e)) = dropped {
                        eprintln!("cannot drop test schema {schema}: {e}");
                    }
                }
            }
        }
    }
}
