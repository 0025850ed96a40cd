//! `connector-mpluskassa`: the MplusKASSA connector as its own process.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ferry_connector_mpluskassa::{ConnectorConfig, Migrator, SERVICE, start};
use ferry_platform::{config, service};

/// Command line.
#[derive(Parser)]
#[command(name = SERVICE, about = "Ferry's MplusKASSA connector")]
struct Cli {
    /// Configuration file (TOML); FERRY_CONFIG otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config: ConnectorConfig = config::load(SERVICE, cli.config.as_deref())?;
    let common = config.common.clone();
    service::run_standalone::<Migrator, _, _>(&common, Duration::from_secs(30), move |runtime| {
        start(runtime, config)
    })
    .await
}
