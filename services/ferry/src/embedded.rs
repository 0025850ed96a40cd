//! The embedded all-in-one runtime: one process, the in-process bus (or RabbitMQ when
//! configured), one SQLite file (or PostgreSQL), one admin server.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use anyhow::Context;
use ferry_platform::admin::dead_letters::{self, DeadLetterApi};
use ferry_platform::admin::{AdminServer, ApiError, ReadAccess};
use ferry_platform::bus::parking::ParkingLot;
use ferry_platform::bus::{self, BusMigration, BusReadiness};
use ferry_platform::config::{BusKind, Scope, Secret, TokenConfig};
use ferry_platform::db::{self, DbReadiness};
use ferry_platform::secrets::{self, Keyring, SecretError};
use ferry_platform::service::{self, Runtime, Started};
use ferry_platform::telemetry;
use ferry_ready_file::{Ready, ReadyFileArg, listener};
use ferry_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use rand::Rng;
use rand::distr::Alphanumeric;
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::config::FerryConfig;

/// Every table of every service in this process. Services add their migrations here as they
/// land; each migration is idempotent, so sharing one SQLite file is safe.
struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations: Vec<Box<dyn MigrationTrait>> = vec![
            Box::new(BusMigration),
            Box::new(ferry_platform::registry::MirrorMigration),
        ];
        migrations.extend(ferry_connector_mailchimp::migrations());
        migrations.extend(ferry_connector_mpluskassa::migrations());
        migrations.extend(ferry_mapper::migrations());
        migrations.extend(ferry_order_orchestrator::migrations());
        migrations.extend(ferry_notifier::migrations());
        // Migrations shared by several services (the connector kit's tables) run once here.
        db::unique_migrations(migrations)
    }

    fn migration_table_name() -> sea_orm::DynIden {
        db::service_migration_table("ferry")
    }
}

/// What `GET /api/v1/status` answers.
#[derive(Debug, Serialize, ToSchema)]
struct Status {
    /// Ferry's version.
    version: &'static str,
    /// `in_process` or `rabbitmq`.
    bus: &'static str,
    /// `sqlite` or `postgres`.
    database: &'static str,
    /// The MailChimp simulator's API base URL, when the sandboxes run.
    sandbox_mailchimp: Option<String>,
    /// The MplusKASSA simulator's SOAP endpoint, when the sandboxes run.
    sandbox_mpluskassa: Option<String>,
}

/// The runtime's status.
#[utoipa::path(get, path = "/status", tag = "ferry", responses((status = 200, body = Status)))]
async fn status(_who: ReadAccess, state: web::Data<Status>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.get_ref()))
}

#[derive(OpenApi)]
#[openapi(paths(status), components(schemas(Status)))]
struct FerryApi;

/// `ferry migrate`: the migrations of every service, then exit.
pub(crate) async fn migrate(config: &FerryConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    service::migrate_only::<Migrator>(&config.common)
        .await
        .map_err(anyhow::Error::from_boxed)
}

