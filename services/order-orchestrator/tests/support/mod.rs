//! Test fixtures: an isolated bus (in-process or RabbitMQ with a unique prefix), a fresh
//! database (SQLite file or PostgreSQL schema), sample mapped orders, the orchestrator
//! started on them, and the target connector's stand-in ([`responder::Responder`]).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod responder;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use ferry_order_orchestrator::admin::SagaDetail;
use ferry_order_orchestrator::saga::SagaState;
use ferry_order_orchestrator::{Migrator, OrchestratorConfig, SagaSettings};
use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::rabbit::{RabbitBus, RabbitConfig};
use ferry_platform::bus::{
    Binding, Bus, BusMessage, Delivery, Outcome, Subscription, SubscriptionHandle,
};
use ferry_platform::db::testing::{self, TestDatabase};
use ferry_platform::service::{Runtime, Started};
use ferry_proto::messages::OrderMapped;
use ferry_proto::model::{
    Customer, CustomerKind, CustomerPlan, LineCodes, Order, OrderLine, OrderLines, OrderTotals,
    OrderType, TargetOrder,
};
use ferry_proto::*;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[allow(unused_imports)]
pub use responder::{Fault, Responder};

pub use ferry_test_support::amqp_url;

/// Which bus and database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// In-process bus, SQLite file.
    InProcess,
    /// RabbitMQ, PostgreSQL schema.
    Rabbit,
}

/// A bus for one test.
pub struct TestBus {
    pub bus: Arc<dyn Bus>,
    rabbit: Option<RabbitBus>,
    pub prefix: String,
}

impl TestBus {
    pub async fn new(kind: Kind) -> Self {
        let prefix = format!("t-{}.", &Uuid::new_v4().simple().to_string()[..12]);
        Self::with_prefix(kind, prefix).await
    }

    pub async fn with_prefix(kind: Kind, prefix: String) -> Self {
        match kind {
            Kind::InProcess => Self {
                bus: Arc::new(InProcessBus::new()),
                rabbit: None,
                prefix,
            },
            Kind::Rabbit => {
                let config = RabbitConfig::new(amqp_url())
                    .prefix(prefix.clone())
                    .publish_timeout(Duration::from_secs(10))
                    .connection_name(format!("orchestrator test {prefix}"));
                let rabbit = RabbitBus::connect(config, Duration::from_secs(20))
                    .await
                    .expect("RabbitMQ must answer at 127.0.0.1:5672 (see .ci/run)");
                Self {
                    bus: Arc::new(rabbit.clone()),
                    rabbit: Some(rabbit),
                    prefix,
                }
            }
        }
    }

    /// Deletes the test's queues and disconnects.
    pub async fn cleanup(self) {
        if let Some(rabbit) = &self.rabbit {
            let _ = rabbit.delete_declared_queues().await;
        }
        self.bus.shutdown(Duration::from_secs(2)).await;
    }
}

/// A fresh database with every orchestrator table.
pub async fn database(kind: Kind) -> (DatabaseConnection, TestDatabase) {
    database_with_pool(kind, 5).await
}

/// A fresh database with every orchestrator table and a pool of `connections`.
pub async fn database_with_pool(
    kind: Kind,
    connections: u32,
) -> (DatabaseConnection, TestDatabase) {
    let (db, guard) = empty_database(kind, connections).await;
    ferry_platform::db::migrate::<Migrator>(&db)
        .await
        .expect("migrate");
    (db, guard)
}

/// A fresh database without any table, with a pool of `connections`.
pub async fn empty_database(kind: Kind, connections: u32) -> (DatabaseConnection, TestDatabase) {
    let guard = match kind {
        Kind::InProcess => testing::sqlite_temp(),
        Kind::Rabbit => testing::postgres_schema()
            .await
            .expect("PostgreSQL at 127.0.0.1:5432"),
    };
    let mut config = guard.config().clone();
    config.max_connections = connections;
    let db = ferry_platform::db::connect(&config).await.expect("connect");
    (db, guard)
}

/// Fast timers for tests.
pub fn fast_settings() -> SagaSettings {
    SagaSettings {
        max_in_flight: 1000,
        max_concurrent_steps: 32,
        arbiters: 2,
        step_timeout_ms: 2_000,
        max_attempts: 4,
        retry_base_ms: 50,
        retry_max_ms: 200,
        recheck_base_ms: 300,
        recheck_max_ms: 1_000,
        customer_lock_poll_ms: 200,
        customer_reuse_secs: 300,
        sweep_interval_ms: 200,
        lease_ms: 1_000,
        retention_days: 30,
        failed_retention_days: 90,
    }
}

