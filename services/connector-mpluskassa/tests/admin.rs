//! The admin API over HTTP: connection tests (the secret never echoed), reference data,
//! sync trigger with progress, cursors, auth and the OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ferry_platform::admin::{AdminServer, RunningAdminServer};
use ferry_platform::config::{AdminConfig, Scope, Secret, TokenConfig};
use ferry_test_support::egress::{Probes, check_cases, socket_of};
use ferry_test_support::progress::of;
use serde_json::{Value, json};
use support::{Harness, Options, SECRET};

const READ: &str = "read-token-0123456789abcdef";
const OPERATOR: &str = "operator-token-0123456789abcdef";

/// The connector's admin server with a read and an operator token; its `/api/v1` URL.
fn admin(h: &Harness) -> (RunningAdminServer, String) {
    admin_of(h.started.as_ref().unwrap())
}

/// The admin server of a started connector (a replica).
fn admin_of(started: &ferry_platform::service::Started) -> (RunningAdminServer, String) {
    let config = AdminConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tokens: vec![
            TokenConfig {
                name: "viewer".into(),
                token: Secret::new(READ),
                scope: Scope::Read,
                integrations: Vec::new(),
            },
            TokenConfig {
                name: "oncall".into(),
                token: Secret::new(OPERATOR),
                scope: Scope::Operator,
                integrations: Vec::new(),
            },
        ],
        ..AdminConfig::default()
    };
    let server = started
        .mount(AdminServer::builder("connector-mpluskassa", &config))
        .bind()
        .unwrap();
    let base = format!("http://{}/api/v1", server.local_addr());
    (server, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_api() {
    let h = Harness::new(Options::default()).await;
    let (server, base) = admin(&h);
    let http = reqwest::Client::new();
    let id = h.integration.to_string();

    // Auth: no token, read token on an operator route.
    let r = http
        .get(format!("{base}/mpluskassa/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{base}/mpluskassa/integrations/{id}/sync"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Connection test with wrong and right credentials; the secret never comes back.
    let test = |secret: &'static str| {
        http.post(format!("{base}/mpluskassa/connection-test"))
            .bearer_auth(OPERATOR)
            .json(&json!({"endpoint": h.sandbox.mpluskassa_url, "ident": support::IDENT, "secret": secret}))
            .send()
    };
    let r = test("wrong-secret-value").await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains("wrong-secret-value"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["ok"], false);
    assert_eq!(body["error"]["code"], "auth_refused", "{body}");
    let r = test(SECRET).await.unwrap();
    let text = r.text().await.unwrap();
    assert!(!text.contains(SECRET));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["api_version"]["major"], 67);
    assert_eq!(body["employee_exists"], true);
    let r = http
        .post(format!("{base}/mpluskassa/connection-test"))
        .bearer_auth(OPERATOR)
        .json(&json!({"endpoint": "not a url", "ident": "x", "secret": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!(
            "{base}/mpluskassa/integrations/{id}/connection-test"
        ))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["ok"], true);

    // Integrations and reference data.
    let list: Value = http
        .get(format!("{base}/mpluskassa/integrations"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["integration_id"], id.as_str());
    assert!(!list.to_string().contains(SECRET));
    let reference: Value = http
        .get(format!(
            "{base}/mpluskassa/integrations/{id}/reference-data"
        ))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        reference["employees"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["number"] == 999999)
    );
    assert!(
        !reference["branches"][0]["workplaces"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(!reference["payment_methods"].as_array().unwrap().is_empty());
    let vat21 = reference["vat_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vat_percentage"] == 2100)
        .cloned();
    assert_eq!(
        vat21.unwrap()["percent"],
        "21",
        "hundredths read as percent"
    );
    assert!(
        reference["turnover_groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["account_number"] == 8000)
    );
    let r = http
        .get(format!(
            "{base}/mpluskassa/integrations/0193a0c4-0000-7000-8000-000000000999/reference-data"
        ))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");
    // MplusKASSA refusing the connection is no outage to retry (scripts/api-fuzz.sh found
    // it answered 503): 409, naming the refusal.
    h.fault_on(
        "getTurnoverGroups",
        ferry_sandbox::faults::FaultKind::SoapFault {
            code: "SOAP-ENV:Client".into(),
            message: "Authentication failed: invalid or missing ident/secret".into(),
        },
        1,
    );
    let r = http
        .get(format!(
            "{base}/mpluskassa/integrations/{id}/reference-data"
        ))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let refusal: Value = r.json().await.unwrap();
    assert_eq!(refusal["code"], "conflict", "{refusal}");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("Authentication failed"),
        "{refusal}"
    );

    // A sync on request (change detection is off in this harness), followed in the stats.
    let r = http
        .post(format!("{base}/mpluskassa/integrations/{id}/sync"))
        .bearer_auth(OPERATOR)
        .json(&json!({"full": true, "entities": ["relations"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let markers = h.client().sync_markers().await.unwrap();
    h.until("the requested sync", Duration::from_secs(20), |h| {
        !h.events_of("customer.observed").is_empty()
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let stats: Value = http
            .get(format!("{base}/mpluskassa/stats"))
            .bearer_auth(READ)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let relations = stats[0]["progress"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["entity"] == "relations")
            .cloned();
        if let Some(p) = relations
            && p["running"] == false
            && p["cursor"] == markers.relation
        {
            assert_eq!(p["target"], markers.relation);
            assert!(p["observed"].as_u64().unwrap() > 0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stats never showed the finished sync: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cursors: Value = http
        .get(format!("{base}/mpluskassa/integrations/{id}/cursors"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let relations = cursors
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["entity"] == "relations")
        .unwrap();
    assert_eq!(relations["marker"], markers.relation);
    let r = http
        .post(format!("{base}/mpluskassa/integrations/{id}/sync"))
        .bearer_auth(OPERATOR)
        .json(&json!({"entities": ["bogus"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Everything is in the OpenAPI document.
    let doc: Value = http
        .get(format!("{base}/openapi.json"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/mpluskassa/connection-test",
        "/api/v1/mpluskassa/integrations",
        "/api/v1/mpluskassa/integrations/{id}/connection-test",
        "/api/v1/mpluskassa/integrations/{id}/reference-data",
        "/api/v1/mpluskassa/integrations/{id}/sync",
        "/api/v1/mpluskassa/integrations/{id}/cursors",
        "/api/v1/mpluskassa/integrations/{id}/progress",
        "/api/v1/mpluskassa/stats",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    server.stop().await.unwrap();
    h.stop().await;
}

/// A `GET` with the read token, as JSON.
async fn read(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> Value {
    ferry_test_support::get_json(http, url, READ).await
}

/// Asks the replica at `base` for a pass of `id` (no full sync).
async fn request_pass(http: &reqwest::Client, base: &str, id: &str) {
    let r = http
        .post(format!("{base}/mpluskassa/integrations/{id}/sync"))
        .bearer_auth(OPERATOR)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

/// A full sync of the relations (pages of 40, each `getRelations` held 500 ms by the
/// sandbox), followed through `GET .../progress` of a second replica that does not run the
/// pass: the progress is stored, so any replica answers. It moves (records read, percent of
/// the sync markers, a rate, time left), ends done; a later pass that finds nothing leaves
/// the full sync's progress as it was; a pass left running (a crash) is mended by the next
/// pass finding nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn progress_moves_during_a_full_sync_and_any_replica_answers() {
    let h = Harness::new(Options::default()).await;
    let (server, base) = admin(&h);
    // A second replica on the same database and bus, with its own (empty) memory.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let other = ferry_connector_mpluskassa::start(
        ferry_platform::service::Runtime {
            db: h.db.clone(),
            bus: h.bus.clone(),
            shutdown: shutdown.clone(),
        },
        h.config.clone(),
    )
    .await
    .expect("a second replica starts");
    let (other_server, other_base) = admin_of(&other);
    let http = reqwest::Client::new();
    let id = h.integration.to_string();
    let progress_url = format!("{other_base}/mpluskassa/integrations/{id}/progress");

    let anonymous = http.get(&progress_url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let before = read(&http, &progress_url).await;
    assert_eq!(before["system"], "mpluskassa");
    let entities: Vec<&str> = before["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resource"].as_str().unwrap())
        .collect();
    assert!(entities.contains(&"relations"), "{before}");
    assert!(
        before["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "idle"),
        "{before}"
    );

    h.fault(
        ferry_sandbox::faults::FaultRule::new(
            ferry_sandbox::faults::System::Mpluskassa,
            ferry_sandbox::faults::FaultKind::Latency { ms: 500 },
        )
        .operation("getRelations"),
    );
    let markers = h.client().sync_markers().await.unwrap();
    let r = http
        .post(format!("{base}/mpluskassa/integrations/{id}/sync"))
        .bearer_auth(OPERATOR)
        .json(&json!({"full": true, "entities": ["relations"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    let followed = ferry_test_support::progress::follow(
        &http,
        &progress_url,
        READ,
        "relations",
        Duration::from_secs(60),
    )
    .await;
    let counts = followed.counts();
    assert!(counts.len() >= 2, "progress seen moving: {counts:?}");
    let middle = followed.middle(u64::MAX);
    assert_eq!(middle["mode"], "full", "{middle}");
    // MplusKASSA has no record count: percent and time left are measured in sync markers.
    assert!(middle["total"].is_null(), "{middle}");
    let percent = middle["percent"].as_f64().unwrap();
    assert!(percent > 0.0 && percent < 100.0, "{middle}");
    // Pages of at most 40 records, each held 500 ms: at most 80 records a second.
    let rate = middle["rate_per_second"].as_f64().unwrap();
    assert!(rate > 0.0 && rate <= 100.0, "{middle}");
    assert!(middle["eta_seconds"].as_u64().is_some(), "{middle}");

    let last = &followed.last;
    let observed = h.events_of("customer.observed").len() as u64;
    assert_eq!(last["percent"], 100.0, "{last}");
    assert!(
        last["done"].as_u64().unwrap() >= observed.min(1),
        "{last} after {observed} customers observed"
    );
    // The stats of that replica come from the stored pass too.
    let stats = read(&http, format!("{other_base}/mpluskassa/stats")).await;
    let stored = stats[0]["progress"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["entity"] == "relations")
        .cloned()
        .unwrap_or_else(|| panic!("{stats}"));
    assert_eq!(stored["running"], false, "{stored}");
    assert_eq!(stored["full_sync"], true, "{stored}");
    assert_eq!(stored["cursor"], markers.relation, "{stored}");
    assert_eq!(stored["target"], markers.relation, "{stored}");

    // A pass finding nothing new writes nothing: the full sync stays what is shown. The
    // pass reads invoices last: once they are answered, relations are behind it.
    let invoice_reads = || {
        h.sandbox
            .control
            .log(ferry_sandbox::faults::System::Mpluskassa)
            .list(0)
            .iter()
            .filter(|r| r.status.is_some())
            .filter(|r| {
                r.headers
                    .get("soapaction")
                    .is_some_and(|a| a.contains("getInvoices"))
            })
            .count()
    };
    let before_pass = invoice_reads();
    request_pass(&http, &base, &id).await;
    h.until("the second pass", Duration::from_secs(20), |_| {
        invoice_reads() > before_pass
    })
    .await;
    // Every enabled entity reads as synced, also those that never had anything to read (the
    // pass stores that after its last read, so it is waited for).
    let all_done = |p: &Value| {
        p["resources"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["state"] == "done"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut after = read(&http, &progress_url).await;
    while !all_done(&after) {
        assert!(std::time::Instant::now() < deadline, "{after}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = read(&http, &progress_url).await;
    }
    let relations = of(&after, "relations");
    assert_eq!(relations["mode"], "full", "{relations}");
    assert_eq!(relations["started_at"], last["started_at"], "{relations}");

    // A pass left running (its end never stored: a crash after its last page) is mended by
    // the next pass finding nothing, on whichever replica polls next (here the second, whose
    // memory knows nothing of the row).
    let runs = ferry_connector_mpluskassa::store::CURSORS;
    let mut stale = runs
        .run(&h.db, h.integration, "relations")
        .await
        .unwrap()
        .unwrap();
    stale.state = "running".into();
    stale.finished_at = None;
    runs.put_runs(&h.db, &[stale]).await.unwrap();
    let state = |p: &Value| of(p, "relations")["state"].clone();
    assert_eq!(state(&read(&http, &progress_url).await), "running");
    request_pass(&http, &other_base, &id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let p = read(&http, &progress_url).await;
        if state(&p) == "done" {
            assert_eq!(p["settled"], true, "{p}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never mended: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    other_server.stop().await.unwrap();
    shutdown.cancel();
    other.stop(Duration::from_secs(3)).await;
    server.stop().await.unwrap();
    h.stop().await;
}

/// Issue 19, finding 3: the connection test goes through the egress guard. Internal
/// destinations (the metadata address, loopback ports not allowed, private networks, names
/// resolving to them) are refused before the secret goes anywhere, a redirect to an internal
/// address is not followed, plain http to a public host is refused, an allowed loopback
/// sandbox passes, and a failure says what failed without the installation's texts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connection_tests_refuse_internal_destinations_and_say_what_failed() {
    let probes = Probes::start().await;
    let options = Options {
        egress_allow: probes.allow(),
        ..Options::default()
    };
    let h = Harness::new(options).await;
    let (server, base) = admin(&h);
    let http = reqwest::Client::new();
    let test = |endpoint: String| {
        let http = http.clone();
        let url = format!("{base}/mpluskassa/connection-test");
        async move {
            let answer = http
                .post(url)
                .bearer_auth(OPERATOR)
                .json(&json!({"endpoint": endpoint, "ident": support::IDENT, "secret": SECRET}))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{endpoint}");
            answer.json::<Value>().await.unwrap()
        }
    };
    let sandbox = socket_of(&h.sandbox.mpluskassa_url);
    let sandbox_port: u16 = sandbox.rsplit(':').next().unwrap().parse().unwrap();
    let cases = probes
        .cases(
            server.local_addr().port(),
            sandbox_port,
            "/",
            "api.mpluskassa.nl:34567",
        )
        .await;
    check_cases(cases, SECRET, &test).await;
    // The allowed sandbox on loopback passes.
    let ok = test(h.sandbox.mpluskassa_url.clone()).await;
    assert_eq!(ok["ok"], true, "{ok}");
    server.stop().await.unwrap();
    h.stop().await;
}
