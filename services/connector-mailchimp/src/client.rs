//! The MailChimp Marketing API v3 client.
//!
//! - **Auth and host**: HTTP Basic with the API key as password; the host is
//!   `https://<dc>.api.mailchimp.com/3.0`, `<dc>` being the key's suffix after the last `-`
//!   (overridable, for the sandbox). TLS through rustls.
//! - **Limits**: MailChimp allows 10 simultaneous connections per account and answers 429
//!   beyond. One [`MailchimpClient`] per integration is shared by every flow of that
//!   integration in this process, and the account's [`KeyLimit`] (shared by integrations on
//!   the same account) caps its calls in flight. Across replicas the limit is shared through
//!   the connector kit's connection slots ([`ferry_platform::connector::slots`]): each replica
//!   runs at most as many calls as it holds slots, the slots move to the replicas that need
//!   them, and a call costs no database round trip (a semaphore in process is the fast path).
//! - **Retries** with full-jitter exponential backoff on 429, a bare 403 (MailChimp's edge
//!   throttling answers without a body), 5xx, timeouts, dropped connections and malformed
//!   bodies, for idempotent calls (GET, PUT, PATCH, DELETE). MailChimp sends no `Retry-After`;
//!   when one is present it is honoured. A POST is retried only when it provably had no
//!   effect (429, bare 403, connection refused): everything else is returned, and the caller
//!   looks up before it creates again ([`crate::commands`]).
//! - **Egress**: the HTTP client is built by the deployment's [`EgressGuard`]
//!   ([`ClientSettings::egress`]): it follows no redirect, refuses internal addresses after
//!   resolution (at connect time) unless `[egress] allow` names them, and the base URL is
//!   checked once, when the client is built (`https://` only; plain `http://` to loopback or an allowed
//!   internal address in sandbox mode only).
//! - **Errors** are typed ([`ClientError`]) and name the operation and the cause; they never
//!   contain the key, URLs with query strings, or e-mail addresses.
//! - **Metrics**: every attempt counts in `ferry_api_calls_total{system="mailchimp"}` and in
//!   the integration's [`ApiStats`] (admin API).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_platform::backoff::{Backoff, Jitter};
use ferry_platform::config::Secret;
use ferry_platform::connector::slots::{ConnectionSlots, KeyLimit};
use ferry_platform::egress::{
    BodyError, EgressError, EgressGuard, TransportFailure, read_capped, transport_failure,
};
use ferry_platform::metrics;
use ferry_proto::messages::{ErrorCode, FailureInfo};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

/// The `system` label of metrics.
pub const SYSTEM: &str = "mailchimp";

/// A MailChimp API key: `<32 hex>-<dc>`. Prints as `***-<dc>`.
#[derive(Clone)]
pub struct ApiKey {
    secret: Secret,
    data_center: String,
}

impl ApiKey {
    /// Parses a key; the error never contains the key.
    pub fn parse(raw: &str) -> Result<Self, ClientError> {
        let raw = raw.trim();
        let Some((key, dc)) = raw.rsplit_once('-') else {
            return Err(ClientError::InvalidKey(
                "expected <key>-<data center>, e.g. ...-us19",
            ));
        };
        if key.is_empty() {
            return Err(ClientError::InvalidKey(
                "the part before the data center is empty",
            ));
        }
        let dc_ok = !dc.is_empty()
            && dc.len() <= 8
            && dc
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !dc_ok {
            return Err(ClientError::InvalidKey(
                "the data center suffix must be lower-case letters and digits (us19)",
            ));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ClientError::InvalidKey("contains whitespace"));
        }
        Ok(Self {
            data_center: dc.to_owned(),
            secret: Secret::new(raw),
        })
    }

    /// The data center (`us19`).
    pub fn data_center(&self) -> &str {
        &self.data_center
    }

    /// A digest identifying the account (never the key itself), to share limits.
    pub fn account_digest(&self) -> String {
        subscriber_hash(self.secret.expose())
    }

    /// The production base URL of this key.
    pub fn default_base_url(&self) -> String {
        format!("https://{}.api.mailchimp.com/3.0", self.data_center)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "***-{}", self.data_center)
    }
}

