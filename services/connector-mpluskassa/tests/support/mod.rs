//! A connector under test: the MplusKASSA sandbox on a local port, a bus of either kind with a
//! unique prefix, a fresh database, the service started on them, and a probe queue that
//! collects every `mpluskassa.#` event.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_connector_mpluskassa::client::{ClientSettings, Connection, MplusClient};
use ferry_connector_mpluskassa::config::{
    ConnectorConfig, Entities, IntegrationConfig, SalesSettings, SkuSource, SyncConfig,
};
use ferry_connector_mpluskassa::{Migrator, start};
use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::rabbit::{RabbitBus, RabbitConfig};
use ferry_platform::bus::{
    Binding, Bus, BusMessage, Delivery, Outcome, Subscription, SubscriptionHandle, queues,
};
use ferry_platform::config::Secret;
use ferry_platform::db::{self, testing};
use ferry_platform::service::{Runtime, Started};
use ferry_proto::{Envelope, IntegrationId, Message};
use ferry_sandbox::faults::{FaultKind, FaultRule, System as SandboxSystem};
use ferry_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const IDENT: &str = ferry_sandbox::DEFAULT_MPLUSKASSA_IDENT;
pub const SECRET: &str = ferry_sandbox::DEFAULT_MPLUSKASSA_SECRET;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusKind {
    /// The embedded default: in-process bus, SQLite.
    InProcess,
    /// Production: RabbitMQ, PostgreSQL (a schema per test).
    Rabbit,
}

pub use ferry_test_support::amqp_url;

/// Options of a harness.
#[derive(Clone)]
pub struct Options {
    pub bus: BusKind,
    pub sync: bool,
    pub sku_source: SkuSource,
    pub client_timeout: Duration,
    pub empty_sandbox: bool,
    pub observe: Entities,
    pub orders: SalesSettings,
    /// `egress.allow` entries beside the sandbox's own address (always allowed, with the
    /// sandbox mode on: it listens on loopback over plain http).
    pub egress_allow: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bus: BusKind::InProcess,
            sync: false,
            sku_source: SkuSource::PluNumber,
            client_timeout: Duration::from_secs(3),
            empty_sandbox: false,
            observe: Entities::default(),
            orders: SalesSettings::default(),
            egress_allow: Vec::new(),
        }
    }
}

pub struct Harness {
    pub sandbox: SandboxHandle,
    pub bus: Arc<dyn Bus>,
    rabbit: Option<RabbitBus>,
    pub db: DatabaseConnection,
    _db_guard: testing::TestDatabase,
    pub started: Option<Started>,
    pub shutdown: CancellationToken,
    pub integration: IntegrationId,
    pub events: Arc<Mutex<Vec<BusMessage>>>,
    pub dead: Arc<Mutex<Vec<BusMessage>>>,
    probes: Vec<SubscriptionHandle>,
    pub config: ConnectorConfig,
}

impl Harness {
    pub async fn new(options: Options) -> Self {
        let sandbox = Sandbox::start(SandboxConfig {
            empty: options.empty_sandbox,
            ..SandboxConfig::default()
        })
        .await
        .expect("sandbox");
        let prefix = format!("t-{}.", &Uuid::new_v4().simple().to_string()[..12]);
        let (bus, rabbit): (Arc<dyn Bus>, Option<RabbitBus>) = match options.bus {
            BusKind::InProcess => (Arc::new(InProcessBus::new()), None),
            BusKind::Rabbit => {
                let config = RabbitConfig::new(amqp_url())
                    .prefix(prefix.clone())
                    .publish_timeout(Duration::from_secs(10))
                    .connection_name(format!("test {prefix}"));
                let rabbit = RabbitBus::connect(config, Duration::from_secs(20))
                    .await
                    .expect("RabbitMQ must answer at 127.0.0.1:5672");
                (Arc::new(rabbit.clone()), Some(rabbit))
            }
        };
        let guard = match options.bus {
            BusKind::InProcess => testing::sqlite_temp(),
            BusKind::Rabbit => testing::postgres_schema()
                .await
                .expect("PostgreSQL must answer at 127.0.0.1:5432 (see .ci/run)"),
        };
        let db = db::connect(guard.config()).await.expect("db");
        db::migrate::<Migrator>(&db).await.expect("migrate");

        let integration = IntegrationId::new();
        let mut config = ConnectorConfig::default();
        config.common.service_name = "connector-mpluskassa".into();
        config.common.bus.max_attempts = 6;
        config.common.bus.retry_base_ms = 50;
        config.common.bus.retry_max_ms = 400;
        config.integrations = vec![IntegrationConfig {
            integration_id: integration,
            endpoint: sandbox.mpluskassa_url.clone(),
            ident: IDENT.into(),
            secret: Secret::new(SECRET),
            branch: 1,
            workplace: None,
            sku_source: options.sku_source,
            currency: "EUR".into(),
            default_turnover_group: None,
            default_vat_code: None,
            observe: options.observe,
            orders: options.orders,
        }];
        config.sync = SyncConfig {
            enabled: options.sync,
            poll_interval_ms: 200,
            page_size: 40,
            ..SyncConfig::default()
        };
        config.client.timeout_ms = options.client_timeout.as_millis() as u64;
        config.client.backoff_base_ms = 20;
        config.client.backoff_max_ms = 200;
        // Exactly the sandbox's address (not all of loopback), over plain http.
        config.egress.allow = vec![ferry_test_support::egress::socket_of(
            &sandbox.mpluskassa_url,
        )];
        config.egress.allow.extend(options.egress_allow.clone());
        config.egress.sandbox = true;

        // The probe queue and the dead-letter collector exist before the service publishes.
        let events = Arc::new(Mutex::new(Vec::new()));
        let dead = Arc::new(Mutex::new(Vec::new()));
        let mut probes = Vec::new();
        let sink = events.clone();
        probes.push(
            bus.subscribe(
                Subscription::new("test-probe", vec![Binding::events("mpluskassa.#")])
                    .prefetch(256),
                Arc::new(move |d: Delivery| {
                    let sink = sink.clone();
                    async move {
                        sink.lock().unwrap().push(d.message);
                        Outcome::Ack
                    }
                }),
            )
            .await
            .expect("probe"),
        );
        let shutdown = CancellationToken::new();
        let runtime = Runtime {
            db: db.clone(),
            bus: bus.clone(),
            shutdown: shutdown.clone(),
        };
        let started = start(runtime, config.clone())
            .await
            .expect("service starts");
        let sink = dead.clone();
        probes.push(
            bus.subscribe_dead_letters(
                queues::CONNECTOR_MPLUSKASSA,
                Arc::new(move |d: Delivery| {
                    let sink = sink.clone();
                    async move {
                        sink.lock().unwrap().push(d.message);
                        Outcome::Ack
                    }
                }),
            )
            .await
            .expect("dead letters"),
        );
        Self {
            sandbox,
            bus,
            rabbit,
            db,
            _db_guard: guard,
            started: Some(started),
            shutdown,
            integration,
            events,
            dead,
            probes,
            config,
        }
    }