/// Runs until SIGINT or SIGTERM, then drains and exits. Once the sandboxes and the admin
/// server listen, their addresses go to the ready file when `ready` names one.
pub async fn run(config: FerryConfig, ready: &ReadyFileArg) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(&config.common.service_name, &config.common.telemetry);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let runtime = service::connect::<Migrator>("ferry", &config.common)
        .await
        .map_err(anyhow::Error::from_boxed)?;

    let mut admin = config.common.admin.clone();
    if admin.tokens.is_empty() {
        let token = local_admin_token(&config.data_dir)?;
        tracing::info!(
            file = %config.data_dir.join(ADMIN_TOKEN_FILE).display(),
            "no admin token configured: generated one for this machine"
        );
        admin.tokens.push(TokenConfig {
            name: "local-admin".to_owned(),
            token,
            scope: Scope::Operator,
            integrations: Vec::new(),
        });
    }

    let sandbox = if config.sandbox.enabled {
        let handle = Sandbox::start(SandboxConfig {
            mailchimp_listen: config.sandbox.mailchimp_listen,
            mpluskassa_listen: config.sandbox.mpluskassa_listen,
            ..SandboxConfig::default()
        })
        .await
        .context("cannot start the sandboxes (set sandbox.enabled = false to run without)")?;
        println!("sandbox mailchimp {}", handle.mailchimp_url);
        println!("sandbox mpluskassa {}", handle.mpluskassa_url);
        Some(handle)
    } else {
        None
    };

    let mut config = config;
    allow_egress(&mut config, sandbox.as_ref());
    if let Some(sandbox) = &sandbox
        && config.sandbox.demo_integration
        && provision_demo(&mut config, sandbox)?
    {
        demo_settings(&runtime, sandbox).await?;
    }
    let started = start_host(&runtime, &config, sandbox.as_ref()).await?;
    let server = started
        .mount(AdminServer::builder(&config.common.service_name, &admin))
        .readiness("bus", Arc::new(BusReadiness(runtime.bus.clone())))
        .readiness("database", Arc::new(DbReadiness::new(runtime.db.clone())))
        .readiness(
            "running",
            Arc::new(service::Running(runtime.shutdown.clone())),
        )
        .bind()?;
    // One line on stdout for people; programs read the ready file.
    println!("ferry admin listening on http://{}", server.local_addr());
    let mut listening = Ready::of_this_process().listener(listener::ADMIN, server.local_addr());
    if let Some(sandbox) = &sandbox {
        listening = listening
            .listener(listener::SANDBOX_MAILCHIMP, sandbox.mailchimp_addr)
            .listener(listener::SANDBOX_MPLUSKASSA, sandbox.mpluskassa_addr);
    }
    ready.write(&listening)?;

    runtime.shutdown.cancelled().await;
    let drain = config.common.drain(Duration::from_secs(10));
    started.stop(drain).await;
    runtime.bus.shutdown(drain).await;
    // After the drain: see `service::run_standalone`.
    if let Err(error) = server.stop().await {
        tracing::warn!(%error, "admin server did not stop cleanly");
    }
    runtime.db.close().await.ok();
    if let Some(sandbox) = sandbox {
        sandbox.stop().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// What the host itself runs beside the services: its status route, the parking lot of every
/// service's dead letters, and the inbox purge.
async fn start_host(
    runtime: &Runtime,
    config: &FerryConfig,
    sandbox: Option<&SandboxHandle>,
) -> anyhow::Result<Started> {
    let status = web::Data::new(Status {
        version: env!("CARGO_PKG_VERSION"),
        bus: match config.common.bus.kind {
            BusKind::InProcess => "in_process",
            BusKind::RabbitMq => "rabbitmq",
        },
        database: if config.common.database.url.expose().starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        },
        sandbox_mailchimp: sandbox.map(|s| s.mailchimp_url.clone()),
        sandbox_mpluskassa: sandbox.map(|s| s.mpluskassa_url.clone()),
    });
    let parking = ParkingLot::new(runtime.db.clone(), runtime.bus.clone());
    let mut started = Started::default()
        .api(
            move |cfg| {
                cfg.app_data(status.clone())
                    .route("/status", web::get().to(self::status));
            },
            FerryApi::openapi(),
        )
        .api(
            {
                let parking = parking.clone();
                move |cfg| dead_letters::configure(cfg, parking.clone())
            },
            DeadLetterApi::openapi(),
        )
        .task(bus::inbox::spawn_purge(
            runtime.db.clone(),
            Duration::from_secs(config.inbox_retention_days * 24 * 3600),
            Duration::from_secs(3600),
            runtime.shutdown.clone(),
        ));
    for taker in parking.watch_queues(&bus::queues::ALL).await? {
        started = started.subscription(taker);
    }

    // Every service, on the shared runtime.
    let (_notifier, notifier) = ferry_notifier::start_notifier(
        runtime.clone(),
        config.notifier.clone(),
        Some(parking.clone()),
    )
    .await
    .map_err(anyhow::Error::from_boxed)?;
    // One credentials keyring for the registry (mapper) and the connectors that open what it
    // sealed. The connectors subscribe before the mapper republishes the registry at its start.
    let keyring = credentials_keyring(&config.data_dir)?;
    let mut mailchimp = config.connector_mailchimp.clone();
    mailchimp.keyring = Some(keyring.clone());
    let mut mpluskassa = config.connector_mpluskassa.clone();
    mpluskassa.keyring = Some(keyring.clone());
    let mut mapper = config.mapper.clone();
    mapper.keyring = Some(keyring);
    let services = [
        notifier,
        ferry_connector_mailchimp::start(runtime.clone(), mailchimp)
            .await
            .map_err(anyhow::Error::from_boxed)?,
        ferry_connector_mpluskassa::start(runtime.clone(), mpluskassa)
            .await
            .map_err(anyhow::Error::from_boxed)?,
        ferry_mapper::start(runtime.clone(), mapper)
            .await
            .map_err(anyhow::Error::from_boxed)?,
        ferry_order_orchestrator::start(runtime.clone(), config.order_orchestrator.clone())
            .await
            .map_err(anyhow::Error::from_boxed)?,
    ];
    for service in services {
        started = started.merge(service);
    }
    Ok(started)
}

