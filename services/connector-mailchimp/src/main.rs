//! The `connector-mailchimp` binary: the MailChimp connector on its own.

use std::time::Duration;

use ferry_connector_mailchimp::{ConnectorConfig, Migrator, SERVICE};
use ferry_platform::{config, service};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = service::ServiceCli::parse_for(
        SERVICE,
        "Ferry's MailChimp connector: MailChimp changes in, canonical commands executed.",
    );
    let config: ConnectorConfig = config::load(SERVICE, cli.config.as_deref())?;
    let common = config.common.clone();
    service::run_command::<Migrator, _, _>(&cli, &common, Duration::from_secs(30), move |runtime| {
        ferry_connector_mailchimp::start(runtime, config)
    })
    .await
    .map_err(anyhow::Error::from_boxed)
}
