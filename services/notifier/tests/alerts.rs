//! Each alert rule fires once (however often its problem recurs) and resolves when the problem
//! clears; every alert names what failed, for which integration and record, and what to do;
//! each firing and resolve reaches the channels.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use ferry_notifier::config::{ChannelConfig, ChannelKind};
use ferry_platform::bus::{Binding, Delivery, Outcome, RetryPolicy, Subscription, queues};
use ferry_platform::config::Secret;
use ferry_proto::messages::ErrorCode;
use serde_json::{Value, json};
use support::*;

const SECRET: &str = "webhook-secret-0123456789";

fn with_webhook(receiver: &Receiver) -> ferry_notifier::NotifierConfig {
    let mut config = config();
    config.channels.push(ChannelConfig {
        name: "ops".into(),
        integrations: vec![],
        kind: ChannelKind::Webhook {
            url: receiver.url("/hook"),
            secret: Secret::new(SECRET),
        },
    });
    config.dashboard_url = Some("https://ferry.example.com/dashboard/".into());
    config
}

/// The webhook notifications (event, alert) the receiver got for `rule`.
fn notified(receiver: &Receiver, rule: &str) -> Vec<(String, Value)> {
    receiver
        .received()
        .iter()
        .map(Received::json)
        .filter(|b| b["alert"]["rule"] == rule)
        .map(|b| (b["event"].as_str().unwrap().to_owned(), b["alert"].clone()))
        .collect()
}

async fn wait_notified(receiver: &Receiver, rule: &str, events: &[&str]) -> Vec<(String, Value)> {
    eventually(&format!("{rule} notifications {events:?}"), 20, || async {
        let got = notified(receiver, rule);
        let names: Vec<&str> = got.iter().map(|(e, _)| e.as_str()).collect();
        (names == events).then_some(got)
    })
    .await
}

async fn one_open(h: &Harness, rule: &str) -> Value {
    eventually(&format!("an open {rule} alert"), 20, || async {
        let open = h.alerts("open", rule).await;
        (open.len() == 1).then(|| open[0].clone())
    })
    .await
}

/// A world on `bus` and `db`, a webhook receiver, and a notifier sending its alerts there.
async fn scene(bus: BusKind, db: DbKind) -> (World, Receiver, Harness) {
    let world = World::new(bus, db).await;
    let receiver = Receiver::start(0).await;
    let h = Harness::start(&world, with_webhook(&receiver)).await;
    (world, receiver, h)
}

/// The open alert of `rule` resolves, and the webhook got its firing and resolve messages.
async fn resolves_and_is_notified(h: &Harness, receiver: &Receiver, rule: &str) {
    resolved(h, rule).await;
    wait_notified(receiver, rule, &["firing", "resolved"]).await;
}

async fn resolved(h: &Harness, rule: &str) -> Value {
    eventually(&format!("the {rule} alert resolved"), 20, || async {
        let open = h.alerts("open", rule).await;
        let done = h.alerts("resolved", rule).await;
        (open.is_empty() && done.len() == 1).then(|| done[0].clone())
    })
    .await
}

async fn auth_failure_fires_once_and_resolves(bus: BusKind, db: DbKind) {
    let (world, receiver, h) = scene(bus, db).await;
    let integration = integration();
    let email = "anna@example.com";
    let observed = customer_observed(integration, email);
    let upsert = customer_upsert(&observed, email);
    for _ in 0..3 {
        let again = customer_upsert(&observed, email);
        publish(
            &world.bus,
            &failed(
                &again,
                ErrorCode::Auth,
                "MplusKASSA answered 401: invalid API key",
            ),
        )
        .await;
    }
    let alert = one_open(&h, "auth_failed").await;
    eventually("3 occurrences", 20, || async {
        (h.alerts("open", "auth_failed").await[0]["occurrences"] == 3).then_some(())
    })
    .await;
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["integration_id"], integration.to_string());
    assert_eq!(alert["system"], "mpluskassa");
    assert_eq!(alert["record_key"], "a***@example.com");
    assert!(
        alert["title"]
            .as_str()
            .unwrap()
            .contains("mpluskassa refused"),
        "{alert}"
    );
    assert!(
        alert["detail"]
            .as_str()
            .unwrap()
            .contains("invalid API key"),
        "{alert}"
    );
    assert!(
        alert["action"].as_str().unwrap().contains("API key"),
        "{alert}"
    );
    assert!(
        !alert.to_string().contains(email),
        "no plain e-mail in alerts: {alert}"
    );

    // A success from the same system clears it.
    publish(&world.bus, &upsert).await;
    publish(&world.bus, &customer_upserted(&upsert, email)).await;
    let done = resolved(&h, "auth_failed").await;
    assert!(
        done["resolution"]
            .as_str()
            .unwrap()
            .contains("customer.upserted")
    );

    let got = wait_notified(&receiver, "auth_failed", &["firing", "resolved"]).await;
    assert_eq!(got[0].1["title"], alert["title"]);
    // The signature is HMAC-SHA256 over "<timestamp>.<body>".
    for request in receiver.received() {
        let timestamp: i64 = request
            .header("x-ferry-timestamp")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            request.header("x-ferry-signature").unwrap(),
            ferry_notifier::channels::signature(SECRET, timestamp, &request.body)
        );
    }
    h.stop().await;
    receiver.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn auth_failure_fires_once_and_resolves_in_process() {
    auth_failure_fires_once_and_resolves(BusKind::InProcess, DbKind::Sqlite).await;
}