    /// A client of the sandbox (for arranging state), without retries.
    pub fn client(&self) -> MplusClient {
        MplusClient::new(
            &Connection {
                endpoint: self.sandbox.mpluskassa_url.clone(),
                ident: IDENT.into(),
                secret: Secret::new(SECRET),
            },
            ClientSettings {
                max_attempts: 1,
                timeout: Duration::from_secs(5),
                ..self.config.client_settings().expect("egress")
            },
        )
        .expect("client")
    }

    pub fn fault(&self, rule: FaultRule) {
        self.sandbox.faults.add(rule).expect("valid fault rule");
    }

    pub fn fault_on(&self, operation: &str, fault: FaultKind, next: u32) {
        self.fault(
            FaultRule::new(SandboxSystem::Mpluskassa, fault)
                .operation(operation)
                .next(next),
        );
    }

    pub fn dump(&self) -> serde_json::Value {
        self.sandbox.control.dump(SandboxSystem::Mpluskassa)
    }

    /// Publishes a command for this integration; returns its envelope's message id.
    pub async fn send<C: Message + serde::Serialize>(&self, command: C) -> Uuid {
        let envelope = Envelope::new(self.integration, command);
        let id = envelope.message_id.as_uuid();
        self.bus
            .publish(BusMessage::from_envelope(&envelope).expect("encodes"))
            .await
            .expect("published");
        id
    }

