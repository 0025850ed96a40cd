//! Hostile input: malformed and malicious records go through the flows; each is parked with a
//! clear error (or, when it is valid data that only looks hostile, passes through verbatim),
//! no service crashes, and the records around them still flow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{anyhow, ensure};
use ferry_e2e::{
    Cluster, ClusterOptions, Integration, ServiceKind, System, WebshopOrder, eventually, mc_store,
    mc_variants_by_sku, mk_orders_by_ext_id, mk_relations_by_email, mk_simple_product,
};
use ferry_sandbox::seed::Seed;
use reqwest::Method;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(90);
/// Names that are data, not code, wherever they go.
const INJECTION: &str =
    "Robert'); DROP TABLE relations;-- <script>alert(1)</script> ${jndi:ldap://x}";

/// The parking lot's reasons, one string per parked message.
async fn parked(cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let list = cluster
        .admin_get(ServiceKind::Notifier, "/api/v1/dead-letters?limit=500")
        .await?;
    Ok(list
        .as_array()
        .ok_or_else(|| anyhow!("dead letters: {list}"))?
        .iter()
        .map(|p| {
            format!(
                "{} [{}]",
                p["reason"].as_str().unwrap_or(""),
                p["routing_key"].as_str().unwrap_or("")
            )
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_records_are_parked_and_the_rest_flows() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let cluster =
        Cluster::start(ClusterOptions::new("hostile"), Integration::for_seed(&seed)).await?;
    let store = seed.shop.store_id.clone();
    let sandbox = &cluster.sandbox;
    let simple = seed
        .products
        .iter()
        .find(|p| p.in_mailchimp && p.in_mpluskassa && p.variants.len() == 1)
        .unwrap();
    let (product_id, sku) = (simple.mailchimp_id(), simple.variants[0].sku.clone());

    // MailChimp refuses a customer without or with an invalid e-mail address itself.
    let refused = sandbox
        .mailchimp(
            Method::PUT,
            &format!("/ecommerce/stores/{store}/customers/h-nomail"),
            Some(&json!({"id": "h-nomail", "opt_in_status": false})),
        )
        .await;
    ensure!(
        refused.is_err(),
        "MailChimp accepted a customer without e-mail"
    );

    // --- The corpus. -------------------------------------------------------------------------
    let customer = |id: &str, email: &str, first: &str, country: &str| {
        json!({
            "id": id, "email_address": email, "opt_in_status": false,
            "first_name": first, "last_name": "Hostile",
            "address": {"address1": "Damrak 1", "city": "Amsterdam", "postal_code": "1012 LG", "country_code": country}
        })
    };
    let corpus = [
        (
            "h-country",
            customer("h-country", "h.country@example.nl", "Invalid", "XX"),
        ),
        (
            "h-control",
            customer(
                "h-control",
                "h.control@example.nl",
                "Bell\u{7}Null\u{0}Esc\u{1b}",
                "NL",
            ),
        ),
        (
            "h-inject",
            customer("h-inject", "h.inject@example.nl", INJECTION, "NL"),
        ),
    ];
    for (id, body) in &corpus {
        sandbox
            .mailchimp(
                Method::PUT,
                &format!("/ecommerce/stores/{store}/customers/{id}"),
                Some(body),
            )
            .await?;
    }
    let negative = WebshopOrder {
        id: "H-NEGATIVE",
        email: "h.negative@example.nl",
        customer_id: "h-negative",
        company: None,
        lines: vec![(&product_id, &sku, 1, 19.95)],
    };
    let mut negative_json = negative.to_json();
    negative_json["lines"][0]["quantity"] = json!(-3);
    sandbox
        .mailchimp(
            Method::POST,
            &format!("/ecommerce/stores/{store}/orders"),
            Some(&negative_json),
        )
        .await?;
    let many_lines: Vec<(&str, &str, u32, f64)> = (0..400)
        .map(|_| (product_id.as_str(), sku.as_str(), 1, 19.95))
        .collect();
    sandbox
        .place_order(
            &store,
            &WebshopOrder {
                id: "H-HUGE",
                email: "h.huge@example.nl",
                customer_id: "h-huge",
                company: None,
                lines: many_lines,
            },
        )
        .await?;
    let client = sandbox.mpluskassa_client()?;
    client
        .create_product(&mk_simple_product("H-SKU-<b>", "Non-numeric SKU"))
        .await?;
    let huge = "Lorem ipsum dolor sit amet. ".repeat(10 * 1024 * 1024 / 28);
    client
        .create_product(&mk_simple_product("777701", &huge))
        .await?;
    // Invalid JSON and XML answers for a while.
    sandbox
        .add_fault(System::Mailchimp, json!({"path": "/3.0/ecommerce/stores/*/orders", "method": "GET", "fault": {"kind": "malformed_body"}, "next": 3}))
        .await?;
    sandbox
        .add_fault(System::Mpluskassa, json!({"operation": "get*", "fault": {"kind": "malformed_body", "mode": "garbage"}, "next": 3}))
        .await?;

    // --- Records around them still flow. -------------------------------------------------------
    sandbox
        .place_order(
            &store,
            &WebshopOrder {
                id: "H-NORMAL",
                email: "h.normal@example.nl",
                customer_id: "h-normal",
                company: Some("Normaal BV"),
                lines: vec![(&product_id, &sku, 2, 19.95)],
            },
        )
        .await?;
    client
        .create_product(&mk_simple_product("777702", "A normal product"))
        .await?;
    eventually(
        "the normal records flow past the hostile ones",
        TIMEOUT,
        || async {
            let mk = sandbox.state(System::Mpluskassa).await?;
            ensure!(
                mk_orders_by_ext_id(&mk).contains_key("H-NORMAL"),
                "normal order not created yet"
            );
            let mc = sandbox.state(System::Mailchimp).await?;
            ensure!(
                mc_variants_by_sku(mc_store(&mc, &store)).contains_key("777702"),
                "normal product not in MailChimp yet"
            );
            Ok(())
        },
    )
    .await?;

    tokio::time::sleep(Duration::from_secs(5)).await;
    let reasons = parked(&cluster).await?;
    let mk = sandbox.state(System::Mpluskassa).await?;
    let mc = sandbox.state(System::Mailchimp).await?;
    let relations = mk_relations_by_email(&mk);
    let orders = mk_orders_by_ext_id(&mk);
    let variants = mc_variants_by_sku(mc_store(&mc, &store));
    let all = reasons.join("\n");
    // Each hostile record parked with a reason naming it, the field and why.
    for (record, why) in [
        ("H-NEGATIVE", "quantity"),
        ("h-control", "control character"),
        ("h-country", "country code \"XX\""),
        ("H-SKU-<b>", "non_numeric_sku"),
        ("no usable description", "at most 255"),
    ] {
        ensure!(
            reasons
                .iter()
                .any(|r| r.contains(record) && r.contains(why)),
            "{record} parked for {why}; parked:\n{all}"
        );
    }
    // Nothing parked for the wrong reasons: a service that could not handle a message.
    for bad in [
        "cannot record message",
        "actors are stopping",
        "byte limit",
        "panick",
    ] {
        ensure!(
            !all.contains(bad),
            "a message parked because of {bad:?}:\n{all}"
        );
    }
    ensure!(
        !orders.contains_key("H-NEGATIVE"),
        "the negative order was not booked"
    );
    ensure!(
        !relations.contains_key("h.control@example.nl"),
        "the control characters did not pass"
    );
    ensure!(
        !variants.contains_key("777701"),
        "the 10 MB product did not reach MailChimp"
    );
    // Data that only looks hostile passes verbatim; the huge order is booked once, whole.
    let injected = relations
        .get("h.inject@example.nl")
        .ok_or_else(|| anyhow!("the customer with injection strings in its name is missing"))?;
    ensure!(
        injected.len() == 1
            && injected[0]["name"]
                .as_str()
                .is_some_and(|n| n.contains(INJECTION)),
        "name kept verbatim: {injected:?}"
    );
    let huge_order = orders
        .get("H-HUGE")
        .ok_or_else(|| anyhow!("the 400-line order is missing"))?;
    ensure!(
        huge_order.len() == 1,
        "the 400-line order exists {} times",
        huge_order.len()
    );
    let lines = huge_order[0]["lines"].as_array().map_or(0, Vec::len);
    ensure!(lines == 400, "the 400-line order has {lines} lines");
    // A parked record, fixed at its source, is replayed by an operator and then flows.
    let list = cluster
        .admin_get(ServiceKind::Notifier, "/api/v1/dead-letters?limit=500")
        .await?;
    let negative = list
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["reason"]
                .as_str()
                .is_some_and(|r| r.contains("H-NEGATIVE"))
        })
        .ok_or_else(|| anyhow!("the negative order is not parked: {list}"))?;
    sandbox
        .mailchimp(
            Method::PATCH,
            &format!("/ecommerce/stores/{store}/orders/H-NEGATIVE/lines/H-NEGATIVE-1"),
            Some(&json!({"quantity": 2})),
        )
        .await?;
    let replay = format!(
        "/api/v1/dead-letters/{}/{}/replay",
        negative["queue"].as_str().unwrap_or(""),
        negative["message_id"].as_str().unwrap_or("")
    );
    cluster
        .admin(Method::POST, ServiceKind::Notifier, &replay, None)
        .await?;
    let entry = cluster
        .admin_get(ServiceKind::Notifier, replay.trim_end_matches("/replay"))
        .await?;
    ensure!(
        !entry["replayed_at"].is_null(),
        "the replay is recorded: {entry}"
    );
    eventually("the replayed order in MplusKASSA", TIMEOUT, || async {
        let mk = sandbox.state(System::Mpluskassa).await?;
        let found = mk_orders_by_ext_id(&mk)
            .get("H-NEGATIVE")
            .map_or(0, Vec::len);
        ensure!(found == 1, "the fixed order exists {found} times");
        Ok(())
    })
    .await?;

    let mut cluster = cluster;
    let crashed = cluster.crashed();
    ensure!(crashed.is_empty(), "crashed: {crashed:?}");
    Ok(())
}
