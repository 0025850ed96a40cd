//! The test harness: the MailChimp sandbox on a random port, a bus of either kind isolated
//! per test, a database with the connector's migrations, the connector started on them, and
//! an observer queue that records every `mailchimp.*` event.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_connector_mailchimp::{ConnectorConfig, Ingester, IntegrationConfig, Migrator};
use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::parking::{ParkedFilter, ParkedSummary, ParkingLot};
use ferry_platform::bus::rabbit::{RabbitBus, RabbitConfig};
use ferry_platform::bus::{
    Binding, Bus, BusMessage, Delivery, Handler, Outcome, Subscription, SubscriptionHandle, queues,
};
use ferry_platform::config::Secret;
use ferry_platform::db::{self, testing};
use ferry_platform::service::{Runtime, Started};
use ferry_proto::{Envelope, IntegrationId, Message, MessageId};
use ferry_sandbox::faults::{FaultKind, FaultRule, System as FaultSystem};
use ferry_sandbox::mailchimp::DEFAULT_API_KEY;
use ferry_sandbox::seed::Seed;
use ferry_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use sea_orm::DatabaseConnection;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use ferry_test_support::amqp_url;

/// Which bus (and database) a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// In-process bus, SQLite.
    InProcess,
    /// RabbitMQ, PostgreSQL.
    Rabbit,
    /// In-process bus, PostgreSQL.
    Postgres,
}

/// One event seen by the observer.
#[derive(Clone, Debug)]
pub struct Seen {
    pub routing_key: String,
    pub envelope: Value,
}

impl Seen {
    pub fn payload(&self) -> &Value {
        &self.envelope["payload"]
    }
    pub fn causation(&self) -> Option<&str> {
        self.envelope["causation_id"].as_str()
    }
}

#[derive(Clone, Default)]
struct Observer(Arc<Mutex<Vec<Seen>>>);

#[async_trait::async_trait]
impl Handler for Observer {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let envelope: Value = serde_json::from_slice(&delivery.message.body).unwrap_or_default();
        let mut seen = self.0.lock().unwrap();
        // Delivery is at-least-once (the outbox relay may publish a row again): consumers
        // deduplicate by message id, and so does this observer.
        if seen
            .iter()
            .any(|s| s.envelope["message_id"] == envelope["message_id"])
        {
            return Outcome::Ack;
        }
        seen.push(Seen {
            routing_key: delivery.message.routing_key.clone(),
            envelope,
        });
        Outcome::Ack
    }
}

/// Options of a harness.
#[derive(Clone, Debug)]
pub struct Options {
    pub kind: Kind,
    pub seed: Option<Seed>,
    pub bus_max_attempts: u32,
    pub request_timeout_secs: u64,
    pub webhook_secret: Option<String>,
    pub concurrency: u32,
    pub publish_stock: bool,
    /// The integration's `audience_members` (customers to the audience).
    pub audience_members: Option<ferry_proto::messages::AudienceStatus>,
    pub poll: bool,
    /// The sandbox's scale seed (see `ferry_sandbox::mailchimp::scale`).
    pub scale: Option<ferry_sandbox::mailchimp::scale::Scale>,
    /// `mailchimp.reconcile_interval_secs` (default: the configuration's).
    pub reconcile_interval_secs: Option<u64>,
    /// `mailchimp.page_size` (default: the configuration's, 1,000).
    pub page_size: Option<u32>,
    /// `egress.allow` entries beside the sandbox's own address (always allowed, with the
    /// sandbox mode on: it listens on loopback over plain http).
    pub egress_allow: Vec<String>,
}

impl Options {
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            seed: Some(Seed::default_shop()),
            bus_max_attempts: 3,
            request_timeout_secs: 1,
            webhook_secret: None,
            concurrency: 10,
            publish_stock: false,
            audience_members: None,
            poll: false,
            scale: None,
            reconcile_interval_secs: None,
            page_size: None,
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
    pub ingester: Arc<Ingester>,
    pub integration_id: IntegrationId,
    pub store_id: String,
    pub list_id: String,
    pub config: ConnectorConfig,
    pub lot: ParkingLot,
    seen: Observer,
    subs: Vec<SubscriptionHandle>,
    started: Option<Started>,
    pub shutdown: CancellationToken,
}

impl Harness {
    pub async fn start(kind: Kind) -> Self {
        Self::with(Options::new(kind)).await
    }

