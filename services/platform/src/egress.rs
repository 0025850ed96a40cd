//! The egress guard: outgoing HTTP to addresses someone else chose (an API endpoint saved by an
//! operator, a connection test, an alert webhook) must not reach inside the deployment.
//!
//! [`EgressGuard::client_builder`] gives a `reqwest` client builder that
//! - resolves host names itself and refuses loopback, private, link-local (169.254.169.254),
//!   carrier-grade NAT, multicast, unspecified and other internal addresses **at connect time**
//!   (the addresses actually connected to are the ones checked, so DNS rebinding does not pass);
//! - follows no redirect.
//!
//! Addresses written as IP literals never reach a resolver: [`EgressGuard::check_url`] refuses
//! internal literals and internal host names (`localhost`, `*.svc`, `*.cluster.local`,
//! `*.internal`); call it on every URL a client is built for. The configuration's allow-list
//! ([`EgressConfig::allow`]: CIDR blocks, exact `ip:port` addresses or exact host names) names
//! the exceptions, e.g. the sandbox on loopback in tests and demos.
//!
//! Requests carrying credentials (the API clients, the connection tests) also check the
//! scheme with [`EgressGuard::check_credentialed_url`]: `https://` only, except plain
//! `http://` to loopback or to an allowed internal destination when the sandbox mode
//! ([`EgressConfig::sandbox`]) is explicitly on. [`transport_failure`] tells what a failed
//! request ran into (refused destination, TLS, timeout, ...) without its error texts.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::Deserialize;

/// Where outgoing HTTP may go besides the public internet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// Internal destinations allowed anyway: CIDR blocks (`127.0.0.1/32`, `10.1.0.0/16`),
    /// exact addresses with their port (`127.0.0.1:9110`: that port only, for IP literals in
    /// URLs) or exact host names (`sandbox.ferry.svc`).
    pub allow: Vec<String>,
    /// Sandbox mode (off by default): credentials may travel over plain `http://` to loopback
    /// and to the internal destinations `allow` names (the sandboxes of tests, demos and the
    /// development deployments). Off, every request carrying credentials must use `https://`.
    /// Requests to public destinations must use `https://` either way.
    pub sandbox: bool,
}

/// Why a destination was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EgressError {
    /// An allow-list entry that is neither a CIDR block nor a host name.
    #[error("egress.allow: {0:?} is neither a CIDR block nor a host name")]
    BadAllowEntry(String),
    /// The URL cannot be parsed or has no host.
    #[error("the URL has no host")]
    NoHost,
    /// The destination is internal and not allowed.
    #[error("{0} is an internal address; outgoing requests may not go there (egress.allow)")]
    Internal(String),
    /// The scheme cannot carry credentials to this destination.
    #[error(
        "{0}: only https:// may carry credentials (plain http:// reaches loopback and allowed internal destinations in sandbox mode only: egress.sandbox)"
    )]
    Insecure(String),
}

/// The guard built from an [`EgressConfig`]. The default refuses every internal destination
/// and plain `http://` for credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressGuard {
    nets: Vec<IpNet>,
    sockets: Vec<SocketAddr>,
    hosts: Vec<String>,
    sandbox: bool,
}

