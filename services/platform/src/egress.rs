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
//! `*.internal`); call it before each request. The configuration's allow-list
//! ([`EgressConfig::allow`]: CIDR blocks or exact host names) names the exceptions, e.g. the
//! sandbox on loopback in tests and demos.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::Deserialize;

/// Where outgoing HTTP may go besides the public internet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// Internal destinations allowed anyway: CIDR blocks (`127.0.0.1/32`, `10.1.0.0/16`) or
    /// exact host names (`sandbox.ferry.svc`).
    pub allow: Vec<String>,
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
}

/// The guard built from an [`EgressConfig`].
#[derive(Debug, Clone, Default)]
pub struct EgressGuard {
    nets: Vec<IpNet>,
    hosts: Vec<String>,
}

impl EgressGuard {
    /// Parses the allow-list.
    pub fn new(config: &EgressConfig) -> Result<Self, EgressError> {
        let mut guard = Self::default();
        for entry in &config.allow {
            let entry = entry.trim();
            if let Ok(net) = entry.parse::<IpNet>() {
                guard.nets.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                guard.nets.push(IpNet::from(ip));
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

    /// Whether a connection to `ip` is allowed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.nets.iter().any(|net| net.contains(&ip))
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
            return self.check_ip(ip);
        }
        let host = raw.trim_end_matches('.').to_ascii_lowercase();
        if self.host_allowed(&host) {
            return Ok(());
        }
        let internal_name = host == "localhost"
            || [
                ".localhost",
                ".svc",
                ".cluster.local",
                ".internal",
                ".local",
            ]
            .iter()
            .any(|suffix| host.ends_with(suffix));
        if internal_name {
            return Err(EgressError::Internal(host));
        }
        Ok(())
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
                allow: vec!["not a net/!".into()]
            })
            .is_err()
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
