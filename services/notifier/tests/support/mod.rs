//! A notifier for one test: a fresh database (SQLite file or PostgreSQL schema), a bus
//! isolated by a unique prefix (in-process or the local RabbitMQ), the service started on them
//! and its admin server on a free port. Plus fixtures, a webhook receiver and an SMTP catcher.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub use ferry_test_support::webdriver;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, Utc};
use ferry_notifier::{Migrator, Notifier, NotifierConfig};
use ferry_platform::admin::{AdminServer, RunningAdminServer};
use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::rabbit::{RabbitBus, RabbitConfig};
use ferry_platform::bus::{Bus, BusMessage};
use ferry_platform::config::{Scope, Secret, TokenConfig};
use ferry_platform::db::testing::{self, TestDatabase};
use ferry_platform::service::{Runtime, Started};
use ferry_proto::messages::*;
use ferry_proto::model::{Customer, Product, ProductKind};
use ferry_proto::*;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

pub const OPERATOR: &str = "operator-token-0123456789";
pub const READER: &str = "reader-token-0123456789";

#[derive(Clone, Copy, Debug)]
pub enum BusKind {
    InProcess,
    Rabbit,
}

#[derive(Clone, Copy, Debug)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

pub use ferry_test_support::amqp_url;

/// A test bus and the database, which outlive notifier restarts.
pub struct World {
    pub bus: Arc<dyn Bus>,
    rabbit: Option<RabbitBus>,
    pub db: DatabaseConnection,
    pub guard: TestDatabase,
}

impl World {
    pub async fn new(bus: BusKind, db: DbKind) -> Self {
        let guard = match db {
            DbKind::Sqlite => testing::sqlite_temp(),
            DbKind::Postgres => testing::postgres_schema()
                .await
                .expect("PostgreSQL at 127.0.0.1:5432 (see .ci/run)"),
        };
        let connection = ferry_platform::db::connect(guard.config())
            .await
            .expect("connect");
        ferry_platform::db::migrate::<Migrator>(&connection)
            .await
            .expect("migrate");
        let (bus, rabbit): (Arc<dyn Bus>, _) = match bus {
            BusKind::InProcess => (Arc::new(InProcessBus::new()), None),
            BusKind::Rabbit => {
                let prefix = format!("t-{}.", &uuid::Uuid::new_v4().simple().to_string()[..12]);
                let config = RabbitConfig::new(amqp_url())
                    .prefix(prefix.clone())
                    .publish_timeout(Duration::from_secs(10))
                    .connection_name(format!("notifier test {prefix}"));
                let rabbit = RabbitBus::connect(config, Duration::from_secs(20))
                    .await
                    .expect("RabbitMQ at 127.0.0.1:5672 (see .ci/run)");
                (Arc::new(rabbit.clone()), Some(rabbit))
            }
        };
        Self {
            bus,
            rabbit,
            db: connection,
            guard,
        }
    }

    /// A new connection pool on the same database, as the next process would open. The admin
    /// server's workers run their own runtimes: connections they opened die with a stopped
    /// server, so a "restarted" service must not reuse the old pool.
    pub async fn reopen(&mut self) {
        self.db = ferry_platform::db::connect(self.guard.config())
            .await
            .expect("connect");
    }

    pub async fn cleanup(self) {
        if let Some(rabbit) = &self.rabbit {
            let _ = rabbit.delete_declared_queues().await;
        }
        self.bus.shutdown(Duration::from_secs(2)).await;
    }
}

/// A configuration with test tokens and fast retries.
pub fn config() -> NotifierConfig {
    let mut config = NotifierConfig::default();
    config.common.service_name = "notifier".into();
    config.common.admin.listen = "127.0.0.1:0".parse().unwrap();
    config.common.admin.tokens = vec![
        TokenConfig {
            name: "oncall".into(),
            token: Secret::new(OPERATOR),
            scope: Scope::Operator,
            integrations: Vec::new(),
        },
        TokenConfig {
            name: "grafana".into(),
            token: Secret::new(READER),
            scope: Scope::Read,
            integrations: Vec::new(),
        },
    ];
    config.common.bus.max_attempts = 3;
    config.delivery.retry_base_ms = 100;
    config.delivery.retry_max_ms = 400;
    config.delivery.poll_ms = 50;
    config.delivery.timeout_ms = 3000;
    config.evaluate_every_seconds = 3600;
    // The webhook receivers and the SMTP server of the tests listen on loopback, over plain
    // http (sandbox mode).
    config.egress.allow = vec!["127.0.0.0/8".into()];
    config.egress.sandbox = true;
    config
}

