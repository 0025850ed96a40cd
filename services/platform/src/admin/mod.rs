//! The admin HTTP server every service runs (actix-web).
//!
//! | route | auth | what |
//! | --- | --- | --- |
//! | `GET /healthz` | none | liveness: `{"status":"ok"}` |
//! | `GET /readyz` | none | readiness: runs every [`ReadinessCheck`], `200` or `503` |
//! | `GET /metrics` | none | Prometheus metrics (see [`health`] for why no token) |
//! | `GET /api/v1/openapi.json` | read | the OpenAPI document |
//! | `GET /api/v1/audit` | operator | the newest state-changing calls of this process ([`audit`]) |
//! | `/api/v1/…` | read for `GET`, operator otherwise | the service's own admin API |
//! | routes added with [`AdminServerBuilder::public`] | none | assets holding no data (a dashboard's HTML and script, which call `/api/v1` with a token) |
//!
//! Errors are [`ApiError`]s, sent as `{message, code, type, link}` (see [`errors`]); bad JSON
//! bodies, queries and paths in the service's handlers become `invalid_request` errors too,
//! and unknown routes `not_found`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use actix_web::{HttpResponse, web};
//! use ferry_platform::admin::{AdminServer, ApiError, OperatorAccess, ReadAccess};
//! use ferry_platform::config::AdminConfig;
//! use utoipa::OpenApi;
//!
//! /// Lists dead letters.
//! #[utoipa::path(get, path = "/dead-letters", responses((status = 200)))]
//! async fn list(_who: ReadAccess) -> Result<HttpResponse, ApiError> {
//!     Ok(HttpResponse::Ok().json(Vec::<String>::new()))
//! }
//!
//! /// Replays one dead letter.
//! #[utoipa::path(post, path = "/dead-letters/{id}/replay", responses((status = 202)))]
//! async fn replay(OperatorAccess(who): OperatorAccess, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
//!     tracing::info!(by = %who.name, id = %id, "replay requested");
//!     Ok(HttpResponse::Accepted().finish())
//! }
//!
//! #[derive(OpenApi)]
//! #[openapi(paths(list, replay))]
//! struct MapperApi;
//!
//! # async fn run(config: AdminConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let server = AdminServer::builder("mapper", &config)
//!     // .readiness("database", Arc::new(ferry_platform::db::DbReadiness::new(db.clone())))
//!     .api(
//!         |cfg| {
//!             cfg.route("/dead-letters", web::get().to(list))
//!                 .route("/dead-letters/{id}/replay", web::post().to(replay));
//!         },
//!         MapperApi::openapi(),
//!     )
//!     .bind()?;
//! tracing::info!(addr = %server.local_addr(), "admin server listening");
//! // … on shutdown:
//! server.stop().await?;
//! # Ok(()) }
//! ```

pub mod audit;
pub mod auth;
pub mod dead_letters;
pub mod errors;
pub mod health;
pub mod mask;
pub mod openapi;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpServer, web};
use tokio::task::JoinHandle;
use tracing::Instrument;
use utoipa::openapi::OpenApi as OpenApiDoc;

pub use self::auth::{OperatorAccess, Principal, ReadAccess, Tokens};
pub use self::errors::{ApiError, ErrorBody, ErrorCode, ErrorType};
pub use self::health::ReadinessCheck;
pub use self::openapi::{API_PREFIX, SECURITY_SCHEME};
pub use crate::config::Scope;

use self::health::Readiness;
use self::openapi::Document;

/// Default bound of each readiness check.
pub const DEFAULT_READINESS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a graceful stop waits for in-flight requests.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

