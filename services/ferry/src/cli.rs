//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::FerryConfig;

/// Ferry keeps a MailChimp store and audience and an MplusKASSA point of sale in sync.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about)]
pub struct Cli {
    /// Configuration file (TOML); `FERRY_CONFIG` names one too. `FERRY_*` variables override it.
    #[arg(long, global = true, env = "FERRY_CONFIG")]
    config: Option<PathBuf>,

    /// Where `run` reports the addresses its admin server and sandboxes bound
    /// (`FERRY_READY_FILE`; see `ferry_ready_file`).
    #[command(flatten)]
    ready: ferry_ready_file::ReadyFileArg,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs every service in this process (the embedded default). This is what `ferry` does
    /// without a subcommand.
    Run,
    /// Loads and validates the configuration, prints every problem, and exits.
    CheckConfig,
    /// Applies the database migrations of every service and exits (a Job before a rollout).
    Migrate,
    /// Prints the route table (which service owns each path prefix behind one entry point,
    /// e.g. the Kubernetes Ingress) as JSON.
    Routes,
    /// Manages integrations (create, test, list, pause, resume, delete) and follows their syncs
    /// (progress) through the admin API of a running Ferry.
    Integration(Box<crate::integration_cli::IntegrationArgs>),
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command.unwrap_or(Command::Run) {
            // Talks to a running Ferry over HTTP: no configuration of its own.
            Command::Integration(args) => args.run().await,
            Command::Run => {
                crate::embedded::run(FerryConfig::load(self.config.as_deref())?, &self.ready).await
            }
            Command::Migrate => {
                crate::embedded::migrate(&FerryConfig::load(self.config.as_deref())?).await
            }
            Command::Routes => {
                print!("{}", ferry_platform::routes::to_json());
                Ok(())
            }
            Command::CheckConfig => {
                FerryConfig::load(self.config.as_deref())?;
                println!("configuration is valid");
                Ok(())
            }
        }
    }
}
