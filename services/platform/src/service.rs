//! How a service plugs into a process: alone in its own binary ([`run_standalone`]), or beside
//! the others in the all-in-one `ferry`, which starts each service on one shared [`Runtime`].
//!
//! A service crate exposes `pub async fn start(runtime: Runtime, config: ItsConfig) ->
//! Result<Started, ServiceError>`: it declares its queues, subscribes its handlers, spawns its
//! background tasks (each watching `runtime.shutdown`), and hands back its admin routes and
//! readiness checks in [`Started`]. Its `main.rs` is then a few lines around
//! [`run_standalone`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use ferry_ready_file::{Ready, ReadyFileArg, listener};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa::openapi::OpenApi as OpenApiDoc;

use crate::admin::{AdminServer, AdminServerBuilder, ReadinessCheck};
use crate::bus::{self, Bus, BusReadiness, SubscriptionHandle};
use crate::config::CommonConfig;
use crate::db::{self, DbReadiness};
use crate::{shutdown, telemetry};

/// What the host process gives every service it starts.
#[derive(Clone)]
pub struct Runtime {
    /// The database (with every migration of the process applied).
    pub db: DatabaseConnection,
    /// The bus.
    pub bus: Arc<dyn Bus>,
    /// Cancelled when the process is asked to stop.
    pub shutdown: CancellationToken,
}

type Configure = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// What a started service hands back to its host.
#[derive(Default)]
pub struct Started {
    apis: Vec<(Configure, OpenApiDoc)>,
    public: Vec<Configure>,
    readiness: Vec<(String, Arc<dyn ReadinessCheck>)>,
    tasks: Vec<JoinHandle<()>>,
    subscriptions: Vec<SubscriptionHandle>,
}

impl Started {
    /// Admin routes (relative to `/api/v1`) and their OpenAPI description.
    pub fn api<F>(mut self, configure: F, openapi: OpenApiDoc) -> Self
    where
        F: Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
    {
        self.apis.push((Arc::new(configure), openapi));
        self
    }

    /// Routes outside `/api/v1` served without a token (see [`AdminServerBuilder::public`]):
    /// only for assets that hold no data, such as a dashboard's HTML and script.
    pub fn public<F>(mut self, configure: F) -> Self
    where
        F: Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
    {
        self.public.push(Arc::new(configure));
        self
    }

    /// A readiness check shown in `/readyz`.
    pub fn readiness(mut self, name: impl Into<String>, check: Arc<dyn ReadinessCheck>) -> Self {
        self.readiness.push((name.into(), check));
        self
    }

    /// A background task; it must end once `Runtime::shutdown` is cancelled.
    pub fn task(mut self, task: JoinHandle<()>) -> Self {
        self.tasks.push(task);
        self
    }

    /// A consumer, stopped (drained) at shutdown.
    pub fn subscription(mut self, subscription: SubscriptionHandle) -> Self {
        self.subscriptions.push(subscription);
        self
    }

    /// Adds everything of `other` (the all-in-one host merges its services).
    pub fn merge(mut self, other: Started) -> Self {
        self.apis.extend(other.apis);
        self.public.extend(other.public);
        self.readiness.extend(other.readiness);
        self.tasks.extend(other.tasks);
        self.subscriptions.extend(other.subscriptions);
        self
    }

    /// Mounts the routes and readiness checks on an admin server.
    pub fn mount(&self, mut builder: AdminServerBuilder) -> AdminServerBuilder {
        for (configure, openapi) in &self.apis {
            let configure = configure.clone();
            builder = builder.api(move |cfg| configure(cfg), openapi.clone());
        }
        for configure in &self.public {
            let configure = configure.clone();
            builder = builder.public(move |cfg| configure(cfg));
        }
        for (name, check) in &self.readiness {
            builder = builder.readiness(name.clone(), check.clone());
        }
        builder
    }

    /// Drains the consumers (up to `drain`), then waits for the background tasks, which stop
    /// on the runtime's shutdown token.
    pub async fn stop(self, drain: Duration) {
        let stops = self
            .subscriptions
            .into_iter()
            .map(|subscription| subscription.stop(drain));
        futures::future::join_all(stops).await;
        for task in self.tasks {
            if tokio::time::timeout(drain, task).await.is_err() {
                tracing::warn!("a background task did not stop within the drain time");
            }
        }
    }
}

/// What starting or running a service fails with: the cause, boxed. This is the process
/// boundary (a binary's `main` reports it, with `anyhow` there); below it every module keeps
/// typed errors of its own.
pub type ServiceError = Box<dyn std::error::Error + Send + Sync>;

/// Connects what `common` describes: telemetry is the caller's; this opens the database, runs
/// the migrator `M`, connects the bus, and watches SIGINT/SIGTERM.
pub async fn connect<M: MigratorTrait>(
    service: &str,
    common: &CommonConfig,
) -> Result<Runtime, ServiceError> {
    let shutdown = shutdown::on_signal();
    let db = db::connect(&common.database).await?;
    db::prepare::<M>(&db, &common.database).await?;
    crate::metrics::global().add_probe(Arc::new(db::PoolProbe::new(
        db.clone(),
        common.database.max_connections,
    )));
    let bus = bus::from_config(
        &common.bus,
        service,
        Duration::from_secs(60),
        Some(db.clone()),
    )
    .await?;
    Ok(Runtime { db, bus, shutdown })
}

