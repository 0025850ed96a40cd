//! A stateful simulator of the MailChimp Marketing API v3, served under `/3.0` like the real
//! host, so an unmodified client pointed at `http://ADDR/3.0` works.
//!
//! - [`api`] routes a request to its handler ([`lists`], [`ecommerce`], [`batches`]) over the
//!   in-memory [`state`]; [`query`] has pagination, `fields`/`exclude_fields` and date filters;
//!   [`error`] the problem+json errors with MailChimp's titles.
//! - This module is the HTTP layer: authentication ([`auth`]: Basic with data-center keys,
//!   OAuth Bearer), the limit of simultaneous connections per key (429), fault injection
//!   ([`crate::faults`]), the background delivery of list webhooks ([`webhooks`]) and the
//!   batch runner.
//!
//! - At scale: [`scale`] generates large stores (`--scale`); a [`LatencyModel`] (fixed + per
//!   KiB of response) makes page size cost time; the [`auth::ConnectionLimiter`] records the
//!   peak of simultaneous requests per key. Their control endpoints (next to the shared ones
//!   of [`crate::control`], on this listener only):
//!
//! | method + path | what |
//! | --- | --- |
//! | `GET /_sandbox/connections` | `{limit, peak, keys: [{key (masked), in_flight, peak, admitted, refused}]}`: `peak` is the most requests one key had in flight at once |
//! | `DELETE /_sandbox/connections` | forget peaks and counts |
//! | `GET /_sandbox/latency` | the latency model `{fixed_ms, per_kib_ms}` |
//! | `PUT /_sandbox/latency` | set it (body: the model) |
//! | `GET /_sandbox/scale` | the scale applied on reset (`null`: none) |
//! | `PUT /_sandbox/scale` | body: a [`scale::Scale`] (`null`: none); resets this simulator to the seed at that scale |
//!
//! [`Mailchimp::new`] must be called inside a tokio runtime: it spawns the webhook delivery
//! and batch tasks there.

pub mod api;
pub mod auth;
pub mod batches;
pub mod ecommerce;
pub mod error;
pub mod lists;
pub mod query;
pub mod scale;
pub mod state;
pub mod webhooks;

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::control::{SimState, mark_fault, note_fault};
use crate::faults::{Applied, Fault, Faults, Route, System, apply_generic, corrupt_body};
use crate::seed::Seed;
use api::{Ctx, Reply, Req};
use auth::{ConnectionLimiter, Credentials};
use error::ApiError;
use query::Params;
use state::{Delivery, McState};

/// The key accepted when none is configured (data center `us1`): the one Ferry's demo
/// integration uses.
pub const DEFAULT_API_KEY: &str = "0123456789abcdef0123456789abcdef-us1";

/// The second key accepted when none is configured: the webshop's own. A MailChimp account
/// holds several API keys, and a shop platform placing orders uses its own, with its own 10
/// simultaneous connections, not the integration's.
pub const SHOP_API_KEY: &str = "fedcba9876543210fedcba9876543210-us1";

/// Time added to every answer: `fixed_ms` plus `per_kib_ms` per KiB of response body, slept
/// while the request holds its connection slot (so a large page costs time and a slot, as
/// it does against the real API).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyModel {
    pub fixed_ms: f64,
    pub per_kib_ms: f64,
}

impl LatencyModel {
    /// The delay of an answer of `bytes` bytes.
    pub fn delay(&self, bytes: u64) -> Duration {
        let ms = self.fixed_ms.max(0.0) + self.per_kib_ms.max(0.0) * bytes as f64 / 1024.0;
        Duration::from_secs_f64(ms / 1000.0)
    }

    fn check(&self) -> Result<(), String> {
        if self.fixed_ms.is_finite()
            && self.per_kib_ms.is_finite()
            && self.fixed_ms >= 0.0
            && self.per_kib_ms >= 0.0
        {
            Ok(())
        } else {
            Err("fixed_ms and per_kib_ms must be finite and >= 0".into())
        }
    }
}

