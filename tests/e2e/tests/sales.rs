//! Till sales to MailChimp end to end (issue 18, item 1): the sandbox and the five services
//! as separate processes on RabbitMQ and PostgreSQL, orders flowing MplusKASSA -> MailChimp
//! with the default `orders.source_types` (both).
//!
//! - A till sale with a known customer becomes one MailChimp store order (the invoice id as
//!   its id) with its lines and customer.
//! - A sale without a customer is not sent (no `orders.walk_in_relation`): never a made-up
//!   e-mail address.
//! - An order that became an invoice (`deliverOrder`) stays one MailChimp order.
//! - `orders.source_types = orders` stops till sales.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, ensure};
use ferry_e2e::{Cluster, ClusterOptions, Integration, ServiceKind, System, mc_store};
use ferry_sandbox::seed::Seed;
use reqwest::Method;
use serde_json::json;

/// Long enough for a flow on the loaded 2-core machine.
const FLOW_TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn till_sales_reach_mailchimp_once() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let mut integration = Integration::for_seed(&seed);
    integration.settings["flows"] = json!({
        "orders": {"enabled": true, "direction": "mpluskassa_to_mailchimp"}
    });
    let mut settings = integration.settings.clone();
    let cluster = Cluster::start(ClusterOptions::new("till-sales"), integration).await?;
    let store_id = seed.shop.store_id.clone();

    // A point-of-sale order MplusKASSA has and MailChimp gets (its MplusKASSA order id).
    let mk = cluster.sandbox.state(System::Mpluskassa).await?;
    let pos = seed
        .orders
        .iter()
        .find(|o| o.in_mpluskassa && !o.in_mailchimp)
        .context("an MplusKASSA-only order in the seed")?;
    let (pos_id, mk_order) = mk["orders"]
        .as_object()
        .into_iter()
        .flatten()
        .find(|(_, o)| o["reference"] == pos.id.as_str())
        .map(|(id, o)| (id.clone(), o.clone()))
        .context("the order in MplusKASSA")?;
    cluster
        .until_mc_order(&store_id, &pos_id, FLOW_TIMEOUT)
        .await?;

    // A stock article MailChimp knows (a line of that order) and a customer with an e-mail.
    let line = &mk_order["lines"][0];
    let article = line["article_number"].as_i64().context("article")?;
    let sku = line["plu_number"].as_str().context("plu")?.to_owned();
    let customer = seed
        .customers
        .iter()
        .find(|c| c.in_mpluskassa)
        .context("a relation")?;

    // An order entered at the shop reaches MailChimp as an order (its external id).
    let order_id = cluster
        .sandbox
        .enter_mk_order("SHOP-E2E-1", customer.relation_number, article, 1)
        .await?;
    cluster
        .until_mc_order(&store_id, "SHOP-E2E-1", FLOW_TIMEOUT)
        .await?;

    // The anonymous sale first, then the customer's: once the second is in MailChimp, the
    // first was passed too.
    let anonymous = cluster
        .sandbox
        .till_sale(&json!({"lines": [{"article_number": article, "quantity": 1}]}))
        .await?;
    let sold = cluster
        .sandbox
        .till_sale(&json!({"relation_number": customer.relation_number,
               "lines": [{"article_number": article, "quantity": 3, "price": 1500}]}))
        .await?;
    let orders = cluster
        .until_mc_order(&store_id, &sold, FLOW_TIMEOUT)
        .await?;
    let order = &orders[&sold];
    let customer_id = order["rec"]["data"]["customer"]["id"]
        .as_str()
        .unwrap_or_default();
    let mc = cluster.sandbox.state(System::Mailchimp).await?;
    let mc_customer = &mc_store(&mc, &store_id)["customers"][customer_id]["data"];
    ensure!(
        mc_customer["email_address"].as_str().map(str::to_lowercase)
            == Some(customer.email.to_lowercase()),
        "the sale's customer: {mc_customer}"
    );
    let lines: Vec<(String, u64)> = order["lines"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, l)| {
            (
                l["data"]["product_variant_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                l["data"]["quantity"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    ensure!(
        lines == vec![(sku.clone(), 3)],
        "lines of the sale: {lines:?}"
    );
    ensure!(
        orders[&anonymous].is_null(),
        "a sale without a customer was sent: {}",
        orders[&anonymous]
    );

    // The shop order is delivered and invoiced: still one MailChimp order. A later
    // sale shows the invoice was read before it.
    let before = orders.as_object().map_or(0, serde_json::Map::len);
    cluster.sandbox.deliver_mk_order(&order_id).await?;
    let barrier = cluster
        .sandbox
        .till_sale(&json!({"relation_number": customer.relation_number,
               "lines": [{"article_number": article, "quantity": 1}]}))
        .await?;
    let orders = cluster
        .until_mc_order(&store_id, &barrier, FLOW_TIMEOUT)
        .await?;
    let after = orders.as_object().map_or(0, serde_json::Map::len);
    ensure!(
        after == before + 1,
        "the invoiced order became a second MailChimp order: {before} -> {after} orders"
    );

    // orders.source_types = orders: till sales are no longer sent.
    settings["orders"]["source_types"] = json!("orders");
    cluster
        .admin(
            Method::PUT,
            ServiceKind::Mapper,
            &format!("/api/v1/integrations/{}/settings", cluster.integration.id),
            Some(&json!({"document": settings, "comment": "orders only"})),
        )
        .await?;
    let skipped = cluster
        .sandbox
        .till_sale(&json!({"relation_number": customer.relation_number,
               "lines": [{"article_number": article, "quantity": 1}]}))
        .await?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let orders = cluster.mc_orders(&store_id).await?;
    ensure!(
        orders[&skipped].is_null(),
        "orders.source_types = orders sent a till sale"
    );
    Ok(())
}
