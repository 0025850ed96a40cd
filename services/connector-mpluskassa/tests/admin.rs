//! The admin API over HTTP: connection tests (the secret never echoed), reference data,
//! sync trigger with progress, cursors, auth and the OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ferry_platform::admin::{AdminServer, RunningAdminServer};
use ferry_platform::config::{AdminConfig, Scope, Secret, TokenConfig};
use ferry_test_support::egress::{Probes, check_cases, socket_of};
use serde_json::{Value, json};
use support::{Harness, Options, SECRET};

const READ: &str = "read-token-0123456789abcdef";
const OPERATOR: &str = "operator-token-0123456789abcdef";

/// The connector's admin server with a read and an operator token; its `/api/v1` URL.
fn admin(h: &Harness) -> (RunningAdminServer, String) {
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
    let server = h
        .started
        .as_ref()
        .unwrap()
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
