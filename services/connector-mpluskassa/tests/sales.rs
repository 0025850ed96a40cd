//! Sales (invoices) as `order.observed` against the sandbox: a till sale with a customer is
//! observed once as an invoice with its lines and customer; an order that became an invoice
//! keeps the order's number (one sale downstream); a sale without a customer is skipped, or
//! booked on `orders.walk_in_relation`; `orders.source_types` chooses what is read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ferry_connector_mpluskassa::config::{SalesSettings, SourceTypes};
use ferry_connector_mpluskassa::store::{self, SyncEntity};
use serde_json::{Value, json};
use support::{Harness, Options, deliver, orders, relations, soap};

const WAIT: Duration = Duration::from_secs(30);

/// A relation with an e-mail address: `(number, email)`.
fn customer(dump: &Value) -> (i64, String) {
    relations(dump)
        .into_iter()
        .find(|r| r["email"].as_str().is_some_and(|e| !e.is_empty()))
        .map(|r| {
            (
                r["relation_number"].as_i64().unwrap(),
                r["email"].as_str().unwrap().to_owned(),
            )
        })
        .expect("a relation with an e-mail address")
}

/// A stock article with a numeric PLU number: `(article number, PLU)`.
fn article(dump: &Value) -> (i64, String) {
    dump["products"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p["articles"].as_array().unwrap().clone())
        .find(|a| {
            a["stock_article"] == true
                && a["plu_number"]
                    .as_str()
                    .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|a| {
            (
                a["article_number"].as_i64().unwrap(),
                a["plu_number"].as_str().unwrap().to_owned(),
            )
        })
        .expect("a stock article")
}

async fn sell(h: &Harness, sale: Value) -> String {
    let r = reqwest::Client::new()
        .post(format!(
            "{}_sandbox/mpluskassa/sales",
            h.sandbox.mpluskassa_url
        ))
        .json(&sale)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["invoice_id"].as_str().unwrap().to_owned()
}

/// An order entered in MplusKASSA (not by Ferry); answers its orderId.
async fn enter_order(h: &Harness, ext: &str, relation: i64, article: i64) -> String {
    let text = soap(
        h,
        "createOrderV3",
        &format!(
            "<m:request><m:idempotencyKey>{ext}</m:idempotencyKey><m:order><m:orderId></m:orderId><m:extOrderId>{ext}</m:extOrderId><m:entryBranchNumber>1</m:entryBranchNumber><m:employeeNumber>999999</m:employeeNumber><m:relationNumber>{relation}</m:relationNumber><m:lineList><m:line><m:articleNumber>{article}</m:articleNumber><m:data><m:quantity>1</m:quantity><m:decimalPlaces>0</m:decimalPlaces></m:data></m:line></m:lineList></m:order></m:request>"
        ),
    )
    .await;
    assert!(text.contains("CREATE-ORDER-RESULT-OK"), "{text}");
    let start = text
        .find("<orderId>")
        .or(text.find(":orderId>"))
        .expect("orderId");
    let rest = &text[start..];
    let value = &rest[rest.find('>').unwrap() + 1..];
    value[..value.find('<').unwrap()].to_owned()
}

fn invoices_observed(h: &Harness) -> Vec<Value> {
    h.events_of("order.observed")
        .into_iter()
        .map(|e| e.payload)
        .filter(|p| p["order"]["order_type"] == "invoice")
        .collect()
}

#[tokio::test]
async fn till_sales_and_invoiced_orders_are_observed_once() {
    let h = Harness::new(Options {
        sync: true,
        ..Options::default()
    })
    .await;
    let dump = h.dump();
    let open = orders(&dump)
        .iter()
        .filter(|o| o["cancel_state"] != "ORDER-CANCEL-STATE-COMPLETE")
        .count();
    h.until("the initial sync", WAIT, |h| {
        h.events_of("order.observed").len() >= open
    })
    .await;
    let (relation, email) = customer(&dump);
    let (article, plu) = article(&dump);
    let order_id = enter_order(&h, "SHOP-7", relation, article).await;
    h.until("the order", WAIT, |h| {
        h.events_of("order.observed")
            .iter()
            .any(|e| e.payload["order"]["external_id"] == "SHOP-7")
    })
    .await;

    // A till sale with a customer: one invoice event with its customer and lines.
    let sold = sell(
        &h,
        json!({"relation_number": relation, "lines": [{"article_number": article, "quantity": 2, "price": 1250}]}),
    )
    .await;
    h.until("the till sale", WAIT, |h| !invoices_observed(h).is_empty())
        .await;
    // An anonymous sale (no orders.walk_in_relation): skipped, never a made-up customer.
    sell(
        &h,
        json!({"lines": [{"article_number": article, "quantity": 1}]}),
    )
    .await;
    // An order that became an invoice keeps the order's number.
    deliver(&h, &order_id).await;
    h.until("the invoiced order", WAIT, |h| {
        invoices_observed(h).len() >= 2
    })
    .await;
    // One more pass: nothing is observed twice.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let invoices = invoices_observed(&h);
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let till = &invoices[0]["order"];
    assert_eq!(till["external_id"], sold.as_str());
    assert_eq!(till["customer"]["email"], email.as_str());
    assert_eq!(till["lines"][0]["sku"], plu.as_str());
    assert_eq!(till["lines"][0]["quantity"], "2");
    assert_eq!(till["totals"]["total"]["amount"], "25.00", "{till:#}");
    let invoiced = &invoices[1]["order"];
    assert_eq!(invoiced["external_id"], "SHOP-7");
    let markers = h.client().sync_markers().await.unwrap();
    let cursor = store::CURSORS
        .marker(&h.db, h.integration, SyncEntity::Invoices.as_str())
        .await
        .unwrap();
    assert_eq!(
        cursor, markers.invoice,
        "the anonymous sale was passed, not parked"
    );
    assert!(h.dead.lock().unwrap().is_empty());
}

#[tokio::test]
async fn walk_in_relation_and_invoices_only() {
    let probe = Harness::new(Options::default()).await;
    let (walk_in, email) = customer(&probe.dump());
    probe.stop().await;
    let h = Harness::new(Options {
        sync: true,
        orders: SalesSettings {
            source_types: SourceTypes::Invoices,
            walk_in_relation: Some(walk_in),
        },
        ..Options::default()
    })
    .await;
    let (article, _) = article(&h.dump());
    sell(
        &h,
        json!({"lines": [{"article_number": article, "quantity": 1}]}),
    )
    .await;
    h.until("the walk-in sale", WAIT, |h| {
        !invoices_observed(h).is_empty()
    })
    .await;
    let sale = &invoices_observed(&h)[0]["order"];
    assert_eq!(sale["customer"]["email"], email.as_str());
    // Orders are not read at all.
    assert!(
        h.events_of("order.observed")
            .iter()
            .all(|e| e.payload["order"]["order_type"] == "invoice")
    );
    let cursors = store::cursors(&h.db, h.integration).await.unwrap();
    assert!(cursors.iter().all(|c| c.entity != "orders"), "{cursors:?}");
}

/// A refund at the till of invoice `invoice_id` (the sandbox's control endpoint).
async fn refund(h: &Harness, invoice_id: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{}_sandbox/mpluskassa/refunds",
            h.sandbox.mpluskassa_url
        ))
        .json(&json!({ "invoice_id": invoice_id }))
        .send()
        .await
        .unwrap()
}

