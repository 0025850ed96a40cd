//! Sales in the MplusKASSA simulator over real HTTP: a till sale (control endpoint) books an
//! invoice and deducts stock; delivering an order (`deliverOrder`) turns its reservation into
//! a deduction and books an invoice naming the order; `getInvoices` pages them by sync marker.
//! `getStock`'s figures after each stock effect: `amountFree` is on hand minus what open
//! orders reserve, `amountReserved` what they hold.

mod mpluskassa_support;

use ferry_sandbox::mpluskassa::model::{MplusDateTime, Qty};
use ferry_sandbox::mpluskassa::seed::{SeedOrder, SeedStock};
use ferry_sandbox::mpluskassa::{MplusSeed, MplusSettings, MplusState, SUPER_USER};
use mpluskassa_support::{El, Sim, el, num, spawn, spawn_with};
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

/// Places an open order (`createOrderV3`) of `quantity` whole items of `article` in branch 1;
/// answers its orderId.
async fn place(sim: &Sim, key: &str, article: i64, quantity: i64) -> String {
    let order = format!(
        "<m:request>{}<m:order>{}{}{}{}{}<m:lineList><m:line>{}<m:data>{}{}</m:data></m:line></m:lineList></m:order></m:request>",
        el("idempotencyKey", key),
        el("orderId", ""),
        el("extOrderId", key),
        el("entryBranchNumber", 1),
        el("employeeNumber", SUPER_USER),
        el("relationNumber", 1),
        el("articleNumber", article),
        el("quantity", quantity),
        el("decimalPlaces", 0),
    );
    let created = sim.call("createOrderV3", &order).await;
    created.text_at("info/orderId").expect("orderId").to_owned()
}

/// `deliverOrder` (turnover type invoice); answers the reply.
async fn deliver(sim: &Sim, order_id: &str) -> El {
    sim.call(
        "deliverOrder",
        &format!(
            "<m:request>{}{}</m:request>",
            el("orderId", order_id),
            el("turnoverType", "DELIVER-ORDER-TURNOVER-TYPE-INVOICE")
        ),
    )
    .await
}

async fn deliver_ok(sim: &Sim, order_id: &str) {
    let r = deliver(sim, order_id).await;
    assert_eq!(r.text_at("result"), Some("DELIVER-ORDER-RESULT-OK"));
}

async fn cancel(sim: &Sim, order_id: &str) {
    let r = sim.call("cancelOrder", &el("orderId", order_id)).await;
    assert_eq!(r.text_at("result"), Some("CANCEL-ORDER-RESULT-OK"));
}

