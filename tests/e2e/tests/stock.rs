//! Stock semantics end to end, proved against till sales (issue 18, item 5): the sandbox and
//! the five services as separate processes on RabbitMQ and PostgreSQL, stock flowing
//! MplusKASSA -> MailChimp with the default calculation.
//!
//! MplusKASSA's `getStock` reports `amountFree` (on hand minus what open orders reserve)
//! and `amountReserved`; the connector makes physical = free + reserved, available = free;
//! the default calculation sends physical minus reserved. One stock article with a
//! reservation of the seed's own is followed through a stock correction, an open order, a
//! till sale, a second order that is cancelled and the delivery of the first: after each,
//! MailChimp's `inventory_quantity` of the variant is the default calculation's figure.
//! Then the settings change to `physical`, which is on hand: the seed's reservation
//! included, the delivered goods gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use ferry_connector_mpluskassa::client::MplusClient;
use ferry_e2e::{
    Cluster, ClusterOptions, Integration, System, eventually, mc_store, mc_variants_by_sku,
};
use ferry_sandbox::seed::Seed;
use rust_decimal::Decimal;
use serde_json::json;

/// Long enough for a change to travel on the loaded 2-core machine.
const FLOW_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until MailChimp shows `want` as the inventory of the variant `sku`.
async fn expect_inventory(
    cluster: &Cluster,
    store_id: &str,
    sku: &str,
    want: i64,
    after: &str,
) -> anyhow::Result<()> {
    eventually(
        &format!("MailChimp's stock of {sku} after {after}"),
        FLOW_TIMEOUT,
        || async {
            let mc = cluster.sandbox.state(System::Mailchimp).await?;
            let variants = mc_variants_by_sku(mc_store(&mc, store_id));
            let found = variants.get(sku).context("variant missing")?;
            let actual = &found[0].1["inventory_quantity"];
            ensure!(*actual == want, "inventory {actual}, expected {want}");
            Ok(())
        },
    )
    .await
}

/// `(amountFree, amountReserved)` of `article` in branch 1, read with `getStock`.
async fn free_and_reserved(mk: &MplusClient, article: i64) -> anyhow::Result<(i64, i64)> {
    let levels = mk.stock(1, &[article], None).await?;
    let level = levels
        .into_iter()
        .next()
        .context("getStock of the article")?
        .record
        .map_err(|e| anyhow!("getStock: {e}"))?;
    let whole = |d: Decimal| i64::try_from(d).map_err(|e| anyhow!("{d}: {e}"));
    Ok((whole(level.free)?, whole(level.reserved)?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailchimp_stock_follows_orders_till_sales_and_deliveries() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let integration = Integration::for_seed(&seed);
    let mut settings = integration.settings.clone();
    let store_id = seed.shop.store_id.clone();
    // A branch-1 stock level with a reservation of the seed's own, of a variant MailChimp
    // has, which no seeded order names.
    let ordered: BTreeSet<&str> = seed
        .orders
        .iter()
        .flat_map(|o| o.lines.iter().map(|l| l.sku.as_str()))
        .collect();
    let level = seed
        .stock
        .iter()
        .find(|s| {
            s.branch == 1
                && s.amount_reserved > 0
                && !ordered.contains(s.sku.as_str())
                && seed.variant(&s.sku).is_some_and(|(p, _)| p.in_mailchimp)
        })
        .context("a reserved stock level of a MailChimp variant in the seed")?;
    let sku = level.sku.clone();
    let seeded_reserved = level.amount_reserved;
    let article = i64::try_from(seed.variant(&sku).context("variant")?.1.article_number)?;
    let customer = seed
        .customers
        .iter()
        .find(|c| c.in_mpluskassa)
        .context("a relation")?;
    let cluster = Cluster::start(ClusterOptions::new("stock"), integration).await?;
    let mk = cluster.sandbox.mpluskassa_client()?;

    // Known stock: 20 free (setStock names free stock), the seed's reservation stays.
    mk.set_stock(1, article, Decimal::from(20), None).await?;
    let now = free_and_reserved(&mk, article).await?;
    ensure!(
        now == (20, seeded_reserved),
        "getStock after setStock: {now:?}"
    );
    expect_inventory(&cluster, &store_id, &sku, 20, "setStock 20").await?;

    // An open order reserves 3: free 17.
    let first = cluster
        .sandbox
        .enter_mk_order("STOCK-E2E-1", customer.relation_number, article, 3)
        .await?;
    expect_inventory(&cluster, &store_id, &sku, 17, "an order of 3").await?;

    // A till sale of 2 leaves the shop: free 15.
    cluster
        .sandbox
        .till_sale(&json!({"lines": [{"article_number": article, "quantity": 2}]}))
        .await?;
    expect_inventory(&cluster, &store_id, &sku, 15, "a till sale of 2").await?;

    // A second order of 4, then cancelled: free 11, back to 15.
    let second = cluster
        .sandbox
        .enter_mk_order("STOCK-E2E-2", customer.relation_number, article, 4)
        .await?;
    expect_inventory(&cluster, &store_id, &sku, 11, "an order of 4").await?;
    cluster.sandbox.cancel_mk_order(&second).await?;
    expect_inventory(&cluster, &store_id, &sku, 15, "its cancellation").await?;

    // The first order delivered: its reservation becomes a deduction, free stays 15.
    cluster.sandbox.deliver_mk_order(&first).await?;
    let now = free_and_reserved(&mk, article).await?;
    ensure!(
        now == (15, seeded_reserved),
        "getStock after the delivery: {now:?}"
    );
    // Nothing may have moved: a later sale of 1 is the barrier (14 once it is through).
    cluster
        .sandbox
        .till_sale(&json!({"lines": [{"article_number": article, "quantity": 1}]}))
        .await?;
    expect_inventory(
        &cluster,
        &store_id,
        &sku,
        14,
        "the delivery and a sale of 1",
    )
    .await?;

    // Physical is on hand: 14 free plus the seed's reservation (the delivered 3 are gone;
    // before the delivery it would have been 17 plus it).
    settings["stock"] = json!({"calculation": "physical"});
    cluster.save_settings(&settings, "physical stock").await?;
    cluster.full_resync_mpluskassa("stock").await?;
    expect_inventory(
        &cluster,
        &store_id,
        &sku,
        14 + seeded_reserved,
        "the switch to physical",
    )
    .await?;

    let mut cluster = cluster;
    let crashed = cluster.crashed();
    ensure!(crashed.is_empty(), "crashed: {crashed:?}");
    Ok(())
}
