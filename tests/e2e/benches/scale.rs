//! Ferry's scale benchmark (issue 16): the sandbox at scale and the five services as separate
//! processes on RabbitMQ and PostgreSQL (the end-to-end harness, connectors on their
//! **default poll settings**), one markdown table on stdout with a row per cell of
//! integrations x store size x MailChimp connector replicas x API latency.
//!
//! One cell, on a cluster of its own:
//! 1. The sandbox starts with `--scale orders=O,products=P,customers=C,stores=I` (store 1 is
//!    the seed's store id, stores 2..I are `<id>-2` ...), one MailChimp API key per
//!    integration (so each has its own 10 connections, as separate MailChimp accounts do) and
//!    the latency model `--latency-fixed-ms L` (plus `--latency-per-kib-ms`); MplusKASSA gets
//!    a `latency` fault of L ms. The MailChimp connector runs R replicas, every other service
//!    one instance.
//! 2. I integrations are registered through the mapper's registry API (create, settings,
//!    connection test), with every flow **off**, so the backfill's observed records are
//!    acknowledged by the mapper and not pushed into MplusKASSA (the order pipeline's
//!    throughput is `benches/report.rs`'s subject); the product the freshness orders use is
//!    put into each changed store first (a shop's catalogue).
//! 3. **Backfill**: all go live at once; the backfill ends when every integration's four
//!    resources (members, customers, products, orders) have a poll watermark in the MailChimp
//!    connector's `connector_cursors` rows (checked every 250 ms). Records = every store's
//!    orders, products and customers plus the audience's members, once per integration;
//!    records/s = records / (done − first go-live). **API-bound limit**: per key, a backfill needs at least
//!    `Σ ceil(records of a resource / 1000)` calls (pages of 1,000, the most MailChimp's
//!    `count` allows and the connector's default), of which at most 10 run at once (the
//!    connection cap), each taking the latency L: `ceil(calls / 10) x L`; the keys run side by
//!    side, so limit = records / that time of one key. At 0 ms the limit is not defined (n/a).
//!    The per-KiB latency term is not part of the limit (0 by default).
//! 4. **Idle poll cycle**: with nothing changing, the MailChimp request log over
//!    `FERRY_SCALE_IDLE_SECS`: calls and response KiB per poll of one integration (polls are
//!    counted by their one `GET /lists/{id}/members` call, the first of every poll),
//!    MailChimp calls per second per key, and the MailChimp connector replicas' SQL
//!    statements (`ferry_db_statements_total`) per poll: everything they did in the window
//!    (polls, poll leases, connection slots, the outbox relay) divided by the polls, and the
//!    CPU ms per poll of the whole machine's part in it (every service instance, the sandbox,
//!    PostgreSQL and RabbitMQ; by process on stderr).
//! 5. **Freshness**: the orders and customers flows are switched on for the integrations that
//!    get changes; `FERRY_SCALE_CHANGES` webshop orders (each by a new customer) are placed
//!    at `FERRY_SCALE_CHANGE_RATE` per second, round robin over up to that many stores. p50 /
//!    p99 (nearest rank) of *placed* (the MailChimp sandbox received the `POST …/orders`) to
//!    *created* (the MplusKASSA sandbox received the first successful `createOrderV3` with its
//!    id, plus the injected latency): poll wait, the bus, mapping, the saga and the customer's
//!    relation included. On stderr, by stage: *placed -> read in full* (the first `GET
//!    …/orders/{id}` after the placement: poll wait and scan) and *read -> created* (the
//!    pipeline), and the slowest order's store's requests around it (the poll rhythm).
//! 6. **Peak connections per key** and **429s**: the MailChimp sandbox's record
//!    (`GET /_sandbox/connections`) over the whole cell, for the integrations' keys (the
//!    shop's own key, which places the orders, left out). **RSS**: the highest VmRSS sample
//!    (about every second during backfill and freshness) of each service, the largest of its
//!    instances, and of the sandbox.
//!
//! The MplusKASSA connector's change detection is off (`FERRY_SYNC__ENABLED=false`; it still
//! executes commands): every integration shares the one MplusKASSA simulator on this machine,
//! where 1,000 installations' polls would measure the simulator, and the subject here is the
//! MailChimp side (no changed-since filter on its e-commerce collections).
//!
//! Run: build the optimised binaries, then the bench:
//!
//! ```sh
//! cargo build --release --bins -p ferry-sandbox -p ferry-connector-mailchimp \
//!   -p ferry-connector-mpluskassa -p ferry-mapper -p ferry-order-orchestrator -p ferry-notifier
//! cargo bench -p ferry-e2e --bench scale
//! ```
//!
//! Knobs (environment):
//! - `FERRY_SCALE_SHAPES`: comma-separated `<integrations>x<orders>` (default `1x2000,20x20`);
//!   each store also has orders / 5 products and orders / 2 customers (at least 1 each), the
//!   issue's proportions;
//! - `FERRY_SCALE_REPLICAS`: MailChimp connector replicas (default `1,3`);
//! - `FERRY_SCALE_LATENCIES_MS`: injected API latency (default `0,100`);
//! - `FERRY_SCALE_PER_KIB_MS`: MailChimp's latency per KiB of response (default 0);
//! - `FERRY_SCALE_IDLE_SECS`: the idle window (default 15);
//! - `FERRY_SCALE_CHANGES` (default 20), `FERRY_SCALE_CHANGE_RATE` (orders per second,
//!   default 1);
//! - `FERRY_SCALE_TIMEOUT_SECS`: per phase (default 900);
//! - `FERRY_SCALE_DURING_BACKFILL=1`: freshness is measured **during the backfill** instead
//!   of after it: the integrations that get orders go live first, are synced and get their
//!   flows on, then the others go live and the orders are placed while they backfill (a shop
//!   live while new integrations are onboarded: do its orders wait behind their backfills?);
//! - `FERRY_SCALE_BACKFILL_BACKLOG`: the MailChimp connector's `backfill_backlog` (default:
//!   its default, 1,000; `0` lets a backfill run ahead of the pipeline, as before session 22).
//!
//! The issue's full sizes (one store of 100,000 orders and 20,000 products; 1,000 small
//! integrations on 3 replicas): `FERRY_SCALE_SHAPES=1x100000,1000x20`
//! (the sandbox needs ~1 GiB per 100,000-order store).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use ferry_e2e::measure::{
    OrderTimes, cpu_ticks, env_number, metric_series, metrics_text, percentile, place,
    processes_named, received_at, ticks_per_second, vm_rss_kib,
};
use ferry_e2e::{
    Cluster, ClusterOptions, Integration, MAILCHIMP_API_KEY, SHOP_API_KEY, ServiceKind, System,
    WebshopOrder, mk_orders_by_ext_id, order_products,
};
use ferry_sandbox::seed::Seed;
use serde_json::{Value, json};

