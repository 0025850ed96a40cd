//! Horizontal scaling (issue 8): two instances of every service consume the same queues and
//! share their databases; a stream of orders and customers has no double effect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{anyhow, ensure};
use ferry_e2e::{
    Cluster, ClusterOptions, Integration, ServiceKind, System, WebshopOrder, eventually,
    mk_orders_by_ext_id, mk_relations_by_email, order_products,
};
use ferry_sandbox::seed::Seed;
use reqwest::Method;
use serde_json::json;

/// Orders in the stream.
const ORDERS: usize = 30;
/// New customers those orders are placed by (several orders each, placed close together).
const CUSTOMERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_of_each_service_have_no_double_effects() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let mut options = ClusterOptions::new("scale_out");
    options.instances = 2;
    let cluster = Cluster::start(options, Integration::for_seed(&seed)).await?;
    let store = seed.shop.store_id.clone();
    // Products in both systems with numeric SKUs: every order's lines exist in the target.
    let products = order_products(&seed);

    // The stream: standalone customers and orders interleaved, a few every 200 ms.
    let emails: Vec<String> = (0..CUSTOMERS)
        .map(|i| format!("scale.{i}@example.nl"))
        .collect();
    for (i, email) in emails.iter().enumerate() {
        cluster
            .sandbox
            .mailchimp(
                Method::PUT,
                &format!("/ecommerce/stores/{store}/customers/scale-{i}"),
                Some(&json!({
                    "id": format!("scale-{i}"), "email_address": email, "opt_in_status": false,
                    "first_name": "Scale", "last_name": format!("Out {i}"),
                    "address": {"address1": "Damrak 1", "city": "Amsterdam", "postal_code": "1012 LG", "country_code": "NL"}
                })),
            )
            .await?;
    }
    let ids: Vec<String> = (0..ORDERS).map(|i| format!("WS-SCALE-{i:03}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let (product, sku, price) = &products[i % products.len()];
        let company = format!("Scale BV {}", i % CUSTOMERS);
        let order = WebshopOrder {
            id,
            email: &emails[i % CUSTOMERS],
            customer_id: &format!("scale-{}", i % CUSTOMERS),
            company: (i % CUSTOMERS)
                .is_multiple_of(2)
                .then_some(company.as_str()),
            lines: vec![(product, sku, 1 + (i % 3) as u32, *price)],
        };
        cluster.sandbox.place_order(&store, &order).await?;
        if i % 3 == 2 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let mk = eventually(
        "every streamed order in MplusKASSA",
        Duration::from_secs(120),
        || async {
            let mk = cluster.sandbox.state(System::Mpluskassa).await?;
            let orders = mk_orders_by_ext_id(&mk);
            let missing = ids.iter().filter(|id| !orders.contains_key(*id)).count();
            ensure!(missing == 0, "{missing} of {ORDERS} orders not created yet");
            Ok(mk)
        },
    )
    .await?;
    // Let late duplicates (a second instance's redelivery) land before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mk = cluster
        .sandbox
        .state(System::Mpluskassa)
        .await
        .unwrap_or(mk);
    let orders = mk_orders_by_ext_id(&mk);
    let relations = mk_relations_by_email(&mk);
    let duplicated: Vec<_> = orders
        .iter()
        .filter(|(_, found)| found.len() > 1)
        .map(|(id, found)| format!("{id} x{}", found.len()))
        .collect();
    ensure!(duplicated.is_empty(), "orders duplicated: {duplicated:?}");
    for email in &emails {
        let found = relations
            .get(email)
            .ok_or_else(|| anyhow!("customer {email} not created"))?;
        ensure!(
            found.len() == 1,
            "customer {email} created {} times",
            found.len()
        );
    }
    let shared: Vec<_> = relations.iter().filter(|(_, r)| r.len() > 1).collect();
    ensure!(
        shared.is_empty(),
        "relations sharing an e-mail address: {}",
        shared.len()
    );
    for id in &ids {
        let order = &orders[id][0];
        let i: usize = id[9..].parse()?;
        let relation = &relations[&emails[i % CUSTOMERS]][0];
        ensure!(
            order["relation_number"] == relation["relation_number"],
            "{id} booked on its customer: {order}"
        );
    }

    // Both instances did work: the queues were shared, not served by one of them.
    for (kind, needle) in [
        (ServiceKind::ConnectorMpluskassa, "command executed"),
        (ServiceKind::Mapper, "mapped routing_key"),
    ] {
        let counts = cluster.log_counts(kind, needle);
        ensure!(
            counts.len() == 2 && counts.iter().all(|&n| n > 0),
            "both {} instances handled messages: {counts:?}",
            kind.name()
        );
    }
    let mut cluster = cluster;
    let crashed = cluster.crashed();
    ensure!(crashed.is_empty(), "crashed: {crashed:?}");
    Ok(())
}
