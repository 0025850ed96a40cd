//! The embedded default as a newcomer runs it: the `ferry` binary (every service in one
//! process, in-process bus, SQLite) with its own sandboxes and demo integration, started in an
//! empty directory of its own. The sandboxes' control endpoints are the same as the standalone
//! sandbox's, so [`SandboxApi`] drives both.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ferry_test_support::ready::listener;

use crate::{Process, SandboxApi, binary, log_dir, wait_ready};

/// The demo integration the embedded default provisions between its sandboxes.
pub const DEMO_INTEGRATION: &str = "0193a0c4-0000-7000-8000-00000000de70";

/// A running `ferry` (embedded default). Dropping it kills the process.
#[derive(Debug)]
pub struct Embedded {
    process: Process,
    /// `http://127.0.0.1:<port>` of its admin server (every service's admin API and the
    /// dashboard).
    pub admin_url: String,
    /// Its sandboxes.
    pub sandbox: SandboxApi,
    dir: PathBuf,
}

impl Embedded {
    /// Starts `ferry` in `target/e2e-logs/<test>/ferry/` with the sandboxes and admin server on
    /// ports of its choosing, `env` added to its environment (e.g. poll intervals), and waits
    /// until it is ready.
    pub async fn start(
        test: &str,
        env: &[(&str, &str)],
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let logs = log_dir(test)?;
        let dir = logs.join("ferry");
        std::fs::create_dir_all(&dir)?;
        let mut environment: Vec<(String, String)> = [
            ("FERRY_ADMIN__LISTEN", "127.0.0.1:0"),
            ("FERRY_SANDBOX__MAILCHIMP_LISTEN", "127.0.0.1:0"),
            ("FERRY_SANDBOX__MPLUSKASSA_LISTEN", "127.0.0.1:0"),
        ]
        .iter()
        .chain(env)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        environment.dedup_by(|a, b| a.0 == b.0);
        let log = logs.join("ferry.log");
        let mut process =
            Process::new("ferry", binary("ferry")?, Vec::new(), environment, log).reporting();
        process.dir = Some(dir.clone());
        process.spawn()?;
        let reported = process.listeners().await?;
        let admin_url = reported.http_url(listener::ADMIN)?;
        let sandbox = SandboxApi::at(&reported, http.clone())?;
        wait_ready(&http, &mut process, &format!("{admin_url}/readyz")).await?;
        Ok(Self {
            process,
            admin_url,
            sandbox,
            dir,
        })
    }

    /// The admin token `ferry` generated on first start.
    pub fn token(&self) -> anyhow::Result<String> {
        let path = self.dir.join("ferry-data/admin-token");
        Ok(std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned())
    }

    /// The process.
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// Its working directory (`ferry-data/` inside).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