impl EgressGuard {
    /// Parses the allow-list.
    pub fn new(config: &EgressConfig) -> Result<Self, EgressError> {
        let mut guard = Self {
            sandbox: config.sandbox,
            ..Self::default()
        };
        for entry in &config.allow {
            let entry = entry.trim();
            if let Ok(net) = entry.parse::<IpNet>() {
                guard.nets.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                guard.nets.push(IpNet::from(ip));
            } else if let Ok(socket) = entry.parse::<SocketAddr>() {
                guard.sockets.push(socket);
            } else if !entry.is_empty()
                && entry
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                guard.hosts.push(entry.to_ascii_lowercase());
            } else {
                return Err(EgressError::BadAllowEntry(entry.to_owned()));
            }
        }
        Ok(guard)
    }

    /// Whether a connection to `ip` (on any port) is allowed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether the sandbox mode is on.
    pub fn sandbox(&self) -> bool {
        self.sandbox
    }

    /// Allows one more internal address with its port (the embedded sandboxes, bound at
    /// start) and turns the sandbox mode on.
    pub fn allow_sandbox(&mut self, address: SocketAddr) {
        self.sockets.push(address);
        self.sandbox = true;
    }

    /// A guard allowing exactly `address` (a sandbox, a test server) in sandbox mode, and
    /// public `https://` destinations.
    pub fn sandbox_at(address: SocketAddr) -> Self {
        let mut guard = Self::default();
        guard.allow_sandbox(address);
        guard
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Checks a URL's host before a request: internal IP literals and internal host names are
    /// refused unless allowed. Names that resolve are checked again at connect time.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), EgressError> {
        let raw = url.host_str().ok_or(EgressError::NoHost)?;
        let literal = raw.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let port = url.port_or_known_default().unwrap_or(0);
            if self.sockets.contains(&SocketAddr::new(ip, port)) {
                return Ok(());
            }
            return self.check_ip(ip);
        }
        let host = raw.trim_end_matches('.').to_ascii_lowercase();
        if self.host_allowed(&host) {
            return Ok(());
        }
        if is_internal_name(&host) {
            return Err(EgressError::Internal(host));
        }
        Ok(())
    }

    /// Checks a URL that carries credentials (an API key, a secret): [`Self::check_url`], and
    /// the scheme must be `https`, or, in sandbox mode only, `http` to a loopback or internal
    /// destination (which `check_url` lets through only when the allow-list names it).
    pub fn check_credentialed_url(&self, url: &reqwest::Url) -> Result<(), EgressError> {
        let raw = url.host_str().ok_or(EgressError::NoHost)?;
        match url.scheme() {
            "https" => {}
            "http" if self.sandbox => {
                let literal = raw.trim_start_matches('[').trim_end_matches(']');
                let host = raw.trim_end_matches('.').to_ascii_lowercase();
                let internal = match literal.parse::<IpAddr>() {
                    Ok(ip) => is_internal(ip),
                    Err(_) => is_internal_name(&host) || self.host_allowed(&host),
                };
                if !internal {
                    return Err(EgressError::Insecure(format!("http://{host}")));
                }
            }
            other => return Err(EgressError::Insecure(format!("{other}://{raw}"))),
        }
        self.check_url(url)
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), EgressError> {
        if self.permits(ip) {
            Ok(())
        } else {
            Err(EgressError::Internal(ip.to_string()))
        }
    }

    /// A client builder that resolves through this guard and follows no redirect.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver {
                guard: self.clone(),
            }))
    }
}

/// What a failed request ran into, in words that carry no remote text, URL or internal error
/// message (for connection tests and failure categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// The egress guard refused the destination (at connect time, after resolution).
    Refused,
    /// The TLS handshake failed (certificate, protocol, not a TLS server).
    Tls,
    /// No answer in time.
    Timeout,
    /// No connection (refused, unreachable, unknown host).
    Connect,
    /// The connection broke before a complete answer.
    Dropped,
}

impl TransportFailure {
    /// A short explanation.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Refused => "the destination is an internal address (egress.allow)",
            Self::Tls => "the TLS handshake failed",
            Self::Timeout => "no answer in time",
            Self::Connect => "cannot connect",
            Self::Dropped => "the connection broke off",
        }
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What a connection test ran into, as the admin API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub enum TestFailureCode {
    /// The destination is internal and not allowed (`egress.allow`).
    #[serde(rename = "refused_destination")]
    RefusedDestination,
    /// Plain `http://` where credentials need `https://` (`egress.sandbox`).
    #[serde(rename = "insecure_scheme")]
    InsecureScheme,
    /// The credentials or the URL given are malformed.
    #[serde(rename = "invalid_input")]
    InvalidInput,
    /// The TLS handshake failed.
    #[serde(rename = "tls")]
    Tls,
    /// No answer in time.
    #[serde(rename = "timeout")]
    Timeout,
    /// No connection could be made.
    #[serde(rename = "connect")]
    Connect,
    /// The connection broke off.
    #[serde(rename = "dropped")]
    Dropped,
    /// The server answered with a redirect (never followed).
    #[serde(rename = "http_3xx")]
    Redirect,
    /// The server refused the credentials (HTTP 401/403, an authentication fault).
    #[serde(rename = "auth_refused")]
    AuthRefused,
    /// The server asked to slow down (HTTP 429).
    #[serde(rename = "rate_limited")]
    RateLimited,
    /// Another HTTP 4xx answer.
    #[serde(rename = "http_4xx")]
    ClientError,
    /// An HTTP 5xx answer.
    #[serde(rename = "http_5xx")]
    ServerError,
    /// The answer is not what the API answers.
    #[serde(rename = "unexpected_answer")]
    UnexpectedAnswer,
    /// A failure inside Ferry.
    #[serde(rename = "internal")]
    Internal,
}

