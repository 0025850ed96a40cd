//! Activity log throughput and query latency.
//!
//! `cargo bench -p ferry-notifier --bench activity` (FERRY_BENCH_MESSAGES, default 5000).
//! For each database (SQLite file, local PostgreSQL): publish N messages (commands and their
//! replies) on the in-process bus to a running notifier, time until every row is recorded,
//! then time the dashboard's queries on that table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_notifier::activity::{self, ActivityQuery, StatsQuery, Visibility};
use ferry_notifier::{Migrator, NotifierConfig};
use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::{Bus, BusMessage};
use ferry_platform::db::testing::{self, TestDatabase};
use ferry_platform::service::Runtime;
use ferry_proto::messages::{ProductUpsert, ProductUpserted};
use ferry_proto::model::{Product, ProductKind};
use ferry_proto::*;
use sea_orm::{EntityTrait, PaginatorTrait};
use tokio_util::sync::CancellationToken;

fn product(sku: &str) -> Product {
    Product {
        sku: Sku::parse(sku).unwrap(),
        title: Name::parse("T-shirt").unwrap(),
        short_description: None,
        long_description: None,
        price: Money::parse("19.95", CurrencyCode::EUR).unwrap(),
        price_includes_tax: true,
        tax_rate: None,
        gtin: None,
        category: None,
        attributes: vec![],
        properties: Default::default(),
        kind: ProductKind::Simple,
        quantity: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn time_query<F, Fut>(runs: usize, mut f: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f().await;
        times.push(start.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

struct Row {
    database: &'static str,
    per_second: f64,
    list: (f64, f64),
    key: (f64, f64),
    stats: (f64, f64),
    health: (f64, f64),
}

async fn run(database: &'static str, guard: TestDatabase, messages: usize) -> Row {
    let db = ferry_platform::db::connect(guard.config()).await.unwrap();
    ferry_platform::db::migrate::<Migrator>(&db).await.unwrap();
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let shutdown = CancellationToken::new();
    let mut config = NotifierConfig::default();
    config.common.service_name = "notifier".into();
    let (_notifier, started) = ferry_notifier::start_notifier(
        Runtime {
            db: db.clone(),
            bus: bus.clone(),
            shutdown: shutdown.clone(),
        },
        config,
        None,
    )
    .await
    .unwrap();

    let integration = IntegrationId::new();
    let start = Instant::now();
    for i in 0..messages / 2 {
        let sku = format!("{}", 100_000 + i);
        let command = Envelope::new(
            integration,
            ProductUpsert {
                target: System::Mailchimp,
                product: product(&sku),
                overwrite_existing: true,
            },
        );
        let reply = Envelope::caused_by(
            &command,
            ProductUpserted {
                target: System::Mailchimp,
                sku: Sku::parse(&sku).unwrap(),
                target_id: ExternalId::parse(&sku).unwrap(),
                created: true,
            },
        );
        bus.publish(BusMessage::from_envelope(&command).unwrap())
            .await
            .unwrap();
        bus.publish(BusMessage::from_envelope(&reply).unwrap())
            .await
            .unwrap();
    }
    let expected = (messages / 2 * 2) as u64;
    loop {
        let count = ferry_notifier::store::activity_row::Entity::find()
            .count(&db)
            .await
            .unwrap();
        if count >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let per_second = expected as f64 / start.elapsed().as_secs_f64();

    let runs = 100;
    let list = time_query(runs, || async {
        let query = ActivityQuery {
            integration_id: Some(integration.to_string()),
            status: Some("succeeded".into()),
            ..Default::default()
        };
        activity::list(&db, &query, Visibility::Full).await.unwrap();
    })
    .await;
    let key = time_query(runs, || async {
        let query = ActivityQuery {
            key: Some("100042".into()),
            ..Default::default()
        };
        activity::list(&db, &query, Visibility::Full).await.unwrap();
    })
    .await;
    let stats = time_query(runs, || async {
        activity::stats(&db, &StatsQuery::default()).await.unwrap();
    })
    .await;
    let health = time_query(runs, || async {
        activity::health(&db, &[], chrono::Utc::now())
            .await
            .unwrap();
    })
    .await;

    shutdown.cancel();
    started.stop(Duration::from_secs(5)).await;
    bus.shutdown(Duration::from_secs(2)).await;
    db.close().await.ok();
    drop(guard);
    Row {
        database,
        per_second,
        list,
        key,
        stats,
        health,
    }
}

fn main() {
    let messages: usize = std::env::var("FERRY_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows = runtime.block_on(async {
        let mut rows = vec![run("SQLite file", testing::sqlite_temp(), messages).await];
        match testing::postgres_schema().await {
            Ok(guard) => rows.push(run("PostgreSQL", guard, messages).await),
            Err(error) => eprintln!("PostgreSQL skipped: {error}"),
        }
        rows
    });
    println!("\nactivity log: {messages} messages (commands + replies) on the in-process bus\n");
    println!(
        "| database | recorded msg/s | list p50/p99 ms | by key p50/p99 ms | stats p50/p99 ms | health p50/p99 ms |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} |",
            r.database,
            r.per_second,
            r.list.0,
            r.list.1,
            r.key.0,
            r.key.1,
            r.stats.0,
            r.stats.1,
            r.health.0,
            r.health.1
        );
    }
}
