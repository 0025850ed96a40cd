//! Ferry's end-to-end harness: the sandbox and the five services started as **separate
//! processes** (their real binaries) against the local RabbitMQ and PostgreSQL.
//!
//! - [`Cluster::start`] gives a test its own bus prefix and one PostgreSQL schema per service,
//!   starts the [`Sandbox`] and every [`Service`] (one or more instances each), and waits for
//!   their `/readyz`. Dropping the cluster kills every process (`kill -9`), deletes the
//!   test's queues and exchanges and drops the schemas.
//! - [`Service`]: spawn with a configuration file plus `FERRY_*` environment, readiness,
//!   [`Service::kill`] (SIGKILL), [`Service::restart`] with the same configuration and admin
//!   port. Every process logs (stdout and stderr) into
//!   `target/e2e-logs/<test>/<process>.log`, appended across restarts.
//! - Ports: the sandbox and every service listen on port 0 and report the port they got in
//!   their ready file (`<process>.ready.json` beside the log; `ferry_ready_file`), so no port
//!   is picked, released and hoped for. The mapper's configuration names the connectors'
//!   admin addresses: it starts once they reported them.
//! - [`Sandbox`]: the `sandbox` binary, with helpers for its `/_sandbox` control endpoints
//!   (state, seed, faults, requests) and a few calls of the simulated APIs.
//! - [`Integration`]: one integration's setup, made as an operator makes it: through the
//!   integration registry's admin API (credentials, settings, custom mappings, connection
//!   test, go-live; [`Cluster::configure_integration`]).
//!
//! The binaries are found next to the test executable (`target/<profile>/`); they are built
//! by `cargo nextest run --workspace` or `cargo build --bins`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use ferry_platform::db::testing::{TestDatabase, postgres_schema};
use ferry_sandbox::seed::Seed;
use ferry_test_support::ready::{self, Ready, ReadyWait, listener};
use serde_json::{Value, json};

mod embedded;
pub mod measure;
pub mod proxy;
pub use embedded::{DEMO_INTEGRATION, Embedded};

/// The RabbitMQ the tests use (override with `FERRY_TEST_AMQP_URL`).
pub use ferry_test_support::amqp_url;

/// The MailChimp API key the sandbox accepts by default, Ferry's.
pub const MAILCHIMP_API_KEY: &str = "0123456789abcdef0123456789abcdef-us1";
/// The webshop's own MailChimp API key (the sandbox accepts it by default too): orders are
/// placed with it, so the shop's requests never take the connection slots of Ferry's key.
pub const SHOP_API_KEY: &str = ferry_sandbox::mailchimp::SHOP_API_KEY;
/// The MplusKASSA credentials the sandbox accepts by default.
pub const MPLUSKASSA_IDENT: &str = "ferry-sandbox";
/// See [`MPLUSKASSA_IDENT`].
pub const MPLUSKASSA_SECRET: &str = "sandbox-secret";

/// How long a process may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// Binaries and paths
// ---------------------------------------------------------------------------------------

/// The directory holding the workspace's binaries: the test executable lives in
/// `target/<profile>/deps/`, the binaries in `target/<profile>/`.
pub fn binary_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the test executable")?;
    let deps = exe
        .parent()
        .ok_or_else(|| anyhow!("test executable {} has no directory", exe.display()))?;
    let dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().unwrap_or(deps)
    } else {
        deps
    };
    Ok(dir.to_path_buf())
}

/// The path of the workspace binary `name`, or an error naming it and the build command.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = binary_dir()?.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        bail!(
            "the binary `{name}` is missing at {}: build the service binaries first with \
             `cargo build --bins` (or run the whole suite with `cargo nextest run --workspace`)",
            path.display()
        )
    }
}

