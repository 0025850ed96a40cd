//! Control endpoints for tests, outside the simulated APIs, under `/_sandbox/...`.
//!
//! Both listeners mount the same endpoints with [`configure`] (the MailChimp listener next to
//! `/3.0`, the MplusKASSA listener next to its SOAP endpoint):
//!
//! | method + path | what |
//! | --- | --- |
//! | `POST /_sandbox/reset` | reset every simulator to the current seed; `?to=empty` empties them; `?system=mailchimp` limits it to one |
//! | `POST /_sandbox/seed` | body: a seed JSON ([`crate::seed::Seed`]); becomes the current seed and every simulator is reset to it (400 when invalid) |
//! | `GET /_sandbox/seed` | the current seed |
//! | `GET /_sandbox/state` | this listener's simulator state as JSON |
//! | `GET /_sandbox/requests` | the requests this listener received, oldest first (`?since=SEQ` for newer ones) |
//! | `DELETE /_sandbox/requests` | forget them |
//! | `GET /_sandbox/faults` | the active fault rules of this listener's system |
//! | `POST /_sandbox/faults` | add one rule or an array of rules ([`crate::faults::FaultRule`]; `system` defaults to this listener's); answers `{"ids": [...]}` |
//! | `DELETE /_sandbox/faults` | remove this system's rules |
//! | `DELETE /_sandbox/faults/{id}` | remove one rule |
//!
//! Requests are logged by the [`record_requests`] middleware (wrap the app with
//! `actix_web::middleware::from_fn(control::record_requests)`; it needs [`configure`] on the
//! same app), which buffers the body, so handlers still read it. Paths under `/_sandbox` are
//! not logged. A handler that injected a fault marks its response with [`mark_fault`], and
//! the log shows it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::faults::{Fault, FaultRule, Faults, System};
use crate::seed::Seed;

/// A simulator's state, as the control endpoints see it.
pub trait SimState: Send + Sync + 'static {
    /// Replaces the whole state by the seed's records for this system (or empties it).
    fn reset(&self, seed: Option<&Seed>);
    /// The whole state as JSON (for tests and debugging; the shape is the simulator's).
    fn dump(&self) -> Value;
}

/// One logged request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Increasing per listener, from 1.
    pub seq: u64,
    pub received_at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names in lower case; `authorization` is never kept.
    pub headers: BTreeMap<String, String>,
    /// The first [`BODY_EXCERPT`] bytes of the body, as lossy UTF-8.
    pub body: String,
    /// `None` while the request is still being served (or was dropped by a fault before an
    /// answer).
    pub status: Option<u16>,
    /// The injected fault, if any.
    pub fault: Option<Fault>,
    /// Bytes of the response body, once answered.
    #[serde(default)]
    pub response_bytes: Option<u64>,
}

/// How much of a request body the log keeps.
pub const BODY_EXCERPT: usize = 4096;
/// Largest request body the logging middleware buffers (larger ones get 413).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Default)]
struct LogInner {
    next_seq: u64,
    records: Vec<RequestRecord>,
}

/// The request log of one listener. Clones share it.
#[derive(Clone, Default)]
pub struct RequestLog {
    inner: Arc<Mutex<LogInner>>,
}

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs a request as received; returns its sequence number for [`RequestLog::finish`].
    pub fn start(&self, mut record: RequestRecord) -> u64 {
        let mut log = self.lock();
        log.next_seq += 1;
        record.seq = log.next_seq;
        log.records.push(record);
        log.next_seq
    }

    /// Sets the answer of a logged request.
    pub fn finish(&self, seq: u64, status: Option<u16>, fault: Option<Fault>) {
        self.finish_with_size(seq, status, fault, None);
    }

    /// Sets the answer of a logged request and the size of its body.
    pub fn finish_with_size(
        &self,
        seq: u64,
        status: Option<u16>,
        fault: Option<Fault>,
        bytes: Option<u64>,
    ) {
        let mut log = self.lock();
        if let Some(r) = log.records.iter_mut().rev().find(|r| r.seq == seq) {
            r.status = status;
            r.fault = fault;
            r.response_bytes = bytes;
        }
    }

    /// Logged requests with `seq > since`, oldest first.
    pub fn list(&self, since: u64) -> Vec<RequestRecord> {
        self.lock()
            .records
            .iter()
            .filter(|r| r.seq > since)
            .cloned()
            .collect()
    }

    pub fn clear(&self) {
        self.lock().records.clear();
    }
}

/// The simulators reset and seed loading reach.
type Registered = Vec<(System, Arc<dyn SimState>)>;