/// Timeouts, retries and the connection limit of one client.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Whole request, body included.
    pub request_timeout: Duration,
    /// Connection establishment.
    pub connect_timeout: Duration,
    /// Attempts of an idempotent call, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt (upper bound of the jitter).
    pub retry_base: Duration,
    /// Longest backoff.
    pub retry_max: Duration,
    /// Calls in flight at once (this replica's share of the account's limit).
    pub concurrency: usize,
    /// Longest response body read, in bytes; a longer one fails the call unread.
    pub max_response_bytes: usize,
    /// Where calls may go (the default: public `https://` destinations only).
    pub egress: EgressGuard,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 5,
            retry_base: Duration::from_millis(250),
            retry_max: Duration::from_secs(10),
            concurrency: 10,
            max_response_bytes: 32 * 1024 * 1024,
            egress: EgressGuard::default(),
        }
    }
}

/// A field error of a MailChimp validation answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// The field (may be empty).
    pub field: String,
    /// MailChimp's message.
    pub message: String,
}

/// Why a call failed. Messages name the operation (`customers.put`) and the cause, never the
/// key, a query string or an e-mail address.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API key cannot be used.
    #[error("the MailChimp API key is malformed: {0}")]
    InvalidKey(&'static str),
    /// The base URL cannot be used.
    #[error("the MailChimp base URL is invalid: {0}")]
    InvalidBaseUrl(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    /// The egress guard refused the destination (an internal address not allowed, or plain
    /// `http://` outside the sandbox mode).
    #[error("the MailChimp base URL is refused: {0}")]
    Refused(EgressError),
    /// MailChimp refused the request (4xx other than throttling).
    #[error("{op}: MailChimp answered {status} {title}: {detail}{}", fields_suffix(.errors))]
    Rejected {
        /// The operation.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// Problem title (`Invalid Resource`).
        title: String,
        /// Problem detail.
        detail: String,
        /// Field errors.
        errors: Vec<FieldError>,
    },
    /// MailChimp kept throttling (429 or a bare 403).
    #[error("{op}: MailChimp throttled the call (HTTP {status}) {attempts} time(s)")]
    Throttled {
        /// The operation.
        op: &'static str,
        /// 429 or 403.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// MailChimp answered 5xx.
    #[error("{op}: MailChimp failed with HTTP {status} ({attempts} attempt(s)): {detail}")]
    Server {
        /// The operation.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// Problem detail, when there was one.
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// No answer in time.
    #[error("{op}: no answer from MailChimp within {timeout:?} ({attempts} attempt(s))")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The request timeout.
        timeout: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed or was dropped.
    #[error("{op}: connection to MailChimp failed ({attempts} attempt(s)): {cause}")]
    Connection {
        /// The operation.
        op: &'static str,
        /// What happened, by kind (TLS, connect, dropped).
        failure: TransportFailure,
        /// What happened.
        cause: String,
        /// Attempts made.
        attempts: u32,
        /// The request may have reached MailChimp (the connection broke after it was sent).
        maybe_sent: bool,
    },
    /// The answer was not the JSON expected.
    #[error("{op}: malformed answer from MailChimp (HTTP {status}): {cause}")]
    Malformed {
        /// The operation.
        op: &'static str,
        /// HTTP status.
        status: u16,
        /// What is wrong.
        cause: String,
    },
}

fn fields_suffix(errors: &[FieldError]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            if e.field.is_empty() {
                e.message.clone()
            } else {
                format!("{}: {}", e.field, e.message)
            }
        })
        .collect();
    format!(" ({})", parts.join("; "))
}

impl ClientError {
    /// The canonical failure category.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidKey(_) | Self::InvalidBaseUrl(_) => ErrorCode::Auth,
            Self::Refused(_) => ErrorCode::Validation,
            Self::Build(_) => ErrorCode::Internal,
            Self::Rejected { status, .. } => match status {
                401 | 403 => ErrorCode::Auth,
                404 => ErrorCode::NotFound,
                409 => ErrorCode::Conflict,
                400 | 422 => ErrorCode::RemoteRejected,
                _ => ErrorCode::RemoteRejected,
            },
            Self::Throttled { .. } => ErrorCode::RateLimited,
            Self::Server { .. } | Self::Connection { .. } | Self::Malformed { .. } => {
                ErrorCode::Unavailable
            }
            Self::Timeout { .. } => ErrorCode::Timeout,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        self.code().is_transient()
    }

    /// A 404 answer.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Rejected { status: 404, .. })
    }

    /// The failure to put into a `command.failed` reply.
    pub fn failure(&self) -> FailureInfo {
        let info = FailureInfo::new(self.code(), self.to_string());
        match self {
            Self::Rejected {
                status,
                title,
                errors,
                ..
            } => info.with_details(serde_json::json!({
                "http_status": status, "title": title, "errors": errors,
            })),
            _ => info,
        }
    }
}

