//! Initial sync of 10,000 articles (2,500 products of 4 articles) and 10,000 relations from
//! the sandbox, at 0 ms and 100 ms injected latency per SOAP call: records per second of
//! change detection (read, convert, commit events + cursor), the outbox drain, and the SOAP
//! encode/decode cost per record.
//!
//! `cargo bench -p ferry-connector-mpluskassa --bench initial_sync`
//! (`FERRY_BENCH_ARTICLES`, `FERRY_BENCH_RELATIONS`, `FERRY_BENCH_PAGE` override the sizes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_connector_mpluskassa::client::{ClientSettings, Connection, MplusClient};
use ferry_connector_mpluskassa::config::{Entities, SkuSource, SyncConfig};
use ferry_connector_mpluskassa::ingest::Ingest;
use ferry_connector_mpluskassa::integrations::{IntegrationSettings, Integrations};
use ferry_connector_mpluskassa::soap::requests::{
    self, ArticleWrite, Page, ProductQuery, ProductWrite, RelationWrite,
};
use ferry_connector_mpluskassa::soap::types::{Product, Relation, VatScale};
use ferry_connector_mpluskassa::{Migrator, convert, store::SyncEntity};
use ferry_mplusqapi::records as wire;
use ferry_mplusqapi::{Limits, Operation, envelope};
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{Binding, Bus, Outcome, Subscription, inproc::InProcessBus};
use ferry_platform::config::Secret;
use ferry_platform::db::{self, testing};
use ferry_proto::{CurrencyCode, IntegrationId};
use ferry_sandbox::faults::{FaultKind, FaultRule, System};
use ferry_sandbox::{Sandbox, SandboxConfig};
use futures::StreamExt;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Client settings reaching the sandbox (loopback, plain http).
fn settings() -> ClientSettings {
    ClientSettings {
        egress: ferry_platform::egress::EgressGuard::new(&ferry_platform::egress::EgressConfig {
            allow: vec!["127.0.0.1/32".into()],
            sandbox: true,
        })
        .unwrap(),
        ..ClientSettings::default()
    }
}

fn connection(url: &str) -> Connection {
    Connection {
        endpoint: url.to_owned(),
        ident: ferry_sandbox::DEFAULT_MPLUSKASSA_IDENT.into(),
        secret: Secret::new(ferry_sandbox::DEFAULT_MPLUSKASSA_SECRET),
    }
}

fn relation(i: usize) -> RelationWrite {
    RelationWrite {
        name: format!("Klant {i} de Vries"),
        address: Some(format!("Dorpsstraat {}", i % 300 + 1)),
        zipcode: Some("1234 AB".into()),
        city: Some("Amsterdam".into()),
        country: Some("NL".into()),
        telephone: Some("+31 20 123 4567".into()),
        email: Some(format!("klant{i}@example.org")),
        ..RelationWrite::default()
    }
}

fn product(i: usize, per: usize) -> ProductWrite {
    ProductWrite {
        product_number: None,
        description: Some(format!("Product {i}")),
        extra_text: Some("<p>A product of the benchmark shop.</p>".into()),
        articles: (0..per)
            .map(|a| ArticleWrite {
                plu_number: Some(format!("{}{:02}", 500_000 + i, a)),
                description: Some(format!("Product {i} size {a}")),
                size: Some(["S", "M", "L", "XL"][a % 4].into()),
                colour: Some("Black".into()),
                barcode: Some(format!("87{:011}", i * per + a)),
                turnover_group: Some(10),
                vat_code: Some(1),
                price_incl: Some(1995 + a as i64 * 100),
                ..ArticleWrite::default()
            })
            .collect(),
        group_numbers: None,
    }
}

async fn populate(client: &MplusClient, products: usize, per: usize, relations: usize) {
    futures::stream::iter(0..products)
        .map(|i| async move {
            client
                .create_product(&product(i, per))
                .await
                .expect("create product")
        })
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
    futures::stream::iter(0..relations)
        .map(|i| async move {
            client
                .create_relation(&relation(i))
                .await
                .expect("create relation")
        })
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
}

