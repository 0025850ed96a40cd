//! The transport under the MplusQAPI client: one [`MplusClient`] per installation (endpoint +
//! `ident`/`secret`), sending one [`Operation`] at a time and classifying what went wrong.
//!
//! - Credentials travel as query parameters (`?ident=&secret=`), as MplusQAPI wants; the URL
//!   is therefore never logged, and transport errors are stripped of it.
//! - Every call has a timeout. Transport failures, HTTP 5xx without a SOAP fault, `Server`
//!   faults and unreadable responses are retried with exponential backoff and jitter, but only
//!   for calls that are safe to repeat ([`Retry::Safe`]: reads, absolute writes by number,
//!   `createOrderV3` with its idempotency key). Creations without such a key are tried once;
//!   their callers look the record up again before a new attempt.
//! - Failures are [`MplusError`]s naming the operation; business results other than OK
//!   (`CREATE-ORDER-RESULT-FAILED`, ...) are [`MplusError::Rejected`] with the `errorMessage`.
//! - Every HTTP attempt is counted in `ferry_api_calls_total{system="mpluskassa"}`.
//! - **Egress**: the HTTP client is built by the deployment's [`EgressGuard`]
//!   ([`ClientSettings::egress`]): no redirect is followed, internal addresses are refused after
//!   resolution (at connect time) unless `[egress] allow` names them, and the endpoint is
//!   checked once, when the client is built (`https://` only; plain `http://`
//!   to loopback or an allowed internal address in sandbox mode only: the credentials travel
//!   in its query string).
//! - A response is checked against [`Limits`] (size, nesting depth) before it is read: a
//!   hostile or broken endpoint cannot make the reader allocate without bound.

use std::fmt;
use std::time::{Duration, Instant};

use ferry_mplusqapi::envelope;
use ferry_mplusqapi::{Fault, Limits, Operation, ResponseError, WireError};
use ferry_platform::backoff::Backoff;
use ferry_platform::config::Secret;
use ferry_platform::egress::{EgressError, EgressGuard, TransportFailure, transport_failure};
use ferry_platform::metrics;
use ferry_proto::messages::ErrorCode;
use serde::de::DeserializeOwned;

use super::Listed;
use crate::soap::Element;

/// Where an installation's API is and how to sign in.
#[derive(Clone)]
pub struct Connection {
    /// `https://api.mpluskassa.nl:<port>/` (no query string).
    pub endpoint: String,
    /// The `ident` credential.
    pub ident: String,
    /// The `secret` credential.
    pub secret: Secret,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("ident", &self.ident)
            .field("secret", &"***")
            .finish()
    }
}

/// Timeouts, retries, limits and destinations of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Whole call (connect, send, wait, read).
    pub timeout: Duration,
    /// Connecting.
    pub connect_timeout: Duration,
    /// Attempts of a retry-safe call (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Largest and deepest response accepted.
    pub limits: Limits,
    /// Where calls may go (the default: public `https://` endpoints only).
    pub egress: EgressGuard,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            max_attempts: 4,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            limits: Limits::default(),
            egress: EgressGuard::default(),
        }
    }
}

/// Whether a call may be sent again after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Repeating has no second effect.
    Safe,
    /// Repeating could create a second record: one attempt only.
    Never,
}

/// How a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MplusError {
    /// No usable HTTP answer: connect failure, timeout, dropped connection.
    #[error("MplusKASSA {operation}: {kind} ({message})")]
    Transport {
        /// The operation.
        operation: &'static str,
        /// What happened.
        kind: TransportKind,
        /// Details (never the URL: it carries the credentials).
        message: String,
    },
    /// An HTTP error status without a SOAP fault.
    #[error("MplusKASSA {operation}: HTTP {status}")]
    Http {
        /// The operation.
        operation: &'static str,
        /// The status.
        status: u16,
    },
    /// A SOAP fault.
    #[error("MplusKASSA {operation}: SOAP fault {} ({})", .fault.code, .fault.message)]
    Fault {
        /// The operation.
        operation: &'static str,
        /// The fault.
        fault: Fault,
    },
    /// The response could not be read.
    #[error("MplusKASSA {operation}: unreadable response: {message}")]
    Malformed {
        /// The operation.
        operation: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The installation refused the request (a result other than OK).
    #[error("MplusKASSA {operation} refused: {result}{}", if .message.is_empty() { String::new() } else { format!(": {}", .message) })]
    Rejected {
        /// The operation.
        operation: &'static str,
        /// The result enum value (`CREATE-ORDER-RESULT-FAILED`).
        result: String,
        /// The `errorMessage`.
        message: String,
    },
    /// The request cannot be written (a value out of range).
    #[error("MplusKASSA {operation}: {message}")]
    Invalid {
        /// The operation.
        operation: &'static str,
        /// Why.
        message: String,
    },
}