    /// The events caused by `command` (replies), waiting up to `timeout` for at least one.
    pub async fn reply_to(&self, command: Uuid, timeout: Duration) -> Envelope<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.events.lock().unwrap().iter().find_map(|m| {
                let e = Envelope::<serde_json::Value>::from_json_slice(&m.body).ok()?;
                (e.causation_id.map(|c| c.as_uuid()) == Some(command)).then_some(e)
            });
            if let Some(e) = found {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no reply to {command} within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every distinct event (by message id: delivery is at-least-once and consumers
    /// deduplicate by id) with this message type so far.
    pub fn events_of(&self, message_type: &str) -> Vec<Envelope<serde_json::Value>> {
        let mut seen = std::collections::HashSet::new();
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.message_type() == message_type)
            .filter(|m| seen.insert(m.message_id))
            .filter_map(|m| Envelope::<serde_json::Value>::from_json_slice(&m.body).ok())
            .collect()
    }

    /// Waits until `check` holds, polling.
    pub async fn until(&self, what: &str, timeout: Duration, check: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops the service (as a deploy would) and starts it again on the same database, bus
    /// and sandbox.
    pub async fn restart(&mut self) {
        self.shutdown.cancel();
        if let Some(started) = self.started.take() {
            started.stop(Duration::from_secs(3)).await;
        }
        self.shutdown = CancellationToken::new();
        let runtime = Runtime {
            db: self.db.clone(),
            bus: self.bus.clone(),
            shutdown: self.shutdown.clone(),
        };
        self.started = Some(
            start(runtime, self.config.clone())
                .await
                .expect("service restarts"),
        );
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(started) = self.started.take() {
            started.stop(Duration::from_secs(3)).await;
        }
        for p in self.probes.drain(..) {
            p.stop(Duration::from_secs(1)).await;
        }
        if let Some(rabbit) = &self.rabbit {
            let _ = rabbit.delete_declared_queues().await;
        }
        self.bus.shutdown(Duration::from_secs(2)).await;
        self.sandbox.stop().await;
    }
}

/// The relations of the sandbox dump.
pub fn relations(dump: &serde_json::Value) -> Vec<serde_json::Value> {
    match &dump["relations"] {
        serde_json::Value::Object(map) => map.values().cloned().collect(),
        serde_json::Value::Array(list) => list.clone(),
        _ => Vec::new(),
    }
}

/// The orders of the sandbox dump.
pub fn orders(dump: &serde_json::Value) -> Vec<serde_json::Value> {
    match &dump["orders"] {
        serde_json::Value::Object(map) => map.values().cloned().collect(),
        serde_json::Value::Array(list) => list.clone(),
        _ => Vec::new(),
    }
}

use ferry_proto::model::{
    Address, Customer, CustomerPlan, EmployeeNumber, LineCodes, Order, OrderLine, OrderLines,
    OrderTotals, OrderType, TargetOrder,
};
use ferry_proto::{
    CountryCode, CurrencyCode, Email, ExternalId, HouseNumber, Money, Name, PositiveQuantity,
    Postcode, Sku,
};

/// A person customer with an address.
pub fn person(email: &str) -> Customer {
    Customer {
        first_name: Some(Name::parse("Anna").unwrap()),
        last_name: Some(Name::parse("de Vries").unwrap()),
        billing_address: Some(Address {
            street: Name::parse("Dorpsstraat").unwrap(),
            house_number: Some(HouseNumber::parse("12").unwrap()),
            house_number_suffix: None,
            postcode: Postcode::parse("1234 AB").unwrap(),
            city: Name::parse("Ons Dorp").unwrap(),
            region: None,
            country: CountryCode::parse("NL").unwrap(),
        }),
        ..Customer::person(Email::parse(email).unwrap())
    }
}

/// A mapped order for MplusKASSA with VAT code 1, turnover group 10, paid by iDEAL.
pub fn order(external_id: &str, email: &str, skus: &[(&str, i64, i64)]) -> TargetOrder {
    let eur = CurrencyCode::EUR;
    let lines: Vec<OrderLine> = skus
        .iter()
        .map(|(sku, qty, cents)| OrderLine {
            sku: Sku::parse(sku).unwrap(),
            title: None,
            quantity: PositiveQuantity::parse(&qty.to_string()).unwrap(),
            unit_price: Money::from_minor_units(*cents, eur),
            price_includes_tax: true,
            tax_rate: None,
            discount: None,
        })
        .collect();
    let total: i64 = skus.iter().map(|(_, q, c)| q * c).sum();
    let codes = vec![
        LineCodes {
            vat_code: Some(ExternalId::parse("1").unwrap()),
            revenue_account: Some(ExternalId::parse("8000").unwrap()),
        };
        lines.len()
    ];
    let order = Order {
        external_id: ExternalId::parse(external_id).unwrap(),
        order_type: OrderType::Order,
        customer: person(email),
        lines: OrderLines::new(lines).unwrap(),
        totals: OrderTotals {
            subtotal: Money::from_minor_units(total, eur),
            tax: Money::zero(eur),
            shipping: Money::zero(eur),
            total: Money::from_minor_units(total, eur),
        },
        currency: eur,
        payment_method: None,
        payment_term: None,
        billing_address: None,
        shipping_address: None,
        placed_at: chrono::Utc::now(),
        notes: None,
        status: Default::default(),
    };
    TargetOrder::new(
        order,
        CustomerPlan::Upsert {
            customer: Box::new(person(email)),
        },
        codes,
    )
    .unwrap()
    .with_employee_number(EmployeeNumber::DEFAULT)
    .with_payment_codes(Some(Name::parse("IDEAL").unwrap()), None)
}

/// Calls a SOAP operation on the sandbox (operations the connector does not call); answers
/// the response text.
pub async fn soap(h: &Harness, op: &str, inner: &str) -> String {
    let envelope = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="urn:mplusqapi"><soap:Body><m:{op}>{inner}</m:{op}></soap:Body></soap:Envelope>"#
    );
    reqwest::Client::new()
        .post(format!(
            "{}?ident={IDENT}&secret={SECRET}",
            h.sandbox.mpluskassa_url
        ))
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(envelope)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `deliverOrder` on the sandbox, as the shop does (the connector never delivers).
pub async fn deliver(h: &Harness, order_id: &str) {
    let text = soap(
        h,
        "deliverOrder",
        &format!("<m:request><m:orderId>{order_id}</m:orderId></m:request>"),
    )
    .await;
    assert!(text.contains("DELIVER-ORDER-RESULT-OK"), "{text}");
}
