//! Cheap change detection on MailChimp's e-commerce collections, which have no changed-since
//! filter: the fast path scans ids and change times (`fields=` projections, pages of 1,000)
//! and reads in full only what changed; the reconciliation pass reads everything in full and
//! finds what the fast path cannot see. Against the sandbox over real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use ferry_connector_mailchimp::{Resource, SyncMode, SyncReport, store};
use ferry_sandbox::control::RequestRecord;
use ferry_sandbox::faults::System as FaultSystem;
use ferry_sandbox::mailchimp::query::fmt_time;
use ferry_sandbox::mailchimp::scale::Scale;
use serde_json::{Value, json};
use support::{Harness, Kind, Options};

/// Changes an order in the sandbox without touching its `updated_at` (as MailChimp does when
/// a change reaches an order indirectly, or two writes fall in one second): invisible to a
/// scan of change times.
fn change_invisibly(h: &Harness, order: &str, status: &str) {
    let store = h.store_id.clone();
    h.sandbox.mailchimp.with_state(|st| {
        let o = st
            .stores
            .get_mut(&store)
            .and_then(|s| s.orders.get_mut(order))
            .expect("order");
        let before = o.rec.updated_at;
        o.rec
            .data
            .insert("fulfillment_status".into(), json!(status));
        assert_eq!(o.rec.updated_at, before);
    });
}