/// Calls per operation and outcome, for the admin API.
#[derive(Debug, Default)]
pub struct ApiStats {
    inner: Mutex<StatsInner>,
}

#[derive(Debug, Default)]
struct StatsInner {
    calls: BTreeMap<(String, String), CallCount>,
    retries: u64,
    in_flight: u64,
    last_error: Option<String>,
}

#[derive(Debug, Default, Clone, Copy)]
struct CallCount {
    count: u64,
    total_ms: u64,
}

/// A snapshot of [`ApiStats`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiStatsSnapshot {
    /// Attempts per operation and outcome (HTTP status or `timeout`/`connection`).
    pub calls: Vec<CallStat>,
    /// Attempts that were retries.
    pub retries: u64,
    /// Calls in flight now.
    pub in_flight: u64,
    /// The last failed call's error.
    pub last_error: Option<String>,
}

/// Attempts of one operation with one outcome.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallStat {
    /// The operation (`products.put`).
    pub operation: String,
    /// HTTP status or error kind.
    pub status: String,
    /// Attempts.
    pub count: u64,
    /// Mean latency in milliseconds.
    pub mean_ms: u64,
}

impl ApiStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, StatsInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, op: &str, status: &str, elapsed: Duration) {
        let mut s = self.lock();
        let c = s
            .calls
            .entry((op.to_owned(), status.to_owned()))
            .or_default();
        c.count += 1;
        c.total_ms += u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    }

    /// The current figures.
    pub fn snapshot(&self) -> ApiStatsSnapshot {
        let s = self.lock();
        ApiStatsSnapshot {
            calls: s
                .calls
                .iter()
                .map(|((op, status), c)| CallStat {
                    operation: op.clone(),
                    status: status.clone(),
                    count: c.count,
                    mean_ms: c.total_ms / c.count.max(1),
                })
                .collect(),
            retries: s.retries,
            in_flight: s.in_flight,
            last_error: s.last_error.clone(),
        }
    }

    /// Attempts of `op` (all outcomes), for tests.
    pub fn attempts(&self, op: &str) -> u64 {
        self.lock()
            .calls
            .iter()
            .filter(|((o, _), _)| o == op)
            .map(|(_, c)| c.count)
            .sum()
    }
}

/// One page of a collection.
#[derive(Debug, Clone)]
pub struct Page {
    /// The records.
    pub items: Vec<Value>,
    /// Records in the whole collection (with the filters applied).
    pub total_items: u64,
}

/// The MailChimp client of one account. Cheap to clone; clones share the connection limit
/// and the statistics.
#[derive(Clone)]
pub struct MailchimpClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
    limit: Arc<KeyLimit>,
    settings: ClientSettings,
    stats: ApiStats,
}

impl fmt::Debug for MailchimpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailchimpClient")
            .field("base", &self.inner.base)
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

/// Whether an attempt may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idempotency {
    /// GET, PUT, PATCH (absolute values), DELETE.
    Idempotent,
    /// POST: repeated only when it provably had no effect.
    Once,
}

/// What one attempt gave.
enum Attempt {
    Done(Option<Value>),
    /// Try again after the backoff (or `retry_after`).
    Again(ClientError, Option<Duration>),
    Fail(ClientError),
}

impl MailchimpClient {
    /// A client for `key`, at `base_url` or the key's data center, with a connection limit
    /// of its own (in this process only: a connection test, a tool).
    pub fn new(
        key: ApiKey,
        base_url: Option<&str>,
        settings: ClientSettings,
    ) -> Result<Self, ClientError> {
        let limit = ConnectionSlots::local().key(&key.account_digest(), settings.concurrency);
        Self::with_limit(key, base_url, settings, limit)
    }

