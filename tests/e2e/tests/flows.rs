//! Every flow of the specification end to end: the sandbox and the five services as separate
//! processes on RabbitMQ and PostgreSQL, one integration of the seed shop, checked by reading
//! the simulators' state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{anyhow, bail, ensure};
use ferry_e2e::{
    Cluster, ClusterOptions, Integration, ServiceKind, System, WebshopOrder, eventually,
    expect_mc_stock, mc_store, mc_variants_by_sku, mk_orders_by_ext_id, mk_relations_by_email,
    mk_simple_product,
};
use ferry_sandbox::seed::Seed;
use reqwest::Method;
use serde_json::json;

/// Employee number booked on MplusKASSA orders (the seed has employee 1001).
const EMPLOYEE: i64 = 1001;
/// Long enough for a flow on the loaded 2-core machine.
const FLOW_TIMEOUT: Duration = Duration::from_secs(90);

/// The operator's setup: settings (employee number, VAT codes and revenue accounts per
/// country) and one custom product mapping (upper-case titles).
fn integration(seed: &Seed) -> Integration {
    let mut integration = Integration::for_seed(seed);
    integration.settings["orders"]["employee_number"] = json!(EMPLOYEE);
    integration.mappings = Some(json!({
        "rules": {
            "products": [{"target": "title", "expr": "upper(source.product.title)"}]
        }
    }));
    integration
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flow_end_to_end() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let cluster = Cluster::start(ClusterOptions::new("flows"), integration(&seed)).await?;
    let store_id = seed.shop.store_id.clone();

    // --- The initial sync: customers, products, stock, orders. -----------------------------
    let webshop_only = ferry_e2e::webshop_orders_to_sync(&seed);
    ensure!(
        !webshop_only.is_empty(),
        "the seed has webshop orders to sync"
    );
    let (mk, mc) = eventually("every seed flow synced", FLOW_TIMEOUT, || async {
        let mk = cluster.sandbox.state(System::Mpluskassa).await?;
        let mc = cluster.sandbox.state(System::Mailchimp).await?;
        let orders = mk_orders_by_ext_id(&mk);
        let missing: Vec<&str> = webshop_only
            .iter()
            .filter(|o| !orders.contains_key(&o.id))
            .map(|o| o.id.as_str())
            .collect();
        ensure!(
            missing.is_empty(),
            "orders not in MplusKASSA yet: {missing:?}"
        );
        // Cancelled in MailChimp before it reached MplusKASSA: never created there.
        for o in seed
            .orders
            .iter()
            .filter(|o| o.in_mailchimp && !o.in_mpluskassa && o.financial_status == "cancelled")
        {
            ensure!(
                !orders.contains_key(&o.id),
                "the cancelled order {} was created in MplusKASSA",
                o.id
            );
        }
        let relations = mk_relations_by_email(&mk);
        let missing: Vec<u64> = expected_customers(&seed)
            .filter(|c| !relations.contains_key(&c.email))
            .map(|c| c.relation_number)
            .collect();
        ensure!(
            missing.is_empty(),
            "customers not in MplusKASSA yet: {missing:?}"
        );
        let variants = mc_variants_by_sku(mc_store(&mc, &store_id));
        for p in seed.products.iter().filter(|p| !p.in_mailchimp) {
            for v in p
                .variants
                .iter()
                .filter(|v| v.sku.chars().all(|c| c.is_ascii_digit()))
            {
                ensure!(
                    variants.contains_key(&v.sku),
                    "SKU {} not in MailChimp yet",
                    v.sku
                );
            }
        }
        Ok((mk, mc))
    })
    .await?;
    let relations = mk_relations_by_email(&mk);
    let orders = mk_orders_by_ext_id(&mk);
    let store = mc_store(&mc, &store_id);
    let variants = mc_variants_by_sku(store);

    // Customers (through the customer flow and the orders): every MailChimp customer is an
    // MplusKASSA relation, companies as a company with contact, persons as persons; none twice.
    for c in expected_customers(&seed) {
        let found = relations
            .get(&c.email)
            .ok_or_else(|| anyhow!("customer #{} not created in MplusKASSA", c.relation_number))?;
        ensure!(
            found.len() == 1,
            "customer #{} duplicated: {}",
            c.relation_number,
            found.len()
        );
        let relation = &found[0];
        match &c.company {
            Some(company) => {
                ensure!(
                    relation["company_name"] == company.as_str(),
                    "company of #{}: {relation}",
                    c.relation_number
                );
                ensure!(
                    relation["contact"].as_str().is_some_and(|s| !s.is_empty())
                        || relation["contact_list"]
                            .as_array()
                            .is_some_and(|l| !l.is_empty()),
                    "company #{} has its contact person: {relation}",
                    c.relation_number
                );
            }
            None => ensure!(
                relation["company_name"].as_str().unwrap_or("").is_empty(),
                "person #{} is a personal debtor: {relation}",
                c.relation_number
            ),
        }
    }
    for (email, found) in &relations {
        ensure!(
            found.len() == 1,
            "{} relations share one e-mail address ({})",
            found.len(),
            mask(email)
        );
    }

    // Orders MailChimp -> MplusKASSA: the new ones created once with the employee number and
    // the customer; those already there skipped (never a duplicate).
    let synced = ferry_e2e::webshop_orders_to_sync(&seed);
    for o in seed
        .orders
        .iter()
        .filter(|o| o.in_mpluskassa || synced.iter().any(|s| s.id == o.id))
        .filter(|o| o.in_mailchimp)
    {
        let found = orders
            .get(&o.id)
            .ok_or_else(|| anyhow!("order {} missing", o.id))?;
        ensure!(
            found.len() == 1,
            "order {} exists {} times",
            o.id,
            found.len()
        );
        if !o.in_mpluskassa {
            let order = &found[0];
            ensure!(
                order["employee_number"] == EMPLOYEE,
                "employee number of {}: {order}",
                o.id
            );
            let relation = &relations[&o.customer_email][0];
            ensure!(
                order["relation_number"] == relation["relation_number"],
                "customer of {}: {order}",
                o.id
            );
            for line in order["lines"].as_array().into_iter().flatten() {
                ensure!(line["vat_code"] == 1, "VAT code on {}: {line}", o.id);
            }
        }
    }

    // Products MplusKASSA -> MailChimp: by SKU, never twice; the custom mapping applied;
    // categories as the product type; configurable products with every variant.
    for (sku, found) in &variants {
        ensure!(
            found.len() == 1,
            "SKU {sku} is in MailChimp {} times: {found:?}",
            found.len()
        );
    }
    for p in &seed.products {
        let numeric = p
            .variants
            .iter()
            .all(|v| v.sku.chars().all(|c| c.is_ascii_digit()));
        if !numeric {
            for v in &p.variants {
                ensure!(
                    !variants.contains_key(&v.sku),
                    "non-numeric SKU {} sent to MailChimp",
                    v.sku
                );
            }
            continue;
        }
        let product_id = &variants[&p.variants[0].sku][0].0;
        let product = &store["products"][product_id]["rec"]["data"];
        ensure!(
            product["title"] == p.title.to_uppercase().as_str(),
            "custom title mapping on {}: {product}",
            p.product_number
        );
        for v in &p.variants {
            ensure!(
                variants[&v.sku][0].0 == *product_id,
                "variant {} belongs to product {product_id}",
                v.sku
            );
        }
        if !p.in_mailchimp {
            let group = seed
                .article_groups
                .iter()
                .find(|g| g.number == p.article_group)
                .unwrap();
            ensure!(
                product["type"] == group.name.as_str(),
                "category of {}: {product}",
                p.product_number
            );
        }
    }

    // Non-numeric SKUs: parked with a clear reason, visible in the notifier's parking lot.
    let parked = cluster
        .admin_get(ServiceKind::Notifier, "/api/v1/dead-letters")
        .await?;
    for sku in ["GC-25", "SVC-REPAIR"] {
        ensure!(
            parked.to_string().contains(sku) && parked.to_string().contains("non_numeric_sku"),
            "{sku} parked with its reason: {parked}"
        );
    }

    // Stock (default calculation: physical minus reserved, never below 0; from MplusKASSA
    // physical is `amountFree + amountReserved`, so `amountFree`) of branch 1, for the SKUs
    // no order touches (orders booked in MplusKASSA change its stock meanwhile).
    let ordered: std::collections::BTreeSet<&str> = seed
        .orders
        .iter()
        .flat_map(|o| o.lines.iter().map(|l| l.sku.as_str()))
        .collect();
    expect_mc_stock(
        &cluster.sandbox,
        &seed,
        |sku| ordered.contains(sku),
        "physical minus reserved",
        FLOW_TIMEOUT,
        |level| level.amount_free.max(0),
    )
    .await?;

    // --- Customer update by e-mail. ------------------------------------------------------
    let existing = seed
        .customers
        .iter()
        .find(|c| c.in_mpluskassa && c.in_mailchimp_store && c.company.is_none())
        .unwrap();
    cluster
        .sandbox
        .mailchimp(
            Method::PATCH,
            &format!(
                "/ecommerce/stores/{store_id}/customers/{}",
                existing.mailchimp_id
            ),
            Some(&json!({"last_name": "Updated-E2E"})),
        )
        .await?;
    eventually(
        "the customer update in MplusKASSA",
        FLOW_TIMEOUT,
        || async {
            let mk = cluster.sandbox.state(System::Mpluskassa).await?;
            let relations = mk_relations_by_email(&mk);
            let found = &relations[&existing.email];
            ensure!(found.len() == 1, "updated customer duplicated");
            ensure!(
                found[0]["name"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Updated-E2E"),
                "not updated: {}",
                found[0]["name"]
            );
            Ok(())
        },
    )
    .await?;

    // --- An order whose product is missing in MplusKASSA: parked, resumed when it appears. ---
    let sku = "199901";
    cluster
        .sandbox
        .mailchimp(
            Method::PUT,
            &format!("/ecommerce/stores/{store_id}/products/1999"),
            Some(&json!({
                "id": "1999", "title": "E2E Lamp",
                "variants": [{"id": sku, "sku": sku, "title": "E2E Lamp", "price": 49.95}]
            })),
        )
        .await?;
    let new_email = "inkoop.e2e-lampen@example.nl";
    let order = WebshopOrder {
        id: "WS-E2E-1",
        email: new_email,
        customer_id: "e2e-9001",
        company: Some("E2E Lampen BV"),
        lines: vec![("1999", sku, 1, 49.95)],
    };
    cluster.sandbox.place_order(&store_id, &order).await?;
    eventually(
        "the order waiting for its product",
        FLOW_TIMEOUT,
        || async {
            let sagas = cluster
                .admin_get(
                    ServiceKind::OrderOrchestrator,
                    "/api/v1/sagas?external_id=WS-E2E-1",
                )
                .await?;
            let state = sagas[0]["state"].as_str().unwrap_or("none");
            if state != "waiting_products" {
                bail!("saga state {state}: {sagas}");
            }
            Ok(())
        },
    )
    .await?;
    let mk = cluster.sandbox.state(System::Mpluskassa).await?;
    ensure!(
        !mk_orders_by_ext_id(&mk).contains_key("WS-E2E-1"),
        "no order without its product"
    );
    let client = cluster.sandbox.mpluskassa_client()?;
    client
        .create_product(&mk_simple_product(sku, "E2E Lamp"))
        .await?;
    let order = eventually("the resumed order in MplusKASSA", FLOW_TIMEOUT, || async {
        let mk = cluster.sandbox.state(System::Mpluskassa).await?;
        let orders = mk_orders_by_ext_id(&mk);
        let found = orders
            .get("WS-E2E-1")
            .ok_or_else(|| anyhow!("not created yet"))?;
        ensure!(found.len() == 1, "created {} times", found.len());
        let relations = mk_relations_by_email(&mk);
        let customer = relations
            .get(new_email)
            .ok_or_else(|| anyhow!("customer not created"))?;
        ensure!(customer.len() == 1, "customer duplicated");
        ensure!(
            customer[0]["company_name"] == "E2E Lampen BV",
            "company debtor: {}",
            customer[0]
        );
        ensure!(
            found[0]["relation_number"] == customer[0]["relation_number"],
            "booked on the customer"
        );
        Ok(found[0].clone())
    })
    .await?;
    ensure!(
        order["employee_number"] == EMPLOYEE,
        "employee number: {order}"
    );

    // The notifier saw all of it; nothing crashed; no secret in any log.
    let activity = cluster
        .admin_get(ServiceKind::Notifier, "/api/v1/activity?limit=5")
        .await?;
    ensure!(
        activity.to_string().contains(&cluster.integration.id),
        "activity recorded: {activity}"
    );
    let mut cluster = cluster;
    let crashed = cluster.crashed();
    ensure!(crashed.is_empty(), "crashed: {crashed:?}");
    for secret in [ferry_e2e::MAILCHIMP_API_KEY, ferry_e2e::MPLUSKASSA_SECRET] {
        let leaks = cluster.logs_containing(secret);
        ensure!(
            leaks.is_empty(),
            "a secret in the logs: {:?}",
            &leaks[..leaks.len().min(3)]
        );
    }
    Ok(())
}

/// The MailChimp customers (store customers, audience members not cleaned) that are not in
/// MplusKASSA yet.
fn expected_customers(seed: &Seed) -> impl Iterator<Item = &ferry_sandbox::seed::Customer> {
    seed.customers.iter().filter(|c| {
        !c.in_mpluskassa
            && (c.in_mailchimp_store
                || c.member_status
                    .is_some_and(|s| s != ferry_sandbox::seed::MemberStatus::Cleaned))
    })
}

fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((user, domain)) => format!("{}***@{domain}", user.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}