/// Kinds of transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection could not be made.
    Connect,
    /// No complete answer in time.
    Timeout,
    /// The connection broke (closed without an answer, reset).
    Dropped,
    /// The egress guard refused the destination (internal, or plain http outside the sandbox
    /// mode); nothing was sent.
    Refused,
    /// The TLS handshake failed.
    Tls,
}

impl From<TransportFailure> for TransportKind {
    fn from(failure: TransportFailure) -> Self {
        match failure {
            TransportFailure::Refused => Self::Refused,
            TransportFailure::Tls => Self::Tls,
            TransportFailure::Timeout => Self::Timeout,
            TransportFailure::Connect => Self::Connect,
            TransportFailure::Dropped => Self::Dropped,
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "cannot connect",
            Self::Timeout => "timed out",
            Self::Dropped => "connection dropped",
            Self::Refused => "destination refused",
            Self::Tls => "TLS handshake failed",
        })
    }
}

impl MplusError {
    /// The operation that failed.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Transport { operation, .. }
            | Self::Http { operation, .. }
            | Self::Fault { operation, .. }
            | Self::Malformed { operation, .. }
            | Self::Rejected { operation, .. }
            | Self::Invalid { operation, .. } => operation,
        }
    }

    /// The canonical failure category.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Transport {
                kind: TransportKind::Timeout,
                ..
            } => ErrorCode::Timeout,
            // A configuration matter: trying again changes nothing.
            Self::Transport {
                kind: TransportKind::Refused,
                ..
            } => ErrorCode::Validation,
            Self::Transport { .. } | Self::Malformed { .. } => ErrorCode::Unavailable,
            Self::Http { status: 429, .. } => ErrorCode::RateLimited,
            // 408: the server gave up waiting for our request (a loaded or slow link).
            Self::Http { status: 408, .. } => ErrorCode::Timeout,
            Self::Http { status, .. } if *status >= 500 => ErrorCode::Unavailable,
            Self::Http {
                status: 401 | 403, ..
            } => ErrorCode::Auth,
            Self::Http { .. } => ErrorCode::RemoteRejected,
            Self::Fault { fault, .. } if fault.is_auth() => ErrorCode::Auth,
            Self::Fault { fault, .. } if fault.is_client() => ErrorCode::RemoteRejected,
            Self::Fault { .. } => ErrorCode::Unavailable,
            Self::Rejected { .. } => ErrorCode::RemoteRejected,
            Self::Invalid { .. } => ErrorCode::Validation,
        }
    }

    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        self.code().is_transient()
    }

    fn metric_status(&self) -> String {
        match self {
            Self::Transport { kind, .. } => match kind {
                TransportKind::Connect => "connect",
                TransportKind::Timeout => "timeout",
                TransportKind::Dropped => "dropped",
                TransportKind::Refused => "refused",
                TransportKind::Tls => "tls",
            }
            .to_owned(),
            Self::Http { status, .. } => status.to_string(),
            Self::Fault { .. } => "fault".to_owned(),
            Self::Malformed { .. } => "malformed".to_owned(),
            Self::Rejected { .. } => "rejected".to_owned(),
            Self::Invalid { .. } => "invalid".to_owned(),
        }
    }
}

/// A client of one installation.
#[derive(Clone)]
pub struct MplusClient {
    http: reqwest::Client,
    /// Endpoint with the credentials in the query: never log it.
    url: reqwest::Url,
    endpoint: String,
    settings: ClientSettings,
}

impl fmt::Debug for MplusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MplusClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not a usable http(s) URL.
    #[error("invalid MplusKASSA endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The endpoint as configured.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
    /// The egress guard refused the endpoint.
    #[error("MplusKASSA endpoint refused: {0}")]
    Refused(EgressError),
}