/// `target/e2e-logs/<test>/`, created empty.
fn log_dir(test: &str) -> anyhow::Result<PathBuf> {
    let profile = binary_dir()?;
    let target = profile.parent().unwrap_or(&profile);
    let dir = target.join("e2e-logs").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

// ---------------------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------------------

/// Polls `check` every 250 ms until it returns `Ok`, or fails after `timeout` with the last
/// reason it gave (`what` says what was awaited).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return Ok(value),
            Err(e) if Instant::now() >= deadline => {
                bail!("{what}: not reached within {timeout:?}; last: {e:#}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

/// One OS process of the cluster: binary, arguments and environment, kept to restart it.
#[derive(Debug)]
pub struct Process {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    /// The working directory (default: the caller's).
    dir: Option<PathBuf>,
    /// Where a Ferry binary reports its listeners (`FERRY_READY_FILE`), when it is one.
    ready_file: Option<PathBuf>,
    /// The length of the log when the process was last started: what it logged since.
    log_start: u64,
    child: Option<Child>,
}

impl Process {
    fn new(
        name: &str,
        program: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        log: PathBuf,
    ) -> Self {
        Self {
            name: name.to_owned(),
            program,
            args,
            env,
            log,
            dir: None,
            ready_file: None,
            log_start: 0,
            child: None,
        }
    }

    /// A Ferry binary reporting its listeners in `<log without .log>.ready.json`.
    fn reporting(mut self) -> Self {
        self.ready_file = Some(self.log.with_extension("ready.json"));
        self
    }

    /// Sets (or replaces) one variable of its environment, for the next start.
    fn set_env(&mut self, key: &str, value: String) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value));
    }

    /// Starts the process (its output appended to its log file).
    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        self.log_start = log.metadata()?.len();
        let err = log.try_clone()?;
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        // Nothing of the caller's Ferry configuration leaks in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FERRY_") {
                command.env_remove(key);
            }
        }
        command
            .env(
                "RUST_LOG",
                std::env::var("FERRY_E2E_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err));
        if let Some(ready_file) = &self.ready_file {
            // A file of the previous run names another process; it goes all the same.
            let _ = std::fs::remove_file(ready_file);
            command.env(ready::ENV, ready_file);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {} ({})", self.name, self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the process reported the addresses its listeners bound (its ready file),
    /// failing early when it exits.
    pub async fn listeners(&mut self) -> anyhow::Result<Ready> {
        let path = self
            .ready_file
            .clone()
            .ok_or_else(|| anyhow!("{} writes no ready file", self.name))?;
        let pid = self
            .pid()
            .ok_or_else(|| anyhow!("{} is not running", self.name))?;
        ReadyWait::new(&path, pid, READY_TIMEOUT, || {
            self.check_alive().map_err(|e| format!("{e:#}"))
        })
        .wait()
        .await
        .with_context(|| format!("{} did not report its listeners", self.name))
    }

    /// What it logged since it was last started.
    pub fn log_since_start(&self) -> String {
        let text = self.log_text();
        let start = usize::try_from(self.log_start).unwrap_or(usize::MAX);
        text.get(start..).unwrap_or_default().to_owned()
    }

    /// `kill -9`, then reaps it. Harmless when not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and waits up to `grace` for the exit (then `kill -9`).
    pub fn terminate(&mut self, grace: Duration) {
        if let Some(child) = &mut self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    self.child = None;
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.kill();
    }

    /// `Err` with the exit status and the end of the log when the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        let Some(child) = &mut self.child else {
            bail!("{} is not running", self.name);
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "{} exited ({status}); end of {}:\n{}",
                self.name,
                self.log.display(),
                self.log_tail(40)
            ),
            Err(e) => bail!("cannot wait for {}: {e}", self.name),
        }
    }

    /// The OS process id while it runs (e.g. to read `/proc/<pid>/status`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process runs.
    pub fn is_running(&mut self) -> bool {
        self.check_alive().is_ok()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `GET url` answers 2xx, failing early when `process` exits.
async fn wait_ready(
    http: &reqwest::Client,
    process: &mut Process,
    url: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last;
    loop {
        process.check_alive()?;
        match http.get(url).timeout(Duration::from_secs(5)).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            bail!(
                "{} not ready at {url} within {READY_TIMEOUT:?} (last: {last}); end of its log:\n{}",
                process.name,
                process.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Sandbox
// ---------------------------------------------------------------------------------------

/// The `sandbox` binary: the MailChimp and MplusKASSA simulators. Its HTTP helpers are
/// those of [`SandboxApi`] (a cheap clone, for tasks that run beside the test).
#[derive(Debug)]
pub struct Sandbox {
    process: Process,
    api: SandboxApi,
}

/// The sandbox's two listeners over HTTP: control endpoints and the simulated APIs.
#[derive(Debug, Clone)]
pub struct SandboxApi {
    /// `http://127.0.0.1:<port>` of the MailChimp listener.
    pub mailchimp_base: String,
    /// `http://127.0.0.1:<port>` of the MplusKASSA listener.
    pub mpluskassa_base: String,
    http: reqwest::Client,
}

impl std::ops::Deref for Sandbox {
    type Target = SandboxApi;

    fn deref(&self) -> &SandboxApi {
        &self.api
    }
}

/// One of the two simulated systems (the sandbox's own type).
pub use ferry_sandbox::faults::System;

impl Sandbox {
    /// Starts the sandbox with `seed` (written to the log directory) and waits for both
    /// listeners.
    /// `extra` are further command-line arguments (`--scale`, `--mailchimp-api-key`, ...).
    async fn start(
        dir: &Path,
        seed: &Seed,
        extra: &[String],
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let seed_file = dir.join("seed.json");
        std::fs::write(&seed_file, seed.to_json_pretty())?;
        let mut args = vec![
            "--mailchimp-listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--mpluskassa-listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--seed".to_owned(),
            seed_file.display().to_string(),
        ];
        args.extend(extra.iter().cloned());
        let mut process = Process::new(
            "sandbox",
            binary("sandbox")?,
            args,
            Vec::new(),
            dir.join("sandbox.log"),
        )
        .reporting();
        process.spawn()?;
        let reported = process.listeners().await?;
        let mut sandbox = Self {
            process,
            api: SandboxApi::at(&reported, http)?,
        };
        for base in [
            sandbox.api.mailchimp_base.clone(),
            sandbox.api.mpluskassa_base.clone(),
        ] {
            let url = format!("{base}/_sandbox/faults");
            wait_ready(&sandbox.api.http, &mut sandbox.process, &url).await?;
        }
        Ok(sandbox)
    }

    /// The helpers, to move into a task.
    pub fn api(&self) -> SandboxApi {
        self.api.clone()
    }

    /// The process.
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

impl SandboxApi {
    /// The sandboxes a process reported in its ready file (the `sandbox`, or `ferry`).
    fn at(reported: &Ready, http: reqwest::Client) -> anyhow::Result<Self> {
        Ok(Self {
            mailchimp_base: reported.http_url(listener::SANDBOX_MAILCHIMP)?,
            mpluskassa_base: reported.http_url(listener::SANDBOX_MPLUSKASSA)?,
            http,
        })
    }

    /// The MailChimp API base URL (`…/3.0`).
    pub fn mailchimp_api(&self) -> String {
        format!("{}/3.0", self.mailchimp_base)
    }

    /// The MplusKASSA SOAP endpoint (`…/`).
    pub fn mpluskassa_endpoint(&self) -> String {
        format!("{}/", self.mpluskassa_base)
    }

    fn base(&self, system: System) -> &str {
        match system {
            System::Mailchimp => &self.mailchimp_base,
            System::Mpluskassa => &self.mpluskassa_base,
        }
    }

    /// `GET /_sandbox/state` of `system`: the simulator's whole state as JSON.
    pub async fn state(&self, system: System) -> anyhow::Result<Value> {
        let url = format!("{}/_sandbox/state", self.base(system));
        json_of(self.http.get(&url).send().await, &url).await
    }

    /// Adds fault rules (`POST /_sandbox/faults`, the JSON form of
    /// `ferry_sandbox::faults::FaultRule`; `system` is set here).
    pub async fn add_fault(&self, system: System, mut rule: Value) -> anyhow::Result<Value> {
        rule["system"] = json!(system.as_str());
        let url = format!("{}/_sandbox/faults", self.base(system));
        json_of(self.http.post(&url).json(&rule).send().await, &url).await
    }

    /// Removes every fault rule of `system`.
    pub async fn clear_faults(&self, system: System) -> anyhow::Result<()> {
        let url = format!("{}/_sandbox/faults", self.base(system));
        let r = self.http.delete(&url).send().await?;
        if !r.status().is_success() {
            bail!("DELETE {url}: {}", r.status());
        }
        Ok(())
    }

    /// The requests `system` served (`GET /_sandbox/requests`).
    pub async fn requests(&self, system: System) -> anyhow::Result<Value> {
        self.requests_since(system, 0).await
    }

    /// The requests `system` served after the logged request number `since`
    /// (`GET /_sandbox/requests?since=…`).
    pub async fn requests_since(&self, system: System, since: u64) -> anyhow::Result<Value> {
        let url = format!("{}/_sandbox/requests?since={since}", self.base(system));
        json_of(self.http.get(&url).send().await, &url).await
    }

    /// A MailChimp API call as a client would make it (Basic auth with the default key).
    pub async fn mailchimp(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        self.mailchimp_with(MAILCHIMP_API_KEY, method, path, body)
            .await
    }

    /// The same with API key `key`.
    pub async fn mailchimp_with(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.mailchimp_api());
        let mut request = self
            .http
            .request(method.clone(), &url)
            .basic_auth("ferry", Some(key));
        if let Some(body) = body {
            request = request.json(body);
        }
        json_of(request.send().await, &format!("{method} {url}")).await
    }

    /// Places a webshop order in MailChimp's store `store_id` (`POST …/orders`), for the
    /// customer `email` (a company when `company` is set), with the shop's own key.
    pub async fn place_order(
        &self,
        store_id: &str,
        order: &WebshopOrder<'_>,
    ) -> anyhow::Result<Value> {
        self.mailchimp_with(
            SHOP_API_KEY,
            reqwest::Method::POST,
            &format!("/ecommerce/stores/{store_id}/orders"),
            Some(&order.to_json()),
        )
        .await
    }

    /// A till sale (`POST /_sandbox/mpluskassa/sales`, the JSON form of
    /// `ferry_sandbox::mpluskassa::sales::Sale`); answers the invoice id.
    pub async fn till_sale(&self, sale: &Value) -> anyhow::Result<String> {
        self.till("sales", sale).await
    }

    /// A refund at the till of the sale `invoice_id` (`POST /_sandbox/mpluskassa/refunds`):
    /// a credit invoice of it. Answers the credit invoice's id.
    pub async fn till_refund(&self, invoice_id: &str) -> anyhow::Result<String> {
        self.till("refunds", &json!({ "invoice_id": invoice_id }))
            .await
    }

    async fn till(&self, what: &str, body: &Value) -> anyhow::Result<String> {
        let url = format!("{}/_sandbox/mpluskassa/{what}", self.mpluskassa_base);
        let r = self.http.post(&url).json(body).send().await?;
        if !r.status().is_success() {
            bail!("{what} refused: {}", r.text().await?);
        }
        let body: Value = r.json().await?;
        body["invoice_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no invoice_id in {body}"))
    }

    /// Calls a SOAP operation on the MplusKASSA simulator as written (`inner` uses the `m:`
    /// prefix); answers the response text. For operations the connector's client does not
    /// offer.
    pub async fn mpluskassa_soap(&self, op: &str, inner: &str) -> anyhow::Result<String> {
        let envelope = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="urn:mplusqapi"><soap:Body><m:{op}>{inner}</m:{op}></soap:Body></soap:Envelope>"#
        );
        Ok(self
            .http
            .post(format!(
                "{}?ident={MPLUSKASSA_IDENT}&secret={MPLUSKASSA_SECRET}",
                self.mpluskassa_endpoint()
            ))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(envelope)
            .send()
            .await?
            .text()
            .await?)
    }

    /// An open order entered in MplusKASSA at the shop (not by Ferry; `createOrderV3`,
    /// branch 1, employee 999999): `quantity` of `article` for `relation`, external order id
    /// `ext`. Answers its orderId.
    pub async fn enter_mk_order(
        &self,
        ext: &str,
        relation: u64,
        article: i64,
        quantity: i64,
    ) -> anyhow::Result<String> {
        let text = self
            .mpluskassa_soap(
                "createOrderV3",
                &format!(
                    "<m:request><m:idempotencyKey>{ext}</m:idempotencyKey><m:order><m:orderId></m:orderId><m:extOrderId>{ext}</m:extOrderId><m:entryBranchNumber>1</m:entryBranchNumber><m:employeeNumber>999999</m:employeeNumber><m:relationNumber>{relation}</m:relationNumber><m:lineList><m:line><m:articleNumber>{article}</m:articleNumber><m:data><m:quantity>{quantity}</m:quantity><m:decimalPlaces>0</m:decimalPlaces></m:data></m:line></m:lineList></m:order></m:request>"
                ),
            )
            .await?;
        ensure!(text.contains("CREATE-ORDER-RESULT-OK"), "{text}");
        let at = text.find("orderId>").context("orderId")? + "orderId>".len();
        let id = &text[at..];
        Ok(id[..id.find('<').context("orderId")?].to_owned())
    }

    /// `deliverOrder` (turnover type invoice) of an MplusKASSA order.
    pub async fn deliver_mk_order(&self, order_id: &str) -> anyhow::Result<()> {
        let text = self
            .mpluskassa_soap(
                "deliverOrder",
                &format!("<m:request><m:orderId>{order_id}</m:orderId></m:request>"),
            )
            .await?;
        ensure!(text.contains("DELIVER-ORDER-RESULT-OK"), "{text}");
        Ok(())
    }

    /// `cancelOrder` of an MplusKASSA order.
    pub async fn cancel_mk_order(&self, order_id: &str) -> anyhow::Result<()> {
        let text = self
            .mpluskassa_soap("cancelOrder", &format!("<m:orderId>{order_id}</m:orderId>"))
            .await?;
        ensure!(text.contains("CANCEL-ORDER-RESULT-OK"), "{text}");
        Ok(())
    }

    /// An MplusKASSA client (the connector's own) on the simulator, to change records there
    /// as a shop would.
    pub fn mpluskassa_client(
        &self,
    ) -> anyhow::Result<ferry_connector_mpluskassa::client::MplusClient> {
        use ferry_connector_mpluskassa::client::{ClientSettings, Connection, MplusClient};
        let connection = Connection {
            endpoint: self.mpluskassa_endpoint(),
            ident: MPLUSKASSA_IDENT.to_owned(),
            secret: ferry_platform::config::Secret::new(MPLUSKASSA_SECRET),
        };
        let settings = ClientSettings {
            egress: ferry_platform::egress::EgressGuard::sandbox_at(
                ferry_test_support::egress::socket_of(&connection.endpoint).parse()?,
            ),
            ..ClientSettings::default()
        };
        Ok(MplusClient::new(&connection, settings)?)
    }
}

/// A webshop order as a shop's checkout sends it to MailChimp.
#[derive(Debug, Clone)]
pub struct WebshopOrder<'a> {
    /// Order id (MplusKASSA's external order id).
    pub id: &'a str,
    /// Customer e-mail address.
    pub email: &'a str,
    /// MailChimp customer id.
    pub customer_id: &'a str,
    /// Company name, for a company customer.
    pub company: Option<&'a str>,
    /// Lines: MailChimp product id, variant id (= SKU), quantity, unit price.
    pub lines: Vec<(&'a str, &'a str, u32, f64)>,
}

impl WebshopOrder<'_> {
    /// The MailChimp order JSON.
    pub fn to_json(&self) -> Value {
        let total: f64 = self.lines.iter().map(|l| f64::from(l.2) * l.3).sum();
        let address = json!({
            "name": "Iris Lampe", "company": self.company.unwrap_or(""),
            "address1": "Damrak 1", "city": "Amsterdam", "postal_code": "1012 LG",
            "country": "Netherlands", "country_code": "NL"
        });
        let mut customer = json!({
            "id": self.customer_id, "email_address": self.email, "opt_in_status": false,
            "first_name": "Iris", "last_name": "Lampe",
            "address": {"address1": "Damrak 1", "city": "Amsterdam", "postal_code": "1012 LG", "country_code": "NL"}
        });
        if let Some(company) = self.company {
            customer["company"] = json!(company);
        }
        let lines: Vec<Value> = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, (product, variant, quantity, price))| {
                json!({"id": format!("{}-{}", self.id, i + 1), "product_id": product,
                       "product_variant_id": variant, "quantity": quantity, "price": price})
            })
            .collect();
        json!({
            "id": self.id, "customer": customer, "currency_code": "EUR",
            "order_total": (total * 100.0).round() / 100.0, "financial_status": "paid",
            "billing_address": address, "shipping_address": address, "lines": lines
        })
    }
}

