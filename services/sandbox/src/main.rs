//! `sandbox --mailchimp-listen ADDR --mpluskassa-listen ADDR [--mailchimp-api-key KEY]...
//! [--seed FILE | --empty] [--scale orders=N,products=N,customers=N,stores=N]
//! [--latency-fixed-ms MS] [--latency-per-kib-ms MS] [--ready-file PATH]`: serves both
//! simulators and prints their addresses, one line each (`mailchimp
//! http://127.0.0.1:PORT/3.0`, `mpluskassa http://127.0.0.1:PORT/`); with `--ready-file` (or
//! `FERRY_READY_FILE`) it also writes them there (`sandbox_mailchimp`, `sandbox_mpluskassa`;
//! see `ferry_ready_file`), which is what programs read.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use ferry_ready_file::{Ready, ReadyFileArg, listener};
use ferry_sandbox::mailchimp::scale::Scale;
use ferry_sandbox::mailchimp::{LatencyModel, MailchimpConfig};
use ferry_sandbox::seed::Seed;
use ferry_sandbox::{DEFAULT_MPLUSKASSA_IDENT, DEFAULT_MPLUSKASSA_SECRET, Sandbox, SandboxConfig};

#[derive(Parser, Debug)]
#[command(
    name = "sandbox",
    about = "Simulators of the MailChimp Marketing API and MplusKASSA for Ferry's tests"
)]
struct Args {
    /// Address of the MailChimp API (served under /3.0); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    mailchimp_listen: SocketAddr,
    /// Address of the MplusKASSA SOAP API; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    mpluskassa_listen: SocketAddr,
    /// An accepted MailChimp API key (`<secret>-<dc>`), repeatable; the first key's data
    /// center is the one served. Default: the demo integration's key and the webshop's.
    #[arg(long = "mailchimp-api-key", value_name = "KEY")]
    mailchimp_api_keys: Vec<String>,
    /// An accepted MailChimp OAuth access token, repeatable.
    #[arg(long = "mailchimp-oauth-token", value_name = "TOKEN")]
    mailchimp_oauth_tokens: Vec<String>,
    #[arg(long, default_value = DEFAULT_MPLUSKASSA_IDENT)]
    mpluskassa_ident: String,
    #[arg(long, default_value = DEFAULT_MPLUSKASSA_SECRET)]
    mpluskassa_secret: String,
    /// A seed JSON file (default: the embedded seed shop).
    #[arg(long, conflicts_with = "empty")]
    seed: Option<PathBuf>,
    /// Start with no records.
    #[arg(long)]
    empty: bool,
    /// Fill the MailChimp store(s) with generated records at this scale, e.g.
    /// `orders=100000,products=20000,customers=50000,stores=2` (deterministic, in memory).
    #[arg(long, conflicts_with = "empty")]
    scale: Option<Scale>,
    /// Latency of every MailChimp answer: a fixed part, in milliseconds ...
    #[arg(long, default_value_t = 0.0)]
    latency_fixed_ms: f64,
    /// ... plus this many milliseconds per KiB of the response body.
    #[arg(long, default_value_t = 0.0)]
    latency_per_kib_ms: f64,
    /// Where to report the addresses both listeners bound.
    #[command(flatten)]
    ready: ReadyFileArg,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seed = match &args.seed {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Seed::from_json(&bytes).with_context(|| format!("loading seed {}", path.display()))?
        }
        None => Seed::default_shop(),
    };
    let api_keys = if args.mailchimp_api_keys.is_empty() {
        MailchimpConfig::default().api_keys
    } else {
        args.mailchimp_api_keys
    };
    let config = SandboxConfig {
        mailchimp_listen: args.mailchimp_listen,
        mpluskassa_listen: args.mpluskassa_listen,
        mailchimp: MailchimpConfig {
            api_keys,
            oauth_tokens: args.mailchimp_oauth_tokens,
            latency: LatencyModel {
                fixed_ms: args.latency_fixed_ms.max(0.0),
                per_kib_ms: args.latency_per_kib_ms.max(0.0),
            },
            scale: args.scale,
            ..MailchimpConfig::default()
        },
        mpluskassa_ident: args.mpluskassa_ident,
        mpluskassa_secret: args.mpluskassa_secret,
        seed,
        empty: args.empty,
        ..SandboxConfig::default()
    };
    let handle = Sandbox::start(config)
        .await
        .context("starting the sandbox")?;
    println!("mailchimp {}", handle.mailchimp_url);
    println!("mpluskassa {}", handle.mpluskassa_url);
    args.ready.write(
        &Ready::of_this_process()
            .listener(listener::SANDBOX_MAILCHIMP, handle.mailchimp_addr)
            .listener(listener::SANDBOX_MPLUSKASSA, handle.mpluskassa_addr),
    )?;
    let stop = tokio::signal::ctrl_c();
    tokio::select! {
        r = stop => { r.context("waiting for Ctrl-C")?; }
    }
    handle.stop().await;
    Ok(())
}
