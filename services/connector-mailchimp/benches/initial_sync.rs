//! Initial (full) sync of 10,000 e-commerce customers and 10,000 products from the MailChimp
//! sandbox over real HTTP, at 0 ms and 100 ms injected latency per call, with pages of 1,000
//! and of 100 records. Prints records/s and the ratio to the API-bound limit: with at most 10
//! connections and a latency L per call, MailChimp serves at most `10 / L` pages per second,
//! i.e. `10 / L x page size` records per second (at 0 ms injected latency the sandbox's own
//! service time is the latency; the row shows the measured mean).
//!
//! `cargo bench -p ferry-connector-mailchimp --bench initial_sync`
//! (`FERRY_BENCH_RECORDS` overrides the 10,000 per resource.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_connector_mailchimp::{ConnectorConfig, IntegrationConfig, Migrator, Resource, SyncMode};
use ferry_platform::bus::Bus;
use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::config::Secret;
use ferry_platform::db::{self, testing};
use ferry_platform::service::Runtime;
use ferry_proto::IntegrationId;
use ferry_sandbox::faults::{FaultKind, FaultRule, System};
use ferry_sandbox::mailchimp::DEFAULT_API_KEY;
use ferry_sandbox::seed::Seed;
use ferry_sandbox::{Sandbox, SandboxConfig};
use tokio_util::sync::CancellationToken;

fn big_seed(n: usize) -> Seed {
    let mut seed = Seed::default_shop();
    let customer = seed.customers[0].clone();
    let product = seed
        .products
        .iter()
        .find(|p| p.in_mailchimp && p.variants.len() == 1)
        .expect("a simple product")
        .clone();
    seed.orders.clear();
    seed.stock.clear();
    seed.customers = (0..n)
        .map(|i| {
            let mut c = customer.clone();
            c.relation_number = 500_000 + i as u64;
            c.mailchimp_id = format!("bench-{i}");
            c.email = format!("bench.{i}@example.nl");
            c.in_mailchimp_store = true;
            c.member_status = None;
            c
        })
        .collect();
    seed.products = (0..n)
        .map(|i| {
            let mut p = product.clone();
            p.product_number = 7_000_000 + i as u64;
            p.title = format!("Bench product {i}");
            p.in_mailchimp = true;
            p.variants[0].sku = format!("{}", 8_000_000 + i);
            p.variants[0].article_number = 9_000_000 + i as u64;
            p
        })
        .collect();
    seed
}

struct Row {
    latency_ms: u64,
    page_size: u32,
    records: u64,
    bare: Duration,
    commit: Duration,
    sync: Duration,
    published: Duration,
    mean_call_ms: f64,
}