/// Everything the control endpoints act on; shared by both listeners. Clones share it.
#[derive(Clone)]
pub struct Control {
    pub faults: Faults,
    seed: Arc<RwLock<Arc<Seed>>>,
    states: Arc<RwLock<Registered>>,
    logs: Arc<Mutex<HashMap<System, RequestLog>>>,
}

impl Control {
    /// A control with the given current seed and fault registry, and no simulators yet.
    pub fn new(seed: Arc<Seed>, faults: Faults) -> Self {
        Control {
            faults,
            seed: Arc::new(RwLock::new(seed)),
            states: Arc::default(),
            logs: Arc::default(),
        }
    }

    /// Registers a simulator's state so that reset and seed loading reach it.
    pub fn register(&self, system: System, state: Arc<dyn SimState>) {
        let mut states = self.states.write().unwrap_or_else(|e| e.into_inner());
        states.retain(|(s, _)| *s != system);
        states.push((system, state));
    }

    /// The current seed (the one `reset` goes back to).
    pub fn seed(&self) -> Arc<Seed> {
        self.seed.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The request log of one system's listener.
    pub fn log(&self, system: System) -> RequestLog {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(system)
            .or_default()
            .clone()
    }

    /// Resets the simulators (all, or one system) to the current seed, or empties them.
    pub fn reset(&self, system: Option<System>, empty: bool) {
        let seed = self.seed();
        let states = self.states.read().unwrap_or_else(|e| e.into_inner());
        for (s, state) in states.iter() {
            if system.is_none_or(|x| x == *s) {
                state.reset(if empty { None } else { Some(&seed) });
            }
        }
    }

    /// Makes `seed` current and resets every simulator to it.
    pub fn load_seed(&self, seed: Seed) {
        *self.seed.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(seed);
        self.reset(None, false);
    }

    /// The state of one simulator, `Value::Null` when none is registered.
    pub fn dump(&self, system: System) -> Value {
        let states = self.states.read().unwrap_or_else(|e| e.into_inner());
        states
            .iter()
            .find(|(s, _)| *s == system)
            .map(|(_, st)| st.dump())
            .unwrap_or(Value::Null)
    }
}

/// App data placed by [`configure`]: which system this listener serves.
#[derive(Clone)]
pub struct Listener {
    pub system: System,
    pub control: Control,
}

/// Mounts the control endpoints (and the [`Listener`] app data [`record_requests`] needs).
pub fn configure(cfg: &mut web::ServiceConfig, control: Control, system: System) {
    cfg.app_data(web::Data::new(Listener { system, control }))
        .app_data(web::PayloadConfig::new(MAX_BODY))
        .app_data(web::JsonConfig::default().limit(MAX_BODY))
        .service(
            web::scope("/_sandbox")
                .route("/reset", web::post().to(reset))
                .route("/seed", web::post().to(load_seed))
                .route("/seed", web::get().to(get_seed))
                .route("/state", web::get().to(dump))
                .route("/requests", web::get().to(list_requests))
                .route("/requests", web::delete().to(clear_requests))
                .route("/faults", web::get().to(list_faults))
                .route("/faults", web::post().to(add_faults))
                .route("/faults", web::delete().to(clear_faults))
                .route("/faults/{id}", web::delete().to(remove_fault)),
        );
}

fn bad_request(msg: impl Into<String>) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": msg.into()}))
}

#[derive(Deserialize)]
struct ResetQuery {
    to: Option<String>,
    system: Option<System>,
}

async fn reset(l: web::Data<Listener>, q: web::Query<ResetQuery>) -> HttpResponse {
    let empty = match q.to.as_deref() {
        None | Some("seed") => false,
        Some("empty") => true,
        Some(other) => return bad_request(format!("unknown reset target {other:?}")),
    };
    l.control.reset(q.system, empty);
    HttpResponse::NoContent().finish()
}

async fn load_seed(l: web::Data<Listener>, body: Bytes) -> HttpResponse {
    match Seed::from_json(&body) {
        Ok(seed) => {
            l.control.load_seed(seed);
            HttpResponse::NoContent().finish()
        }
        Err(e) => bad_request(e.to_string()),
    }
}

async fn get_seed(l: web::Data<Listener>) -> HttpResponse {
    HttpResponse::Ok().json(&*l.control.seed())
}

async fn dump(l: web::Data<Listener>) -> HttpResponse {
    HttpResponse::Ok().json(l.control.dump(l.system))
}

#[derive(Deserialize)]
struct SinceQuery {
    since: Option<u64>,
}

async fn list_requests(l: web::Data<Listener>, q: web::Query<SinceQuery>) -> HttpResponse {
    let requests = l.control.log(l.system).list(q.since.unwrap_or(0));
    HttpResponse::Ok().json(json!({"requests": requests}))
}

