//! The mapper started as in production on a real bus (in-process or the local RabbitMQ with a
//! unique prefix), a real database (SQLite file or a fresh PostgreSQL schema) and a real admin
//! server on a free port.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferry_mapper::{MapperConfig, Migrator};
use ferry_platform::admin::{AdminServer, RunningAdminServer};
use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::rabbit::{RabbitBus, RabbitConfig};
use ferry_platform::bus::{
    Binding, Bus, BusMessage, Delivery, Outcome, Subscription, SubscriptionHandle,
};
use ferry_platform::config::{AdminConfig, Scope, Secret, TokenConfig};
use ferry_platform::db;
use ferry_platform::db::testing::{self, TestDatabase};
use ferry_platform::service::{Runtime, Started};
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const READ_TOKEN: &str = "read-token-0123456789abcdef";
pub const OPERATOR_TOKEN: &str = "operator-token-0123456789abcdef";

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// In-process bus, SQLite.
    InProcess,
    /// RabbitMQ, PostgreSQL.
    Rabbit,
}

pub use ferry_test_support::amqp_url;

pub struct Harness {
    pub bus: Arc<dyn Bus>,
    rabbit: Option<RabbitBus>,
    pub db: DatabaseConnection,
    _database: TestDatabase,
    started: Option<Started>,
    admin: Option<RunningAdminServer>,
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    observers: Vec<SubscriptionHandle>,
}

impl Harness {
    pub async fn start(kind: Kind) -> Self {
        let (database, bus, rabbit): (TestDatabase, Arc<dyn Bus>, Option<RabbitBus>) = match kind {
            Kind::InProcess => (testing::sqlite_temp(), Arc::new(InProcessBus::new()), None),
            Kind::Rabbit => {
                let prefix = format!("t-{}.", &Uuid::new_v4().simple().to_string()[..12]);
                let config = RabbitConfig::new(amqp_url())
                    .prefix(prefix.clone())
                    .publish_timeout(Duration::from_secs(10))
                    .connection_name(format!("mapper test {prefix}"));
                let rabbit = RabbitBus::connect(config, Duration::from_secs(20))
                    .await
                    .expect("RabbitMQ must answer at 127.0.0.1:5672 (see .ci/run)");
                let database = testing::postgres_schema()
                    .await
                    .expect("PostgreSQL must answer at 127.0.0.1:5432 (see .ci/run)");
                (database, Arc::new(rabbit.clone()), Some(rabbit))
            }
        };
        let db = db::connect(database.config()).await.expect("connect");
        db::migrate::<Migrator>(&db).await.expect("migrate");
        let shutdown = CancellationToken::new();
        let runtime = Runtime {
            db: db.clone(),
            bus: bus.clone(),
            shutdown: shutdown.clone(),
        };
        let mut config = MapperConfig::default();
        config.common.bus.max_attempts = 3;
        let started = ferry_mapper::start(runtime, config)
            .await
            .expect("mapper starts");
        let admin_config = AdminConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            tokens: vec![
                TokenConfig {
                    name: "viewer".into(),
                    token: Secret::new(READ_TOKEN),
                    scope: Scope::Read,
                    integrations: Vec::new(),
                },
                TokenConfig {
                    name: "oncall".into(),
                    token: Secret::new(OPERATOR_TOKEN),
                    scope: Scope::Operator,
                    integrations: Vec::new(),
                },
            ],
            ..AdminConfig::default()
        };
        let admin = started
            .mount(AdminServer::builder("mapper", &admin_config))
            .bind()
            .expect("admin binds");
        let addr = admin.local_addr();
        Self {
            bus,
            rabbit,
            db,
            _database: database,
            started: Some(started),
            admin: Some(admin),
            addr,
            shutdown,
            observers: Vec::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.addr)
    }

    /// A queue of the test's own, receiving what matches `bindings`.
    pub async fn observe(
        &mut self,
        queue: &str,
        bindings: Vec<Binding>,
    ) -> mpsc::UnboundedReceiver<Delivery> {
        let (tx, rx) = mpsc::unbounded_channel();
        let handler = move |d: Delivery| {
            let _ = tx.send(d);
            async { Outcome::Ack }
        };
        let handle = self
            .bus
            .subscribe(Subscription::new(queue, bindings), Arc::new(handler))
            .await
            .expect("subscribe");
        self.observers.push(handle);
        rx
    }

    /// The messages the mapper parks.
    pub async fn parked(&mut self) -> mpsc::UnboundedReceiver<Delivery> {
        let (tx, rx) = mpsc::unbounded_channel();
        let handler = move |d: Delivery| {
            let _ = tx.send(d);
            async { Outcome::Ack }
        };
        let handle = self
            .bus
            .subscribe_dead_letters(ferry_platform::bus::queues::MAPPER, Arc::new(handler))
            .await
            .expect("subscribe dead letters");
        self.observers.push(handle);
        rx
    }

    pub async fn publish(&self, message: BusMessage) {
        self.bus.publish(message).await.expect("publish");
    }

    pub async fn stop(mut self) {
        if let Some(admin) = self.admin.take() {
            let _ = admin.stop().await;
        }
        for o in self.observers.drain(..) {
            o.stop(Duration::from_secs(2)).await;
        }
        self.shutdown.cancel();
        if let Some(started) = self.started.take() {
            started.stop(Duration::from_secs(5)).await;
        }
        if let Some(rabbit) = &self.rabbit {
            let _ = rabbit.delete_declared_queues().await;
        }
        self.bus.shutdown(Duration::from_secs(2)).await;
        self.db.clone().close().await.ok();
    }
}

/// The next delivery, or a failure after `secs` seconds.
pub async fn next(rx: &mut mpsc::UnboundedReceiver<Delivery>, secs: u64) -> Delivery {
    tokio::time::timeout(Duration::from_secs(secs), rx.recv())
        .await
        .expect("timed out waiting for a message")
        .expect("channel closed")
}