struct Row {
    latency_ms: u64,
    entity: &'static str,
    records: u64,
    seconds: f64,
    drain_seconds: f64,
}

async fn sync_once(
    url: &str,
    latency_ms: u64,
    page: u32,
    faults: &ferry_sandbox::faults::Faults,
) -> Vec<Row> {
    faults.clear(None);
    if latency_ms > 0 {
        faults
            .add(FaultRule::new(
                System::Mpluskassa,
                FaultKind::Latency { ms: latency_ms },
            ))
            .unwrap();
    }
    let guard = testing::sqlite_temp();
    let db = db::connect(guard.config()).await.unwrap();
    db::migrate::<Migrator>(&db).await.unwrap();
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let sink = bus
        .subscribe(
            Subscription::new("bench-sink", vec![Binding::events("mpluskassa.#")]).prefetch(1024),
            Arc::new(|_d| async { Outcome::Ack }),
        )
        .await
        .unwrap();
    let integrations = Integrations::new(db.clone(), settings());
    let integration = integrations
        .upsert(IntegrationSettings {
            id: IntegrationId::new(),
            connection: connection(url),
            branch: 1,
            workplace: None,
            sku_source: SkuSource::PluNumber,
            currency: CurrencyCode::EUR,
            default_turnover_group: None,
            default_vat_code: None,
            observe: Entities::default(),
            sales: Default::default(),
        })
        .await
        .unwrap();
    let outbox = Outbox::new("connector-mpluskassa");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let relay = outbox
        .relay(db.clone(), bus.clone())
        .batch_size(500)
        .spawn(shutdown.clone());
    let config = SyncConfig {
        enabled: false,
        poll_interval_ms: 1000,
        page_size: page,
        ..SyncConfig::default()
    };
    let ingest = Ingest::new(
        db.clone(),
        bus.clone(),
        outbox.clone(),
        integrations,
        config,
    );
    let mut rows = Vec::new();
    for (entity, name) in [
        (SyncEntity::Products, "articles (products)"),
        (SyncEntity::Relations, "relations"),
    ] {
        let started = Instant::now();
        let report = ingest
            .sync_entity(&integration, entity, 0)
            .await
            .expect("sync");
        let seconds = started.elapsed().as_secs_f64();
        while outbox.pending(&db).await.unwrap() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let drain_seconds = started.elapsed().as_secs_f64();
        let records = if entity == SyncEntity::Products {
            // Count articles, not products: 4 per product in this shop.
            report.observed * 4
        } else {
            report.observed
        };
        rows.push(Row {
            latency_ms,
            entity: name,
            records,
            seconds,
            drain_seconds,
        });
    }
    shutdown.cancel();
    let _ = relay.await;
    sink.stop(Duration::from_secs(1)).await;
    bus.shutdown(Duration::from_secs(1)).await;
    rows
}

