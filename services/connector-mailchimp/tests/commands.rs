//! Commands executed against the sandbox over real HTTP: replies, idempotency, the SKU rule,
//! and every fault kind on the write paths (each ends with the record written exactly once,
//! or a precise `command.failed` and a parked message).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ferry_platform::bus::BusMessage;
use ferry_proto::messages::{
    CategoryUpsert, CustomerFind, CustomerUpsert, OrderCreate, OrderFind, OrderSetStatus,
    ProductUpsert, ProductsVerify, StockSet,
};
use ferry_proto::{Envelope, Message};
use ferry_sandbox::faults::{Corruption, FaultKind};
use serde_json::{Value, json};
use support::{Harness, Kind, Options};

fn customer_upsert(email: &str, first: &str) -> CustomerUpsert {
    serde_json::from_value(json!({
        "target": "mailchimp",
        "customer": {
            "email": email, "kind": {"type": "person"}, "first_name": first, "last_name": "Tester",
            "opted_in": true,
            "billing_address": {"street": "Dorpsstraat", "house_number": "12", "house_number_suffix": "a",
                                "postcode": "1234 AB", "city": "Ons Dorp", "country": "NL"}
        }
    }))
    .expect("valid command")
}

fn product_upsert(sku: &str, title: &str, overwrite: bool) -> ProductUpsert {
    serde_json::from_value(json!({
        "target": "mailchimp",
        "product": {
            "sku": sku, "title": title, "long_description": format!("{title} description"),
            "price": {"amount": "12.50", "currency": "EUR"}, "price_includes_tax": true,
            "kind": {"type": "simple"}, "quantity": "3",
            "category": {"key": "cat-7"}
        },
        "overwrite_existing": overwrite
    }))
    .expect("valid command")
}

fn configurable_upsert(sku: &str, variants: &[&str]) -> ProductUpsert {
    let variants: Vec<Value> = variants
        .iter()
        .map(|v| json!({"sku": v, "title": format!("Size {v}"), "quantity": "5"}))
        .collect();
    serde_json::from_value(json!({
        "target": "mailchimp",
        "product": {
            "sku": sku, "title": "Shirt", "price": {"amount": "20", "currency": "EUR"},
            "price_includes_tax": true, "kind": {"type": "configurable", "variants": variants}
        },
        "overwrite_existing": true
    }))
    .expect("valid command")
}

fn order_create(external_id: &str, sku: &str, email: &str) -> OrderCreate {
    let customer = json!({"email": email, "kind": {"type": "person"}, "first_name": "Koper", "opted_in": false});
    let money = |a: &str| json!({"amount": a, "currency": "EUR"});
    serde_json::from_value(json!({
        "target": "mailchimp",
        "order": {
            "order": {
                "external_id": external_id, "order_type": "order", "customer": customer,
                "lines": [{"sku": sku, "quantity": "2", "unit_price": money("12.50"), "price_includes_tax": true}],
                "totals": {"subtotal": money("25.00"), "tax": money("4.34"), "shipping": money("0"), "total": money("25.00")},
                "currency": "EUR",
                "billing_address": {"street": "Dorpsstraat", "house_number": "1", "postcode": "1234 AB", "city": "Ons Dorp", "country": "NL"},
                "placed_at": "2026-11-24T10:00:00Z"
            },
            "line_codes": [{}],
            "customer_plan": {"mode": "upsert", "customer": customer}
        },
        "customer_id": format!("cust-{external_id}"),
        "idempotency_key": format!("ferry:test:{external_id}")
    }))
    .expect("valid command")
}

fn customers_with_email(h: &Harness, email: &str) -> Vec<Value> {
    h.store()["customers"]
        .as_object()
        .unwrap()
        .values()
        .filter(|c| c["data"]["email_address"] == email)
        .cloned()
        .collect()
}

