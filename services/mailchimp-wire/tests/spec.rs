//! The wire types against the reference specification (`specs/mailchimp/`): every field
//! Ferry writes is a property of the request body the spec defines for that call (or one of
//! the newer fields NOTES.md lists), and every property the spec requires is a field of the
//! type.

use std::collections::BTreeSet;

use ferry_mailchimp_wire::{
    Address, Amount, Customer, Image, ListWebhook, Member, MergeAddress, MergeFields, MergeValue,
    Order, OrderAddress, OrderLine, Product, Store, Variant, WebhookEvents, WebhookSources,
};
use serde::Serialize;
use serde_json::Value;

fn spec() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../specs/mailchimp/marketing-openapi-3.0.81.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the spec")).expect("JSON")
}

/// Follows `$ref`s.
fn resolve<'a>(spec: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().expect("a name");
        v = &spec["components"]["schemas"][name];
    }
    v
}

fn body<'a>(spec: &'a Value, path: &str, method: &str) -> &'a Value {
    let schema =
        &spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path}: no request body in the spec"
    );
    resolve(spec, schema)
}

fn names(v: &Value, key: &str) -> BTreeSet<String> {
    match &v[key] {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// `written` (every field set) against `schema`: no field the schema lacks (but `newer`),
/// every field it requires.
fn check(spec: &Value, what: &str, schema: &Value, written: &impl Serialize, newer: &[&str]) {
    let schema = resolve(spec, schema);
    let written = serde_json::to_value(written).expect("serializes");
    let fields: BTreeSet<String> = written
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    let properties = names(schema, "properties");
    let unknown: Vec<&String> = fields
        .iter()
        .filter(|f| !properties.contains(*f) && !newer.contains(&f.as_str()))
        .collect();
    assert!(unknown.is_empty(), "{what}: not in the spec: {unknown:?}");
    let missing: Vec<String> = names(schema, "required")
        .into_iter()
        .filter(|r| !fields.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: required but not a field: {missing:?}"
    );
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn address() -> Address {
    Address {
        address1: s("Dorpsstraat 1"),
        address2: s("b"),
        city: s("Ons Dorp"),
        province: s("Utrecht"),
        province_code: s("UT"),
        postal_code: s("1234 AB"),
        country: s("Netherlands"),
        country_code: s("NL"),
    }
}

fn customer() -> Customer {
    Customer {
        id: s("c1"),
        email_address: s("a@example.com"),
        opt_in_status: Some(true),
        company: s("Bakkerij"),
        first_name: s("Els"),
        last_name: s("Jansen"),
        sms_phone_number: s("+31201234567"),
        address: Some(address()),
    }
}

fn variant() -> Variant {
    Variant {
        id: s("1001"),
        title: s("Brood"),
        sku: s("1001"),
        price: Some(Amount::from(3)),
        inventory_quantity: Some(Amount::from(7)),
        backorders: s("0"),
        visibility: s("visible"),
        url: s("https://example.com/p"),
        image_url: s("https://example.com/i.png"),
    }
}

fn order_address() -> OrderAddress {
    OrderAddress {
        name: s("Els Jansen"),
        phone: s("+31201234567"),
        company: s("Bakkerij"),
        address: address(),
    }
}

#[test]
fn the_ecommerce_types_write_what_the_spec_defines() {
    let spec = spec();
    let store = Store {
        id: s("shop"),
        list_id: s("l1"),
        name: s("Shop"),
        platform: s("Ferry"),
        currency_code: s("EUR"),
        is_syncing: Some(false),
    };
    check(
        &spec,
        "store",
        body(&spec, "/ecommerce/stores", "post"),
        &store,
        &[],
    );
    let customers = "/ecommerce/stores/{store_id}/customers/{customer_id}";
    let c = body(&spec, customers, "put");
    check(&spec, "customer", c, &customer(), &["sms_phone_number"]);
    check(
        &spec,
        "customer address",
        &c["properties"]["address"],
        &address(),
        &[],
    );

    let product = Product {
        id: s("100"),
        title: s("Brood"),
        handle: s("brood"),
        url: s("https://example.com/p"),
        description: s("Vers"),
        kind: s("Bakery"),
        vendor: s("Bakker"),
        currency_code: s("EUR"),
        image_url: s("https://example.com/i.png"),
        images: vec![Image {
            id: s("i1"),
            url: s("https://example.com/i.png"),
            variant_ids: vec!["1001".into()],
        }],
        published_at_foreign: s("2026-01-01T00:00:00+00:00"),
        variants: vec![variant()],
    };
    let p = body(&spec, "/ecommerce/stores/{store_id}/products", "post");
    check(&spec, "product", p, &product, &[]);
    let items = |v: &Value| resolve(&spec, v)["items"].clone();
    check(
        &spec,
        "variant",
        &items(&p["properties"]["variants"]),
        &variant(),
        &[],
    );
    check(
        &spec,
        "image",
        &items(&p["properties"]["images"]),
        &product.images[0],
        &[],
    );
    let variants = "/ecommerce/stores/{store_id}/products/{product_id}/variants/{variant_id}";
    check(
        &spec,
        "variant put",
        body(&spec, variants, "put"),
        &variant(),
        &[],
    );

    let line = OrderLine {
        id: s("WS-1-1"),
        product_id: s("100"),
        product_variant_id: s("1001"),
        product_title: s("Brood"),
        quantity: Some(Amount::from(2)),
        price: Some(Amount::from(3)),
        discount: Some(Amount::from(1)),
    };
    let order = Order {
        id: s("WS-1"),
        customer: Some(customer()),
        currency_code: s("EUR"),
        order_total: Some(Amount::from(5)),
        tax_total: Some(Amount::from(1)),
        shipping_total: Some(Amount::from(0)),
        discount_total: Some(Amount::from(1)),
        financial_status: s("paid"),
        fulfillment_status: s("shipped"),
        processed_at_foreign: s("2026-01-01T00:00:00+00:00"),
        cancelled_at_foreign: s("2026-01-02T00:00:00+00:00"),
        updated_at_foreign: s("2026-01-02T00:00:00+00:00"),
        created_at: s("2026-01-01T00:00:00+00:00"),
        cart_id: s("cart-1"),
        billing_address: Some(order_address()),
        shipping_address: Some(order_address()),
        lines: vec![line.clone()],
    };
    let o = body(&spec, "/ecommerce/stores/{store_id}/orders", "post");
    check(&spec, "order", o, &order, &["cart_id"]);
    check(
        &spec,
        "order line",
        &items(&o["properties"]["lines"]),
        &line,
        &[],
    );
    check(
        &spec,
        "order address",
        &o["properties"]["shipping_address"],
        &order_address(),
        &[],
    );
    check(
        &spec,
        "order customer",
        &o["properties"]["customer"],
        &customer(),
        &["sms_phone_number"],
    );
    let patch = Order { id: None, ..order };
    let orders = "/ecommerce/stores/{store_id}/orders/{order_id}";
    check(
        &spec,
        "order patch",
        body(&spec, orders, "patch"),
        &patch,
        &["cart_id"],
    );
}

#[test]
fn members_and_webhooks_write_what_the_spec_defines() {
    let spec = spec();
    let mut merges = MergeFields::default();
    merges.insert("FNAME", MergeValue::Text("Els".into()));
    merges.insert(
        "ADDRESS",
        MergeValue::Address(MergeAddress {
            addr1: s("Dorpsstraat 1"),
            addr2: s(""),
            city: s("Ons Dorp"),
            state: s(""),
            zip: s("1234 AB"),
            country: s("NL"),
        }),
    );
    let member = Member {
        id: s("hash"),
        email_address: s("a@example.com"),
        status: s("subscribed"),
        status_if_new: s("transactional"),
        merge_fields: Some(merges),
        tags: Vec::new(),
        last_changed: s("2026-01-01T00:00:00+00:00"),
    };
    let members = "/lists/{list_id}/members/{subscriber_hash}";
    check(&spec, "member", body(&spec, members, "put"), &member, &[]);
    let all = WebhookEvents {
        subscribe: true,
        unsubscribe: true,
        profile: true,
        cleaned: true,
        upemail: true,
        campaign: true,
    };
    let sources = WebhookSources {
        user: true,
        admin: true,
        api: true,
    };
    let webhook = ListWebhook {
        id: s("w1"),
        url: s("https://example.com/hook"),
        events: all,
        sources,
    };
    let w = body(&spec, "/lists/{list_id}/webhooks", "post");
    check(&spec, "webhook", w, &webhook, &[]);
    check(
        &spec,
        "webhook events",
        &w["properties"]["events"],
        &all,
        &[],
    );
    check(
        &spec,
        "webhook sources",
        &w["properties"]["sources"],
        &sources,
        &[],
    );
}

#[test]
fn the_problem_body_has_the_specs_fields() {
    let spec = spec();
    let problem = ferry_mailchimp_wire::Problem {
        kind: s("https://mailchimp.com/developer/marketing/docs/errors/"),
        title: s("Invalid Resource"),
        status: Some(400),
        detail: s("d"),
        instance: s("i"),
        errors: vec![ferry_mailchimp_wire::FieldError {
            field: s(""),
            message: s("m"),
        }],
    };
    let schema = &spec["components"]["schemas"]["Problem_Detail_Document"];
    // `errors` is documented on validation answers (NOTES.md), not in this schema.
    check(&spec, "problem", schema, &problem, &["errors"]);
}
