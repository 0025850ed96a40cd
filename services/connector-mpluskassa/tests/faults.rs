//! Every fault the sandbox injects (latency, SOAP faults, HTTP 5xx and 429, timeouts,
//! malformed XML, dropped connections) on the calls that create and read, while commands run and change
//! detection passes: nothing is lost and nothing is duplicated (one relation per e-mail, one
//! order per extOrderId in the sandbox state; every seeded record observed exactly once).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use ferry_proto::messages::{CustomerUpsert, OrderCreate};
use ferry_proto::{ExternalId, System};
use ferry_sandbox::faults::{Corruption, FaultKind, FaultRule, System as SandboxSystem};
use support::{BusKind, Harness, Options, orders, relations};

const WAIT: Duration = Duration::from_secs(60);

fn faults_everywhere(h: &Harness) {
    let soap = |code: &str| FaultKind::SoapFault {
        code: code.into(),
        message: "database unavailable".into(),
    };
    // Creations without an idempotency key: the effect may or may not have happened.
    h.fault_on(
        "createRelation",
        FaultKind::MalformedBody {
            mode: Corruption::Truncated,
        },
        2,
    );
    h.fault_on("createRelation", FaultKind::ServerError { status: 503 }, 1);
    h.fault_on("createRelation", FaultKind::DropConnection, 1);
    // The idempotent order creation: every kind once.
    h.fault_on(
        "createOrderV3",
        FaultKind::MalformedBody {
            mode: Corruption::Garbage,
        },
        1,
    );
    h.fault_on("createOrderV3", FaultKind::Timeout { ms: 2_500 }, 1);
    h.fault_on("createOrderV3", soap("Server"), 1);
    h.fault_on("createOrderV3", FaultKind::DropConnection, 1);
    h.fault_on("createOrderV3", FaultKind::ServerError { status: 500 }, 1);
    // Look-ups and change detection.
    h.fault_on("findRelationV2", FaultKind::DropConnection, 2);
    h.fault_on("getRelations", FaultKind::DropConnection, 1);
    h.fault_on(
        "getRelations",
        FaultKind::MalformedBody {
            mode: Corruption::Truncated,
        },
        1,
    );
    h.fault_on("getProducts", FaultKind::Timeout { ms: 2_500 }, 1);
    h.fault_on("getProducts", soap("SOAP-ENV:Server"), 1);
    h.fault_on("getStock", FaultKind::ServerError { status: 502 }, 1);
    h.fault_on(
        "getOrders",
        FaultKind::MalformedBody {
            mode: Corruption::Garbage,
        },
        1,
    );
    h.fault_on("getCurrentSyncMarkers", FaultKind::DropConnection, 1);
    h.fault_on("getCurrentSyncMarkers", FaultKind::TooManyRequests, 1);
    h.fault_on("getRelation", FaultKind::Latency { ms: 300 }, 3);
    h.fault(
        FaultRule::new(
            SandboxSystem::Mpluskassa,
            FaultKind::RandomLatency {
                min_ms: 0,
                max_ms: 60,
            },
        )
        .probability(0.5, 7),
    );
}

