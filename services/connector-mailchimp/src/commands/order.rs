//! `order.find` and `order.create`: orders by their number, created once.

use ferry_platform::connector::{CommandError, Cx, Executed, Xref};
use ferry_proto::System;
use ferry_proto::messages::{OrderCreate, OrderCreated, OrderFind, OrderFound};
use ferry_proto::model::{Address, CustomerPlan};
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