async fn customer_upsert_creates_then_updates(kind: Kind) {
    let h = Harness::start(kind).await;
    let email = "nieuw@example.nl";
    let first = h.send(customer_upsert(email, "Nieuw")).await;
    let reply = h.reply(first).await;
    assert_eq!(reply.routing_key, "mailchimp.customer.upserted");
    assert_eq!(reply.payload()["created"], true);
    assert_eq!(customers_with_email(&h, email).len(), 1);
    let second = h.send(customer_upsert(email, "Anders")).await;
    let reply2 = h.reply(second).await;
    assert_eq!(reply2.payload()["created"], false);
    assert_eq!(reply2.payload()["target_id"], reply.payload()["target_id"]);
    let stored = customers_with_email(&h, email);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["data"]["first_name"], "Anders");
    assert_eq!(stored[0]["data"]["address"]["address1"], "Dorpsstraat 12a");
    // customer.find sees it; an unknown e-mail is not found.
    let found = h
        .reply(
            h.send(CustomerFind {
                target: ferry_proto::System::Mailchimp,
                email: ferry_proto::Email::parse(email).unwrap(),
            })
            .await,
        )
        .await;
    assert_eq!(found.routing_key, "mailchimp.customer.found");
    assert_eq!(found.payload()["found"], reply.payload()["target_id"]);
    let missing = h
        .reply(
            h.send(CustomerFind {
                target: ferry_proto::System::Mailchimp,
                email: ferry_proto::Email::parse("nobody@example.nl").unwrap(),
            })
            .await,
        )
        .await;
    assert!(missing.payload()["found"].is_null());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_upsert_creates_then_updates_in_process() {
    customer_upsert_creates_then_updates(Kind::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_upsert_creates_then_updates_postgres() {
    customer_upsert_creates_then_updates(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_upsert_creates_then_updates_rabbitmq() {
    customer_upsert_creates_then_updates(Kind::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_upsert_reuses_the_id_of_an_existing_customer_with_that_email() {
    let h = Harness::start(Kind::InProcess).await;
    let (id, existing) = {
        let store = h.store();
        let (id, c) = store["customers"]
            .as_object()
            .unwrap()
            .iter()
            .next()
            .unwrap();
        (
            id.clone(),
            c["data"]["email_address"].as_str().unwrap().to_owned(),
        )
    };
    let reply = h
        .reply(h.send(customer_upsert(&existing, "Bestaand")).await)
        .await;
    assert_eq!(reply.payload()["created"], false);
    assert_eq!(reply.payload()["target_id"], id.as_str());
    assert_eq!(customers_with_email(&h, &existing).len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_has_one_effect_and_one_reply() {
    let h = Harness::start(Kind::InProcess).await;
    let envelope = Envelope::new(
        h.integration_id,
        customer_upsert("dup@example.nl", "Dubbel"),
    );
    let message = BusMessage::from_envelope(&envelope).unwrap();
    h.publish(message.clone()).await;
    h.reply(envelope.message_id).await;
    h.publish(message).await;
    // A later command's reply proves the duplicate was handled before it (one consumer, FIFO).
    let marker = h.send(customer_upsert("marker@example.nl", "Marker")).await;
    h.reply(marker).await;
    let replies: Vec<_> = h
        .seen()
        .into_iter()
        .filter(|s| s.causation() == Some(envelope.message_id.to_string().as_str()))
        .collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(customers_with_email(&h, "dup@example.nl").len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_numeric_sku_is_refused_with_a_mapping_error_and_no_call() {
    let h = Harness::start(Kind::InProcess).await;
    let id = h.send(product_upsert("SHIRT-XL", "Shirt", true)).await;
    let reply = h.reply(id).await;
    assert_eq!(reply.routing_key, "mailchimp.product.failed");
    let error = &reply.payload()["error"];
    assert_eq!(error["code"], "mapping");
    assert_eq!(error["retryable"], false);
    assert!(
        error["message"].as_str().unwrap().contains("SHIRT-XL"),
        "{error}"
    );
    assert!(
        error["message"].as_str().unwrap().contains("digits"),
        "{error}"
    );
    assert_eq!(reply.payload()["command_type"], "product.upsert");
    assert_eq!(h.requests("PUT", "/3.0/ecommerce/stores"), 0, "no API call");
    assert!(h.store()["products"].get("SHIRT-XL").is_none());
    // A variant with a non-numeric SKU is refused the same way.
    let reply = h
        .reply(
            h.send(configurable_upsert("880000", &["880001", "88-02"]))
                .await,
        )
        .await;
    assert_eq!(reply.payload()["error"]["code"], "mapping");
    assert!(h.store()["products"].get("880000").is_none());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_stock_and_verification() {
    let h = Harness::start(Kind::InProcess).await;
    // Category first: its name becomes the product type.
    let cat: CategoryUpsert = serde_json::from_value(json!({
        "target": "mailchimp", "category": {"key": "cat-7", "name": "Brood & banket"}
    }))
    .unwrap();
    let reply = h.reply(h.send(cat).await).await;
    assert_eq!(reply.routing_key, "mailchimp.category.upserted");
    assert_eq!(reply.payload()["created"], true);

    let reply = h
        .reply(
            h.send(product_upsert("990001", "Volkorenbrood", true))
                .await,
        )
        .await;
    assert_eq!(reply.routing_key, "mailchimp.product.upserted");
    assert_eq!(reply.payload()["created"], true);
    let product = h.store()["products"]["990001"].clone();
    assert_eq!(product["rec"]["data"]["type"], "Brood & banket");
    assert_eq!(
        product["rec"]["data"]["description"],
        "Volkorenbrood description"
    );
    assert_eq!(
        product["variants"]["990001"]["data"]["inventory_quantity"],
        3
    );
    assert_eq!(product["variants"]["990001"]["data"]["price"], 12.5);

    // overwrite_existing = false keeps the information enriched in MailChimp.
    h.mc(
        "PATCH",
        &format!("/ecommerce/stores/{}/products/990001", h.store_id),
        json!({"description": "Enriched"}),
    );
    let reply = h
        .reply(h.send(product_upsert("990001", "Other title", false)).await)
        .await;
    assert_eq!(reply.payload()["created"], false);
    assert_eq!(
        h.store()["products"]["990001"]["rec"]["data"]["description"],
        "Enriched"
    );
    let reply = h
        .reply(h.send(product_upsert("990001", "New title", true)).await)
        .await;
    assert_eq!(reply.payload()["created"], false);
    assert_eq!(
        h.store()["products"]["990001"]["rec"]["data"]["title"],
        "New title"
    );
    assert_eq!(
        h.store()["products"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k == "990001")
            .count(),
        1
    );

    // Configurable product with variants.
    let reply = h
        .reply(
            h.send(configurable_upsert("770000", &["770001", "770002"]))
                .await,
        )
        .await;
    assert_eq!(reply.payload()["created"], true);
    let variants = h.store()["products"]["770000"]["variants"].clone();
    assert_eq!(variants.as_object().unwrap().len(), 2);

    // Stock of a simple and of a variant.
    let stock = |sku: &str, q: &str| -> StockSet {
        serde_json::from_value(
            json!({"target": "mailchimp", "sku": sku, "quantity": q, "manage_stock": true}),
        )
        .unwrap()
    };
    let reply = h.reply(h.send(stock("990001", "42")).await).await;
    assert_eq!(reply.routing_key, "mailchimp.stock.set-done");
    assert_eq!(
        h.store()["products"]["990001"]["variants"]["990001"]["data"]["inventory_quantity"],
        42
    );
    h.reply(h.send(stock("770002", "9")).await).await;
    assert_eq!(
        h.store()["products"]["770000"]["variants"]["770002"]["data"]["inventory_quantity"],
        9
    );
    // Stock MailChimp should not manage: its inventory is left as it is, and the reply says so.
    let unmanaged: StockSet = serde_json::from_value(
        json!({"target": "mailchimp", "sku": "990001", "quantity": "3", "manage_stock": false}),
    )
    .unwrap();
    let reply = h.reply(h.send(unmanaged).await).await;
    assert_eq!(reply.routing_key, "mailchimp.stock.set-done");
    assert_eq!(reply.payload()["managed"], false);
    assert_eq!(
        h.store()["products"]["990001"]["variants"]["990001"]["data"]["inventory_quantity"],
        42
    );
    // A seeded product (product id != SKU) is found through the cross-reference of a sync.
    h.ingester
        .sync(
            &h.integration(),
            ferry_connector_mailchimp::Resource::Products,
            ferry_connector_mailchimp::SyncMode::Full,
        )
        .await
        .unwrap();
    let (seed_product, seed_sku) = {
        let store = h.store();
        let (pid, p) = store["products"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(pid, p)| p["variants"].as_object().unwrap().keys().all(|v| v != *pid))
            .unwrap();
        (
            pid.clone(),
            p["variants"]
                .as_object()
                .unwrap()
                .keys()
                .next()
                .unwrap()
                .clone(),
        )
    };
    h.reply(h.send(stock(&seed_sku, "11")).await).await;
    assert_eq!(
        h.store()["products"][&seed_product]["variants"][&seed_sku]["data"]["inventory_quantity"],
        11
    );
    // A configurable product's own SKU is no sellable variant.
    let reply = h.reply(h.send(stock("770000", "1")).await).await;
    assert_eq!(reply.payload()["error"]["code"], "not_found");
    // Errors: fractional quantity, unknown SKU.
    let reply = h.reply(h.send(stock("990001", "1.5")).await).await;
    assert_eq!(reply.routing_key, "mailchimp.stock.failed");
    assert_eq!(reply.payload()["error"]["code"], "validation");
    let reply = h.reply(h.send(stock("123456789", "1")).await).await;
    assert_eq!(reply.payload()["error"]["code"], "not_found");
    assert_eq!(reply.payload()["error"]["retryable"], false);

    // Verification.
    let verify: ProductsVerify = serde_json::from_value(json!({
        "target": "mailchimp", "skus": ["990001", "770001", &seed_sku, "555555", "ABC"]
    }))
    .unwrap();
    let reply = h.reply(h.send(verify).await).await;
    assert_eq!(reply.routing_key, "mailchimp.products.verified");
    assert_eq!(reply.payload()["missing"], json!(["555555", "ABC"]));
    let found: Vec<&str> = reply.payload()["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["sku"].as_str().unwrap())
        .collect();
    assert_eq!(found, vec!["990001", "770001", seed_sku.as_str()]);
    h.stop().await;
}

async fn order_flow(kind: Kind) {
    let h = Harness::start(kind).await;
    h.reply(
        h.send(product_upsert("990001", "Volkorenbrood", true))
            .await,
    )
    .await;
    let find = || -> OrderFind {
        serde_json::from_value(json!({"target": "mailchimp", "external_id": "WEB-1001"})).unwrap()
    };
    let reply = h.reply(h.send(find()).await).await;
    assert_eq!(reply.routing_key, "mailchimp.order.found");
    assert!(reply.payload()["found"].is_null());
    let reply = h
        .reply(
            h.send(order_create("WEB-1001", "990001", "koper@example.nl"))
                .await,
        )
        .await;
    assert_eq!(reply.routing_key, "mailchimp.order.created");
    assert_eq!(reply.payload()["replayed"], false);
    let order = h.store()["orders"]["WEB-1001"].clone();
    assert_eq!(order["rec"]["data"]["customer"]["id"], "cust-WEB-1001");
    assert_eq!(order["lines"].as_object().unwrap().len(), 1);
    // The saga retries the same order: no duplicate.
    let reply = h
        .reply(
            h.send(order_create("WEB-1001", "990001", "koper@example.nl"))
                .await,
        )
        .await;
    assert_eq!(reply.payload()["replayed"], true);
    assert_eq!(
        h.store()["orders"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k == "WEB-1001")
            .count(),
        1
    );
    let reply = h.reply(h.send(find()).await).await;
    assert_eq!(reply.payload()["found"], "WEB-1001");

    // The order's lifecycle: cancelled once (the replay changes nothing), then refunded;
    // an order MailChimp does not have is answered without a target id.
    let set = |id: &str, status: &str| -> OrderSetStatus {
        serde_json::from_value(json!({"target": "mailchimp", "external_id": id, "status": status}))
            .unwrap()
    };
    let reply = h.reply(h.send(set("WEB-1001", "cancelled")).await).await;
    assert_eq!(reply.routing_key, "mailchimp.order.status-set");
    assert_eq!(reply.payload()["changed"], true);
    assert_eq!(reply.payload()["target_id"], "WEB-1001");
    let data = h.store()["orders"]["WEB-1001"]["rec"]["data"].clone();
    assert_eq!(data["financial_status"], "cancelled");
    assert!(data["cancelled_at_foreign"].is_string(), "{data}");
    let reply = h.reply(h.send(set("WEB-1001", "cancelled")).await).await;
    assert_eq!(reply.payload()["changed"], false);
    let reply = h.reply(h.send(set("WEB-1001", "refunded")).await).await;
    assert_eq!(reply.payload()["changed"], true);
    assert_eq!(
        h.store()["orders"]["WEB-1001"]["rec"]["data"]["financial_status"],
        "refunded"
    );
    // A cancellation after the refund leaves the refund.
    let reply = h.reply(h.send(set("WEB-1001", "cancelled")).await).await;
    assert_eq!(reply.payload()["changed"], false);
    let reply = h.reply(h.send(set("WEB-404", "cancelled")).await).await;
    assert!(reply.payload()["target_id"].is_null());
    assert_eq!(reply.payload()["changed"], false);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_find_and_create_in_process() {
    order_flow(Kind::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_find_and_create_postgres() {
    order_flow(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_find_and_create_rabbitmq() {
    order_flow(Kind::Rabbit).await;
}

fn all_faults() -> Vec<FaultKind> {
    vec![
        FaultKind::Latency { ms: 100 },
        FaultKind::TooManyRequests,
        FaultKind::BareStatus { status: 403 },
        FaultKind::BareStatus { status: 429 },
        FaultKind::ServerError { status: 500 },
        FaultKind::ServerError { status: 502 },
        FaultKind::Timeout { ms: 2_500 },
        FaultKind::MalformedBody {
            mode: Corruption::Truncated,
        },
        FaultKind::MalformedBody {
            mode: Corruption::Garbage,
        },
        FaultKind::DropConnection,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_an_order_create_ends_with_the_order_created_exactly_once() {
    let h = Harness::start(Kind::InProcess).await;
    h.reply(
        h.send(product_upsert("990001", "Volkorenbrood", true))
            .await,
    )
    .await;
    for (i, fault) in all_faults().into_iter().enumerate() {
        let id = format!("FAULT-{i}");
        h.fault(
            "POST",
            "/3.0/ecommerce/stores/*/orders",
            fault.clone(),
            Some(2),
        );
        let reply = h
            .reply(
                h.send(order_create(&id, "990001", &format!("f{i}@example.nl")))
                    .await,
            )
            .await;
        assert_eq!(
            reply.routing_key,
            "mailchimp.order.created",
            "{fault:?}: {:?}",
            reply.payload()
        );
        let orders = h.store()["orders"].clone();
        assert!(orders.get(&id).is_some(), "{fault:?}: order missing");
        // A blind second POST would have been refused as a duplicate (400) and failed the
        // command; a create that went through behind a broken answer is found by the lookup.
        if matches!(fault, FaultKind::MalformedBody { .. }) {
            assert_eq!(reply.payload()["replayed"], true, "{fault:?}");
        }
        h.clear_faults();
    }
    let orders = h.store()["orders"].as_object().unwrap().len();
    assert_eq!(
        h.store()["orders"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("FAULT-"))
            .count(),
        all_faults().len()
    );
    assert!(orders >= all_faults().len());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_a_customer_upsert_ends_with_one_customer() {
    let h = Harness::start(Kind::InProcess).await;
    for (i, fault) in all_faults().into_iter().enumerate() {
        let email = format!("fault{i}@example.nl");
        h.fault(
            "PUT",
            "/3.0/ecommerce/stores/*/customers/*",
            fault.clone(),
            Some(2),
        );
        h.fault(
            "GET",
            "/3.0/ecommerce/stores/*/customers",
            fault.clone(),
            Some(1),
        );
        let reply = h.reply(h.send(customer_upsert(&email, "Fout")).await).await;
        assert_eq!(
            reply.routing_key,
            "mailchimp.customer.upserted",
            "{fault:?}: {:?}",
            reply.payload()
        );
        assert_eq!(customers_with_email(&h, &email).len(), 1, "{fault:?}");
        h.clear_faults();
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_outage_replies_a_retryable_failure_and_parks_the_command() {
    let mut options = Options::new(Kind::InProcess);
    options.bus_max_attempts = 2;
    let h = Harness::with(options).await;
    h.fault(
        "PUT",
        "/3.0/ecommerce/stores/*/customers/*",
        FaultKind::ServerError { status: 503 },
        None,
    );
    let id = h
        .send(customer_upsert("outage@example.nl", "Storing"))
        .await;
    let reply = h.reply(id).await;
    assert_eq!(reply.routing_key, "mailchimp.customer.failed");
    let error = &reply.payload()["error"];
    assert_eq!(error["code"], "unavailable");
    assert_eq!(error["retryable"], true);
    assert!(
        error["message"].as_str().unwrap().contains("customers.put"),
        "{error}"
    );
    assert!(
        error["message"].as_str().unwrap().contains("503"),
        "{error}"
    );
    let parked = h.parked("503").await;
    assert_eq!(parked.message_id, id.as_uuid());
    // The outage ends; an operator replays the command: the customer is created once.
    h.clear_faults();
    assert!(
        h.lot
            .replay(&parked.queue, parked.message_id)
            .await
            .unwrap()
    );
    let replies = h.replies(id, 2).await;
    assert!(
        replies
            .iter()
            .any(|r| r.routing_key == "mailchimp.customer.upserted")
    );
    assert_eq!(customers_with_email(&h, "outage@example.nl").len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_never_exceed_the_accounts_connection_limit() {
    let mut options = Options::new(Kind::InProcess);
    options.concurrency = 10;
    let h = Harness::with(options).await;
    h.fault(
        "PUT",
        "/3.0/ecommerce/stores/*/products/*",
        FaultKind::Latency { ms: 150 },
        None,
    );
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            h.send(product_upsert(&format!("66{i:04}"), "Bulk", true))
                .await,
        );
    }
    for id in ids {
        let reply = h.reply(id).await;
        assert_eq!(reply.routing_key, "mailchimp.product.upserted");
    }
    let stats = h.integration().client.stats().snapshot();
    assert!(
        stats.calls.iter().all(|c| c.status != "429"),
        "the sandbox refused a call over the limit: {stats:?}"
    );
    h.stop().await;
}

#[test]
fn command_types_are_routed_to_the_connector() {
    assert_eq!(ProductUpsert::MESSAGE_TYPE, "product.upsert");
    let bindings = ferry_connector_mailchimp::bindings();
    assert_eq!(bindings.len(), 3);
    assert_eq!(bindings[0].pattern, "mailchimp.#");
    // The registry's changes come on the same queue, and the erase requests (GDPR).
    assert_eq!(bindings[1].pattern, "ferry.integration.changed");
    assert_eq!(bindings[2].pattern, "ferry.person.erase-requested");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferrys_own_writes_are_not_observed_back_as_changes() {
    let h = Harness::start(Kind::InProcess).await;
    let integration = h.integration();
    use ferry_connector_mailchimp::{Resource, SyncMode};
    h.ingester
        .sync(&integration, Resource::Customers, SyncMode::Incremental)
        .await
        .unwrap();
    h.ingester
        .sync(&integration, Resource::Products, SyncMode::Incremental)
        .await
        .unwrap();
    h.reply(h.send(customer_upsert("eigen@example.nl", "Eigen")).await)
        .await;
    h.reply(
        h.send(product_upsert("990001", "Eigen product", true))
            .await,
    )
    .await;
    let customers = h
        .ingester
        .sync(&integration, Resource::Customers, SyncMode::Incremental)
        .await
        .unwrap();
    let products = h
        .ingester
        .sync(&integration, Resource::Products, SyncMode::Incremental)
        .await
        .unwrap();
    assert_eq!(customers.published, 0, "{customers:?}");
    assert_eq!(products.published, 0, "{products:?}");
    // A change made in MailChimp afterwards is observed.
    h.mc(
        "PATCH",
        &format!("/ecommerce/stores/{}/products/990001", h.store_id),
        json!({"title": "Changed in MailChimp"}),
    );
    // Even within the same second as Ferry's write (updated_at has a one-second resolution).
    let products = h
        .ingester
        .sync(&integration, Resource::Products, SyncMode::Incremental)
        .await
        .unwrap();
    assert_eq!(products.published, 1, "{products:?}");
    h.stop().await;
}

/// A configurable product of `n` variants (SKUs `{sku}001`...), `overwrite` as given.
fn large_upsert(sku: &str, n: usize, title: &str, overwrite: bool) -> ProductUpsert {
    let variants: Vec<Value> = (1..=n)
        .map(|i| json!({"sku": format!("{sku}{i:03}"), "title": format!("{title} {i}"), "quantity": "2"}))
        .collect();
    serde_json::from_value(json!({
        "target": "mailchimp",
        "product": {
            "sku": sku, "title": title, "price": {"amount": "20", "currency": "EUR"},
            "price_includes_tax": true, "kind": {"type": "configurable", "variants": variants}
        },
        "overwrite_existing": overwrite
    }))
    .expect("valid command")
}

/// An incremental poll of the products.
async fn poll_products(h: &Harness) -> ferry_connector_mailchimp::SyncReport {
    use ferry_connector_mailchimp::{Resource, SyncMode};
    h.ingester
        .sync(&h.integration(), Resource::Products, SyncMode::Incremental)
        .await
        .expect("poll")
}

/// Issue 18, item 4: a product beyond MailChimp's 50 inline variants is written whole (50
/// inline, the rest on the variants endpoint), is not observed back as a change, and with
/// "overwrite existing" off gains its new variants (also past the 50th) by their own `PUT`
/// while the product keeps its information.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_beyond_fifty_variants_is_written_whole_and_grows_with_overwrite_off() {
    let h = Harness::start(Kind::InProcess).await;
    poll_products(&h).await;
    let reply = h
        .reply(h.send(large_upsert("880", 120, "Sock", true)).await)
        .await;
    assert_eq!(reply.routing_key, "mailchimp.product.upserted", "{reply:?}");
    assert_eq!(reply.payload()["created"], true);
    let variants = h.store()["products"]["880"]["variants"].clone();
    assert_eq!(variants.as_object().unwrap().len(), 120);
    assert_eq!(variants["880120"]["data"]["title"], "Sock 120");
    assert_eq!(variants["880120"]["data"]["inventory_quantity"], 2);
    let products = poll_products(&h).await;
    assert_eq!(products.published, 0, "own write observed: {products:?}");

    // Overwrite off: the information enriched in MailChimp stays, the new variants arrive.
    let path = format!("/ecommerce/stores/{}/products/880", h.store_id);
    h.mc("PATCH", &path, json!({"description": "Enriched"}));
    let api = format!("/3.0{path}");
    let product_puts = h.requests("PUT", &api) - h.requests("PUT", &format!("{api}/"));
    let reply = h
        .reply(h.send(large_upsert("880", 123, "Other", false)).await)
        .await;
    assert_eq!(reply.routing_key, "mailchimp.product.upserted", "{reply:?}");
    assert_eq!(reply.payload()["created"], false);
    let product = h.store()["products"]["880"].clone();
    assert_eq!(product["rec"]["data"]["description"], "Enriched");
    assert_eq!(product["rec"]["data"]["title"], "Sock");
    let variants = product["variants"].as_object().unwrap();
    assert_eq!(variants.len(), 123);
    assert_eq!(variants["880050"]["data"]["title"], "Sock 50", "kept");
    assert_eq!(variants["880123"]["data"]["title"], "Other 123", "added");
    assert_eq!(
        h.requests("PUT", &api) - h.requests("PUT", &format!("{api}/")),
        product_puts,
        "no product PUT with overwrite off"
    );
    assert_eq!(
        h.requests("PUT", &format!("{api}/variants/")),
        70 + 3,
        "the 70 past the inline 50 at creation, then only the 3 new ones"
    );

    // Nothing left to add: no write at all.
    let before = h.requests("PUT", &api);
    let reply = h
        .reply(h.send(large_upsert("880", 123, "Other", false)).await)
        .await;
    assert_eq!(reply.routing_key, "mailchimp.product.upserted", "{reply:?}");
    assert_eq!(h.requests("PUT", &api), before);
    h.stop().await;
}

/// A customer as MplusKASSA sends it: no consent recorded.
fn relation_upsert(email: &str, first: &str) -> CustomerUpsert {
    let mut command = customer_upsert(email, first);
    command.customer.opted_in = None;
    command
}

/// Issue 18, item 6: with `audience_members` on, customers become audience members too,
/// consent-safe: a new member without consent is `transactional`, with consent `subscribed`;
/// an existing member keeps its status (an unsubscribed one stays unsubscribed) and gets the
/// merge fields FNAME, LNAME and ADDRESS. Off (the default), no member is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_become_audience_members_consent_safe() {
    let mut options = Options::new(Kind::InProcess);
    options.audience_members = Some(ferry_proto::messages::AudienceStatus::Transactional);
    let h = Harness::with(options).await;
    let member = |h: &Harness, email: &str| {
        let hash = ferry_connector_mailchimp::client::subscriber_hash(email);
        h.state()["lists"][&h.list_id]["members"][&hash].clone()
    };

    let reply = h
        .reply(
            h.send(relation_upsert("relatie@example.nl", "Relatie"))
                .await,
        )
        .await;
    assert_eq!(
        reply.routing_key, "mailchimp.customer.upserted",
        "{reply:?}"
    );
    let m = member(&h, "relatie@example.nl");
    assert_eq!(m["status"], "transactional", "{m}");
    assert_eq!(m["merge_fields"]["FNAME"], "Relatie");
    assert_eq!(m["merge_fields"]["LNAME"], "Tester");
    assert_eq!(
        m["merge_fields"]["ADDRESS"],
        json!({"addr1": "Dorpsstraat 12a", "addr2": "", "city": "Ons Dorp", "state": "",
               "zip": "1234 AB", "country": "NL"})
    );

    h.reply(
        h.send(customer_upsert("akkoord@example.nl", "Akkoord"))
            .await,
    )
    .await;
    assert_eq!(member(&h, "akkoord@example.nl")["status"], "subscribed");

    // An unsubscribed member stays unsubscribed; its merge fields are updated.
    h.mc(
        "POST",
        &format!("/lists/{}/members", h.list_id),
        json!({"email_address": "afgemeld@example.nl", "status": "unsubscribed"}),
    );
    h.reply(
        h.send(customer_upsert("afgemeld@example.nl", "Afgemeld"))
            .await,
    )
    .await;
    let m = member(&h, "afgemeld@example.nl");
    assert_eq!(m["status"], "unsubscribed", "{m}");
    assert_eq!(m["merge_fields"]["FNAME"], "Afgemeld");
    h.stop().await;

    // Off: the store customer only (MailChimp itself adds it as a transactional member,
    // without its address).
    let h = Harness::start(Kind::InProcess).await;
    h.reply(
        h.send(relation_upsert("relatie@example.nl", "Relatie"))
            .await,
    )
    .await;
    assert_eq!(
        h.requests("PUT", &format!("/3.0/lists/{}/members", h.list_id)),
        0,
        "no member written"
    );
    let m = member(&h, "relatie@example.nl");
    assert!(m["merge_fields"]["ADDRESS"].is_null(), "{m}");
    h.stop().await;
}