/// Adds the top-level `[egress]` to the connectors', the notifier's and the mapper's (the
/// registry's saved endpoints) own, and lets each connector (and the registry) reach exactly
/// its running sandbox (the addresses bound at start), in sandbox mode: plain `http://` to
/// that address, nothing else on loopback.
fn allow_egress(config: &mut FerryConfig, sandbox: Option<&SandboxHandle>) {
    let shared = config.egress.clone();
    for egress in [
        &mut config.connector_mailchimp.egress,
        &mut config.connector_mpluskassa.egress,
        &mut config.notifier.egress,
        &mut config.mapper.egress,
    ] {
        egress.allow.extend(shared.allow.iter().cloned());
        egress.sandbox |= shared.sandbox;
    }
    if let Some(sandbox) = sandbox {
        for (egress, address) in [
            (
                &mut config.connector_mailchimp.egress,
                sandbox.mailchimp_addr,
            ),
            (
                &mut config.connector_mpluskassa.egress,
                sandbox.mpluskassa_addr,
            ),
        ] {
            egress.allow.push(address.to_string());
            egress.sandbox = true;
        }
        let registry = &mut config.mapper.egress;
        for address in [sandbox.mailchimp_addr, sandbox.mpluskassa_addr] {
            registry.allow.push(address.to_string());
        }
        registry.sandbox = true;
    }
}

/// The integration `ferry run` syncs between its two sandboxes when nothing else is configured.
pub const DEMO_INTEGRATION_ID: &str = "0193a0c4-0000-7000-8000-00000000de70";

/// Points both connectors at the sandboxes (the seeded shop's store, audience and
/// installation) under [`DEMO_INTEGRATION_ID`], unless integrations are configured already: a
/// newcomer's `ferry run` then syncs customers, products, stock and orders at once. Returns
/// whether it did.
fn provision_demo(config: &mut FerryConfig, sandbox: &SandboxHandle) -> anyhow::Result<bool> {
    if !config.connector_mailchimp.integrations.is_empty()
        || !config.connector_mpluskassa.integrations.is_empty()
    {
        return Ok(false);
    }
    let seed = sandbox.control.seed();
    let mailchimp = serde_json::from_value(serde_json::json!({
        "integration_id": DEMO_INTEGRATION_ID,
        "api_key": ferry_sandbox::mailchimp::DEFAULT_API_KEY,
        "base_url": sandbox.mailchimp_url,
        "store_id": seed.shop.store_id,
        "list_id": seed.shop.list_id,
        "store_name": seed.shop.name,
        "currency_code": seed.shop.currency_code,
    }))
    .context("demo integration (MailChimp side)")?;
    let mpluskassa = serde_json::from_value(serde_json::json!({
        "integration_id": DEMO_INTEGRATION_ID,
        "endpoint": sandbox.mpluskassa_url,
        "ident": ferry_sandbox::DEFAULT_MPLUSKASSA_IDENT,
        "secret": ferry_sandbox::DEFAULT_MPLUSKASSA_SECRET,
    }))
    .context("demo integration (MplusKASSA side)")?;
    config.connector_mailchimp.integrations.push(mailchimp);
    config.connector_mpluskassa.integrations.push(mpluskassa);
    // Named for the dashboard and the alerts (it has no registry entry to announce its name).
    config
        .notifier
        .integrations
        .push(ferry_notifier::config::ConfiguredIntegration {
            id: DEMO_INTEGRATION_ID.to_owned(),
            name: format!("{} (demo)", seed.shop.name),
        });
    tracing::info!(
        integration = DEMO_INTEGRATION_ID,
        "demo integration between the sandboxes provisioned (sandbox.demo_integration = false to skip)"
    );
    Ok(true)
}

/// The demo integration's first settings, unless someone saved settings already: VAT codes
/// from the sandbox installation's own VAT groups (`NL:21` -> its code, ...; orders from other
/// countries use the standard rate's code), everything else at its default. Without them every
/// order is parked, as it must be for a real integration nobody has configured yet.
async fn demo_settings(runtime: &Runtime, sandbox: &SandboxHandle) -> anyhow::Result<()> {
    use ferry_mapper::settings::ValueMap;
    use ferry_mapper::store::{self as settings_store, Kind};
    let id = ferry_proto::IntegrationId::parse(DEMO_INTEGRATION_ID)?;
    let (version, _) = settings_store::current_versions(&runtime.db, id).await?;
    if version > 0 {
        return Ok(());
    }
    let seed = sandbox.control.seed();
    let country = &seed.shop.address.country_code;
    let mut vat_codes = ValueMap::default();
    for group in &seed.vat_groups {
        vat_codes.entries.insert(
            format!("{country}:{}", group.percentage),
            group.code.to_string(),
        );
    }
    vat_codes.default = seed
        .vat_groups
        .iter()
        .max_by_key(|g| g.percentage)
        .map(|g| g.code.to_string());
    let mut settings = ferry_mapper::Settings::default();
    settings.orders.vat_codes = vat_codes;
    settings_store::save(
        &runtime.db,
        id,
        Kind::Settings,
        &settings,
        "ferry run (demo integration)",
        Some("VAT codes from the sandbox installation".to_owned()),
        Some(0),
    )
    .await?;
    Ok(())
}