#[tokio::test]
async fn auth_failure_fires_once_and_resolves_on_rabbitmq() {
    auth_failure_fires_once_and_resolves(BusKind::Rabbit, DbKind::Postgres).await;
}

#[tokio::test]
async fn failed_saga_fires_once_and_resolves_when_the_order_is_created() {
    let (world, receiver, h) = scene(BusKind::InProcess, DbKind::Sqlite).await;
    let integration = integration();
    let find = order_find(integration, "ORD-77");
    // The target refuses the order twice (a replay in between): one alert.
    publish(
        &world.bus,
        &failed(
            &find,
            ErrorCode::RemoteRejected,
            "order ORD-77: unknown payment term",
        ),
    )
    .await;
    publish(
        &world.bus,
        &failed(
            &find,
            ErrorCode::RemoteRejected,
            "order ORD-77: unknown payment term",
        ),
    )
    .await;
    let alert = one_open(&h, "saga_failed").await;
    assert_eq!(alert["record_key"], "ORD-77");
    assert!(
        alert["title"]
            .as_str()
            .unwrap()
            .contains("Order saga failed"),
        "{alert}"
    );
    assert!(
        alert["detail"]
            .as_str()
            .unwrap()
            .contains("unknown payment term")
    );
    assert!(alert["action"].as_str().unwrap().contains("replay"));
    // A success of another saga does not clear it; the order created in this saga does.
    publish(
        &world.bus,
        &order_created(&order_find(integration, "ORD-78"), "ORD-78"),
    )
    .await;
    publish(&world.bus, &order_created(&find, "ORD-77")).await;
    resolves_and_is_notified(&h, &receiver, "saga_failed").await;
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn failed_sync_fires_once_and_resolves_on_the_records_success() {
    let (world, receiver, h) = scene(BusKind::InProcess, DbKind::Sqlite).await;
    let integration = integration();
    let upsert = product_upsert(integration, "ABC-1");
    publish(&world.bus, &upsert).await;
    publish(
        &world.bus,
        &failed(
            &upsert,
            ErrorCode::Mapping,
            "SKU ABC-1 is not numeric; MailChimp needs digits",
        ),
    )
    .await;
    publish(
        &world.bus,
        &failed(
            &upsert,
            ErrorCode::Mapping,
            "SKU ABC-1 is not numeric; MailChimp needs digits",
        ),
    )
    .await;
    let alert = one_open(&h, "sync_failed").await;
    assert_eq!(alert["record_key"], "ABC-1");
    assert!(
        alert["action"].as_str().unwrap().contains("mapping"),
        "{alert}"
    );
    // Another SKU's success leaves it open.
    publish(&world.bus, &product_upserted(integration, "1001")).await;
    eventually("the other SKU's row", 20, || async {
        (h.get("/activity?key=1001").await["total"] == 1).then_some(())
    })
    .await;
    assert_eq!(h.alerts("open", "sync_failed").await.len(), 1);
    publish(&world.bus, &product_upserted(integration, "ABC-1")).await;
    resolves_and_is_notified(&h, &receiver, "sync_failed").await;
    h.stop().await;
    world.cleanup().await;
}

async fn parked_messages_fire_and_resolve_on_replay_and_discard(bus: BusKind, db: DbKind) {
    let (world, receiver, h) = scene(bus, db).await;
    let integration = integration();

    // The mapper gives up: permanently on SKU 13, after retries on SKU 14, and is fine
    // with everything once replayed.
    let replayed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = replayed.clone();
    let mapper = move |delivery: Delivery| {
        let flag = flag.clone();
        async move {
            let body = String::from_utf8_lossy(&delivery.message.body).into_owned();
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                Outcome::Ack
            } else if body.contains("\"13\"") {
                Outcome::DeadLetter("product 13: no price in the source record".into())
            } else {
                Outcome::Retry("the database is busy".into())
            }
        }
    };
    let subscription =
        Subscription::new(queues::MAPPER, vec![Binding::events("*.product.observed")]).retry(
            RetryPolicy {
                max_attempts: 2,
                base_delay: Duration::from_millis(50),
                max_delay: Duration::from_millis(100),
            },
        );
    let consumer = world
        .bus
        .subscribe(subscription, Arc::new(mapper))
        .await
        .unwrap();

    let observed = |sku: &str| {
        ferry_proto::Envelope::new(
            integration,
            ferry_proto::messages::ProductObserved {
                source: ferry_proto::System::Mpluskassa,
                product: product(sku),
                raw: json!({"articleNumber": sku}),
            },
        )
    };
    let permanent = observed("13");
    let retried = observed("14");
    publish(&world.bus, &permanent).await;
    publish(&world.bus, &retried).await;

    let dead = one_open(&h, "dead_letter").await;
    let parked = one_open(&h, "parked").await;
    assert_eq!(dead["record_key"], "13");
    assert!(
        dead["detail"].as_str().unwrap().contains("no price"),
        "{dead}"
    );
    assert!(
        dead["action"].as_str().unwrap().contains("replay"),
        "{dead}"
    );
    assert!(
        parked["title"]
            .as_str()
            .unwrap()
            .contains("after 2 attempts"),
        "{parked}"
    );
    // The activity log shows them parked.
    let rows = eventually("parked rows", 20, || async {
        let page = h
            .get(&format!(
                "/activity?integration_id={integration}&status=parked"
            ))
            .await;
        (page["total"] == 2).then_some(page)
    })
    .await;
    assert!(rows["items"][0]["error"].is_string());

    // Replay one, discard the other; the next evaluation resolves both.
    replayed.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, _) = h
        .post(
            &format!("/dead-letters/mapper/{}/replay", permanent.message_id),
            json!({}),
        )
        .await;
    assert_eq!(status, 202);
    let (status, _) = h
        .call(
            reqwest::Method::DELETE,
            OPERATOR,
            &format!("/dead-letters/mapper/{}", retried.message_id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    h.notifier.evaluate_at(Utc::now()).await.unwrap();
    let done = resolved(&h, "dead_letter").await;
    assert_eq!(done["resolution"], "replayed by an operator");
    let done = resolved(&h, "parked").await;
    assert_eq!(done["resolution"], "discarded by an operator");
    wait_notified(&receiver, "dead_letter", &["firing", "resolved"]).await;
    wait_notified(&receiver, "parked", &["firing", "resolved"]).await;

    consumer.stop(Duration::from_secs(2)).await;
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn parked_messages_fire_and_resolve_in_process() {
    parked_messages_fire_and_resolve_on_replay_and_discard(BusKind::InProcess, DbKind::Sqlite)
        .await;
}

#[tokio::test]
async fn parked_messages_fire_and_resolve_on_rabbitmq() {
    parked_messages_fire_and_resolve_on_replay_and_discard(BusKind::Rabbit, DbKind::Postgres).await;
}

#[tokio::test]
async fn unreachable_api_fires_after_n_minutes_and_resolves_on_success() {
    let world = World::new(BusKind::InProcess, DbKind::Postgres).await;
    let receiver = Receiver::start(0).await;
    let mut config = with_webhook(&receiver);
    config.rules.unreachable_minutes = 10;
    let h = Harness::start(&world, config).await;
    let integration = integration();
    let now = Utc::now();
    let upsert = product_upsert(integration, "1001");
    // Failing for 4 minutes: not yet.
    publish(
        &world.bus,
        &at(
            failed(&upsert, ErrorCode::Unavailable, "MailChimp answered 503"),
            now - ChronoDuration::minutes(4),
        ),
    )
    .await;
    eventually("the failure row", 20, || async {
        (h.get(&format!("/activity?integration_id={integration}"))
            .await["total"]
            == 1)
            .then_some(())
    })
    .await;
    h.notifier.evaluate_at(now).await.unwrap();
    assert!(h.alerts("open", "api_unreachable").await.is_empty());
    // Twelve minutes later, still no success: one alert, however often evaluated.
    publish(
        &world.bus,
        &at(
            failed(&upsert, ErrorCode::Timeout, "MailChimp timed out"),
            now + ChronoDuration::minutes(7),
        ),
    )
    .await;
    eventually("2 rows", 20, || async {
        (h.get(&format!("/activity?integration_id={integration}"))
            .await["total"]
            == 2)
            .then_some(())
    })
    .await;
    for minutes in [8, 9, 10] {
        h.notifier
            .evaluate_at(now + ChronoDuration::minutes(minutes))
            .await
            .unwrap();
    }
    // The notification was queued at the evaluation's (future) time: send it at that time.
    h.notifier
        .deliver_due(now + ChronoDuration::minutes(10))
        .await
        .unwrap();
    let alert = one_open(&h, "api_unreachable").await;
    assert_eq!(alert["system"], "mailchimp");
    assert!(
        alert["title"]
            .as_str()
            .unwrap()
            .contains("mailchimp unreachable for 12 minutes"),
        "{alert}"
    );
    assert!(
        alert["detail"].as_str().unwrap().contains("2 call(s)"),
        "{alert}"
    );
    assert!(
        alert["action"].as_str().unwrap().contains("reachable"),
        "{alert}"
    );
    assert_eq!(
        h.alerts("open", "sync_failed").await.len(),
        0,
        "transient failures raise no record alert"
    );
    // A success from MailChimp clears it.
    publish(
        &world.bus,
        &at(
            product_upserted(integration, "1001"),
            now + ChronoDuration::minutes(11),
        ),
    )
    .await;
    resolved(&h, "api_unreachable").await;
    h.notifier
        .evaluate_at(now + ChronoDuration::minutes(12))
        .await
        .unwrap();
    assert!(h.alerts("open", "api_unreachable").await.is_empty());
    wait_notified(&receiver, "api_unreachable", &["firing", "resolved"]).await;
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn error_rate_fires_over_the_threshold_and_resolves_under_it() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let receiver = Receiver::start(0).await;
    let mut config = with_webhook(&receiver);
    config.rules.error_rate_threshold = 0.5;
    config.rules.error_rate_min_replies = 4;
    config.rules.error_rate_window_minutes = 15;
    let h = Harness::start(&world, config).await;
    let integration = integration();
    let upsert = product_upsert(integration, "1001");
    publish(&world.bus, &product_upserted(integration, "1")).await;
    for _ in 0..4 {
        publish(
            &world.bus,
            &failed(&upsert, ErrorCode::RateLimited, "429 from MailChimp"),
        )
        .await;
    }
    eventually("5 replies", 20, || async {
        (h.get(&format!("/activity?integration_id={integration}"))
            .await["total"]
            == 5)
            .then_some(())
    })
    .await;
    h.notifier.evaluate_at(Utc::now()).await.unwrap();
    h.notifier.evaluate_at(Utc::now()).await.unwrap();
    let alert = one_open(&h, "error_rate").await;
    assert!(
        alert["title"]
            .as_str()
            .unwrap()
            .starts_with("80% of replies failed"),
        "{alert}"
    );
    assert!(
        alert["detail"].as_str().unwrap().contains("4 of 5"),
        "{alert}"
    );
    for sku in 2..8 {
        publish(&world.bus, &product_upserted(integration, &sku.to_string())).await;
    }
    eventually("11 replies", 20, || async {
        (h.get(&format!("/activity?integration_id={integration}"))
            .await["total"]
            == 11)
            .then_some(())
    })
    .await;
    h.notifier.evaluate_at(Utc::now()).await.unwrap();
    resolves_and_is_notified(&h, &receiver, "error_rate").await;
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn no_sync_fires_after_n_hours_and_resolves_on_the_next_success() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let receiver = Receiver::start(0).await;
    let mut config = with_webhook(&receiver);
    config.rules.no_sync_hours = 24;
    let h = Harness::start(&world, config).await;
    let integration = integration();
    let now = Utc::now();
    publish(
        &world.bus,
        &at(
            product_upserted(integration, "1"),
            now - ChronoDuration::hours(20),
        ),
    )
    .await;
    eventually("the row", 20, || async {
        (h.get(&format!("/activity?integration_id={integration}"))
            .await["total"]
            == 1)
            .then_some(())
    })
    .await;
    h.notifier.evaluate_at(now).await.unwrap();
    assert!(h.alerts("open", "no_sync").await.is_empty());
    h.notifier
        .evaluate_at(now + ChronoDuration::hours(5))
        .await
        .unwrap();
    h.notifier
        .evaluate_at(now + ChronoDuration::hours(6))
        .await
        .unwrap();
    h.notifier
        .deliver_due(now + ChronoDuration::hours(6))
        .await
        .unwrap();
    let alert = one_open(&h, "no_sync").await;
    assert!(
        alert["title"]
            .as_str()
            .unwrap()
            .contains("No successful sync for 25 hours"),
        "{alert}"
    );
    assert!(
        alert["action"].as_str().unwrap().contains("connectors"),
        "{alert}"
    );
    publish(&world.bus, &product_upserted(integration, "2")).await;
    resolves_and_is_notified(&h, &receiver, "no_sync").await;
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn an_alert_can_be_resolved_by_hand_and_reopens_as_a_new_alert() {
    let (world, receiver, h) = scene(BusKind::InProcess, DbKind::Sqlite).await;
    let integration = integration();
    let upsert = product_upsert(integration, "1001");
    publish(&world.bus, &failed(&upsert, ErrorCode::Auth, "401")).await;
    let alert = one_open(&h, "auth_failed").await;
    let id = alert["id"].as_str().unwrap();
    let (status, _) = h
        .call(
            reqwest::Method::POST,
            READER,
            &format!("/alerts/{id}/resolve"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = h.post(&format!("/alerts/{id}/resolve"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resolution"], "resolved by oncall");
    let (status, _) = h.post(&format!("/alerts/{id}/resolve"), json!({})).await;
    assert_eq!(status, 409);
    publish(&world.bus, &failed(&upsert, ErrorCode::Auth, "401")).await;
    let again = one_open(&h, "auth_failed").await;
    assert_ne!(again["id"], alert["id"]);
    let detail = h.get(&format!("/alerts/{id}")).await;
    assert_eq!(detail["state"], "resolved");
    wait_notified(&receiver, "auth_failed", &["firing", "resolved", "firing"]).await;
    let detail = h.get(&format!("/alerts/{id}")).await;
    assert_eq!(
        detail["deliveries"].as_array().unwrap().len(),
        2,
        "{detail}"
    );
    h.stop().await;
    world.cleanup().await;
}

/// Issue 19, finding 1 (the notifier's part): an erase redacts the alerts about the person and
/// the parked messages mentioning them (kept as evidence, not discarded), tells the alert
/// channels that were sent those alerts that their details were erased, and is audited (who,
/// when, how many; never the address). Parked messages are deleted after their retention.
#[tokio::test]
async fn erase_redacts_alerts_and_parked_messages_and_is_audited_and_parked_ones_expire() {
    use ferry_notifier::store::erasure_row;
    use sea_orm::EntityTrait;
    let (world, receiver, h) = scene(BusKind::InProcess, DbKind::Sqlite).await;
    let integration = integration();
    let email = "piet@example.com";
    let masked = ferry_proto::Email::parse(email).unwrap().masked();
    let mapper = move |delivery: Delivery| async move {
        let body = String::from_utf8_lossy(&delivery.message.body).into_owned();
        let reason = if body.contains("piet@") {
            "customer piet@example.com has no name".to_owned()
        } else {
            "no name".to_owned()
        };
        Outcome::DeadLetter(reason)
    };
    let subscription =
        Subscription::new(queues::MAPPER, vec![Binding::events("*.customer.observed")]);
    let consumer = world
        .bus
        .subscribe(subscription, Arc::new(mapper))
        .await
        .unwrap();
    let observed = customer_observed(integration, email);
    publish(&world.bus, &observed).await;
    let dead = one_open(&h, "dead_letter").await;
    assert!(dead.to_string().contains(&masked), "{dead}");
    let letters = eventually("the parked message", 20, || async {
        let all = h.get("/dead-letters").await;
        (all.to_string().contains(&observed.message_id.to_string())).then_some(all)
    })
    .await;
    assert!(!letters.to_string().is_empty());

    // The alert went out to the channel, naming the person.
    let before = wait_notified(&receiver, "dead_letter", &["firing"]).await;
    assert!(
        before[0].1.to_string().contains(&masked),
        "{:?}",
        before[0].1
    );

    let (status, report) = h.post("/gdpr/erase", json!({"email": email})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["parked_messages_redacted"], 1, "{report}");
    assert_eq!(report["alerts_redacted"], 1, "{report}");

    // The channel that was told gets a follow-up notice: the details were erased; the
    // notice names the alert, not the person.
    let after = wait_notified(&receiver, "dead_letter", &["firing", "erased"]).await;
    let notice = after[1].1.to_string();
    assert!(
        !notice.contains(email) && !notice.contains(&masked),
        "{notice}"
    );
    assert_eq!(after[1].1["id"], before[0].1["id"], "the same alert");

    let alerts = h.get("/alerts").await.to_string();
    assert!(
        !alerts.contains(email) && !alerts.contains(&masked),
        "{alerts}"
    );
    let letters = h.get("/dead-letters").await.to_string();
    assert!(
        letters.contains(&observed.message_id.to_string()),
        "the parked message is kept as evidence: {letters}"
    );
    let lot = ferry_platform::bus::parking::ParkingLot::new(world.db.clone(), world.bus.clone());
    let kept = lot
        .get(queues::MAPPER, observed.message_id.as_uuid())
        .await
        .unwrap()
        .expect("kept");
    assert!(!kept.body.contains("piet@"), "{}", kept.body);
    assert!(
        !kept.summary.reason.contains("piet@"),
        "{}",
        kept.summary.reason
    );
    assert!(
        kept.body.contains(&integration.to_string()),
        "{}",
        kept.body
    );

    let audit = erasure_row::Entity::find().all(&world.db).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].parked_messages, 1);
    assert_eq!(audit[0].alerts, 1);
    assert!(!audit[0].requested_by.is_empty());
    assert!(!format!("{:?}", audit[0]).contains("piet"));

    // Parked messages have a retention (activity.parked_retention_days, default 90).
    assert_eq!(h.notifier.purge_parked_at(Utc::now()).await.unwrap(), 0);
    let later = Utc::now() + ChronoDuration::days(91);
    assert_eq!(h.notifier.purge_parked_at(later).await.unwrap(), 1);
    assert!(
        lot.get(queues::MAPPER, observed.message_id.as_uuid())
            .await
            .unwrap()
            .is_none()
    );
    consumer.stop(Duration::from_secs(2)).await;
    h.stop().await;
    receiver.stop().await;
    world.cleanup().await;
}

/// A batch's successes resolve their alerts with one lookup, and a failure in the batch
/// settles the successes before it first: the outcome is that of the messages one by one.
#[tokio::test]
async fn a_batch_resolves_like_its_messages_one_by_one() {
    use ferry_notifier::alerts::AlertBook;
    use ferry_notifier::classify::{Observation, classify};
    use ferry_notifier::rules::on_messages;

    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let book = AlertBook::new(&[], 60, None);
    let integration = integration();
    let email = "anna@example.com";
    let observed = customer_observed(integration, email);
    let upsert = customer_upsert(&observed, email);
    let observe = |body: ferry_platform::bus::BusMessage| -> Observation {
        classify(&body.routing_key, false, &body.body).unwrap()
    };
    let auth = || {
        observe(
            ferry_platform::bus::BusMessage::from_envelope(&failed(
                &upsert,
                ErrorCode::Auth,
                "MplusKASSA answered 401: invalid API key",
            ))
            .unwrap(),
        )
    };
    let ok = || {
        observe(
            ferry_platform::bus::BusMessage::from_envelope(&customer_upserted(&upsert, email))
                .unwrap(),
        )
    };
    let count = |state: &'static str| {
        let db = world.db.clone();
        async move {
            use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
            ferry_notifier::store::alert_row::Entity::find()
                .filter(ferry_notifier::store::alert_row::Column::State.eq(state))
                .count(&db)
                .await
                .unwrap()
        }
    };
    let now = Utc::now();
    // A success, then a failure: the failure's alert stays open.
    on_messages(&book, &world.db, &[&ok(), &auth()], now)
        .await
        .unwrap();
    assert_eq!((count("open").await, count("resolved").await), (1, 0));
    // A failure (a second occurrence), then successes: resolved by the first of them.
    on_messages(&book, &world.db, &[&auth(), &ok(), &ok()], now)
        .await
        .unwrap();
    assert_eq!((count("open").await, count("resolved").await), (0, 1));
    // Success, failure, success: opened again, then resolved again.
    on_messages(&book, &world.db, &[&ok(), &auth(), &ok()], now)
        .await
        .unwrap();
    assert_eq!((count("open").await, count("resolved").await), (0, 2));
    // Success, failure: the new alert stays open.
    on_messages(&book, &world.db, &[&ok(), &auth()], now)
        .await
        .unwrap();
    assert_eq!((count("open").await, count("resolved").await), (1, 2));
}
