//! Deterministic, per-route fault injection shared by both simulators.
//!
//! A [`FaultRule`] says *where* (system + route pattern), *what* ([`FaultKind`]) and *when*
//! ([`Trigger`]: always, the next N matching requests, or with a probability drawn from a
//! per-rule RNG seeded with the rule's `seed`, so a run is reproducible given the order of the
//! requests). Rules live in a shared [`Faults`] registry (cheap to clone); the first matching
//! rule that fires wins.
//!
//! How a simulator uses it, per request:
//! 1. `faults.decide(System::X, &Route::http(method, path))` (or `Route::soap(operation)`) ->
//!    `Option<Fault>`; the fault is already resolved (a random latency has its concrete
//!    duration).
//! 2. [`apply_generic`] performs the HTTP-level faults that look the same for every API:
//!    it sleeps for latency (and returns [`Applied::Proceed`]), answers bare statuses without
//!    a body, holds timeouts and drops connections ([`Applied::Respond`]). The system renders
//!    its own native faults itself ([`Applied::Native`]: MailChimp's problem+json 429 and 5xx,
//!    MplusKASSA's SOAP fault), and corrupts its own successful body for
//!    [`FaultKind::MalformedBody`] with [`corrupt_body`].
//!
//! JSON form of a rule (control endpoint `POST /_sandbox/faults`):
//! ```json
//! {"system": "mailchimp", "method": "GET", "path": "/3.0/lists/*/members",
//!  "fault": {"kind": "latency", "ms": 200}, "next": 3}
//! {"system": "mpluskassa", "operation": "getProducts",
//!  "fault": {"kind": "soap_fault", "code": "Server", "message": "database unavailable"},
//!  "probability": 0.5, "seed": 42}
//! ```
//! `method` (HTTP method, case-insensitive, default any), `path` (glob on the URL path: `*`
//! matches within one segment, `**` any number of characters including `/`; default any) and
//! `operation` (glob on the SOAP operation name; default any) are all optional.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::body::{BodyStream, BoxBody};
use actix_web::http::StatusCode;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Which simulated API a rule or request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    Mailchimp,
    Mpluskassa,
}

impl System {
    pub fn as_str(self) -> &'static str {
        match self {
            System::Mailchimp => "mailchimp",
            System::Mpluskassa => "mpluskassa",
        }
    }
}

/// What a request is, for matching rules: an HTTP method + path, or a SOAP operation.
#[derive(Debug, Clone, Copy)]
pub enum Route<'a> {
    Http { method: &'a str, path: &'a str },
    Soap { operation: &'a str },
}

impl<'a> Route<'a> {
    pub fn http(method: &'a str, path: &'a str) -> Self {
        Route::Http { method, path }
    }
    pub fn soap(operation: &'a str) -> Self {
        Route::Soap { operation }
    }
}

/// How a body is made malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Corruption {
    /// The first half of the real body (invalid JSON/XML that starts correctly).
    #[default]
    Truncated,
    /// Bytes that are not JSON nor XML at all.
    Garbage,
}

/// A fault as configured in a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Delay the request by `ms`, then serve it normally.
    Latency { ms: u64 },
    /// Delay by a duration drawn uniformly from `min_ms..=max_ms` with the rule's RNG.
    RandomLatency { min_ms: u64, max_ms: u64 },
    /// The system's native "too many requests" answer (MailChimp: problem+json 429).
    /// A rule with `next: N` (or `probability`) gives a 429 storm.
    TooManyRequests,
    /// A status code with an empty body and no content type (MailChimp's bare 403/429).
    BareStatus { status: u16 },
    /// A server error with the system's native error body (MailChimp problem+json;
    /// MplusKASSA renders it as it sees fit). `status` defaults to 500.
    ServerError {
        #[serde(default = "default_500")]
        status: u16,
    },
    /// Hold the request for `ms` (default 10 minutes, far beyond any client timeout), then
    /// drop the connection without an answer.
    Timeout {
        #[serde(default = "default_timeout_ms")]
        ms: u64,
    },
    /// Serve the request (state changes happen!) but corrupt the response body.
    MalformedBody {
        #[serde(default)]
        mode: Corruption,
    },
    /// Close the connection without sending any response.
    DropConnection,
    /// SOAP only: answer with a `SOAP-ENV:Fault` (rendered by the MplusKASSA simulator).
    SoapFault {
        #[serde(default = "default_fault_code")]
        code: String,
        #[serde(default = "default_fault_message")]
        message: String,
    },
}