/// Raw SOAP of one page, fetched once, for the encode/decode micro-measurements.
async fn raw_page<O: Operation>(url: &str, op: O) -> String {
    let mut endpoint = reqwest::Url::parse(url).unwrap();
    endpoint
        .query_pairs_mut()
        .append_pair("ident", ferry_sandbox::DEFAULT_MPLUSKASSA_IDENT)
        .append_pair("secret", ferry_sandbox::DEFAULT_MPLUSKASSA_SECRET);
    reqwest::Client::new()
        .post(endpoint)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("SOAPAction", O::NAME)
        .body(envelope::request(O::NAME, &op).unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn per_record_us(total: Duration, records: usize) -> f64 {
    total.as_secs_f64() * 1e6 / records.max(1) as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let articles = env_usize("FERRY_BENCH_ARTICLES", 10_000);
    let relations = env_usize("FERRY_BENCH_RELATIONS", 10_000);
    let page = env_usize("FERRY_BENCH_PAGE", 1000) as u32;
    let per = 4;
    let sandbox = Sandbox::start(SandboxConfig {
        empty: true,
        workers: 2,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let client = MplusClient::new(&connection(&sandbox.mpluskassa_url), settings()).unwrap();
    let setup = Instant::now();
    populate(&client, articles / per, per, relations).await;
    eprintln!(
        "populated {articles} articles and {relations} relations in {:.1}s",
        setup.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    for latency in [0, 100] {
        rows.extend(sync_once(&sandbox.mpluskassa_url, latency, page, &sandbox.faults).await);
    }
    sandbox.faults.clear(None);

    // SOAP encode/decode cost per record, on one full page of each.
    let rel_page = raw_page(
        &sandbox.mpluskassa_url,
        requests::get_relations(Page {
            from: 1,
            limit: 1000,
        }),
    )
    .await;
    let prod_page = raw_page(
        &sandbox.mpluskassa_url,
        requests::get_products(&ProductQuery {
            page: Some(Page {
                from: 1,
                limit: 250,
            }),
            ..ProductQuery::default()
        }),
    )
    .await;
    let rounds = 20;
    let started = Instant::now();
    let mut n_rel = 0;
    for _ in 0..rounds {
        let body = envelope::open(&rel_page, "GetRelationsResponse", &Limits::default()).unwrap();
        for r in body.items(Some("relationList"), "relation") {
            let relation = Relation::from_wire(r.decode::<wire::Relation>().unwrap()).unwrap();
            let _ = std::hint::black_box((convert::customer(&relation), r.raw()));
            n_rel += 1;
        }
    }
    let decode_rel = per_record_us(started.elapsed(), n_rel);
    let started = Instant::now();
    let mut n_art = 0;
    for _ in 0..rounds {
        let body = envelope::open(&prod_page, "GetProductsResponse", &Limits::default()).unwrap();
        for p in body.items(Some("productList"), "product") {
            let product = Product::from_wire(p.decode::<wire::Product>().unwrap()).unwrap();
            n_art += product.articles.len();
            let _ = std::hint::black_box((
                convert::product(
                    &product,
                    SkuSource::PluNumber,
                    CurrencyCode::EUR,
                    VatScale::Hundredths,
                ),
                p.raw(),
            ));
        }
    }
    let decode_art = per_record_us(started.elapsed(), n_art);
    let started = Instant::now();
    for i in 0..10_000 {
        let _ = std::hint::black_box(envelope::request(
            "createRelation",
            &requests::create_relation(&relation(i)),
        ));
    }
    let encode_rel = per_record_us(started.elapsed(), 10_000);
    let started = Instant::now();
    for i in 0..2_500 {
        let _ = std::hint::black_box(envelope::request(
            "createProduct",
            &requests::create_product(&product(i, per)),
        ));
    }
    let encode_art = per_record_us(started.elapsed(), 10_000);

    println!();
    println!(
        "Initial sync from the MplusKASSA sandbox ({articles} articles in {} products, {relations} relations, page {page}, SQLite, in-process bus)",
        articles / per
    );
    println!();
    println!(
        "| latency/call | entity | records | sync s | records/s | incl. outbox drain s | records/s |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} ms | {} | {} | {:.2} | {:.0} | {:.2} | {:.0} |",
            r.latency_ms,
            r.entity,
            r.records,
            r.seconds,
            r.records as f64 / r.seconds,
            r.drain_seconds,
            r.records as f64 / r.drain_seconds
        );
    }
    println!();
    println!("| SOAP cost per record | µs |");
    println!("| --- | ---: |");
    println!("| decode relation (envelope + record + canonical + raw JSON) | {decode_rel:.1} |");
    println!("| decode article (envelope + product + canonical + raw JSON) | {decode_art:.1} |");
    println!("| encode createRelation request | {encode_rel:.1} |");
    println!("| encode createProduct request, per article | {encode_art:.1} |");
    sandbox.stop().await;
}