    pub async fn with(options: Options) -> Self {
        let seed = options.seed.clone().unwrap_or_else(Seed::default_shop);
        let mut sandbox_config = SandboxConfig {
            seed: seed.clone(),
            empty: options.seed.is_none(),
            ..SandboxConfig::default()
        };
        sandbox_config.mailchimp.scale = options.scale;
        let sandbox = Sandbox::start(sandbox_config).await.expect("sandbox");
        let prefix = format!("t-{}.", &Uuid::new_v4().simple().to_string()[..12]);
        let (db_guard, bus, rabbit): (_, Arc<dyn Bus>, _) = match options.kind {
            Kind::InProcess => (testing::sqlite_temp(), Arc::new(InProcessBus::new()), None),
            Kind::Postgres => (
                testing::postgres_schema().await.expect("PostgreSQL schema"),
                Arc::new(InProcessBus::new()),
                None,
            ),
            Kind::Rabbit => {
                let config = RabbitConfig::new(amqp_url())
                    .prefix(prefix.clone())
                    .publish_timeout(Duration::from_secs(10))
                    .connection_name(format!("test {prefix}"));
                let rabbit = RabbitBus::connect(config, Duration::from_secs(20))
                    .await
                    .expect("RabbitMQ must answer at 127.0.0.1:5672");
                let guard = testing::postgres_schema().await.expect("PostgreSQL schema");
                (guard, Arc::new(rabbit.clone()), Some(rabbit))
            }
        };
        let db = db::connect(db_guard.config()).await.expect("database");
        db::migrate::<Migrator>(&db).await.expect("migrations");

        let integration_id = IntegrationId::new();
        let mut config = ConnectorConfig::default();
        config.common.service_name = "connector-mailchimp".into();
        config.common.bus.max_attempts = options.bus_max_attempts;
        config.common.bus.retry_base_ms = 50;
        config.common.bus.retry_max_ms = 400;
        config.mailchimp.poll_enabled = options.poll;
        config.mailchimp.poll_interval_secs = 1;
        if let Some(secs) = options.reconcile_interval_secs {
            config.mailchimp.reconcile_interval_secs = secs;
        }
        if let Some(size) = options.page_size {
            config.mailchimp.page_size = size;
        }
        config.mailchimp.request_timeout_secs = options.request_timeout_secs;
        config.mailchimp.retry_base_ms = 20;
        config.mailchimp.retry_max_ms = 200;
        config.mailchimp.max_attempts = 4;
        // Exactly the sandbox's address (not all of loopback), over plain http.
        config.egress.allow = vec![ferry_test_support::egress::socket_of(
            &sandbox.mailchimp_url,
        )];
        config.egress.allow.extend(options.egress_allow.clone());
        config.egress.sandbox = true;
        config.integrations = vec![IntegrationConfig {
            integration_id,
            api_key: Secret::new(DEFAULT_API_KEY),
            base_url: Some(sandbox.mailchimp_url.clone()),
            store_id: seed.shop.store_id.clone(),
            list_id: seed.shop.list_id.clone(),
            store_name: seed.shop.name.clone(),
            currency_code: seed.shop.currency_code.clone(),
            concurrency: options.concurrency,
            webhook_secret: options.webhook_secret.clone().map(Secret::new),
            company_merge_field: "COMPANY".into(),
            resources: ferry_connector_mailchimp::Resource::all(),
            publish_stock: options.publish_stock,
            audience_members: options.audience_members,
        }];

        let seen = Observer::default();
        let observer = Subscription::new(
            format!("observer-{}", Uuid::new_v4().simple()),
            vec![Binding::events("mailchimp.#")],
        );
        let observer_sub = bus
            .subscribe(observer, Arc::new(seen.clone()))
            .await
            .expect("observer");
        let lot = ParkingLot::new(db.clone(), bus.clone());
        let mut subs = vec![observer_sub];
        subs.extend(
            lot.watch_queues(&[queues::CONNECTOR_MAILCHIMP])
                .await
                .expect("parking lot"),
        );

        let shutdown = CancellationToken::new();
        let runtime = Runtime {
            db: db.clone(),
            bus: bus.clone(),
            shutdown: shutdown.clone(),
        };
        let (started, ingester) =
            ferry_connector_mailchimp::start_with_ingester(runtime, config.clone())
                .await
                .expect("connector starts");
        Harness {
            sandbox,
            bus,
            rabbit,
            db,
            _db_guard: db_guard,
            ingester,
            integration_id,
            store_id: seed.shop.store_id.clone(),
            list_id: seed.shop.list_id.clone(),
            config,
            lot,
            seen,
            subs,
            started: Some(started),
            shutdown,
        }
    }

    /// The connector's integration.
    pub fn integration(&self) -> Arc<ferry_connector_mailchimp::integrations::Integration> {
        self.ingester
            .integrations()
            .get(self.integration_id)
            .expect("integration")
    }

