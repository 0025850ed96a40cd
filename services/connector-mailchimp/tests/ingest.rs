//! Change detection against the sandbox over real HTTP: full sync, incremental polls,
//! invalid records parked (and published after a fix and a replay), every fault kind during
//! reads, stock events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use ferry_connector_mailchimp::{Resource, SyncMode, store};
use ferry_platform::bus::queues;
use ferry_sandbox::faults::{Corruption, FaultKind};
use serde_json::json;
use support::{Harness, Kind, Options};

fn counts(h: &Harness) -> (usize, usize, usize, usize) {
    let store = h.store();
    (
        store["customers"].as_object().unwrap().len(),
        h.state()["lists"][&h.list_id]["members"]
            .as_object()
            .unwrap()
            .len(),
        store["products"].as_object().unwrap().len(),
        store["orders"].as_object().unwrap().len(),
    )
}

async fn full_sync_publishes_each_record_once(kind: Kind) {
    let h = Harness::start(kind).await;
    let integration = h.integration();
    let reports = h
        .ingester
        .sync_all(&integration, SyncMode::Incremental)
        .await
        .expect("sync");
    assert!(reports.iter().all(|(_, r)| r.rejected == 0), "{reports:?}");
    let (customers, members, products, orders) = counts(&h);
    assert!(customers > 0 && members > 0 && products > 0 && orders > 0);
    h.wait_for("mailchimp.customer.observed", customers + members)
        .await;
    h.wait_for("mailchimp.product.observed", products).await;
    h.wait_for("mailchimp.order.observed", orders).await;
    // Each record once: distinct source ids equal the counts.
    let mut by_source: HashMap<String, usize> = HashMap::new();
    for s in h.seen_with("mailchimp.customer.observed") {
        *by_source
            .entry(
                s.payload()["customer"]["source_ref"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    assert!(
        by_source.values().all(|n| *n == 1),
        "a customer was published twice"
    );
    assert_eq!(by_source.len(), customers + members);
    // The raw record travels with the event.
    let order = &h.seen_with("mailchimp.order.observed")[0];
    assert!(order.payload()["raw"]["lines"].is_array());
    // Cursors: done, watermark set, progress complete.
    let cursors = store::CURSORS.all(&h.db, h.integration_id).await.unwrap();
    let runs = store::CURSORS.runs(&h.db, h.integration_id).await.unwrap();
    assert_eq!(cursors.len(), 4);
    for (c, r) in cursors.iter().zip(&runs) {
        assert_eq!(r.state, "done", "{r:?}");
        assert!(c.watermark.is_some());
        assert_eq!(i64::try_from(r.done()).ok(), r.total, "{r:?}");
    }
    // Nothing changed: an incremental poll publishes nothing.
    let again = h
        .ingester
        .sync_all(&integration, SyncMode::Incremental)
        .await
        .expect("sync");
    assert!(
        again
            .iter()
            .all(|(_, r)| r.published == 0 && r.rejected == 0),
        "{again:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_publishes_each_record_once_in_process() {
    full_sync_publishes_each_record_once(Kind::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_publishes_each_record_once_postgres() {
    full_sync_publishes_each_record_once(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_publishes_each_record_once_rabbitmq() {
    full_sync_publishes_each_record_once(Kind::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_poll_publishes_only_what_changed() {
    let h = Harness::start(Kind::InProcess).await;
    let integration = h.integration();
    h.ingester
        .sync_all(&integration, SyncMode::Incremental)
        .await
        .expect("sync");
    let store_path = format!("/ecommerce/stores/{}", h.store_id);
    let customer_id = h.store()["customers"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let product_id = h.store()["products"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    // Writes land on the next second so their updated_at differs from the seed's.
    h.mc(
        "PATCH",
        &format!("{store_path}/customers/{customer_id}"),
        json!({"first_name": "Renamed"}),
    );
    h.mc(
        "PATCH",
        &format!("{store_path}/products/{product_id}"),
        json!({"title": "Renamed product"}),
    );
    let reports: HashMap<Resource, _> = h
        .ingester
        .sync_all(&integration, SyncMode::Incremental)
        .await
        .expect("sync")
        .into_iter()
        .collect();
    assert_eq!(reports[&Resource::Customers].published, 1, "{reports:?}");
    assert_eq!(reports[&Resource::Products].published, 1, "{reports:?}");
    assert_eq!(reports[&Resource::Orders].published, 0, "{reports:?}");
    let renamed = || {
        h.seen_with("mailchimp.customer.observed")
            .into_iter()
            .filter(|s| s.payload()["customer"]["first_name"] == "Renamed")
            .count()
    };
    support::wait_until("the renamed customer", || renamed() == 1).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_record_is_parked_with_its_reason_and_published_after_a_fix_and_replay() {
    let h = Harness::start(Kind::InProcess).await;
    let integration = h.integration();
    let store_path = format!("/ecommerce/stores/{}", h.store_id);
    h.mc(
        "PUT",
        &format!("{store_path}/customers/broken-1"),
        json!({"id": "broken-1", "email_address": "broken@example.nl", "opt_in_status": false,
               "address": {"address1": "Dorpsstraat 1", "city": "Ons Dorp", "postal_code": "1234 AB",
                           "country_code": "XX"}}),
    );
    let reports: HashMap<Resource, _> = h
        .ingester
        .sync_all(&integration, SyncMode::Incremental)
        .await
        .expect("sync")
        .into_iter()
        .collect();
    assert_eq!(reports[&Resource::Customers].rejected, 1, "{reports:?}");
    let parked = h.parked("broken-1").await;
    assert_eq!(parked.queue, queues::CONNECTOR_MAILCHIMP);
    assert!(
        parked.reason.contains("address.country_code"),
        "{}",
        parked.reason
    );
    assert!(
        !parked.reason.contains("broken@example.nl"),
        "e-mail in the reason"
    );
    let body = h
        .lot
        .get(&parked.queue, parked.message_id)
        .await
        .unwrap()
        .expect("parked message");
    assert!(
        body.body.contains("\"country_code\":\"XX\""),
        "the raw record is parked"
    );
    let published = |h: &Harness| {
        h.seen_with("mailchimp.customer.observed")
            .into_iter()
            .filter(|s| s.payload()["customer"]["source_ref"]["id"] == "broken-1")
            .count()
    };
    assert_eq!(published(&h), 0, "an invalid record is never published");
    // Another poll does not park it again (same version).
    h.ingester
        .sync(&integration, Resource::Customers, SyncMode::Incremental)
        .await
        .expect("sync");
    assert_eq!(h.parked_count().await, 1);

    // A human fixes it in MailChimp and replays the parked message.
    h.mc(
        "PATCH",
        &format!("{store_path}/customers/broken-1"),
        json!({"address": {"address1": "Dorpsstraat 1", "city": "Ons Dorp", "postal_code": "1234 AB",
                           "country_code": "NL"}}),
    );
    assert!(
        h.lot
            .replay(&parked.queue, parked.message_id)
            .await
            .unwrap()
    );
    support::wait_until("the fixed customer", || published(&h) == 1).await;
    // The next poll sees that version as published.
    let again = h
        .ingester
        .sync(&integration, Resource::Customers, SyncMode::Incremental)
        .await
        .expect("sync");
    assert_eq!(again.published, 0);
    assert_eq!(published(&h), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_fault_ends_with_each_record_published_once() {
    let h = Harness::start(Kind::InProcess).await;
    let integration = h.integration();
    h.ingester
        .sync_all(&integration, SyncMode::Incremental)
        .await
        .expect("initial sync");
    let products = h.store()["products"].as_object().unwrap().len();
    let faults = [
        FaultKind::Latency { ms: 100 },
        FaultKind::RandomLatency {
            min_ms: 10,
            max_ms: 80,
        },
        FaultKind::TooManyRequests,
        FaultKind::BareStatus { status: 403 },
        FaultKind::BareStatus { status: 429 },
        FaultKind::ServerError { status: 500 },
        FaultKind::ServerError { status: 503 },
        FaultKind::Timeout { ms: 2_500 },
        FaultKind::MalformedBody {
            mode: Corruption::Truncated,
        },
        FaultKind::MalformedBody {
            mode: Corruption::Garbage,
        },
        FaultKind::DropConnection,
    ];
    for fault in faults {
        h.fault(
            "GET",
            "/3.0/ecommerce/stores/*/products",
            fault.clone(),
            Some(2),
        );
        let report = h
            .ingester
            .sync(&integration, Resource::Products, SyncMode::Full)
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert_eq!(report.published as usize, products, "{fault:?}");
        let run = report.correlation_id.to_string();
        let mut events = Vec::new();
        support::wait_until("the sync's events", || {
            events = h
                .seen_with("mailchimp.product.observed")
                .into_iter()
                .filter(|s| s.envelope["correlation_id"] == run.as_str())
                .collect();
            events.len() >= products
        })
        .await;
        let mut skus: HashMap<String, usize> = HashMap::new();
        for s in &events {
            *skus
                .entry(s.payload()["product"]["sku"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        assert_eq!(skus.len(), products, "{fault:?}");
        assert!(skus.values().all(|n| *n == 1), "{fault:?}: a product twice");
        h.clear_faults();
    }
    let stats = integration.client.stats().snapshot();
    // Two failed attempts for each of the nine faults that fail a call.
    assert!(stats.retries >= 18, "{stats:?}");
    for status in [
        "403",
        "429",
        "500",
        "503",
        "timeout",
        "connection",
        "malformed",
    ] {
        assert!(
            stats
                .calls
                .iter()
                .any(|c| c.operation == "products.list" && c.status == status),
            "no {status} counted: {stats:?}"
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sync_keeps_its_watermark_and_the_next_one_catches_up() {
    let h = Harness::start(Kind::InProcess).await;
    let integration = h.integration();
    h.fault(
        "GET",
        "/3.0/ecommerce/stores/*/products",
        FaultKind::ServerError { status: 500 },
        None,
    );
    let err = h
        .ingester
        .sync(&integration, Resource::Products, SyncMode::Incremental)
        .await
        .expect_err("MailChimp keeps failing");
    assert!(err.to_string().contains("products.list"), "{err}");
    assert!(err.to_string().contains("500"), "{err}");
    let cursor = store::CURSORS
        .get(&h.db, h.integration_id, "products")
        .await
        .unwrap();
    let sync = store::CURSORS
        .run(&h.db, h.integration_id, "products")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sync.state, "failed");
    assert!(cursor.and_then(|c| c.watermark).is_none());
    assert!(sync.last_error.unwrap().contains("500"));
    assert!(h.seen_with("mailchimp.product.observed").is_empty());
    h.clear_faults();
    let report = h
        .ingester
        .sync(&integration, Resource::Products, SyncMode::Incremental)
        .await
        .expect("recovers");
    let products = h.store()["products"].as_object().unwrap().len();
    assert_eq!(report.published as usize, products);
    h.wait_for("mailchimp.product.observed", products).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_is_published_per_variant_when_mailchimp_is_the_stock_source() {
    let mut options = Options::new(Kind::InProcess);
    options.publish_stock = true;
    let h = Harness::with(options).await;
    let integration = h.integration();
    h.ingester
        .sync(&integration, Resource::Products, SyncMode::Full)
        .await
        .expect("sync");
    let variants: usize = h.store()["products"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p["variants"].as_object().unwrap().len())
        .sum();
    let stock = h.wait_for("mailchimp.stock.observed", variants).await;
    assert!(stock[0].payload()["stock"]["available"].is_string());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_runs_the_initial_sync_then_picks_up_changes() {
    let mut options = Options::new(Kind::InProcess);
    options.poll = true;
    let h = Harness::with(options).await;
    let (customers, members, products, orders) = counts(&h);
    h.wait_for("mailchimp.customer.observed", customers + members)
        .await;
    h.wait_for("mailchimp.product.observed", products).await;
    h.wait_for("mailchimp.order.observed", orders).await;
    let customer_id = h.store()["customers"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    h.mc(
        "PATCH",
        &format!("/ecommerce/stores/{}/customers/{customer_id}", h.store_id),
        json!({"last_name": "Gepold"}),
    );
    let changed = || {
        h.seen_with("mailchimp.customer.observed")
            .into_iter()
            .filter(|s| s.payload()["customer"]["last_name"] == "Gepold")
            .count()
    };
    support::wait_until("the polled change", || changed() == 1).await;
    // Later polls do not publish it again.
    let polls = |h: &Harness| h.integration().client.stats().attempts("customers.list");
    let before = polls(&h);
    support::wait_until("two more polls", || polls(&h) >= before + 2).await;
    assert_eq!(changed(), 1);
    assert_eq!(
        h.seen_with("mailchimp.customer.observed").len(),
        customers + members + 1
    );
    h.stop().await;
}

/// Issue 18, item 4: a product with more variants than MailChimp shows inline (50) is
/// published with all of them (read from the variants endpoint), and a change to a variant
/// past the 50th is observed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_beyond_fifty_variants_is_published_whole() {
    let h = Harness::start(Kind::InProcess).await;
    let integration = h.integration();
    let path = format!("/ecommerce/stores/{}/products/660", h.store_id);
    let variants: Vec<serde_json::Value> = (1..=120)
        .map(|i| json!({"id": format!("660{i:03}"), "sku": format!("660{i:03}"), "title": format!("Cap {i}"), "price": 9.5}))
        .collect();
    h.mc(
        "PUT",
        &path,
        json!({"id": "660", "title": "Cap", "variants": variants}),
    );
    h.ingester
        .sync(&integration, Resource::Products, SyncMode::Incremental)
        .await
        .expect("sync");
    let caps = || {
        h.seen_with("mailchimp.product.observed")
            .into_iter()
            .filter(|m| m.payload()["product"]["sku"] == "660")
            .collect::<Vec<_>>()
    };
    support::wait_until("product 660 published", || !caps().is_empty()).await;
    let cap = &caps()[0];
    let skus: Vec<&str> = cap.payload()["product"]["kind"]["variants"]
        .as_array()
        .expect("configurable")
        .iter()
        .filter_map(|v| v["sku"].as_str())
        .collect();
    assert_eq!(skus.len(), 120);
    assert_eq!(skus[119], "660120");

    // A change past the 50th variant is a new version of the product.
    h.mc(
        "PATCH",
        &format!("{path}/variants/660100"),
        json!({"title": "Cap 100 (red)"}),
    );
    let report = h
        .ingester
        .sync(&integration, Resource::Products, SyncMode::Incremental)
        .await
        .expect("sync");
    assert_eq!(report.published, 1, "{report:?}");
    support::wait_until("product 660 republished", || caps().len() == 2).await;
    let last = &caps()[1];
    assert_eq!(
        last.payload()["product"]["kind"]["variants"][99]["title"],
        "Cap 100 (red)"
    );
    h.stop().await;
}