/// A simple MplusKASSA product (one article with PLU `sku`, 19.95 incl. 21% VAT, turnover
/// group 10) as a shop would enter it, for [`SandboxApi::mpluskassa_client`].
pub fn mk_simple_product(
    sku: &str,
    description: &str,
) -> ferry_connector_mpluskassa::soap::requests::ProductWrite {
    use ferry_connector_mpluskassa::soap::requests::{ArticleWrite, ProductWrite};
    ProductWrite {
        product_number: None,
        description: Some(description.to_owned()),
        extra_text: None,
        articles: vec![ArticleWrite {
            article_number: None,
            plu_number: Some(sku.to_owned()),
            active: Some(true),
            description: Some(description.chars().take(60).collect()),
            colour: None,
            size: None,
            barcode: None,
            extra_text: None,
            turnover_group: Some(10),
            vat_code: Some(1),
            price_incl: Some(1995),
            price_excl: None,
            webshop: Some(true),
            stock_article: Some(true),
        }],
        group_numbers: None,
    }
}

// ---------------------------------------------------------------------------------------
// Views of the simulators' state
// ---------------------------------------------------------------------------------------

/// Up to 12 products of `seed` that exist in both systems with a numeric SKU (so every order
/// line exists in the target): MailChimp product id, SKU (variant id), unit price.
pub fn order_products(seed: &Seed) -> Vec<(String, String, f64)> {
    seed.products
        .iter()
        .filter(|p| p.in_mailchimp && p.in_mpluskassa)
        .flat_map(|p| {
            p.variants.iter().map(move |v| {
                (
                    p.mailchimp_id(),
                    v.sku.clone(),
                    v.price_cents as f64 / 100.0,
                )
            })
        })
        .filter(|(_, sku, _)| sku.chars().all(|c| c.is_ascii_digit()))
        .take(12)
        .collect()
}

