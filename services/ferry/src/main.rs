//! `ferry`: the operator's command line and the all-in-one runner.
//!
//! `ferry run` (the default) starts every service in one process on the in-process bus and a
//! SQLite file, with the sandboxes standing in for MailChimp and MplusKASSA: the embedded
//! default a newcomer starts with one command.

mod cli;
mod config;
mod embedded;
mod integration_cli;
mod progress_cli;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ferry")
        .build()?;
    runtime.block_on(cli.run())
}