/// Why a connection test failed: a code and an explanation written by Ferry, never the
/// remote's body, a URL with credentials or an internal error text (an endpoint someone
/// types must not become a probe of what answers inside the deployment, and how).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TestFailure {
    /// What failed.
    pub code: TestFailureCode,
    /// Explanation.
    pub message: String,
}

impl TestFailure {
    /// A failure with its explanation.
    pub fn new(code: TestFailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The egress guard refused the URL before any connection.
    pub fn refused(error: &EgressError) -> Self {
        let code = match error {
            EgressError::Internal(_) => TestFailureCode::RefusedDestination,
            EgressError::Insecure(_) => TestFailureCode::InsecureScheme,
            EgressError::NoHost | EgressError::BadAllowEntry(_) => TestFailureCode::InvalidInput,
        };
        Self::new(code, error.to_string())
    }

    /// No usable answer.
    pub fn transport(failure: TransportFailure) -> Self {
        let code = match failure {
            TransportFailure::Refused => TestFailureCode::RefusedDestination,
            TransportFailure::Tls => TestFailureCode::Tls,
            TransportFailure::Timeout => TestFailureCode::Timeout,
            TransportFailure::Connect => TestFailureCode::Connect,
            TransportFailure::Dropped => TestFailureCode::Dropped,
        };
        Self::new(code, failure.describe())
    }

    /// An HTTP error status, by its class.
    pub fn status(status: u16) -> Self {
        match status {
            401 | 403 => Self::new(
                TestFailureCode::AuthRefused,
                format!("the credentials were refused (HTTP {status})"),
            ),
            429 => Self::new(
                TestFailureCode::RateLimited,
                "the server asked to slow down (HTTP 429)",
            ),
            300..=399 => Self::new(
                TestFailureCode::Redirect,
                format!(
                    "the server answered with a redirect (HTTP {status}); redirects are not followed: enter the final URL"
                ),
            ),
            400..=499 => Self::new(
                TestFailureCode::ClientError,
                format!("the server refused the request (HTTP {status})"),
            ),
            500..=599 => Self::new(
                TestFailureCode::ServerError,
                format!("the server failed (HTTP {status})"),
            ),
            _ => Self::new(
                TestFailureCode::UnexpectedAnswer,
                format!("unexpected answer (HTTP {status})"),
            ),
        }
    }
}

/// Classifies a `reqwest` error by walking its causes.
pub fn transport_failure(error: &reqwest::Error) -> TransportFailure {
    if let Some(found) = std::error::Error::source(error).and_then(named_cause) {
        return found;
    }
    if error.is_timeout() {
        TransportFailure::Timeout
    } else if error.is_connect() {
        TransportFailure::Connect
    } else {
        TransportFailure::Dropped
    }
}

/// A refusal by the guard or a TLS error somewhere in the chain of `cause`.
fn named_cause(cause: &(dyn std::error::Error + 'static)) -> Option<TransportFailure> {
    if cause.downcast_ref::<EgressError>().is_some() {
        return Some(TransportFailure::Refused);
    }
    if cause.downcast_ref::<rustls::Error>().is_some() {
        return Some(TransportFailure::Tls);
    }
    // An I/O error's `source` skips the error it wraps (rustls' errors travel wrapped, even
    // twice): look inside.
    if let Some(found) = cause
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
        .and_then(|inner| named_cause(inner))
    {
        return Some(found);
    }
    cause.source().and_then(named_cause)
}

/// Why a response body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// It is longer than the limit (announced or as read).
    #[error("the response body exceeds {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The connection failed while reading.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// Reads `response`'s body, at most `limit` bytes: a longer one (by its `Content-Length` or
/// as it streams) is refused before it fills the memory.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<bytes::Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|announced| announced > limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Resolves with the system resolver, then keeps only the addresses the guard permits.
struct GuardedResolver {
    guard: EgressGuard,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed_name = guard.host_allowed(&host);
            let permitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| allowed_name || guard.permits(addr.ip()))
                .collect();
            if permitted.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(EgressError::Internal(host));
                return Err(refused);
            }
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

/// `localhost` and the suffixes of cluster-internal names (`*.svc`, `*.cluster.local`, ...).
fn is_internal_name(host: &str) -> bool {
    host == "localhost"
        || [
            ".localhost",
            ".svc",
            ".cluster.local",
            ".internal",
            ".local",
        ]
        .iter()
        .any(|suffix| host.ends_with(suffix))
}

/// Loopback, private, link-local, carrier-grade NAT, multicast, unspecified, broadcast,
/// documentation and unique-local addresses (IPv4-mapped IPv6 as its IPv4).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(allow: &[&str]) -> EgressGuard {
        EgressGuard::new(&EgressConfig {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            sandbox: false,
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn sandbox(allow: &[&str]) -> EgressGuard {
        EgressGuard::new(&EgressConfig {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            sandbox: true,
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn url(raw: &str) -> reqwest::Url {
        reqwest::Url::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn internal_destinations_are_refused_unless_allowed() {
        let strict = guard(&[]);
        for raw in [
            "http://127.0.0.1:8080/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.7/",
            "http://192.168.1.1/",
            "http://172.20.0.1/",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://224.0.0.1/",
            "http://0.0.0.0/",
            "http://localhost:9000/",
            "http://kubernetes.default.svc/",
            "http://api.default.svc.cluster.local/",
        ] {
            assert!(strict.check_url(&url(raw)).is_err(), "{raw} passed");
        }
        for raw in [
            "https://us1.api.mailchimp.com/3.0",
            "https://93.184.216.34/",
        ] {
            assert_eq!(strict.check_url(&url(raw)), Ok(()), "{raw}");
        }
        let sandbox = guard(&["127.0.0.0/8", "sandbox.ferry.svc"]);
        assert_eq!(sandbox.check_url(&url("http://127.0.0.1:9110/3.0")), Ok(()));
        assert_eq!(sandbox.check_url(&url("http://sandbox.ferry.svc/")), Ok(()));
        assert!(sandbox.check_url(&url("http://10.0.0.1/")).is_err());
        assert!(
            EgressGuard::new(&EgressConfig {
                allow: vec!["not a net/!".into()],
                sandbox: false,
            })
            .is_err()
        );
    }

    /// An `ip:port` entry allows that address and port only, and never a name resolving to it.
    #[test]
    fn an_address_with_its_port_allows_that_port_only() {
        let exact = guard(&["127.0.0.1:9110"]);
        assert_eq!(exact.check_url(&url("http://127.0.0.1:9110/3.0")), Ok(()));
        assert!(exact.check_url(&url("http://127.0.0.1:9111/")).is_err());
        assert!(exact.check_url(&url("http://127.0.0.1/")).is_err());
        assert!(exact.check_url(&url("http://localhost:9110/")).is_err());
        assert!(!exact.permits("127.0.0.1".parse().unwrap_or_else(|e| panic!("{e}"))));
        let added =
            EgressGuard::sandbox_at("127.0.0.1:9111".parse().unwrap_or_else(|e| panic!("{e}")));
        assert!(added.sandbox());
        assert_eq!(
            added.check_credentialed_url(&url("http://127.0.0.1:9111/")),
            Ok(())
        );
    }

    /// Credentials travel over https; plain http only to allowed internal destinations in
    /// sandbox mode, never to a public host.
    #[test]
    fn credentials_need_https_unless_the_sandbox_mode_is_on() {
        let strict = guard(&["127.0.0.0/8", "sandbox"]);
        let lenient = sandbox(&["127.0.0.0/8", "sandbox"]);
        for guard in [&strict, &lenient] {
            assert_eq!(
                guard.check_credentialed_url(&url("https://us1.api.mailchimp.com/3.0")),
                Ok(())
            );
            for raw in [
                "http://us1.api.mailchimp.com/3.0",
                "http://93.184.216.34/",
                "ftp://127.0.0.1/",
            ] {
                assert!(
                    matches!(
                        guard.check_credentialed_url(&url(raw)),
                        Err(EgressError::Insecure(_))
                    ),
                    "{raw} passed"
                );
            }
        }
        for raw in ["http://127.0.0.1:9110/3.0", "http://sandbox:9111/"] {
            assert!(
                matches!(
                    strict.check_credentialed_url(&url(raw)),
                    Err(EgressError::Insecure(_))
                ),
                "{raw} passed without the sandbox mode"
            );
            assert_eq!(lenient.check_credentialed_url(&url(raw)), Ok(()), "{raw}");
        }
        // The sandbox mode relaxes the scheme, not the destinations.
        assert!(matches!(
            sandbox(&[]).check_credentialed_url(&url("http://127.0.0.1:9110/")),
            Err(EgressError::Internal(_))
        ));
        assert!(matches!(
            lenient.check_credentialed_url(&url("http://10.0.0.1/")),
            Err(EgressError::Internal(_))
        ));
    }

    /// Failures are told apart without their texts: a refused destination (at connect time),
    /// a TLS handshake with a server that does not speak TLS, a closed port, a silent server.
    #[tokio::test]
    async fn transport_failures_are_classified() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let plain = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let plain_port = plain.local_addr().map(|a| a.port()).unwrap_or_default();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = plain.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
        });
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let silent_port = silent.local_addr().map(|a| a.port()).unwrap_or_default();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                held.push(socket);
            }
        });
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
            l.local_addr().map(|a| a.port()).unwrap_or_default()
        };
        let client = |g: EgressGuard| {
            g.client_builder()
                .timeout(std::time::Duration::from_millis(500))
                .build()
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let failure = |result: Result<reqwest::Response, reqwest::Error>| match result {
            Ok(r) => panic!("answered {}", r.status()),
            Err(e) => transport_failure(&e),
        };
        let strict = client(guard(&[]));
        let open = client(guard(&["127.0.0.0/8"]));
        assert_eq!(
            failure(
                strict
                    .get(format!("http://localhost:{plain_port}/"))
                    .send()
                    .await
            ),
            TransportFailure::Refused
        );
        assert_eq!(
            failure(
                open.get(format!("https://127.0.0.1:{plain_port}/"))
                    .send()
                    .await
            ),
            TransportFailure::Tls
        );
        assert_eq!(
            failure(open.get(format!("http://127.0.0.1:{closed}/")).send().await),
            TransportFailure::Connect
        );
        assert_eq!(
            failure(
                open.get(format!("http://127.0.0.1:{silent_port}/"))
                    .send()
                    .await
            ),
            TransportFailure::Timeout
        );
    }

    /// A name resolving to loopback is refused at connect time (the resolver sees what the
    /// connection would use), and no redirect is followed.
    #[tokio::test]
    async fn names_are_checked_after_resolution_and_redirects_are_not_followed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n",
                    )
                    .await;
            }
        });
        // The client alone (no check_url): the resolver refuses what the name resolves to.
        let strict = guard(&[])
            .client_builder()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = strict.get(format!("http://localhost:{port}/")).send().await;
        assert!(
            refused.is_err(),
            "a name resolving to loopback was connected to"
        );
        let allowed = guard(&["127.0.0.0/8", "::1/128"])
            .client_builder()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let answer = allowed
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.status(), 302, "the redirect was followed");
    }
}