/// `setStock` or `updateStock` of article 1002 in branch 1; answers the new stockId.
async fn change_stock(sim: &Sim, op: &str, amount: i64) -> i64 {
    let field = if op == "setStock" {
        "amount"
    } else {
        "amountChanged"
    };
    let r = sim
        .call(
            op,
            &format!(
                "<m:request>{}{}{}</m:request>",
                el("branchNumber", 1),
                el("articleNumber", 1002),
                el(field, amount)
            ),
        )
        .await;
    assert_eq!(
        r.text_at("result").map(|t| t.ends_with("-RESULT-OK")),
        Some(true)
    );
    num(&r, "stockId")
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
    let order_id = place(&sim, "WEB-77", 1002, 3).await;
    assert_eq!(stock_of(&sim, 1, 1002).await, (7_000, 3_000));
    let delivered = deliver(&sim, &order_id).await;
    assert_eq!(delivered.text_at("result"), Some("DELIVER-ORDER-RESULT-OK"));
    let invoice_id = delivered.text_at("invoiceId").expect("invoice").to_owned();
    assert_eq!(
        stock_of(&sim, 1, 1002).await,
        (7_000, 0),
        "the reservation became a deduction: free stays"
    );
    let again = deliver(&sim, &order_id).await;
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

#[tokio::test]
async fn each_stock_effect_moves_free_and_reserved_as_the_api_reports_them() {
    let sim = spawn().await;
    // On hand 10, nothing reserved.
    assert_eq!(stock_of(&sim, 1, 1002).await, (10_000, 0));
    let a = place(&sim, "S-A", 1002, 3).await;
    assert_eq!(
        stock_of(&sim, 1, 1002).await,
        (7_000, 3_000),
        "an open order: free down, reserved up"
    );
    let b = place(&sim, "S-B", 1002, 2).await;
    assert_eq!(stock_of(&sim, 1, 1002).await, (5_000, 5_000));
    let (status, sold) = sell(
        &sim,
        json!({"lines": [{"article_number": 1002, "quantity": 1}]}),
    )
    .await;
    assert_eq!(status, 200, "{sold}");
    assert_eq!(
        stock_of(&sim, 1, 1002).await,
        (4_000, 5_000),
        "a till sale: free down, reservations stay"
    );
    deliver_ok(&sim, &a).await;
    assert_eq!(
        stock_of(&sim, 1, 1002).await,
        (4_000, 2_000),
        "a delivery: the reservation ends, free stays (the goods left)"
    );
    cancel(&sim, &b).await;
    assert_eq!(
        stock_of(&sim, 1, 1002).await,
        (6_000, 0),
        "a cancellation: the reservation is released to free"
    );
    // setStock and updateStock name free stock; an open order's reservation stays.
    let c = place(&sim, "S-C", 1002, 1).await;
    assert_eq!(stock_of(&sim, 1, 1002).await, (5_000, 1_000));
    let set_id = change_stock(&sim, "setStock", 8).await;
    assert_eq!(
        stock_of(&sim, 1, 1002).await,
        (8_000, 1_000),
        "setStock: free"
    );
    change_stock(&sim, "updateStock", -2).await;
    assert_eq!(
        stock_of(&sim, 1, 1002).await,
        (6_000, 1_000),
        "updateStock: free"
    );
    let history = sim
        .call(
            "getStockHistoryV2",
            &format!("<m:request>{}</m:request>", el("sinceStockId", set_id)),
        )
        .await;
    let changes: Vec<(i64, Option<i64>, Option<i64>)> = history
        .all("articleStockHistory")
        .map(|h| {
            let opt = |f: &str| h.text_at(f).map(|_| num(h, f));
            (
                num(h, "amountChanged"),
                opt("beforeCorrectionQuantity"),
                opt("afterCorrectionQuantity"),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![(3, Some(6), Some(9)), (-2, None, None)],
        "physical changes: the correction shows on hand (free + reserved) before and after"
    );
    deliver_ok(&sim, &c).await;
    assert_eq!(stock_of(&sim, 1, 1002).await, (6_000, 0));
}

#[tokio::test]
async fn a_seeded_open_order_releases_the_seeded_reservation() {
    // Article 1002 in branch 1: 4 free, 5 reserved by two open orders of the seed (3 + 2).
    let mut seed = MplusSeed::demo();
    let level = seed
        .stock
        .iter_mut()
        .find(|s| s.branch_number == 1 && s.article_number == 1002)
        .expect("seeded level");
    *level = SeedStock {
        free: Qty::units(4),
        reserved: Qty::units(5),
        ..level.clone()
    };
    let open = |number: i64, quantity: i64| SeedOrder {
        order_number: number,
        ext_order_id: format!("SEED-{number}"),
        reference: String::new(),
        relation_number: 1,
        employee_number: SUPER_USER,
        branch_number: 1,
        workplace_number: 1,
        payment_method: "PIN".into(),
        lines: vec![(1002, Qty::units(quantity), 1995)],
        entry_timestamp: MplusDateTime::from_chrono(&chrono::Utc::now().fixed_offset()),
        paid: false,
        delivered: false,
        cancelled: false,
    };
    seed.orders = vec![open(1, 3), open(2, 2)];
    let settings = MplusSettings::default();
    let sim = spawn_with(
        MplusState::from_mplus_seed(&seed, settings.clone()),
        settings,
    )
    .await;
    assert_eq!(stock_of(&sim, 1, 1002).await, (4_000, 5_000));
    cancel(&sim, "00000000-0000-4000-8000-000000000001").await;
    assert_eq!(
        stock_of(&sim, 1, 1002).await,
        (7_000, 2_000),
        "cancelled: released"
    );
    deliver_ok(&sim, "00000000-0000-4000-8000-000000000002").await;
    assert_eq!(
        stock_of(&sim, 1, 1002).await,
        (7_000, 0),
        "delivered: the goods left"
    );
}
