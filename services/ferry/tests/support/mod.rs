//! The real `ferry` binary started as a newcomer would, in an empty directory, asked over
//! HTTP, and stopped with SIGTERM; and the WebDriver client of the dashboard tests.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub use ferry_test_support::webdriver;

use ferry_test_support::ready;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Ferry {
    child: Child,
    pub base: String,
    dir: std::path::PathBuf,
    /// Everything it logged so far (stderr is drained all along: a full pipe would block it).
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    drain: std::thread::JoinHandle<()>,
    /// The MailChimp sandbox's API base URL, when the sandboxes run.
    pub sandbox_mailchimp: Option<String>,
    /// The MplusKASSA sandbox's SOAP endpoint, when the sandboxes run.
    pub sandbox_mpluskassa: Option<String>,
    /// What it reported in its ready file (its process id, every listener's address).
    pub reported: ready::Ready,
}

impl Ferry {
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// Starts it with extra environment variables (`FERRY_...` settings).
    pub fn start_with(dir: &Path, env: &[(&str, &str)]) -> Self {
        // Port 0 everywhere: `ferry` reports the ports it got in its ready file.
        let ready_file = dir.join("ready.json");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .current_dir(dir)
            .env("FERRY_ADMIN__LISTEN", "127.0.0.1:0")
            .env("FERRY_SANDBOX__MAILCHIMP_LISTEN", "127.0.0.1:0")
            .env("FERRY_SANDBOX__MPLUSKASSA_LISTEN", "127.0.0.1:0")
            .env(ready::ENV, &ready_file)
            .env("RUST_LOG", "info")
            .env_remove("FERRY_CONFIG")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let drain = {
            let logs = logs.clone();
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut logs = logs.lock().unwrap();
                    logs.push_str(&line);
                    logs.push('\n');
                }
            })
        };
        let pid = child.id();
        let reported = ready::ReadyWait::new(&ready_file, pid, Duration::from_secs(60), || {
            match child.try_wait() {
                Ok(None) => Ok(()),
                Ok(Some(status)) => Err(format!(
                    "ferry exited ({status}); its log:\n{}",
                    logs.lock().unwrap()
                )),
                Err(e) => Err(e.to_string()),
            }
        })
        .blocking()
        .unwrap_or_else(|e| panic!("ferry reports its listeners within a minute: {e}"));
        let base = reported.http_url(ready::listener::ADMIN).unwrap();
        // The sandboxes' addresses, when they run.
        let sandbox_mailchimp = reported
            .addr(ready::listener::SANDBOX_MAILCHIMP)
            .ok()
            .map(|addr| format!("http://{addr}/3.0"));
        let sandbox_mpluskassa = reported
            .addr(ready::listener::SANDBOX_MPLUSKASSA)
            .ok()
            .map(|addr| format!("http://{addr}/"));
        Self {
            child,
            base,
            dir: dir.to_path_buf(),
            logs,
            drain,
            sandbox_mailchimp,
            sandbox_mpluskassa,
            reported,
        }
    }

    /// GET `path` with the admin token, as JSON.
    pub async fn get_json(&self, http: &reqwest::Client, path: &str) -> serde_json::Value {
        ferry_test_support::get_json(http, format!("{}{path}", self.base), &self.token()).await
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.join("ferry-data/admin-token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// SIGTERM, then the exit status and everything it logged.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "ferry did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let _ = self.drain.join();
        let logs = std::mem::take(&mut *self.logs.lock().unwrap());
        (status, logs)
    }
}

/// Runs `ferry integration <args> --url <admin>` in `dir` (the token from its
/// `ferry-data/admin-token`, never from the environment) with the variables `env`.
pub fn integration_cli(
    dir: &Path,
    admin: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .current_dir(dir)
        .arg("integration")
        .args(args)
        .args(["--url", admin])
        .env_remove("FERRY_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// A fresh directory for one `ferry` (never one per process: under `cargo test` the tests of
/// a binary run as threads of one process, and a shared directory let one test read, or
/// delete, another's `ferry-data/`).
pub fn temp_dir() -> std::path::PathBuf {
    ferry_test_support::unique_dir("ferry-embedded")
}