    /// A client sharing `limit` (the account's connection limit) with other clients of the
    /// same account, in this process and, for a shared limit, in the other replicas.
    pub fn with_limit(
        key: ApiKey,
        base_url: Option<&str>,
        settings: ClientSettings,
        limit: Arc<KeyLimit>,
    ) -> Result<Self, ClientError> {
        let base = match base_url {
            Some(url) => {
                let url = url.trim().trim_end_matches('/');
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ClientError::InvalidBaseUrl(
                        "must start with http:// or https://".into(),
                    ));
                }
                url.to_owned()
            }
            None => key.default_base_url(),
        };
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| ClientError::InvalidBaseUrl(format!("not a URL: {e}")))?;
        settings
            .egress
            .check_credentialed_url(&parsed)
            .map_err(ClientError::Refused)?;
        let http = settings
            .egress
            .client_builder()
            .use_rustls_tls()
            .https_only(base.starts_with("https://"))
            .timeout(settings.request_timeout)
            .connect_timeout(settings.connect_timeout)
            .pool_max_idle_per_host(settings.concurrency.max(1))
            .user_agent(concat!(
                "ferry-connector-mailchimp/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| ClientError::Build(e.without_url().to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                key,
                limit,
                settings,
                stats: ApiStats::default(),
            }),
        })
    }

    /// The base URL (`.../3.0`).
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The key's data center.
    pub fn data_center(&self) -> &str {
        self.inner.key.data_center()
    }

    /// Calls per operation and outcome.
    pub fn stats(&self) -> &ApiStats {
        &self.inner.stats
    }

    /// Calls the account allows at once (all replicas together).
    pub fn concurrency(&self) -> usize {
        self.inner.settings.concurrency
    }

    /// The account's connection limit (this replica's share of it: [`KeyLimit::share`]).
    pub fn limit(&self) -> &KeyLimit {
        &self.inner.limit
    }

    /// `GET /ping`: checks key and reachability.
    pub async fn ping(&self) -> Result<(), ClientError> {
        self.get("ping", "/ping", &[]).await.map(|_| ())
    }

    /// `GET /`: the account (name, id).
    pub async fn account(&self) -> Result<Value, ClientError> {
        self.get(
            "account.get",
            "/",
            &[("fields", "account_id,account_name".into())],
        )
        .await
    }

    /// GET a resource.
    pub async fn get(
        &self,
        op: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, ClientError> {
        self.send(op, Method::GET, path, query, None, Idempotency::Idempotent)
            .await
            .map(Option::unwrap_or_default)
    }

    /// GET a resource; `None` when MailChimp answers 404.
    pub async fn get_opt(
        &self,
        op: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<Value>, ClientError> {
        match self.get(op, path, query).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// PUT (upsert) a resource; retried safely.
    pub async fn put(
        &self,
        op: &'static str,
        path: &str,
        body: &Value,
    ) -> Result<Value, ClientError> {
        self.send(
            op,
            Method::PUT,
            path,
            &[],
            Some(body),
            Idempotency::Idempotent,
        )
        .await
        .map(Option::unwrap_or_default)
    }

    /// PATCH a resource with absolute values; retried safely.
    pub async fn patch(
        &self,
        op: &'static str,
        path: &str,
        body: &Value,
    ) -> Result<Value, ClientError> {
        self.send(
            op,
            Method::PATCH,
            path,
            &[],
            Some(body),
            Idempotency::Idempotent,
        )
        .await
        .map(Option::unwrap_or_default)
    }

    /// POST (create) once: repeated only after a 429, a bare 403 or a refused connection.
    /// Any other failure may have created the resource: look it up before posting again.
    pub async fn post_once(
        &self,
        op: &'static str,
        path: &str,
        body: &Value,
    ) -> Result<Value, ClientError> {
        self.send(op, Method::POST, path, &[], Some(body), Idempotency::Once)
            .await
            .map(Option::unwrap_or_default)
    }

    /// DELETE a resource (204); a 404 counts as done.
    pub async fn delete(&self, op: &'static str, path: &str) -> Result<(), ClientError> {
        match self
            .send(op, Method::DELETE, path, &[], None, Idempotency::Idempotent)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One page of a collection (`plural` names the array: `customers`, `members`, ...).
    pub async fn page(
        &self,
        op: &'static str,
        path: &str,
        plural: &str,
        query: &[(&str, String)],
        offset: u64,
        count: u32,
    ) -> Result<Page, ClientError> {
        let mut q: Vec<(&str, String)> = query.to_vec();
        q.push(("count", count.to_string()));
        q.push(("offset", offset.to_string()));
        let body = self.get(op, path, &q).await?;
        let items = match body.get(plural) {
            Some(Value::Array(items)) => items.clone(),
            _ => {
                return Err(ClientError::Malformed {
                    op,
                    status: 200,
                    cause: format!("the collection has no `{plural}` array"),
                });
            }
        };
        let total_items = body
            .get("total_items")
            .and_then(Value::as_u64)
            .unwrap_or(items.len() as u64);
        Ok(Page { items, total_items })
    }

    /// Every record of a collection, page by page (for small collections and tests).
    pub async fn all(
        &self,
        op: &'static str,
        path: &str,
        plural: &str,
        query: &[(&str, String)],
        count: u32,
    ) -> Result<Vec<Value>, ClientError> {
        let mut out = Vec::new();
        loop {
            let page = self
                .page(op, path, plural, query, out.len() as u64, count)
                .await?;
            let n = page.items.len();
            out.extend(page.items);
            if n == 0 || out.len() as u64 >= page.total_items {
                return Ok(out);
            }
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op, method = %method))]
    async fn send(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotency: Idempotency,
    ) -> Result<Option<Value>, ClientError> {
        // The base URL passed the egress guard when the client was built (both are fixed for
        // its life) and a path cannot change the host; the connector's resolver checks every
        // address connected to.
        let url = format!("{}{}", self.inner.base, path);
        let max = self.inner.settings.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let outcome = self
                .attempt(op, &method, &url, query, body, idempotency, attempt)
                .await;
            match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => {
                    self.note_error(&e);
                    return Err(e);
                }
                Attempt::Again(e, retry_after) => {
                    if attempt >= max {
                        self.note_error(&e);
                        return Err(e);
                    }
                    let delay = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    tracing::debug!(op, attempt, delay_ms = delay.as_millis() as u64, error = %e, "MailChimp call will be retried");
                    self.inner.stats.lock().retries += 1;
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    fn note_error(&self, e: &ClientError) {
        tracing::warn!(error = %e, "MailChimp call failed");
        self.inner.stats.lock().last_error = Some(e.to_string());
    }

    /// Full jitter: uniform in `0..=min(max, base * 2^(attempt-1))` (MailChimp sends no
    /// Retry-After, and the connections of a key are shared: the least synchronised retries).
    fn backoff(&self, attempt: u32) -> Duration {
        let s = &self.inner.settings;
        Backoff::new(s.retry_base, s.retry_max)
            .jitter(Jitter::Full)
            .delay(attempt)
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        op: &'static str,
        method: &Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotency: Idempotency,
        attempt: u32,
    ) -> Attempt {
        let Ok(_permit) = self.inner.limit.acquire().await else {
            return Attempt::Fail(ClientError::Build("the client is closed".into()));
        };
        self.inner.stats.lock().in_flight += 1;
        let started = Instant::now();
        let mut request = self
            .inner
            .http
            .request(method.clone(), url)
            .basic_auth("ferry", Some(self.inner.key.secret.expose()));
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let result = match request.send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = retry_after(&response);
                let bytes = read_capped(response, self.inner.settings.max_response_bytes).await;
                Ok((status, retry_after, bytes))
            }
            Err(e) => Err(e),
        };
        let elapsed = started.elapsed();
        self.inner.stats.lock().in_flight -= 1;
        let timeout = self.inner.settings.request_timeout;
        let (label, outcome) = match result {
            Err(e) => {
                let label = if e.is_timeout() {
                    "timeout"
                } else {
                    "connection"
                };
                (
                    label.to_owned(),
                    self.transport_error(op, e, idempotency, attempt, timeout),
                )
            }
            Ok((status, _, Err(BodyError::Transport(e)))) => (
                status.as_str().to_owned(),
                self.transport_error(op, e, idempotency, attempt, timeout),
            ),
            Ok((status, _, Err(too_large @ BodyError::TooLarge { .. }))) => (
                "too_large".to_owned(),
                Attempt::Fail(ClientError::Malformed {
                    op,
                    status: status.as_u16(),
                    cause: too_large.to_string(),
                }),
            ),
            Ok((status, retry_after, Ok(bytes))) => {
                let outcome = classify(op, status, retry_after, &bytes, idempotency, attempt);
                let label = match &outcome {
                    Attempt::Again(ClientError::Malformed { .. }, _)
                    | Attempt::Fail(ClientError::Malformed { .. }) => "malformed".to_owned(),
                    _ => status.as_str().to_owned(),
                };
                (label, outcome)
            }
        };
        metrics::global().api_call(SYSTEM, op, &label, elapsed);
        self.inner.stats.record(op, &label, elapsed);
        outcome
    }

    fn transport_error(
        &self,
        op: &'static str,
        e: reqwest::Error,
        idempotency: Idempotency,
        attempt: u32,
        timeout: Duration,
    ) -> Attempt {
        if e.is_timeout() {
            let err = ClientError::Timeout {
                op,
                timeout,
                attempts: attempt,
            };
            return match idempotency {
                Idempotency::Idempotent => Attempt::Again(err, None),
                Idempotency::Once => Attempt::Fail(err),
            };
        }
        let failure = transport_failure(&e);
        if failure == TransportFailure::Refused {
            // The name resolved to internal addresses only: not worth another attempt.
            let host = reqwest::Url::parse(&self.inner.base)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            return Attempt::Fail(ClientError::Refused(EgressError::Internal(host)));
        }
        let maybe_sent = !e.is_connect();
        let err = ClientError::Connection {
            op,
            failure,
            cause: describe(&e),
            attempts: attempt,
            maybe_sent,
        };
        if idempotency == Idempotency::Idempotent || !maybe_sent {
            Attempt::Again(err, None)
        } else {
            Attempt::Fail(err)
        }
    }
}

/// The error chain of a transport error, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    let kind = if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    if parts.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", parts.join(": "))
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let secs: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(120)))
}

