//! Fault injection, the connection limit and the control endpoints, observed by a reqwest
//! client over real HTTP.

mod support;

use std::time::{Duration, Instant};

use ferry_sandbox::faults::{FaultKind, FaultRule, System};
use serde_json::json;
use support::{KEY, OTHER_KEY, assert_problem, start};

#[tokio::test(flavor = "multi_thread")]
async fn latency_storms_and_bare_statuses() {
    let sb = start().await;
    sb.fault(json!({"method": "GET", "path": "/3.0/ping", "fault": {"kind": "latency", "ms": 300}, "next": 1})).await;
    let t = Instant::now();
    assert_eq!(sb.get("/ping").await.status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    // A 429 storm on one route only.
    sb.fault(json!({"path": "/3.0/lists**", "fault": {"kind": "too_many_requests"}, "next": 3}))
        .await;
    assert_eq!(sb.get("/ping").await.status, 200);
    for _ in 0..3 {
        assert_problem(&sb.get("/lists").await, 429, "Too Many Requests");
    }
    assert_eq!(sb.get("/lists").await.status, 200);

    for status in [403u16, 429] {
        sb.fault(json!({"fault": {"kind": "bare_status", "status": status}, "next": 1}))
            .await;
        let r = sb.get("/ping").await;
        assert_eq!(r.status, status);
        assert!(r.text.is_empty());
        assert!(r.headers.get("content-type").is_none());
    }
    sb.fault(json!({"fault": {"kind": "server_error", "status": 503}, "next": 1}))
        .await;
    assert_problem(&sb.get("/ping").await, 503, "Internal Server Error");
    sb.fault(json!({"fault": {"kind": "server_error"}, "next": 1}))
        .await;
    assert_problem(&sb.get("/ping").await, 500, "Internal Server Error");
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies() {
    let sb = start().await;
    sb.fault(json!({"fault": {"kind": "malformed_body", "mode": "truncated"}, "next": 1}))
        .await;
    let r = sb.get("/lists").await;
    assert_eq!(r.status, 200);
    assert!(!r.text.is_empty());
    assert!(
        serde_json::from_str::<serde_json::Value>(&r.text).is_err(),
        "{}",
        r.text
    );
    assert!(r.text.starts_with('{'));
    sb.fault(json!({"fault": {"kind": "malformed_body", "mode": "garbage"}, "next": 1}))
        .await;
    let raw = sb
        .client
        .get(sb.url("/lists"))
        .basic_auth("x", Some(KEY))
        .send()
        .await
        .expect("send");
    let bytes = raw.bytes().await.expect("body");
    assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_err());
    // State changes still happen under a malformed answer (the client cannot tell).
    sb.fault(json!({"method": "PUT", "fault": {"kind": "malformed_body"}, "next": 1}))
        .await;
    let r = sb
        .req(
            "PUT",
            "/ecommerce/stores/ferry-lifestyle/customers/mal-1",
            Some(json!({"id": "mal-1", "email_address": "mal@example.nl", "opt_in_status": false})),
        )
        .await;
    assert!(r.json.is_null());
    assert_eq!(
        sb.get("/ecommerce/stores/ferry-lifestyle/customers/mal-1")
            .await
            .status,
        200
    );
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_connections_and_timeouts() {
    let sb = start().await;
    sb.fault(json!({"path": "/3.0/ping", "fault": {"kind": "drop_connection"}, "next": 1}))
        .await;
    let err = sb
        .client
        .get(sb.url("/ping"))
        .basic_auth("x", Some(KEY))
        .send()
        .await
        .expect_err("the connection is dropped without a response");
    assert!(!err.is_timeout(), "{err:?}");
    assert!(err.status().is_none());
    assert_eq!(sb.get("/ping").await.status, 200, "only the next request");

    sb.fault(json!({"path": "/3.0/ping", "fault": {"kind": "timeout"}, "next": 1}))
        .await;
    let t = Instant::now();
    let err = sb
        .client
        .get(sb.url("/ping"))
        .basic_auth("x", Some(KEY))
        .timeout(Duration::from_millis(400))
        .send()
        .await
        .expect_err("held past the client's timeout");
    assert!(err.is_timeout(), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // The log shows both faults.
    let log = sb.control("GET", "/requests", None).await;
    let faults: Vec<&str> = log.json["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter_map(|r| r["fault"]["kind"].as_str())
        .collect();
    assert_eq!(faults, ["drop_connection", "timeout"]);
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn probability_rules_are_deterministic() {
    async fn run() -> Vec<u16> {
        let sb = start().await;
        sb.fault(json!({"fault": {"kind": "bare_status", "status": 429}, "probability": 0.5, "seed": 1234})).await;
        let mut out = Vec::new();
        for _ in 0..30 {
            out.push(sb.get("/ping").await.status);
        }
        sb.handle.stop().await;
        out
    }
    let a = run().await;
    assert_eq!(a, run().await);
    let hits = a.iter().filter(|s| **s == 429).count();
    assert!(hits > 3 && hits < 27, "{a:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn eleventh_simultaneous_request_gets_429() {
    let sb = start().await;
    sb.handle
        .faults
        .add(FaultRule::new(System::Mailchimp, FaultKind::Latency { ms: 700 }).path("/3.0/ping"))
        .expect("rule");
    let calls: Vec<_> = (0..11)
        .map(|_| {
            let client = sb.client.clone();
            let url = sb.url("/ping");
            tokio::spawn(async move {
                support::into_resp(
                    client
                        .get(url)
                        .basic_auth("x", Some(KEY))
                        .send()
                        .await
                        .expect("send"),
                )
                .await
            })
        })
        .collect();
    // Another key is not limited by the first key's connections.
    let other = {
        let client = sb.client.clone();
        let url = sb.url("/ping");
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            client
                .get(url)
                .basic_auth("x", Some(OTHER_KEY))
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        })
    };
    let mut ok = 0;
    let mut limited = 0;
    for c in calls {
        let r = c.await.expect("task");
        match r.status {
            200 => ok += 1,
            429 => {
                assert_problem(&r, 429, "Too Many Requests");
                limited += 1;
            }
            s => panic!("unexpected {s}: {}", r.text),
        }
    }
    assert!(limited >= 1, "11 simultaneous requests, none refused");
    assert!((1..=10).contains(&ok), "{ok} ok");
    assert_eq!(other.await.expect("task"), 200);
    sb.handle.faults.clear(None);
    assert_eq!(sb.get("/ping").await.status, 200, "slots are released");
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn control_endpoints() {
    let sb = start().await;
    // Request log: no Authorization, body excerpt, status.
    sb.control("DELETE", "/requests", None).await;
    sb.req(
        "PATCH",
        "/ecommerce/stores/ferry-lifestyle/customers/5001",
        Some(json!({"first_name": "Changed"})),
    )
    .await;
    let log = sb.control("GET", "/requests", None).await;
    let reqs = log.json["requests"].as_array().expect("requests");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["method"], "PATCH");
    assert_eq!(
        reqs[0]["path"],
        "/3.0/ecommerce/stores/ferry-lifestyle/customers/5001"
    );
    assert_eq!(reqs[0]["status"], 200);
    assert!(reqs[0]["body"].as_str().expect("body").contains("Changed"));
    assert!(reqs[0]["headers"].get("authorization").is_none());
    assert!(reqs[0]["headers"].get("content-type").is_some());

    // Dump, reset to empty, reset to seed.
    let dump = sb.control("GET", "/state", None).await;
    assert_eq!(
        dump.json["stores"]["ferry-lifestyle"]["customers"]["5001"]["data"]["first_name"],
        "Changed"
    );
    assert_eq!(
        sb.control("POST", "/reset?to=empty", None).await.status,
        204
    );
    assert_eq!(sb.get("/ecommerce/stores").await.json["total_items"], 0);
    assert_eq!(sb.control("POST", "/reset", None).await.status, 204);
    assert_eq!(
        sb.get("/ecommerce/stores/ferry-lifestyle/customers/5001")
            .await
            .json["first_name"],
        "Sanne"
    );

    // Load another seed.
    let mut seed = ferry_sandbox::seed::Seed::default_shop();
    seed.customers.truncate(3);
    seed.orders.clear();
    let r = sb
        .control(
            "POST",
            "/seed",
            Some(serde_json::to_value(&seed).expect("seed")),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let c = sb.get("/ecommerce/stores/ferry-lifestyle/customers").await;
    assert_eq!(
        c.json["total_items"].as_u64(),
        Some(
            seed.customers
                .iter()
                .filter(|c| c.in_mailchimp_store)
                .count() as u64
        )
    );
    assert_eq!(
        sb.control("POST", "/seed", Some(json!({"shop": 1})))
            .await
            .status,
        400
    );

    // Fault rules over HTTP.
    sb.fault(json!([{"fault": {"kind": "latency", "ms": 1}}, {"path": "/3.0/ping", "fault": {"kind": "drop_connection"}, "next": 5}])).await;
    let rules = sb.control("GET", "/faults", None).await;
    assert_eq!(rules.json["rules"].as_array().map(Vec::len), Some(2));
    assert_eq!(rules.json["rules"][1]["next"], 5);
    let bad = sb
        .control(
            "POST",
            "/faults",
            Some(json!({"fault": {"kind": "soap_fault"}})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let id = rules.json["rules"][1]["id"].as_u64().expect("id");
    assert_eq!(
        sb.control("DELETE", &format!("/faults/{id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(sb.get("/ping").await.status, 200);
    assert_eq!(sb.control("DELETE", "/faults", None).await.status, 204);
    assert_eq!(
        sb.control("GET", "/faults", None).await.json["rules"],
        json!([])
    );
    sb.handle.stop().await;
}
