//! The `mapper` binary: the mapper service on its own.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ferry_mapper::{MapperConfig, Migrator, SERVICE};
use ferry_platform::{config, service};

/// Ferry's mapper: observed records in, the target's commands out.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Configuration file (TOML); defaults to `FERRY_CONFIG`.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: MapperConfig = config::load(SERVICE, args.config.as_deref())?;
    let common = config.common.clone();
    service::run_standalone::<Migrator, _, _>(&common, Duration::from_secs(30), move |runtime| {
        ferry_mapper::start(runtime, config)
    })
    .await
}