async fn run(seed_json: &str, n: usize, latency_ms: u64, page_size: u32) -> Row {
    let sandbox = Sandbox::start(SandboxConfig {
        empty: true,
        workers: 2,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox");
    // Load the shop through the control endpoint.
    let http = reqwest::Client::new();
    let loaded = http
        .post(format!("{}/_sandbox/seed", sandbox.mailchimp_base))
        .header("content-type", "application/json")
        .body(seed_json.to_owned())
        .send()
        .await
        .expect("seed upload");
    assert!(
        loaded.status().is_success(),
        "seed refused: {}",
        loaded.text().await.unwrap_or_default()
    );
    if latency_ms > 0 {
        sandbox
            .faults
            .add(
                FaultRule::new(System::Mailchimp, FaultKind::Latency { ms: latency_ms })
                    .method("GET"),
            )
            .expect("fault");
    }
    let bare = bare_read(&sandbox.mailchimp_url, page_size, n).await;
    let database = testing::sqlite_temp();
    let conn = db::connect(database.config()).await.expect("db");
    db::migrate::<Migrator>(&conn).await.expect("migrate");
    let bus = Arc::new(InProcessBus::new());
    let shutdown = CancellationToken::new();
    let seed = Seed::default_shop();
    let mut config = ConnectorConfig::default();
    config.common.service_name = "connector-mailchimp".into();
    config.mailchimp.poll_enabled = false;
    config.mailchimp.page_size = page_size;
    // The sandbox listens on loopback over plain http.
    config.egress.allow = vec!["127.0.0.1/32".into()];
    config.egress.sandbox = true;
    config.integrations = vec![IntegrationConfig {
        integration_id: IntegrationId::new(),
        api_key: Secret::new(DEFAULT_API_KEY),
        base_url: Some(sandbox.mailchimp_url.clone()),
        store_id: seed.shop.store_id.clone(),
        list_id: seed.shop.list_id.clone(),
        store_name: seed.shop.name.clone(),
        currency_code: seed.shop.currency_code.clone(),
        concurrency: 10,
        webhook_secret: None,
        company_merge_field: "COMPANY".into(),
        resources: vec![Resource::Customers, Resource::Products],
        publish_stock: false,
        audience_members: None,
    }];
    let id = config.integrations[0].integration_id;
    // Something must consume the events (the mapper would): a queue bound to them.
    let sink = ferry_platform::bus::Subscription::new(
        "bench-sink",
        vec![ferry_platform::bus::Binding::events("mailchimp.#")],
    );
    let sink = bus
        .subscribe(
            sink,
            Arc::new(|_d: ferry_platform::bus::Delivery| async {
                ferry_platform::bus::Outcome::Ack
            }),
        )
        .await
        .expect("sink");
    let runtime = Runtime {
        db: conn.clone(),
        bus: bus.clone(),
        shutdown: shutdown.clone(),
    };
    let (started, ingester) = ferry_connector_mailchimp::start_with_ingester(runtime, config)
        .await
        .expect("start");
    let integration = ingester.integrations().get(id).expect("integration");

    let t0 = Instant::now();
    let mut records = 0;
    let mut commit = Duration::ZERO;
    for resource in [Resource::Customers, Resource::Products] {
        let report = ingester
            .sync(&integration, resource, SyncMode::Full)
            .await
            .expect("sync");
        assert_eq!(report.published as usize, n, "{resource:?}");
        records += report.published;
        commit += Duration::from_millis(report.commit_ms);
    }
    let sync = t0.elapsed();
    let outbox = Outbox::new(ferry_connector_mailchimp::SERVICE);
    loop {
        if outbox.pending(&conn).await.expect("pending") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let published = t0.elapsed();
    let stats = integration.client.stats().snapshot();
    let (calls, total_ms) = stats
        .calls
        .iter()
        .filter(|c| c.operation.ends_with(".list"))
        .fold((0u64, 0u64), |(n, t), c| {
            (n + c.count, t + c.count * c.mean_ms)
        });
    shutdown.cancel();
    started.stop(Duration::from_secs(5)).await;
    sink.stop(Duration::from_secs(1)).await;
    sandbox.stop().await;
    Row {
        latency_ms,
        page_size,
        records,
        bare,
        commit,
        sync,
        published,
        mean_call_ms: total_ms as f64 / calls.max(1) as f64,
    }
}

/// The reference: the same pages read with a bare reqwest client, 10 at a time, nothing done
/// with them.
async fn bare_read(base: &str, page_size: u32, n: usize) -> Duration {
    use futures::StreamExt;
    let http = reqwest::Client::new();
    let store = Seed::default_shop().shop.store_id;
    let t0 = Instant::now();
    let mut urls = Vec::new();
    for plural in ["customers", "products"] {
        for offset in (0..n).step_by(page_size as usize) {
            urls.push(format!(
                "{base}/ecommerce/stores/{store}/{plural}?count={page_size}&offset={offset}&exclude_fields={plural}._links,_links"
            ));
        }
    }
    let results: Vec<usize> = futures::stream::iter(urls)
        .map(|url| {
            let http = http.clone();
            async move {
                // The reference retries too (the sandbox resets a connection now and then).
                for _ in 0..10 {
                    let Ok(response) = http
                        .get(&url)
                        .basic_auth("bench", Some(DEFAULT_API_KEY))
                        .send()
                        .await
                    else {
                        continue;
                    };
                    if !response.status().is_success() {
                        continue;
                    }
                    if let Ok(body) = response.bytes().await {
                        return body.len();
                    }
                }
                panic!("bare GET {url} kept failing");
            }
        })
        .buffer_unordered(10)
        .collect()
        .await;
    assert!(results.iter().all(|n| *n > 0));
    t0.elapsed()
}

fn main() {
    let n: usize = std::env::var("FERRY_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let seed_json = serde_json::to_string(&big_seed(n)).expect("seed json");
    let mut rows = Vec::new();
    for (latency, page) in [(0, 1000), (100, 1000), (0, 100), (100, 100)] {
        rows.push(runtime.block_on(run(&seed_json, n, latency, page)));
    }
    println!();
    println!("Initial sync: {n} customers + {n} products, 10 connections, SQLite + in-process bus");
    println!();
    println!(
        "| latency | page | records | sync s | records/s | all published s | bare read records/s | vs bare read | API-bound records/s | vs API bound | connector-bound records/s | mean call ms |"
    );
    println!(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in rows {
        let rate = r.records as f64 / r.sync.as_secs_f64();
        let per_call = if r.latency_ms > 0 {
            r.latency_ms as f64
        } else {
            r.mean_call_ms.max(1.0)
        };
        let bound = 10.0 / (per_call / 1000.0) * f64::from(r.page_size);
        let bare = r.records as f64 / r.bare.as_secs_f64();
        let own = r.records as f64 / r.commit.as_secs_f64().max(1e-3);
        println!(
            "| {} ms | {} | {} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0} | {:.1} |",
            r.latency_ms,
            r.page_size,
            r.records,
            r.sync.as_secs_f64(),
            rate,
            r.published.as_secs_f64(),
            bare,
            rate / bare,
            bound,
            rate / bound,
            own,
            r.mean_call_ms,
        );
    }
}
