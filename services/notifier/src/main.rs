//! `notifier`: the activity log, alerts and dashboard as a process of its own.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ferry_notifier::{Migrator, NotifierConfig, SERVICE};
use ferry_platform::{config, service};

/// Ferry's notifier: activity log, alerts and dashboard.
#[derive(Debug, Parser)]
#[command(name = "notifier", version, about)]
struct Cli {
    /// Configuration file (TOML); `FERRY_CONFIG` names one too. `FERRY_*` variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config: NotifierConfig = config::load(SERVICE, cli.config.as_deref())?;
    let common = config.common.clone();
    service::run_standalone::<Migrator, _, _>(&common, Duration::from_secs(10), move |runtime| {
        ferry_notifier::start(runtime, config)
    })
    .await
}
