//! `order.find`, `order.create` and `order.set-status`: orders by their number, created
//! once, cancelled or refunded through their `financial_status`.

use ferry_platform::connector::{CommandError, Cx, Executed, Xref};
use ferry_proto::System;
use ferry_proto::messages::{
    ErrorCode, FailureInfo, OrderCreate, OrderCreated, OrderFind, OrderFound, OrderSetStatus,
    OrderStatusSet,
};
use ferry_proto::model::{Address, CustomerPlan, OrderStatus};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use super::customer::customer_json;
use super::{address_json, amount, effect, integer_quantity, locate, numeric};
use crate::client::segment;
use crate::integrations::Integration;
use crate::records;
use crate::store::XrefKind;

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, order = %cmd.external_id))]
pub(super) async fn order_find(cx: &Cx<'_, Integration>, cmd: &OrderFind) -> Executed<OrderFound> {
    let integration = &**cx.integration;
    integration.ensure_store().await?;
    let id = cmd.external_id.as_str();
    let path = format!("{}/orders/{}", integration.store_path(), segment(id));
    let found = integration
        .client
        .get_opt("orders.get", &path, &[("fields", "id".into())])
        .await?;
    effect(
        OrderFound {
            target: System::Mailchimp,
            external_id: cmd.external_id.clone(),
            found: found.map(|_| cmd.external_id.clone()),
        },
        Vec::new(),
    )
}

/// MailChimp's `financial_status` for a lifecycle status (free text in the API; these are
/// the values MailChimp's own integrations use). `None` for `open`: never carried.
pub(crate) fn financial_status(status: OrderStatus) -> Option<&'static str> {
    match status {
        OrderStatus::Open => None,
        OrderStatus::Cancelled => Some("cancelled"),
        OrderStatus::Refunded => Some("refunded"),
    }
}

/// `order.set-status`: reads the order's `financial_status` and patches it when it differs;
/// a cancellation also sets `cancelled_at_foreign`. A refunded order is not cancelled again
/// (a later cancellation of a refunded order changes nothing).
#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, order = %cmd.external_id, status = %cmd.status))]
pub(super) async fn order_set_status(
    cx: &Cx<'_, Integration>,
    cmd: &OrderSetStatus,
) -> Executed<OrderStatusSet> {
    let integration = &**cx.integration;
    let Some(wanted) = financial_status(cmd.status) else {
        return Err(CommandError::Permanent(FailureInfo::new(
            ErrorCode::Validation,
            format!(
                "order {}: reopening an order is not carried; only cancellations and refunds are",
                cmd.external_id
            ),
        )));
    };
    integration.ensure_store().await?;
    let path = format!(
        "{}/orders/{}",
        integration.store_path(),
        segment(cmd.external_id.as_str())
    );
    // An order's id in MailChimp is its number.
    let reply = |found: bool, changed: bool| OrderStatusSet {
        target: System::Mailchimp,
        external_id: cmd.external_id.clone(),
        status: cmd.status,
        target_id: found.then(|| cmd.external_id.clone()),
        changed,
        refused: None,
    };
    let Some(found) = integration
        .client
        .get_opt(
            "orders.get",
            &path,
            &[("fields", "id,financial_status".into())],
        )
        .await?
    else {
        return effect(reply(false, false), Vec::new());
    };
    let current = found["financial_status"].as_str().unwrap_or_default();
    let settled = current.eq_ignore_ascii_case(wanted)
        || (cmd.status == OrderStatus::Cancelled && current.eq_ignore_ascii_case("refunded"));
    if settled {
        return effect(reply(true, false), Vec::new());
    }
    let mut body = json!({ "financial_status": wanted });
    if cmd.status == OrderStatus::Cancelled {
        body["cancelled_at_foreign"] =
            json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false));
    }
    integration
        .client
        .patch("orders.patch", &path, &body)
        .await?;
    effect(reply(true, true), Vec::new())
}

fn order_address(a: &Address, name: Option<String>) -> Value {
    let mut v = address_json(a);
    if let Some(name) = name {
        v["name"] = json!(name);
    }
    v
}

async fn order_json(
    db: &DatabaseConnection,
    integration: &Integration,
    command: &OrderCreate,
) -> Result<Value, CommandError> {
    let order = command.order.order();
    let customer = match command.order.customer_plan() {
        CustomerPlan::Upsert { customer } => customer.as_ref().clone(),
        CustomerPlan::DefaultDebtor { .. } => order.customer.clone(),
    };
    let mut customer_body = customer_json(command.customer_id.as_str(), &customer);
    if let Some(obj) = customer_body.as_object_mut() {
        obj.remove("address");
    }
    let mut lines = Vec::new();
    for (i, line) in order.lines.iter().enumerate() {
        let sku = numeric(&line.sku)?;
        let (product, variant) = locate(db, integration, &sku).await?;
        let mut l = json!({
            "id": format!("{}-{}", order.external_id, i + 1),
            "product_id": product,
            "product_variant_id": variant,
            "quantity": integer_quantity(&line.quantity.value(), &format!("line {} quantity", i + 1))?,
            "price": amount(&line.unit_price),
        });
        if let Some(d) = &line.discount {
            l["discount"] = amount(d);
        }
        lines.push(l);
    }
    let mut body = json!({
        "id": order.external_id.as_str(),
        "customer": customer_body,
        "currency_code": order.currency.as_str(),
        "order_total": amount(&order.totals.total),
        "tax_total": amount(&order.totals.tax),
        "shipping_total": amount(&order.totals.shipping),
        "processed_at_foreign": order.placed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "lines": lines,
    });
    let name = customer.full_name();
    if let Some(a) = &order.billing_address {
        body["billing_address"] = order_address(a, name.clone());
    }
    if let Some(a) = &order.shipping_address {
        body["shipping_address"] = order_address(a, name);
    }
    Ok(body)
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, order = %cmd.order.order().external_id))]
pub(super) async fn order_create(
    cx: &Cx<'_, Integration>,
    cmd: &OrderCreate,
) -> Executed<OrderCreated> {
    let (db, integration) = (cx.db, &**cx.integration);
    let body = order_json(db, integration, cmd).await?;
    integration.ensure_store().await?;
    let external = &cmd.order.order().external_id;
    let path = format!(
        "{}/orders/{}",
        integration.store_path(),
        segment(external.as_str())
    );
    let orders = format!("{}/orders", integration.store_path());
    let max = 3;
    let mut replayed = false;
    let mut saved = Value::Null;
    for attempt in 1..=max {
        // Look up before every create: a timeout or a broken answer may have created it.
        if let Some(found) = integration
            .client
            .get_opt("orders.get", &path, &[("fields", "id,updated_at".into())])
            .await?
        {
            replayed = true;
            saved = found;
            break;
        }
        match integration
            .client
            .post_once("orders.post", &orders, &body)
            .await
        {
            Ok(created) => {
                saved = created;
                break;
            }
            Err(e) if e.is_transient() && attempt < max => {
                tracing::info!(error = %e, "order create may or may not have happened; looking it up");
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    effect(
        OrderCreated {
            target: System::Mailchimp,
            external_id: external.clone(),
            target_id: external.clone(),
            replayed,
        },
        vec![Xref {
            kind: XrefKind::Order.as_str(),
            external_id: external.to_string(),
            canonical_key: Some(external.to_string()),
            fingerprint: saved
                .get("updated_at")
                .map(|_| records::fingerprint(&saved)),
        }],
    )
}
