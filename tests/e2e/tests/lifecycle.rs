//! The order lifecycle end to end (issue 18, item 2): the sandbox and the five services as
//! separate processes on RabbitMQ and PostgreSQL.
//!
//! Orders MailChimp -> MplusKASSA (the default):
//! - an order cancelled in MailChimp (`financial_status`) is cancelled in MplusKASSA with one
//!   `cancelOrder`; the echo of that cancellation and the MailChimp polls that see the
//!   order again change nothing more;
//! - an order cancelled at the MplusKASSA till reaches MailChimp (`financial_status`
//!   cancelled): the lifecycle runs both ways, whatever the order flow's direction;
//! - both are visible in the orchestrator's sagas (what was carried, or that nothing changed);
//! - a refund of an order MplusKASSA delivered long ago (the seed's) is not carried: its saga
//!   ends skipped with the reason, nothing is left failed;
//! - with `orders.lifecycle` off, a cancellation stays where it was made.
//!
//! Orders MplusKASSA -> MailChimp: a refund at the till (a credit invoice) marks the sale's
//! MailChimp order refunded; the credit invoice is no sale of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, ensure};
use ferry_e2e::{
    Cluster, ClusterOptions, Integration, ServiceKind, System, WebshopOrder, eventually,
    mk_orders_by_ext_id, order_products,
};
use ferry_sandbox::seed::Seed;
use reqwest::Method;
use serde_json::{Value, json};

/// Long enough for a change to travel on the loaded 2-core machine.
const FLOW_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a change that must not travel is given to travel anyway.
const QUIET: Duration = Duration::from_secs(10);

/// The MplusKASSA order with external id `ext`, once there is one.
async fn mk_order(cluster: &Cluster, ext: &str) -> anyhow::Result<Value> {
    eventually(
        &format!("order {ext} in MplusKASSA"),
        FLOW_TIMEOUT,
        || async {
            let mk = cluster.sandbox.state(System::Mpluskassa).await?;
            let orders = mk_orders_by_ext_id(&mk);
            let found = orders.get(ext).context("not there yet")?;
            ensure!(found.len() == 1, "{} orders for {ext}", found.len());
            Ok(found[0].clone())
        },
    )
    .await
}

/// The `cancel_state` of MplusKASSA's order `ext`.
async fn mk_cancel_state(cluster: &Cluster, ext: &str) -> anyhow::Result<String> {
    let mk = cluster.sandbox.state(System::Mpluskassa).await?;
    Ok(mk_orders_by_ext_id(&mk)
        .get(ext)
        .and_then(|o| o[0]["cancel_state"].as_str())
        .unwrap_or_default()
        .to_owned())
}

/// The `financial_status` of MailChimp's order `id`.
async fn mc_financial_status(cluster: &Cluster, store: &str, id: &str) -> anyhow::Result<String> {
    let orders = cluster.mc_orders(store).await?;
    Ok(orders[id]["rec"]["data"]["financial_status"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

async fn until_mc_status(
    cluster: &Cluster,
    store: &str,
    id: &str,
    want: &str,
) -> anyhow::Result<()> {
    eventually(
        &format!("MailChimp order {id} {want}"),
        FLOW_TIMEOUT,
        || async {
            let status = mc_financial_status(cluster, store, id).await?;
            ensure!(status == want, "financial_status {status:?}");
            Ok(())
        },
    )
    .await
}

/// The orchestrator's sagas of order `ext`: `(target, state, outcome)`.
async fn sagas(cluster: &Cluster, ext: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    let list = cluster
        .admin_get(
            ServiceKind::OrderOrchestrator,
            &format!("/api/v1/sagas?external_id={ext}"),
        )
        .await?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
            (text("target"), text("state"), text("outcome"))
        })
        .collect())
}

/// `cancelOrder` calls the sandbox answered so far.
async fn cancel_calls(cluster: &Cluster) -> anyhow::Result<usize> {
    let requests = cluster.sandbox.requests(System::Mpluskassa).await?;
    Ok(requests["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["body"]
                .as_str()
                .is_some_and(|b| b.contains("cancelOrder"))
        })
        .count())
}