/// Settings of the simulator.
#[derive(Debug, Clone)]
pub struct MailchimpConfig {
    /// Accepted API keys (`<secret>-<dc>`); the first key's data center is the one served.
    pub api_keys: Vec<String>,
    /// Accepted OAuth 2 access tokens (`Authorization: Bearer <token>`).
    pub oauth_tokens: Vec<String>,
    /// Simultaneous requests per key (MailChimp: 10).
    pub max_connections: usize,
    /// Delivery attempts per webhook POST.
    pub webhook_attempts: u32,
    /// First retry delay, doubled each attempt.
    pub webhook_backoff: Duration,
    pub webhook_timeout: Duration,
    /// Latency added to every answer.
    pub latency: LatencyModel,
    /// The scale seed applied on top of the seed (see [`scale`]).
    pub scale: Option<scale::Scale>,
}

impl Default for MailchimpConfig {
    fn default() -> Self {
        MailchimpConfig {
            api_keys: vec![DEFAULT_API_KEY.to_owned(), SHOP_API_KEY.to_owned()],
            oauth_tokens: Vec::new(),
            max_connections: 10,
            webhook_attempts: 4,
            webhook_backoff: Duration::from_millis(200),
            webhook_timeout: Duration::from_secs(10),
            latency: LatencyModel::default(),
            scale: None,
        }
    }
}

struct Inner {
    state: Mutex<McState>,
    creds: Credentials,
    limiter: ConnectionLimiter,
    faults: Faults,
    latency: RwLock<LatencyModel>,
    scale: RwLock<Option<scale::Scale>>,
    base_url: RwLock<String>,
    webhooks: mpsc::UnboundedSender<Delivery>,
    batches: mpsc::UnboundedSender<String>,
}

/// The simulator (cheap to clone; clones share the state).
#[derive(Clone)]
pub struct Mailchimp {
    inner: Arc<Inner>,
}

impl Mailchimp {
    /// A simulator loaded from `seed` (`None`: an empty account). Spawns its background tasks
    /// on the current tokio runtime.
    pub fn new(config: MailchimpConfig, seed: Option<&Seed>, faults: Faults) -> Self {
        let (wtx, wrx) = mpsc::unbounded_channel();
        let (btx, brx) = mpsc::unbounded_channel();
        let mc = Mailchimp {
            inner: Arc::new(Inner {
                state: Mutex::new(state_of(seed, config.scale.as_ref())),
                creds: Credentials::new(config.api_keys.clone(), config.oauth_tokens.clone()),
                limiter: ConnectionLimiter::new(config.max_connections),
                faults,
                latency: RwLock::new(config.latency),
                scale: RwLock::new(config.scale),
                base_url: RwLock::new(String::new()),
                webhooks: wtx,
                batches: btx,
            }),
        };
        let weak = Arc::downgrade(&mc.inner);
        let record = move |log: state::DeliveryLog| match weak.upgrade() {
            Some(inner) => {
                inner
                    .state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .deliveries
                    .push(log);
                true
            }
            None => false,
        };
        tokio::spawn(webhooks::deliver(record, wrx, config));
        tokio::spawn(run_batches(Arc::downgrade(&mc.inner), brx));
        mc
    }

    /// Sets the base URL (`http://host:port`) used in `response_body_url`.
    pub fn set_base_url(&self, url: &str) {
        *self
            .inner
            .base_url
            .write()
            .unwrap_or_else(|e| e.into_inner()) = url.trim_end_matches('/').to_owned();
    }

    fn base_url(&self) -> String {
        self.inner
            .base_url
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn lock(&self) -> MutexGuard<'_, McState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state (for tests and tools).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut McState) -> R) -> R {
        f(&mut self.lock())
    }

