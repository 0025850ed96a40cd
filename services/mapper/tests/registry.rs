//! The integration registry end to end: the mapper (registry), both connectors and the
//! notifier on one runtime, one admin server, the sandboxes standing in for MailChimp and
//! MplusKASSA, a real bus and database. Every test searches the captured log output, the
//! API responses, the messages on the bus and the activity log for the credentials.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use ferry_mapper::registry::{NewIntegration, Registry, integration_row};
use ferry_platform::admin::{AdminServer, RunningAdminServer};
use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::rabbit::{RabbitBus, RabbitConfig};
use ferry_platform::bus::{Binding, Bus, Delivery, Outcome, Subscription, SubscriptionHandle};
use ferry_platform::config::{AdminConfig, Scope, Secret, TokenConfig};
use ferry_platform::db;
use ferry_platform::db::testing::{self, TestDatabase};
use ferry_platform::secrets::Keyring;
use ferry_platform::service::{Runtime, Started};
use ferry_sandbox::seed::Seed;
use ferry_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use sea_orm::{DatabaseConnection, EntityTrait};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const OPERATOR: &str = "operator-token-0123456789abcdef";
const READER: &str = "read-token-0123456789abcdef";
/// Credentials distinctive enough to search for.
const MAILCHIMP_KEY: &str = "5f3c9a71e2d84b06a1c7e9f2d3b4a5c6-us1";
const MPLUS_SECRET: &str = "Mk-Secret-9d2e7a41c0b3";

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn keyring(text: &str) -> Keyring {
    Keyring::parse(text).unwrap()
}

/// Everything logged by this test process (one process per test under nextest).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buffer = buffer.clone();
            move || Capture(buffer.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=warn,lapin=info,h2=info,hyper=info,reqwest=info")
            .with_writer(writer)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all: Vec<Box<dyn MigrationTrait>> = vec![
            Box::new(ferry_platform::bus::BusMigration),
            Box::new(ferry_platform::registry::MirrorMigration),
        ];
        all.extend(ferry_connector_mailchimp::migrations());
        all.extend(ferry_connector_mpluskassa::migrations());
        all.extend(ferry_mapper::migrations());
        all.extend(ferry_notifier::migrations());
        ferry_platform::db::unique_migrations(all)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    InProcess,
    Rabbit,
}

/// Records every message on both exchanges.
#[derive(Clone, Default)]
struct Wiretap(Arc<Mutex<Vec<String>>>);

#[async_trait::async_trait]
impl ferry_platform::bus::Handler for Wiretap {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&delivery.message.body).into_owned());
        Outcome::Ack
    }
}

struct Harness {
    sandbox: SandboxHandle,
    db: DatabaseConnection,
    _database: TestDatabase,
    rabbit: Option<RabbitBus>,
    started: Option<Started>,
    admin: Option<RunningAdminServer>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    wiretap: Wiretap,
    _tap: SubscriptionHandle,
    http: reqwest::Client,
}