/// How the customer of a sample order is resolved.
#[derive(Clone, Copy, Debug)]
pub enum Plan<'a> {
    /// A private person with this e-mail.
    Person(&'a str),
    /// A company with a contact person, with this e-mail.
    Company(&'a str),
    /// The default debtor with this relation id.
    DefaultDebtor(&'a str),
}

fn eur(amount: &str) -> Money {
    Money::parse(amount, CurrencyCode::EUR).unwrap()
}

/// A mapped order with one line per SKU.
pub fn mapped_order(
    external_id: &str,
    plan: Plan<'_>,
    skus: &[&str],
    target: System,
) -> OrderMapped {
    let email = match plan {
        Plan::Person(e) | Plan::Company(e) => e,
        Plan::DefaultDebtor(_) => "guest@example.com",
    };
    let mut customer = Customer::person(Email::parse(email).unwrap());
    customer.first_name = Some(Name::parse("Jan").unwrap());
    customer.last_name = Some(Name::parse("Jansen").unwrap());
    if let Plan::Company(_) = plan {
        customer.kind = CustomerKind::Company {
            company_name: Name::parse("Bakkerij Jansen").unwrap(),
            vat_number: None,
            contact: model::ContactPerson {
                first_name: Some(Name::parse("Jan").unwrap()),
                last_name: Some(Name::parse("Jansen").unwrap()),
                email: None,
                phone: None,
            },
        };
    }
    let lines: Vec<OrderLine> = skus
        .iter()
        .map(|sku| OrderLine {
            sku: Sku::parse(sku).unwrap(),
            title: None,
            quantity: PositiveQuantity::parse("2").unwrap(),
            unit_price: eur("9.95"),
            price_includes_tax: true,
            tax_rate: None,
            discount: None,
        })
        .collect();
    let count = lines.len();
    let order = Order {
        external_id: ExternalId::parse(external_id).unwrap(),
        order_type: OrderType::Order,
        customer: customer.clone(),
        lines: OrderLines::new(lines).unwrap(),
        totals: OrderTotals {
            subtotal: eur("19.90"),
            tax: eur("3.45"),
            shipping: eur("0.00"),
            total: eur("19.90"),
        },
        currency: CurrencyCode::EUR,
        payment_method: None,
        payment_term: None,
        billing_address: None,
        shipping_address: None,
        placed_at: Utc::now(),
        notes: None,
        status: Default::default(),
    };
    let customer_plan = match plan {
        Plan::DefaultDebtor(id) => CustomerPlan::DefaultDebtor {
            relation_id: ExternalId::parse(id).unwrap(),
        },
        _ => CustomerPlan::Upsert {
            customer: Box::new(customer),
        },
    };
    let target_order = TargetOrder::new(order, customer_plan, vec![LineCodes::default(); count])
        .unwrap()
        .with_employee_number(model::EmployeeNumber::DEFAULT);
    OrderMapped {
        target,
        order: target_order,
    }
}

/// The orchestrator running on a test bus and database, with a responder.
pub struct Harness {
    pub kind: Kind,
    pub bus: TestBus,
    pub db: DatabaseConnection,
    pub guard: TestDatabase,
    pub responder: Arc<Responder>,
    pub integration: IntegrationId,
    pub shutdown: CancellationToken,
    pub started: Option<Started>,
    pub alerts: Arc<Mutex<Vec<Envelope<serde_json::Value>>>>,
    pub prefetch: u16,
    alerts_handle: Option<SubscriptionHandle>,
}

impl Harness {
    /// Starts responder (for `target`), an alert listener and the orchestrator.
    pub async fn start(kind: Kind, target: System, settings: SagaSettings) -> Self {
        Self::start_with_pool(kind, target, settings, 5).await
    }

    /// [`Harness::start`] with a database pool of `connections`.
    pub async fn start_with_pool(
        kind: Kind,
        target: System,
        settings: SagaSettings,
        connections: u32,
    ) -> Self {
        Self::start_tuned(kind, target, settings, connections, 64).await
    }

    /// [`Harness::start`] with a database pool of `connections` and a consumer `prefetch`.
    pub async fn start_tuned(
        kind: Kind,
        target: System,
        settings: SagaSettings,
        connections: u32,
        prefetch: u16,
    ) -> Self {
        let bus = TestBus::new(kind).await;
        let (db, guard) = database_with_pool(kind, connections).await;
        let responder = Responder::start_with_prefetch(bus.bus.clone(), target, prefetch).await;
        let alerts = Arc::new(Mutex::new(Vec::new()));
        let sink = alerts.clone();
        let alerts_handle = bus
            .bus
            .subscribe(
                Subscription::new("test-alerts", vec![Binding::events("ferry.saga.*")]),
                Arc::new(move |d: Delivery| {
                    let sink = sink.clone();
                    async move {
                        let env = Envelope::<serde_json::Value>::from_json_slice(&d.message.body)
                            .unwrap();
                        sink.lock().unwrap().push(env);
                        Outcome::Ack
                    }
                }),
            )
            .await
            .unwrap();
        let mut harness = Self {
            kind,
            bus,
            db,
            guard,
            responder,
            integration: IntegrationId::new(),
            shutdown: CancellationToken::new(),
            started: None,
            alerts,
            prefetch,
            alerts_handle: Some(alerts_handle),
        };
        harness.started = Some(harness.start_orchestrator(settings).await);
        harness
    }

    /// Starts one (more) orchestrator instance on the same bus and database.
    pub async fn start_orchestrator(&self, settings: SagaSettings) -> Started {
        let mut config = OrchestratorConfig {
            saga: settings,
            ..OrchestratorConfig::default()
        };
        config.common.bus.prefetch = self.prefetch;
        config.common.bus.retry_base_ms = 50;
        config.common.bus.retry_max_ms = 500;
        let runtime = Runtime {
            db: self.db.clone(),
            bus: self.bus.bus.clone(),
            shutdown: self.shutdown.clone(),
        };
        ferry_order_orchestrator::start(runtime, config)
            .await
            .expect("orchestrator starts")
    }

    /// Publishes an order event for `mapped`; returns its envelope.
    pub async fn publish(&self, mapped: OrderMapped) -> Envelope<OrderMapped> {
        let envelope = Envelope::new(self.integration, mapped);
        self.publish_envelope(&envelope).await;
        envelope
    }

    /// Publishes `envelope` as is (the same message id again for a duplicate).
    pub async fn publish_envelope(&self, envelope: &Envelope<OrderMapped>) {
        self.bus
            .bus
            .publish(BusMessage::from_envelope(envelope).unwrap())
            .await
            .expect("publish order.mapped");
    }

    /// Sagas of order `external_id`.
    pub async fn sagas_of(&self, external_id: &str) -> Vec<SagaDetail> {
        use ferry_order_orchestrator::store::saga_row;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let rows = saga_row::Entity::find()
            .filter(saga_row::Column::ExternalId.eq(external_id))
            .all(&self.db)
            .await
            .unwrap();
        let mut out = Vec::new();
        for row in rows {
            out.push(
                ferry_order_orchestrator::admin::detail(&self.db, row.id)
                    .await
                    .unwrap(),
            );
        }
        out
    }

    /// Waits until order `external_id`'s saga is in `state`; fails after `secs`.
    pub async fn wait_state(&self, external_id: &str, state: SagaState, secs: u64) -> SagaDetail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let sagas = self.sagas_of(external_id).await;
            if let Some(saga) = sagas.iter().find(|s| s.saga.state == state) {
                return saga.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "order {external_id}: no saga reached {state:?} within {secs}s; sagas: {:#?}",
                    sagas
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until order `external_id`'s saga has a timeline entry of `kind`; fails after
    /// `secs`.
    pub async fn wait_timeline(&self, external_id: &str, kind: &str, secs: u64) -> SagaDetail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let sagas = self.sagas_of(external_id).await;
            if let Some(saga) = sagas
                .iter()
                .find(|s| s.timeline.iter().any(|e| e.kind == kind))
            {
                return saga.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!("order {external_id}: no `{kind}` within {secs}s; sagas: {sagas:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `condition` holds; fails after `secs` with `what`.
    pub async fn eventually(&self, what: &str, secs: u64, condition: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !condition() {
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Alert events received so far of `message_type`.
    pub fn alerts_of(&self, message_type: &str) -> Vec<Envelope<serde_json::Value>> {
        self.alerts
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.message_type == message_type)
            .cloned()
            .collect()
    }

    /// Stops everything and cleans up.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(started) = self.started.take() {
            started.stop(Duration::from_secs(5)).await;
        }
        if let Some(handle) = self.alerts_handle.take() {
            handle.stop(Duration::from_secs(1)).await;
        }
        self.responder.stop().await;
        self.bus.cleanup().await;
    }
}

/// The timeline kinds of a saga, in order.
pub fn kinds(saga: &SagaDetail) -> Vec<&str> {
    saga.timeline.iter().map(|e| e.kind.as_str()).collect()
}