/// Waits (up to `timeout`) until MailChimp's store shows `expected(level)` as the inventory
/// of every branch-1 stock level of `seed` whose SKU it holds and `skip` does not name (at
/// least 20 compared); `what` names the expectation in the error.
pub async fn expect_mc_stock(
    sandbox: &SandboxApi,
    seed: &Seed,
    skip: impl Fn(&str) -> bool,
    what: &str,
    timeout: Duration,
    expected: impl Fn(&ferry_sandbox::seed::StockLevel) -> i64,
) -> anyhow::Result<()> {
    eventually(&format!("stock in MailChimp: {what}"), timeout, || async {
        let mc = sandbox.state(System::Mailchimp).await?;
        let variants = mc_variants_by_sku(mc_store(&mc, &seed.shop.store_id));
        let mut checked = 0;
        for level in seed.stock.iter().filter(|s| s.branch == 1 && !skip(&s.sku)) {
            let Some(found) = variants.get(&level.sku) else {
                continue;
            };
            checked += 1;
            let want = expected(level);
            let actual = &found[0].1["inventory_quantity"];
            ensure!(
                *actual == want,
                "stock of {}: {actual}, expected {want}",
                level.sku
            );
        }
        ensure!(checked >= 20, "only {checked} stock levels compared");
        Ok(())
    })
    .await
}

/// MplusKASSA relations (customers) grouped by lower-case e-mail address.
pub fn mk_relations_by_email(state: &Value) -> BTreeMap<String, Vec<Value>> {
    group(state["relations"].as_object(), |r| {
        r["email"].as_str().map(str::to_lowercase)
    })
}

/// The seed's webshop orders Ferry creates in MplusKASSA: those only MailChimp has, unless
/// cancelled or refunded there (an order cancelled before it reached the target is not
/// created: the order lifecycle).
pub fn webshop_orders_to_sync(seed: &Seed) -> Vec<&ferry_sandbox::seed::Order> {
    seed.orders
        .iter()
        .filter(|o| o.in_mailchimp && !o.in_mpluskassa)
        .filter(|o| !matches!(o.financial_status.as_str(), "cancelled" | "refunded"))
        .collect()
}

/// MplusKASSA orders grouped by external order id (orders without one are left out).
pub fn mk_orders_by_ext_id(state: &Value) -> BTreeMap<String, Vec<Value>> {
    group(state["orders"].as_object(), |o| {
        o["ext_order_id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    })
}

/// The MailChimp store `store_id` of the state (`Null` when missing).
pub fn mc_store<'a>(state: &'a Value, store_id: &str) -> &'a Value {
    &state["stores"][store_id]
}

/// MailChimp variants of a store, by SKU, each with its product's id.
pub fn mc_variants_by_sku(store: &Value) -> BTreeMap<String, Vec<(String, Value)>> {
    let mut found: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for (product_id, product) in store["products"].as_object().into_iter().flatten() {
        for variant in product["variants"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, v)| v)
        {
            if let Some(sku) = variant["data"]["sku"].as_str() {
                found
                    .entry(sku.to_owned())
                    .or_default()
                    .push((product_id.clone(), variant["data"].clone()));
            }
        }
    }
    found
}

fn group(
    records: Option<&serde_json::Map<String, Value>>,
    key: impl Fn(&Value) -> Option<String>,
) -> BTreeMap<String, Vec<Value>> {
    let mut grouped: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for record in records.into_iter().flatten().map(|(_, r)| r) {
        if let Some(k) = key(record) {
            grouped.entry(k).or_default().push(record.clone());
        }
    }
    grouped
}

/// The JSON body of a 2xx answer, or an error with the status and body.
async fn json_of(
    response: reqwest::Result<reqwest::Response>,
    what: &str,
) -> anyhow::Result<Value> {
    let response = response.with_context(|| format!("{what}: no answer"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("{what}: no body"))?;
    if !status.is_success() {
        bail!("{what}: {status}: {}", excerpt(&text, 600));
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text)
        .with_context(|| format!("{what}: not JSON: {}", excerpt(&text, 300)))
}

fn excerpt(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

// ---------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------

/// The five services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKind {
    /// `connector-mailchimp`.
    ConnectorMailchimp,
    /// `connector-mpluskassa`.
    ConnectorMpluskassa,
    /// `mapper`.
    Mapper,
    /// `order-orchestrator`.
    OrderOrchestrator,
    /// `notifier`.
    Notifier,
}

impl ServiceKind {
    /// Every service, in start order (the notifier first, so it sees everything).
    pub const ALL: [ServiceKind; 5] = [
        ServiceKind::Notifier,
        ServiceKind::Mapper,
        ServiceKind::OrderOrchestrator,
        ServiceKind::ConnectorMailchimp,
        ServiceKind::ConnectorMpluskassa,
    ];

    /// The binary's (and the service's) name.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::ConnectorMailchimp => "connector-mailchimp",
            ServiceKind::ConnectorMpluskassa => "connector-mpluskassa",
            ServiceKind::Mapper => "mapper",
            ServiceKind::OrderOrchestrator => "order-orchestrator",
            ServiceKind::Notifier => "notifier",
        }
    }
}

/// One running instance of a service.
#[derive(Debug)]
pub struct Service {
    /// Which service.
    pub kind: ServiceKind,
    /// 0 for the first instance, 1 for the second, …
    pub instance: usize,
    /// `http://127.0.0.1:<port>` of its admin server.
    pub admin_url: String,
    process: Process,
}

impl Service {
    /// `kill -9`.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it on `listen` and waits until it reported the address its admin server bound
    /// (`admin_url`).
    async fn start_on(&mut self, listen: &str) -> anyhow::Result<()> {
        self.process
            .set_env("FERRY_ADMIN__LISTEN", listen.to_owned());
        self.process.spawn()?;
        let reported = self.process.listeners().await?;
        self.admin_url = reported.http_url(listener::ADMIN)?;
        Ok(())
    }

    /// Starts it again with the same configuration and admin port, and waits for `/readyz`.
    ///
    /// The same port, because the mapper's configuration and a reverse proxy name it. It was
    /// this service's until the kill; should another process have taken it in between (the
    /// restart then exits with "Address already in use"), the service starts on port 0
    /// instead and `admin_url` follows, while whatever names the old port is left stale (said
    /// on stderr).
    pub async fn restart(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        self.process.kill();
        let old = self.admin_url.trim_start_matches("http://").to_owned();
        match self.start_on(&old).await {
            Ok(()) => {}
            Err(_)
                if self
                    .process
                    .log_since_start()
                    .contains("Address already in use") =>
            {
                self.process.kill();
                self.start_on("127.0.0.1:0").await?;
                eprintln!(
                    "e2e: {} could not have {old} again (taken meanwhile): it now listens at {}; \
                     configurations naming {old} are stale",
                    self.process.name, self.admin_url
                );
            }
            Err(e) => return Err(e),
        }
        wait_ready(
            http,
            &mut self.process,
            &format!("{}/readyz", self.admin_url),
        )
        .await
    }

