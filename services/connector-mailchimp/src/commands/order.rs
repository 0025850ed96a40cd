//! `order.find`, `order.create` and `order.set-status`: orders by their number, created
//! once, cancelled or refunded through their `financial_status`.

use ferry_mailchimp_wire as wire;
use ferry_platform::connector::{CommandError, Cx, Executed, Xref};
use ferry_proto::System;
use ferry_proto::messages::{
    ErrorCode, FailureInfo, OrderCreate, OrderCreated, OrderFind, OrderFound, OrderSetStatus,
    OrderStatusSet,
};
use ferry_proto::model::{Address, CustomerPlan, OrderStatus};
use sea_orm::DatabaseConnection;
use serde_json::Value;

use super::customer::customer_body;
use super::{address, amount, effect, integer_quantity, locate, numeric};
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
    let found: wire::Order = wire::read(&found);
    let current = found.financial_status.as_deref().unwrap_or_default();
    let settled = current.eq_ignore_ascii_case(wanted)
        || (cmd.status == OrderStatus::Cancelled && current.eq_ignore_ascii_case("refunded"));
    if settled {
        return effect(reply(true, false), Vec::new());
    }
    let body = wire::Order {
        financial_status: Some(wanted.to_owned()),
        cancelled_at_foreign: (cmd.status == OrderStatus::Cancelled)
            .then(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
        ..wire::Order::default()
    };
    integration
        .client
        .patch("orders.patch", &path, &body)
        .await?;
    effect(reply(true, true), Vec::new())
}

fn order_address(a: &Address, name: Option<String>) -> wire::OrderAddress {
    wire::OrderAddress {
        name,
        address: address(a),
        ..wire::OrderAddress::default()
    }
}

/// The body of `POST orders`: the customer without its address (the order carries the
/// addresses), lines with the product and variant ids of their SKUs.
async fn order_body(
    db: &DatabaseConnection,
    integration: &Integration,
    command: &OrderCreate,
) -> Result<wire::Order, CommandError> {
    let order = command.order.order();
    let customer = match command.order.customer_plan() {
        CustomerPlan::Upsert { customer } => customer.as_ref().clone(),
        CustomerPlan::DefaultDebtor { .. } => order.customer.clone(),
    };
    let buyer = wire::Customer {
        address: None,
        ..customer_body(command.customer_id.as_str(), &customer)
    };
    let mut lines = Vec::new();
    for (i, line) in order.lines.iter().enumerate() {
        let sku = numeric(&line.sku)?;
        let (product, variant) = locate(db, integration, &sku).await?;
        let quantity =
            integer_quantity(&line.quantity.value(), &format!("line {} quantity", i + 1))?;
        lines.push(wire::OrderLine {
            id: Some(format!("{}-{}", order.external_id, i + 1)),
            product_id: Some(product),
            product_variant_id: Some(variant),
            quantity: Some(wire::Amount::from(quantity)),
            price: Some(amount(&line.unit_price)),
            discount: line.discount.as_ref().map(amount),
            ..wire::OrderLine::default()
        });
    }
    let name = customer.full_name();
    Ok(wire::Order {
        id: Some(order.external_id.as_str().to_owned()),
        customer: Some(buyer),
        currency_code: Some(order.currency.as_str().to_owned()),
        order_total: Some(amount(&order.totals.total)),
        tax_total: Some(amount(&order.totals.tax)),
        shipping_total: Some(amount(&order.totals.shipping)),
        processed_at_foreign: Some(
            order
                .placed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        ),
        lines,
        billing_address: order
            .billing_address
            .as_ref()
            .map(|a| order_address(a, name.clone())),
        shipping_address: order
            .shipping_address
            .as_ref()
            .map(|a| order_address(a, name.clone())),
        ..wire::Order::default()
    })
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, order = %cmd.order.order().external_id))]
pub(super) async fn order_create(
    cx: &Cx<'_, Integration>,
    cmd: &OrderCreate,
) -> Executed<OrderCreated> {
    let (db, integration) = (cx.db, &**cx.integration);
    let body = order_body(db, integration, cmd).await?;
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