impl Harness {
    async fn start(kind: Kind, ring: Keyring) -> Self {
        logs();
        let mut seed = Seed::default_shop();
        seed.customers.truncate(3);
        seed.orders.clear();
        let mut sandbox_config = SandboxConfig {
            seed,
            mpluskassa_secret: MPLUS_SECRET.to_owned(),
            ..SandboxConfig::default()
        };
        sandbox_config.mailchimp.api_keys = vec![MAILCHIMP_KEY.to_owned()];
        let sandbox = Sandbox::start(sandbox_config).await.expect("sandbox");
        let (database, bus, rabbit): (TestDatabase, Arc<dyn Bus>, Option<RabbitBus>) = match kind {
            Kind::InProcess => (testing::sqlite_temp(), Arc::new(InProcessBus::new()), None),
            Kind::Rabbit => {
                let prefix = format!("t-{}.", &Uuid::new_v4().simple().to_string()[..12]);
                let url = std::env::var("FERRY_TEST_AMQP_URL")
                    .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
                let rabbit = RabbitBus::connect(
                    RabbitConfig::new(url)
                        .prefix(prefix)
                        .publish_timeout(Duration::from_secs(10)),
                    Duration::from_secs(20),
                )
                .await
                .expect("RabbitMQ at 127.0.0.1:5672");
                let database = testing::postgres_schema().await.expect("PostgreSQL");
                (database, Arc::new(rabbit.clone()), Some(rabbit))
            }
        };
        let db = db::connect(database.config()).await.expect("connect");
        db::migrate::<Migrator>(&db).await.expect("migrate");
        let wiretap = Wiretap::default();
        let tap = bus
            .subscribe(
                Subscription::new(
                    format!("wiretap-{}", Uuid::new_v4().simple()),
                    vec![Binding::events("#"), Binding::commands("#")],
                ),
                Arc::new(wiretap.clone()),
            )
            .await
            .expect("wiretap");
        let shutdown = CancellationToken::new();
        let runtime = Runtime {
            db: db.clone(),
            bus: bus.clone(),
            shutdown: shutdown.clone(),
        };
        let mut mailchimp = ferry_connector_mailchimp::ConnectorConfig::default();
        mailchimp.common.bus.max_attempts = 20;
        mailchimp.common.bus.retry_base_ms = 200;
        mailchimp.common.bus.retry_max_ms = 1000;
        mailchimp.mailchimp.poll_interval_secs = 1;
        mailchimp.mailchimp.request_timeout_secs = 10;
        mailchimp.keyring = Some(ring.clone());
        // Each connector may reach exactly its sandbox on loopback, over plain http.
        mailchimp.egress.allow = vec![sandbox.mailchimp_addr.to_string()];
        mailchimp.egress.sandbox = true;
        let mut mpluskassa = ferry_connector_mpluskassa::ConnectorConfig::default();
        mpluskassa.common.bus.max_attempts = 20;
        mpluskassa.common.bus.retry_base_ms = 200;
        mpluskassa.common.bus.retry_max_ms = 1000;
        mpluskassa.sync.poll_interval_ms = 1000;
        mpluskassa.keyring = Some(ring.clone());
        mpluskassa.egress.allow = vec![sandbox.mpluskassa_addr.to_string()];
        mpluskassa.egress.sandbox = true;
        let mut mapper = ferry_mapper::MapperConfig {
            keyring: Some(ring),
            ..Default::default()
        };
        // The registry accepts the sandboxes' plain-http endpoints, and nothing else internal.
        mapper.egress.allow = vec![
            sandbox.mailchimp_addr.to_string(),
            sandbox.mpluskassa_addr.to_string(),
        ];
        mapper.egress.sandbox = true;
        let notifier = ferry_notifier::NotifierConfig {
            host_parking_lot: false,
            ..Default::default()
        };
        let (_n, notifier) = ferry_notifier::start_notifier(runtime.clone(), notifier, None)
            .await
            .expect("notifier");
        let started = notifier
            .merge(
                ferry_connector_mailchimp::start(runtime.clone(), mailchimp)
                    .await
                    .expect("mailchimp connector"),
            )
            .merge(
                ferry_connector_mpluskassa::start(runtime.clone(), mpluskassa)
                    .await
                    .expect("mpluskassa connector"),
            )
            .merge(
                ferry_mapper::start(runtime.clone(), mapper)
                    .await
                    .expect("mapper"),
            );
        let admin = started
            .mount(AdminServer::builder(
                "ferry-test",
                &AdminConfig {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    tokens: vec![
                        TokenConfig {
                            name: "viewer".into(),
                            token: Secret::new(READER),
                            scope: Scope::Read,
                            integrations: Vec::new(),
                        },
                        TokenConfig {
                            name: "oncall".into(),
                            token: Secret::new(OPERATOR),
                            scope: Scope::Operator,
                            integrations: Vec::new(),
                        },
                    ],
                    ..AdminConfig::default()
                },
            ))
            .bind()
            .expect("admin binds");
        let addr = admin.local_addr();
        Self {
            sandbox,
            db,
            _database: database,
            rabbit,
            started: Some(started),
            admin: Some(admin),
            addr,
            shutdown,
            wiretap,
            _tap: tap,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.addr)
    }