async fn sync_orders(h: &Harness, mode: SyncMode, what: &str) -> SyncReport {
    h.ingester
        .sync(&h.integration(), Resource::Orders, mode)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn first_order(h: &Harness) -> String {
    h.store()["orders"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone()
}

fn observed_with_status(h: &Harness, order: &str, status: &str) -> usize {
    h.seen_with("mailchimp.order.observed")
        .iter()
        .filter(|s| s.payload()["raw"]["id"] == order)
        .filter(|s| s.payload()["raw"]["fulfillment_status"] == status)
        .count()
}

async fn reconciliation_finds_what_the_fast_path_misses(kind: Kind) {
    let h = Harness::start(kind).await;
    sync_orders(&h, SyncMode::Incremental, "initial (full) sync").await;
    let order = first_order(&h);
    change_invisibly(&h, &order, "shipped-invisibly");

    // The fast path: one projected scan, nothing read in full, nothing published.
    let fast = sync_orders(&h, SyncMode::Incremental, "fast path").await;
    assert_eq!(
        (fast.published, fast.fetched, fast.calls),
        (0, 0, 1),
        "{fast:?}"
    );
    let sync = store::CURSORS
        .run(&h.db, h.integration_id, "orders")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sync.mode, "incremental");

    // Reconciliation reads every order in full and publishes the new version, once.
    let reconcile = sync_orders(&h, SyncMode::Reconcile, "reconcile").await;
    assert_eq!(reconcile.published, 1, "{reconcile:?}");
    support::wait_until("the invisible change published", || {
        observed_with_status(&h, &order, "shipped-invisibly") == 1
    })
    .await;
    let again = sync_orders(&h, SyncMode::Reconcile, "reconcile again").await;
    assert_eq!(again.published, 0, "{again:?}");
    assert!(
        store::reconciled_at(&h.db, h.integration_id, "orders")
            .await
            .unwrap()
            .is_some()
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_finds_what_the_fast_path_misses_sqlite() {
    reconciliation_finds_what_the_fast_path_misses(Kind::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_finds_what_the_fast_path_misses_postgres() {
    reconciliation_finds_what_the_fast_path_misses(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_poll_becomes_a_reconciliation_when_one_is_due() {
    let h = Harness::with(Options {
        reconcile_interval_secs: Some(2),
        ..Options::new(Kind::InProcess)
    })
    .await;
    sync_orders(&h, SyncMode::Incremental, "initial (full) sync").await;
    let order = first_order(&h);
    change_invisibly(&h, &order, "found-by-the-interval");
    let fast = sync_orders(&h, SyncMode::Incremental, "fast path").await;
    assert_eq!(fast.published, 0, "not due yet: {fast:?}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let due = sync_orders(&h, SyncMode::Incremental, "due").await;
    assert_eq!(due.published, 1, "{due:?}");
    let sync = store::CURSORS
        .run(&h.db, h.integration_id, "orders")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sync.mode, "reconcile");
    support::wait_until("published by the reconciliation", || {
        observed_with_status(&h, &order, "found-by-the-interval") == 1
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fast_path_reads_in_full_only_what_changed() {
    // 200 orders: one changed is under 1 in 20 of the page, so it is read by itself (on a
    // page where more changed, the page is read in full: one call instead of many).
    let h = Harness::with(Options {
        scale: Some(Scale {
            orders: 200,
            products: 20,
            customers: 20,
            stores: 1,
        }),
        ..Options::new(Kind::InProcess)
    })
    .await;
    sync_orders(&h, SyncMode::Incremental, "initial (full) sync").await;
    let order = first_order(&h);
    h.mc(
        "PATCH",
        &format!("/ecommerce/stores/{}/orders/{order}", h.store_id),
        json!({"fulfillment_status": "shipped-by-the-test"}),
    );
    let log = h.sandbox.control.log(FaultSystem::Mailchimp);
    log.clear();
    let report = sync_orders(&h, SyncMode::Incremental, "poll").await;
    assert_eq!((report.published, report.fetched), (1, 1), "{report:?}");
    let requests = log.list(0);
    let scans: Vec<&RequestRecord> = requests
        .iter()
        .filter(|r| r.path.ends_with("/orders"))
        .collect();
    assert_eq!(scans.len(), 1, "{requests:?}");
    assert!(
        scans[0]
            .query
            .contains("fields=orders.id%2Corders.updated_at%2Ctotal_items")
            || scans[0]
                .query
                .contains("fields=orders.id,orders.updated_at,total_items"),
        "{}",
        scans[0].query
    );
    assert!(scans[0].query.contains("count=1000"), "{}", scans[0].query);
    assert!(!scans[0].query.contains("since_"), "{}", scans[0].query);
    let reads: Vec<&RequestRecord> = requests
        .iter()
        .filter(|r| r.path.ends_with(&format!("/orders/{order}")))
        .collect();
    assert_eq!(reads.len(), 1, "{requests:?}");
    support::wait_until("the shipped order", || {
        observed_with_status(&h, &order, "shipped-by-the-test") == 1
    })
    .await;
    h.stop().await;
}

fn kib(requests: &[RequestRecord]) -> f64 {
    requests
        .iter()
        .map(|r| r.response_bytes.unwrap_or(0) as f64)
        .sum::<f64>()
        / 1024.0
}

/// API calls and KiB of one idle poll cycle of the orders of a store with 100,000 orders
/// (the state after a complete sync is written directly: seen versions and cursor), and of
/// a cycle with one changed order. Prints the figures of the connector README.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_poll_cost_at_100000_orders() {
    let orders = 100_000;
    let h = Harness::with(Options {
        scale: Some(Scale {
            orders,
            products: 20_000,
            customers: 50_000,
            stores: 1,
        }),
        // The unoptimised sandbox serves one page at a time under its lock (~0.13 s each).
        request_timeout_secs: 60,
        ..Options::new(Kind::InProcess)
    })
    .await;
    let integration = h.integration();
    let store_id = h.store_id.clone();
    let versions: Vec<(String, String)> = h.sandbox.mailchimp.with_state(|st| {
        st.stores[&store_id]
            .orders
            .iter()
            .map(|(id, o)| (id.clone(), fmt_time(&o.rec.updated_at)))
            .collect()
    });
    assert_eq!(versions.len(), orders);
    store::put_seen(&h.db, h.integration_id, "orders", &versions)
        .await
        .unwrap();
    let now = Utc::now();
    store::set_reconciled(&h.db, h.integration_id, "orders", now)
        .await
        .unwrap();
    let mut cursor = store::CURSORS
        .get(&h.db, h.integration_id, "orders")
        .await
        .unwrap()
        .unwrap_or_else(|| store::CURSORS.unmoved(h.integration_id, "orders"));
    cursor.watermark = Some(now - chrono::Duration::seconds(60));
    store::CURSORS.put(&h.db, &[cursor]).await.unwrap();
    integration.ensure_store().await.expect("store");

    let log = h.sandbox.control.log(FaultSystem::Mailchimp);
    let limiter = h.sandbox.mailchimp.connections();
    limiter.reset();
    log.clear();
    let t = Instant::now();
    let idle = sync_orders(&h, SyncMode::Incremental, "idle poll").await;
    let idle_time = t.elapsed();
    let idle_requests = log.list(0);
    assert_eq!(idle.published, 0, "{idle:?}");
    assert_eq!(idle.fetched, 0, "{idle:?}");
    assert_eq!(idle.read, orders as u64);
    assert_eq!(
        idle_requests.len(),
        orders / 1000,
        "one scan call per 1,000 orders"
    );
    assert_eq!(idle.calls, (orders / 1000) as u64);
    assert!(idle_requests.iter().all(|r| r.status == Some(200)));

    h.mc(
        "PATCH",
        &format!("/ecommerce/stores/{store_id}/orders/SO-54321"),
        json!({"financial_status": "refunded"}),
    );
    log.clear();
    let t = Instant::now();
    let one = sync_orders(&h, SyncMode::Incremental, "poll with one change").await;
    let one_time = t.elapsed();
    let one_requests = log.list(0);
    assert_eq!((one.published, one.fetched), (1, 1), "{one:?}");
    assert_eq!(one_requests.len(), orders / 1000 + 1);
    let peak = limiter
        .usage()
        .iter()
        .map(|(_, u)| u.peak)
        .max()
        .unwrap_or(0);
    let refused: u64 = limiter.usage().iter().map(|(_, u)| u.refused).sum();
    assert!(peak <= 10, "peak {peak} simultaneous connections");
    assert_eq!(refused, 0, "no self-caused 429");

    let full_page: Value = h
        .sandbox
        .mailchimp
        .call(
            "GET",
            &format!("/ecommerce/stores/{store_id}/orders"),
            "count=1000&exclude_fields=orders._links,_links",
            b"",
        )
        .expect("a full page")
        .body
        .unwrap_or_default();
    let full_kib = full_page.to_string().len() as f64 / 1024.0;
    println!(
        "| cycle | orders | API calls | KiB | s (debug build, shared 2 cores) |\n| --- | ---: | ---: | ---: | ---: |"
    );
    println!(
        "| idle | {orders} | {} | {:.0} | {:.1} |",
        idle_requests.len(),
        kib(&idle_requests),
        idle_time.as_secs_f64()
    );
    println!(
        "| one order changed | {orders} | {} | {:.0} | {:.1} |",
        one_requests.len(),
        kib(&one_requests),
        one_time.as_secs_f64()
    );
    println!(
        "| (reading every order in full: reconciliation) | {orders} | {} | ~{:.0} | |",
        orders / 1000,
        full_kib * (orders / 1000) as f64
    );
    println!("peak simultaneous connections: {peak}");
    // Where an idle cycle's time goes: the sandbox serving the projected pages (in process,
    // no HTTP) against the whole cycle (HTTP, the connector's comparison and commits).
    let t = Instant::now();
    for page in 0..orders / 1000 {
        h.sandbox
            .mailchimp
            .call(
                "GET",
                &format!("/ecommerce/stores/{store_id}/orders"),
                &format!(
                    "count=1000&offset={}&fields=orders.id,orders.updated_at,total_items",
                    page * 1000
                ),
                b"",
            )
            .expect("a projected page");
    }
    println!(
        "sandbox alone, the same {} projected pages one after another: {:.1} s; the idle cycle: {:.1} s; the connector's own work (report.commit_ms): {:.1} s",
        orders / 1000,
        t.elapsed().as_secs_f64(),
        idle_time.as_secs_f64(),
        idle.commit_ms as f64 / 1000.0
    );
    assert!(
        kib(&idle_requests) * 10.0 < full_kib * (orders / 1000) as f64,
        "the scan costs a small fraction of reading everything"
    );
    h.stop().await;
}

/// The fast path reads the last pages first: in a collection kept in creation order (as
/// MailChimp's are in practice), a new order is found one page into the scan, not at its end;
/// every page is still read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_reads_the_newest_pages_first() {
    let h = Harness::with(Options {
        scale: Some(Scale {
            orders: 200,
            products: 20,
            customers: 20,
            stores: 1,
        }),
        page_size: Some(50),
        // One call at a time: the log's order is the scan's.
        concurrency: 1,
        ..Options::new(Kind::InProcess)
    })
    .await;
    sync_orders(&h, SyncMode::Incremental, "initial (full) sync").await;
    let template = &h.mc(
        "GET",
        &format!(
            "/ecommerce/stores/{}/orders/{}",
            h.store_id,
            first_order(&h)
        ),
        Value::Null,
    );
    let line = &template["lines"][0];
    let new_order = "newest-first-1";
    h.mc(
        "POST",
        &format!("/ecommerce/stores/{}/orders", h.store_id),
        json!({
            "id": new_order,
            "customer": {"id": template["customer"]["id"], "email_address": template["customer"]["email_address"], "opt_in_status": false},
            "currency_code": "EUR", "order_total": 10.0,
            "lines": [{"id": "l1", "product_id": line["product_id"], "product_variant_id": line["product_variant_id"], "quantity": 1, "price": 10.0}]
        }),
    );
    let log = h.sandbox.control.log(FaultSystem::Mailchimp);
    log.clear();
    let report = sync_orders(&h, SyncMode::Incremental, "poll").await;
    assert_eq!((report.published, report.fetched), (1, 1), "{report:?}");
    let requests = log.list(0);
    let order: Vec<String> = requests
        .iter()
        .filter_map(|r| {
            if r.path.ends_with("/orders") {
                let offset = r
                    .query
                    .split('&')
                    .find_map(|p| p.strip_prefix("offset="))
                    .unwrap_or("0");
                let what = if r.query.contains("fields=orders.id") {
                    "scan"
                } else {
                    "read"
                };
                Some(format!("{what} {offset}"))
            } else {
                r.path
                    .ends_with(&format!("/orders/{new_order}"))
                    .then(|| "read new".to_owned())
            }
        })
        .collect();
    assert_eq!(
        order,
        // The last page holds only the new order, so it is read whole (one call) rather
        // than the order by itself.
        [
            "scan 0", "scan 200", "read 200", "scan 150", "scan 100", "scan 50"
        ],
        "{requests:?}"
    );
    h.stop().await;
}

/// Statements of `verb` on `table` this process ran so far.
fn statements(verb: &str, table: &str) -> u64 {
    let prefix = format!(r#"ferry_db_statements_total{{verb="{verb}",table="{table}"}} "#);
    ferry_platform::metrics::encode()
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// What `run` answers, and how many statements of each `(verb, table)` of `kinds` it ran.
async fn counting<T>(
    kinds: &[(&str, &str)],
    run: impl std::future::Future<Output = T>,
) -> (T, Vec<u64>) {
    let before: Vec<u64> = kinds.iter().map(|(v, t)| statements(v, t)).collect();
    let out = run.await;
    let ran = kinds
        .iter()
        .zip(before)
        .map(|((v, t), b)| statements(v, t) - b)
        .collect();
    (out, ran)
}

/// A harness whose integration is synced once (full), and the integration.
async fn synced() -> (
    Harness,
    std::sync::Arc<ferry_connector_mailchimp::integrations::Integration>,
) {
    let h = Harness::start(Kind::InProcess).await;
    let integration = h.integration();
    h.ingester
        .sync_all(&integration, SyncMode::Incremental)
        .await
        .expect("initial (full) sync");
    (h, integration)
}

/// An idle poll of every resource reads the cursors and the reconciliation times once, and
/// writes the cursors and the runs of all its resources in one statement each (the kit's
/// `connector_cursors` and `connector_runs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_poll_reads_its_cursors_once_and_writes_them_in_two_statements() {
    use ferry_platform::connector::poll::PollServed;
    let (h, integration) = synced().await;
    let kinds = [
        ("select", "connector_cursors"),
        ("insert", "connector_cursors"),
        ("select", "connector_runs"),
        ("insert", "connector_runs"),
        ("select", "mailchimp_reconciled"),
        ("insert", "mailchimp_reconciled"),
    ];
    let (changes, ran) = counting(&kinds, h.ingester.poll_integration(integration.clone())).await;
    assert_eq!(changes.expect("poll"), 0);
    assert_eq!(ran, [1, 1, 0, 1, 1, 0], "{kinds:?}");
    let runs = store::CURSORS.runs(&h.db, h.integration_id).await.unwrap();
    assert_eq!(runs.len(), 4);
    for run in &runs {
        assert_eq!(
            (run.state.as_str(), run.mode.as_str()),
            ("done", "incremental")
        );
    }
    h.stop().await;
}

/// The poll owner remembers its integration between polls (issue 16: an idle poll of 1,000
/// integrations must cost next to nothing): under one poll lease, an idle poll after the
/// first reads nothing from the database (no cursors, reconciliation times or seen
/// versions) and writes nothing (its ends wait, `STORE_IDLE_EVERY`); a change is still found
/// and published; a sync outside the lease, or a new lease, reads the stored state again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poll_owner_remembers_so_an_idle_poll_reads_and_writes_nothing() {
    use ferry_platform::connector::poll::{PollLeases, PollServed, with_fence};
    let (h, integration) = synced().await;
    let leases = PollLeases::new(
        ferry_proto::System::Mailchimp,
        uuid::Uuid::now_v7(),
        Duration::from_secs(60),
    );
    let generation = leases
        .try_take(&h.db, h.integration_id)
        .await
        .unwrap()
        .expect("the lease");
    let kinds = [
        ("select", "connector_cursors"),
        ("select", "mailchimp_reconciled"),
        ("select", "mailchimp_seen"),
        ("insert", "connector_cursors"),
        ("insert", "connector_runs"),
    ];
    let poll = |fence: Option<i64>| {
        let (h, integration, kinds) = (&h, integration.clone(), &kinds);
        async move {
            let poll = h.ingester.poll_integration(integration);
            let (changes, ran) = match fence {
                Some(generation) => {
                    let fence = leases.fence(h.integration_id, generation);
                    counting(kinds, with_fence(fence, poll)).await
                }
                None => counting(kinds, poll).await,
            };
            (changes.expect("poll"), ran)
        }
    };
    // The first poll of the lease reads the cursors, the reconciliation times and every
    // scanned resource's seen versions once (customers, products, orders), and stores its ends.
    let (changes, ran) = poll(Some(generation)).await;
    assert_eq!((changes, ran), (0, vec![1, 1, 3, 1, 1]), "{kinds:?}");
    // The next ones read and write nothing.
    for _ in 0..2 {
        let (changes, ran) = poll(Some(generation)).await;
        assert_eq!((changes, ran), (0, vec![0, 0, 0, 0, 0]), "{kinds:?}");
    }
    // A change is found from memory, published, and its poll stores its ends.
    let order = first_order(&h);
    h.mc(
        "PATCH",
        &format!("/ecommerce/stores/{}/orders/{order}", h.store_id),
        json!({"fulfillment_status": "shipped-while-remembered"}),
    );
    let (changes, ran) = poll(Some(generation)).await;
    assert_eq!(changes, 1);
    assert_eq!(&ran[..3], [0, 0, 0], "nothing read: {kinds:?} {ran:?}");
    assert_eq!(ran[3], 1, "the poll that found a change stores its cursors");
    support::wait_until("the shipped order", || {
        observed_with_status(&h, &order, "shipped-while-remembered") == 1
    })
    .await;
    // A sync outside a poll lease (an operator's, no replica polling) is not the owner's:
    // the memory goes, and the next poll of the lease reads the stored state again.
    let (_, ran) = poll(None).await;
    assert_eq!(&ran[..2], [1, 1], "{kinds:?}");
    let (_, ran) = poll(Some(generation)).await;
    assert_eq!(&ran[..3], [1, 1, 3], "{kinds:?}");
    // So does a poll under a new lease (another replica may have polled in between).
    leases
        .release(&h.db, h.integration_id, generation)
        .await
        .unwrap();
    let next = leases
        .try_take(&h.db, h.integration_id)
        .await
        .unwrap()
        .expect("the lease again");
    assert_ne!(next, generation);
    let (_, ran) = poll(Some(next)).await;
    assert_eq!(&ran[..3], [1, 1, 3], "{kinds:?}");
    let (_, ran) = poll(Some(next)).await;
    assert_eq!(ran, [0, 0, 0, 0, 0], "{kinds:?}");
    // Nothing was published twice.
    assert_eq!(
        observed_with_status(&h, &order, "shipped-while-remembered"),
        1
    );
    h.stop().await;
}
