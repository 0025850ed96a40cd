//! Orders: creation (with idempotent replay for createOrderV3), look-ups by extOrderId,
//! sync-marker paging, cancellation. Open orders reserve stock.

use std::collections::BTreeMap;

use super::{Ctx, page};
use crate::mpluskassa::model::{Order, OrderLine, Payment};
use crate::mpluskassa::parse::{self, LineRequest};
use crate::mpluskassa::render;
use crate::mpluskassa::store::{Store, excl_from_incl};
use crate::mpluskassa::xml::{XmlError, XmlWriter};
use ferry_mplusqapi::ops;
use ferry_mplusqapi::records as wire;

const ORDER_TYPES: &[&str] = &[
    "ORDER-TYPE-SALES-ORDER",
    "ORDER-TYPE-REPEAT-SALES-ORDER",
    "ORDER-TYPE-EXTERNAL-SALES-ORDER",
    "ORDER-TYPE-TABLE-ORDER",
    "ORDER-TYPE-CAFETERIA-ORDER",
];
const VAT_METHODS: &[&str] = &[
    "VAT-METHOD-INCLUSIVE",
    "VAT-METHOD-EXCLUSIVE",
    "VAT-METHOD-SHIFTED",
    "VAT-METHOD-NONE",
];

/// A refused order: the `CreateOrderResult` and the `errorMessage`.
struct Refusal(&'static str, String);

fn failed(message: String) -> Refusal {
    Refusal("CREATE-ORDER-RESULT-FAILED", message)
}

fn enum_value(
    value: Option<&String>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<String>, XmlError> {
    match value.map(|v| v.trim()) {
        None => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v.to_owned())),
        Some(v) => Err(XmlError::Invalid(format!(
            "`{v}` is not a valid value of `{name}`"
        ))),
    }
}

/// `(vatCode, vatPercentage, exclAmount, vatAmount)` per VAT code.
pub fn vat_breakdown(o: &Order) -> Vec<(i32, i64, i64, i64)> {
    let mut groups: BTreeMap<i32, (i64, i64, i64)> = BTreeMap::new();
    for l in &o.lines {
        let g = groups.entry(l.vat_code).or_insert((l.vat_percentage, 0, 0));
        g.1 += l.total_excl;
        g.2 += l.total_incl - l.total_excl;
    }
    groups
        .into_iter()
        .map(|(code, (pct, excl, vat))| (code, pct, excl, vat))
        .collect()
}

fn build_line(store: &Store, req: &LineRequest, index: usize) -> Result<OrderLine, Refusal> {
    let Some((_, article)) = store.article(req.article_number) else {
        return Err(failed(format!("Article {} not found.", req.article_number)));
    };
    let vat_code = req.vat_code.unwrap_or(article.vat_code);
    let Some(vat) = store.vat_group(vat_code) else {
        return Err(failed(format!("VAT code {vat_code} not found.")));
    };
    let turnover_group = req.turnover_group.unwrap_or(article.turnover_group);
    if store.turnover_group(turnover_group).is_none() {
        return Err(failed(format!(
            "Turnover group {turnover_group} not found."
        )));
    }
    if req.quantity.0 == 0 {
        return Err(failed(format!("Line {} has quantity 0.", index + 1)));
    }
    let pct = vat.vat_percentage;
    let price = req.price.unwrap_or(article.price_incl);
    let price_excl = req.price_excl.unwrap_or_else(|| excl_from_incl(price, pct));
    let gross = req.quantity.times_cents(price);
    let discount = match (req.discount_amount, req.discount_percentage) {
        (Some(amount), _) => amount,
        (None, Some(p)) => i64::try_from(i128::from(gross) * i128::from(p) / 10_000).unwrap_or(0),
        (None, None) => 0,
    };
    let total_incl = gross - discount;
    Ok(OrderLine {
        line_id: uuid::Uuid::new_v4().to_string(),
        article_number: article.article_number,
        plu_number: req
            .plu_number
            .clone()
            .unwrap_or_else(|| article.plu_number.clone()),
        text: req
            .text
            .clone()
            .unwrap_or_else(|| article.description.clone()),
        quantity: req.quantity,
        price,
        price_excl,
        vat_code,
        vat_percentage: pct,
        turnover_group,
        discount_percentage: req.discount_percentage,
        discount_amount: req.discount_amount.or((discount != 0).then_some(discount)),
        total_incl,
        total_excl: excl_from_incl(total_incl, pct),
    })
}

