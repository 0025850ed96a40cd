//! A notifier that survives a drain (issue 20): two notifier processes on one PostgreSQL
//! schema, as the two replicas of the Kubernetes Deployment, with a real HTTP webhook
//! receiver as the alert channel.
//!
//! The seed shop's products with non-numeric SKUs are parked, which opens alerts, each
//! notified to eight webhook channels. The receiver refuses the first attempt of every
//! notification (503), so each is retried while both notifiers poll for due deliveries every
//! 50 ms: both race for the same rows. Every
//! notification must reach the receiver exactly once (a delivery is claimed in the database
//! before it is sent). Both serve the dashboard and the same parking lot. Then one notifier
//! is drained (SIGTERM, as a node drain does) and an alert resolved through the other: its
//! resolve notification is delivered once, by the survivor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context, anyhow, bail};
use ferry_e2e::{Cluster, ClusterOptions, Integration, ServiceKind, eventually};
use serde_json::Value;

/// Alert channels, all webhooks to the receiver (`/hook/<n>`): each alert is one notification
/// per channel, so the two notifiers have many rows to race for.
const CHANNELS: usize = 8;

/// Per notification (`channel`, `alert id`, `event`): attempts seen and attempts accepted.
type Tally = Arc<Mutex<BTreeMap<(String, String, String), (u32, u32)>>>;

/// A webhook receiver that answers 503 to the first attempt of each notification and 202 to
/// the next ones, counting both.
async fn receiver() -> anyhow::Result<(String, Tally, actix_web::dev::ServerHandle)> {
    let tally: Tally = Arc::default();
    let state = tally.clone();
    let server = HttpServer::new(move || {
        let tally = state.clone();
        App::new().route(
            "/hook/{channel}",
            web::post().to(move |channel: web::Path<String>, body: web::Json<Value>| {
                let tally = tally.clone();
                async move {
                    let key = (
                        format!("oncall-{}", channel.into_inner()),
                        body["alert"]["id"].as_str().unwrap_or_default().to_owned(),
                        body["event"].as_str().unwrap_or_default().to_owned(),
                    );
                    let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
                    let entry = tally.entry(key).or_default();
                    entry.0 += 1;
                    if entry.0 == 1 {
                        return HttpResponse::ServiceUnavailable().body("first attempt refused");
                    }
                    entry.1 += 1;
                    HttpResponse::Accepted().finish()
                }
            }),
        )
    })
    .workers(2)
    .disable_signals()
    .bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((url, tally, handle))
}

async fn get(cluster: &Cluster, base: &str, path: &str) -> anyhow::Result<Value> {
    let response = cluster
        .http
        .get(format!("{base}{path}"))
        .bearer_auth(&cluster.read_token)
        .send()
        .await?
        .error_for_status()?;
    Ok(response.json().await?)
}

/// One notification: `channel`, `alert id`, `event`, `state`.
type Notification = (String, String, String, String);