    /// Runs one API call in-process, without authentication, limits or faults (the path is
    /// below `/3.0`). Webhooks and batches it causes are processed as usual.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let params = Params::parse(query);
        let req = Req {
            method,
            path,
            params: &params,
            body,
        };
        let ctx = Ctx {
            now: Utc::now(),
            base_url: self.base_url(),
            in_batch: false,
        };
        self.run(&ctx, &req)
    }

    fn run(&self, ctx: &Ctx, req: &Req<'_>) -> Result<Reply, ApiError> {
        let (result, outbox, queued) = {
            let mut st = self.lock();
            let r = api::dispatch(&mut st, ctx, req);
            (
                r,
                std::mem::take(&mut st.outbox),
                std::mem::take(&mut st.batch_queue),
            )
        };
        for d in outbox {
            let _ = self.inner.webhooks.send(d);
        }
        for b in queued {
            let _ = self.inner.batches.send(b);
        }
        result
    }

    /// The latency model in force.
    pub fn latency(&self) -> LatencyModel {
        *self.inner.latency.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the latency model.
    pub fn set_latency(&self, model: LatencyModel) {
        *self
            .inner
            .latency
            .write()
            .unwrap_or_else(|e| e.into_inner()) = model;
    }

    /// The scale applied on reset.
    pub fn scale(&self) -> Option<scale::Scale> {
        *self.inner.scale.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the scale and resets the account to `seed` at that scale.
    pub fn set_scale(&self, scale: Option<scale::Scale>, seed: &Seed) {
        *self.inner.scale.write().unwrap_or_else(|e| e.into_inner()) = scale;
        self.reset(Some(seed));
    }

    /// The limit of simultaneous requests per key, with its record of peaks.
    pub fn connections(&self) -> &ConnectionLimiter {
        &self.inner.limiter
    }

    /// Mounts this simulator's control endpoints (see the module documentation); mount them
    /// before [`crate::control::configure`].
    pub fn configure_control(
        &self,
        cfg: &mut web::ServiceConfig,
        control: crate::control::Control,
    ) {
        cfg.app_data(web::Data::new(ControlData {
            mc: self.clone(),
            control,
        }))
        .route("/_sandbox/connections", web::get().to(get_connections))
        .route("/_sandbox/connections", web::delete().to(reset_connections))
        .route("/_sandbox/latency", web::get().to(get_latency))
        .route("/_sandbox/latency", web::put().to(put_latency))
        .route("/_sandbox/scale", web::get().to(get_scale))
        .route("/_sandbox/scale", web::put().to(put_scale));
    }

    /// Mounts `/3.0/...` and the batch result archives (`/batch-results/{id}.tar.gz`).
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.clone()))
            .route("/batch-results/{file}", web::get().to(batch_results))
            .route("/3.0", web::route().to(handle))
            .route("/3.0/{tail:.*}", web::route().to(handle));
    }
}

/// The state of a seed at a scale (an empty account stays empty).
fn state_of(seed: Option<&Seed>, scale: Option<&scale::Scale>) -> McState {
    let mut st = McState::from_seed(seed);
    if let (Some(_), Some(scale)) = (seed, scale) {
        scale.fill(&mut st);
    }
    st
}

impl SimState for Mailchimp {
    fn reset(&self, seed: Option<&Seed>) {
        let scale = self.scale();
        *self.lock() = state_of(seed, scale.as_ref());
    }

    fn dump(&self) -> Value {
        let mut state = serde_json::to_value(&*self.lock()).unwrap_or(Value::Null);
        if let Some(map) = state.as_object_mut() {
            // Peak requests in flight and 429 refusals per key (md5 of the key), since reset.
            map.insert(
                "connections".into(),
                serde_json::to_value(self.inner.limiter.counts()).unwrap_or(Value::Null),
            );
        }
        state
    }
}

struct ControlData {
    mc: Mailchimp,
    control: crate::control::Control,
}

fn control_error(msg: impl Into<String>) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({"error": msg.into()}))
}

