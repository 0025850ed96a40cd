//! Order saga benchmark: orders per second end to end through the bus (order event ->
//! five commands answered by a responder at 0 ms -> completed saga), saga latency at a
//! fixed arrival rate, and a burst of many orders per customer with the customer
//! resolution reused (`saga.customer_reuse_secs`) and not. Prints a table.
//!
//! ```sh
//! cargo bench -p ferry-order-orchestrator --bench saga
//! # FERRY_BENCH_ORDERS (default 2000), FERRY_BENCH_RATE (orders/s, default 100),
//! # FERRY_BENCH_SECONDS (default 10), FERRY_BENCH_INPROC=1 adds the in-process bus rows,
//! # FERRY_BENCH_CUSTOMERS (default 20) and FERRY_BENCH_PER_CUSTOMER (default 20) shape the
//! # per-customer burst, FERRY_BENCH_CASES (default "burst,rate,customers") picks cases
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ferry_order_orchestrator::SagaSettings;
use ferry_order_orchestrator::store::saga_row;
use ferry_proto::System;
#[allow(unused_imports)]
use sea_orm::QueryOrder;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use support::{Harness, Kind, Plan, mapped_order};

/// Database connections of the orchestrator under test.
const POOL: u32 = 20;
/// Consumer prefetch of the orchestrator and of the responder.
const PREFETCH: u16 = 256;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn settings() -> SagaSettings {
    SagaSettings {
        max_in_flight: 100_000,
        max_concurrent_steps: 128,
        arbiters: 0,
        step_timeout_ms: 60_000,
        sweep_interval_ms: 1_000,
        ..SagaSettings::default()
    }
}

struct Row {
    scenario: String,
    bus: &'static str,
    orders: usize,
    seconds: f64,
    p50: f64,
    p99: f64,
    /// `customer.find` + `customer.upsert` commands sent.
    customer_commands: usize,
}

/// A burst of orders spread over customers.
struct Burst {
    scenario: String,
    settings: SagaSettings,
    orders: usize,
    customers: usize,
}

async fn completed(h: &Harness) -> u64 {
    saga_row::Entity::find()
        .filter(saga_row::Column::State.eq("completed"))
        .count(&h.db)
        .await
        .unwrap()
}

