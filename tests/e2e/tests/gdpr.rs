//! A person erased leaves no trace (issue 19, finding 1): they flow through every flow (a
//! customer, an order booked, an order the till refuses whose saga fails and is alerted, an
//! order parked as invalid), an operator erases them through the notifier's API, and then no
//! table of any service's PostgreSQL schema holds their e-mail address, name, street or phone
//! number; every service audited its erase.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::ensure;
use ferry_e2e::{
    Cluster, ClusterOptions, Integration, ServiceKind, System, eventually, mk_orders_by_ext_id,
    mk_relations_by_email,
};
use ferry_sandbox::seed::Seed;
use reqwest::Method;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(90);
const FIRST: &str = "Gerdina";
const LAST: &str = "Vossebeldt";
const STREET: &str = "Zwanenburgwal 77";
const PHONE: &str = "0687654321";

fn customer(email: &str) -> Value {
    json!({
        "id": "gdpr-person", "email_address": email, "opt_in_status": false,
        "first_name": FIRST, "last_name": LAST,
        "address": {"address1": STREET, "city": "Amsterdam", "postal_code": "1011 HE", "country_code": "NL"}
    })
}

fn order(id: &str, email: &str, product: &str, sku: &str, quantity: i32) -> Value {
    let address = json!({
        "name": format!("{FIRST} {LAST}"), "address1": STREET, "city": "Amsterdam",
        "postal_code": "1011 HE", "country": "Netherlands", "country_code": "NL", "phone": PHONE
    });
    json!({
        "id": id, "customer": customer(email), "currency_code": "EUR",
        "order_total": 19.95, "financial_status": "paid",
        "billing_address": address, "shipping_address": address,
        "lines": [{"id": format!("{id}-1"), "product_id": product, "product_variant_id": sku,
                   "quantity": quantity, "price": 19.95}]
    })
}

async fn post_order(cluster: &Cluster, store: &str, order: &Value) -> anyhow::Result<()> {
    cluster
        .sandbox
        .mailchimp(
            Method::POST,
            &format!("/ecommerce/stores/{store}/orders"),
            Some(order),
        )
        .await?;
    Ok(())
}

async fn sagas(cluster: &Cluster, query: &str) -> anyhow::Result<Vec<Value>> {
    let list = cluster
        .admin_get(
            ServiceKind::OrderOrchestrator,
            &format!("/api/v1/sagas?{query}"),
        )
        .await?;
    Ok(list.as_array().cloned().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_person_leaves_no_trace_in_any_service() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let mut cluster =
        Cluster::start(ClusterOptions::new("gdpr"), Integration::for_seed(&seed)).await?;
    let store = seed.shop.store_id.clone();
    let simple = seed
        .products
        .iter()
        .find(|p| p.in_mailchimp && p.in_mpluskassa && p.variants.len() == 1)
        .unwrap();
    let (product, sku) = (simple.mailchimp_id(), simple.variants[0].sku.clone());
    let email = format!(
        "gerdina.{}@erase.example",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let sandbox = &cluster.sandbox;

    // A customer, then an order booked on them.
    sandbox
        .mailchimp(
            Method::PUT,
            &format!("/ecommerce/stores/{store}/customers/gdpr-person"),
            Some(&customer(&email)),
        )
        .await?;
    let orders = |n: u32| format!("GDPR-{}-{n}", &email[8..16]);
    post_order(
        &cluster,
        &store,
        &order(&orders(1), &email, &product, &sku, 1),
    )
    .await?;
    eventually(
        "the customer and the order in MplusKASSA",
        TIMEOUT,
        || async {
            let mk = sandbox.state(System::Mpluskassa).await?;
            ensure!(
                mk_relations_by_email(&mk).contains_key(&email),
                "no relation yet"
            );
            ensure!(
                mk_orders_by_ext_id(&mk).contains_key(&orders(1)),
                "no order yet"
            );
            Ok(())
        },
    )
    .await?;

    // An order the till refuses: its saga fails and is alerted.
    sandbox
        .add_fault(
            System::Mpluskassa,
            json!({"operation": "createOrderV3",
                   "fault": {"kind": "soap_fault", "code": "SOAP-ENV:Client",
                             "message": "Order refused by the till (gdpr)"}}),
        )
        .await?;
    post_order(
        &cluster,
        &store,
        &order(&orders(2), &email, &product, &sku, 1),
    )
    .await?;
    eventually(
        "the refused order's saga failed and alerted",
        TIMEOUT,
        || async {
            let failed =
                sagas(&cluster, &format!("state=failed&external_id={}", orders(2))).await?;
            ensure!(!failed.is_empty(), "no failed saga yet");
            let alerts = cluster
                .admin_get(ServiceKind::Notifier, "/api/v1/alerts?state=open")
                .await?;
            ensure!(
                alerts
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a["rule"] == "saga_failed"),
                "no saga_failed alert yet: {alerts}"
            );
            Ok(())
        },
    )
    .await?;
    sandbox.clear_faults(System::Mpluskassa).await?;

    // An order parked as invalid (a negative quantity).
    post_order(
        &cluster,
        &store,
        &order(&orders(3), &email, &product, &sku, -3),
    )
    .await?;
    eventually("the invalid order parked", TIMEOUT, || async {
        let list = cluster
            .admin_get(ServiceKind::Notifier, "/api/v1/dead-letters?limit=500")
            .await?;
        ensure!(
            list.as_array()
                .into_iter()
                .flatten()
                .any(|p| p["reason"].as_str().is_some_and(|r| r.contains(&orders(3)))),
            "not parked yet: {list}"
        );
        Ok(())
    })
    .await?;

    let needles = [email.as_str(), LAST, STREET, PHONE];
    let before = cluster.find_in_databases(&needles).await?;
    for service in [
        "order-orchestrator",
        "connector-mailchimp",
        "connector-mpluskassa",
        "notifier",
    ] {
        ensure!(
            before.iter().any(|hit| hit.starts_with(service)),
            "the search finds the person in {service} before the erase: {before:#?}"
        );
    }

    let report = cluster
        .admin(
            Method::POST,
            ServiceKind::Notifier,
            "/api/v1/gdpr/erase",
            Some(&json!({"email": email.to_uppercase()})),
        )
        .await?;
    ensure!(
        report["integrations_notified"] == 1,
        "the erase reached the integration's services: {report}"
    );

    eventually("no trace of the person in any service", TIMEOUT, || async {
        let hits = cluster.find_in_databases(&needles).await?;
        ensure!(hits.is_empty(), "still found: {hits:#?}");
        Ok(())
    })
    .await?;
    for kind in ServiceKind::ALL {
        let audits = cluster.count_rows(kind, "ferry_erasures").await?;
        ensure!(audits >= 1, "{} audited its erase", kind.name());
    }
    // The connectors keep polling: nothing of the person comes back.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let hits = cluster.find_in_databases(&needles).await?;
    ensure!(hits.is_empty(), "the person came back: {hits:#?}");
    let crashed = cluster.crashed();
    ensure!(crashed.is_empty(), "crashed: {crashed:?}");
    let logged = cluster.logs_containing(&email);
    ensure!(
        logged.is_empty(),
        "the address is in {} log lines",
        logged.len()
    );
    Ok(())
}
