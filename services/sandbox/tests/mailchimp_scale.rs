//! The MailChimp simulator at scale: query parameters exactly as the reference spec defines
//! them (no changed-since filter on e-commerce collections), `count` capped at 1,000,
//! projections, the record of peak simultaneous requests per key, the latency model and the
//! scale seed.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferry_sandbox::mailchimp::ecommerce::query_params;
use ferry_sandbox::mailchimp::scale::Scale;
use ferry_sandbox::mailchimp::state::McState;
use ferry_sandbox::seed::Seed;
use serde_json::{Value, json};
use support::{KEY, OTHER_KEY, STORE, start};

fn spec_doc() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../specs/mailchimp/marketing-openapi-3.0.81.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("spec")).expect("spec JSON")
}

/// The query parameters the spec defines for `GET path`.
fn spec_query_params(doc: &Value, path: &str) -> BTreeSet<String> {
    let params = doc["paths"][path]["get"]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    params
        .iter()
        .map(|p| match p.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or_default();
                doc["components"]["parameters"][name].clone()
            }
            None => p.clone(),
        })
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_ecommerce_read_honours_exactly_the_spec_parameters() {
    let doc = spec_doc();
    let sb = start().await;
    let mut served = 0;
    let paths: Vec<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(p, v)| p.starts_with("/ecommerce/stores") && v.get("get").is_some())
        .map(|(p, _)| p.clone())
        .collect();
    assert!(paths.len() > 10, "{paths:?}");
    for path in &paths {
        let spec = spec_query_params(&doc, path);
        match query_params(path) {
            Some(ours) => {
                let ours: BTreeSet<String> = ours.iter().map(|s| (*s).to_owned()).collect();
                assert_eq!(
                    ours, spec,
                    "GET {path}: the sandbox's parameters != the spec's"
                );
                served += 1;
            }
            None => {
                // A resource the sandbox does not simulate (carts, promo rules, images):
                // it must not pretend to.
                let concrete = path.replace("{store_id}", STORE).replace(['{', '}'], "");
                assert_eq!(
                    sb.get(&concrete).await.status,
                    404,
                    "GET {path} is served without a parameter table"
                );
            }
        }
    }
    assert_eq!(
        served, 12,
        "stores, customers, products, variants, orders, lines: list and one"
    );

    // A parameter the spec does not define is ignored (MailChimp ignores it), even with a
    // value that would be invalid for a filter.
    let base = format!("/ecommerce/stores/{STORE}");
    for (collection, plural) in [
        ("customers", "customers"),
        ("products", "products"),
        ("orders", "orders"),
    ] {
        let all = sb
            .get(&format!(
                "{base}/{collection}?count=1000&fields={plural}.id"
            ))
            .await;
        assert_eq!(all.status, 200, "{}", all.text);
        for undefined in [
            "since_updated_at=2100-01-01T00:00:00%2B00:00",
            "since_created_at=2100-01-01T00:00:00%2B00:00",
            "before_updated_at=2000-01-01T00:00:00%2B00:00",
            "since_updated_at=yesterday",
            "sort_field=updated_at&sort_dir=DESC",
        ] {
            let r = sb
                .get(&format!(
                    "{base}/{collection}?count=1000&fields={plural}.id&{undefined}"
                ))
                .await;
            assert_eq!(r.status, 200, "{collection}?{undefined}: {}", r.text);
            assert_eq!(
                r.json, all.json,
                "{collection}?{undefined} changed the answer"
            );
        }
    }
    // The filters the spec defines work.
    let orders = sb.get(&format!("{base}/orders?count=1000")).await;
    let first = &orders.json["orders"][0];
    let customer = first["customer"]["id"].as_str().expect("customer id");
    let mine = sb
        .get(&format!("{base}/orders?count=1000&customer_id={customer}"))
        .await;
    assert!(mine.json["total_items"].as_u64().expect("total") >= 1);
    assert!(
        mine.json["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .all(|o| o["customer"]["id"] == customer)
    );
    let with = sb.get(&format!("{base}/orders?has_outreach=true")).await;
    assert_eq!(
        with.json["total_items"], 0,
        "the seed's orders have no outreach"
    );
    let without = sb.get(&format!("{base}/orders?has_outreach=false")).await;
    assert_eq!(without.json["total_items"], orders.json["total_items"]);
    let bad = sb.get(&format!("{base}/orders?has_outreach=maybe")).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let email = orders.json["orders"][0]["customer"]["email_address"]
        .as_str()
        .expect("email")
        .to_uppercase();
    let found = sb
        .get(&format!("{base}/customers?email_address={email}"))
        .await;
    assert_eq!(found.json["total_items"], 1, "{}", found.text);
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn count_is_capped_at_1000_projections_keep_nested_fields_and_order_is_creation_order() {
    let sb = start().await;
    sb.handle.mailchimp.with_state(|st| {
        Scale {
            orders: 1500,
            products: 30,
            customers: 40,
            stores: 1,
        }
        .fill(st)
    });
    let base = format!("/ecommerce/stores/{STORE}/orders");
    let big = sb.get(&format!("{base}?count=5000")).await;
    assert_eq!(big.status, 200);
    assert_eq!(big.json["orders"].as_array().expect("orders").len(), 1000);
    assert_eq!(big.json["total_items"], 1500);
    let scan = sb
        .get(&format!(
            "{base}?count=1000&offset=1000&fields=orders.id,orders.updated_at,total_items"
        ))
        .await;
    let items = scan.json["orders"].as_array().expect("orders");
    assert_eq!(items.len(), 500);
    assert_eq!(
        scan.json
            .as_object()
            .expect("object")
            .keys()
            .collect::<Vec<_>>(),
        ["orders", "total_items"]
    );
    for o in items {
        let keys: Vec<&String> = o.as_object().expect("order").keys().collect();
        assert_eq!(keys, ["id", "updated_at"], "{o}");
    }
    // Creation order, oldest first, stable across pages.
    assert_eq!(items[0]["id"], "SO-1001");
    assert_eq!(items[499]["id"], "SO-1500");
    // An update does not move a record.
    let r = sb
        .req(
            "PATCH",
            &format!("{base}/SO-1002"),
            Some(json!({"fulfillment_status": "shipped"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let again = sb
        .get(&format!("{base}?count=3&offset=1000&fields=orders.id"))
        .await;
    assert_eq!(
        again.json["orders"],
        json!([{"id": "SO-1001"}, {"id": "SO-1002"}, {"id": "SO-1003"}])
    );
    // Nested projections and exclusions.
    let nested = sb
        .get(&format!(
            "{base}?count=1&fields=orders.id,orders.customer.id,orders.lines.product_variant_id"
        ))
        .await;
    let o = &nested.json["orders"][0];
    assert_eq!(o.as_object().expect("order").len(), 3, "{o}");
    assert!(o["customer"].as_object().expect("customer").len() == 1);
    assert!(o["lines"][0].as_object().expect("line").len() == 1);
    let excluded = sb
        .get(&format!(
            "{base}?count=1&exclude_fields=orders.lines,_links"
        ))
        .await;
    assert!(excluded.json["orders"][0].get("lines").is_none());
    assert!(excluded.json["orders"][0].get("customer").is_some());
    assert!(excluded.json.get("_links").is_none());
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_peak_of_simultaneous_requests_is_recorded_per_key() {
    let sb = start().await;
    let r = sb
        .control("PUT", "/latency", Some(json!({"fixed_ms": 400})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let calls: Vec<_> = (0..14)
        .map(|_| {
            let client = sb.client.clone();
            let url = sb.url("/ping");
            tokio::spawn(async move {
                client
                    .get(url)
                    .basic_auth("x", Some(KEY))
                    .send()
                    .await
                    .expect("send")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.expect("task"));
    }
    assert_eq!(sb.req_as(OTHER_KEY, "GET", "/ping", None).await.status, 200);
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + refused, 14, "{statuses:?}");
    assert!(refused >= 4, "{statuses:?}");
    let c = sb.control("GET", "/connections", None).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.json["limit"], 10);
    assert_eq!(c.json["peak"], 10, "{}", c.text);
    let keys = c.json["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "{}", c.text);
    let first = keys
        .iter()
        .find(|k| k["key"] == "0123…-us1")
        .expect("the first key, masked");
    assert_eq!(first["peak"], 10);
    assert_eq!(first["refused"], refused);
    assert_eq!(first["in_flight"], 0);
    assert!(!c.text.contains(KEY), "keys are masked");
    let other = keys
        .iter()
        .find(|k| k["key"] == "fedc…-us1")
        .expect("other key");
    assert_eq!(other["peak"], 1);
    assert_eq!(sb.control("DELETE", "/connections", None).await.status, 204);
    let c = sb.control("GET", "/connections", None).await;
    assert_eq!(c.json["peak"], 0, "{}", c.text);
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn latency_is_fixed_plus_per_kib_of_response() {
    let sb = start().await;
    let page = format!("/ecommerce/stores/{STORE}/products?count=1000");
    let projected = format!("{page}&fields=products.id");
    let size = sb.get(&page).await.text.len();
    assert!(size > 20 * 1024, "the seed's products are {size} bytes");
    let r = sb
        .control(
            "PUT",
            "/latency",
            Some(json!({"fixed_ms": 50, "per_kib_ms": 10})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        sb.control("GET", "/latency", None).await.json,
        json!({"fixed_ms": 50.0, "per_kib_ms": 10.0})
    );
    let t = Instant::now();
    sb.get(&page).await;
    let full = t.elapsed();
    let t = Instant::now();
    sb.get(&projected).await;
    let small = t.elapsed();
    let expected = Duration::from_millis(50 + 10 * size as u64 / 1024);
    assert!(full >= expected, "{full:?} < {expected:?}");
    assert!(small >= Duration::from_millis(50), "{small:?}");
    assert!(
        small + Duration::from_millis(100) < full,
        "{small:?} vs {full:?}"
    );
    let bad = sb
        .control("PUT", "/latency", Some(json!({"fixed_ms": -1})))
        .await;
    assert_eq!(bad.status, 400);
    sb.handle.stop().await;
}

#[test]
fn the_scale_seed_is_deterministic_sized_and_quick() {
    let scale: Scale = "orders=100000,products=20000,customers=50000"
        .parse()
        .expect("scale");
    let seed = Seed::default_shop();
    let t = Instant::now();
    let mut st = McState::from_seed(Some(&seed));
    scale.fill(&mut st);
    let took = t.elapsed();
    println!("scale seed {scale}: generated in {took:?}");
    assert_eq!(
        st.stores.len(),
        1,
        "several stores: see the control API test"
    );
    let first = &st.stores[0];
    assert_eq!(first.rec.str("id"), seed.shop.store_id, "the seed's store");
    for s in st.stores.values() {
        assert_eq!(
            (s.orders.len(), s.products.len(), s.customers.len()),
            (100_000, 20_000, 50_000)
        );
    }
    // Unoptimised test build on a loaded 2-core machine; the optimised binary is ~10x faster.
    assert!(took < Duration::from_secs(60), "{took:?}");
    // Deterministic: the same scale gives the same records.
    let mut again = McState::from_seed(Some(&seed));
    Scale {
        orders: 300,
        products: 20_000,
        customers: 50_000,
        stores: 1,
    }
    .fill(&mut again);
    let store = &again.stores[0];
    for id in ["SO-1", "SO-150", "SO-300"] {
        let a = serde_json::to_value(&first.orders[id]).expect("json");
        let b = serde_json::to_value(&store.orders[id]).expect("json");
        assert_eq!(a, b, "order {id}");
    }
    // The records are valid MailChimp records (orders reference existing variants).
    for o in first.orders.values().take(1000) {
        for l in o.lines.values() {
            let p = &first.products[l.str("product_id")];
            assert!(p.variants.contains_key(l.str("product_variant_id")));
        }
    }
}

async fn check_three_stores(sb: &support::Sb) {
    let stores = sb
        .get("/ecommerce/stores?fields=stores.id,total_items")
        .await;
    assert_eq!(stores.json["total_items"], 3, "{}", stores.text);
    for s in ["", "-2", "-3"] {
        let o = sb
            .get(&format!("/ecommerce/stores/{STORE}{s}/orders?count=1"))
            .await;
        assert_eq!(o.json["total_items"], 250, "{}", o.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scale_is_set_on_the_control_api_and_survives_reset() {
    let sb = start().await;
    assert_eq!(sb.control("GET", "/scale", None).await.json, Value::Null);
    let scale = json!({"orders": 250, "products": 20, "customers": 30, "stores": 3});
    let r = sb.control("PUT", "/scale", Some(scale.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    check_three_stores(&sb).await;
    assert_eq!(sb.control("POST", "/reset", None).await.status, 204);
    check_three_stores(&sb).await;
    assert_eq!(sb.control("GET", "/scale", None).await.json, scale);
    let bad = sb
        .control("PUT", "/scale", Some(json!({"orders": 5})))
        .await;
    assert_eq!(bad.status, 400, "orders without products: {}", bad.text);
    assert_eq!(
        sb.control("PUT", "/scale", Some(Value::Null)).await.status,
        200
    );
    let stores = sb.get("/ecommerce/stores").await;
    assert_eq!(stores.json["total_items"], 1);
    sb.handle.stop().await;
}
