//! The settings-driven flows end to end (issue 9): the sandbox and the five services as
//! separate processes on RabbitMQ and PostgreSQL, the settings saved (and changed between
//! phases) through the mapper's admin API, the outcome read from the simulators' state.
//!
//! - `mpluskassa_to_mailchimp_orders_customers_and_stock_calculations`: orders and customers
//!   in the direction MplusKASSA -> MailChimp; the stock calculations `available`, `physical`
//!   with a buffer, and `manage_stock = false`.
//! - `default_debtor_payment_methods_and_no_product_overwrite`: orders MailChimp ->
//!   MplusKASSA booked on the default debtor with the payment-method map, and products with
//!   `overwrite_existing = false`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{anyhow, ensure};
use ferry_connector_mpluskassa::soap::requests::{LineWrite, OrderWrite, RelationWrite};
use ferry_e2e::{
    Cluster, ClusterOptions, Integration, ServiceKind, System, WebshopOrder, eventually,
    expect_mc_stock, mc_store, mc_variants_by_sku, mk_orders_by_ext_id, mk_relations_by_email,
    mk_simple_product, order_products,
};
use ferry_sandbox::seed::{Seed, StockLevel};
use reqwest::Method;
use serde_json::{Value, json};

/// Long enough for a flow on the loaded 2-core machine.
const FLOW_TIMEOUT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------
// Orders, customers and stock from MplusKASSA to MailChimp
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpluskassa_to_mailchimp_orders_customers_and_stock_calculations() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let mut integration = Integration::for_seed(&seed);
    integration.settings["flows"] = json!({
        "orders": {"enabled": true, "direction": "mpluskassa_to_mailchimp"},
        "customers": {"enabled": true, "direction": "mpluskassa_to_mailchimp"}
    });
    integration.settings["stock"] = json!({"calculation": "available"});
    let mut settings = integration.settings.clone();
    let cluster = Cluster::start(ClusterOptions::new("settings-reverse"), integration).await?;
    let store_id = seed.shop.store_id.clone();

    // Customers: every MplusKASSA relation is one MailChimp store customer (by e-mail; those
    // MailChimp had already are updated, not created again), companies with their name.
    let relations: Vec<_> = seed.customers.iter().filter(|c| c.in_mpluskassa).collect();
    let mc = eventually("the relations in MailChimp", FLOW_TIMEOUT, || async {
        let mc = cluster.sandbox.state(System::Mailchimp).await?;
        let customers = mc_customers_by_email(mc_store(&mc, &store_id));
        let missing: Vec<u64> = relations
            .iter()
            .filter(|c| !customers.contains_key(&c.email))
            .map(|c| c.relation_number)
            .collect();
        ensure!(
            missing.is_empty(),
            "relations not in MailChimp yet: {missing:?}"
        );
        Ok(mc)
    })
    .await?;
    let customers = mc_customers_by_email(mc_store(&mc, &store_id));
    for (email, found) in &customers {
        ensure!(
            found.len() == 1,
            "{} MailChimp customers share one e-mail address ({})",
            found.len(),
            mask(email)
        );
    }
    for c in &relations {
        let customer = &customers[&c.email][0];
        if c.in_mailchimp_store {
            ensure!(
                customer["id"] == c.mailchimp_id.as_str(),
                "relation #{} updated the existing MailChimp customer: {customer}",
                c.relation_number
            );
        }
        if let Some(company) = &c.company {
            ensure!(
                customer["company"] == company.as_str(),
                "company of relation #{}: {customer}",
                c.relation_number
            );
        }
    }

    // Orders: the point-of-sale orders only MplusKASSA has appear once in MailChimp's store,
    // with their lines and their customer. Entered at the till, they have no external order
    // id: MailChimp gets MplusKASSA's own order id. The webshop orders MplusKASSA has (with
    // their MailChimp number as external id) are found in MailChimp and not created again.
    let mk = cluster.sandbox.state(System::Mpluskassa).await?;
    let mk_ids: BTreeMap<&str, &str> = mk["orders"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, o)| Some((o["reference"].as_str()?, o["order_id"].as_str()?)))
        .collect();
    let pos_orders: Vec<_> = seed
        .orders
        .iter()
        .filter(|o| o.in_mpluskassa && !o.in_mailchimp)
        .map(|o| (mk_ids[o.id.as_str()].to_owned(), o))
        .collect();
    ensure!(
        !pos_orders.is_empty(),
        "the seed has MplusKASSA-only orders"
    );
    let mc = eventually(
        "the MplusKASSA orders in MailChimp",
        FLOW_TIMEOUT,
        || async {
            let mc = cluster.sandbox.state(System::Mailchimp).await?;
            let store = mc_store(&mc, &store_id);
            let missing: Vec<&str> = pos_orders
                .iter()
                .filter(|(id, _)| store["orders"][id].is_null())
                .map(|(_, o)| o.id.as_str())
                .collect();
            ensure!(
                missing.is_empty(),
                "orders not in MailChimp yet: {missing:?}"
            );
            Ok(mc)
        },
    )
    .await?;
    let store = mc_store(&mc, &store_id);
    for (id, o) in &pos_orders {
        let lines: Vec<(String, u64)> = o
            .lines
            .iter()
            .map(|l| (l.sku.clone(), u64::from(l.quantity)))
            .collect();
        check_mc_order(store, id, &o.customer_email, &lines)?;
    }
    let mc_orders_before = store["orders"].as_object().map_or(0, |o| o.len());
    ensure!(
        mc_orders_before
            == seed.orders.iter().filter(|o| o.in_mailchimp).count() + pos_orders.len(),
        "MailChimp holds exactly the seed's and the synced orders: {mc_orders_before}"
    );

    // A shop's new customer and order in MplusKASSA: both reach MailChimp once.
    let client = cluster.sandbox.mpluskassa_client()?;
    let email = "noor.visser.e2e@example.nl";
    let relation = RelationWrite {
        name: "Noor Visser".into(),
        address: Some("Damrak 1".into()),
        zipcode: Some("1012 LG".into()),
        city: Some("Amsterdam".into()),
        country: Some("NL".into()),
        email: Some(email.into()),
        ..RelationWrite::default()
    };
    let relation_number = client.create_relation(&relation).await?;
    let products: Vec<_> = order_products(&seed).into_iter().take(2).collect();
    let ordered: Vec<(String, u64)> = products.iter().map(|p| (p.1.clone(), 2)).collect();
    let order_id = "POS-E2E-1";
    client
        .create_order_v3(
            &mk_order(&seed, order_id, relation_number, &products),
            "e2e-pos-order-1",
            &[],
        )
        .await?;
    eventually(
        "the new MplusKASSA order in MailChimp",
        FLOW_TIMEOUT,
        || async {
            let mc = cluster.sandbox.state(System::Mailchimp).await?;
            check_mc_order(mc_store(&mc, &store_id), order_id, email, &ordered)
        },
    )
    .await?;

    // Observing it again (a full resync of the orders) does not duplicate it: the saga sees
    // the repeated event and ignores it.
    cluster.full_resync_mpluskassa("orders").await?;
    eventually("the repeated order event ignored", FLOW_TIMEOUT, || async {
        let sagas = cluster
            .admin_get(
                ServiceKind::OrderOrchestrator,
                &format!("/api/v1/sagas?external_id={order_id}"),
            )
            .await?;
        let sagas = sagas.as_array().cloned().unwrap_or_default();
        ensure!(sagas.len() == 1, "one saga for the order: {sagas:?}");
        let saga = cluster
            .admin_get(
                ServiceKind::OrderOrchestrator,
                &format!("/api/v1/sagas/{}", sagas[0]["id"].as_str().unwrap_or("")),
            )
            .await?;
        ensure!(
            saga["state"] == "completed",
            "saga completed: {}",
            saga["state"]
        );
        let repeated = saga["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["kind"] == "duplicate_order_event");
        ensure!(repeated, "no repeated order event yet");
        Ok(())
    })
    .await?;
    let mc = cluster.sandbox.state(System::Mailchimp).await?;
    let store = mc_store(&mc, &store_id);
    check_mc_order(store, order_id, email, &ordered)?;
    ensure!(
        store["orders"].as_object().map_or(0, |o| o.len()) == mc_orders_before + 1,
        "no order was created twice in MailChimp"
    );

    // A relation changed in MplusKASSA updates its MailChimp customer (by e-mail), not a new one.
    client
        .update_relation(&RelationWrite {
            relation_number: Some(relation_number),
            name: "Noor Visser-Updated".into(),
            email: Some(email.into()),
            ..RelationWrite::default()
        })
        .await?;
    eventually("the customer update in MailChimp", FLOW_TIMEOUT, || async {
        let mc = cluster.sandbox.state(System::Mailchimp).await?;
        let customers = mc_customers_by_email(mc_store(&mc, &store_id));
        let found = customers
            .get(email)
            .ok_or_else(|| anyhow!("customer missing"))?;
        ensure!(found.len() == 1, "customer duplicated: {found:?}");
        ensure!(
            found[0]["last_name"] == "Visser-Updated",
            "not updated: {}",
            found[0]["last_name"]
        );
        Ok(())
    })
    .await?;

    // Stock calculations. The new order reserved stock of its SKUs: those are left out.
    let skip: BTreeSet<String> = products.iter().map(|p| p.1.clone()).collect();
    expect_stock(&cluster, &seed, &skip, "available", |s| s.amount_free).await?;
    settings["stock"] = json!({"calculation": "physical", "buffer": "3"});
    cluster
        .save_settings(&settings, "physical stock, buffer 3")
        .await?;
    // Physical is on hand: MplusKASSA's `amountFree` plus what open orders reserve.
    let physical_minus_3 = |s: &StockLevel| (s.amount_free + s.amount_reserved - 3).max(0);
    ensure!(
        seed.stock.iter().any(|s| s.branch == 1
            && !skip.contains(&s.sku)
            && s.amount_reserved > 0
            && s.amount_free >= 3),
        "the seed has reserved stock, so physical differs from available"
    );
    expect_stock(
        &cluster,
        &seed,
        &skip,
        "physical (free + reserved) minus a buffer of 3",
        physical_minus_3,
    )
    .await?;
    settings["stock"] = json!({"manage_stock": false});
    let switched = chrono::Utc::now();
    cluster
        .save_settings(&settings, "MailChimp does not manage stock")
        .await?;
    // MailChimp has no switch for stock tracking: its inventory is left as the last managed
    // phase set it, while the stock commands still run (and say `managed: false`).
    cluster.full_resync_mpluskassa("stock").await?;
    eventually(
        "stock commands executed after manage_stock was switched off",
        FLOW_TIMEOUT,
        || async {
            let done = cluster
                .admin_get(
                    ServiceKind::Notifier,
                    &format!(
                        "/api/v1/activity?integration_id={}&message_type=stock.set-done&from={}&limit=500",
                        cluster.integration.id,
                        switched.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    ),
                )
                .await?;
            let count = done["items"].as_array().map_or(0, Vec::len);
            ensure!(count >= 20, "{count} stock.set-done since the switch");
            Ok(())
        },
    )
    .await?;
    expect_stock(
        &cluster,
        &seed,
        &skip,
        "manage_stock off: MailChimp's inventory untouched",
        physical_minus_3,
    )
    .await?;

    let mut cluster = cluster;
    let crashed = cluster.crashed();
    ensure!(crashed.is_empty(), "crashed: {crashed:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Default debtor, payment methods, products without overwrite
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_debtor_payment_methods_and_no_product_overwrite() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let debtor = seed
        .customers
        .iter()
        .find(|c| c.in_mpluskassa && c.company.is_some())
        .unwrap()
        .relation_number;
    let mut integration = Integration::for_seed(&seed);
    // The customers flow is off, so that only orders could create or change relations.
    integration.settings["flows"] = json!({
        "customers": {"enabled": false, "direction": "mailchimp_to_mpluskassa"}
    });
    let orders = &mut integration.settings["orders"];
    orders["default_debtor"] = json!({"enabled": true, "relation_id": debtor.to_string()});
    orders["payment_methods"] = json!({"entries": {"ideal": "IDEAL"}, "default": "PIN"});
    // Prices excluding tax for products; orders keep the shop's prices (incl. VAT).
    integration.settings["products"] =
        json!({"overwrite_existing": false, "price": "excluding_tax"});
    let cluster = Cluster::start(ClusterOptions::new("settings-orders"), integration).await?;
    let store_id = seed.shop.store_id.clone();
    let relations_in_seed = seed.customers.iter().filter(|c| c.in_mpluskassa).count();

    // Orders: booked on the default debtor with the mapped payment method; no relation is
    // created or changed for their customers.
    let new_email = "debtor.e2e@example.nl";
    let (id, sku, price) = order_products(&seed).into_iter().next().unwrap();
    let order = WebshopOrder {
        id: "WS-E2E-DEBTOR",
        email: new_email,
        customer_id: "e2e-debtor-1",
        company: None,
        lines: vec![(id.as_str(), sku.as_str(), 1, price)],
    };
    cluster.sandbox.place_order(&store_id, &order).await?;
    let mut expected: Vec<&str> = ferry_e2e::webshop_orders_to_sync(&seed)
        .into_iter()
        .map(|o| o.id.as_str())
        .collect();
    expected.push(order.id);
    let mk = eventually("the webshop orders in MplusKASSA", FLOW_TIMEOUT, || async {
        let mk = cluster.sandbox.state(System::Mpluskassa).await?;
        let orders = mk_orders_by_ext_id(&mk);
        let missing: Vec<&&str> = expected
            .iter()
            .filter(|id| !orders.contains_key(**id))
            .collect();
        ensure!(missing.is_empty(), "not in MplusKASSA yet: {missing:?}");
        Ok(mk)
    })
    .await?;
    let orders = mk_orders_by_ext_id(&mk);
    for id in &expected {
        let found = &orders[*id];
        ensure!(found.len() == 1, "order {id} exists {} times", found.len());
        let o = &found[0];
        ensure!(
            o["relation_number"] == debtor,
            "{id} on the default debtor: {o}"
        );
        ensure!(
            o["employee_number"] == 999_999,
            "default employee on {id}: {o}"
        );
        // MailChimp orders carry no payment method: the map's default applies.
        ensure!(o["payment_method"] == "PIN", "payment method of {id}: {o}");
        let paid: Vec<&Value> = o["payments"].as_array().into_iter().flatten().collect();
        ensure!(
            paid.len() == 1 && paid[0]["method"] == "PIN",
            "{id} paid with PIN: {paid:?}"
        );
    }
    let placed = &orders[order.id][0];
    ensure!(
        placed["vat_method"] == "VAT-METHOD-INCLUSIVE"
            && placed["lines"][0]["price"] == (price * 100.0).round() as i64,
        "the order keeps the shop's price incl. VAT whatever products.price says: {placed}"
    );
    let sagas = cluster
        .admin_get(
            ServiceKind::OrderOrchestrator,
            &format!("/api/v1/sagas?external_id={}", order.id),
        )
        .await?;
    let saga = cluster
        .admin_get(
            ServiceKind::OrderOrchestrator,
            &format!("/api/v1/sagas/{}", sagas[0]["id"].as_str().unwrap_or("")),
        )
        .await?;
    let kinds: Vec<&str> = saga["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    ensure!(
        kinds.contains(&"default_debtor"),
        "the saga used the default debtor: {kinds:?}"
    );
    let relations = mk_relations_by_email(&mk);
    ensure!(
        !relations.contains_key(new_email),
        "no relation created for the order's customer"
    );
    let count = mk["relations"].as_object().map_or(0, |r| r.len());
    ensure!(
        count == relations_in_seed,
        "relations: {count}, the seed has {relations_in_seed}"
    );
    let booked = mk["relations"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, r)| r)
        .find(|r| r["relation_number"] == debtor)
        .ok_or_else(|| anyhow!("default debtor {debtor} missing"))?;
    let seeded = seed
        .customers
        .iter()
        .find(|c| c.relation_number == debtor)
        .unwrap();
    ensure!(
        booked["company_name"] == seeded.company.as_deref().unwrap_or(""),
        "the default debtor is not changed: {booked}"
    );

    // Products with overwrite off: a product MailChimp has (enriched there) keeps its
    // information when MplusKASSA sends it again; a new product is still created.
    let enriched = seed
        .products
        .iter()
        .find(|p| {
            p.in_mailchimp
                && p.in_mpluskassa
                && p.variants.len() == 1
                && p.variants[0].sku.chars().all(|c| c.is_ascii_digit())
        })
        .unwrap();
    let enriched_sku = enriched.variants[0].sku.as_str();
    eventually("the initial product upsert", FLOW_TIMEOUT, || async {
        let n = activity_total(&cluster, enriched_sku, "product.upserted").await?;
        ensure!(n >= 1, "not upserted yet");
        Ok(())
    })
    .await?;
    let product_path = format!(
        "/ecommerce/stores/{store_id}/products/{}",
        enriched.mailchimp_id()
    );
    let enrichment = json!({"title": "Enriched in MailChimp", "description": "A long text written in MailChimp"});
    cluster
        .sandbox
        .mailchimp(Method::PATCH, &product_path, Some(&enrichment))
        .await?;
    let before = activity_total(&cluster, enriched_sku, "product.upserted").await?;
    let client = cluster.sandbox.mpluskassa_client()?;
    let new_sku = "199902";
    client
        .create_product(&mk_simple_product(new_sku, "E2E Desk Lamp"))
        .await?;
    eventually("the new product in MailChimp", FLOW_TIMEOUT, || async {
        let mc = cluster.sandbox.state(System::Mailchimp).await?;
        let variants = mc_variants_by_sku(mc_store(&mc, &store_id));
        let created = variants
            .get(new_sku)
            .ok_or_else(|| anyhow!("new product not in MailChimp yet"))?;
        ensure!(created.len() == 1, "new product created once");
        let product = &mc_store(&mc, &store_id)["products"][&created[0].0]["rec"]["data"];
        ensure!(
            product["title"] == "E2E Desk Lamp",
            "new product: {product}"
        );
        // 19.95 incl. 21% VAT, sent excluding tax (products.price).
        let price = &created[0].1["price"];
        ensure!(
            *price == json!(16.49),
            "price excl. tax of the new product: {price}"
        );
        Ok(())
    })
    .await?;
    // Then every product is sent again (a full resync), the enriched one included.
    cluster.full_resync_mpluskassa("products").await?;
    eventually("the products sent again", FLOW_TIMEOUT, || async {
        let n = activity_total(&cluster, enriched_sku, "product.upserted").await?;
        ensure!(n > before, "{enriched_sku} not sent again yet ({n})");
        Ok(())
    })
    .await?;
    let mc = cluster.sandbox.state(System::Mailchimp).await?;
    let product = &mc_store(&mc, &store_id)["products"][enriched.mailchimp_id()]["rec"]["data"];
    for field in ["title", "description"] {
        ensure!(
            product[field] == enrichment[field],
            "{field} of product {} overwritten: {product}",
            enriched.product_number
        );
    }

    let mut cluster = cluster;
    let crashed = cluster.crashed();
    ensure!(crashed.is_empty(), "crashed: {crashed:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// How many activity rows of the integration have `message_type` for the record `key`.
async fn activity_total(cluster: &Cluster, key: &str, message_type: &str) -> anyhow::Result<u64> {
    let page = cluster
        .admin_get(
            ServiceKind::Notifier,
            &format!(
                "/api/v1/activity?integration_id={}&key={key}&message_type={message_type}&limit=1",
                cluster.integration.id
            ),
        )
        .await?;
    page["total"]
        .as_u64()
        .ok_or_else(|| anyhow!("unexpected activity page {page}"))
}

/// Reads the stock of branch 1 again (full resync) and waits until every MailChimp variant
/// of it (but `skip`) shows `expected`; at least 20 are compared.
async fn expect_stock(
    cluster: &Cluster,
    seed: &Seed,
    skip: &BTreeSet<String>,
    what: &str,
    expected: impl Fn(&StockLevel) -> i64,
) -> anyhow::Result<()> {
    cluster.full_resync_mpluskassa("stock").await?;
    expect_mc_stock(
        &cluster.sandbox,
        seed,
        |sku| skip.contains(sku),
        what,
        FLOW_TIMEOUT,
        expected,
    )
    .await
}

/// MailChimp store customers by lower-case e-mail address (their data).
fn mc_customers_by_email(store: &Value) -> BTreeMap<String, Vec<Value>> {
    let mut found: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (_, c) in store["customers"].as_object().into_iter().flatten() {
        if let Some(email) = c["data"]["email_address"].as_str() {
            found
                .entry(email.to_lowercase())
                .or_default()
                .push(c["data"].clone());
        }
    }
    found
}

/// Checks that MailChimp's order `id` exists with exactly `lines` (SKU, quantity) and is
/// the customer's with `email`.
fn check_mc_order(
    store: &Value,
    id: &str,
    email: &str,
    lines: &[(String, u64)],
) -> anyhow::Result<()> {
    let order = &store["orders"][id];
    ensure!(!order.is_null(), "order {id} not in MailChimp");
    let customer_id = order["rec"]["data"]["customer"]["id"]
        .as_str()
        .unwrap_or_default();
    let customer = &store["customers"][customer_id]["data"];
    ensure!(
        customer["email_address"].as_str().map(str::to_lowercase) == Some(email.to_owned()),
        "customer of {id}: {customer}"
    );
    let mut actual: Vec<(String, u64)> = order["lines"]
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
    let mut want = lines.to_vec();
    actual.sort();
    want.sort();
    ensure!(
        actual == want,
        "lines of {id}: {actual:?}, expected {want:?}"
    );
    Ok(())
}

/// A point-of-sale order in MplusKASSA for `relation`: two of each product (MailChimp id,
/// SKU, unit price), VAT code 1, turnover group 10.
fn mk_order(
    seed: &Seed,
    id: &str,
    relation: i64,
    products: &[(String, String, f64)],
) -> OrderWrite {
    let lines = products
        .iter()
        .map(|(_, sku, price)| {
            let article = seed
                .products
                .iter()
                .flat_map(|p| &p.variants)
                .find(|v| v.sku == *sku)
                .map(|v| v.article_number)
                .unwrap_or_default();
            LineWrite {
                article_number: i64::try_from(article).unwrap_or_default(),
                plu_number: Some(sku.clone()),
                quantity: 2,
                decimal_places: 0,
                price: Some((price * 100.0).round() as i64),
                vat_code: Some(1),
                turnover_group: Some(10),
                ..LineWrite::default()
            }
        })
        .collect();
    OrderWrite {
        ext_order_id: id.to_owned(),
        entry_branch_number: Some(1),
        employee_number: 999_999,
        relation_number: relation,
        reference: Some(id.to_owned()),
        vat_method: "VAT-METHOD-INCLUSIVE",
        payment_method: Some("PIN".into()),
        lines,
        ..OrderWrite::default()
    }
}

fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((user, domain)) => format!("{}***@{domain}", user.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}