    /// A call with the operator token; the status and the body as text (searched for secrets).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(OPERATOR);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_no_secret("an API response", &text);
        (status, text)
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, text) = self.call(method, path, body).await;
        if status >= 300 {
            let log = captured();
            let errors: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("ERROR") || l.contains("WARN"))
                .collect();
            panic!("{path}: {status} {text}\n{}", errors.join("\n"));
        }
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    fn new_integration(&self) -> Value {
        let seed = self.sandbox.control.seed();
        json!({
            "name": "Sandbox shop",
            "mailchimp": {
                "api_key": MAILCHIMP_KEY,
                "base_url": self.sandbox.mailchimp_url,
                "list_id": seed.shop.list_id,
                "store_id": seed.shop.store_id,
                "store_name": seed.shop.name,
                "currency": seed.shop.currency_code,
            },
            "mpluskassa": {
                "endpoint": self.sandbox.mpluskassa_url,
                "ident": ferry_sandbox::DEFAULT_MPLUSKASSA_IDENT,
                "secret": MPLUS_SECRET,
            }
        })
    }

    async fn mplus_state(&self) -> String {
        self.http
            .get(format!("{}_sandbox/state", self.sandbox.mpluskassa_url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Puts (creates or changes) an e-commerce customer in the MailChimp sandbox.
    async fn mailchimp_customer(&self, id: &str, email: &str) {
        let seed = self.sandbox.control.seed();
        let response = self
            .http
            .put(format!(
                "{}/ecommerce/stores/{}/customers/{id}",
                self.sandbox.mailchimp_url, seed.shop.store_id
            ))
            .basic_auth("ferry", Some(MAILCHIMP_KEY))
            .json(&json!({
                "id": id, "email_address": email, "opt_in_status": false,
                "first_name": "Paula", "last_name": "Paused",
                "address": {"address1": "Kerkstraat 1", "city": "Utrecht", "postal_code": "3511AB", "country_code": "NL"}
            }))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "sandbox customer: {}",
            response.text().await.unwrap_or_default()
        );
    }

    async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(admin) = self.admin.take() {
            admin.stop().await.ok();
        }
        if let Some(started) = self.started.take() {
            started.stop(Duration::from_secs(5)).await;
        }
        if let Some(rabbit) = &self.rabbit {
            rabbit.delete_declared_queues().await.ok();
        }
        self.sandbox.stop().await;
    }
}

fn assert_no_secret(place: &str, text: &str) {
    for secret in [MAILCHIMP_KEY, MPLUS_SECRET, "5f3c9a71e2d84b06"] {
        assert!(!text.contains(secret), "a credential appears in {place}");
    }
}

async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} did not happen within {timeout:?}");
}