impl MplusClient {
    /// A client of `connection`.
    pub fn new(connection: &Connection, settings: ClientSettings) -> Result<Self, ClientError> {
        let mut url =
            reqwest::Url::parse(&connection.endpoint).map_err(|e| ClientError::Endpoint {
                endpoint: connection.endpoint.clone(),
                reason: e.to_string(),
            })?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(ClientError::Endpoint {
                endpoint: connection.endpoint.clone(),
                reason: "must be an http(s) URL without a query string".into(),
            });
        }
        settings
            .egress
            .check_credentialed_url(&url)
            .map_err(ClientError::Refused)?;
        url.query_pairs_mut()
            .append_pair("ident", &connection.ident)
            .append_pair("secret", connection.secret.expose());
        let http = settings
            .egress
            .client_builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError::Http(e.without_url().to_string()))?;
        Ok(Self {
            http,
            url,
            endpoint: connection.endpoint.clone(),
            settings,
        })
    }

    /// The endpoint (without credentials).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends `op` and returns its response element, retrying transient failures when `retry`
    /// allows.
    pub async fn call<O: Operation>(&self, op: &O, retry: Retry) -> Result<Response, MplusError> {
        let operation = O::NAME;
        let envelope = envelope::request(O::NAME, op).map_err(|e| MplusError::Invalid {
            operation,
            message: e.to_string(),
        })?;
        let attempts = match retry {
            Retry::Safe => self.settings.max_attempts.max(1),
            Retry::Never => 1,
        };
        let mut attempt = 1;
        loop {
            match self.attempt(operation, O::RESPONSE, &envelope).await {
                Ok(response) => return Ok(response),
                Err(error) if error.is_transient() && attempt < attempts => {
                    let delay = self.backoff(attempt);
                    tracing::debug!(operation, attempt, error = %error, delay_ms = delay.as_millis() as u64, "MplusKASSA call failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Equal jitter: between half and all of the exponential delay.
    fn backoff(&self, attempt: u32) -> Duration {
        Backoff::new(self.settings.backoff_base, self.settings.backoff_max).delay(attempt)
    }

    async fn attempt(
        &self,
        operation: &'static str,
        expected: &'static str,
        envelope: &str,
    ) -> Result<Response, MplusError> {
        let started = Instant::now();
        let result = self.exchange(operation, expected, envelope).await;
        let status = match &result {
            Ok(_) => "200".to_owned(),
            Err(e) => e.metric_status(),
        };
        metrics::global().api_call("mpluskassa", operation, &status, started.elapsed());
        result
    }

    async fn exchange(
        &self,
        operation: &'static str,
        expected: &'static str,
        envelope: &str,
    ) -> Result<Response, MplusError> {
        let transport = |e: reqwest::Error| MplusError::Transport {
            operation,
            kind: transport_failure(&e).into(),
            message: e.without_url().to_string(),
        };
        // The endpoint passed the egress guard when the transport was built (both are fixed
        // for its life); the resolver checks every address connected to.
        let response = self
            .http
            .post(self.url.clone())
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", operation)
            .body(envelope.to_owned())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        // Read no more than the limit: a longer body (announced or streamed) is refused
        // before it fills the memory.
        let bytes = ferry_platform::egress::read_capped(response, self.settings.limits.max_bytes)
            .await
            .map_err(|e| match e {
                ferry_platform::egress::BodyError::TooLarge { limit } => MplusError::Malformed {
                    operation,
                    message: format!("the response body is larger than the {limit} bytes accepted"),
                },
                ferry_platform::egress::BodyError::Transport(e) => transport(e),
            })?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match envelope::open(&text, expected, &self.settings.limits) {
            Ok(body) if status.is_success() => {
                let start = body.xml.as_ptr() as usize - text.as_ptr() as usize;
                let end = start + body.xml.len();
                Ok(Response {
                    operation,
                    text,
                    body: start..end,
                })
            }
            Ok(_) => Err(MplusError::Http {
                operation,
                status: status.as_u16(),
            }),
            Err(ResponseError::Fault(fault)) => Err(MplusError::Fault { operation, fault }),
            Err(_) if !status.is_success() => Err(MplusError::Http {
                operation,
                status: status.as_u16(),
            }),
            Err(other) => Err(MplusError::Malformed {
                operation,
                message: other.to_string(),
            }),
        }
    }
}

/// A response: its text and where the body element is in it.
#[derive(Debug)]
pub struct Response {
    operation: &'static str,
    text: String,
    body: std::ops::Range<usize>,
}

impl Response {
    /// The body element's XML.
    fn xml(&self) -> &str {
        self.text.get(self.body.clone()).unwrap_or_default()
    }

    /// The whole body element as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, MplusError> {
        envelope::decode(self.xml()).map_err(malformed(self.operation))
    }

    /// The records of a list answer (`item` elements inside `list`, or right inside the body
    /// element when `list` is `None`), each read on its own with its element.
    pub fn items<T: DeserializeOwned>(&self, list: Option<&str>, item: &str) -> Vec<Listed<T>> {
        envelope::items(self.xml(), list, item)
            .into_iter()
            .map(|i| Listed {
                element: Element::parse(i.xml),
                record: i.decode(),
            })
            .collect()
    }
}

/// A wire error as [`MplusError::Malformed`] of `operation`.
pub fn malformed(operation: &'static str) -> impl Fn(WireError) -> MplusError {
    move |e| MplusError::Malformed {
        operation,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_operation_and_classify() {
        let e = MplusError::Rejected {
            operation: "createOrderV3",
            result: "CREATE-ORDER-RESULT-FAILED".into(),
            message: "Article 9 not found.".into(),
        };
        assert_eq!(
            e.to_string(),
            "MplusKASSA createOrderV3 refused: CREATE-ORDER-RESULT-FAILED: Article 9 not found."
        );
        assert!(!e.is_transient());
        let t = MplusError::Transport {
            operation: "getProducts",
            kind: TransportKind::Timeout,
            message: "operation timed out".into(),
        };
        assert_eq!(t.code(), ErrorCode::Timeout);
        assert!(t.is_transient());
        let auth = MplusError::Fault {
            operation: "getApiVersion",
            fault: Fault {
                code: "SOAP-ENV:Client".into(),
                message: "Authentication failed".into(),
            },
        };
        assert_eq!(auth.code(), ErrorCode::Auth);
        assert!(
            MplusError::Http {
                operation: "x",
                status: 503
            }
            .is_transient()
        );
        // A request timeout from the server is retried like a timeout of ours.
        let timeout = MplusError::Http {
            operation: "findOrder",
            status: 408,
        };
        assert_eq!(timeout.code(), ErrorCode::Timeout);
        assert!(timeout.is_transient());
        assert!(
            !MplusError::Http {
                operation: "x",
                status: 400
            }
            .is_transient()
        );
    }

    /// Plain http to exactly `address` (a local test server).
    fn sandbox_egress(address: &str) -> EgressGuard {
        EgressGuard::sandbox_at(address.parse().expect("address"))
    }

    /// Issue 19, findings 2 and 3: without an allow-list, the client refuses plain http and
    /// internal endpoints when it is built, before the secret goes anywhere.
    #[test]
    fn endpoints_go_through_the_egress_guard() {
        let build = |endpoint: &str, egress: EgressGuard| {
            MplusClient::new(
                &Connection {
                    endpoint: endpoint.into(),
                    ident: "shop".into(),
                    secret: Secret::new("hunter2"),
                },
                ClientSettings {
                    egress,
                    ..ClientSettings::default()
                },
            )
        };
        for endpoint in [
            "http://api.mpluskassa.nl:34567/",
            "https://127.0.0.1:34567/",
            "https://169.254.169.254/",
            "https://10.0.0.8:34567/",
            "https://kubernetes.default.svc/",
        ] {
            let refused = build(endpoint, EgressGuard::default()).expect_err(endpoint);
            assert!(
                matches!(refused, ClientError::Refused(_)),
                "{endpoint}: {refused}"
            );
            assert!(!refused.to_string().contains("hunter2"));
        }
        assert!(build("http://127.0.0.1:9111/", sandbox_egress("127.0.0.1:9111")).is_ok());
        assert!(build("http://127.0.0.1:9112/", sandbox_egress("127.0.0.1:9111")).is_err());
        assert!(build("https://api.mpluskassa.nl:34567/", EgressGuard::default()).is_ok());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let conn = Connection {
            endpoint: "http://127.0.0.1:1/".into(),
            ident: "shop".into(),
            secret: Secret::new("hunter2"),
        };
        let settings = ClientSettings {
            egress: sandbox_egress("127.0.0.1:1"),
            ..ClientSettings::default()
        };
        let client = MplusClient::new(&conn, settings.clone()).expect("client");
        assert!(!format!("{conn:?}").contains("hunter2"));
        assert!(!format!("{client:?}").contains("hunter2"));
        assert!(
            MplusClient::new(
                &Connection {
                    endpoint: "ftp://x/".into(),
                    ..conn
                },
                settings
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn transport_errors_never_carry_the_url() {
        let conn = Connection {
            endpoint: "http://127.0.0.1:9/".into(),
            ident: "shop".into(),
            secret: Secret::new("hunter2"),
        };
        let settings = ClientSettings {
            max_attempts: 1,
            egress: sandbox_egress("127.0.0.1:9"),
            ..ClientSettings::default()
        };
        let client = MplusClient::new(&conn, settings).expect("client");
        let err = client
            .api_version()
            .await
            .expect_err("nothing listens on port 9");
        assert!(err.is_transient());
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"));
    }
}