/// Validates and stores an order; business refusals are `Ok(Err(_))`.
fn place_order(
    store: &mut Store,
    node: &wire::Order,
    extra_payments: Vec<Payment>,
) -> Result<Result<Order, Refusal>, XmlError> {
    let ext_order_id = node.ext_order_id.clone().unwrap_or_default();
    let order_type = enum_value(node.order_type.as_ref(), "orderType", ORDER_TYPES)?;
    let vat_method = enum_value(node.vat_method.as_ref(), "vatMethod", VAT_METHODS)?;
    let entry_branch = node.entry_branch_number.filter(|b| *b > 0);
    let financial_branch = node.financial_branch_number.filter(|b| *b > 0);
    let workplace = node.workplace_number.filter(|w| *w > 0);
    let employee = node.employee_number.filter(|e| *e > 0);
    let relation = node.relation_number.filter(|r| *r > 0);
    let financial_date = node.financial_date;
    let lines: Vec<LineRequest> = node
        .line_list
        .iter()
        .flat_map(|l| &l.line)
        .map(parse::line)
        .collect::<Result<_, _>>()?;
    let mut payments = parse::payments(node.payment_list.as_ref());
    payments.extend(extra_payments);

    let refuse = |r: Refusal| Ok(Err(r));
    if !ext_order_id.is_empty()
        && let Some(existing) = store
            .orders
            .values()
            .find(|o| o.ext_order_id == ext_order_id)
    {
        return refuse(Refusal(
            "CREATE-ORDER-RESULT-EXT-ORDER-ID-ALREADY-EXISTS",
            format!(
                "An order with extOrderId {ext_order_id} already exists (orderId {}).",
                existing.order_id
            ),
        ));
    }
    let Some(relation_number) = relation else {
        return refuse(failed("A relation is required (relationNumber).".into()));
    };
    let Some(relation) = store.relation(relation_number) else {
        return refuse(failed(format!("Relation {relation_number} not found.")));
    };
    let Some(employee_number) = employee else {
        return refuse(failed("An employee is required (employeeNumber).".into()));
    };
    let Some(employee) = store.employees.get(&employee_number).filter(|e| e.active) else {
        return refuse(failed(format!("Employee {employee_number} not found.")));
    };
    let entry_branch = entry_branch.unwrap_or_else(|| store.default_branch());
    let Some(branch) = store.branch(entry_branch) else {
        return refuse(failed(format!("Branch {entry_branch} not found.")));
    };
    let financial_branch = financial_branch.unwrap_or(entry_branch);
    if store.branch(financial_branch).is_none() {
        return refuse(failed(format!("Branch {financial_branch} not found.")));
    }
    match workplace {
        Some(w) if !branch.workplaces.iter().any(|wp| wp.number == w) => {
            return refuse(failed(format!(
                "Workplace {w} not found in branch {entry_branch}."
            )));
        }
        None if entry_branch != store.default_branch() => {
            return refuse(failed(format!(
                "A workplaceNumber is required for branch {entry_branch}."
            )));
        }
        _ => {}
    }
    if lines.is_empty() {
        return refuse(failed("An order needs at least one line.".into()));
    }
    let mut order_lines = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        match build_line(store, l, i) {
            Ok(line) => order_lines.push(line),
            Err(r) => return refuse(r),
        }
    }
    for p in &mut payments {
        match store
            .payment_methods
            .iter()
            .find(|m| m.method == p.method && m.active)
        {
            Some(m) => {
                p.payment_method_type = Some(m.method_type.clone());
                if p.description.is_empty() {
                    p.description = m.description.clone();
                }
                p.payment_id = uuid::Uuid::new_v4().to_string();
            }
            None => {
                return refuse(Refusal(
                    "CREATE-ORDER-RESULT-PAYMENT-FAILED",
                    format!("Payment method {} not found.", p.method),
                ));
            }
        }
    }
    let now = store.now();
    let total_incl: i64 = order_lines.iter().map(|l| l.total_incl).sum();
    let total_excl: i64 = order_lines.iter().map(|l| l.total_excl).sum();
    let prepaid: i64 = payments.iter().map(|p| p.amount).sum();
    let mut order = Order {
        order_id: uuid::Uuid::new_v4().to_string(),
        ext_order_id,
        order_type: order_type.unwrap_or_else(|| "ORDER-TYPE-SALES-ORDER".into()),
        entry_branch_number: entry_branch,
        employee_number,
        employee_name: employee.name.clone(),
        entry_timestamp: Some(now),
        relation_number,
        relation_name: relation.name.clone(),
        delivery_address: node.delivery_address.as_ref().map(parse::address),
        invoice_address: node.invoice_address.as_ref().map(parse::address),
        financial_date: Some(financial_date.unwrap_or_else(|| now.date())),
        financial_branch_number: financial_branch,
        workplace_number: workplace,
        reference: node.reference.clone().unwrap_or_default(),
        total_incl,
        total_excl,
        vat_method: vat_method
            .or_else(|| relation.default_vat_method.clone())
            .unwrap_or_else(|| "VAT-METHOD-INCLUSIVE".into()),
        payment_method: node.payment_method.clone().unwrap_or_default(),
        change_counter: 1,
        version_number: 1,
        prepaid_amount: prepaid,
        fully_paid: prepaid >= total_incl,
        delivery_state: "ORDER-DELIVERY-STATE-NOTHING".into(),
        cancel_state: "ORDER-CANCEL-STATE-NOTHING".into(),
        complete_state: "ORDER-COMPLETE-STATE-NOTHING".into(),
        order_number: (now.year, 0),
        lines: order_lines,
        payments,
        sync_marker: 0,
        reserves_stock: true,
    };
    order.order_number.1 = store.take_order_number();
    order.sync_marker = store.next_order_marker();
    let reserved: Vec<i64> = order.lines.iter().map(|l| l.article_number).collect();
    store.orders.insert(order.order_id.clone(), order.clone());
    for a in reserved {
        store.touch_stock(entry_branch, a);
    }
    Ok(Ok(order))
}

