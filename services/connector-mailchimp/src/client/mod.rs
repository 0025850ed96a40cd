//! The MailChimp Marketing API v3 client.
//!
//! | file | concern |
//! | --- | --- |
//! | here | [`MailchimpClient`]: the verbs (GET, PUT, PATCH, POST once, DELETE, pages), typed bodies in and JSON out |
//! | `transport.rs` | one call: HTTP, the connection limit, retries with backoff, classifying answers |
//! | `error.rs` | [`ClientError`]: what failed, for which operation, and why |
//! | `key.rs` | [`ApiKey`] (data center, never printed) and [`ClientSettings`] |
//! | `stats.rs` | [`ApiStats`]: calls per operation and outcome, for the admin API |
//!
//! The bodies written and read are the wire types of `ferry-mailchimp-wire`.
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
//! - **Egress**: the HTTP client is built by the deployment's
//!   [`EgressGuard`](ferry_platform::egress::EgressGuard)
//!   ([`ClientSettings::egress`]): it follows no redirect, refuses internal addresses after
//!   resolution (at connect time) unless `[egress] allow` names them, and the base URL is
//!   checked once, when the client is built (`https://` only; plain `http://` to loopback or an allowed
//!   internal address in sandbox mode only).
//! - **Errors** are typed ([`ClientError`]) and name the operation and the cause; they never
//!   contain the key, URLs with query strings, or e-mail addresses.
//! - **Metrics**: every attempt counts in `ferry_api_calls_total{system="mailchimp"}` and in
//!   the integration's [`ApiStats`] (admin API).

mod error;
mod key;
mod stats;
mod transport;

use std::fmt;
use std::sync::Arc;

use ferry_platform::connector::slots::{ConnectionSlots, KeyLimit};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

pub use error::{ClientError, FieldError, scrub};
pub use key::{ApiKey, ClientSettings};
pub use stats::{ApiStats, ApiStatsSnapshot, CallStat};
use transport::Idempotency;

/// The `system` label of metrics.
pub const SYSTEM: &str = "mailchimp";

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
        body: &(impl Serialize + ?Sized),
    ) -> Result<Value, ClientError> {
        self.write(op, Method::PUT, path, body, Idempotency::Idempotent)
            .await
    }

    /// PATCH a resource with absolute values; retried safely.
    pub async fn patch(
        &self,
        op: &'static str,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<Value, ClientError> {
        self.write(op, Method::PATCH, path, body, Idempotency::Idempotent)
            .await
    }

    /// POST (create) once: repeated only after a 429, a bare 403 or a refused connection.
    /// Any other failure may have created the resource: look it up before posting again.
    pub async fn post_once(
        &self,
        op: &'static str,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<Value, ClientError> {
        self.write(op, Method::POST, path, body, Idempotency::Once)
            .await
    }

    /// Sends `body` as JSON; a value that has no JSON form (an invalid amount) fails the
    /// call before anything is sent.
    async fn write(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: &(impl Serialize + ?Sized),
        idempotency: Idempotency,
    ) -> Result<Value, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Encode {
            op,
            cause: e.to_string(),
        })?;
        self.send(op, method, path, &[], Some(&body), idempotency)
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
pub(crate) mod tests {
    use super::*;
    use ferry_platform::egress::EgressGuard;
    use ferry_proto::messages::ErrorCode;

    /// Plain http to exactly `address` (a local test server).
    pub(crate) fn sandbox_egress(address: &str) -> EgressGuard {
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
    fn subscriber_hash_matches_mailchimp() {
        // The example of MailChimp's documentation.
        assert_eq!(
            subscriber_hash("Urist.McVankab@freddiesjokes.com"),
            "62eeb292278cc15f5817cb78f7790b08"
        );
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("abc-1_2.3"), "abc-1_2.3");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
