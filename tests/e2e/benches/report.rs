//! Ferry's performance report (issue 9): the sandbox and the five services as separate
//! processes on RabbitMQ and PostgreSQL (the end-to-end harness), a burst of webshop orders
//! placed in the MailChimp sandbox, and one markdown table on stdout:
//!
//! - orders/s end to end and p50/p99 latency per order, with 0 ms and with injected latency on
//!   both simulated APIs (MailChimp's limit of 10 simultaneous connections per key is always
//!   on in the sandbox), and the ratio to the API-bound limit;
//! - each service's resident memory (VmRSS) at rest and under load;
//! - CPU time (utime + stime of Ferry's processes) and SQL statements
//!   (`ferry_db_statements_total`) per order over the run;
//! - all of it for the embedded default (`ferry`: every service in one process, in-process
//!   bus, SQLite, its own sandboxes and demo integration) and with 1 and with 2 instances of
//!   each service.
//!
//! How the numbers are measured (both timestamps come from the sandbox's request logs, so
//! one clock):
//! - an order is *placed* when the MailChimp sandbox received its `POST …/orders`; it is
//!   *created* when the MplusKASSA sandbox received the first successful `createOrderV3`
//!   carrying its id, plus the injected latency (the sandbox sleeps before it creates);
//! - orders/s = orders / (last created − first placed);
//! - pipeline p50 / p99: the same from *observed* (the MailChimp connector's `order.observed`
//!   event, its time in the notifier's activity log: when the connector read the order's page)
//!   to created, i.e. without the poll wait: issue 17's pipeline latency;
//! - API calls per order = every request Ferry made to that API from the first placement to
//!   the end of the run (polling included) / orders;
//! - API-bound limit = 10 connections / latency (s) / MailChimp calls per order: the most
//!   orders per second MailChimp's connection limit lets through at that latency.
//!
//! Freshness (issue 16): `FERRY_BENCH_RATE=2 FERRY_BENCH_DEFAULT_POLLING=1
//! FERRY_BENCH_DEPLOYMENTS=embedded` places the orders at a steady 2 per second into the
//! embedded default with its default (adaptive) poll intervals; p50/p99 are then the time from
//! an order placed in MailChimp to it created in MplusKASSA, poll wait included.
//!
//! Run: `cargo build --release --bins`, then `cargo bench -p ferry-e2e --bench report`.
//! Scale with `FERRY_BENCH_ORDERS` (orders per run, default 40), `FERRY_BENCH_LATENCY_MS`
//! (default 100), `FERRY_BENCH_SHOP_CLIENTS` (concurrent shop clients placing orders,
//! default 10: the shop's own API key allows 10 connections, apart from Ferry's key, so
//! at 100 ms the shop places up to ~90 orders/s), `FERRY_BENCH_TIMEOUT_SECS` (per run, default 300) and
//! `FERRY_BENCH_DEPLOYMENTS` (comma-separated, default `embedded,1,2`: the embedded default
//! and clusters of 1 and 2 instances of each service). `FERRY_BENCH_DETAIL=1` adds, per run,
//! the CPU ms per order of each Ferry process kind and of the machine's PostgreSQL and
//! RabbitMQ processes, and the SQL statements per order by process, verb and table (stderr).
//! `FERRY_BENCH_EMBEDDED_ENV` (comma-separated `KEY=VALUE`) adds settings to the embedded
//! default's environment, to compare them (e.g. `FERRY_DATABASE__MAX_CONNECTIONS=1`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use chrono::{DateTime, Utc};
use ferry_e2e::measure::{
    OrderTimes, cpu_ticks, env_number, metric_series, metric_sum, metrics_text, percentile, place,
    processes_named, ticks_per_second, vm_rss_kib,
};
use ferry_e2e::{
    Cluster, ClusterOptions, Embedded, Integration, SandboxApi, ServiceKind, System, WebshopOrder,
    mk_orders_by_ext_id, order_products,
};
use ferry_sandbox::seed::Seed;
use serde_json::Value;

/// MailChimp's simultaneous connections per API key (the sandbox enforces it).
const MAILCHIMP_CONNECTIONS: f64 = 10.0;