/// Turns an answer into the attempt's outcome.
fn classify(
    op: &'static str,
    status: StatusCode,
    retry_after: Option<Duration>,
    bytes: &[u8],
    idempotency: Idempotency,
    attempt: u32,
) -> Attempt {
    let code = status.as_u16();
    if status.is_success() {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Attempt::Done(None);
        }
        return match serde_json::from_slice::<Value>(bytes) {
            Ok(v) if v.is_object() => Attempt::Done(Some(v)),
            Ok(_) => malformed(
                op,
                code,
                "the body is not a JSON object".into(),
                idempotency,
            ),
            Err(e) => malformed(op, code, format!("invalid JSON: {e}"), idempotency),
        };
    }
    let problem: Option<Value> = serde_json::from_slice(bytes).ok();
    let bare = problem.is_none();
    // Throttling happens before MailChimp processes anything: always safe to repeat.
    if code == 429 || (code == 403 && bare) {
        return Attempt::Again(
            ClientError::Throttled {
                op,
                status: code,
                attempts: attempt,
            },
            retry_after,
        );
    }
    let text = |k: &str| {
        scrub(
            problem
                .as_ref()
                .and_then(|p| p.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
    };
    // 408: the server gave up waiting for the request; nothing was processed.
    if status.is_server_error() || code == 408 {
        let err = ClientError::Server {
            op,
            status: code,
            detail: if bare {
                "no error body".into()
            } else {
                text("detail")
            },
            attempts: attempt,
        };
        return match idempotency {
            Idempotency::Idempotent => Attempt::Again(err, retry_after),
            Idempotency::Once => Attempt::Fail(err),
        };
    }
    let errors = problem
        .as_ref()
        .and_then(|p| p.get("errors"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| FieldError {
                    field: e
                        .get("field")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    message: scrub(e.get("message").and_then(Value::as_str).unwrap_or_default()),
                })
                .collect()
        })
        .unwrap_or_default();
    let title = text("title");
    Attempt::Fail(ClientError::Rejected {
        op,
        status: code,
        title: if title.is_empty() {
            status.canonical_reason().unwrap_or("error").to_owned()
        } else {
            title
        },
        detail: if bare {
            "no error body".into()
        } else {
            text("detail")
        },
        errors,
    })
}