async fn wait_all(h: &Harness, n: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    while completed(h).await < n {
        assert!(Instant::now() < deadline, "sagas did not complete in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Latencies (ms) from publish to saga completion.
async fn latencies(h: &Harness, published: &HashMap<String, DateTime<Utc>>) -> Vec<f64> {
    let rows = saga_row::Entity::find()
        .filter(saga_row::Column::State.eq("completed"))
        .all(&h.db)
        .await
        .unwrap();
    let mut out: Vec<f64> = rows
        .iter()
        .filter_map(|r| {
            let sent = published.get(&r.external_id)?;
            let done = r.finished_at?;
            Some((done - *sent).num_microseconds()? as f64 / 1000.0)
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn burst(kind: Kind, burst: Burst) -> Row {
    let Burst {
        scenario,
        settings,
        orders,
        customers,
    } = burst;
    let h = Harness::start_tuned(kind, System::Mpluskassa, settings, POOL, PREFETCH).await;
    h.responder.add_skus(&["1001", "1002"]);
    // Warm-up: connections, queues, statement caches.
    h.publish(mapped_order(
        "WARM",
        Plan::Person("warm@example.com"),
        &["1001"],
        System::Mpluskassa,
    ))
    .await;
    wait_all(&h, 1, Duration::from_secs(30)).await;

    let mut published = HashMap::new();
    let started = Instant::now();
    let mut batch = Vec::new();
    for i in 0..orders {
        let id = format!("B-{i}");
        let email = format!("c{}@example.com", i % customers.max(1));
        published.insert(id.clone(), Utc::now());
        batch.push(h.publish(mapped_order(
            &id,
            Plan::Person(&email),
            &["1001", "1002"],
            System::Mpluskassa,
        )));
        if batch.len() == 64 {
            futures::future::join_all(batch.drain(..)).await;
        }
    }
    futures::future::join_all(batch).await;
    wait_all(&h, orders as u64 + 1, Duration::from_secs(600)).await;
    let seconds = started.elapsed().as_secs_f64();
    let lat = latencies(&h, &published).await;
    if std::env::var("FERRY_BENCH_BREAKDOWN").is_ok_and(|v| v == "1") {
        breakdown(&h).await;
    }
    assert_eq!(h.responder.orders_created(), orders + 1);
    let customer_commands = customer_commands(&h);
    h.stop().await;
    Row {
        scenario,
        bus: bus_name(kind),
        orders,
        seconds,
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
        customer_commands,
    }
}

fn customer_commands(h: &Harness) -> usize {
    h.responder.commands("customer.find") + h.responder.commands("customer.upsert")
}

/// Every order a new customer.
fn new_customers(orders: usize) -> Burst {
    Burst {
        scenario: "burst, new customer each".into(),
        settings: settings(),
        orders,
        customers: orders,
    }
}

/// `per_customer` orders of each of `customers` customers, with reuse on or off.
fn shared_customers(customers: usize, per_customer: usize, reuse: bool) -> Burst {
    let reuse_secs = if reuse { 300 } else { 0 };
    Burst {
        scenario: format!(
            "burst, {per_customer} orders each of {customers} customers, customer_reuse_secs = {reuse_secs}"
        ),
        settings: SagaSettings {
            customer_reuse_secs: reuse_secs,
            ..settings()
        },
        orders: customers * per_customer,
        customers,
    }
}

async fn fixed_rate(kind: Kind, rate: u64, seconds: u64) -> Row {
    let h = Harness::start_tuned(kind, System::Mpluskassa, settings(), POOL, PREFETCH).await;
    h.responder.add_skus(&["1001", "1002"]);
    h.publish(mapped_order(
        "WARM",
        Plan::Person("warm@example.com"),
        &["1001"],
        System::Mpluskassa,
    ))
    .await;
    wait_all(&h, 1, Duration::from_secs(30)).await;

    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut published = HashMap::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut pending = Vec::new();
    for i in 0..total {
        tick.tick().await;
        let id = format!("R-{i}");
        // A pool of customers: some orders share one, as in a real shop.
        let email = format!("c{}@example.com", i % 200);
        published.insert(id.clone(), Utc::now());
        let envelope = ferry_proto::Envelope::new(
            h.integration,
            mapped_order(
                &id,
                Plan::Person(&email),
                &["1001", "1002"],
                System::Mpluskassa,
            ),
        );
        let bus = h.bus.bus.clone();
        pending.push(tokio::spawn(async move {
            bus.publish(ferry_platform::bus::BusMessage::from_envelope(&envelope).unwrap())
                .await
                .unwrap();
        }));
    }
    for p in pending {
        p.await.unwrap();
    }
    wait_all(&h, total as u64 + 1, Duration::from_secs(600)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let lat = latencies(&h, &published).await;
    if std::env::var("FERRY_BENCH_BREAKDOWN").is_ok_and(|v| v == "1") {
        breakdown(&h).await;
        for line in ferry_platform::metrics::encode().lines() {
            if line.starts_with("ferry_bus_handler_seconds_sum")
                || line.starts_with("ferry_bus_handler_seconds_count")
                || line.starts_with("ferry_bus_publish_seconds_sum")
                || line.starts_with("ferry_bus_publish_seconds_count")
            {
                eprintln!("  {line}");
            }
        }
    }
    assert_eq!(h.responder.orders_created(), total + 1);
    let customer_commands = customer_commands(&h);
    h.stop().await;
    Row {
        scenario: format!("{rate} orders/s for {seconds} s, 200 customers"),
        bus: bus_name(kind),
        orders: total,
        seconds: elapsed,
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
        customer_commands,
    }
}

/// Mean time from each command to its reply being applied, per command type (from the
/// timelines), and from the order event's arrival to the first command.
async fn breakdown(h: &Harness) {
    use ferry_order_orchestrator::store::event_row;
    let events = event_row::Entity::find().all(&h.db).await.unwrap();
    let mut by_saga: HashMap<uuid::Uuid, Vec<event_row::Model>> = HashMap::new();
    for e in events {
        by_saga.entry(e.saga_id).or_default().push(e);
    }
    let mut sums: HashMap<String, (f64, usize)> = HashMap::new();
    for timeline in by_saga.values_mut() {
        timeline.sort_by_key(|e| e.id);
        let mut sent: Option<(String, DateTime<Utc>)> = None;
        for e in timeline.iter() {
            match e.kind.as_str() {
                "command_sent" => sent = Some((e.message_type.clone().unwrap_or_default(), e.at)),
                "reply" => {
                    if let Some((t, at)) = sent.take() {
                        let ms = (e.at - at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                        let entry = sums.entry(t).or_default();
                        entry.0 += ms;
                        entry.1 += 1;
                    }
                }
                _ => {}
            }
        }
    }
    let mut lines: Vec<_> = sums.into_iter().collect();
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    for (t, (sum, n)) in lines {
        eprintln!(
            "  {t}: command -> reply applied, mean {:.1} ms over {n}",
            sum / n as f64
        );
    }
}

fn bus_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Rabbit => "RabbitMQ + PostgreSQL",
        Kind::InProcess => "in-process + SQLite",
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let orders = env_u64("FERRY_BENCH_ORDERS", 2000) as usize;
    let rate = env_u64("FERRY_BENCH_RATE", 100);
    let seconds = env_u64("FERRY_BENCH_SECONDS", 10);
    let customers = env_u64("FERRY_BENCH_CUSTOMERS", 20) as usize;
    let per_customer = env_u64("FERRY_BENCH_PER_CUSTOMER", 20) as usize;
    let cases =
        std::env::var("FERRY_BENCH_CASES").unwrap_or_else(|_| "burst,rate,customers".into());
    let case = |name: &str| cases.split(',').any(|c| c.trim() == name);
    let mut kinds = vec![Kind::Rabbit];
    if std::env::var("FERRY_BENCH_INPROC").is_ok_and(|v| v == "1") {
        kinds.push(Kind::InProcess);
    }
    let rows = runtime.block_on(async {
        let mut rows = Vec::new();
        for kind in kinds {
            if case("burst") {
                rows.push(burst(kind, new_customers(orders)).await);
            }
            if case("rate") {
                rows.push(fixed_rate(kind, rate, seconds).await);
            }
            if case("customers") {
                for reuse in [false, true] {
                    let shape = shared_customers(customers, per_customer, reuse);
                    rows.push(burst(kind, shape).await);
                }
            }
        }
        rows
    });
    println!();
    println!("| scenario | bus | orders | orders/s | p50 ms | p99 ms | customer.find + upsert |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {} |",
            r.scenario,
            r.bus,
            r.orders,
            r.orders as f64 / r.seconds,
            r.p50,
            r.p99,
            r.customer_commands
        );
    }
}