/// A cancellation and a refund at the shop are observed with their status: a cancelled order
/// again with status `cancelled`; a credit invoice (a refund at the till) as the sale it
/// credits, numbered as that sale, with status `refunded`, never as a sale of its own.
#[tokio::test]
async fn cancellations_and_refunds_are_observed_with_their_status() {
    let h = Harness::new(Options {
        sync: true,
        ..Options::default()
    })
    .await;
    let dump = h.dump();
    let (relation, _) = customer(&dump);
    let (article, _) = article(&dump);
    let order_id = enter_order(&h, "SHOP-C1", relation, article).await;
    let of = |h: &Harness, ext: &str| -> Vec<Value> {
        h.events_of("order.observed")
            .into_iter()
            .map(|e| e.payload["order"].clone())
            .filter(|o| o["external_id"] == ext)
            .collect()
    };
    h.until("the order", WAIT, |h| of(h, "SHOP-C1").len() == 1)
        .await;
    assert!(of(&h, "SHOP-C1")[0].get("status").is_none(), "open");
    let text = soap(
        &h,
        "cancelOrder",
        &format!("<m:orderId>{order_id}</m:orderId>"),
    )
    .await;
    assert!(text.contains("CANCEL-ORDER-RESULT-OK"), "{text}");
    h.until("the cancellation", WAIT, |h| of(h, "SHOP-C1").len() == 2)
        .await;
    assert_eq!(of(&h, "SHOP-C1")[1]["status"], "cancelled");

    let sold = sell(
        &h,
        json!({"relation_number": relation, "lines": [{"article_number": article, "quantity": 2}]}),
    )
    .await;
    h.until("the sale", WAIT, |h| of(h, &sold).len() == 1).await;
    let r = refund(&h, &sold).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    h.until("the refund", WAIT, |h| of(h, &sold).len() == 2)
        .await;
    let refunded = &of(&h, &sold)[1];
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(refunded["order_type"], "invoice");
    assert_eq!(refunded["lines"][0]["quantity"], "2", "the sale's lines");
    // Nothing else: the credit invoice is no sale of its own.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        invoices_observed(&h).len(),
        2,
        "{:#?}",
        invoices_observed(&h)
    );
    // A second refund of the same sale is refused by the till.
    let again = refund(&h, &sold).await;
    assert_eq!(again.status(), 400);
    assert!(h.dead.lock().unwrap().is_empty());
}
