//! The `mapper` binary: the mapper service on its own.

use std::time::Duration;

use ferry_mapper::{MapperConfig, Migrator, SERVICE};
use ferry_platform::{config, service};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = service::ServiceCli::parse_for(
        SERVICE,
        "Ferry's mapper: observed records in, the target's commands out.",
    );
    let config: MapperConfig = config::load(SERVICE, cli.config.as_deref())?;
    let common = config.common.clone();
    service::run_command::<Migrator, _, _>(&cli, &common, Duration::from_secs(30), move |runtime| {
        ferry_mapper::start(runtime, config)
    })
    .await
    .map_err(anyhow::Error::from_boxed)
}