/// MailChimp's simultaneous connections per API key (the sandbox enforces it).
const CONNECTIONS: u64 = 10;
/// Records per page: the most MailChimp's `count` allows, the connector's default.
const PAGE: u64 = 1000;
/// The MailChimp resources every integration polls.
const RESOURCES: i64 = 4;
/// How many registry calls run at once while the integrations are set up.
const SETUP_CONCURRENCY: usize = 8;

/// One store size and how many integrations (each with a store of that size).
#[derive(Debug, Clone, Copy)]
struct Shape {
    integrations: usize,
    orders: usize,
    products: usize,
    customers: usize,
}

impl Shape {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let (i, o) = text.trim().split_once('x').ok_or_else(|| {
            anyhow!("FERRY_SCALE_SHAPES: {text:?} is not <integrations>x<orders>")
        })?;
        let integrations: usize = i.trim().replace('_', "").parse()?;
        let orders: usize = o.trim().replace('_', "").parse()?;
        ensure!(
            integrations > 0,
            "FERRY_SCALE_SHAPES: {text:?} has no integration"
        );
        Ok(Self {
            integrations,
            orders,
            products: (orders / 5).max(1),
            customers: (orders / 2).max(1),
        })
    }
}

/// The bench's knobs, from the environment.
#[derive(Debug, Clone)]
struct Settings {
    shapes: Vec<Shape>,
    replicas: Vec<usize>,
    latencies_ms: Vec<u64>,
    per_kib_ms: f64,
    idle: Duration,
    changes: usize,
    change_rate: f64,
    timeout: Duration,
    /// The MailChimp connector's `backfill_backlog`, when set.
    backfill_backlog: Option<String>,
    /// Freshness measured while the other integrations backfill (the changed ones live and
    /// synced first), instead of after the backfill.
    during_backfill: bool,
}

