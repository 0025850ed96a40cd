//! One call on the wire: the request (Basic auth, JSON body), the account's connection
//! limit, the body cap, retries with full-jitter backoff, and the classification of the
//! answer (MailChimp's problem+json errors, throttling, server errors, malformed bodies).

use std::time::{Duration, Instant};

use ferry_mailchimp_wire::{self as wire, Problem};
use ferry_platform::backoff::{Backoff, Jitter};
use ferry_platform::egress::{
    BodyError, EgressError, TransportFailure, read_capped, transport_failure,
};
use ferry_platform::metrics;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{ClientError, FieldError, MailchimpClient, SYSTEM, scrub};

/// Whether an attempt may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Idempotency {
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
    #[tracing::instrument(level = "debug", skip_all, fields(op, method = %method))]
    pub(super) async fn send(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
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
        body: Option<&[u8]>,
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
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
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
    // Any JSON is an answer of MailChimp's; no JSON at all is a bare (edge) answer.
    let problem: Option<Problem> = serde_json::from_slice::<Value>(bytes)
        .ok()
        .map(|v| wire::read(&v));
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
    let problem = problem.unwrap_or_default();
    let detail = if bare {
        "no error body".to_owned()
    } else {
        scrub(problem.detail.as_deref().unwrap_or_default())
    };
    // 408: the server gave up waiting for the request; nothing was processed.
    if status.is_server_error() || code == 408 {
        let err = ClientError::Server {
            op,
            status: code,
            detail,
            attempts: attempt,
        };
        return match idempotency {
            Idempotency::Idempotent => Attempt::Again(err, retry_after),
            Idempotency::Once => Attempt::Fail(err),
        };
    }
    let errors = problem
        .errors
        .iter()
        .map(|e| FieldError {
            field: e.field.clone().unwrap_or_default(),
            message: scrub(e.message.as_deref().unwrap_or_default()),
        })
        .collect();
    let title = scrub(problem.title.as_deref().unwrap_or_default());
    Attempt::Fail(ClientError::Rejected {
        op,
        status: code,
        title: if title.is_empty() {
            status.canonical_reason().unwrap_or("error").to_owned()
        } else {
            title
        },
        detail,
        errors,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::sandbox_egress;
    use crate::client::{ApiKey, ClientSettings};
    use ferry_proto::messages::ErrorCode;

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
}