    /// Sends a command to the connector; returns its message id.
    pub async fn send<P: Message>(&self, payload: P) -> MessageId {
        let envelope = Envelope::new(self.integration_id, payload);
        let id = envelope.message_id;
        self.bus
            .publish(BusMessage::from_envelope(&envelope).expect("encode"))
            .await
            .expect("publish");
        id
    }

    /// Publishes an exact message (for duplicate deliveries).
    pub async fn publish(&self, message: BusMessage) {
        self.bus.publish(message).await.expect("publish");
    }

    /// Every event seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.0.lock().unwrap().clone()
    }

    /// Events with this routing key.
    pub fn seen_with(&self, routing_key: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.routing_key == routing_key)
            .collect()
    }

    /// Waits for the replies caused by `command`, until `n` arrived.
    pub async fn replies(&self, command: MessageId, n: usize) -> Vec<Seen> {
        let id = command.to_string();
        let mut found = Vec::new();
        wait_until(&format!("{n} reply(ies) to {id}"), || {
            found = self
                .seen()
                .into_iter()
                .filter(|s| s.causation() == Some(id.as_str()))
                .collect();
            found.len() >= n
        })
        .await;
        found
    }

    /// Waits for the single reply to `command`.
    pub async fn reply(&self, command: MessageId) -> Seen {
        self.replies(command, 1).await.remove(0)
    }

    /// Waits until `n` events with `routing_key` were seen.
    pub async fn wait_for(&self, routing_key: &str, n: usize) -> Vec<Seen> {
        let mut found = Vec::new();
        wait_until(&format!("{n} {routing_key}"), || {
            found = self.seen_with(routing_key);
            found.len() >= n
        })
        .await;
        found
    }

    /// Waits until the parking lot holds a message whose reason contains `needle`.
    pub async fn parked(&self, needle: &str) -> ParkedSummary {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let all = self
                .lot
                .list(&ParkedFilter {
                    limit: 500,
                    ..ParkedFilter::default()
                })
                .await
                .expect("list parked");
            if let Some(p) = all.into_iter().find(|p| p.reason.contains(needle)) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "no parked message mentioning {needle:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Number of parked messages.
    pub async fn parked_count(&self) -> usize {
        self.lot
            .list(&ParkedFilter {
                limit: 500,
                include_replayed: true,
                ..ParkedFilter::default()
            })
            .await
            .expect("list parked")
            .len()
    }

    /// The sandbox's MailChimp state.
    pub fn state(&self) -> Value {
        self.sandbox
            .control
            .dump(ferry_sandbox::faults::System::Mailchimp)
    }

    /// The store in the sandbox state.
    pub fn store(&self) -> Value {
        self.state()["stores"][&self.store_id].clone()
    }

    /// One MailChimp API call in the sandbox, bypassing faults (test setup).
    pub fn mc(&self, method: &str, path: &str, body: Value) -> Value {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap()
        };
        self.sandbox
            .mailchimp
            .call(method, path, "", &bytes)
            .unwrap_or_else(|e| panic!("sandbox {method} {path}: {e:?}"))
            .body
            .unwrap_or_default()
    }

    /// Adds a fault rule to the MailChimp sandbox.
    pub fn fault(&self, method: &str, path: &str, fault: FaultKind, next: Option<u32>) -> u64 {
        let mut rule = FaultRule::new(FaultSystem::Mailchimp, fault)
            .method(method)
            .path(path);
        if let Some(n) = next {
            rule = rule.next(n);
        }
        self.sandbox.faults.add(rule).expect("valid fault")
    }

    pub fn clear_faults(&self) {
        self.sandbox.faults.clear(None);
    }

    /// Requests the sandbox received for a method and path prefix.
    pub fn requests(&self, method: &str, path_prefix: &str) -> usize {
        self.sandbox
            .control
            .log(FaultSystem::Mailchimp)
            .list(0)
            .iter()
            .filter(|r| r.method == method && r.path.starts_with(path_prefix))
            .count()
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(started) = self.started.take() {
            started.stop(Duration::from_secs(5)).await;
        }
        for sub in self.subs.drain(..) {
            sub.stop(Duration::from_secs(2)).await;
        }
        if let Some(rabbit) = &self.rabbit {
            let _ = rabbit.delete_declared_queues().await;
        }
        self.bus.shutdown(Duration::from_secs(2)).await;
        self.sandbox.stop().await;
    }

    /// The admin routes of the started connector, mounted on an admin server on port 0.
    pub fn started(&self) -> &Started {
        self.started.as_ref().expect("started")
    }
}

/// Polls `cond` every 20 ms for up to 20 s.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `api_key` of the sandbox.
pub fn sandbox_key() -> &'static str {
    DEFAULT_API_KEY
}