    /// The process (logs, liveness).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

// ---------------------------------------------------------------------------------------
// Integration
// ---------------------------------------------------------------------------------------

/// One integration as an operator sets it up: both systems' credentials, the flows and
/// settings, user mappings.
#[derive(Debug, Clone)]
pub struct Integration {
    /// The integration id: given by the registry when the cluster creates it (empty before).
    pub id: String,
    /// MailChimp store and audience.
    pub store_id: String,
    /// The audience (list) id.
    pub list_id: String,
    /// The mapper's settings document (`PUT /integrations/{id}/settings`).
    pub settings: Value,
    /// The mapper's user mappings (`PUT /integrations/{id}/mappings`); `None`: defaults only.
    pub mappings: Option<Value>,
}

impl Integration {
    /// An integration of the seed shop with settings that make every flow run: VAT codes
    /// and revenue accounts (MplusKASSA turnover groups) for the seed's countries.
    pub fn for_seed(seed: &Seed) -> Self {
        Self {
            id: String::new(),
            store_id: seed.shop.store_id.clone(),
            list_id: seed.shop.list_id.clone(),
            settings: json!({
                "orders": {
                    "vat_codes": {"entries": {"NL": "1", "NL:21": "1", "NL:9": "2", "NL:0": "3", "BE": "1", "DE": "1"}},
                    "revenue_accounts": {"entries": {"NL": "8000", "BE": "8000", "DE": "8000"}}
                }
            }),
            mappings: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------

/// How a cluster is started.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Name of the test (log directory `target/e2e-logs/<test>/`).
    pub test: String,
    /// What both simulators start with.
    pub seed: Seed,
    /// Instances per service.
    pub instances: usize,
    /// Instances of a service other than `instances` (e.g. two notifiers, one of the rest).
    pub instances_of: BTreeMap<ServiceKind, usize>,
    /// Whether [`Cluster::start`] sets the integration up through the registry's API and
    /// waits for the initial sync (default); `false` leaves the registry empty, for a test
    /// that sets it up another way (the dashboard's wizard).
    pub set_up_integration: bool,
    /// Extra TOML appended to a service's configuration file.
    pub extra_toml: BTreeMap<ServiceKind, String>,
    /// Extra keys of a service's own last section, written right after it (the MailChimp
    /// connector's `[mailchimp]`, the MplusKASSA connector's `[client]`, ...).
    pub own_toml: BTreeMap<ServiceKind, String>,
    /// The broker (default: the shared test RabbitMQ, [`amqp_url`]); a test that kills the
    /// broker passes a private node's URL.
    pub amqp_url: Option<String>,
    /// Further arguments of the `sandbox` binary (e.g. `--scale orders=1000,...`, API keys).
    pub sandbox_args: Vec<String>,
    /// The connectors poll on their default schedules and leases (`false`, the default: the
    /// quick 1 s polls and 3 s leases of the tests). For benchmarks of freshness.
    pub default_polling: bool,
    /// Further environment of every instance of a service (`FERRY_SYNC__ENABLED`, ...).
    pub env_of: BTreeMap<ServiceKind, Vec<(String, String)>>,
}

impl ClusterOptions {
    /// One instance of each service, the default seed shop.
    pub fn new(test: &str) -> Self {
        Self {
            test: test.to_owned(),
            seed: Seed::default_shop(),
            instances: 1,
            instances_of: BTreeMap::new(),
            set_up_integration: true,
            extra_toml: BTreeMap::new(),
            own_toml: BTreeMap::new(),
            amqp_url: None,
            sandbox_args: Vec::new(),
            default_polling: false,
            env_of: BTreeMap::new(),
        }
    }

    /// The number of instances of `kind`.
    pub fn instances(&self, kind: ServiceKind) -> usize {
        self.instances_of
            .get(&kind)
            .copied()
            .unwrap_or(self.instances)
    }
}

/// The sandbox and every service as separate processes, with the test's own bus prefix and
/// database schemas. Dropping it kills the processes and removes the queues and schemas.
pub struct Cluster {
    /// The test's name.
    pub test: String,
    /// The bus prefix (`e2e-<uuid>`).
    pub prefix: String,
    /// The broker the services use.
    pub amqp_url: String,
    /// The simulators.
    pub sandbox: Sandbox,
    /// Every service instance, in start order.
    pub services: Vec<Service>,
    /// The integration served.
    pub integration: Integration,
    /// An operator-scope admin token (every service accepts it).
    pub operator_token: String,
    /// A read-scope admin token.
    pub read_token: String,
    /// A client for the tests.
    pub http: reqwest::Client,
    dir: PathBuf,
    databases: BTreeMap<ServiceKind, TestDatabase>,
    /// The deployment's credentials keyring (`FERRY_CREDENTIALS_KEY` of every service).
    credentials_key: String,
    /// Further environment per service (`ClusterOptions::env_of`).
    env_of: BTreeMap<ServiceKind, Vec<(String, String)>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("test", &self.test)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Starts the sandbox with `options.seed`, configures one integration of it, starts every
    /// service (`options.instances` of each) and waits until all are ready; then saves the
    /// integration's mapper settings and mappings.
    pub async fn start(options: ClusterOptions, integration: Integration) -> anyhow::Result<Self> {
        let dir = log_dir(&options.test)?;
        // Idle connections are dropped before actix-web's 5 s keep-alive closes them, so a
        // request never races the server's close of a pooled connection.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(2))
            .build()?;
        let sandbox =
            Sandbox::start(&dir, &options.seed, &options.sandbox_args, http.clone()).await?;
        let mut databases = BTreeMap::new();
        for kind in ServiceKind::ALL {
            databases.insert(
                kind,
                postgres_schema()
                    .await
                    .context("PostgreSQL schema for a service")?,
            );
        }
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let (_, credentials_key) = ferry_platform::secrets::Keyring::generate("e2e")?;
        let mut cluster = Self {
            test: options.test.clone(),
            prefix: format!("e2e-{}", &suffix[..12]),
            amqp_url: options.amqp_url.clone().unwrap_or_else(amqp_url),
            sandbox,
            services: Vec::new(),
            integration,
            operator_token: format!("e2e-operator-{suffix}"),
            read_token: format!("e2e-read-{suffix}"),
            http,
            dir,
            databases,
            credentials_key,
            env_of: options.env_of.clone(),
        };
        // Every service starts on a broker where the test's queues do not exist yet, as in a
        // first deployment; the integration is then set up as an operator would, and syncs
        // from its go-live on. Each listens on port 0 and reports the port it got; the mapper
        // starts once the connectors did, since its configuration names their addresses.
        let (last, first): (Vec<ServiceKind>, Vec<ServiceKind>) = ServiceKind::ALL
            .into_iter()
            .partition(|kind| *kind == ServiceKind::Mapper);
        for group in [first, last] {
            for &kind in &group {
                cluster.write_config(kind, &options)?;
                for instance in 0..options.instances(kind) {
                    cluster.spawn_service(kind, instance)?;
                }
            }
            for service in cluster
                .services
                .iter_mut()
                .filter(|s| group.contains(&s.kind))
            {
                let reported = service.process.listeners().await?;
                service.admin_url = reported.http_url(listener::ADMIN)?;
            }
        }
        cluster.wait_all_ready().await?;
        if options.set_up_integration {
            cluster.configure_integration().await?;
            cluster.wait_mailchimp_synced().await?;
        }
        Ok(cluster)
    }

    /// Writes the TOML configuration file of `kind`.
    fn write_config(&self, kind: ServiceKind, options: &ClusterOptions) -> anyhow::Result<()> {
        let db = &self.databases[&kind];
        // The service's own keys first: top-level keys written after a `[section]` would
        // belong to that section (and be refused as unknown).
        let mut toml = self.service_toml(kind, options.default_polling);
        if let Some(own) = options.own_toml.get(&kind) {
            toml.push_str(own);
            toml.push('\n');
        }
        let _ = writeln!(
            toml,
            "[bus]\nkind = \"rabbitmq\"\nurl = {}\nprefix = {}",
            q(&self.amqp_url),
            q(&self.prefix)
        );
        toml.push_str("retry_base_ms = 200\nretry_max_ms = 2000\nmax_attempts = 6\npublish_timeout_ms = 10000\n");
        let _ = writeln!(
            toml,
            "[database]\nurl = {}\nschema = {}\nmax_connections = 5",
            q(db.url.expose()),
            q(db.schema.as_deref().unwrap_or("public"))
        );
        let _ = writeln!(
            toml,
            "[[admin.tokens]]\nname = \"e2e-operator\"\ntoken = {}\nscope = \"operator\"\n\
             [[admin.tokens]]\nname = \"e2e-read\"\ntoken = {}\nscope = \"read\"",
            q(&self.operator_token),
            q(&self.read_token)
        );
        if let Some(extra) = options.extra_toml.get(&kind) {
            toml.push_str(extra);
            toml.push('\n');
        }
        std::fs::write(self.config_path(kind), toml)?;
        Ok(())
    }

    fn config_path(&self, kind: ServiceKind) -> PathBuf {
        self.dir.join(format!("{}.toml", kind.name()))
    }

    /// The service's own sections: quick polling, short poll leases (a killed and restarted
    /// connector polls again within ~4 s) and quick retries for tests; the mapper's
    /// registry reaches the connectors' admin servers for connection tests. No integration
    /// is configured in a file: the registry serves it. Each connector may reach exactly its
    /// sandbox on loopback, over plain http (`[egress]`, sandbox mode), and the registry
    /// accepts those two endpoints. With `default_polling`, the connectors keep their default
    /// poll intervals and leases.
    fn service_toml(&self, kind: ServiceKind, default_polling: bool) -> String {
        let egress = |url: &str| {
            format!(
                "[egress]\nallow = [{}]\nsandbox = true\n",
                q(&ferry_test_support::egress::socket_of(url))
            )
        };
        match kind {
            // `[egress]` first: `own_toml` continues the last section.
            ServiceKind::ConnectorMailchimp => format!(
                "{}[mailchimp]\n{}request_timeout_secs = 10\n\
                 connect_timeout_secs = 5\nmax_attempts = 4\nretry_base_ms = 100\nretry_max_ms = 1000\n",
                egress(&self.sandbox.mailchimp_api()),
                if default_polling {
                    ""
                } else {
                    "poll_interval_secs = 1\npoll_lease_secs = 3\n"
                }
            ),
            ServiceKind::ConnectorMpluskassa => format!(
                "{}[sync]\n{}[client]\ntimeout_ms = 10000\nconnect_timeout_ms = 5000\n\
                 max_attempts = 4\nbackoff_base_ms = 100\nbackoff_max_ms = 1000\n",
                egress(&self.sandbox.mpluskassa_endpoint()),
                if default_polling {
                    ""
                } else {
                    "poll_interval_ms = 1000\nlease_secs = 3\n"
                }
            ),
            // The registry accepts the sandboxes' plain-http endpoints (sandbox mode).
            ServiceKind::Mapper => format!(
                "[egress]\nallow = [{}, {}]\nsandbox = true\n\
                 [mapper.registry]\nmailchimp_admin_url = {}\nmpluskassa_admin_url = {}\n",
                q(&ferry_test_support::egress::socket_of(
                    &self.sandbox.mailchimp_api()
                )),
                q(&ferry_test_support::egress::socket_of(
                    &self.sandbox.mpluskassa_endpoint()
                )),
                q(&self.local_url(ServiceKind::ConnectorMailchimp)),
                q(&self.local_url(ServiceKind::ConnectorMpluskassa))
            ),
            ServiceKind::OrderOrchestrator => {
                "[saga]\nstep_timeout_ms = 15000\nmax_attempts = 8\nretry_base_ms = 200\n\
                 retry_max_ms = 2000\nrecheck_base_ms = 1000\nrecheck_max_ms = 3000\n\
                 customer_lock_poll_ms = 200\nsweep_interval_ms = 500\nlease_ms = 5000\n"
                    .to_owned()
            }
            ServiceKind::Notifier => "evaluate_every_seconds = 1\n".to_owned(),
        }
    }

    /// `http://127.0.0.1:<port>` of the first instance of `kind` (empty before it reported).
    fn local_url(&self, kind: ServiceKind) -> String {
        self.admin_url(kind).unwrap_or_default().to_owned()
    }

    /// Starts instance `instance` of `kind` on port 0; [`Process::listeners`] then says
    /// which port it got.
    fn spawn_service(&mut self, kind: ServiceKind, instance: usize) -> anyhow::Result<()> {
        let name = if instance == 0 {
            kind.name().to_owned()
        } else {
            format!("{}-{}", kind.name(), instance + 1)
        };
        let mut env = vec![
            ("FERRY_ADMIN__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            (
                "FERRY_CONFIG".to_owned(),
                self.config_path(kind).display().to_string(),
            ),
            (
                ferry_platform::secrets::KEYRING_ENV.to_owned(),
                self.credentials_key.clone(),
            ),
        ];
        env.extend(self.env_of.get(&kind).into_iter().flatten().cloned());
        let mut process = Process::new(
            &name,
            binary(kind.name())?,
            Vec::new(),
            env,
            self.dir.join(format!("{name}.log")),
        )
        .reporting();
        process.spawn()?;
        self.services.push(Service {
            kind,
            instance,
            admin_url: String::new(),
            process,
        });
        Ok(())
    }

    /// Waits for every service's `/readyz`.
    pub async fn wait_all_ready(&mut self) -> anyhow::Result<()> {
        for service in &mut self.services {
            let url = format!("{}/readyz", service.admin_url);
            wait_ready(&self.http, &mut service.process, &url).await?;
        }
        Ok(())
    }

    /// Sets the integration up as an operator does, through the mapper's integration
    /// registry: create it (both credentials, sealed from then on), save the settings and the
    /// custom mappings, test both connections through the connectors, go live. The
    /// registry's id becomes `self.integration.id`.
    pub async fn configure_integration(&mut self) -> anyhow::Result<()> {
        let name = format!("e2e {}", self.test);
        let id = self
            .register_integration(&self.integration, &name, MAILCHIMP_API_KEY)
            .await?;
        self.integration.id = id.clone();
        self.go_live(&id).await
    }

    /// Creates `integration` in the registry under `name` with the MailChimp key `api_key`
    /// (and the sandbox's MplusKASSA credentials), saves its settings and custom mappings
    /// and tests both connections through the connectors; answers the registry's id. The
    /// integration stays a draft until [`Cluster::go_live`].
    pub async fn register_integration(
        &self,
        integration: &Integration,
        name: &str,
        api_key: &str,
    ) -> anyhow::Result<String> {
        use reqwest::Method;
        let new = json!({
            "name": name,
            "mailchimp": {
                "api_key": api_key, "base_url": self.sandbox.mailchimp_api(),
                "list_id": integration.list_id, "store_id": integration.store_id
            },
            "mpluskassa": {
                "endpoint": self.sandbox.mpluskassa_endpoint(),
                "ident": MPLUSKASSA_IDENT, "secret": MPLUSKASSA_SECRET
            }
        });
        let created = self
            .admin(
                Method::POST,
                ServiceKind::Mapper,
                "/api/v1/integrations",
                Some(&new),
            )
            .await
            .context("creating the integration")?;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| anyhow!("the registry gave no id: {created}"))?
            .to_owned();
        let base = format!("/api/v1/integrations/{id}");
        self.save_settings_of(&id, &integration.settings, "e2e setup")
            .await
            .context("saving the settings")?;
        if let Some(mappings) = &integration.mappings {
            let body = json!({"document": mappings, "comment": "e2e custom mapping"});
            self.admin(
                Method::PUT,
                ServiceKind::Mapper,
                &format!("{base}/mappings"),
                Some(&body),
            )
            .await
            .context("saving the custom mappings")?;
        }
        let tested = self
            .admin(
                Method::POST,
                ServiceKind::Mapper,
                &format!("{base}/test"),
                None,
            )
            .await
            .context("testing the connections")?;
        if tested["ok"] != true {
            bail!("the connection test failed: {tested}");
        }
        Ok(id)
    }

    /// Puts the registry's integration `id` live.
    pub async fn go_live(&self, id: &str) -> anyhow::Result<()> {
        let live = self
            .admin(
                reqwest::Method::POST,
                ServiceKind::Mapper,
                &format!("/api/v1/integrations/{id}/go-live"),
                None,
            )
            .await
            .context("going live")?;
        if live["state"] != "live" {
            bail!("go-live answered {live}");
        }
        Ok(())
    }

    /// Waits until the MailChimp connector's initial sync read every resource.
    pub async fn wait_mailchimp_synced(&self) -> anyhow::Result<()> {
        self.wait_mailchimp_synced_for(&self.integration.id).await
    }

    /// The orders of MailChimp's store `store_id` (the sandbox's state, by id).
    pub async fn mc_orders(&self, store_id: &str) -> anyhow::Result<Value> {
        let mc = self.sandbox.state(System::Mailchimp).await?;
        Ok(mc_store(&mc, store_id)["orders"].clone())
    }

    /// Waits (up to `timeout`) until MailChimp's store `store_id` has order `id`; answers the
    /// store's orders.
    pub async fn until_mc_order(
        &self,
        store_id: &str,
        id: &str,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        eventually(&format!("order {id} in MailChimp"), timeout, || async {
            let orders = self.mc_orders(store_id).await?;
            ensure!(!orders[id].is_null(), "order {id} not in MailChimp yet");
            Ok(orders)
        })
        .await
    }

    /// Waits until the MailChimp connector's initial sync of integration `id` read every
    /// resource (an integration set up another way, e.g. by the dashboard's wizard).
    pub async fn wait_mailchimp_synced_for(&self, id: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/mailchimp/integrations/{id}/cursors");
        eventually(
            "the MailChimp initial sync",
            Duration::from_secs(60),
            || async {
                let cursors = self
                    .admin_get(ServiceKind::ConnectorMailchimp, &path)
                    .await?;
                let list = cursors
                    .as_array()
                    .or_else(|| cursors["cursors"].as_array())
                    .ok_or_else(|| anyhow!("unexpected cursors answer {cursors}"))?;
                let pending: Vec<&Value> = list
                    .iter()
                    .filter(|c| c["watermark"].is_null() || c["state"] == "running")
                    .collect();
                if list.is_empty() || !pending.is_empty() {
                    bail!("not yet synced: {cursors}");
                }
                Ok(())
            },
        )
        .await
    }

    /// `http://127.0.0.1:<port>` of every instance of `kind`.
    pub fn admin_urls(&self, kind: ServiceKind) -> Vec<String> {
        self.services
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.admin_url.clone())
            .collect()
    }

