//! The transport under the MplusQAPI client: one [`MplusClient`] per installation (endpoint +
//! `ident`/`secret`, [`super::connection`]), sending one [`Operation`] at a time.
//!
//! - Credentials travel as query parameters (`?ident=&secret=`), as MplusQAPI wants; the URL
//!   is therefore never logged, and transport errors are stripped of it.
//! - Every call has a timeout. Transport failures, HTTP 5xx without a SOAP fault, `Server`
//!   faults and unreadable responses are transient ([`super::error`] classifies) and sent
//!   again only for calls that are safe to repeat ([`super::retry`]).
//! - Every HTTP attempt is counted in `ferry_api_calls_total{system="mpluskassa"}`.
//! - **Egress**: the HTTP client is built by the deployment's
//!   [`EgressGuard`](ferry_platform::egress::EgressGuard)
//!   ([`ClientSettings::egress`]): no redirect is followed, internal addresses are refused after
//!   resolution (at connect time) unless `[egress] allow` names them, and the endpoint is
//!   checked once, when the client is built (`https://` only; plain `http://`
//!   to loopback or an allowed internal address in sandbox mode only: the credentials travel
//!   in its query string).
//! - A response is checked against [`Limits`](ferry_mplusqapi::Limits) (size, nesting depth) before it is read: a
//!   hostile or broken endpoint cannot make the reader allocate without bound.

use std::fmt;
use std::time::{Duration, Instant};

use ferry_mplusqapi::envelope;
use ferry_mplusqapi::{Operation, ResponseError};
use ferry_platform::egress::transport_failure;
use ferry_platform::metrics;
use serde::de::DeserializeOwned;

use super::Listed;
use super::connection::{ClientSettings, Connection};
use super::error::{ClientError, MplusError, malformed};
use super::retry::Retry;
use crate::soap::Element;

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
        retry
            .run(operation, &self.settings, || {
                self.attempt(operation, O::RESPONSE, &envelope)
            })
            .await
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

#[cfg(test)]
mod tests {
    use ferry_platform::config::Secret;
    use ferry_platform::egress::EgressGuard;

    use super::*;

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