/// Every notification of every alert.
async fn notifications(cluster: &Cluster, base: &str) -> anyhow::Result<Vec<Notification>> {
    let alerts = get(cluster, base, "/api/v1/alerts?state=all&limit=500").await?;
    let mut all = Vec::new();
    for alert in alerts.as_array().context("alerts")? {
        let id = alert["id"].as_str().context("alert id")?;
        let detail = get(cluster, base, &format!("/api/v1/alerts/{id}")).await?;
        for delivery in detail["deliveries"].as_array().context("deliveries")? {
            all.push((
                delivery["channel"].as_str().unwrap_or_default().to_owned(),
                id.to_owned(),
                delivery["event"].as_str().unwrap_or_default().to_owned(),
                delivery["state"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    Ok(all)
}

/// Waits until every notification is sent, then checks each reached the receiver once.
async fn all_sent_once(
    cluster: &Cluster,
    base: &str,
    tally: &Tally,
) -> anyhow::Result<Vec<Notification>> {
    let sent = eventually(
        "every alert notification sent",
        Duration::from_secs(60),
        || async {
            let all = notifications(cluster, base).await?;
            if all.is_empty() || all.iter().any(|(_, _, _, state)| state != "sent") {
                bail!("not all sent yet: {all:?}");
            }
            Ok(all)
        },
    )
    .await?;
    let tally = tally.lock().map_err(|_| anyhow!("poisoned"))?.clone();
    for (channel, alert, event, _) in &sent {
        let (attempts, accepted) = tally
            .get(&(channel.clone(), alert.clone(), event.clone()))
            .copied()
            .unwrap_or_default();
        assert_eq!(
            accepted, 1,
            "{channel}: alert {alert} {event}: accepted {accepted} times ({attempts} attempts)"
        );
    }
    let accepted: u32 = tally.values().map(|(_, accepted)| accepted).sum();
    assert_eq!(
        accepted as usize,
        sent.len(),
        "the receiver accepted notifications the notifiers do not know: {tally:?}"
    );
    Ok(sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_notifiers_deliver_each_alert_once_and_one_survives_a_drain() -> anyhow::Result<()> {
    let (hook, tally, server) = receiver().await?;
    let mut options = ClusterOptions::new("notifier_pair");
    options.instances_of.insert(ServiceKind::Notifier, 2);
    let mut toml = String::new();
    for n in 0..CHANNELS {
        toml.push_str(&format!(
            "[[channels]]\nname = \"oncall-{n}\"\nkind = \"webhook\"\nurl = \"{hook}/{n}\"\n\
             secret = \"e2e-webhook-secret-0123456789\"\n"
        ));
    }
    toml.push_str(
        "[delivery]\npoll_ms = 50\nretry_base_ms = 100\nretry_max_ms = 200\nmax_attempts = 10\n\
         [egress]\nallow = [\"127.0.0.1/32\"]\nsandbox = true",
    );
    options.extra_toml.insert(ServiceKind::Notifier, toml);
    let seed = options.seed.clone();
    let mut cluster = Cluster::start(options, Integration::for_seed(&seed)).await?;
    let notifiers = cluster.admin_urls(ServiceKind::Notifier);
    assert_eq!(notifiers.len(), 2);

    // The seed's non-numeric SKUs are parked and alerted.
    eventually("alerts opened", Duration::from_secs(60), || async {
        let open = get(&cluster, &notifiers[0], "/api/v1/alerts").await?;
        if open.as_array().is_none_or(|a| a.is_empty()) {
            bail!("no alert yet");
        }
        Ok(())
    })
    .await?;
    let sent = all_sent_once(&cluster, &notifiers[0], &tally).await?;

    // Both serve the dashboard, the alerts and the same parking lot.
    let mut parked = Vec::new();
    let mut alerts = Vec::new();
    for base in &notifiers {
        let page = cluster
            .http
            .get(format!("{base}/dashboard/"))
            .send()
            .await?;
        assert!(
            page.status().is_success(),
            "{base}/dashboard/: {}",
            page.status()
        );
        let lot = get(&cluster, base, "/api/v1/dead-letters?limit=500").await?;
        parked.push(lot.as_array().map(Vec::len).unwrap_or_default());
        let list = get(&cluster, base, "/api/v1/alerts?state=all&limit=500").await?;
        alerts.push(list.as_array().map(Vec::len).unwrap_or_default());
    }
    assert!(parked[0] > 0, "the seed's products are parked");
    assert_eq!(parked[0], parked[1], "one parking lot");
    assert_eq!(alerts[0], alerts[1], "one alert list");
    let sends = cluster.log_counts(ServiceKind::Notifier, "alert notification sent");
    let retries = cluster.log_counts(
        ServiceKind::Notifier,
        "alert notification failed; will retry",
    );
    println!(
        "notifications {} (each accepted once); sent per notifier {sends:?}, refused attempts \
         per notifier {retries:?}",
        sent.len()
    );

    // A drain: the first notifier gets SIGTERM and stops; the second carries on alone.
    cluster
        .services
        .iter_mut()
        .find(|s| s.kind == ServiceKind::Notifier && s.instance == 0)
        .context("the first notifier")?
        .process()
        .terminate(Duration::from_secs(30));
    let open = get(&cluster, &notifiers[1], "/api/v1/alerts").await?;
    let id = open
        .as_array()
        .and_then(|a| a.first())
        .and_then(|a| a["id"].as_str())
        .context("an open alert")?
        .to_owned();
    let resolved = cluster
        .http
        .post(format!("{}/api/v1/alerts/{id}/resolve", notifiers[1]))
        .bearer_auth(&cluster.operator_token)
        .send()
        .await?;
    assert!(
        resolved.status().is_success(),
        "resolve: {}",
        resolved.status()
    );
    let after = all_sent_once(&cluster, &notifiers[1], &tally).await?;
    assert!(
        after
            .iter()
            .filter(|(_, alert, event, _)| *alert == id && event == "resolved")
            .count()
            == CHANNELS,
        "the resolve notification of {id} to every channel: {after:?}"
    );
    let crashed = cluster.crashed();
    assert!(crashed.is_empty(), "{crashed:?}");
    server.stop(true).await;
    Ok(())
}