    /// The first instance of `kind`.
    pub fn service(&mut self, kind: ServiceKind) -> anyhow::Result<&mut Service> {
        self.services
            .iter_mut()
            .find(|s| s.kind == kind)
            .ok_or_else(|| anyhow!("no {} in the cluster", kind.name()))
    }

    fn admin_url(&self, kind: ServiceKind) -> anyhow::Result<&str> {
        self.services
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| s.admin_url.as_str())
            .ok_or_else(|| anyhow!("no {} in the cluster", kind.name()))
    }

    /// A call of `kind`'s admin API (the first instance): `GET` with the read token,
    /// anything else with the operator token; the JSON answer of a 2xx, else an error.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        kind: ServiceKind,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.admin_url(kind)?);
        let token = if method == reqwest::Method::GET {
            &self.read_token
        } else {
            &self.operator_token
        };
        let mut request = self.http.request(method.clone(), &url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        json_of(request.send().await, &format!("{method} {url}")).await
    }

    /// Saves a new version of the integration's settings through the mapper's admin API.
    pub async fn save_settings(&self, document: &Value, comment: &str) -> anyhow::Result<()> {
        self.save_settings_of(&self.integration.id, document, comment)
            .await
    }

    /// Saves a new version of the settings of integration `id` (the mapper's admin API).
    pub async fn save_settings_of(
        &self,
        id: &str,
        document: &Value,
        comment: &str,
    ) -> anyhow::Result<()> {
        let body = json!({"document": document, "comment": comment});
        self.admin(
            reqwest::Method::PUT,
            ServiceKind::Mapper,
            &format!("/api/v1/integrations/{id}/settings"),
            Some(&body),
        )
        .await?;
        Ok(())
    }

