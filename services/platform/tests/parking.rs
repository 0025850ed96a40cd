//! The parking lot end to end, on both buses: a handler parks a bad message, the lot stores it,
//! an operator finds it through the admin API, replays it (after fixing the cause) and the
//! handler gets it again; discarding removes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferry_platform::admin::AdminServer;
use ferry_platform::admin::dead_letters::{self, DeadLetterApi};
use ferry_platform::bus::parking::{ParkedFilter, ParkingLot};
use ferry_platform::bus::{Binding, Outcome, Subscription, headers};
use ferry_platform::config::{AdminConfig, Scope, Secret, TokenConfig};
use serde_json::Value;
use support::{Db, Kind, TestBus, event, next, recorder};
use utoipa::OpenApi;

const READ: &str = "read-token-0123456789abcdef";
const OPERATOR: &str = "operator-token-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_message_is_listed_replayed_and_discarded_in_process() {
    parked_message_is_listed_replayed_and_discarded(Kind::InProcess, Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_message_is_listed_replayed_and_discarded_on_rabbitmq() {
    parked_message_is_listed_replayed_and_discarded(Kind::Rabbit, Db::Postgres).await;
}

async fn parked_message_is_listed_replayed_and_discarded(kind: Kind, db: Db) {
    let t = TestBus::new(kind).await;
    let (db, _guard) = support::database(db).await;
    let fixed = Arc::new(AtomicBool::new(false));
    let (handler, mut rx) = {
        let fixed = fixed.clone();
        recorder(move |_| {
            if fixed.load(Ordering::SeqCst) {
                Outcome::Ack
            } else {
                Outcome::DeadLetter("country XX has no VAT code mapping".into())
            }
        })
    };
    let sub = t
        .bus
        .subscribe(
            Subscription::new("mapper", vec![Binding::events("mailchimp.order.observed")]),
            handler,
        )
        .await
        .unwrap();

    let lot = ParkingLot::new(db.clone(), t.bus.clone());
    let mut parked_events = lot.watch();
    let takers = lot.watch_queues(&["mapper"]).await.unwrap();

    let sent = event("mailchimp.order.observed", "{\"order\":\"1001\"}")
        .with_header(headers::INTEGRATION_ID, "integration-7")
        .with_header(headers::MESSAGE_TYPE, "order.observed");
    t.bus.publish(sent.clone()).await.unwrap();
    next(&mut rx, 10).await;
    let parked = tokio::time::timeout(Duration::from_secs(10), parked_events.recv())
        .await
        .expect("the lot announces the parked message")
        .unwrap();
    assert_eq!(parked.message_id, sent.message_id);
    assert_eq!(parked.queue, "mapper");
    assert_eq!(parked.integration_id.as_deref(), Some("integration-7"));
    assert!(parked.reason.contains("VAT"));

    let admin = AdminConfig {
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
    let server = AdminServer::builder("test", &admin)
        .api(
            {
                let lot = lot.clone();
                move |cfg| dead_letters::configure(cfg, lot.clone())
            },
            DeadLetterApi::openapi(),
        )
        .bind()
        .unwrap();
    let base = format!("http://{}/api/v1", server.local_addr());
    let http = reqwest::Client::new();

    let listed: Value = http
        .get(format!("{base}/dead-letters?queue=mapper"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["message_id"], sent.message_id.to_string());

    let item = format!("{base}/dead-letters/mapper/{}", sent.message_id);
    let detail: Value = http
        .get(&item)
        .bearer_auth(READ)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["body"], "{\"order\":\"1001\"}");
    assert_eq!(detail["routing_key"], "mailchimp.order.observed");

    // A read token cannot replay.
    let denied = http
        .post(format!("{item}/replay"))
        .bearer_auth(READ)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);

    fixed.store(true, Ordering::SeqCst);
    let replayed = http
        .post(format!("{item}/replay"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 202);
    let again = next(&mut rx, 10).await;
    assert_eq!(again.message.message_id, sent.message_id);
    assert_eq!(again.attempt, 1);

    let waiting = lot.list(&ParkedFilter::default()).await.unwrap();
    assert!(waiting.is_empty(), "a replayed message no longer waits");
    let all = lot
        .list(&ParkedFilter {
            include_replayed: true,
            ..ParkedFilter::default()
        })
        .await
        .unwrap();
    assert!(all[0].replayed_at.is_some());

    let gone = http
        .delete(&item)
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    let missing = http.get(&item).bearer_auth(READ).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    server.stop().await.unwrap();
    for handle in takers {
        handle.stop(Duration::from_secs(1)).await;
    }
    sub.stop(Duration::from_secs(1)).await;
    t.cleanup().await;
}