/// The report's knobs, from the environment.
#[derive(Debug, Clone)]
struct Settings {
    orders: usize,
    latency_ms: u64,
    shop_clients: usize,
    /// Orders per second placed at a steady pace (`None`: a burst, as fast as the clients go).
    rate: Option<f64>,
    /// The embedded default with its default poll intervals (`false`: 1 s, as the clusters).
    default_polling: bool,
    timeout: Duration,
    deployments: Vec<Deployment>,
}

/// What a run measures: the embedded default or a cluster of `n` instances of each service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deployment {
    Embedded,
    Cluster(usize),
}

impl Deployment {
    fn parse(text: &str) -> anyhow::Result<Self> {
        match text.trim() {
            "embedded" => Ok(Self::Embedded),
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Self::Cluster(n)),
                _ => bail!("FERRY_BENCH_DEPLOYMENTS: {n:?} is neither `embedded` nor a count"),
            },
        }
    }

    fn label(self) -> String {
        match self {
            Self::Embedded => "embedded".to_owned(),
            Self::Cluster(n) => n.to_string(),
        }
    }
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            orders: env_number("FERRY_BENCH_ORDERS", 40)?.max(1),
            latency_ms: env_number("FERRY_BENCH_LATENCY_MS", 100)?.max(1),
            shop_clients: env_number("FERRY_BENCH_SHOP_CLIENTS", 10)?.max(1),
            rate: match env_number("FERRY_BENCH_RATE", 0.0f64)? {
                r if r > 0.0 => Some(r),
                _ => None,
            },
            default_polling: env_number("FERRY_BENCH_DEFAULT_POLLING", 0u8)? == 1,
            timeout: Duration::from_secs(env_number("FERRY_BENCH_TIMEOUT_SECS", 300)?),
            deployments: std::env::var("FERRY_BENCH_DEPLOYMENTS")
                .unwrap_or_else(|_| "embedded,1,2".to_owned())
                .split(',')
                .map(Deployment::parse)
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

/// Resident memory of one service, MiB: at rest and the highest sample under load.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rest: f64,
    load: f64,
}

/// One run's result.
#[derive(Debug, Clone)]
struct Outcome {
    deployment: Deployment,
    latency_ms: u64,
    orders: usize,
    per_second: f64,
    p50_ms: u64,
    p99_ms: u64,
    /// Pipeline latency (observed by the MailChimp connector -> created in MplusKASSA, poll
    /// wait excluded), nearest-rank p50 and p99.
    pipeline_p50_ms: u64,
    pipeline_p99_ms: u64,
    mailchimp_calls: f64,
    mpluskassa_calls: f64,
    /// CPU time of Ferry's processes per order, ms (utime + stime over the run).
    cpu_ms: f64,
    /// SQL statements per order over the run (`ferry_db_statements_total`, every process).
    statements: f64,
    /// Per process kind (`ferry` for the embedded default).
    memory: BTreeMap<&'static str, Memory>,
}

/// The processes under test: the embedded `ferry` or a cluster.
enum Deployed {
    Embedded(Box<Embedded>),
    Cluster(Box<Cluster>),
}

impl Deployed {
    fn sandbox(&self) -> SandboxApi {
        match self {
            Self::Embedded(e) => e.sandbox.clone(),
            Self::Cluster(c) => c.sandbox.api(),
        }
    }

    /// The processes that exited.
    fn crashed(&mut self) -> Vec<String> {
        match self {
            Self::Embedded(e) => match e.process().check_alive() {
                Ok(()) => Vec::new(),
                Err(error) => vec![error.to_string()],
            },
            Self::Cluster(c) => c.crashed(),
        }
    }

    /// A `GET` of the notifier's admin API (`/api/v1/...`) with a read token.
    async fn notifier_get(&self, http: &reqwest::Client, path: &str) -> anyhow::Result<Value> {
        match self {
            Self::Embedded(e) => {
                let url = format!("{}{path}", e.admin_url);
                let response = http.get(&url).bearer_auth(e.token()?).send().await?;
                let status = response.status();
                ensure!(status.is_success(), "GET {url}: {status}");
                Ok(response.json().await?)
            }
            Self::Cluster(c) => c.admin_get(ServiceKind::Notifier, path).await,
        }
    }