fn default_500() -> u16 {
    500
}
fn default_timeout_ms() -> u64 {
    600_000
}
fn default_fault_code() -> String {
    "SOAP-ENV:Server".to_owned()
}
fn default_fault_message() -> String {
    "Injected fault".to_owned()
}

/// A resolved fault for one request, as returned by [`Faults::decide`]. Random latency is
/// already resolved into [`Fault::Latency`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    Latency { ms: u64 },
    TooManyRequests,
    BareStatus { status: u16 },
    ServerError { status: u16 },
    Timeout { ms: u64 },
    MalformedBody { mode: Corruption },
    DropConnection,
    SoapFault { code: String, message: String },
}

/// When a rule fires for a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Every matching request.
    #[default]
    Always,
    /// The next `n` matching requests, then the rule is spent (and removed).
    Next(u32),
    /// Each matching request with this probability (0.0..=1.0), drawn from the rule's RNG.
    Probability(f64),
}

/// A rule as submitted (JSON or Rust). `next` and `probability` are mutually exclusive;
/// neither means "always".
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRule {
    /// Assigned by the registry; ignored on input.
    #[serde(default)]
    pub id: u64,
    pub system: System,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    pub fault: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    #[serde(default)]
    pub seed: u64,
    /// How many times the rule has fired (output only).
    #[serde(default)]
    pub fired: u64,
}

impl FaultRule {
    /// A rule that always fires for every request of `system`.
    pub fn new(system: System, fault: FaultKind) -> Self {
        FaultRule {
            id: 0,
            system,
            method: None,
            path: None,
            operation: None,
            fault,
            next: None,
            probability: None,
            seed: 0,
            fired: 0,
        }
    }
    /// Restrict to an HTTP method (`"GET"`, ...).
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_owned());
        self
    }
    /// Restrict to a path glob (`/3.0/lists/*/members`, `/3.0/ecommerce/**`).
    pub fn path(mut self, glob: &str) -> Self {
        self.path = Some(glob.to_owned());
        self
    }
    /// Restrict to a SOAP operation name glob (`getProducts`, `get*`).
    pub fn operation(mut self, glob: &str) -> Self {
        self.operation = Some(glob.to_owned());
        self
    }
    /// Fire for the next `n` matching requests only.
    pub fn next(mut self, n: u32) -> Self {
        self.next = Some(n);
        self.probability = None;
        self
    }
    /// Fire with probability `p`, deterministic given `seed`.
    pub fn probability(mut self, p: f64, seed: u64) -> Self {
        self.probability = Some(p);
        self.next = None;
        self.seed = seed;
        self
    }

    pub fn trigger(&self) -> Trigger {
        match (self.next, self.probability) {
            (Some(n), _) => Trigger::Next(n),
            (None, Some(p)) => Trigger::Probability(p),
            (None, None) => Trigger::Always,
        }
    }

    /// Checks the rule; returns a message for the control API when invalid.
    pub fn validate(&self) -> Result<(), String> {
        if self.next.is_some() && self.probability.is_some() {
            return Err("`next` and `probability` are mutually exclusive".into());
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("probability {p} is not within 0..=1"));
        }
        match &self.fault {
            FaultKind::RandomLatency { min_ms, max_ms } if min_ms > max_ms => {
                Err("random_latency: min_ms > max_ms".into())
            }
            FaultKind::BareStatus { status } | FaultKind::ServerError { status }
                if StatusCode::from_u16(*status).is_err() =>
            {
                Err(format!("invalid HTTP status {status}"))
            }
            FaultKind::SoapFault { .. } if self.system != System::Mpluskassa => {
                Err("soap_fault only applies to system mpluskassa".into())
            }
            _ => Ok(()),
        }
    }

    fn matches(&self, system: System, route: &Route<'_>) -> bool {
        if self.system != system {
            return false;
        }
        match route {
            Route::Http { method, path } => {
                self.operation.is_none()
                    && self
                        .method
                        .as_deref()
                        .is_none_or(|m| m == "*" || m.eq_ignore_ascii_case(method))
                    && self.path.as_deref().is_none_or(|g| glob_match(g, path))
            }
            Route::Soap { operation } => {
                self.method.is_none()
                    && self.path.is_none()
                    && self
                        .operation
                        .as_deref()
                        .is_none_or(|g| glob_match(g, operation))
            }
        }
    }
}

struct Armed {
    rule: FaultRule,
    rng: StdRng,
    remaining: Option<u32>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    rules: Vec<Armed>,
}

