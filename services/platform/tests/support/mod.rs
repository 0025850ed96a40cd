//! Fixtures shared by the bus tests: a bus of either kind, isolated per test, and a database
//! with the bus tables.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::rabbit::{RabbitBus, RabbitConfig};
use ferry_platform::bus::{Bus, BusMessage, BusMigration, Delivery, Exchange, Handler, Outcome};
use ferry_platform::db::testing::{self, TestDatabase};
use sea_orm::DatabaseConnection;
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tokio::sync::mpsc;
use uuid::Uuid;

pub use ferry_test_support::amqp_url;

/// Which bus a contract test runs against.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    InProcess,
    /// The in-process bus journaled in a SQLite file.
    InProcessDurable,
    Rabbit,
}

/// A bus for one test; RabbitMQ ones get a unique name prefix and delete their queues at the end.
pub struct TestBus {
    pub bus: Arc<dyn Bus>,
    rabbit: Option<RabbitBus>,
    pub prefix: String,
    journal: Option<Arc<TestDatabase>>,
}

impl TestBus {
    pub async fn new(kind: Kind) -> Self {
        let prefix = format!("t-{}.", &Uuid::new_v4().simple().to_string()[..12]);
        Self::with_prefix(kind, prefix).await
    }

    /// A second bus on the same broker namespace (a second process, a restarted service).
    pub async fn sibling(&self) -> Self {
        match self.rabbit {
            Some(_) => Self::with_prefix(Kind::Rabbit, self.prefix.clone()).await,
            None => Self {
                bus: self.bus.clone(),
                rabbit: None,
                prefix: self.prefix.clone(),
                journal: self.journal.clone(),
            },
        }
    }

    async fn with_prefix(kind: Kind, prefix: String) -> Self {
        match kind {
            Kind::InProcess => Self {
                bus: Arc::new(InProcessBus::new()),
                rabbit: None,
                prefix,
                journal: None,
            },
            Kind::InProcessDurable => {
                let (db, guard) = database(Db::Sqlite).await;
                Self {
                    bus: Arc::new(InProcessBus::durable(db).await.expect("journal")),
                    rabbit: None,
                    prefix,
                    journal: Some(Arc::new(guard)),
                }
            }
            Kind::Rabbit => {
                let config = RabbitConfig::new(amqp_url())
                    .prefix(prefix.clone())
                    .publish_timeout(Duration::from_secs(10))
                    .connection_name(format!("test {prefix}"));
                let rabbit = RabbitBus::connect(config, Duration::from_secs(20))
                    .await
                    .expect("RabbitMQ must answer at 127.0.0.1:5672 (see .ci/run)");
                Self {
                    bus: Arc::new(rabbit.clone()),
                    rabbit: Some(rabbit),
                    prefix,
                    journal: None,
                }
            }
        }
    }

    /// Deletes what the test declared on the broker and disconnects.
    pub async fn cleanup(self) {
        if let Some(rabbit) = &self.rabbit {
            let _ = rabbit.delete_declared_queues().await;
        }
        self.bus.shutdown(Duration::from_secs(2)).await;
    }
}

/// An event message with a fresh id.
pub fn event(routing_key: &str, body: &str) -> BusMessage {
    BusMessage::new(
        Exchange::Events,
        routing_key,
        Uuid::now_v7(),
        Bytes::from(body.to_owned()),
    )
}

/// A command message with a fresh id.
pub fn command(routing_key: &str, body: &str) -> BusMessage {
    BusMessage::new(
        Exchange::Commands,
        routing_key,
        Uuid::now_v7(),
        Bytes::from(body.to_owned()),
    )
}

/// A handler that records every delivery on a channel and answers with `decide`.
pub fn recorder<F>(decide: F) -> (Arc<dyn Handler>, mpsc::UnboundedReceiver<Delivery>)
where
    F: Fn(&Delivery) -> Outcome + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = move |delivery: Delivery| {
        let outcome = decide(&delivery);
        let _ = tx.send(delivery);
        async move { outcome }
    };
    (Arc::new(handler), rx)
}

/// Receives the next delivery or fails after `secs` seconds.
pub async fn next(rx: &mut mpsc::UnboundedReceiver<Delivery>, secs: u64) -> Delivery {
    tokio::time::timeout(Duration::from_secs(secs), rx.recv())
        .await
        .expect("timed out waiting for a delivery")
        .expect("handler channel closed")
}

/// Asserts nothing more arrives within `millis`.
pub async fn nothing_more(rx: &mut mpsc::UnboundedReceiver<Delivery>, millis: u64) {
    if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(millis), rx.recv()).await {
        panic!(
            "unexpected delivery {} ({}) attempt {}",
            d.message.routing_key, d.message.message_id, d.attempt
        );
    }
}

/// Collects deliveries until `count` arrived or `secs` passed.
pub async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Delivery>,
    count: usize,
    secs: u64,
) -> Vec<Delivery> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while got.len() < count {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(d)) => got.push(d),
            _ => break,
        }
    }
    got
}

/// Migrator with only the bus tables.
pub struct BusTables;

#[async_trait::async_trait]
impl MigratorTrait for BusTables {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(BusMigration)]
    }
}

/// Which database a test uses.
#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh database with the bus tables: a temp SQLite file, or a fresh PostgreSQL schema.
/// Keep the returned guard alive for the test: dropping it removes the database.
pub async fn database(db: Db) -> (DatabaseConnection, TestDatabase) {
    let guard = match db {
        Db::Sqlite => testing::sqlite_temp(),
        Db::Postgres => testing::postgres_schema()
            .await
            .expect("PostgreSQL at 127.0.0.1:5432"),
    };
    let connection = ferry_platform::db::connect(guard.config())
        .await
        .expect("connect");
    ferry_platform::db::migrate::<BusTables>(&connection)
        .await
        .expect("migrate");
    (connection, guard)
}

/// A shared list for handlers to write into.
pub type Log = Arc<Mutex<Vec<String>>>;

/// The connector kit's tables (cross-references, leases, cursors, runs), for the kit's tests.
struct KitMigrator;

#[async_trait::async_trait]
impl MigratorTrait for KitMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(ferry_platform::connector::store::CreateTables),
            Box::new(ferry_platform::connector::cursors::CreateCursorTables),
        ]
    }

    fn migration_table_name() -> sea_orm_migration::prelude::DynIden {
        ferry_platform::db::service_migration_table("kit-test")
    }
}

/// A fresh database (a PostgreSQL schema, else a SQLite file) with the connector kit's tables.
pub async fn kit_database(postgres: bool) -> (TestDatabase, DatabaseConnection) {
    let test = if postgres {
        testing::postgres_schema().await.expect("postgres")
    } else {
        testing::sqlite_temp()
    };
    let conn = ferry_platform::db::connect(test.config())
        .await
        .expect("connect");
    ferry_platform::db::migrate::<KitMigrator>(&conn)
        .await
        .expect("migrate");
    (test, conn)
}