/// A running notifier with its admin server.
pub struct Harness {
    pub notifier: Notifier,
    pub base: String,
    pub http: reqwest::Client,
    started: Started,
    server: RunningAdminServer,
    shutdown: CancellationToken,
}

impl Harness {
    pub async fn start(world: &World, config: NotifierConfig) -> Self {
        let shutdown = CancellationToken::new();
        let runtime = Runtime {
            db: world.db.clone(),
            bus: world.bus.clone(),
            shutdown: shutdown.clone(),
        };
        let admin = config.common.admin.clone();
        let (notifier, started) = ferry_notifier::start_notifier(runtime, config, None)
            .await
            .expect("notifier starts");
        let server = started
            .mount(AdminServer::builder("notifier", &admin))
            .bind()
            .expect("admin server");
        let base = format!("http://{}", server.local_addr());
        Self {
            notifier,
            base,
            http: reqwest::Client::new(),
            started,
            server,
            shutdown,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.stop().await;
        self.started.stop(Duration::from_secs(3)).await;
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, OPERATOR, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, OPERATOR, path, Some(body))
            .await
    }

    /// Open alerts of `rule`.
    pub async fn alerts(&self, state: &str, rule: &str) -> Vec<Value> {
        self.get(&format!("/alerts?state={state}&rule={rule}"))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

pub async fn publish<P: Message>(bus: &Arc<dyn Bus>, envelope: &Envelope<P>) {
    let message = BusMessage::from_envelope(envelope).expect("encodes");
    bus.publish(message).await.expect("published");
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `secs` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs} s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- fixtures ------------------------------------------------------------------------------

pub fn integration() -> IntegrationId {
    IntegrationId::new()
}

pub fn customer(email: &str) -> Customer {
    Customer::person(Email::parse(email).unwrap())
}

pub fn product(sku: &str) -> Product {
    Product {
        sku: Sku::parse(sku).unwrap(),
        title: Name::parse("T-shirt").unwrap(),
        short_description: None,
        long_description: None,
        price: Money::parse("19.95", CurrencyCode::EUR).unwrap(),
        price_includes_tax: true,
        tax_rate: None,
        gtin: None,
        category: None,
        attributes: vec![],
        properties: Default::default(),
        kind: ProductKind::Simple,
        quantity: None,
    }
}

pub fn customer_observed(integration: IntegrationId, email: &str) -> Envelope<CustomerObserved> {
    Envelope::new(
        integration,
        CustomerObserved {
            source: System::Mailchimp,
            customer: customer(email),
            raw: serde_json::json!({"id": "mc-1", "email_address": email, "merge_fields": {"FNAME": "Jan"}}),
        },
    )
}

pub fn customer_upsert<Q>(parent: &Envelope<Q>, email: &str) -> Envelope<CustomerUpsert> {
    Envelope::caused_by(
        parent,
        CustomerUpsert {
            target: System::Mpluskassa,
            customer: customer(email),
            existing_id: None,
        },
    )
}

pub fn customer_upserted<Q>(command: &Envelope<Q>, email: &str) -> Envelope<CustomerUpserted> {
    Envelope::caused_by(
        command,
        CustomerUpserted {
            target: System::Mpluskassa,
            email: Email::parse(email).unwrap(),
            target_id: ExternalId::parse("rel-17").unwrap(),
            created: true,
        },
    )
}

pub fn product_upserted(integration: IntegrationId, sku: &str) -> Envelope<ProductUpserted> {
    Envelope::new(
        integration,
        ProductUpserted {
            target: System::Mailchimp,
            sku: Sku::parse(sku).unwrap(),
            target_id: ExternalId::parse(sku).unwrap(),
            created: false,
        },
    )
}

pub fn product_upsert(integration: IntegrationId, sku: &str) -> Envelope<ProductUpsert> {
    Envelope::new(
        integration,
        ProductUpsert {
            target: System::Mailchimp,
            product: product(sku),
            overwrite_existing: true,
        },
    )
}

/// A `command.failed` reply to `command` with `code`.
pub fn failed<C: Message>(
    command: &Envelope<C>,
    code: ErrorCode,
    message: &str,
) -> Envelope<CommandFailed> {
    Envelope::caused_by(
        command,
        CommandFailed::for_command(&command.payload, FailureInfo::new(code, message)),
    )
}

pub fn order_find(integration: IntegrationId, order: &str) -> Envelope<OrderFind> {
    Envelope::new(
        integration,
        OrderFind {
            target: System::Mpluskassa,
            external_id: ExternalId::parse(order).unwrap(),
        },
    )
}

pub fn order_created<Q>(parent: &Envelope<Q>, order: &str) -> Envelope<OrderCreated> {
    Envelope::caused_by(
        parent,
        OrderCreated {
            target: System::Mpluskassa,
            external_id: ExternalId::parse(order).unwrap(),
            target_id: ExternalId::parse("MK-9").unwrap(),
            replayed: false,
        },
    )
}

pub fn at<P>(envelope: Envelope<P>, when: DateTime<Utc>) -> Envelope<P> {
    Envelope {
        occurred_at: when,
        ..envelope
    }
}

// ---- a webhook receiver ----------------------------------------------------------------------

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// An HTTP receiver on a free port that answers 500 to the first `fail_first` requests.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub attempts: Arc<Mutex<u32>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub async fn start(fail_first: u32) -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let attempts: Arc<Mutex<u32>> = Arc::default();
        let state = (got.clone(), attempts.clone());
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (got, attempts) = state.clone();
                async move {
                    let n = {
                        let mut a = attempts.lock().unwrap();
                        *a += 1;
                        *a
                    };
                    if n <= fail_first {
                        return HttpResponse::InternalServerError().body("down");
                    }
                    got.lock().unwrap().push(Received {
                        path: req.path().to_owned(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect(),
                        body: body.to_vec(),
                    });
                    HttpResponse::Accepted().finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            addr,
            got,
            attempts,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    pub fn attempts(&self) -> u32 {
        *self.attempts.lock().unwrap()
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

// ---- an SMTP catcher -----------------------------------------------------------------------

/// A mail the catcher accepted.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// A minimal SMTP server on a free port: refuses the first `refuse_first` sessions with
/// `421`, accepts every mail after that.
#[derive(Clone)]
pub struct SmtpCatcher {
    pub port: u16,
    pub mails: Arc<Mutex<Vec<Mail>>>,
    pub sessions: Arc<Mutex<u32>>,
}

impl SmtpCatcher {
    pub async fn start(refuse_first: u32) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let sessions: Arc<Mutex<u32>> = Arc::default();
        let (m, s) = (mails.clone(), sessions.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let n = {
                    let mut s = s.lock().unwrap();
                    *s += 1;
                    *s
                };
                let mails = m.clone();
                tokio::spawn(async move {
                    let _ = session(socket, n <= refuse_first, mails).await;
                });
            }
        });
        Self {
            port,
            mails,
            sessions,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    pub fn sessions(&self) -> u32 {
        *self.sessions.lock().unwrap()
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    refuse: bool,
    mails: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    if refuse {
        write.write_all(b"421 catcher busy, try later\r\n").await?;
        return Ok(());
    }
    write.write_all(b"220 catcher ESMTP\r\n").await?;
    let mut mail = Mail {
        from: String::new(),
        to: Vec::new(),
        data: String::new(),
    };
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            write.write_all(b"250-catcher\r\n250 8BITMIME\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = line[10..].trim().to_owned();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(line[8..].trim().to_owned());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with .\r\n").await?;
            while let Some(data) = lines.next_line().await? {
                if data == "." {
                    break;
                }
                mail.data.push_str(&data);
                mail.data.push('\n');
            }
            mails.lock().unwrap().push(mail.clone());
            write.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            write.write_all(b"250 OK\r\n").await?;
        } else {
            write.write_all(b"502 not implemented\r\n").await?;
        }
    }
    Ok(())
}