async fn get_connections(d: web::Data<ControlData>) -> HttpResponse {
    let limiter = d.mc.connections();
    let keys: Vec<Value> = limiter
        .usage()
        .into_iter()
        .map(|(p, u)| {
            serde_json::json!({
                "key": p.masked(), "in_flight": u.in_flight, "peak": u.peak,
                "admitted": u.admitted, "refused": u.refused,
            })
        })
        .collect();
    let peak = limiter
        .usage()
        .iter()
        .map(|(_, u)| u.peak)
        .max()
        .unwrap_or(0);
    HttpResponse::Ok()
        .json(serde_json::json!({"limit": limiter.limit(), "peak": peak, "keys": keys}))
}

async fn reset_connections(d: web::Data<ControlData>) -> HttpResponse {
    d.mc.connections().reset();
    HttpResponse::NoContent().finish()
}

async fn get_latency(d: web::Data<ControlData>) -> HttpResponse {
    HttpResponse::Ok().json(d.mc.latency())
}

async fn put_latency(d: web::Data<ControlData>, body: Bytes) -> HttpResponse {
    match serde_json::from_slice::<LatencyModel>(&body) {
        Ok(model) => match model.check() {
            Ok(()) => {
                d.mc.set_latency(model);
                HttpResponse::Ok().json(model)
            }
            Err(e) => control_error(e),
        },
        Err(e) => control_error(format!("invalid latency model: {e}")),
    }
}

async fn get_scale(d: web::Data<ControlData>) -> HttpResponse {
    HttpResponse::Ok().json(d.mc.scale())
}

async fn put_scale(d: web::Data<ControlData>, body: Bytes) -> HttpResponse {
    match serde_json::from_slice::<Option<scale::Scale>>(&body) {
        Ok(scale) => {
            if let Some(Err(e)) = scale.as_ref().map(scale::Scale::check) {
                return control_error(e);
            }
            let seed = d.control.seed();
            let mc = d.mc.clone();
            // Generating a large scale takes seconds: off the server's threads.
            match web::block(move || mc.set_scale(scale, &seed)).await {
                Ok(()) => HttpResponse::Ok().json(scale),
                Err(e) => control_error(e.to_string()),
            }
        }
        Err(e) => control_error(format!("invalid scale: {e}")),
    }
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The problem+json answer of an error.
pub fn problem(e: &ApiError) -> HttpResponse {
    let id = request_id();
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut b = HttpResponse::build(status);
    b.insert_header((
        header::CONTENT_TYPE,
        "application/problem+json; charset=utf-8",
    ))
    .insert_header(("X-Request-Id", id.as_str()));
    if !e.allow.is_empty() {
        b.insert_header((header::ALLOW, e.allow.join(", ")));
    }
    b.body(e.body(&id).to_string())
}

fn reply(r: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let mut b = HttpResponse::build(status);
    b.insert_header(("X-Request-Id", request_id()));
    match r.body {
        Some(v) => b
            .insert_header((header::CONTENT_TYPE, "application/json; charset=utf-8"))
            .body(v.to_string()),
        None => b.finish(),
    }
}

async fn handle(req: HttpRequest, body: Bytes, mc: web::Data<Mailchimp>) -> HttpResponse {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let principal = match mc.inner.creds.authenticate(auth) {
        Ok(p) => p,
        Err(e) => return problem(&e),
    };
    let Some(_slot) = mc.inner.limiter.acquire(&principal) else {
        return problem(&ApiError::too_many_requests());
    };
    let path = req.path();
    let fault = mc
        .inner
        .faults
        .decide(System::Mailchimp, &Route::http(req.method().as_str(), path));
    if let Some(f) = &fault {
        note_fault(&req, f);
    }
    let corrupt = match apply_generic(fault.clone()).await {
        Applied::Proceed { corrupt } => corrupt,
        Applied::Respond(mut resp) => {
            if let Some(f) = &fault {
                mark_fault(&mut resp, f);
            }
            return resp;
        }
        Applied::Native(f) => {
            let mut resp = match &f {
                Fault::ServerError { status } => problem(&ApiError::internal(*status)),
                _ => problem(&ApiError::too_many_requests()),
            };
            mark_fault(&mut resp, &f);
            return resp;
        }
    };
    let sub = path.strip_prefix("/3.0").unwrap_or(path);
    let params = Params::parse(req.query_string());
    let api_req = Req {
        method: req.method().as_str(),
        path: sub,
        params: &params,
        body: &body,
    };
    let base = mc.base_url();
    let base = if base.is_empty() {
        let ci = req.connection_info();
        format!("{}://{}", ci.scheme(), ci.host())
    } else {
        base
    };
    let ctx = Ctx {
        now: Utc::now(),
        base_url: base,
        in_batch: false,
    };
    let mut resp = match mc.run(&ctx, &api_req) {
        Ok(r) => reply(r),
        Err(e) => problem(&e),
    };
    let bytes = match actix_web::body::MessageBody::size(resp.body()) {
        actix_web::body::BodySize::Sized(n) => n,
        _ => 0,
    };
    let delay = mc.latency().delay(bytes);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let (Some(mode), Some(f)) = (corrupt, &fault) {
        let ct = resp.headers().get(header::CONTENT_TYPE).cloned();
        let status = resp.status();
        let bytes = actix_web::body::to_bytes(resp.into_body())
            .await
            .unwrap_or_default();
        let mut r = HttpResponse::build(status);
        if let Some(ct) = ct {
            r.insert_header((header::CONTENT_TYPE, ct));
        }
        resp = r.body(corrupt_body(&bytes, mode));
        mark_fault(&mut resp, f);
    }
    resp
}

async fn batch_results(path: web::Path<String>, mc: web::Data<Mailchimp>) -> HttpResponse {
    let id = path.trim_end_matches(".tar.gz");
    let archive = mc.lock().batches.get(id).and_then(|b| b.archive.clone());
    match archive {
        Some(a) => HttpResponse::Ok()
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-gzip"),
            ))
            .body(a),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn run_batches(inner: std::sync::Weak<Inner>, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(id) = rx.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        let mc = Mailchimp { inner };
        run_batch(&mc, &id).await;
    }
}