/// The shared rule registry. Clone freely: clones share the same rules.
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<Registry>>,
}

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A poisoned registry is still a consistent list of rules.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a rule; returns its id.
    pub fn add(&self, mut rule: FaultRule) -> Result<u64, String> {
        rule.validate()?;
        let mut reg = self.lock();
        reg.next_id += 1;
        rule.id = reg.next_id;
        rule.fired = 0;
        let rng = StdRng::seed_from_u64(rule.seed);
        let remaining = rule.next;
        reg.rules.push(Armed {
            rule,
            rng,
            remaining,
        });
        Ok(reg.next_id)
    }

    /// The active rules (with their `fired` counters), optionally for one system.
    pub fn list(&self, system: Option<System>) -> Vec<FaultRule> {
        let reg = self.lock();
        reg.rules
            .iter()
            .filter(|a| system.is_none_or(|s| a.rule.system == s))
            .map(|a| {
                let mut r = a.rule.clone();
                if let Some(left) = a.remaining {
                    r.next = Some(left);
                }
                r
            })
            .collect()
    }

    /// Removes one rule; false when there was none with that id.
    pub fn remove(&self, id: u64) -> bool {
        let mut reg = self.lock();
        let before = reg.rules.len();
        reg.rules.retain(|a| a.rule.id != id);
        reg.rules.len() != before
    }

    /// Removes all rules of `system` (or all rules).
    pub fn clear(&self, system: Option<System>) {
        self.lock()
            .rules
            .retain(|a| system.is_some_and(|s| a.rule.system != s));
    }

    /// The fault to inject for this request, if any. Each matching rule is consulted in the
    /// order added; the first that fires wins. Spent `next` rules are removed.
    pub fn decide(&self, system: System, route: &Route<'_>) -> Option<Fault> {
        let mut reg = self.lock();
        let mut decided = None;
        let mut spent = None;
        for (i, armed) in reg.rules.iter_mut().enumerate() {
            if !armed.rule.matches(system, route) {
                continue;
            }
            let fires = match armed.rule.trigger() {
                Trigger::Always => true,
                Trigger::Next(_) => match armed.remaining.as_mut() {
                    Some(left) if *left > 0 => {
                        *left -= 1;
                        if *left == 0 {
                            spent = Some(i);
                        }
                        true
                    }
                    _ => false,
                },
                Trigger::Probability(p) => armed.rng.random_bool(p),
            };
            if !fires {
                continue;
            }
            armed.rule.fired += 1;
            decided = Some(resolve(&armed.rule.fault, &mut armed.rng));
            break;
        }
        if let Some(i) = spent {
            reg.rules.remove(i);
        }
        decided
    }
}

fn resolve(kind: &FaultKind, rng: &mut StdRng) -> Fault {
    match kind {
        FaultKind::Latency { ms } => Fault::Latency { ms: *ms },
        FaultKind::RandomLatency { min_ms, max_ms } => Fault::Latency {
            ms: rng.random_range(*min_ms..=*max_ms),
        },
        FaultKind::TooManyRequests => Fault::TooManyRequests,
        FaultKind::BareStatus { status } => Fault::BareStatus { status: *status },
        FaultKind::ServerError { status } => Fault::ServerError { status: *status },
        FaultKind::Timeout { ms } => Fault::Timeout { ms: *ms },
        FaultKind::MalformedBody { mode } => Fault::MalformedBody { mode: *mode },
        FaultKind::DropConnection => Fault::DropConnection,
        FaultKind::SoapFault { code, message } => Fault::SoapFault {
            code: code.clone(),
            message: message.clone(),
        },
    }
}

/// Glob match: `*` matches any run of characters except `/`, `**` any run including `/`,
/// `?` one character other than `/`. Everything else is literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => {
                let (deep, rest) = match rest.split_first() {
                    Some(('*', r)) => (true, r),
                    _ => (false, rest),
                };
                for i in 0..=t.len() {
                    if go(rest, &t[i..]) {
                        return true;
                    }
                    if i < t.len() && !deep && t[i] == '/' {
                        return false;
                    }
                }
                false
            }
            Some(('?', rest)) => t.first().is_some_and(|c| *c != '/') && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// What [`apply_generic`] did with a fault.
pub enum Applied {
    /// Serve the request normally (a latency has already been slept). When `corrupt` is
    /// set, corrupt the body of the real response with [`corrupt_body`].
    Proceed { corrupt: Option<Corruption> },
    /// Send this response instead of serving the request (bare status, dropped connection
    /// or a timeout that has already been held).
    Respond(HttpResponse),
    /// A system-native fault: the caller renders it (MailChimp's problem+json 429 and 5xx,
    /// a SOAP fault).
    Native(Fault),
}