fn info(w: &mut XmlWriter, order: Option<&Order>) {
    w.elem("info", |w| {
        w.leaf("orderId", order.map(|o| o.order_id.as_str()).unwrap_or(""));
        w.leaf(
            "orderString",
            order.map(Order::order_string).unwrap_or_default(),
        );
        w.leaf("orderQueued", false);
    });
}

pub fn create_order(cx: Ctx<'_>) -> Result<(), XmlError> {
    let Some(node) = cx.request::<ops::CreateOrder>()?.order else {
        cx.w.leaf("result", "CREATE-ORDER-RESULT-FAILED");
        info(cx.w, None);
        cx.w.leaf("errorMessage", "No order supplied.");
        return Ok(());
    };
    match place_order(cx.store, &node, Vec::new())? {
        Ok(order) => {
            cx.w.leaf("result", "CREATE-ORDER-RESULT-OK");
            info(cx.w, Some(&order));
            cx.w.leaf("errorMessage", "");
        }
        Err(Refusal(result, message)) => {
            cx.w.leaf("result", result);
            info(cx.w, None);
            cx.w.leaf("errorMessage", message);
        }
    }
    Ok(())
}

const V3_OP: &str = "createOrderV3";

pub fn create_order_v3(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::CreateOrderV3>()?.request;
    let key = req.idempotency_key.trim().to_owned();
    if key.is_empty() {
        return Err(XmlError::Invalid("idempotencyKey must not be empty".into()));
    }
    if let Some(replay) = cx.store.idempotency.get(&(V3_OP.to_owned(), key.clone())) {
        cx.w.leaf("idempotencyResult", "IDEMPOTENCY-RESULT-REPLAY-RESPONSE");
        cx.w.raw(replay);
        return Ok(());
    }
    let payments = parse::payments(req.payment_list.as_ref());
    let paying = !payments.is_empty();
    let mut body = XmlWriter::new();
    match place_order(cx.store, &req.order, payments)? {
        Ok(order) => {
            body.leaf("result", "CREATE-ORDER-RESULT-OK");
            render::order(&mut body, "order", &order, true, &vat_breakdown(&order));
            body.leaf("errorMessage", "");
            info(&mut body, Some(&order));
            if paying {
                body.leaf("payResult", "PAY-ORDER-RESULT-OK");
            }
        }
        Err(Refusal(result, message)) => {
            body.leaf("result", result);
            body.leaf("errorMessage", message);
            info(&mut body, None);
            if result == "CREATE-ORDER-RESULT-PAYMENT-FAILED" {
                body.leaf("payResult", "PAY-ORDER-RESULT-FAILED");
            }
        }
    }
    let body = body.finish();
    cx.w.leaf("idempotencyResult", "IDEMPOTENCY-RESULT-ORIGINAL-RESPONSE");
    cx.w.raw(&body);
    cx.store.idempotency.insert((V3_OP.to_owned(), key), body);
    Ok(())
}

pub fn find_order(cx: Ctx<'_>) -> Result<(), XmlError> {
    let ext = cx.request::<ops::FindOrder>()?.ext_order_id;
    match cx
        .store
        .orders
        .values()
        .find(|o| !ext.is_empty() && o.ext_order_id == ext)
    {
        Some(o) => {
            cx.w.leaf("result", "GET-ORDER-RESULT-OK");
            render::order(cx.w, "order", o, true, &vat_breakdown(o));
        }
        None => cx.w.leaf("result", "GET-ORDER-RESULT-NOT-FOUND"),
    }
    Ok(())
}

fn write_orders<'a>(w: &mut XmlWriter, orders: impl IntoIterator<Item = &'a Order>, lines: bool) {
    w.elem("orderList", |w| {
        for o in orders {
            render::order(w, "order", o, lines, &vat_breakdown(o));
        }
    });
}

