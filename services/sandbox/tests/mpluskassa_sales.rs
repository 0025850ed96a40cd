//! Sales in the MplusKASSA simulator over real HTTP: a till sale (control endpoint) books an
//! invoice and deducts stock; delivering an order (`deliverOrder`) turns its reservation into
//! a deduction and books an invoice naming the order; `getInvoices` pages them by sync marker.

mod mpluskassa_support;

use mpluskassa_support::{El, Sim, el, num, spawn};
use serde_json::{Value, json};

/// `(amountFree, amountReserved)` in thousandths.
async fn stock_of(sim: &Sim, branch: i32, article: i64) -> (i64, i64) {
    let s = sim
        .call(
            "getStock",
            &format!(
                "<m:request>{}<m:articleNumbers>{}</m:articleNumbers></m:request>",
                el("branchNumber", branch),
                el("articleNumbers", article)
            ),
        )
        .await;
    let level = s.get("articleStocks").expect("articleStocks");
    let scaled = |v: &str, dp: &str| {
        num(level, v) * 10_i64.pow(3 - u32::try_from(num(level, dp)).expect("dp"))
    };
    (
        scaled("amountFree", "decimalPlacesFree"),
        scaled("amountReserved", "decimalPlacesReserved"),
    )
}

async fn invoices_from(sim: &Sim, marker: i64) -> Vec<El> {
    let r = sim
        .call(
            "getInvoices",
            &format!(
                "<m:request>{}{}<m:articlePluNumbers/><m:articleBarcodes/>{}</m:request>",
                el("syncMarker", marker),
                el("syncMarkerLimit", 100),
                el("includeLineList", true)
            ),
        )
        .await;
    r.get("invoiceList")
        .map(|l| l.all("invoice").cloned().collect())
        .unwrap_or_default()
}

async fn sell(sim: &Sim, sale: Value) -> (u16, Value) {
    let r = sim
        .http
        .post(format!("{}_sandbox/mpluskassa/sales", sim.base))
        .json(&sale)
        .send()
        .await
        .expect("sent");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

#[tokio::test]
async fn a_till_sale_books_an_invoice_and_deducts_stock() {
    let sim = spawn().await;
    assert_eq!(stock_of(&sim, 1, 1002).await, (10_000, 0));
    let (status, sold) = sell(
        &sim,
        json!({"lines": [{"article_number": 1002, "quantity": 2}, {"article_number": 1001, "quantity": 1, "price": 500}]}),
    )
    .await;
    assert_eq!(status, 200, "{sold}");
    assert_eq!(
        stock_of(&sim, 1, 1002).await,
        (8_000, 0),
        "the sale deducts physical stock"
    );
    let markers = sim.call("getCurrentSyncMarkers", "").await;
    assert_eq!(num(&markers, "invoiceSyncMarker"), sold["sync_marker"]);
    let invoices = invoices_from(&sim, 1).await;
    assert_eq!(invoices.len(), 1);
    let invoice = &invoices[0];
    assert_eq!(invoice.text_at("invoiceId"), sold["invoice_id"].as_str());
    assert_eq!(num(invoice, "relationNumber"), 0, "anonymous sale");
    assert!(invoice.get("orderIds").is_none(), "not made from an order");
    let lines: Vec<(i64, i64)> = invoice
        .get("lineList")
        .expect("lines")
        .all("line")
        .map(|l| (num(l, "articleNumber"), num(l, "data/quantity")))
        .collect();
    assert_eq!(lines, vec![(1002, 2), (1001, 1)]);
    let history = sim
        .call(
            "getStockHistoryV2",
            "<m:request><m:sinceStockId>1</m:sinceStockId></m:request>",
        )
        .await;
    assert!(
        history
            .all("articleStockHistory")
            .any(|h| h.text_at("type") == Some("STOCK-HISTORY-TYPE-SALES")
                && num(h, "articleNumber") == 1002
                && num(h, "amountChanged") == -2)
    );
    // Unknown articles and relations are refused, nothing is booked.
    let (status, _) = sell(
        &sim,
        json!({"lines": [{"article_number": 555, "quantity": 1}]}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = sell(
        &sim,
        json!({"relation_number": 987654, "lines": [{"article_number": 1002, "quantity": 1}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(invoices_from(&sim, 1).await.len(), 1);
}

#[tokio::test]
async fn a_delivered_order_turns_its_reservation_into_a_deduction() {
    let sim = spawn().await;
    let order = format!(
        "<m:request>{}<m:order>{}{}{}{}{}<m:lineList><m:line>{}<m:data>{}{}</m:data></m:line></m:lineList></m:order></m:request>",
        el("idempotencyKey", "d1"),
        el("orderId", ""),
        el("extOrderId", "WEB-77"),
        el("entryBranchNumber", 1),
        el("employeeNumber", 999_999),
        el("relationNumber", 1),
        el("articleNumber", 1002),
        el("quantity", 3),
        el("decimalPlaces", 0),
    );
    let created = sim.call("createOrderV3", &order).await;
    let order_id = created.text_at("info/orderId").expect("id").to_owned();
    assert_eq!(stock_of(&sim, 1, 1002).await, (10_000, 3_000));
    let deliver = |id: &str| {
        format!(
            "<m:request>{}{}</m:request>",
            el("orderId", id),
            el("turnoverType", "DELIVER-ORDER-TURNOVER-TYPE-INVOICE")
        )
    };
    let delivered = sim.call("deliverOrder", &deliver(&order_id)).await;
    assert_eq!(delivered.text_at("result"), Some("DELIVER-ORDER-RESULT-OK"));
    let invoice_id = delivered.text_at("invoiceId").expect("invoice").to_owned();
    assert_eq!(
        stock_of(&sim, 1, 1002).await,
        (7_000, 0),
        "the reservation became a deduction"
    );
    let again = sim.call("deliverOrder", &deliver(&order_id)).await;
    assert_eq!(
        again.text_at("result"),
        Some("DELIVER-ORDER-RESULT-ALREADY-DELIVERED")
    );
    assert_eq!(stock_of(&sim, 1, 1002).await, (7_000, 0), "deducted once");
    let invoices = invoices_from(&sim, 1).await;
    assert_eq!(invoices.len(), 1);
    let invoice = &invoices[0];
    assert_eq!(invoice.text_at("invoiceId"), Some(invoice_id.as_str()));
    assert_eq!(invoice.text_at("orderIds/id"), Some(order_id.as_str()));
    assert_eq!(invoice.text_at("extOrderIds/id"), Some("WEB-77"));
    assert_eq!(num(invoice, "relationNumber"), 1);
    // Invoices page by sync marker like every other entity.
    assert!(
        invoices_from(&sim, num(invoice, "syncMarker") + 1)
            .await
            .is_empty()
    );
}