/// Readiness that fails once shutdown has begun, so that load balancers stop routing to a
/// draining process.
pub struct Running(pub CancellationToken);

#[async_trait::async_trait]
impl ReadinessCheck for Running {
    async fn check(&self) -> Result<(), String> {
        if self.0.is_cancelled() {
            Err("shutting down".to_owned())
        } else {
            Ok(())
        }
    }
}

/// The command line every service binary shares:
/// `<service> [--config FILE] [--ready-file PATH] [run | check-config | migrate]`.
#[derive(Debug, clap::Parser)]
pub struct ServiceCli {
    /// Configuration file (TOML); `FERRY_CONFIG` names one too. `FERRY_*` variables override it.
    #[arg(long, global = true)]
    pub config: Option<std::path::PathBuf>,
    /// Where `run` reports the address its admin server bound (`FERRY_READY_FILE`; see
    /// `ferry_ready_file`).
    #[command(flatten)]
    pub ready: ReadyFileArg,
    /// What to do (default: `run`).
    #[command(subcommand)]
    pub command: Option<ServiceCommand>,
}

/// A service binary's subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum ServiceCommand {
    /// Runs the service (the default).
    Run,
    /// Loads and validates the configuration (file and `FERRY_*` environment), prints every
    /// problem, and exits: non-zero when it is invalid.
    CheckConfig,
    /// Applies the service's database migrations and exits (run it as a Job before a
    /// rollout); refuses a schema newer than this build.
    Migrate,
}

impl ServiceCli {
    /// Parses the process arguments for the binary `service` (exits on `--help` or an error).
    pub fn parse_for(service: &'static str, about: &'static str) -> Self {
        let command = <Self as clap::CommandFactory>::command()
            .name(service)
            .about(about)
            .version(env!("CARGO_PKG_VERSION"));
        let matches = command.get_matches();
        <Self as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Runs the command of `cli` for a service whose configuration is loaded (a configuration
/// error has already ended the process): `check-config` reports success, `migrate` migrates,
/// `run` runs the service ([`run_standalone`]).
pub async fn run_command<M, F, Fut>(
    cli: &ServiceCli,
    common: &CommonConfig,
    drain: Duration,
    start: F,
) -> Result<(), ServiceError>
where
    M: MigratorTrait,
    F: FnOnce(Runtime) -> Fut,
    Fut: Future<Output = Result<Started, ServiceError>>,
{
    match cli.command.unwrap_or(ServiceCommand::Run) {
        ServiceCommand::CheckConfig => {
            println!("configuration of {} is valid", common.service_name);
            Ok(())
        }
        ServiceCommand::Migrate => migrate_only::<M>(common).await,
        ServiceCommand::Run => run_standalone::<M, F, Fut>(common, &cli.ready, drain, start).await,
    }
}

/// Applies the migrations of `M` to the database of `common` and returns.
pub async fn migrate_only<M: MigratorTrait>(common: &CommonConfig) -> Result<(), ServiceError> {
    let _telemetry = telemetry::init(&common.service_name, &common.telemetry);
    let db = db::connect(&common.database).await?;
    db::migrate::<M>(&db).await?;
    tracing::info!(service = %common.service_name, "migrations applied");
    db.close().await.ok();
    Ok(())
}

/// Runs one service as its own process until SIGINT/SIGTERM: telemetry, database and
/// migrations, bus, the service, its admin server (with bus and database readiness; its bound
/// address then goes to the ready file when `ready` names one), then a drain at shutdown:
/// `drain_seconds` from the configuration, else `drain`.
pub async fn run_standalone<M, F, Fut>(
    common: &CommonConfig,
    ready: &ReadyFileArg,
    drain: Duration,
    start: F,
) -> Result<(), ServiceError>
where
    M: MigratorTrait,
    F: FnOnce(Runtime) -> Fut,
    Fut: Future<Output = Result<Started, ServiceError>>,
{
    let service = common.service_name.clone();
    let drain = common.drain(drain);
    let _telemetry = telemetry::init(&service, &common.telemetry);
    let runtime = connect::<M>(&service, common).await?;
    let started = start(runtime.clone()).await?;
    let admin = started
        .mount(AdminServer::builder(&service, &common.admin))
        .readiness("bus", Arc::new(BusReadiness(runtime.bus.clone())))
        .readiness("database", Arc::new(DbReadiness::new(runtime.db.clone())))
        .readiness("running", Arc::new(Running(runtime.shutdown.clone())))
        .bind()?;
    tracing::info!(service, admin = %admin.local_addr(), "started");
    ready.write(&Ready::of_this_process().listener(listener::ADMIN, admin.local_addr()))?;

    runtime.shutdown.cancelled().await;
    started.stop(drain).await;
    runtime.bus.shutdown(drain).await;
    // The admin server stops after the drain: its workers run their own runtimes, and database
    // connections they opened die with them, which would fail the drain's last writes. Until
    // then `/readyz` answers "not ready" (the `running` check) and `/metrics` stays readable.
    if let Err(error) = admin.stop().await {
        tracing::warn!(%error, "admin server did not stop cleanly");
    }
    runtime.db.close().await.ok();
    tracing::info!(service, "stopped");
    Ok(())
}