/// create -> test -> settings -> go-live -> pause -> change in MailChimp while paused ->
/// resume -> the change is synced; and the credentials appear nowhere in clear.
async fn lifecycle(kind: Kind) {
    let ring = keyring(&format!("k1:{}", key(1)));
    let h = Harness::start(kind, ring).await;
    use reqwest::Method;

    // Create: 201, a draft, hints only.
    let (status, text) = h
        .call(Method::POST, "/integrations", Some(h.new_integration()))
        .await;
    assert_eq!(status, 201, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["state"], "draft");
    assert_eq!(created["mailchimp"]["api_key_hint"], "…-us1");
    assert_eq!(created["mpluskassa"]["secret_hint"], "…c0b3");
    assert_eq!(created["created_by"], "oncall");

    // Stored sealed, bound to the record.
    let row = integration_row::Entity::find_by_id(Uuid::parse_str(&id).unwrap())
        .one(&h.db)
        .await
        .unwrap()
        .unwrap();
    assert!(row.mailchimp_api_key_sealed.starts_with("v1.k1."));
    assert_no_secret("the registry table", &format!("{row:?}"));

    // Reads need the read scope, writes the operator scope.
    let read = h
        .http
        .get(h.url("/integrations"))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let list: Value = read.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let denied = h
        .http
        .post(h.url(&format!("/integrations/{id}/pause")))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let anonymous = h.http.get(h.url("/integrations")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // Test both saved connections through the connectors.
    let tested = h
        .json(Method::POST, &format!("/integrations/{id}/test"), None)
        .await;
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["mailchimp"]["ok"], true);
    assert_eq!(tested["mpluskassa"]["ok"], true);
    // No credentials travelled: each connector tested the connection it holds (opened from
    // the registry's sealed event), at the revision just saved; the endpoints that take
    // credentials in the body were not called.
    let trail = h.json(Method::GET, "/audit", None).await;
    let paths: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["path"].as_str())
        .collect();
    for system in ["mailchimp", "mpluskassa"] {
        let held = format!("/api/v1/{system}/integrations/{id}/connection-test");
        assert!(paths.contains(&held.as_str()), "{system}: {paths:?}");
        let with_credentials = format!("/api/v1/{system}/connection-test");
        assert!(!paths.contains(&with_credentials.as_str()), "{paths:?}");
    }
    // A replica behind the registry (it does not serve revision 99 yet) answers 409 without
    // credentials, and tests the sealed ones sent along, opened with its own keyring.
    let row = integration_row::Entity::find_by_id(Uuid::parse_str(&id).unwrap())
        .one(&h.db)
        .await
        .unwrap()
        .unwrap();
    let behind = format!("/mailchimp/integrations/{id}/connection-test?revision=99");
    let (status, text) = h.call(Method::POST, &behind, None).await;
    assert_eq!(status, 409, "{text}");
    let sealed = h
        .json(
            Method::POST,
            &behind,
            Some(json!({"secret_sealed": row.mailchimp_api_key_sealed, "url": row.mailchimp_base_url})),
        )
        .await;
    assert_eq!(sealed["ok"], true, "{sealed}");
    let tampered =
        json!({"secret_sealed": "v1.k1.not-a-sealed-value", "url": row.mailchimp_base_url});
    let (status, text) = h.call(Method::POST, &behind, Some(tampered)).await;
    assert_eq!(status, 400, "{text}");
    let mplus = h
        .json(
            Method::POST,
            &format!("/mpluskassa/integrations/{id}/connection-test?revision=99"),
            Some(json!({"secret_sealed": row.mpluskassa_secret_sealed,
                        "url": row.mpluskassa_endpoint, "ident": row.mpluskassa_ident})),
        )
        .await;
    assert_eq!(mplus["ok"], true, "{mplus}");

    // A wrong secret: the test says so (and still never echoes it).
    let (status, _) = h
        .call(
            Method::PATCH,
            &format!("/integrations/{id}"),
            Some(
                json!({"mpluskassa": {"secret": "wrong-secret-value-123"}, "expected_version": 1}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let tested = h
        .json(Method::POST, &format!("/integrations/{id}/test"), None)
        .await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert_eq!(tested["mpluskassa"]["ok"], false);
    // A stale version is a conflict.
    let (status, _) = h
        .call(
            Method::PATCH,
            &format!("/integrations/{id}"),
            Some(json!({"name": "x", "expected_version": 1})),
        )
        .await;
    assert_eq!(status, 409);
    let patched = h
        .json(
            Method::PATCH,
            &format!("/integrations/{id}"),
            Some(json!({"mpluskassa": {"secret": MPLUS_SECRET}, "expected_version": 2})),
        )
        .await;
    assert_eq!(patched["version"], 3);
    // Issue 19, finding 2: a saved credential is never redirected to another host: a new
    // endpoint or base URL needs the secret or key again.
    for redirect in [
        json!({"mpluskassa": {"endpoint": "https://collector.example/"}}),
        json!({"mailchimp": {"base_url": "https://collector.example/3.0"}}),
        json!({"mailchimp": {"base_url": ""}}),
    ] {
        let (status, body) = h
            .call(
                Method::PATCH,
                &format!("/integrations/{id}"),
                Some(redirect),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("again"), "{body}");
    }
    let unchanged = h
        .json(Method::GET, &format!("/integrations/{id}"), None)
        .await;
    assert_eq!(unchanged["version"], 3, "{unchanged}");

    // Settings: only customers, MailChimp -> MplusKASSA.
    let off = json!({"enabled": false, "direction": "mpluskassa_to_mailchimp"});
    h.json(
        Method::PUT,
        &format!("/integrations/{id}/settings"),
        Some(json!({"document": {"flows": {
            "customers": {"enabled": true, "direction": "mailchimp_to_mpluskassa"},
            "products": off, "categories": off, "stock": off,
            "orders": {"enabled": false, "direction": "mailchimp_to_mpluskassa"},
        }}})),
    )
    .await;

    // A draft is not synced: pause is refused, go-live works.
    let (status, _) = h
        .call(Method::POST, &format!("/integrations/{id}/pause"), None)
        .await;
    assert_eq!(status, 409);
    let live = h
        .json(Method::POST, &format!("/integrations/{id}/go-live"), None)
        .await;
    assert_eq!(live["state"], "live");

    // Live: a customer made in MailChimp reaches MplusKASSA.
    h.mailchimp_customer("reg-live-1", "live.one@example.com")
        .await;
    eventually(
        "the live customer synced",
        Duration::from_secs(30),
        || async { h.mplus_state().await.contains("live.one@example.com") },
    )
    .await;

    // Paused: a change made meanwhile stays in MailChimp...
    let paused = h
        .json(Method::POST, &format!("/integrations/{id}/pause"), None)
        .await;
    assert_eq!(paused["state"], "paused");
    // Let a poll that was running when the pause arrived finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    h.mailchimp_customer("reg-paused-1", "made.while.paused@example.com")
        .await;
    // Several poll intervals (1 s) pass without it being read.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        !h.mplus_state()
            .await
            .contains("made.while.paused@example.com"),
        "a paused integration synced"
    );
    assert!(
        !h.wiretap
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains("made.while.paused@example.com")),
        "a paused integration was polled"
    );
    // ...and is synced after resume.
    let resumed = h
        .json(Method::POST, &format!("/integrations/{id}/resume"), None)
        .await;
    assert_eq!(resumed["state"], "live");
    eventually(
        "the change made while paused synced after resume",
        Duration::from_secs(30),
        || async {
            h.mplus_state()
                .await
                .contains("made.while.paused@example.com")
        },
    )
    .await;

    // The activity log shows the records, never a credential.
    eventually("activity recorded", Duration::from_secs(20), || async {
        let (_, text) = h
            .call(
                Method::GET,
                &format!("/activity?integration_id={id}&limit=500"),
                None,
            )
            .await;
        text.contains("customer")
    })
    .await;

    // The OpenAPI document lists the registry.
    let (_, openapi) = h.call(Method::GET, "/openapi.json", None).await;
    for route in [
        "/integrations/{integration_id}/go-live",
        "/integrations/credentials/rotate",
        "/integrations/{integration_id}/test",
    ] {
        assert!(
            openapi.contains(route),
            "{route} missing from the OpenAPI document"
        );
    }

    // Messages carried the credentials only sealed.
    let messages = h.wiretap.0.lock().unwrap().join("\n");
    assert!(messages.contains("\"api_key_sealed\":\"v1.k1."));
    assert_no_secret("a bus message", &messages);

    h.stop().await;
    assert_no_secret("the log output", &captured());
    assert!(
        captured().contains("integration updated from the registry"),
        "the connectors followed the registry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_in_process() {
    lifecycle(Kind::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_rabbitmq() {
    lifecycle(Kind::Rabbit).await;
}

/// Delete removes credentials, settings, mappings, and the connectors' data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_everything() {
    use reqwest::Method;
    let h = Harness::start(Kind::InProcess, keyring(&format!("k1:{}", key(1)))).await;
    let created = h
        .json(Method::POST, "/integrations", Some(h.new_integration()))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    h.json(
        Method::PUT,
        &format!("/integrations/{id}/settings"),
        Some(json!({"document": {"stock": {"buffer": "2"}}})),
    )
    .await;
    // The connectors serve it (as a draft).
    eventually(
        "the connectors learnt it",
        Duration::from_secs(20),
        || async {
            let (_, mc) = h.call(Method::GET, "/mailchimp/integrations", None).await;
            let (_, mk) = h.call(Method::GET, "/mpluskassa/integrations", None).await;
            mc.contains(&id) && mk.contains(&id)
        },
    )
    .await;

    let activity = format!("/activity?integration_id={id}&limit=500");
    eventually(
        "the registry events in the activity log",
        Duration::from_secs(20),
        || async { h.call(Method::GET, &activity, None).await.1.contains(&id) },
    )
    .await;

    let (status, _) = h
        .call(Method::DELETE, &format!("/integrations/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = h
        .call(Method::GET, &format!("/integrations/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let settings = h
        .json(Method::GET, &format!("/integrations/{id}/settings"), None)
        .await;
    assert_eq!(settings["version"], 0, "settings deleted");
    assert!(
        integration_row::Entity::find()
            .all(&h.db)
            .await
            .unwrap()
            .is_empty(),
        "credentials deleted"
    );
    eventually(
        "the connectors forgot it",
        Duration::from_secs(20),
        || async {
            let (_, mc) = h.call(Method::GET, "/mailchimp/integrations", None).await;
            let (_, mk) = h.call(Method::GET, "/mpluskassa/integrations", None).await;
            !mc.contains(&id) && !mk.contains(&id)
        },
    )
    .await;
    eventually(
        "the activity log erased",
        Duration::from_secs(20),
        || async { !h.call(Method::GET, &activity, None).await.1.contains(&id) },
    )
    .await;
    let (status, _) = h
        .call(Method::DELETE, &format!("/integrations/{id}"), None)
        .await;
    assert_eq!(status, 404);
    h.stop().await;
}

/// Rotation: everything sealed under k1 is re-sealed under k2; with k1 removed, everything
/// still opens (and the connection test still passes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_reseals_under_the_new_key() {
    use reqwest::Method;
    let old = keyring(&format!("k1:{}", key(1)));
    let rotating = keyring(&format!("k2:{},k1:{}", key(2), key(1)));
    let new_only = keyring(&format!("k2:{}", key(2)));

    let h = Harness::start(Kind::InProcess, rotating).await;
    // Two integrations saved before the rotation began (under k1 only).
    let before = Registry::new(h.db.clone(), Outbox::new("mapper"), Some(old)).with_egress(
        ferry_platform::egress::EgressGuard::new(&ferry_platform::egress::EgressConfig {
            allow: vec![
                h.sandbox.mailchimp_addr.to_string(),
                h.sandbox.mpluskassa_addr.to_string(),
            ],
            sandbox: true,
        })
        .unwrap(),
    );
    let mut ids = Vec::new();
    for _ in 0..2 {
        let input: NewIntegration = serde_json::from_value(h.new_integration()).unwrap();
        ids.push(before.create(input, "setup").await.unwrap().id);
    }
    let rotated = h
        .json(Method::POST, "/integrations/credentials/rotate", None)
        .await;
    assert_eq!(rotated["resealed"], 2);
    let again = h
        .json(Method::POST, "/integrations/credentials/rotate", None)
        .await;
    assert_eq!(again["resealed"], 0, "nothing left under the old key");
    for row in integration_row::Entity::find().all(&h.db).await.unwrap() {
        assert!(row.mailchimp_api_key_sealed.starts_with("v1.k2."));
        assert!(row.mpluskassa_secret_sealed.starts_with("v1.k2."));
    }
    // The old key removed: everything opens.
    let after = Registry::new(h.db.clone(), Outbox::new("mapper"), Some(new_only));
    for id in &ids {
        let id = ferry_proto::IntegrationId::from_uuid(*id).unwrap();
        let (_, credentials) = after.open(id).await.unwrap();
        assert_eq!(credentials.mailchimp_api_key, MAILCHIMP_KEY);
        assert_eq!(credentials.mpluskassa_secret, MPLUS_SECRET);
    }
    let tested = h
        .json(
            Method::POST,
            &format!("/integrations/{}/test", ids[0]),
            None,
        )
        .await;
    assert_eq!(tested["ok"], true, "{tested}");
    h.stop().await;
    assert_no_secret("the log output", &captured());
}

/// Replicas share a connector's queue, so a registry change reaches one of them; the others
/// apply it from the registry mirror in the shared database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_follows_the_registry_through_the_mirror() {
    use reqwest::Method;
    let ring = keyring(&format!("k1:{}", key(1)));
    let h = Harness::start(Kind::InProcess, ring.clone()).await;
    let created = h
        .json(Method::POST, "/integrations", Some(h.new_integration()))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let integration = ferry_proto::IntegrationId::parse(&id).unwrap();

    // A second replica of the MailChimp connector: the same database, and a bus of its own
    // that carries no registry event.
    let shutdown = CancellationToken::new();
    let runtime = Runtime {
        db: h.db.clone(),
        bus: Arc::new(InProcessBus::new()),
        shutdown: shutdown.clone(),
    };
    let mut config = ferry_connector_mailchimp::ConnectorConfig::default();
    config.mailchimp.poll_enabled = false;
    config.keyring = Some(ring);
    config.egress.allow = vec![h.sandbox.mailchimp_addr.to_string()];
    config.egress.sandbox = true;
    let (replica_started, ingester) =
        ferry_connector_mailchimp::start_with_ingester(runtime, config)
            .await
            .expect("replica starts");
    let replica = ingester.integrations().clone();
    eventually(
        "the replica serves the draft",
        Duration::from_secs(20),
        || {
            let replica = replica.clone();
            async move { replica.get(integration).is_some() && !replica.is_active(integration) }
        },
    )
    .await;
    h.json(Method::POST, &format!("/integrations/{id}/go-live"), None)
        .await;
    eventually("the replica sees it live", Duration::from_secs(20), || {
        let replica = replica.clone();
        async move { replica.is_active(integration) }
    })
    .await;
    h.call(Method::DELETE, &format!("/integrations/{id}"), None)
        .await;
    eventually("the replica forgot it", Duration::from_secs(20), || {
        let replica = replica.clone();
        async move { replica.get(integration).is_none() }
    })
    .await;
    shutdown.cancel();
    replica_started.stop(Duration::from_secs(5)).await;
    h.stop().await;
}

/// Issue 19, finding 2: a saved endpoint carries credentials, so the registry accepts only
/// `https://` to public destinations, or what `[egress]` names: here the two sandboxes over
/// plain http (sandbox mode). Creating or changing to anything else is refused naming the
/// field, and nothing is saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_endpoints_must_be_https_or_an_allowed_sandbox() {
    use reqwest::Method;
    let h = Harness::start(Kind::InProcess, keyring(&format!("k1:{}", key(1)))).await;
    for (field, url, why) in [
        ("mpluskassa", "http://api.mplus.example/", "https"),
        ("mpluskassa", "https://10.1.2.3:443/", "internal"),
        ("mpluskassa", "https://169.254.169.254/", "internal"),
        ("mailchimp", "http://us1.api.mailchimp.example/3.0", "https"),
        ("mailchimp", "http://127.0.0.1:9/3.0", "internal"),
    ] {
        let mut body = h.new_integration();
        let key = if field == "mailchimp" {
            "base_url"
        } else {
            "endpoint"
        };
        body[field][key] = json!(url);
        let (status, text) = h.call(Method::POST, "/integrations", Some(body)).await;
        assert_eq!(status, 400, "{url}: {text}");
        assert!(text.contains(&format!("{field}.{key}")), "{url}: {text}");
        assert!(text.to_lowercase().contains(why), "{url}: {text}");
    }
    let list = h.json(Method::GET, "/integrations", None).await;
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing saved: {list}");

    // The sandboxes are allowed; a change to a public http endpoint is refused.
    let created = h
        .json(Method::POST, "/integrations", Some(h.new_integration()))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, text) = h
        .call(
            Method::PATCH,
            &format!("/integrations/{id}"),
            Some(json!({"mpluskassa": {"endpoint": "http://kassa.example/", "secret": "x-secret-123456"},
                        "expected_version": created["version"]})),
        )
        .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("mpluskassa.endpoint"), "{text}");
    h.stop().await;
}

/// CI's admin API fuzzing found it: a NUL character in a text field (here the MplusKASSA
/// ident) reached PostgreSQL, which refused it, and the API answered 503 "database
/// unavailable". A control character in any text field is refused with 400 naming the field,
/// and nothing is saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_text_fields_are_refused() {
    use reqwest::Method;
    let h = Harness::start(Kind::InProcess, keyring(&format!("k1:{}", key(1)))).await;
    for (section, field) in [
        (None, "name"),
        (Some("mpluskassa"), "ident"),
        (Some("mailchimp"), "list_id"),
        (Some("mailchimp"), "store_id"),
        (Some("mailchimp"), "store_name"),
    ] {
        for hostile in ["\u{0}", "\u{7}", "\u{1b}[31m"] {
            let mut body = h.new_integration();
            let value = json!(format!("Shop{hostile}1"));
            let name = match section {
                Some(section) => {
                    body[section][field] = value;
                    format!("{section}.{field}")
                }
                None => {
                    body[field] = value;
                    field.to_owned()
                }
            };
            let (status, text) = h.call(Method::POST, "/integrations", Some(body)).await;
            assert_eq!(status, 400, "{name} {hostile:?}: {text}");
            assert!(text.contains(&name), "{name}: {text}");
        }
    }
    let list = h.json(Method::GET, "/integrations", None).await;
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing saved: {list}");
    h.stop().await;
}
