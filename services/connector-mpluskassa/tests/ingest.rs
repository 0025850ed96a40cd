//! Change detection against the sandbox's seeded shop, on both buses: the full initial sync
//! publishes every record exactly once, cursors end at the installation's markers, later
//! changes are observed once more, invalid records are parked with their reason, and a restart
//! resumes from the committed cursors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use ferry_connector_mpluskassa::soap::requests::RelationWrite;
use ferry_connector_mpluskassa::store::{self, SyncEntity};
use ferry_platform::bus::headers;
use rust_decimal::Decimal;
use support::{BusKind, Harness, Options, orders, relations};

const WAIT: Duration = Duration::from_secs(30);

async fn cursors(h: &Harness) -> HashMap<String, i64> {
    store::cursors(&h.db, h.integration)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.entity, c.marker))
        .collect()
}

fn count_by(
    h: &Harness,
    message_type: &str,
    key: impl Fn(&serde_json::Value) -> String,
) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for e in h.events_of(message_type) {
        *out.entry(key(&e.payload)).or_insert(0) += 1;
    }
    out
}

async fn full_sync_then_changes(kind: BusKind) {
    let mut h = Harness::new(Options {
        bus: kind,
        sync: true,
        ..Options::default()
    })
    .await;
    let markers = h.client().sync_markers().await.unwrap();
    let dump = h.dump();
    let rels = relations(&dump);
    let products = dump["products"].as_object().unwrap().len();
    let groups = dump["article_groups"]
        .as_object()
        .unwrap()
        .values()
        .filter(|g| g["is_deleted"] != true)
        .count();
    let open_orders = orders(&dump)
        .iter()
        .filter(|o| o["cancel_state"] != "ORDER-CANCEL-STATE-COMPLETE")
        .count();
    let stock_articles = dump["products"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p["articles"].as_array().unwrap().clone())
        .filter(|a| a["stock_article"] == true)
        .count();

    h.until("the initial sync", WAIT, |h| {
        h.events_of("customer.observed").len() >= rels.len()
            && h.events_of("product.observed").len() >= products
            && h.events_of("category.observed").len() >= groups
            && h.events_of("stock.observed").len() >= stock_articles
            && h.events_of("order.observed").len() >= open_orders
    })
    .await;
    let c = cursors(&h).await;
    assert_eq!(c["relations"], markers.relation);
    assert_eq!(c["products"], markers.article);
    assert_eq!(c["orders"], markers.order);
    assert_eq!(c["stock"], markers.stock_id);

    // Exactly once per record.
    let per_relation = count_by(&h, "customer.observed", |p| {
        p["customer"]["source_ref"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    });
    assert_eq!(per_relation.len(), rels.len());
    assert!(per_relation.values().all(|n| *n == 1), "{per_relation:?}");
    let per_sku = count_by(&h, "product.observed", |p| {
        p["product"]["sku"].as_str().unwrap().to_owned()
    });
    assert_eq!(per_sku.len(), products);
    assert!(per_sku.values().all(|n| *n == 1));
    let stock_skus = count_by(&h, "stock.observed", |p| {
        p["stock"]["sku"].as_str().unwrap().to_owned()
    });
    assert_eq!(stock_skus.len(), stock_articles);
    assert_eq!(h.events_of("order.observed").len(), open_orders);

    // Shapes: a configurable product with variants keyed by PLU number, raw records attached,
    // categories with parents, companies with their contact.
    let tshirt = h
        .events_of("product.observed")
        .into_iter()
        .find(|e| e.payload["product"]["sku"] == "1001")
        .expect("product 1001");
    assert_eq!(tshirt.payload["product"]["kind"]["type"], "configurable");
    assert_eq!(
        tshirt.payload["product"]["kind"]["variants"][0]["sku"],
        "100101"
    );
    assert_eq!(tshirt.payload["raw"]["productNumber"], "1001");
    assert!(
        h.events_of("category.observed")
            .iter()
            .any(|e| e.payload["category"]["parent"].is_string())
    );
    let company = h
        .events_of("customer.observed")
        .into_iter()
        .find(|e| e.payload["customer"]["kind"]["type"] == "company");
    assert!(company.is_some(), "the seed has companies");
    // getStock's figures: available is `amountFree`, reserved `amountReserved`, physical (on
    // hand) their sum; the seed has levels with reservations.
    let figures = |level: &serde_json::Value| {
        let d = |f: &str| Decimal::from_str_exact(level[f].as_str().unwrap()).unwrap();
        (d("physical"), d("available"), d("reserved"))
    };
    let wire = |raw: &serde_json::Value, amount: &str, places: &str| {
        let int = |v: &serde_json::Value| v.as_i64().or_else(|| v.as_str()?.parse().ok());
        let places = int(&raw[places]).unwrap_or(0);
        Decimal::new(int(&raw[amount]).unwrap(), u32::try_from(places).unwrap())
    };
    let levels = h.events_of("stock.observed");
    for e in &levels {
        let (physical, available, reserved) = figures(&e.payload["stock"]);
        let raw = &e.payload["raw"];
        assert_eq!(
            available,
            wire(raw, "amountFree", "decimalPlacesFree"),
            "{raw}"
        );
        assert_eq!(
            reserved,
            wire(raw, "amountReserved", "decimalPlacesReserved"),
            "{raw}"
        );
        assert_eq!(physical, available + reserved, "{}", e.payload["stock"]);
    }
    assert!(
        levels
            .iter()
            .any(|e| figures(&e.payload["stock"]).2 > Decimal::ZERO),
        "a level with a reservation"
    );
    for e in h.events_of("customer.observed") {
        assert_eq!(e.integration_id, h.integration);
    }

    // Changes: one relation renamed, one stock level set, one relation without e-mail.
    let client = h.client();
    let first = &rels[0];
    let number = first["relation_number"].as_i64().unwrap();
    client
        .update_relation(&RelationWrite {
            relation_number: Some(number),
            name: "Renamed By Test".into(),
            ..RelationWrite::default()
        })
        .await
        .unwrap();
    let article = dump["products"]["1001"]["articles"][0]["article_number"]
        .as_i64()
        .unwrap();
    client
        .set_stock(1, article, Decimal::from(42), None)
        .await
        .unwrap();
    let invalid = client
        .create_relation(&RelationWrite {
            name: "No Mail Person".into(),
            ..RelationWrite::default()
        })
        .await
        .unwrap();

    let key = number.to_string();
    h.until("the changes", WAIT, |h| {
        count_by(h, "customer.observed", |p| {
            p["customer"]["source_ref"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .get(&key)
        .copied()
            == Some(2)
            && h.events_of("stock.observed")
                .iter()
                .any(|e| e.payload["stock"]["available"] == "42")
            && !h.dead.lock().unwrap().is_empty()
    })
    .await;
    let renamed = h
        .events_of("customer.observed")
        .into_iter()
        .rev()
        .find(|e| e.payload["customer"]["source_ref"]["id"] == key.as_str())
        .unwrap();
    assert_eq!(renamed.payload["raw"]["name"], "Renamed By Test");

    let dead = h.dead.lock().unwrap().clone();
    assert_eq!(dead.len(), 1, "the invalid relation is parked once");
    let reason = dead[0].header(headers::DEAD_REASON).unwrap().to_owned();
    assert!(
        reason.contains(&invalid.to_string()) && reason.contains("e-mail"),
        "{reason}"
    );
    let body: serde_json::Value = serde_json::from_slice(&dead[0].body).unwrap();
    assert_eq!(body["raw"]["name"], "No Mail Person");

    // A restart resumes from the committed cursors: nothing is observed again.
    h.restart().await;

    // A later change is a barrier: once it is observed, every pass in between has run, and
    // nothing else was observed again (the cursors passed everything).
    let second = rels[1]["relation_number"].as_i64().unwrap();
    client
        .update_relation(&RelationWrite {
            relation_number: Some(second),
            name: "Second Rename".into(),
            ..RelationWrite::default()
        })
        .await
        .unwrap();
    let second_key = second.to_string();
    h.until("the barrier change", WAIT, |h| {
        count_by(h, "customer.observed", |p| {
            p["customer"]["source_ref"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .get(&second_key)
        .copied()
            == Some(2)
    })
    .await;
    assert_eq!(h.events_of("customer.observed").len(), rels.len() + 2);
    assert_eq!(h.events_of("product.observed").len(), products);
    assert_eq!(h.events_of("order.observed").len(), open_orders);
    assert_eq!(h.dead.lock().unwrap().len(), 1);
    let entity_cursors = cursors(&h).await;
    assert!(entity_cursors[SyncEntity::Relations.as_str()] > markers.relation);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_sync_then_changes_in_process() {
    full_sync_then_changes(BusKind::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_sync_then_changes_on_rabbitmq() {
    full_sync_then_changes(BusKind::Rabbit).await;
}

/// A full resync asked for while a pass is committing a new record is not lost: the reset
/// waits for that pass, so its commit cannot move the cursor past the reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_resync_requested_during_a_pass_is_kept() {
    use ferry_connector_mpluskassa::ingest::Ingest;
    use ferry_connector_mpluskassa::integrations::{ConfigSource, Integrations};
    use ferry_platform::bus::outbox::Outbox;
    use ferry_sandbox::faults::{FaultKind, System as SandboxSystem};

    let h = Harness::new(Options::default()).await;
    let integrations = Integrations::new(h.db.clone(), h.config.client_settings().expect("egress"));
    integrations
        .load(&ConfigSource(h.config.integrations.clone()))
        .await
        .unwrap();
    let integration = integrations.active().remove(0);
    let ingest = Ingest::new(
        h.db.clone(),
        h.bus.clone(),
        Outbox::new(ferry_connector_mpluskassa::SERVICE),
        integrations,
        h.config.sync,
    );
    ingest.run_pass(&integration).await.unwrap();
    assert!(cursors(&h).await[SyncEntity::Relations.as_str()] > 0);

    // A new relation, read by a slow pass; the reset arrives while that read is in flight.
    h.client()
        .create_relation(&RelationWrite {
            name: "Resync Person".into(),
            email: Some("resync.person@example.nl".into()),
            ..RelationWrite::default()
        })
        .await
        .unwrap();
    h.fault_on("getRelations", FaultKind::Latency { ms: 1500 }, 1);
    let log = h.sandbox.control.log(SandboxSystem::Mpluskassa);
    let since = log.list(0).last().map_or(0, |r| r.seq);
    let pass = tokio::spawn({
        let (ingest, integration) = (ingest.clone(), integration.clone());
        async move { ingest.run_pass(&integration).await }
    });
    let deadline = std::time::Instant::now() + WAIT;
    while !log
        .list(since)
        .iter()
        .any(|r| r.body.contains("getRelations") && r.status.is_none())
    {
        assert!(std::time::Instant::now() < deadline, "the pass never read");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ingest
        .reset(integration.id(), &[SyncEntity::Relations])
        .await
        .unwrap();
    pass.await.unwrap().unwrap();
    assert_eq!(
        cursors(&h).await[SyncEntity::Relations.as_str()],
        0,
        "the next pass reads every relation again"
    );
    h.stop().await;
}