async fn nothing_lost_or_duplicated(kind: BusKind) {
    let h = Harness::new(Options {
        bus: kind,
        sync: true,
        client_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let seeded: Vec<String> = relations(&h.dump())
        .iter()
        .map(|r| r["relation_number"].as_i64().unwrap().to_string())
        .collect();
    faults_everywhere(&h);

    // Five customers, each sent twice; then an order for the first.
    let emails: Vec<String> = (0..5).map(|i| format!("storm.{i}@example.org")).collect();
    let mut sent = Vec::new();
    for email in emails.iter().chain(emails.iter()) {
        sent.push(
            h.send(CustomerUpsert {
                target: System::Mpluskassa,
                customer: support::person(email),
                existing_id: None,
            })
            .await,
        );
    }
    let mut relation_of = HashMap::new();
    for (id, email) in sent.iter().zip(emails.iter().chain(emails.iter())) {
        let reply = h.reply_to(*id, WAIT).await;
        assert_eq!(
            reply.message_type, "customer.upserted",
            "{:?}",
            reply.payload
        );
        let number = reply.payload["target_id"].as_str().unwrap().to_owned();
        if let Some(previous) = relation_of.insert(email.clone(), number.clone()) {
            assert_eq!(previous, number, "the same relation for the same e-mail");
        }
    }
    let ext = ExternalId::parse("STORM-1").unwrap();
    let create = OrderCreate {
        target: System::Mpluskassa,
        order: support::order("STORM-1", &emails[0], &[("100101", 1, 2495)]),
        customer_id: ExternalId::parse(&relation_of[&emails[0]]).unwrap(),
        idempotency_key: OrderCreate::idempotency_key_for(h.integration, &ext),
        articles: Vec::new(),
    };
    let first = h.send(create.clone()).await;
    let second = h.send(create).await;
    let a = h.reply_to(first, WAIT).await;
    let b = h.reply_to(second, WAIT).await;
    assert_eq!(a.message_type, "order.created", "{:?}", a.payload);
    assert_eq!(b.message_type, "order.created", "{:?}", b.payload);
    assert_eq!(a.payload["target_id"], b.payload["target_id"]);

    // Change detection got through its faults too: every seeded relation exactly once.
    h.until("every seeded relation observed", WAIT, |h| {
        let seen: Vec<String> = h
            .events_of("customer.observed")
            .iter()
            .map(|e| {
                e.payload["customer"]["source_ref"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        seeded.iter().all(|n| seen.contains(n))
    })
    .await;
    let mut per_relation: HashMap<String, usize> = HashMap::new();
    for e in h.events_of("customer.observed") {
        *per_relation
            .entry(
                e.payload["customer"]["source_ref"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    for n in &seeded {
        assert_eq!(per_relation[n], 1, "seeded relation {n} observed once");
    }

    let dump = h.dump();
    for email in &emails {
        let matching = relations(&dump)
            .into_iter()
            .filter(|r| {
                r["email"]
                    .as_str()
                    .unwrap_or("")
                    .eq_ignore_ascii_case(email)
            })
            .count();
        assert_eq!(matching, 1, "exactly one relation for {email}");
    }
    let storm: Vec<_> = orders(&dump)
        .into_iter()
        .filter(|o| o["ext_order_id"] == "STORM-1")
        .collect();
    assert_eq!(storm.len(), 1, "exactly one order per extOrderId");
    // Every fault fired (the rules with `next` are spent; change detection keeps polling).
    h.until("every injected fault to fire", WAIT, |h| {
        h.sandbox.faults.list(None).iter().all(|r| r.next.is_none())
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_lost_or_duplicated_in_process() {
    nothing_lost_or_duplicated(BusKind::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_lost_or_duplicated_on_rabbitmq() {
    nothing_lost_or_duplicated(BusKind::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_outlasting_the_retries_is_reported_not_dropped() {
    let h = Harness::new(Options {
        client_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    h.fault(
        FaultRule::new(
            SandboxSystem::Mpluskassa,
            FaultKind::ServerError { status: 503 },
        )
        .operation("findRelationV2"),
    );
    let id = h
        .send(CustomerUpsert {
            target: System::Mpluskassa,
            customer: support::person("outage@example.org"),
            existing_id: None,
        })
        .await;
    let reply = h.reply_to(id, WAIT).await;
    assert_eq!(reply.message_type, "command.failed");
    assert_eq!(reply.payload["error"]["code"], "unavailable");
    assert_eq!(reply.payload["error"]["retryable"], true);
    assert!(
        reply.payload["error"]["message"]
            .as_str()
            .unwrap()
            .contains("findRelationV2")
    );
    assert!(
        relations(&h.dump())
            .iter()
            .all(|r| r["email"] != "outage@example.org")
    );

    // Refused credentials are permanent at once.
    h.sandbox.faults.clear(None);
    h.fault(FaultRule::new(
        SandboxSystem::Mpluskassa,
        FaultKind::SoapFault {
            code: "SOAP-ENV:Client".into(),
            message: "Authentication failed: invalid or missing ident/secret".into(),
        },
    ));
    let id = h
        .send(CustomerUpsert {
            target: System::Mpluskassa,
            customer: support::person("auth@example.org"),
            existing_id: None,
        })
        .await;
    let reply = h.reply_to(id, WAIT).await;
    assert_eq!(reply.payload["error"]["code"], "auth");
    assert_eq!(reply.payload["error"]["retryable"], false);
    h.stop().await;
}
