//! `notifier`: the activity log, alerts and dashboard as a process of its own.

use std::time::Duration;

use ferry_notifier::{Migrator, NotifierConfig, SERVICE};
use ferry_platform::{config, service};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = service::ServiceCli::parse_for(
        SERVICE,
        "Ferry's notifier: activity log, alerts and dashboard.",
    );
    let config: NotifierConfig = config::load(SERVICE, cli.config.as_deref())?;
    let common = config.common.clone();
    service::run_command::<Migrator, _, _>(&cli, &common, Duration::from_secs(10), move |runtime| {
        ferry_notifier::start(runtime, config)
    })
    .await
    .map_err(anyhow::Error::from_boxed)
}