/// MailChimp's error texts may quote an e-mail address ("x@y.nl is already a list member");
/// errors are logged and sent in replies, so every address in them is masked.
pub fn scrub(text: &str) -> String {
    if !text.contains('@') {
        return text.to_owned();
    }
    text.split(' ')
        .map(|word| {
            if !word.contains('@') {
                return word.to_owned();
            }
            let core = word.trim_matches(|c: char| !(c.is_alphanumeric() || c == '@'));
            if core.is_empty() {
                word.to_owned()
            } else {
                word.replace(core, &ferry_proto::mask_email(core))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn malformed(op: &'static str, status: u16, cause: String, idempotency: Idempotency) -> Attempt {
    let err = ClientError::Malformed { op, status, cause };
    match idempotency {
        // Reading again or repeating an upsert is harmless.
        Idempotency::Idempotent => Attempt::Again(err, None),
        // The resource was probably created: the caller looks it up.
        Idempotency::Once => Attempt::Fail(err),
    }
}

/// MailChimp's subscriber hash: MD5 of the lower-cased e-mail address, hex.
pub fn subscriber_hash(email: &str) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(email.trim().to_lowercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes one path segment (ids may contain anything MailChimp allows).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain http to exactly `address` (a local test server).
    fn sandbox_egress(address: &str) -> EgressGuard {
        EgressGuard::sandbox_at(address.parse().expect("address"))
    }

    /// Issue 19, findings 2 and 3: without an allow-list, the client refuses plain http and
    /// internal base URLs when it is built, before the key goes anywhere.
    #[test]
    fn base_urls_go_through_the_egress_guard() {
        let key = ApiKey::parse("0123456789abcdef0123456789abcdef-us1").expect("key");
        let build = |base: &str, egress: EgressGuard| {
            MailchimpClient::new(
                key.clone(),
                Some(base),
                ClientSettings {
                    egress,
                    ..ClientSettings::default()
                },
            )
        };
        for base in [
            "http://us1.api.mailchimp.com/3.0",
            "https://127.0.0.1:9110/3.0",
            "https://169.254.169.254/latest",
            "https://10.0.0.8/3.0",
            "https://localhost/3.0",
            "https://0x7f000001/3.0",
        ] {
            let refused = build(base, EgressGuard::default()).expect_err(base);
            assert!(
                matches!(refused, ClientError::Refused(_)),
                "{base}: {refused}"
            );
            assert_eq!(refused.code(), ErrorCode::Validation);
        }
        assert!(
            build(
                "http://127.0.0.1:9110/3.0",
                sandbox_egress("127.0.0.1:9110")
            )
            .is_ok()
        );
        assert!(
            build(
                "http://127.0.0.1:9111/3.0",
                sandbox_egress("127.0.0.1:9110")
            )
            .is_err()
        );
        assert!(build("https://us1.api.mailchimp.com/3.0", EgressGuard::default()).is_ok());
    }

    #[test]
    fn keys_parse_and_never_print() {
        let key = ApiKey::parse("0123456789abcdef0123456789abcdef-us19").expect("valid");
        assert_eq!(key.data_center(), "us19");
        assert_eq!(key.default_base_url(), "https://us19.api.mailchimp.com/3.0");
        assert_eq!(format!("{key:?}"), "***-us19");
        for bad in ["", "abc", "-us1", "abc-", "abc-US1", "abc-us 1"] {
            let err = ApiKey::parse(bad).expect_err(bad);
            assert!(!err.to_string().contains("abc"), "{err}");
        }
    }

    #[test]
    fn subscriber_hash_matches_mailchimp() {
        // The example of MailChimp's documentation.
        assert_eq!(
            subscriber_hash("Urist.McVankab@freddiesjokes.com"),
            "62eeb292278cc15f5817cb78f7790b08"
        );
    }

    #[test]
    fn classifies_answers() {
        let once = Idempotency::Once;
        let idem = Idempotency::Idempotent;
        assert!(matches!(
            classify("x", StatusCode::TOO_MANY_REQUESTS, None, b"", once, 1),
            Attempt::Again(ClientError::Throttled { .. }, None)
        ));
        assert!(matches!(
            classify("x", StatusCode::FORBIDDEN, None, b"", once, 1),
            Attempt::Again(ClientError::Throttled { status: 403, .. }, _)
        ));
        let denied = br#"{"title":"Forbidden","status":403,"detail":"no"}"#;
        assert!(matches!(
            classify("x", StatusCode::FORBIDDEN, None, denied, idem, 1),
            Attempt::Fail(ClientError::Rejected { status: 403, .. })
        ));
        assert!(matches!(
            classify("x", StatusCode::INTERNAL_SERVER_ERROR, None, b"", once, 1),
            Attempt::Fail(ClientError::Server { .. })
        ));
        assert!(matches!(
            classify("x", StatusCode::BAD_GATEWAY, None, b"", idem, 1),
            Attempt::Again(ClientError::Server { .. }, _)
        ));
        assert!(matches!(
            classify("x", StatusCode::OK, None, b"{\"a\":", idem, 1),
            Attempt::Again(ClientError::Malformed { .. }, _)
        ));
        assert!(matches!(
            classify("x", StatusCode::OK, None, b"{\"a\":", once, 1),
            Attempt::Fail(ClientError::Malformed { .. })
        ));
        let invalid = br#"{"title":"Invalid Resource","status":400,"detail":"d","errors":[{"field":"email_address","message":"bad"}]}"#;
        let Attempt::Fail(e) = classify(
            "customers.put",
            StatusCode::BAD_REQUEST,
            None,
            invalid,
            idem,
            1,
        ) else {
            panic!("expected a failure");
        };
        assert_eq!(e.code(), ErrorCode::RemoteRejected);
        assert!(e.to_string().contains("customers.put"), "{e}");
        assert!(e.to_string().contains("email_address: bad"), "{e}");
    }

    #[test]
    fn error_texts_never_carry_an_email_address() {
        let masked =
            scrub("A customer with the email address jan.jansen@example.nl already exists.");
        assert!(!masked.contains("jan.jansen@example.nl"), "{masked}");
        assert!(
            masked.starts_with("A customer with the email address "),
            "{masked}"
        );
        assert!(masked.ends_with(" already exists."), "{masked}");
        assert_eq!(scrub("no address here"), "no address here");
    }

    /// Issue 19, finding 4: a body beyond `max_response_bytes` fails the call unread, whether
    /// its length is announced or not.
    #[tokio::test]
    async fn a_response_body_beyond_the_limit_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let mut announced = true;
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let body = format!("{{\"health_status\":\"{}\"}}", "x".repeat(4096));
                let head = if announced {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                } else {
                    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned()
                };
                announced = !announced;
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            }
        });
        let key = ApiKey::parse("0123456789abcdef0123456789abcdef-us1").expect("key");
        let client = MailchimpClient::new(
            key,
            Some(&format!("http://127.0.0.1:{port}/3.0")),
            ClientSettings {
                max_attempts: 1,
                max_response_bytes: 1024,
                egress: sandbox_egress(&format!("127.0.0.1:{port}")),
                ..ClientSettings::default()
            },
        )
        .expect("client");
        for _ in 0..2 {
            let error = client.ping().await.expect_err("too large");
            assert!(error.to_string().contains("exceeds 1024 bytes"), "{error}");
        }
    }

    #[test]
    fn backoff_is_jittered_within_the_cap() {
        let key = ApiKey::parse("0123456789abcdef0123456789abcdef-us1").expect("key");
        let client = MailchimpClient::new(
            key,
            Some("http://127.0.0.1:9"),
            ClientSettings {
                retry_base: Duration::from_millis(100),
                retry_max: Duration::from_millis(700),
                egress: sandbox_egress("127.0.0.1:9"),
                ..ClientSettings::default()
            },
        )
        .expect("client");
        for attempt in 1..=10 {
            let cap = (100u64 << (attempt - 1)).min(700);
            for _ in 0..50 {
                assert!(client.backoff(attempt) <= Duration::from_millis(cap));
            }
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|_| client.backoff(5)).collect();
        assert!(spread.len() > 5, "no jitter");
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("abc-1_2.3"), "abc-1_2.3");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