pub fn get_orders_by_ext_order_ids(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::GetOrdersByExtOrderIds>()?.request;
    let ids: Vec<&str> = req
        .ext_order_ids
        .iter()
        .flat_map(|l| &l.id)
        .map(String::as_str)
        .collect();
    let selected = page(
        cx.store
            .orders
            .values()
            .filter(|o| ids.contains(&o.ext_order_id.as_str()))
            .map(|o| (o.sync_marker, o)),
        req.sync_marker,
        req.sync_marker_limit,
    );
    write_orders(cx.w, selected, true);
    Ok(())
}

pub fn get_orders(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::GetOrders>()?.request;
    let filters = cx.request::<ops::Request<ops::GetOrdersFilters>>()?.request;
    let branches = filters.branch_numbers;
    let employees = filters.employee_numbers;
    let relations = filters.relation_numbers;
    let articles = filters.article_numbers;
    let order_ids: Vec<&str> = filters.order_ids.iter().map(String::as_str).collect();
    let plus: Vec<&str> = req
        .article_plu_numbers
        .text
        .iter()
        .map(|t| t.text.as_str())
        .collect();
    let from = filters.from_financial_date;
    let through = filters.through_financial_date;
    let types: Vec<String> = filters
        .order_type_list
        .iter()
        .flat_map(|l| &l.order_type)
        .map(|t| t.trim().to_owned())
        .collect();
    let types: Vec<&str> = if types.is_empty() {
        vec![
            "ORDER-TYPE-SALES-ORDER",
            "ORDER-TYPE-REPEAT-SALES-ORDER",
            "ORDER-TYPE-EXTERNAL-SALES-ORDER",
        ]
    } else {
        types.iter().map(String::as_str).collect()
    };
    let include_lines = req.include_line_list.unwrap_or(true);
    let selected = page(
        cx.store
            .orders
            .values()
            .filter(|o| types.contains(&o.order_type.as_str()))
            .filter(|o| branches.is_empty() || branches.contains(&o.entry_branch_number))
            .filter(|o| employees.is_empty() || employees.contains(&o.employee_number))
            .filter(|o| relations.is_empty() || relations.contains(&o.relation_number))
            .filter(|o| order_ids.is_empty() || order_ids.contains(&o.order_id.as_str()))
            .filter(|o| {
                articles.is_empty() || o.lines.iter().any(|l| articles.contains(&l.article_number))
            })
            .filter(|o| {
                plus.is_empty()
                    || o.lines
                        .iter()
                        .any(|l| plus.contains(&l.plu_number.as_str()))
            })
            .filter(|o| match (o.financial_date, from) {
                (Some(d), Some(f)) => d.on_or_after(&f),
                _ => true,
            })
            .filter(|o| match (o.financial_date, through) {
                (Some(d), Some(t)) => t.on_or_after(&d),
                _ => true,
            })
            .map(|o| (o.sync_marker, o)),
        req.sync_marker,
        req.sync_marker_limit,
    );
    write_orders(cx.w, selected, include_lines);
    Ok(())
}

pub fn cancel_order(cx: Ctx<'_>) -> Result<(), XmlError> {
    let order_id = cx.request::<ops::CancelOrder>()?.order_id.trim().to_owned();
    let store = cx.store;
    let w = cx.w;
    let outcome = match store.orders.get(&order_id) {
        None => (
            "CANCEL-ORDER-RESULT-NOT-FOUND",
            format!("Order {order_id} not found."),
        ),
        Some(o) if o.cancel_state == "ORDER-CANCEL-STATE-COMPLETE" => (
            "CANCEL-ORDER-RESULT-ALREADY-CANCELLED",
            format!("Order {order_id} is already cancelled."),
        ),
        Some(o) if o.delivery_state != "ORDER-DELIVERY-STATE-NOTHING" => (
            "CANCEL-ORDER-RESULT-FAILED",
            format!("Order {order_id} has been (partly) delivered."),
        ),
        Some(_) => {
            let marker = store.next_order_marker();
            let mut cancelled = None;
            if let Some(o) = store.orders.get_mut(&order_id) {
                o.cancel_state = "ORDER-CANCEL-STATE-COMPLETE".into();
                o.complete_state = "ORDER-COMPLETE-STATE-COMPLETE".into();
                o.sync_marker = marker;
                o.change_counter += 1;
                o.version_number += 1;
                cancelled = Some(o.clone());
            }
            // The reservation is released: amountReserved down, amountFree back up.
            if let Some(o) = cancelled {
                store.end_reservation(&o);
            }
            ("CANCEL-ORDER-RESULT-OK", String::new())
        }
    };
    w.leaf("result", outcome.0);
    w.leaf("message", outcome.1);
    Ok(())
}
