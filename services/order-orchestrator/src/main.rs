//! The `order-orchestrator` binary: configuration, then the service on its own.
//!
//! `FERRY_ORCHESTRATOR_CRASH_AT=<point>` (tests only) stops the process at a crash point
//! so that a test can kill it there; see `ferry_order_orchestrator::crash`.

use std::time::Duration;

use ferry_order_orchestrator::{Migrator, OrchestratorConfig, SERVICE, crash};
use ferry_platform::{config, service};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = service::ServiceCli::parse_for(SERVICE, "Ferry's order orchestrator.");
    if let Some(point) = std::env::var(crash::CRASH_AT_ENV)
        .ok()
        .filter(|p| !p.is_empty())
    {
        crash::arm(&point);
    }
    let config: OrchestratorConfig = config::load(SERVICE, cli.config.as_deref())?;
    let common = config.common.clone();
    service::run_command::<Migrator, _, _>(&cli, &common, Duration::from_secs(10), |runtime| {
        ferry_order_orchestrator::start(runtime, config)
    })
    .await
    .map_err(anyhow::Error::from_boxed)
}