    /// Asks the MplusKASSA connector to read `entity` again from the start.
    pub async fn full_resync_mpluskassa(&self, entity: &str) -> anyhow::Result<()> {
        let body = json!({"full": true, "entities": [entity]});
        self.admin(
            reqwest::Method::POST,
            ServiceKind::ConnectorMpluskassa,
            &format!(
                "/api/v1/mpluskassa/integrations/{}/sync",
                self.integration.id
            ),
            Some(&body),
        )
        .await?;
        Ok(())
    }

    /// `GET <admin of kind><path>` with the read token.
    pub async fn admin_get(&self, kind: ServiceKind, path: &str) -> anyhow::Result<Value> {
        self.admin(reqwest::Method::GET, kind, path, None).await
    }

    /// Every service instance that is not running, with the end of its log.
    pub fn crashed(&mut self) -> Vec<String> {
        let mut crashed = Vec::new();
        for service in &mut self.services {
            if service.process.child.is_some()
                && let Err(e) = service.process.check_alive()
            {
                crashed.push(format!("{e:#}"));
            }
        }
        crashed
    }

    /// The log directory of this test.
    pub fn log_dir(&self) -> &Path {
        &self.dir
    }

    /// Per instance of `kind`: how many lines of its log contain `needle`.
    pub fn log_counts(&self, kind: ServiceKind, needle: &str) -> Vec<usize> {
        self.services
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.process.log_text().matches(needle).count())
            .collect()
    }

    /// Every table of every service's PostgreSQL schema holding one of `needles` (any case, in
    /// any column; binary columns read as UTF-8): `"<service> <table>: <needle> in <n> rows"`.
    pub async fn find_in_databases(&self, needles: &[&str]) -> anyhow::Result<Vec<String>> {
        use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
        let mut hits = Vec::new();
        for (kind, database) in &self.databases {
            let schema = database.schema.as_deref().unwrap_or("public");
            let db = Database::connect(database.url.expose()).await?;
            let columns = db
                .query_all(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS d \
                     FROM information_schema.columns WHERE table_schema = $1 \
                     ORDER BY table_name, ordinal_position",
                    [schema.into()],
                ))
                .await?;
            let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for row in columns {
                let (table, column, kind): (String, String, String) = (
                    row.try_get("", "t")?,
                    row.try_get("", "c")?,
                    row.try_get("", "d")?,
                );
                let expr = if kind == "bytea" {
                    format!("coalesce(convert_from(\"{column}\", 'UTF8'), '')")
                } else {
                    format!("coalesce(\"{column}\"::text, '')")
                };
                tables.entry(table).or_default().push(expr);
            }
            for (table, exprs) in &tables {
                let text = format!("lower(concat_ws(' ', {}))", exprs.join(", "));
                for needle in needles {
                    let sql = format!(
                        "SELECT count(*) AS n FROM \"{schema}\".\"{table}\" WHERE strpos({text}, lower($1)) > 0"
                    );
                    let row = db
                        .query_one(Statement::from_sql_and_values(
                            DbBackend::Postgres,
                            &sql,
                            [(*needle).into()],
                        ))
                        .await?
                        .ok_or_else(|| anyhow!("no count from {table}"))?;
                    let n: i64 = row.try_get("", "n")?;
                    if n > 0 {
                        hits.push(format!("{} {table}: {needle:?} in {n} rows", kind.name()));
                    }
                }
            }
            db.close().await?;
        }
        Ok(hits)
    }

    /// Rows of `table` in the schema of `kind`.
    pub async fn count_rows(&self, kind: ServiceKind, table: &str) -> anyhow::Result<i64> {
        self.query_number(
            kind,
            &format!("SELECT count(*) AS n FROM {{schema}}.\"{table}\""),
        )
        .await
    }

    /// The `bigint` column `n` of the first row `sql` answers in the schema of `kind`, where
    /// `{schema}` in `sql` stands for the (quoted) schema: e.g.
    /// `SELECT count(*) AS n FROM {schema}.connector_cursors WHERE watermark IS NULL`.
    pub async fn query_number(&self, kind: ServiceKind, sql: &str) -> anyhow::Result<i64> {
        use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
        let database = &self.databases[&kind];
        let schema = database.schema.as_deref().unwrap_or("public");
        let sql = sql.replace("{schema}", &format!("\"{schema}\""));
        let db = Database::connect(database.url.expose()).await?;
        let row = db
            .query_one(Statement::from_string(DbBackend::Postgres, sql.clone()))
            .await?
            .ok_or_else(|| anyhow!("no row from {sql}"))?;
        db.close().await?;
        Ok(row.try_get("", "n")?)
    }

    /// Lines of every service's log containing `needle` (e.g. to check that a secret is
    /// never logged).
    pub fn logs_containing(&self, needle: &str) -> Vec<String> {
        let mut found = Vec::new();
        for service in &self.services {
            for line in service.process.log_text().lines() {
                if line.contains(needle) {
                    found.push(format!("{}: {line}", service.process.name));
                }
            }
        }
        found
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for service in &mut self.services {
            service.process.kill();
        }
        self.sandbox.process.kill();
        let prefix = self.prefix.clone();
        let url = self.amqp_url.clone();
        // Drop may run inside the test's runtime: delete on a thread with its own.
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(delete_bus_objects(&url, &prefix))
        })
        .join();
        match deleted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("e2e: could not delete the queues of {}: {e:#}", self.prefix),
            Err(_) => eprintln!("e2e: queue deletion of {} panicked", self.prefix),
        }
    }
}