const ADMIN_TOKEN_FILE: &str = "admin-token";
const CREDENTIALS_KEY_FILE: &str = "credentials-key";

/// The keyring integration credentials are sealed with: `FERRY_CREDENTIALS_KEY` when set, else
/// this machine's key in the data directory, made (readable by the owner only) on first start.
fn credentials_keyring(data_dir: &Path) -> anyhow::Result<Keyring> {
    match Keyring::from_env() {
        Ok(keyring) => return Ok(keyring),
        Err(SecretError::Missing) => {}
        Err(e) => return Err(e).context(secrets::KEYRING_ENV),
    }
    let path = data_dir.join(CREDENTIALS_KEY_FILE);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Keyring::parse(existing.trim())
            .with_context(|| format!("credentials key in {}", path.display()));
    }
    let (keyring, text) = Keyring::generate("local")?;
    write_private(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(file = %path.display(), "no credentials key configured: generated one for this machine");
    Ok(keyring)
}

/// The admin token of this machine's embedded Ferry: read from the data directory, or made and
/// stored there (readable by the owner only) on first start.
fn local_admin_token(data_dir: &Path) -> anyhow::Result<Secret> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 32 {
            return Ok(Secret::new(existing));
        }
    }
    let token: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    write_private(&path, &token).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Secret::new(token))
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use ferry_platform::egress::EgressGuard;

    /// Issue 19: the embedded default reaches its sandboxes (plain http, loopback) out of the
    /// box, each connector exactly its own sandbox's address; the rest of loopback (this
    /// process's admin port) stays refused; the top-level `[egress]` reaches every guard.
    #[tokio::test]
    async fn each_connector_may_reach_exactly_its_sandbox() {
        let sandbox = Sandbox::start(SandboxConfig {
            mailchimp_listen: "127.0.0.1:0".parse().unwrap(),
            mpluskassa_listen: "127.0.0.1:0".parse().unwrap(),
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        let mut config = FerryConfig::default();
        config.egress.allow = vec!["10.1.0.0/16".into()];
        allow_egress(&mut config, Some(&sandbox));
        let url = |raw: &str| reqwest::Url::parse(raw).unwrap();
        let mailchimp = EgressGuard::new(&config.connector_mailchimp.egress).unwrap();
        let mpluskassa = EgressGuard::new(&config.connector_mpluskassa.egress).unwrap();
        let notifier = EgressGuard::new(&config.notifier.egress).unwrap();
        assert_eq!(
            mailchimp.check_credentialed_url(&url(&sandbox.mailchimp_url)),
            Ok(())
        );
        assert_eq!(
            mpluskassa.check_credentialed_url(&url(&sandbox.mpluskassa_url)),
            Ok(())
        );
        assert!(
            mailchimp
                .check_credentialed_url(&url(&sandbox.mpluskassa_url))
                .is_err()
        );
        assert!(
            mpluskassa
                .check_credentialed_url(&url(&sandbox.mailchimp_url))
                .is_err()
        );
        for guard in [&mailchimp, &mpluskassa] {
            assert!(
                guard
                    .check_credentialed_url(&url("http://127.0.0.1:8080/api/v1"))
                    .is_err()
            );
            assert_eq!(
                guard.check_credentialed_url(&url("http://10.1.2.3/")),
                Ok(())
            );
        }
        assert_eq!(notifier.check_url(&url("http://10.1.2.3/")), Ok(()));
        assert!(notifier.check_url(&url(&sandbox.mailchimp_url)).is_err());

        // Without the sandboxes, nothing internal but what is configured.
        let mut real = FerryConfig::default();
        allow_egress(&mut real, None);
        let guard = EgressGuard::new(&real.connector_mailchimp.egress).unwrap();
        assert!(!guard.sandbox());
        assert!(
            guard
                .check_credentialed_url(&url(&sandbox.mailchimp_url))
                .is_err()
        );
        sandbox.stop().await;
    }
}
