//! The admin API and the list webhook endpoint over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ferry_connector_mailchimp::webhook;
use ferry_platform::admin::{AdminServer, RunningAdminServer};
use ferry_platform::config::{AdminConfig, Scope, Secret, TokenConfig};
use ferry_test_support::egress::{Probes, check_cases, socket_of};
use serde_json::{Value, json};
use support::{Harness, Kind, Options, sandbox_key};

const READ: &str = "read-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";
const WEBHOOK_SECRET: &str = "webhook-secret-0123456789";

fn admin(h: &Harness) -> (RunningAdminServer, String) {
    let config = AdminConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tokens: vec![
            TokenConfig {
                name: "reader".into(),
                token: Secret::new(READ),
                scope: Scope::Read,
                integrations: Vec::new(),
            },
            TokenConfig {
                name: "operator".into(),
                token: Secret::new(OPERATOR),
                scope: Scope::Operator,
                integrations: Vec::new(),
            },
        ],
        ..AdminConfig::default()
    };
    let server = h
        .started()
        .mount(AdminServer::builder("connector-mailchimp", &config))
        .bind()
        .expect("admin server");
    let base = format!("http://{}", server.local_addr());
    (server, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_tests_connections_syncs_and_reports() {
    let h = Harness::start(Kind::InProcess).await;
    let (server, base) = admin(&h);
    let http = reqwest::Client::new();
    let api = |p: &str| format!("{base}/api/v1/mailchimp{p}");

    // Connection test: good key, bad key, malformed key; the key never comes back.
    let test = |key: &str| {
        http.post(api("/connection-test"))
            .bearer_auth(OPERATOR)
            .json(&json!({"api_key": key, "base_url": h.sandbox.mailchimp_url}))
            .send()
    };
    let ok = test(sandbox_key()).await.unwrap();
    assert_eq!(ok.status(), 200);
    let text = ok.text().await.unwrap();
    assert!(!text.contains(sandbox_key()), "the key was echoed");
    let ok: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["data_center"], "us1");
    // The seeded account's audience and store, to choose from in the setup wizard.
    let seed = h.sandbox.control.seed();
    assert!(
        ok["audiences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == seed.shop.list_id.as_str()),
        "{ok}"
    );
    assert!(
        ok["stores"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == seed.shop.store_id.as_str()
                && s["list_id"] == seed.shop.list_id.as_str()),
        "{ok}"
    );
    let wrong_key = "ffffffffffffffffffffffffffffffff-us1";
    let bad = test(wrong_key).await.unwrap().text().await.unwrap();
    assert!(!bad.contains(wrong_key));
    let bad: Value = serde_json::from_str(&bad).unwrap();
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["error"]["code"], "auth_refused", "{bad}");
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("401"),
        "{bad}"
    );
    let malformed: Value = test("no-data-center-here_")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(malformed["ok"], false);
    // Read tokens may not test connections; no token may do anything.
    let refused = http
        .post(api("/connection-test"))
        .bearer_auth(READ)
        .json(&json!({"api_key": sandbox_key()}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let anonymous = http.get(api("/integrations")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // Integrations: listed without secrets.
    let list = http
        .get(api("/integrations"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    let text = list.text().await.unwrap();
    assert!(!text.contains(sandbox_key()));
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list[0]["integration_id"], h.integration_id.to_string());
    // The account's limit; this replica's share is the connection slots it holds now.
    assert_eq!(list[0]["concurrency"], 10);
    assert!(
        list[0]["replica_concurrency"]
            .as_u64()
            .is_some_and(|n| n <= 10)
    );

    // A full sync, followed through the cursors until done.
    let id = h.integration_id.to_string();
    let started = http
        .post(api(&format!("/integrations/{id}/sync")))
        .bearer_auth(OPERATOR)
        .json(&json!({"mode": "full"}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let cursors = loop {
        let cursors: Value = http
            .get(api(&format!("/integrations/{id}/cursors")))
            .bearer_auth(READ)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let all_done = cursors
            .as_array()
            .is_some_and(|c| c.len() == 4 && c.iter().all(|c| c["state"] == "done"));
        if all_done {
            break cursors;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sync did not finish: {cursors}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for c in cursors.as_array().unwrap() {
        assert_eq!(c["progress_percent"], 100.0, "{c}");
        assert!(c["watermark"].is_string());
    }
    let stats: Value = http
        .get(api(&format!("/integrations/{id}/api-stats")))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        stats["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["operation"] == "products.list"),
        "{stats}"
    );
    // Unknown integrations and bad ids.
    let missing = http
        .get(api(&format!(
            "/integrations/{}/cursors",
            uuid::Uuid::now_v7()
        )))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad_id = http
        .get(api("/integrations/nope/cursors"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_id.status(), 400);

    // Every route is in the OpenAPI document.
    let doc: Value = http
        .get(format!("{base}/api/v1/openapi.json"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/mailchimp/connection-test",
        "/api/v1/mailchimp/integrations",
        "/api/v1/mailchimp/integrations/{integration_id}/sync",
        "/api/v1/mailchimp/integrations/{integration_id}/cursors",
        "/api/v1/mailchimp/integrations/{integration_id}/progress",
        "/api/v1/mailchimp/integrations/{integration_id}/api-stats",
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

/// A backfill of 1,000 customers in pages of 50, each page held 200 ms by the sandbox and one
/// page at a time (a connection share of 1): `GET .../progress` shows it moving (records done
/// of the total, a rate over the last seconds, time left), then done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_moves_during_a_backfill() {
    let h = Harness::with(Options {
        scale: Some(ferry_sandbox::mailchimp::scale::Scale {
            orders: 0,
            products: 0,
            customers: 1_000,
            stores: 1,
        }),
        page_size: Some(50),
        concurrency: 1,
        request_timeout_secs: 10,
        ..Options::new(Kind::InProcess)
    })
    .await;
    let (server, base) = admin(&h);
    let http = reqwest::Client::new();
    let id = h.integration_id.to_string();
    let progress_url = format!("{base}/api/v1/mailchimp/integrations/{id}/progress");

    // Auth as for every admin route; an integration never synced is idle, every resource.
    let anonymous = http.get(&progress_url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let before: Value = read(&http, &progress_url).await;
    assert_eq!(before["system"], "mailchimp");
    let names: Vec<&str> = before["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resource"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["members", "customers", "products", "orders"]);
    assert!(
        before["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "idle" && r["percent"].is_null()),
        "{before}"
    );
    // Not polled in this harness: nothing is about to start, nothing to wait for.
    assert_eq!(
        (&before["polled"], &before["settled"]),
        (&json!(false), &json!(true))
    );

    h.fault(
        "GET",
        &format!("/3.0/ecommerce/stores/{}/customers", h.store_id),
        ferry_sandbox::faults::FaultKind::Latency { ms: 200 },
        None,
    );
    let started = http
        .post(format!("{base}/api/v1/mailchimp/integrations/{id}/sync"))
        .bearer_auth(OPERATOR)
        .json(&json!({"mode": "full", "resources": ["customers"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);

    let followed = ferry_test_support::progress::follow(
        &http,
        &progress_url,
        READ,
        "customers",
        Duration::from_secs(60),
    )
    .await;
    // Seen moving: several distinct counts, never backwards, against the total.
    let counts = followed.counts();
    assert!(counts.len() >= 3, "progress seen moving: {counts:?}");
    let middle = followed.middle(1_000);
    assert_eq!(middle["total"], 1_000, "{middle}");
    assert_eq!(middle["mode"], "full", "{middle}");
    let percent = middle["percent"].as_f64().unwrap();
    assert!(percent > 0.0 && percent < 100.0, "{middle}");
    // One page of 50 at a time, each held 200 ms: at most 250 records a second.
    let rate = middle["rate_per_second"].as_f64().unwrap();
    assert!(rate > 0.0 && rate <= 300.0, "{middle}");
    let eta = middle["eta_seconds"].as_u64().unwrap();
    let left = 1_000 - middle["done"].as_u64().unwrap();
    assert!(
        eta as f64 >= left as f64 / 300.0,
        "time left {eta} s for {left} records at {rate}/s"
    );

    let last = &followed.last;
    assert_eq!(
        (last["done"].as_u64(), last["total"].as_u64()),
        (Some(1_000), Some(1_000))
    );
    assert_eq!(last["percent"], 100.0, "{last}");
    assert!(last["eta_seconds"].is_null(), "{last}");
    assert!(last["finished_at"].is_string(), "{last}");
    // Finished: the run's average, within what the sandbox allowed.
    let average = last["rate_per_second"].as_f64().unwrap();
    assert!(average > 0.0 && average <= 300.0, "{last}");

    // In the OpenAPI document, with the shape the CLI and the dashboard read.
    let doc: Value = read(&http, format!("{base}/api/v1/openapi.json")).await;
    assert!(
        doc["paths"]
            .get("/api/v1/mailchimp/integrations/{integration_id}/progress")
            .is_some()
    );
    assert!(doc["components"]["schemas"]["ResourceProgress"].is_object());
    server.stop().await.unwrap();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_webhooks_publish_the_member_once_and_need_the_secret() {
    let mut options = Options::new(Kind::InProcess);
    options.webhook_secret = Some(WEBHOOK_SECRET.into());
    let h = Harness::with(options).await;
    let (server, base) = admin(&h);
    let integration = h.integration();
    let http = reqwest::Client::new();
    let url = format!("{base}{}/{}", webhook::PATH, h.integration_id);

    // Without or with a wrong secret: 404, nothing stored.
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404);
    let wrong = http
        .post(format!("{url}?key=wrong-secret-0123456789"))
        .form(&[("type", "subscribe"), ("data[email]", "x@example.nl")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    assert_eq!(
        http.get(format!("{url}?key={WEBHOOK_SECRET}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Registration is idempotent.
    assert!(
        webhook::ensure_registered(&integration, &base)
            .await
            .unwrap()
    );
    assert!(
        !webhook::ensure_registered(&integration, &base)
            .await
            .unwrap()
    );

    // A member subscribes through the API: the sandbox posts the webhook to Ferry.
    let email = "webhook.lid@example.nl";
    let hash = ferry_connector_mailchimp::client::subscriber_hash(email);
    h.mc(
        "PUT",
        &format!("/lists/{}/members/{hash}", h.list_id),
        json!({"email_address": email, "status_if_new": "subscribed",
               "merge_fields": {"FNAME": "Web", "LNAME": "Hook"}}),
    );
    let of_member = |h: &Harness| {
        h.seen_with("mailchimp.customer.observed")
            .into_iter()
            .filter(|s| s.payload()["customer"]["email"] == email)
            .count()
    };
    support::wait_until("the member's event", || of_member(&h) == 1).await;
    // The next poll knows this version: nothing twice.
    let report = h
        .ingester
        .sync(
            &integration,
            ferry_connector_mailchimp::Resource::Members,
            ferry_connector_mailchimp::SyncMode::Incremental,
        )
        .await
        .unwrap();
    let seen_after_poll = of_member(&h);
    assert_eq!(seen_after_poll, 1, "{report:?}");
    server.stop().await.unwrap();
    h.stop().await;
}

#[test]
fn secrets_never_print() {
    let config: ferry_connector_mailchimp::IntegrationConfig = serde_json::from_value(json!({
        "integration_id": "0195f3a4-7b1c-7d2e-8f90-a1b2c3d4e5f6",
        "api_key": "0123456789abcdef0123456789abcdef-us19",
        "store_id": "s", "list_id": "l", "webhook_secret": WEBHOOK_SECRET
    }))
    .unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains("0123456789abcdef"), "{printed}");
    assert!(!printed.contains(WEBHOOK_SECRET), "{printed}");
    let connection = ferry_connector_mailchimp::Connection::from_config(&config).unwrap();
    let printed = format!("{connection:?}");
    assert!(!printed.contains("0123456789abcdef"), "{printed}");
    assert!(printed.contains("us19"));
}

/// Issue 19, finding 3: the connection test goes through the egress guard. Internal
/// destinations (the metadata address, loopback ports not allowed, private networks, names
/// resolving to them) are refused before any request, a redirect to an internal address is
/// not followed, plain http to a public host is refused, an allowed loopback sandbox passes,
/// and a failure says what failed without the remote's body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_tests_refuse_internal_destinations_and_say_what_failed() {
    let probes = Probes::start().await;
    let mut options = Options::new(Kind::InProcess);
    options.egress_allow = probes.allow();
    let h = Harness::with(options).await;
    let (server, base) = admin(&h);
    let http = reqwest::Client::new();
    let test = |base_url: String| {
        let http = http.clone();
        let url = format!("{base}/api/v1/mailchimp/connection-test");
        async move {
            let answer: Value = http
                .post(url)
                .bearer_auth(OPERATOR)
                .json(&json!({"api_key": sandbox_key(), "base_url": base_url}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer
        }
    };
    let sandbox = socket_of(&h.sandbox.mailchimp_url);
    let sandbox_port: u16 = sandbox.rsplit(':').next().unwrap().parse().unwrap();
    let cases = probes
        .cases(
            server.local_addr().port(),
            sandbox_port,
            "/3.0",
            "us1.api.mailchimp.com",
        )
        .await;
    check_cases(cases, sandbox_key(), &test).await;
    // The allowed sandbox on loopback passes.
    let ok = test(h.sandbox.mailchimp_url.clone()).await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["error"], Value::Null, "{ok}");
    server.stop().await.unwrap();
    h.stop().await;
}