    /// When the MailChimp connector observed each order of `ids` (its `order.observed`
    /// event in the activity log: the event's time is the connector's reading of the page),
    /// waiting up to `timeout` for the notifier to have recorded them all.
    async fn observed(
        &self,
        http: &reqwest::Client,
        run: &str,
        ids: &[String],
        timeout: Duration,
    ) -> anyhow::Result<BTreeMap<String, DateTime<Utc>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut observed: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
            let mut offset = 0;
            loop {
                let page = self
                    .notifier_get(
                        http,
                        &format!(
                            "/api/v1/activity?message_type=order.observed&key_prefix=WS-PERF-{run}-\
                             &limit=500&offset={offset}"
                        ),
                    )
                    .await?;
                let items = page["items"].as_array().cloned().unwrap_or_default();
                for item in &items {
                    let (Some(key), Some(at)) =
                        (item["record_key"].as_str(), item["occurred_at"].as_str())
                    else {
                        continue;
                    };
                    if item["system"] != "mailchimp" {
                        continue;
                    }
                    let at: DateTime<Utc> = at.parse()?;
                    let slot = observed.entry(key.to_owned()).or_insert(at);
                    *slot = (*slot).min(at);
                }
                if items.len() < 500 {
                    break;
                }
                offset += items.len();
            }
            let missing = ids.iter().filter(|id| !observed.contains_key(*id)).count();
            if missing == 0 {
                return Ok(observed);
            }
            if Instant::now() >= deadline {
                bail!("{missing} orders have no order.observed activity after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn logs(&mut self) -> String {
        match self {
            Self::Embedded(e) => e.process().log_path().display().to_string(),
            Self::Cluster(c) => c.log_dir().display().to_string(),
        }
    }

    /// Ferry's processes by kind, with their pid and admin URL (the sandbox of a cluster left
    /// out).
    fn kinds(&mut self) -> Vec<(&'static str, Option<u32>, Option<String>)> {
        match self {
            Self::Embedded(e) => vec![(EMBEDDED, e.process().pid(), Some(e.admin_url.clone()))],
            Self::Cluster(c) => c
                .services
                .iter_mut()
                .map(|s| (s.kind.name(), s.process().pid(), Some(s.admin_url.clone())))
                .collect(),
        }
    }

    /// CPU ticks and SQL statements so far, summed over Ferry's processes, and by process
    /// kind (and statement verb and table) for the detail.
    async fn costs(&mut self, http: &reqwest::Client) -> anyhow::Result<Costs> {
        let mut costs = Costs::default();
        // The shared servers' CPU (every process of theirs on this machine), for the detail.
        for (name, comm) in [("postgresql", "postgres"), ("rabbitmq", "beam.smp")] {
            let ticks = processes_named(comm)
                .into_iter()
                .filter_map(cpu_ticks)
                .sum();
            costs.ticks_by_kind.insert(name, ticks);
        }
        for (kind, pid, url) in self.kinds() {
            let ticks = pid.and_then(cpu_ticks).unwrap_or(0);
            costs.ticks += ticks;
            *costs.ticks_by_kind.entry(kind).or_default() += ticks;
            let Some(url) = url else { continue };
            let text = metrics_text(http, &url).await?;
            costs.statements += metric_sum(&text, "ferry_db_statements_total");
            for (labels, value) in metric_series(&text, "ferry_db_statements_total") {
                *costs
                    .statements_by
                    .entry(format!("{kind} {labels}"))
                    .or_default() += value;
            }
        }
        Ok(costs)
    }

    /// VmRSS (MiB) per process kind: the largest of its instances.
    fn memory(&mut self) -> BTreeMap<&'static str, f64> {
        let mut memory: BTreeMap<&'static str, f64> = BTreeMap::new();
        let mut sample = |kind: &'static str, pid: Option<u32>| {
            if let Some(kib) = pid.and_then(vm_rss_kib) {
                let slot = memory.entry(kind).or_default();
                *slot = slot.max(kib as f64 / 1024.0);
            }
        };
        match self {
            Self::Embedded(e) => sample(EMBEDDED, e.process().pid()),
            Self::Cluster(c) => {
                for service in &mut c.services {
                    sample(service.kind.name(), service.process().pid());
                }
            }
        }
        memory
    }
}

/// What Ferry's processes have spent so far.
#[derive(Debug, Clone, Default)]
struct Costs {
    /// utime + stime, in clock ticks.
    ticks: u64,
    statements: f64,
    /// utime + stime by process kind.
    ticks_by_kind: BTreeMap<&'static str, u64>,
    /// Statements by process kind, verb and table (`kind verb table`).
    statements_by: BTreeMap<String, f64>,
}