/// A TOML basic string (JSON string escapes are valid TOML).
fn q(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}

/// Deletes every queue and exchange named with `prefix`: the queues the broker lists
/// (`rabbitmqctl`, when available, finds the delay queues too) plus the known names.
async fn delete_bus_objects(url: &str, prefix: &str) -> anyhow::Result<()> {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let dotted = format!("{prefix}.");
    let mut queues: Vec<String> = Vec::new();
    for queue in ferry_platform::bus::queues::ALL {
        queues.push(format!("{dotted}{queue}"));
        queues.push(format!("{dotted}{queue}.dlq"));
    }
    if let Ok(output) = Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "name"])
        .output()
        && output.status.success()
    {
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let name = line.trim();
            if name.starts_with(&dotted) && !queues.iter().any(|q| q == name) {
                queues.push(name.to_owned());
            }
        }
    }
    let connection =
        lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await?;
    for queue in &queues {
        // A missing queue closes the channel: one channel per deletion.
        let channel = connection.create_channel().await?;
        let _ = channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
        let _ = channel.close(200, "done".into()).await;
    }
    for exchange in ["ferry.events", "ferry.commands", "ferry.dead-letter"] {
        let channel = connection.create_channel().await?;
        let name = format!("{dotted}{exchange}");
        let _ = channel
            .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
            .await;
        let _ = channel.close(200, "done".into()).await;
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A restart takes the port the service had; when another process took it meanwhile, the
    /// service comes up on a port of its own and `admin_url` follows (a notifier on its
    /// defaults: in-process bus, SQLite in its directory).
    #[tokio::test]
    async fn a_restart_keeps_the_port_or_reports_the_one_it_got_instead() {
        let dir = ferry_test_support::unique_dir("ferry-e2e-restart");
        let http = reqwest::Client::new();
        let mut process = Process::new(
            "notifier",
            binary("notifier").unwrap(),
            Vec::new(),
            Vec::new(),
            dir.join("notifier.log"),
        )
        .reporting();
        process.dir = Some(dir.clone());
        let mut service = Service {
            kind: ServiceKind::Notifier,
            instance: 0,
            admin_url: String::new(),
            process,
        };
        service.start_on("127.0.0.1:0").await.unwrap();
        let first = service.admin_url.clone();
        assert!(!first.ends_with(":0"), "{first}");

        service.restart(&http).await.unwrap();
        assert_eq!(service.admin_url, first, "the same port again");

        service.kill();
        let holder = std::net::TcpListener::bind(first.trim_start_matches("http://")).unwrap();
        service.restart(&http).await.unwrap();
        assert_ne!(
            service.admin_url, first,
            "another port, the first being taken"
        );
        let ready = http
            .get(format!("{}/readyz", service.admin_url))
            .send()
            .await
            .unwrap();
        assert!(ready.status().is_success());
        drop(holder);
        service.kill();
        let _ = std::fs::remove_dir_all(dir);
    }
}
