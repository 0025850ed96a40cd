//! List webhooks delivered to a local listener: form-encoded subscribe, profile, upemail and
//! unsubscribe POSTs, with retries when the receiver fails.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;
use support::{LIST, start};
use tokio::sync::mpsc;

type Form = HashMap<String, String>;

struct Receiver {
    tx: mpsc::UnboundedSender<(String, Form)>,
    /// Requests to answer with 500 before accepting.
    fail_first: AtomicUsize,
}

async fn receive(
    r: web::Data<Receiver>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let form: Form = form.into_iter().collect();
    let fail = r
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail {
        return HttpResponse::InternalServerError().finish();
    }
    let _ = r.tx.send((ct, form));
    HttpResponse::Ok().finish()
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(String, Form)>) -> Form {
    let (ct, form) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a webhook within 10 s")
        .expect("channel open");
    assert_eq!(ct, "application/x-www-form-urlencoded");
    form
}

#[tokio::test(flavor = "multi_thread")]
async fn member_changes_are_delivered() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let receiver = web::Data::new(Receiver {
        tx,
        fail_first: AtomicUsize::new(1),
    });
    let r2 = receiver.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(r2.clone())
            .route("/hook", web::post().to(receive))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("bind");
    let addr = server.addrs()[0];
    let server = server.run();
    let server_handle = server.handle();
    tokio::spawn(server);
    let _keep = Arc::clone(&receiver.into_inner());

    let sb = start().await;
    let s = support::spec();
    let hook = json!({"url": format!("http://{addr}/hook"), "events": {"subscribe": true, "unsubscribe": true, "profile": true, "upemail": true, "cleaned": true, "campaign": false}, "sources": {"user": true, "admin": true, "api": true}});
    s.assert_valid("Add_Webhook", &hook);
    let r = sb
        .req(
            "POST",
            &format!("/lists/{LIST}/webhooks"),
            Some(hook.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["id"].is_string());
    assert_eq!(r.json["events"]["campaign"], false);
    let listed = sb.get(&format!("/lists/{LIST}/webhooks")).await;
    assert_eq!(listed.json["total_items"], 1);
    let bad = sb
        .req(
            "POST",
            &format!("/lists/{LIST}/webhooks"),
            Some(json!({"url": "not a url"})),
        )
        .await;
    support::assert_problem(&bad, 400, "Invalid Resource");

    // subscribe (the receiver fails the first attempt: delivered on a retry).
    let put = json!({"email_address": "hook@example.nl", "status_if_new": "subscribed", "merge_fields": {"FNAME": "Hook", "COMPANY": "Haak B.V."}});
    let r = sb
        .req(
            "PUT",
            &format!("/lists/{LIST}/members/hook@example.nl"),
            Some(put),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.json["id"].as_str().expect("id").to_owned();
    let f = next(&mut rx).await;
    assert_eq!(f["type"], "subscribe");
    assert_eq!(f["data[email]"], "hook@example.nl");
    assert_eq!(f["data[id]"], id);
    assert_eq!(f["data[list_id]"], LIST);
    assert_eq!(f["data[merges][FNAME]"], "Hook");
    assert_eq!(f["data[merges][COMPANY]"], "Haak B.V.");
    assert!(chrono::NaiveDateTime::parse_from_str(&f["fired_at"], "%Y-%m-%d %H:%M:%S").is_ok());

    // profile
    sb.req(
        "PATCH",
        &format!("/lists/{LIST}/members/{id}"),
        Some(json!({"merge_fields": {"LNAME": "Haak"}})),
    )
    .await;
    let f = next(&mut rx).await;
    assert_eq!(f["type"], "profile");
    assert_eq!(f["data[merges][LNAME]"], "Haak");

    // upemail
    let r = sb
        .req(
            "PATCH",
            &format!("/lists/{LIST}/members/{id}"),
            Some(json!({"email_address": "nieuw.hook@example.nl"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_id = r.json["id"].as_str().expect("id").to_owned();
    let f = next(&mut rx).await;
    assert_eq!(f["type"], "upemail");
    assert_eq!(f["data[old_email]"], "hook@example.nl");
    assert_eq!(f["data[new_email]"], "nieuw.hook@example.nl");
    assert_eq!(f["data[new_id]"], new_id);

    // unsubscribe
    sb.req(
        "PATCH",
        &format!("/lists/{LIST}/members/{new_id}"),
        Some(json!({"status": "unsubscribed"})),
    )
    .await;
    let f = next(&mut rx).await;
    assert_eq!(f["type"], "unsubscribe");
    assert_eq!(f["data[action]"], "unsub");
    assert_eq!(f["data[email]"], "nieuw.hook@example.nl");

    // The delivery log shows the retry.
    let dump = sb.control("GET", "/state", None).await;
    let deliveries = dump.json["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries[0]["attempts"], 2);
    assert_eq!(deliveries[0]["delivered"], true);

    // Disabled source: no delivery for API changes once `api` is off.
    let wid = listed.json["webhooks"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = sb
        .req(
            "PATCH",
            &format!("/lists/{LIST}/webhooks/{wid}"),
            Some(json!({"sources": {"api": false}})),
        )
        .await;
    assert_eq!(r.json["sources"]["api"], false);
    sb.req(
        "PATCH",
        &format!("/lists/{LIST}/members/{new_id}"),
        Some(json!({"merge_fields": {"FNAME": "Quiet"}})),
    )
    .await;
    assert_eq!(
        sb.req("DELETE", &format!("/lists/{LIST}/webhooks/{wid}"), None)
            .await
            .status,
        204
    );
    sb.req(
        "PATCH",
        &format!("/lists/{LIST}/members/{new_id}"),
        Some(json!({"status": "subscribed"})),
    )
    .await;
    assert!(rx.try_recv().is_err(), "no delivery expected");

    sb.handle.stop().await;
    server_handle.stop(false).await;
}