impl Costs {
    /// With `FERRY_BENCH_DETAIL=1`: CPU ms per order of each process kind and the statements
    /// per order of each kind, verb and table (the largest first), on stderr.
    fn print_detail(before: &Self, after: &Self, orders: f64, run: &str) {
        if std::env::var("FERRY_BENCH_DETAIL").as_deref() != Ok("1") {
            return;
        }
        let per_tick = 1000.0 / ticks_per_second() / orders;
        for (kind, ticks) in &after.ticks_by_kind {
            let spent = ticks.saturating_sub(before.ticks_by_kind.get(kind).copied().unwrap_or(0));
            eprintln!(
                "report: {run}: cpu {kind}: {:.1} ms/order",
                spent as f64 * per_tick
            );
        }
        let mut series: Vec<(String, f64)> = after
            .statements_by
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    (v - before.statements_by.get(k).copied().unwrap_or(0.0)) / orders,
                )
            })
            .filter(|(_, v)| *v >= 0.05)
            .collect();
        series.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (key, per_order) in series.iter().take(40) {
            eprintln!("report: {run}: sql {key}: {per_order:.2}/order");
        }
    }
}

/// The process kind of the embedded default in the memory columns.
const EMBEDDED: &str = "ferry";

fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for deployment in settings.deployments.clone() {
        outcomes.extend(runtime.block_on(run_deployment(deployment, &settings))?);
    }
    println!("{}", table(&outcomes, &settings));
    eprintln!("report: done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Starts `deployment` and runs the load at 0 ms and at the configured latency.
async fn run_deployment(
    deployment: Deployment,
    settings: &Settings,
) -> anyhow::Result<Vec<Outcome>> {
    let seed = Seed::default_shop();
    eprintln!("report: starting {deployment:?}");
    let mut deployed = match deployment {
        Deployment::Embedded => {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_idle_timeout(Duration::from_secs(2))
                .build()?;
            // The same poll intervals as the clusters' (the end-to-end configuration), or
            // the defaults when freshness is measured.
            let mut env: Vec<(String, String)> = if settings.default_polling {
                Vec::new()
            } else {
                vec![
                    (
                        "FERRY_CONNECTOR_MAILCHIMP__MAILCHIMP__POLL_INTERVAL_SECS".to_owned(),
                        "1".to_owned(),
                    ),
                    (
                        "FERRY_CONNECTOR_MPLUSKASSA__SYNC__POLL_INTERVAL_MS".to_owned(),
                        "1000".to_owned(),
                    ),
                ]
            };
            // Settings to compare (`FERRY_BENCH_EMBEDDED_ENV=FERRY_DATABASE__MAX_CONNECTIONS=1`).
            if let Ok(extra) = std::env::var("FERRY_BENCH_EMBEDDED_ENV") {
                for pair in extra.split(',').filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once('=').ok_or_else(|| {
                        anyhow!("FERRY_BENCH_EMBEDDED_ENV: {pair:?} is not KEY=VALUE")
                    })?;
                    env.push((key.to_owned(), value.to_owned()));
                }
            }
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            Deployed::Embedded(Box::new(
                Embedded::start("bench_report_embedded", &env, http).await?,
            ))
        }
        Deployment::Cluster(instances) => {
            let mut options = ClusterOptions::new(&format!("bench_report_{instances}x"));
            options.instances = instances;
            let cluster = Cluster::start(options, Integration::for_seed(&seed)).await?;
            Deployed::Cluster(Box::new(cluster))
        }
    };
    // At rest: started, initial sync done, nothing to do.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rest = deployed.memory();
    let products = order_products(&seed);
    if products.is_empty() {
        bail!("the seed shop has no product with a numeric SKU in both systems");
    }
    let sandbox = deployed.sandbox();
    let mut outcomes = Vec::new();
    for latency_ms in [0, settings.latency_ms] {
        if latency_ms > 0 {
            for system in [System::Mailchimp, System::Mpluskassa] {
                sandbox
                    .add_fault(
                        system,
                        serde_json::json!({"fault": {"kind": "latency", "ms": latency_ms}}),
                    )
                    .await?;
            }
        }
        let run = format!("{}X{latency_ms}", deployment.label());
        eprintln!("report: run {run}: {} orders", settings.orders);
        let mut outcome = run_load(&mut deployed, &run, &seed, &products, latency_ms, settings)
            .await
            .with_context(|| format!("run {run}"))?;
        outcome.deployment = deployment;
        for (kind, memory) in &mut outcome.memory {
            memory.rest = rest.get(kind).copied().unwrap_or_default();
        }
        eprintln!("report: run {run}: {outcome:?}");
        outcomes.push(outcome);
        for system in [System::Mailchimp, System::Mpluskassa] {
            sandbox.clear_faults(system).await?;
        }
    }
    let crashed = deployed.crashed();
    if !crashed.is_empty() {
        bail!("services crashed: {crashed:?}");
    }
    Ok(outcomes)
}

