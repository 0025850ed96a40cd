//! Alert delivery: webhook and SMTP retried with backoff until accepted, Slack and PagerDuty
//! payloads, given up after the last attempt, and queued deliveries surviving a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ferry_notifier::config::{ChannelConfig, ChannelKind, SmtpTls};
use ferry_platform::config::Secret;
use ferry_proto::messages::ErrorCode;
use serde_json::Value;
use support::*;

fn webhook(name: &str, url: String) -> ChannelConfig {
    ChannelConfig {
        name: name.into(),
        integrations: vec![],
        kind: ChannelKind::Webhook {
            url,
            secret: Secret::new("webhook-secret-0123456789"),
        },
    }
}

/// Raises an auth alert for a fresh integration and returns it.
async fn raise(world: &World, h: &Harness) -> Value {
    let integration = integration();
    let upsert = product_upsert(integration, "1001");
    publish(
        &world.bus,
        &failed(&upsert, ErrorCode::Auth, "MailChimp answered 401"),
    )
    .await;
    eventually("the alert", 20, || async {
        h.alerts("open", "auth_failed")
            .await
            .into_iter()
            .find(|a| a["integration_id"] == integration.to_string())
    })
    .await
}

async fn deliveries(h: &Harness, alert: &Value) -> Vec<Value> {
    h.get(&format!("/alerts/{}", alert["id"].as_str().unwrap()))
        .await["deliveries"]
        .as_array()
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn webhook_delivery_is_retried_until_accepted() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let receiver = Receiver::start(2).await;
    let mut config = config();
    config.channels.push(webhook("ops", receiver.url("/hook")));
    let h = Harness::start(&world, config).await;
    let alert = raise(&world, &h).await;
    eventually("the webhook accepted it", 20, || async {
        (receiver.received().len() == 1).then_some(())
    })
    .await;
    assert_eq!(receiver.attempts(), 3, "two 500s, then accepted");
    let sent = eventually("the delivery marked sent", 20, || async {
        let d = deliveries(&h, &alert).await;
        (d.len() == 1 && d[0]["state"] == "sent").then(|| d[0].clone())
    })
    .await;
    assert_eq!(sent["attempts"], 3);
    assert_eq!(sent["event"], "firing");
    assert!(sent["last_error"].is_null());
    let body = receiver.received()[0].json();
    assert_eq!(body["event"], "firing");
    assert_eq!(body["alert"]["id"], alert["id"]);
    h.stop().await;
    receiver.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn delivery_is_given_up_after_the_last_attempt() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let receiver = Receiver::start(u32::MAX).await;
    let mut config = config();
    config.delivery.max_attempts = 2;
    config.channels.push(webhook("ops", receiver.url("/hook")));
    let h = Harness::start(&world, config).await;
    let alert = raise(&world, &h).await;
    let given_up = eventually("the delivery given up", 20, || async {
        let d = deliveries(&h, &alert).await;
        (d[0]["state"] == "failed").then(|| d[0].clone())
    })
    .await;
    assert_eq!(given_up["attempts"], 2);
    assert_eq!(given_up["last_error"], "ops: HTTP 500");
    assert_eq!(receiver.attempts(), 2);
    h.stop().await;
    receiver.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn smtp_delivery_is_retried_until_the_server_accepts() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let catcher = SmtpCatcher::start(1).await;
    let mut config = config();
    config.channels.push(ChannelConfig {
        name: "mail".into(),
        integrations: vec![],
        kind: ChannelKind::Email {
            smtp_host: "127.0.0.1".into(),
            smtp_port: catcher.port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "Ferry <ferry@example.com>".into(),
            to: vec!["oncall@example.com".into(), "ops@example.com".into()],
        },
    });
    let h = Harness::start(&world, config).await;
    let alert = raise(&world, &h).await;
    let mail = eventually("a mail", 20, || async { catcher.mails().first().cloned() }).await;
    assert!(catcher.sessions() >= 2, "the first session was refused");
    assert_eq!(mail.from, "<ferry@example.com>");
    assert_eq!(mail.to, vec!["<oncall@example.com>", "<ops@example.com>"]);
    let title = alert["title"].as_str().unwrap();
    assert!(
        mail.data.contains("Subject: [Ferry CRITICAL]"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("What to do:"), "{}", mail.data);
    // Two layers: the plain sentence for the shop first, the technical detail below it.
    // (the body is quoted-printable: soft line breaks joined)
    let body = mail.data.replace("=\r\n", "").replace("=\n", "");
    let plain = body
        .find("no longer accepts Ferry's API key")
        .expect("the plain sentence");
    let technical = mail
        .data
        .find("Technical detail:")
        .expect("the technical layer");
    assert!(plain < technical, "{}", mail.data);
    assert!(
        alert["summary"].as_str().unwrap().contains("Renew the"),
        "{alert}"
    );
    assert!(
        mail.data.contains("refused Ferry"),
        "{title}\n{}",
        mail.data
    );
    let sent = eventually("the delivery marked sent", 20, || async {
        let d = deliveries(&h, &alert).await;
        (d[0]["state"] == "sent").then(|| d[0].clone())
    })
    .await;
    assert_eq!(sent["attempts"], 2);
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn slack_and_pagerduty_get_their_formats_for_firing_and_resolve() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let receiver = Receiver::start(0).await;
    let mut config = config();
    config.channels.push(ChannelConfig {
        name: "slack".into(),
        integrations: vec![],
        kind: ChannelKind::Slack {
            url: Secret::new(receiver.url("/slack")),
        },
    });
    config.channels.push(ChannelConfig {
        name: "pager".into(),
        integrations: vec![],
        kind: ChannelKind::Pagerduty {
            url: receiver.url("/pagerduty"),
            routing_key: Secret::new("R0UT1NGKEY"),
        },
    });
    let h = Harness::start(&world, config).await;
    let alert = raise(&world, &h).await;
    let (status, _) = h
        .post(
            &format!("/alerts/{}/resolve", alert["id"].as_str().unwrap()),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let got = eventually("4 notifications", 20, || async {
        let got = receiver.received();
        (got.len() == 4).then_some(got)
    })
    .await;
    let of = |path: &str| -> Vec<Value> {
        got.iter()
            .filter(|r| r.path == path)
            .map(Received::json)
            .collect()
    };
    let slack = of("/slack");
    assert_eq!(slack.len(), 2);
    let texts: Vec<&str> = slack.iter().map(|s| s["text"].as_str().unwrap()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("[Ferry CRITICAL]") && t.contains("What to do:")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("[Ferry RESOLVED]") && t.contains("resolved by oncall")),
        "{texts:?}"
    );
    let pager = of("/pagerduty");
    assert_eq!(pager.len(), 2);
    let trigger = pager
        .iter()
        .find(|p| p["event_action"] == "trigger")
        .unwrap();
    let resolve = pager
        .iter()
        .find(|p| p["event_action"] == "resolve")
        .unwrap();
    assert_eq!(trigger["routing_key"], "R0UT1NGKEY");
    assert_eq!(trigger["dedup_key"], resolve["dedup_key"]);
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["summary"], alert["title"]);
    assert!(trigger["payload"]["custom_details"]["action"].is_string());
    h.stop().await;
    receiver.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn queued_deliveries_survive_a_restart() {
    let mut world = World::new(BusKind::InProcess, DbKind::Postgres).await;
    let down = Receiver::start(u32::MAX).await;
    let mut first = config();
    first.delivery.retry_base_ms = 60_000;
    first.delivery.retry_max_ms = 60_000;
    first.channels.push(webhook("ops", down.url("/hook")));
    let h = Harness::start(&world, first).await;
    let alert = raise(&world, &h).await;
    eventually("a failed first attempt", 20, || async {
        let d = deliveries(&h, &alert).await;
        (d[0]["attempts"] == 1 && d[0]["state"] == "pending").then_some(())
    })
    .await;
    h.stop().await;
    down.stop().await;

    // The next process (same database) sends it once it is due.
    world.reopen().await;
    let up = Receiver::start(0).await;
    let mut second = config();
    second.channels.push(webhook("ops", up.url("/hook")));
    let h = Harness::start(&world, second).await;
    h.notifier
        .deliver_due(chrono::Utc::now() + chrono::Duration::minutes(2))
        .await
        .unwrap();
    let body = eventually("the webhook after the restart", 20, || async {
        up.received().first().map(Received::json)
    })
    .await;
    assert_eq!(body["alert"]["id"], alert["id"]);
    let d = deliveries(&h, &alert).await;
    assert_eq!(d[0]["state"], "sent");
    assert_eq!(d[0]["attempts"], 2);
    h.stop().await;
    up.stop().await;
    world.cleanup().await;
}

/// Issue 19, finding 3: an alert channel's secrets never travel over plain http outside the
/// sandbox mode: a webhook to an allowed address over http is refused, and says why.
#[tokio::test]
async fn a_webhook_over_plain_http_is_refused_outside_the_sandbox_mode() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let receiver = Receiver::start(0).await;
    let mut config = config();
    config.egress.sandbox = false;
    config.delivery.max_attempts = 1;
    config.channels.push(webhook("ops", receiver.url("/hook")));
    let h = Harness::start(&world, config).await;
    let alert = raise(&world, &h).await;
    let given_up = eventually("the delivery given up", 20, || async {
        let d = deliveries(&h, &alert).await;
        (d.len() == 1 && d[0]["state"] == "failed").then(|| d[0].clone())
    })
    .await;
    let error = given_up["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("http"), "{given_up}");
    assert_eq!(
        receiver.attempts(),
        0,
        "the secret travelled over plain http"
    );
    h.stop().await;
    receiver.stop().await;
    world.cleanup().await;
}

/// Issue 19, finding 3: alert channels go through the egress guard: a webhook on loopback (as
/// an in-cluster or metadata address would be) is refused unless `egress.allow` names it, and
/// the refusal says why.
#[tokio::test]
async fn a_webhook_to_an_internal_address_is_refused_unless_allowed() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let receiver = Receiver::start(0).await;
    let mut config = config();
    config.egress.allow.clear();
    config.delivery.max_attempts = 1;
    config.channels.push(webhook("ops", receiver.url("/hook")));
    let h = Harness::start(&world, config).await;
    let alert = raise(&world, &h).await;
    let given_up = eventually("the delivery given up", 20, || async {
        let d = deliveries(&h, &alert).await;
        (d.len() == 1 && d[0]["state"] == "failed").then(|| d[0].clone())
    })
    .await;
    assert!(
        given_up["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("internal address"),
        "{given_up}"
    );
    assert_eq!(receiver.attempts(), 0, "the internal address was reached");
    h.stop().await;
    receiver.stop().await;
    world.cleanup().await;
}