type Configure = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// Why the admin server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key ([`crate::config::AdminConfig::tls`]) cannot be used.
    #[error("admin TLS: {0}")]
    Tls(String),
    /// [`AdminServerBuilder::bind`] was called outside a Tokio runtime.
    #[error("the admin server must be started inside a Tokio runtime")]
    NoRuntime,
    /// The OpenAPI document could not be serialized.
    #[error("cannot serialize the OpenAPI document")]
    OpenApi(#[source] ApiError),
    /// Two of the service's documents define one component schema differently
    /// ([`openapi::schema_conflicts`]).
    #[error("OpenAPI schemas defined differently by two documents: {}", .0.join(", "))]
    SchemaConflict(Vec<String>),
    /// A route of the service is sent elsewhere by the route table.
    #[error(transparent)]
    Unrouted(#[from] crate::routes::Unrouted),
    /// The server failed while running.
    #[error("the admin server failed")]
    Server(#[source] std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("the admin server task ended abnormally")]
    Task(#[source] tokio::task::JoinError),
}

/// Entry point: [`AdminServer::builder`].
#[derive(Debug)]
pub struct AdminServer;

impl AdminServer {
    /// A builder for `service_name`'s admin server, listening on `config.listen` and
    /// accepting `config.tokens`.
    pub fn builder(service_name: &str, config: &crate::config::AdminConfig) -> AdminServerBuilder {
        AdminServerBuilder {
            service_name: service_name.to_owned(),
            listen: config.listen,
            tokens: Tokens::new(&config.tokens).with_failure_limit(config.auth_failures_per_minute),
            max_body_bytes: config.max_body_bytes,
            checks: Vec::new(),
            readiness_timeout: DEFAULT_READINESS_TIMEOUT,
            apis: Vec::new(),
            docs: Vec::new(),
            public: Vec::new(),
            workers: 2,
            tls: config.tls.clone(),
        }
    }
}

/// Configures and starts an admin server.
pub struct AdminServerBuilder {
    service_name: String,
    listen: SocketAddr,
    tokens: Tokens,
    max_body_bytes: usize,
    checks: Vec<(String, Arc<dyn ReadinessCheck>)>,
    readiness_timeout: Duration,
    apis: Vec<Configure>,
    docs: Vec<OpenApiDoc>,
    public: Vec<Configure>,
    workers: usize,
    tls: Option<crate::config::AdminTls>,
}

impl std::fmt::Debug for AdminServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminServerBuilder")
            .field("service_name", &self.service_name)
            .field("listen", &self.listen)
            .field(
                "checks",
                &self
                    .checks
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("apis", &self.apis.len())
            .finish_non_exhaustive()
    }
}

impl AdminServerBuilder {
    /// Adds a readiness check shown as `name` in `/readyz`.
    pub fn readiness(mut self, name: impl Into<String>, check: Arc<dyn ReadinessCheck>) -> Self {
        self.checks.push((name.into(), check));
        self
    }

    /// Bounds each readiness check (default [`DEFAULT_READINESS_TIMEOUT`]).
    pub fn readiness_timeout(mut self, timeout: Duration) -> Self {
        self.readiness_timeout = timeout;
        self
    }

    /// Mounts the service's routes under `/api/v1` (behind the token check) and nests
    /// `openapi` (whose paths are relative to `/api/v1`) into the served document.
    ///
    /// `configure` runs once per worker thread: put shared state in with
    /// `cfg.app_data(data.clone())` where `data` is a `web::Data` created outside. May be
    /// called more than once.
    pub fn api<F>(mut self, configure: F, openapi: OpenApiDoc) -> Self
    where
        F: Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
    {
        self.apis.push(Arc::new(configure));
        self.docs.push(openapi);
        self
    }

    /// Mounts routes outside `/api/v1`, served **without** a token: only for assets that hold
    /// no data (a dashboard's HTML, script and style, which then call the authenticated API).
    /// Paths are absolute (e.g. `/dashboard`); they must not start with `/api/`.
    pub fn public<F>(mut self, configure: F) -> Self
    where
        F: Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
    {
        self.public.push(Arc::new(configure));
        self
    }

    /// Overrides the listen address of the configuration (tests use `127.0.0.1:0`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Number of worker threads (default 2; admin traffic is light).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// The OpenAPI document this server will serve (e.g. to write it to a file).
    pub fn openapi(&self) -> OpenApiDoc {
        openapi::build(&self.service_name, self.docs.clone())
    }

    /// Binds the listen address and starts serving in the background of the current Tokio
    /// runtime. Port 0 picks a free port: see [`RunningAdminServer::local_addr`].
    ///
    /// The server installs no signal handlers; the service stops it with
    /// [`RunningAdminServer::stop`] as part of its own shutdown.
    #[tracing::instrument(level = "debug", skip(self), fields(service = %self.service_name, listen = %self.listen))]
    pub fn bind(self) -> Result<RunningAdminServer, AdminError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AdminError::NoRuntime)?;
        let conflicts = openapi::schema_conflicts(&self.docs);
        if !conflicts.is_empty() {
            return Err(AdminError::SchemaConflict(conflicts));
        }
        let doc = self.openapi();
        crate::routes::check_openapi(&self.service_name, &doc)?;
        let document = openapi::render(&doc).map_err(AdminError::OpenApi)?;

        let tokens = self.tokens;
        let audit = web::Data::new(audit::AuditTrail::default());
        let max_body = self.max_body_bytes;
        let readiness = web::Data::new(Readiness {
            checks: self.checks,
            timeout: self.readiness_timeout,
        });
        let document = web::Data::new(Document(document));
        let apis: Arc<Vec<Configure>> = Arc::new(self.apis);
        let public: Arc<Vec<Configure>> = Arc::new(self.public);

        let server = HttpServer::new(move || {
            let apis = Arc::clone(&apis);
            let public = Arc::clone(&public);
            App::new()
                .app_data(tokens.clone())
                .app_data(audit.clone())
                .app_data(readiness.clone())
                .app_data(document.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(max_body)
                        .error_handler(|e, _| errors::json_error(e)),
                )
                .app_data(web::PayloadConfig::new(max_body))
                .app_data(
                    web::QueryConfig::default().error_handler(|e, _| errors::extractor_error(e)),
                )
                .app_data(
                    web::PathConfig::default().error_handler(|e, _| errors::extractor_error(e)),
                )
                .wrap(from_fn(trace_request))
                .route("/healthz", web::get().to(health::healthz))
                .route("/readyz", web::get().to(health::readyz))
                .route("/metrics", web::get().to(health::metrics))
                .service(
                    web::scope(API_PREFIX)
                        .wrap(from_fn(auth::require_token))
                        .route("/openapi.json", web::get().to(openapi::openapi_json))
                        .route("/audit", web::get().to(audit::audit))
                        .configure(move |cfg| {
                            for configure in apis.iter() {
                                configure(cfg);
                            }
                        }),
                )
                .configure(move |cfg| {
                    for configure in public.iter() {
                        configure(cfg);
                    }
                })
                .default_service(web::to(not_found))
        })
        .workers(self.workers)
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs());
        let server = match &self.tls {
            None => server.bind(self.listen),
            Some(tls) => server.bind_rustls_0_23(self.listen, tls::server_config(tls)?),
        }
        .map_err(|source| AdminError::Bind {
            addr: self.listen,
            source,
        })?;

        let addr = server.addrs().first().copied().unwrap_or(self.listen);
        let server = server.run();
        let handle = server.handle();
        let task = runtime.spawn(server);
        tracing::info!(%addr, tls = self.tls.is_some(), "admin server listening");
        Ok(RunningAdminServer { addr, handle, task })
    }
}

/// A started admin server.
#[derive(Debug)]
pub struct RunningAdminServer {
    addr: SocketAddr,
    handle: ServerHandle,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningAdminServer {
    /// The address actually bound (with the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A cloneable handle that can stop the server from elsewhere (`handle.stop(true).await`).
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Stops accepting connections, lets in-flight requests finish (up to
    /// [`SHUTDOWN_TIMEOUT`]) and waits for the server to end.
    pub async fn stop(self) -> Result<(), AdminError> {
        self.handle.stop(true).await;
        self.wait().await
    }

    /// Waits until the server ends (after a stop through a [`handle`](Self::handle)).
    pub async fn wait(self) -> Result<(), AdminError> {
        match self.task.await {
            Ok(result) => result.map_err(AdminError::Server),
            Err(e) => Err(AdminError::Task(e)),
        }
    }
}

/// Unknown routes: a `not_found` error body.
async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// One span per request; completion logged at debug level with status and latency.
async fn trace_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let span = tracing::info_span!(
        "admin_request",
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    match &result {
        Ok(response) => tracing::debug!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "admin request done"
        ),
        Err(e) => tracing::debug!(
            status = e.as_response_error().status_code().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "admin request refused"
        ),
    }
    result
}