fn list<T: std::str::FromStr>(name: &str, default: &str) -> anyhow::Result<Vec<T>> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| anyhow!("{name}: {v:?} is not a number"))
        })
        .collect()
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            shapes: std::env::var("FERRY_SCALE_SHAPES")
                .unwrap_or_else(|_| "1x2000,20x20".to_owned())
                .split(',')
                .map(Shape::parse)
                .collect::<anyhow::Result<_>>()?,
            replicas: list("FERRY_SCALE_REPLICAS", "1,3")?,
            latencies_ms: list("FERRY_SCALE_LATENCIES_MS", "0,100")?,
            per_kib_ms: env_number("FERRY_SCALE_PER_KIB_MS", 0.0)?,
            idle: Duration::from_secs(env_number("FERRY_SCALE_IDLE_SECS", 15)?),
            changes: env_number("FERRY_SCALE_CHANGES", 20usize)?.max(1),
            change_rate: env_number("FERRY_SCALE_CHANGE_RATE", 1.0f64)?.max(0.01),
            timeout: Duration::from_secs(env_number("FERRY_SCALE_TIMEOUT_SECS", 900)?),
            backfill_backlog: std::env::var("FERRY_SCALE_BACKFILL_BACKLOG").ok(),
            during_backfill: env_number("FERRY_SCALE_DURING_BACKFILL", 0u8)? == 1,
        })
    }
}

/// One cell of the matrix.
#[derive(Debug, Clone, Copy)]
struct Cell {
    shape: Shape,
    replicas: usize,
    latency_ms: u64,
}

impl Cell {
    fn name(&self) -> String {
        format!(
            "bench_scale_{}x{}_{}r_{}ms",
            self.shape.integrations, self.shape.orders, self.replicas, self.latency_ms
        )
    }
}

/// One cell's figures.
#[derive(Debug, Clone, Default)]
struct Outcome {
    idle_polls: usize,
    idle_calls_per_poll: f64,
    idle_kib_per_poll: f64,
    idle_calls_per_second_per_key: f64,
    /// SQL statements of the MailChimp connector replicas per idle poll (all their work in
    /// the idle window: polls, leases, slots, outbox relay).
    idle_statements_per_poll: f64,
    /// CPU ms per idle poll, by process kind (every instance; the sandbox, PostgreSQL and
    /// RabbitMQ included): what polling costs the machine.
    idle_cpu_ms_per_poll: BTreeMap<&'static str, f64>,
    p50_ms: u64,
    p99_ms: u64,
    backfill_records: i64,
    backfill_secs: f64,
    /// Records per second the API admits (`None` at 0 ms).
    limit: Option<f64>,
    peak_per_key: u64,
    refused: u64,
    /// Highest VmRSS per process kind, MiB.
    rss: BTreeMap<&'static str, f64>,
}

/// The MailChimp API key of integration `i` (data center `us1`, as the sandbox's first key).
fn key_of(i: usize) -> String {
    format!("{i:08x}{:024x}-us1", 0xfe11_u64)
}

/// The MailChimp store of integration `i`.
fn store_of(seed: &Seed, i: usize) -> String {
    if i == 0 {
        seed.shop.store_id.clone()
    } else {
        format!("{}-{}", seed.shop.store_id, i + 1)
    }
}

/// The settings of a bench integration: those of the e2e seed integration with the flows
/// on (`orders` and `customers`) or all off.
fn settings_document(seed: &Seed, flows_on: bool) -> Value {
    let mut document = Integration::for_seed(seed).settings;
    let switch = |on: bool, direction: &str| json!({"enabled": on, "direction": direction});
    document["flows"] = json!({
        "customers": switch(flows_on, "mailchimp_to_mpluskassa"),
        "orders": switch(flows_on, "mailchimp_to_mpluskassa"),
        "products": switch(false, "mpluskassa_to_mailchimp"),
        "categories": switch(false, "mpluskassa_to_mailchimp"),
        "stock": switch(false, "mpluskassa_to_mailchimp"),
    });
    document
}

fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let mut rows = Vec::new();
    for shape in &settings.shapes {
        for &replicas in &settings.replicas {
            for &latency_ms in &settings.latencies_ms {
                let cell = Cell {
                    shape: *shape,
                    replicas,
                    latency_ms,
                };
                eprintln!("scale: cell {}", cell.name());
                let outcome = runtime
                    .block_on(run_cell(cell, &settings))
                    .with_context(|| format!("cell {}", cell.name()))?;
                eprintln!("scale: {}: {outcome:?}", cell.name());
                rows.push((cell, outcome));
            }
        }
    }
    println!("{}", table(&rows, &settings));
    eprintln!("scale: done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// SQL statements so far of every MailChimp connector replica (`ferry_db_statements_total`).
async fn mailchimp_statements(cluster: &Cluster) -> anyhow::Result<BTreeMap<String, f64>> {
    let http = reqwest::Client::new();
    let mut by: BTreeMap<String, f64> = BTreeMap::new();
    for s in &cluster.services {
        if s.kind != ServiceKind::ConnectorMailchimp {
            continue;
        }
        let text = metrics_text(&http, &s.admin_url).await?;
        for (labels, n) in metric_series(&text, "ferry_db_statements_total") {
            *by.entry(labels).or_default() += n;
        }
    }
    Ok(by)
}

/// Starts the cell's cluster and measures backfill, idle polling and freshness.
async fn run_cell(cell: Cell, settings: &Settings) -> anyhow::Result<Outcome> {
    let seed = Seed::default_shop();
    let shape = cell.shape;
    let mut options = ClusterOptions::new(&cell.name());
    options
        .instances_of
        .insert(ServiceKind::ConnectorMailchimp, cell.replicas);
    options.set_up_integration = false;
    options.default_polling = true;
    options.env_of.insert(
        ServiceKind::ConnectorMpluskassa,
        vec![("FERRY_SYNC__ENABLED".to_owned(), "false".to_owned())],
    );
    if let Some(backlog) = &settings.backfill_backlog {
        options.env_of.insert(
            ServiceKind::ConnectorMailchimp,
            vec![(
                "FERRY_MAILCHIMP__BACKFILL_BACKLOG".to_owned(),
                backlog.clone(),
            )],
        );
    }
    let mut args = vec![
        "--scale".to_owned(),
        format!(
            "orders={},products={},customers={},stores={}",
            shape.orders, shape.products, shape.customers, shape.integrations
        ),
        "--latency-fixed-ms".to_owned(),
        cell.latency_ms.to_string(),
        "--latency-per-kib-ms".to_owned(),
        settings.per_kib_ms.to_string(),
        // The shop's key first (it names the data center): the orders are placed with it.
        "--mailchimp-api-key".to_owned(),
        SHOP_API_KEY.to_owned(),
        "--mailchimp-api-key".to_owned(),
        MAILCHIMP_API_KEY.to_owned(),
    ];
    for i in 0..shape.integrations {
        args.extend(["--mailchimp-api-key".to_owned(), key_of(i)]);
    }
    options.sandbox_args = args;
    let mut cluster = Cluster::start(options, Integration::for_seed(&seed)).await?;
    let sandbox = cluster.sandbox.api();
    if cell.latency_ms > 0 {
        sandbox
            .add_fault(
                System::Mpluskassa,
                json!({"fault": {"kind": "latency", "ms": cell.latency_ms}}),
            )
            .await?;
    }
    let mut rss = Rss::default();

    // The integrations, every flow off; the freshness product in each changed store.
    let products = order_products(&seed);
    let (product, sku, price) = products
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("the seed has no product in both systems"))?;
    let targets = settings.changes.min(shape.integrations);
    for i in 0..targets {
        sandbox
            .mailchimp(
                reqwest::Method::PUT,
                &format!(
                    "/ecommerce/stores/{}/products/{product}",
                    store_of(&seed, i)
                ),
                Some(&json!({
                    "id": product, "title": "Freshness product",
                    "variants": [{"id": sku, "title": "Freshness product", "sku": sku,
                                  "price": price, "inventory_quantity": 1000}]
                })),
            )
            .await
            .context("the freshness product")?;
    }
    let audience = sandbox
        .mailchimp(
            reqwest::Method::GET,
            &format!(
                "/lists/{}/members?count=1&fields=total_items",
                seed.shop.list_id
            ),
            None,
        )
        .await?;
    let members = usize::try_from(audience["total_items"].as_u64().unwrap_or(0))?;
    let off = settings_document(&seed, false);
    let mut ids = Vec::with_capacity(shape.integrations);
    let indexes: Vec<usize> = (0..shape.integrations).collect();
    for chunk in indexes.chunks(SETUP_CONCURRENCY) {
        let registered = futures::future::join_all(chunk.iter().map(|&i| {
            let integration = Integration {
                id: String::new(),
                store_id: store_of(&seed, i),
                list_id: seed.shop.list_id.clone(),
                settings: off.clone(),
                mappings: None,
            };
            let cluster = &cluster;
            async move {
                cluster
                    .register_integration(&integration, &format!("scale {i}"), &key_of(i))
                    .await
                    .with_context(|| format!("integration {i}"))
            }
        }))
        .await;
        for id in registered {
            ids.push(id?);
        }
    }
    eprintln!("scale: {} integrations registered", ids.len());

    // Backfill: every integration goes live; done when every cursor has a watermark. With
    // `during_backfill`, the integrations that get orders go first, and their orders are
    // placed while the others backfill.
    let started = Instant::now();
    let (first, rest) = if settings.during_backfill {
        ids.split_at(targets)
    } else {
        ids.split_at(0)
    };
    let order_ids: Vec<String> = (0..settings.changes)
        .map(|k| format!("WS-SCALE-{k:05}"))
        .collect();
    let stores: Vec<String> = (0..targets).map(|i| store_of(&seed, i)).collect();
    let on = settings_document(&seed, true);
    let mut shop = None;
    if !first.is_empty() {
        go_live_all(&cluster, first).await?;
        let want = RESOURCES * i64::try_from(first.len())?;
        wait_synced(&mut cluster, &mut rss, want, settings.timeout).await?;
        for id in first {
            cluster
                .save_settings_of(id, &on, "scale bench: orders and customers on")
                .await?;
        }
        sandbox.clear_requests(System::Mpluskassa).await?;
        shop = Some(place_orders(
            &sandbox,
            &order_ids,
            &stores,
            (&product, &sku, price),
            settings.change_rate,
        ));
        eprintln!(
            "scale: {} integrations live, orders placed while {} backfill",
            first.len(),
            rest.len()
        );
    }
    go_live_all(&cluster, rest).await?;
    let want = RESOURCES * i64::try_from(shape.integrations)?;
    wait_synced(&mut cluster, &mut rss, want, settings.timeout).await?;
    let backfill_secs = started.elapsed().as_secs_f64();
    // What the backfill read: every store's records (and the freshness product of the
    // changed stores) and the audience's members, once per integration.
    let records = i64::try_from(
        shape.integrations * (shape.orders + shape.products + shape.customers + members) + targets,
    )?;
    eprintln!("scale: backfill of {records} records in {backfill_secs:.1} s");
    let mut latencies = None;
    if let Some(shop) = shop {
        wait_created(&mut cluster, &mut rss, &order_ids, settings.timeout).await?;
        shop.await.context("the shop panicked")??;
        latencies = Some(freshness(&sandbox, &order_ids, cell.latency_ms).await?);
    }

    // Idle polling: nothing changes for a while. A poll that found changes (the backfill's)
    // is followed by one after 1 s, then 2, 4 and 5 s: the window starts once the schedules
    // have backed off.
    tokio::time::sleep(Duration::from_secs(8)).await;
    sandbox.clear_requests(System::Mailchimp).await?;
    let statements_before = mailchimp_statements(&cluster).await?;
    let cpu_before = cpu_by_kind(&mut cluster);
    let idle_started = Instant::now();
    while idle_started.elapsed() < settings.idle {
        rss.sample(&mut cluster);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let idle_secs = idle_started.elapsed().as_secs_f64();
    let statements_after = mailchimp_statements(&cluster).await?;
    let mut idle_by: Vec<(String, f64)> = statements_after
        .iter()
        .map(|(k, n)| {
            (
                k.clone(),
                n - statements_before.get(k).copied().unwrap_or(0.0),
            )
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    idle_by.sort_by(|a, b| b.1.total_cmp(&a.1));
    let idle_statements: f64 = idle_by.iter().map(|(_, n)| n).sum();
    let cpu_after = cpu_by_kind(&mut cluster);
    let idle = sandbox.request_list(System::Mailchimp, 0).await?;
    let polls = idle
        .iter()
        .filter(|r| {
            r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.ends_with("/members"))
        })
        .count();
    let idle_bytes: u64 = idle
        .iter()
        .filter_map(|r| r["response_bytes"].as_u64())
        .sum();

    // Freshness (unless measured during the backfill): the flows on where orders come, then
    // orders at a steady pace.
    let latencies = match latencies {
        Some(during) => during,
        None => {
            for id in &ids[..targets] {
                cluster
                    .save_settings_of(id, &on, "scale bench: orders and customers on")
                    .await?;
            }
            sandbox.clear_requests(System::Mailchimp).await?;
            sandbox.clear_requests(System::Mpluskassa).await?;
            let shop = place_orders(
                &sandbox,
                &order_ids,
                &stores,
                (&product, &sku, price),
                settings.change_rate,
            );
            wait_created(&mut cluster, &mut rss, &order_ids, settings.timeout).await?;
            shop.await.context("the shop panicked")??;
            freshness(&sandbox, &order_ids, cell.latency_ms).await?
        }
    };

    // The connection record of the integrations' keys (the shop's and the test's own left
    // out; the record shows a key's first characters).
    let record = sandbox.connections().await?;
    let others: Vec<String> = [SHOP_API_KEY, MAILCHIMP_API_KEY]
        .iter()
        .map(|key| key.chars().take(4).collect())
        .collect();
    let keys: Vec<&Value> = record["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| {
            k["key"]
                .as_str()
                .is_some_and(|m| !others.iter().any(|o| m.starts_with(o.as_str())))
        })
        .collect();
    let peak_per_key = keys
        .iter()
        .filter_map(|k| k["peak"].as_u64())
        .max()
        .unwrap_or(0);
    let refused = keys.iter().filter_map(|k| k["refused"].as_u64()).sum();
    check_alive(&mut cluster)?;

    let polls_f = polls.max(1) as f64;
    let ms_per_tick = 1000.0 / ticks_per_second();
    let idle_cpu_ms_per_poll: BTreeMap<&'static str, f64> = cpu_after
        .iter()
        .map(|(kind, after)| {
            let before = cpu_before.get(kind).copied().unwrap_or(0);
            (
                *kind,
                after.saturating_sub(before) as f64 * ms_per_tick / polls_f,
            )
        })
        .collect();
    eprintln!(
        "scale: idle SQL statements per poll (MailChimp connectors, verb table): {}",
        idle_by
            .iter()
            .take(10)
            .map(|(k, n)| format!("{k} {:.2}", n / polls_f))
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "scale: idle CPU ms per poll by process: {}",
        idle_cpu_ms_per_poll
            .iter()
            .map(|(kind, ms)| format!("{kind} {ms:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Outcome {
        idle_polls: polls,
        idle_calls_per_poll: idle.len() as f64 / polls_f,
        idle_kib_per_poll: idle_bytes as f64 / 1024.0 / polls_f,
        idle_calls_per_second_per_key: idle.len() as f64 / idle_secs / shape.integrations as f64,
        idle_statements_per_poll: idle_statements / polls_f,
        idle_cpu_ms_per_poll,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        backfill_records: records,
        backfill_secs,
        limit: api_bound(shape, members as u64, records, cell.latency_ms),
        peak_per_key,
        refused,
        rss: rss.peak,
    })
}

/// Records per second MailChimp's connection cap admits for a backfill of `shape` (and
/// `members` audience members) at `latency_ms` (see the module documentation); `None` at 0 ms.
fn api_bound(shape: Shape, members: u64, records: i64, latency_ms: u64) -> Option<f64> {
    if latency_ms == 0 {
        return None;
    }
    let calls: u64 = [
        shape.orders as u64,
        shape.products as u64,
        shape.customers as u64,
        members,
    ]
    .iter()
    .map(|n| n.div_ceil(PAGE).max(1))
    .sum();
    let seconds = calls.div_ceil(CONNECTIONS) as f64 * latency_ms as f64 / 1000.0;
    Some(records as f64 / seconds)
}

/// CPU clock ticks so far (utime + stime) by process kind: every instance of each service,
/// the sandbox, and the machine's PostgreSQL and RabbitMQ processes.
fn cpu_by_kind(cluster: &mut Cluster) -> BTreeMap<&'static str, u64> {
    let mut ticks: BTreeMap<&'static str, u64> = BTreeMap::new();
    for service in &mut cluster.services {
        let kind = service.kind.name();
        if let Some(t) = service.process().pid().and_then(cpu_ticks) {
            *ticks.entry(kind).or_default() += t;
        }
    }
    if let Some(t) = cluster.sandbox.process().pid().and_then(cpu_ticks) {
        ticks.insert("sandbox", t);
    }
    for (kind, comm) in [("postgresql", "postgres"), ("rabbitmq", "beam.smp")] {
        ticks.insert(
            kind,
            processes_named(comm)
                .into_iter()
                .filter_map(cpu_ticks)
                .sum(),
        );
    }
    ticks
}

/// Puts `ids` live (the registry's go-live), a few at a time.
async fn go_live_all(cluster: &Cluster, ids: &[String]) -> anyhow::Result<()> {
    for chunk in ids.chunks(SETUP_CONCURRENCY * 2) {
        for live in futures::future::join_all(chunk.iter().map(|id| cluster.go_live(id))).await {
            live?;
        }
    }
    Ok(())
}

/// Waits until `want` MailChimp resources have a poll watermark (their first sync done).
async fn wait_synced(
    cluster: &mut Cluster,
    rss: &mut Rss,
    want: i64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let cursors = "SELECT count(*) AS n FROM {schema}.connector_cursors \
         WHERE system = 'mailchimp' AND watermark IS NOT NULL";
    loop {
        rss.sample(cluster);
        check_alive(cluster)?;
        let synced = cluster
            .query_number(ServiceKind::ConnectorMailchimp, cursors)
            .await?;
        if synced >= want {
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!(
                "backfill: {synced} of {want} resources synced after {timeout:?} (logs: {})",
                cluster.log_dir().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Places `order_ids` (each by a new customer) at `rate` per second, round robin over
/// `stores`, in a task of its own.
fn place_orders(
    sandbox: &ferry_e2e::SandboxApi,
    order_ids: &[String],
    stores: &[String],
    (product, sku, price): (&str, &str, f64),
    rate: f64,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let sandbox = sandbox.clone();
    let order_ids = order_ids.to_vec();
    let stores = stores.to_vec();
    let (product, sku) = (product.to_owned(), sku.to_owned());
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for (k, id) in order_ids.iter().enumerate() {
            tokio::time::sleep_until(start + Duration::from_secs_f64(k as f64 / rate)).await;
            let email = format!("fresh.{k}@scale.example");
            let customer_id = format!("fresh-{k}");
            let order = WebshopOrder {
                id,
                email: &email,
                customer_id: &customer_id,
                company: None,
                lines: vec![(product.as_str(), sku.as_str(), 1, price)],
            };
            place(&sandbox, &stores[k % stores.len()], &order).await?;
        }
        Ok(())
    })
}

/// Waits until every order of `order_ids` exists in MplusKASSA.
async fn wait_created(
    cluster: &mut Cluster,
    rss: &mut Rss,
    order_ids: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    let sandbox = cluster.sandbox.api();
    let started = Instant::now();
    loop {
        rss.sample(cluster);
        check_alive(cluster)?;
        let state = sandbox.state(System::Mpluskassa).await?;
        let created = mk_orders_by_ext_id(&state);
        let missing = order_ids
            .iter()
            .filter(|id| !created.contains_key(*id))
            .count();
        if missing == 0 {
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!(
                "freshness: {missing} of {} orders not in MplusKASSA after {timeout:?} (logs: {})",
                order_ids.len(),
                cluster.log_dir().display()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Placed-to-created milliseconds of every order, sorted, from the sandbox's request logs.
async fn freshness(
    sandbox: &ferry_e2e::SandboxApi,
    order_ids: &[String],
    latency_ms: u64,
) -> anyhow::Result<Vec<u64>> {
    let mc = sandbox.request_list(System::Mailchimp, 0).await?;
    let mk = sandbox.request_list(System::Mpluskassa, 0).await?;
    let times = OrderTimes::from_logs(&mc, &mk, latency_ms)?;
    // Where the time goes: the poll wait and scan, then the pipeline.
    let (waited, piped) = times.stages(order_ids);
    eprintln!(
        "scale: freshness by stage ({} of {} orders read by themselves), p50 / p99: placed -> \
         read in full {} / {} ms, read -> created {} / {} ms",
        waited.len(),
        order_ids.len(),
        percentile(&waited, 50.0),
        percentile(&waited, 99.0),
        percentile(&piped, 50.0),
        percentile(&piped, 99.0),
    );
    // The slowest order's store, as MailChimp saw it around the order: every request on the
    // store from 6 s before the placement to 1 s after the order was read (the poll
    // rhythm, the scans, the read).
    if let Some((id, placed, read)) = order_ids
        .iter()
        .filter_map(|id| Some((id, times.placed.get(id)?, times.read.get(id)?)))
        .max_by_key(|(_, placed, read)| **read - **placed)
    {
        let store = mc
            .iter()
            .find(|r| {
                r["method"] == "GET"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with(&format!("/orders/{id}")))
            })
            .and_then(|r| r["path"].as_str())
            .and_then(|p| p.split("/orders/").next())
            .unwrap_or_default()
            .to_owned();
        let mut seen = Vec::new();
        for r in &mc {
            let (Some(path), Ok(at)) = (r["path"].as_str(), received_at(r)) else {
                continue;
            };
            let offset = (at - *placed).num_milliseconds();
            let Some(tail) = path.strip_prefix(&store).filter(|t| t.starts_with('/')) else {
                continue;
            };
            if offset >= -6000 && at <= *read + chrono::Duration::seconds(1) {
                seen.push(format!(
                    "{offset:+} ms {} {tail}",
                    r["method"].as_str().unwrap_or("")
                ));
            }
        }
        eprintln!(
            "scale: the slowest order {id} ({} ms to its read), its store's requests relative to its placement: {}",
            (*read - *placed).num_milliseconds(),
            seen.join("; ")
        );
    }
    times.latencies(order_ids)
}

fn check_alive(cluster: &mut Cluster) -> anyhow::Result<()> {
    let crashed = cluster.crashed();
    ensure!(crashed.is_empty(), "services crashed: {crashed:?}");
    Ok(())
}

/// The highest VmRSS seen per process kind (the largest instance), MiB.
#[derive(Debug, Default)]
struct Rss {
    peak: BTreeMap<&'static str, f64>,
}

impl Rss {
    fn sample(&mut self, cluster: &mut Cluster) {
        let mut note = |kind: &'static str, pid: Option<u32>| {
            if let Some(kib) = pid.and_then(vm_rss_kib) {
                let slot = self.peak.entry(kind).or_default();
                *slot = slot.max(kib as f64 / 1024.0);
            }
        };
        note("sandbox", cluster.sandbox.process().pid());
        for service in &mut cluster.services {
            note(service.kind.name(), service.process().pid());
        }
    }
}

/// The markdown table.
fn table(rows: &[(Cell, Outcome)], settings: &Settings) -> String {
    use std::fmt::Write as _;
    let kinds: Vec<&'static str> = ServiceKind::ALL
        .iter()
        .map(|k| k.name())
        .chain(["sandbox"])
        .collect();
    let mut out = String::from(
        "| integrations | store: orders / products / customers | MailChimp connector replicas \
         | API latency | idle poll: calls | idle poll: KiB | idle poll: SQL statements | idle poll: CPU ms | idle: calls/s per key \
         | freshness p50 | freshness p99 | backfill records | backfill s | backfill records/s \
         | API-bound limit | ratio | peak connections per key | 429s |",
    );
    for kind in &kinds {
        let _ = write!(out, " RSS {kind} MiB |");
    }
    out.push_str(
        "\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    out.push_str(&"---:|".repeat(kinds.len()));
    out.push('\n');
    for (cell, o) in rows {
        let rate = o.backfill_records as f64 / o.backfill_secs.max(0.001);
        let (limit, ratio) = match o.limit {
            Some(limit) => (
                format!("{limit:.0}/s"),
                format!("{:.0} %", 100.0 * rate / limit),
            ),
            None => ("n/a".to_owned(), "n/a".to_owned()),
        };
        let _ = write!(
            out,
            "| {} | {} / {} / {} | {} | {} ms | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} s | {:.1} s | {} | {:.1} | {rate:.0} | {limit} | {ratio} | {} | {} |",
            cell.shape.integrations,
            cell.shape.orders,
            cell.shape.products,
            cell.shape.customers,
            cell.replicas,
            cell.latency_ms,
            o.idle_calls_per_poll,
            o.idle_kib_per_poll,
            o.idle_statements_per_poll,
            o.idle_cpu_ms_per_poll.values().sum::<f64>(),
            o.idle_calls_per_second_per_key,
            o.p50_ms as f64 / 1000.0,
            o.p99_ms as f64 / 1000.0,
            o.backfill_records,
            o.backfill_secs,
            o.peak_per_key,
            o.refused,
        );
        for kind in &kinds {
            match o.rss.get(kind) {
                Some(mib) => {
                    let _ = write!(out, " {mib:.0} |");
                }
                None => out.push_str(" - |"),
            }
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "\nIdle window {} s (polls counted by their members call: {}); {} orders per cell placed at \
         {}/s by new customers over up to {} stores; MailChimp latency per KiB {} ms; default poll \
         settings; every MailChimp key its own 10 connections; RSS: highest sample, largest \
         instance.{}{}",
        settings.idle.as_secs(),
        rows.iter()
            .map(|(_, o)| o.idle_polls.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        settings.changes,
        settings.change_rate,
        settings.changes,
        settings.per_kib_ms,
        if settings.during_backfill {
            " Freshness measured **during the backfill**: the stores that get orders were live \
             and synced first, the orders placed while the other integrations backfilled."
        } else {
            ""
        },
        match &settings.backfill_backlog {
            Some(backlog) => format!(" MailChimp connector `backfill_backlog = {backlog}`."),
            None => String::new(),
        },
    );
    out
}
