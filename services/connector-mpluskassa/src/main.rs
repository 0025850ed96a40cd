//! `connector-mpluskassa`: the MplusKASSA connector as its own process.

use std::time::Duration;

use ferry_connector_mpluskassa::{ConnectorConfig, Migrator, SERVICE, start};
use ferry_platform::{config, service};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = service::ServiceCli::parse_for(SERVICE, "Ferry's MplusKASSA connector");
    let config: ConnectorConfig = config::load(SERVICE, cli.config.as_deref())?;
    let common = config.common.clone();
    service::run_command::<Migrator, _, _>(&cli, &common, Duration::from_secs(30), move |runtime| {
        start(runtime, config)
    })
    .await
    .map_err(anyhow::Error::from_boxed)
}