/// A webshop order of one seeded product for a new customer.
fn webshop_order<'a>(
    id: &'a str,
    email: &'a str,
    product: &'a (String, String, f64),
) -> WebshopOrder<'a> {
    WebshopOrder {
        id,
        email,
        customer_id: id,
        company: None,
        lines: vec![(product.0.as_str(), product.1.as_str(), 1, product.2)],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellations_reach_the_other_system_both_ways() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let integration = Integration::for_seed(&seed);
    let mut settings = integration.settings.clone();
    let cluster = Cluster::start(ClusterOptions::new("lifecycle"), integration).await?;
    let store = seed.shop.store_id.clone();
    let products = order_products(&seed);
    let product = products.first().context("a product in both systems")?;

    // Cancelled in MailChimp: cancelled in MplusKASSA, once.
    let first = webshop_order("LC-E2E-1", "lc1.e2e@example.nl", product);
    cluster.sandbox.place_order(&store, &first).await?;
    mk_order(&cluster, "LC-E2E-1").await?;
    let calls_before = cancel_calls(&cluster).await?;
    cluster
        .sandbox
        .mailchimp(
            Method::PATCH,
            &format!("/ecommerce/stores/{store}/orders/LC-E2E-1"),
            Some(&json!({"financial_status": "cancelled"})),
        )
        .await?;
    eventually("LC-E2E-1 cancelled in MplusKASSA", FLOW_TIMEOUT, || async {
        let state = mk_cancel_state(&cluster, "LC-E2E-1").await?;
        ensure!(
            state == "ORDER-CANCEL-STATE-COMPLETE",
            "cancel_state {state}"
        );
        Ok(())
    })
    .await?;
    // Its echo (MplusKASSA's cancelled order, seen by the connector) goes to MailChimp and
    // finds it cancelled already.
    eventually("the echo's saga", FLOW_TIMEOUT, || async {
        let sagas = sagas(&cluster, "LC-E2E-1").await?;
        let to_mk = sagas
            .iter()
            .find(|s| s.0 == "mpluskassa")
            .context("to MplusKASSA")?;
        ensure!(
            to_mk.1 == "completed" && to_mk.2.starts_with("cancelled in mpluskassa"),
            "{to_mk:?}"
        );
        let echo = sagas
            .iter()
            .find(|s| s.0 == "mailchimp")
            .context("the echo")?;
        ensure!(
            echo.1 == "completed" && echo.2.contains("already"),
            "{echo:?}"
        );
        Ok(())
    })
    .await?;
    tokio::time::sleep(QUIET).await;
    ensure!(
        cancel_calls(&cluster).await? == calls_before + 1,
        "cancelOrder more than once"
    );
    ensure!(mc_financial_status(&cluster, &store, "LC-E2E-1").await? == "cancelled");

    // Cancelled at the MplusKASSA till: cancelled in MailChimp.
    let second = webshop_order("LC-E2E-2", "lc2.e2e@example.nl", product);
    cluster.sandbox.place_order(&store, &second).await?;
    let order = mk_order(&cluster, "LC-E2E-2").await?;
    let order_id = order["order_id"].as_str().context("order_id")?;
    cluster.sandbox.cancel_mk_order(order_id).await?;
    until_mc_status(&cluster, &store, "LC-E2E-2", "cancelled").await?;

    // The seed's refunded webshop order was delivered in MplusKASSA long ago: the refund is
    // not carried (a credit invoice at the till undoes a delivered order), the saga says why,
    // and nothing is left failed for an operator.
    let refunded = seed
        .orders
        .iter()
        .find(|o| o.financial_status == "refunded" && o.in_mailchimp && o.in_mpluskassa)
        .context("a refunded order in both systems in the seed")?;
    eventually("the seeded refund's saga", FLOW_TIMEOUT, || async {
        let sagas = sagas(&cluster, &refunded.id).await?;
        let to_mk = sagas
            .iter()
            .find(|s| s.0 == "mpluskassa")
            .context("no saga yet")?;
        ensure!(
            to_mk.1 == "skipped"
                && to_mk.2.contains("not carried")
                && to_mk.2.contains("delivered"),
            "{to_mk:?}"
        );
        Ok(())
    })
    .await?;

    // Switched off: a cancellation in MailChimp stays there.
    settings["orders"]["lifecycle"] = json!(false);
    cluster.save_settings(&settings, "no lifecycle").await?;
    let third = webshop_order("LC-E2E-3", "lc3.e2e@example.nl", product);
    cluster.sandbox.place_order(&store, &third).await?;
    mk_order(&cluster, "LC-E2E-3").await?;
    cluster
        .sandbox
        .mailchimp(
            Method::PATCH,
            &format!("/ecommerce/stores/{store}/orders/LC-E2E-3"),
            Some(&json!({"financial_status": "cancelled"})),
        )
        .await?;
    tokio::time::sleep(QUIET).await;
    let state = mk_cancel_state(&cluster, "LC-E2E-3").await?;
    ensure!(
        state != "ORDER-CANCEL-STATE-COMPLETE",
        "orders.lifecycle off, yet the order was cancelled in MplusKASSA"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_at_the_till_marks_the_mailchimp_order_refunded() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let mut integration = Integration::for_seed(&seed);
    integration.settings["flows"] = json!({
        "orders": {"enabled": true, "direction": "mpluskassa_to_mailchimp"}
    });
    let cluster = Cluster::start(ClusterOptions::new("till-refund"), integration).await?;
    let store = seed.shop.store_id.clone();
    let customer = seed
        .customers
        .iter()
        .find(|c| c.in_mpluskassa)
        .context("a relation")?;
    let mk = cluster.sandbox.state(System::Mpluskassa).await?;
    let article = mk["orders"]
        .as_object()
        .into_iter()
        .flatten()
        .find_map(|(_, o)| o["lines"][0]["article_number"].as_i64())
        .context("an article sold before")?;
    let sold = cluster
        .sandbox
        .till_sale(&json!({"relation_number": customer.relation_number,
                           "lines": [{"article_number": article, "quantity": 2}]}))
        .await?;
    cluster.until_mc_order(&store, &sold, FLOW_TIMEOUT).await?;
    let before = cluster.mc_orders(&store).await?;
    let credit = cluster.sandbox.till_refund(&sold).await?;
    until_mc_status(&cluster, &store, &sold, "refunded").await?;
    tokio::time::sleep(QUIET).await;
    let after = cluster.mc_orders(&store).await?;
    ensure!(
        after[&credit].is_null(),
        "the credit invoice became an order of its own"
    );
    // (The store may gain other orders meanwhile: the initial sync of the seed's sales can
    // still be running, so counting all orders would race it.)
    let credited_as_new = after
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(id, _)| before.get(id.as_str()).is_none())
        .any(|(_, o)| {
            o["rec"]["data"]["order_total"]
                .as_f64()
                .is_some_and(|t| t < 0.0)
        });
    ensure!(
        !credited_as_new,
        "a negative (credit) order was added by the refund"
    );
    Ok(())
}