/// Performs the HTTP-level part of a decided fault (see the module documentation).
/// `None` gives `Proceed { corrupt: None }`.
pub async fn apply_generic(fault: Option<Fault>) -> Applied {
    match fault {
        None => Applied::Proceed { corrupt: None },
        Some(Fault::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Applied::Proceed { corrupt: None }
        }
        Some(Fault::MalformedBody { mode }) => Applied::Proceed {
            corrupt: Some(mode),
        },
        Some(Fault::BareStatus { status }) => Applied::Respond(bare_status(status)),
        Some(Fault::DropConnection) => Applied::Respond(dropped_connection()),
        Some(Fault::Timeout { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Applied::Respond(dropped_connection())
        }
        Some(
            f @ (Fault::TooManyRequests | Fault::ServerError { .. } | Fault::SoapFault { .. }),
        ) => Applied::Native(f),
    }
}

/// A response with the status and an empty body (no content type).
pub fn bare_status(status: u16) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).body(BoxBody::new(()))
}

/// A response that makes the server close the connection before anything reaches the
/// client: its body stream fails on the first poll, which makes actix abort the connection
/// without flushing the response head (the client sees the connection closed with no
/// response at all; verified by the tests with reqwest).
pub fn dropped_connection() -> HttpResponse {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "sandbox fault: dropped connection",
        ))
    });
    HttpResponse::Ok().body(BodyStream::new(stream))
}

/// Corrupts a response body: the first half (`Truncated`; never empty for a non-empty body)
/// or bytes that are no JSON or XML (`Garbage`).
pub fn corrupt_body(body: &[u8], mode: Corruption) -> Bytes {
    match mode {
        Corruption::Truncated => {
            let half = body.len() / 2;
            let keep = if body.is_empty() { 0 } else { half.max(1) };
            Bytes::copy_from_slice(&body[..keep])
        }
        Corruption::Garbage => Bytes::from_static(b"\x00\x1f<<garbage \xff\xfe not json or xml"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("/3.0/lists/*/members", "/3.0/lists/abc/members"));
        assert!(!glob_match(
            "/3.0/lists/*/members",
            "/3.0/lists/a/b/members"
        ));
        assert!(glob_match("/3.0/**", "/3.0/lists/a/b/members"));
        assert!(glob_match("get*", "getProducts"));
        assert!(!glob_match("get*", "createOrderV3"));
        assert!(glob_match("/3.0/ping", "/3.0/ping"));
        assert!(!glob_match("/3.0/ping", "/3.0/pings"));
    }

    #[test]
    fn next_n_then_spent() {
        let f = Faults::new();
        f.add(FaultRule::new(System::Mailchimp, FaultKind::TooManyRequests).next(2))
            .expect("valid");
        let r = Route::http("GET", "/3.0/ping");
        assert_eq!(
            f.decide(System::Mailchimp, &r),
            Some(Fault::TooManyRequests)
        );
        assert_eq!(f.decide(System::Mpluskassa, &r), None);
        assert_eq!(
            f.decide(System::Mailchimp, &r),
            Some(Fault::TooManyRequests)
        );
        assert_eq!(f.decide(System::Mailchimp, &r), None);
        assert!(f.list(None).is_empty());
    }

    #[test]
    fn probability_is_deterministic() {
        let run = || {
            let f = Faults::new();
            f.add(
                FaultRule::new(
                    System::Mpluskassa,
                    FaultKind::RandomLatency {
                        min_ms: 1,
                        max_ms: 100,
                    },
                )
                .operation("get*")
                .probability(0.5, 7),
            )
            .expect("valid");
            (0..64)
                .map(|_| f.decide(System::Mpluskassa, &Route::soap("getProducts")))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let fired = a.iter().filter(|x| x.is_some()).count();
        assert!(fired > 10 && fired < 54, "fired {fired} of 64");
    }

    #[test]
    fn invalid_rules_are_refused() {
        let f = Faults::new();
        assert!(
            f.add(
                FaultRule::new(System::Mailchimp, FaultKind::TooManyRequests).probability(2.0, 0)
            )
            .is_err()
        );
        assert!(
            f.add(FaultRule::new(
                System::Mailchimp,
                FaultKind::SoapFault {
                    code: "x".into(),
                    message: "y".into()
                }
            ))
            .is_err()
        );
    }
}