async fn clear_requests(l: web::Data<Listener>) -> HttpResponse {
    l.control.log(l.system).clear();
    HttpResponse::NoContent().finish()
}

async fn list_faults(l: web::Data<Listener>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"rules": l.control.faults.list(Some(l.system))}))
}

async fn add_faults(l: web::Data<Listener>, body: Bytes) -> HttpResponse {
    let mut value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("invalid JSON: {e}")),
    };
    let items = match value.take() {
        Value::Array(items) => items,
        one => vec![one],
    };
    let mut rules = Vec::with_capacity(items.len());
    for mut item in items {
        if let Value::Object(m) = &mut item {
            m.entry("system")
                .or_insert_with(|| Value::String(l.system.as_str().to_owned()));
        }
        match serde_json::from_value::<FaultRule>(item) {
            Ok(rule) => match rule.validate() {
                Ok(()) => rules.push(rule),
                Err(e) => return bad_request(e),
            },
            Err(e) => return bad_request(format!("invalid rule: {e}")),
        }
    }
    let mut ids = Vec::with_capacity(rules.len());
    for rule in rules {
        match l.control.faults.add(rule) {
            Ok(id) => ids.push(id),
            Err(e) => return bad_request(e),
        }
    }
    HttpResponse::Ok().json(json!({"ids": ids}))
}

async fn clear_faults(l: web::Data<Listener>) -> HttpResponse {
    l.control.faults.clear(Some(l.system));
    HttpResponse::NoContent().finish()
}

async fn remove_fault(l: web::Data<Listener>, id: web::Path<u64>) -> HttpResponse {
    if l.control.faults.remove(id.into_inner()) {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::NotFound().json(json!({"error": "no such rule"}))
    }
}

/// Response extension naming the fault a handler injected (see [`mark_fault`]).
#[derive(Debug, Clone)]
pub struct FaultMark(pub Fault);

/// Request extension: the request's sequence number in its listener's log.
#[derive(Debug, Clone, Copy)]
pub struct LogSeq(pub u64);

/// Notes an injected fault in the request log right away (so a held timeout shows while it
/// is still being held). Use together with [`mark_fault`] on the response.
pub fn note_fault(req: &HttpRequest, fault: &Fault) {
    let seq = req.extensions().get::<LogSeq>().copied();
    if let (Some(LogSeq(seq)), Some(l)) = (seq, req.app_data::<web::Data<Listener>>()) {
        l.control
            .log(l.system)
            .finish(seq, None, Some(fault.clone()));
    }
}

/// Marks a response as carrying an injected fault, for the request log.
pub fn mark_fault(resp: &mut HttpResponse, fault: &Fault) {
    resp.extensions_mut().insert(FaultMark(fault.clone()));
}

/// Builds the log record of a request (without status).
pub fn record_of(req: &HttpRequest, body: &[u8]) -> RequestRecord {
    let headers = req
        .headers()
        .iter()
        .filter(|(name, _)| *name != actix_web::http::header::AUTHORIZATION)
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let excerpt = &body[..body.len().min(BODY_EXCERPT)];
    RequestRecord {
        seq: 0,
        received_at: Utc::now(),
        method: req.method().as_str().to_owned(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers,
        body: String::from_utf8_lossy(excerpt).into_owned(),
        status: None,
        fault: None,
        response_bytes: None,
    }
}

/// Middleware that logs every request outside `/_sandbox` in the listener's [`RequestLog`]
/// (see the module documentation). Use with `actix_web::middleware::from_fn`.
pub async fn record_requests(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let listener = req.app_data::<web::Data<Listener>>().cloned();
    let Some(listener) = listener.filter(|_| !req.path().starts_with("/_sandbox")) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_BODY {
            return Ok(req.into_response(HttpResponse::PayloadTooLarge().finish()));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let log = listener.control.log(listener.system);
    let seq = log.start(record_of(req.request(), &body));
    req.extensions_mut().insert(LogSeq(seq));
    req.set_payload(bytes_payload(body));
    let res = next.call(req).await?;
    let fault = res
        .response()
        .extensions()
        .get::<FaultMark>()
        .map(|m| m.0.clone());
    let status = match fault {
        Some(Fault::DropConnection | Fault::Timeout { .. }) => None,
        _ => Some(res.status().as_u16()),
    };
    let bytes = match res.response().body().size() {
        actix_web::body::BodySize::Sized(n) => Some(n),
        actix_web::body::BodySize::None => Some(0),
        actix_web::body::BodySize::Stream => None,
    };
    log.finish_with_size(seq, status, fault, bytes);
    Ok(res.map_into_boxed_body())
}

/// A request payload serving `body`.
pub fn bytes_payload(body: Bytes) -> actix_web::dev::Payload {
    actix_web::dev::Payload::from(body)
}