fn set_status(mc: &Mailchimp, id: &str, status: &str) -> Option<Vec<state::BatchOp>> {
    let mut st = mc.lock();
    let b = st.batches.get_mut(id)?;
    b.status = status.to_owned();
    Some(b.operations.clone())
}

/// Runs one batch: each operation through the same dispatcher as direct calls.
async fn run_batch(mc: &Mailchimp, id: &str) {
    let step = Duration::from_millis(20);
    tokio::time::sleep(step).await;
    if set_status(mc, id, "preprocessing").is_none() {
        return;
    }
    tokio::time::sleep(step).await;
    let Some(ops) = set_status(mc, id, "started") else {
        return;
    };
    let mut results = Vec::with_capacity(ops.len());
    for op in &ops {
        let query = batches::params_query(&op.params);
        let params = Params::parse(&query);
        let path = op.path.strip_prefix("/3.0").unwrap_or(&op.path);
        let body = op.body.clone().unwrap_or_default();
        let req = Req {
            method: &op.method,
            path,
            params: &params,
            body: body.as_bytes(),
        };
        let ctx = Ctx {
            now: Utc::now(),
            base_url: mc.base_url(),
            in_batch: true,
        };
        let (status, json) = match mc.run(&ctx, &req) {
            Ok(r) => (r.status, r.body.unwrap_or(Value::Null)),
            Err(e) => (e.status, e.body(&request_id())),
        };
        results.push(batches::result(op, status, &json));
        {
            let mut st = mc.lock();
            if let Some(b) = st.batches.get_mut(id) {
                b.finished_operations += 1;
                if status >= 400 {
                    b.errored_operations += 1;
                }
            }
        }
        tokio::task::yield_now().await;
    }
    if set_status(mc, id, "finalizing").is_none() {
        return;
    }
    let archive = batches::archive(id, &results).ok();
    let mut st = mc.lock();
    if let Some(b) = st.batches.get_mut(id) {
        b.results = results;
        b.archive = archive;
        b.completed_at = Some(Utc::now());
        b.status = "finished".into();
    }
}