/// Places `settings.orders` orders (new customers, two orders each) from
/// `settings.shop_clients` concurrent shop clients, waits until every one exists in
/// MplusKASSA and measures.
async fn run_load(
    deployed: &mut Deployed,
    run: &str,
    seed: &Seed,
    products: &[(String, String, f64)],
    latency_ms: u64,
    settings: &Settings,
) -> anyhow::Result<Outcome> {
    let sandbox = deployed.sandbox();
    let metrics_http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let before = deployed.costs(&metrics_http).await?;
    let mc_since = sandbox.last_seq(System::Mailchimp).await?;
    let mk_since = sandbox.last_seq(System::Mpluskassa).await?;
    let ids: Arc<Vec<String>> = Arc::new(
        (0..settings.orders)
            .map(|i| format!("WS-PERF-{run}-{i:05}"))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let rate = settings.rate;
    let mut shop = Vec::new();
    for _ in 0..settings.shop_clients {
        let api = sandbox.clone();
        let ids = ids.clone();
        let next = next.clone();
        let store = seed.shop.store_id.clone();
        let products = products.to_vec();
        let run = run.to_owned();
        shop.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                if let Some(rate) = rate {
                    // A steady pace: order i is placed i / rate seconds after the start.
                    tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / rate))
                        .await;
                }
                let customer = i / 2;
                let email = format!("perf.{run}.{customer}@example.nl").to_lowercase();
                let customer_id = format!("perf-{run}-{customer}");
                let (product, sku, price) = &products[i % products.len()];
                let order = WebshopOrder {
                    id,
                    email: &email,
                    customer_id: &customer_id,
                    company: None,
                    lines: vec![(product, sku, 1 + (i % 3) as u32, *price)],
                };
                place(&api, &store, &order).await?;
            }
        }));
    }

    // Sample memory and wait for every order in MplusKASSA.
    let mut peak: BTreeMap<&'static str, f64> = BTreeMap::new();
    let deadline = Instant::now() + settings.timeout;
    loop {
        for (kind, mib) in deployed.memory() {
            let slot = peak.entry(kind).or_default();
            *slot = slot.max(mib);
        }
        let crashed = deployed.crashed();
        if !crashed.is_empty() {
            bail!("services crashed: {crashed:?}");
        }
        let state = sandbox.state(System::Mpluskassa).await?;
        let created = mk_orders_by_ext_id(&state);
        let missing = ids.iter().filter(|id| !created.contains_key(*id)).count();
        if missing == 0 {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "{missing} of {} orders not in MplusKASSA after {:?} (logs: {})",
                ids.len(),
                settings.timeout,
                deployed.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    for client in shop {
        client.await.context("a shop client panicked")??;
    }
    let after = deployed.costs(&metrics_http).await?;
    Costs::print_detail(&before, &after, ids.len() as f64, run);

    // Timestamps from the sandbox's request logs.
    let mc = sandbox.request_list(System::Mailchimp, mc_since).await?;
    let mk = sandbox.request_list(System::Mpluskassa, mk_since).await?;
    let times = OrderTimes::from_logs(&mc, &mk, latency_ms)?;
    let latencies = times.latencies(ids.iter())?;
    let observed = deployed
        .observed(&metrics_http, run, &ids, Duration::from_secs(60))
        .await?;
    let mut pipeline: Vec<u64> = ids
        .iter()
        .filter_map(|id| Some((observed.get(id)?, times.created.get(id)?)))
        .map(|(from, to)| u64::try_from((*to - *from).num_milliseconds()).unwrap_or(0))
        .collect();
    pipeline.sort_unstable();
    let (placed, created, shop_requests) = (&times.placed, &times.created, times.shop_requests);
    let first = placed
        .values()
        .min()
        .ok_or_else(|| anyhow!("no order placed"))?;
    let last = ids
        .iter()
        .filter_map(|id| created.get(id))
        .max()
        .ok_or_else(|| anyhow!("no order created"))?;
    let window = (*last - *first).num_milliseconds().max(1) as f64 / 1000.0;
    let n = ids.len() as f64;
    Ok(Outcome {
        deployment: Deployment::Embedded,
        latency_ms,
        orders: ids.len(),
        per_second: n / window,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        pipeline_p50_ms: percentile(&pipeline, 50.0),
        pipeline_p99_ms: percentile(&pipeline, 99.0),
        mailchimp_calls: (mc.len().saturating_sub(shop_requests)) as f64 / n,
        mpluskassa_calls: mk.len() as f64 / n,
        cpu_ms: after.ticks.saturating_sub(before.ticks) as f64 * 1000.0 / ticks_per_second() / n,
        statements: (after.statements - before.statements) / n,
        memory: peak
            .into_iter()
            .map(|(kind, load)| (kind, Memory { rest: 0.0, load }))
            .collect(),
    })
}

/// The markdown table.
fn table(outcomes: &[Outcome], settings: &Settings) -> String {
    use std::fmt::Write as _;
    let kinds: Vec<&'static str> = std::iter::once(EMBEDDED)
        .chain(ServiceKind::ALL.iter().map(|k| k.name()))
        .filter(|kind| outcomes.iter().any(|o| o.memory.contains_key(kind)))
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "| deployment | API latency | orders | orders/s | p50 | p99 | pipeline p50 | pipeline p99 \
         | MailChimp calls/order \
         | MplusKASSA calls/order | CPU ms/order | SQL statements/order | API-bound limit \
         | ratio to limit |"
    );
    for kind in &kinds {
        let _ = write!(out, " RSS {kind} rest/load MiB |");
    }
    out.push_str("\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    out.push_str(&"---:|".repeat(kinds.len()));
    out.push('\n');
    for o in outcomes {
        let (bound, ratio) = if o.latency_ms == 0 || o.mailchimp_calls <= 0.0 {
            ("n/a".to_owned(), "n/a".to_owned())
        } else {
            let bound = MAILCHIMP_CONNECTIONS / (o.latency_ms as f64 / 1000.0) / o.mailchimp_calls;
            (
                format!("{bound:.1} orders/s"),
                format!("{:.0} %", 100.0 * o.per_second / bound),
            )
        };
        let deployment = match o.deployment {
            Deployment::Embedded => "embedded".to_owned(),
            Deployment::Cluster(n) => format!("{n} instance(s) each"),
        };
        let _ = write!(
            out,
            "| {deployment} | {} ms | {} | {:.2} | {} ms | {} ms | {} ms | {} ms | {:.1} | {:.1} | {:.1} | {:.0} | {bound} | {ratio} |",
            o.latency_ms,
            o.orders,
            o.per_second,
            o.p50_ms,
            o.p99_ms,
            o.pipeline_p50_ms,
            o.pipeline_p99_ms,
            o.mailchimp_calls,
            o.mpluskassa_calls,
            o.cpu_ms,
            o.statements
        );
        for kind in &kinds {
            match o.memory.get(kind) {
                Some(m) => {
                    let _ = write!(out, " {:.0} / {:.0} |", m.rest, m.load);
                }
                None => out.push_str(" - |"),
            }
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "\n{} orders per run from {} shop clients{}{}; API-bound limit = {MAILCHIMP_CONNECTIONS} \
         connections / latency / MailChimp calls per order (MplusKASSA documents no connection \
         limit); CPU: utime + stime of Ferry's processes during the run (the embedded default's \
         in-process sandboxes included, a cluster's sandbox process not), per order; SQL \
         statements: `ferry_db_statements_total` of every process, per order; RSS: largest \
         instance of each service.",
        settings.orders,
        settings.shop_clients,
        match settings.rate {
            Some(rate) => format!(", placed at a steady {rate} per second"),
            None => " in a burst".to_owned(),
        },
        if settings.default_polling {
            ", the embedded default with its default poll intervals"
        } else {
            ", 1 s poll intervals"
        }
    );
    out
}
