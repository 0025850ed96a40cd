//! Commands executed against the sandbox over real HTTP, on both buses: customers (person and
//! company, found by e-mail), categories, products with variants, stock, orders with their
//! idempotency key, SKU verification, and precise failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ferry_proto::messages::{
    CategoryUpsert, CustomerFind, CustomerUpsert, ErrorCode, OrderCreate, OrderFind, ProductUpsert,
    ProductsVerify, StockSet,
};
use ferry_proto::model::{
    Attribute, Category, ContactPerson, CustomerKind, Product, ProductKind, TargetOrder, Variant,
};
use ferry_proto::{
    CurrencyCode, Email, ExternalId, IntegrationId, Money, Name, Quantity, Sku, System,
};
use support::{BusKind, Harness, Options, order, orders, person, relations};

const WAIT: Duration = Duration::from_secs(20);

fn payload(e: &ferry_proto::Envelope<serde_json::Value>) -> &serde_json::Value {
    &e.payload
}

async fn customers_are_upserted_by_email(kind: BusKind) {
    let h = Harness::new(Options {
        bus: kind,
        ..Options::default()
    })
    .await;
    let email = "anna.devries@example.org";

    let first = h
        .send(CustomerUpsert {
            target: System::Mpluskassa,
            customer: person(email),
            existing_id: None,
        })
        .await;
    let reply = h.reply_to(first, WAIT).await;
    assert_eq!(
        reply.message_type, "customer.upserted",
        "{:?}",
        reply.payload
    );
    assert_eq!(payload(&reply)["created"], true);
    let number = payload(&reply)["target_id"].as_str().unwrap().to_owned();

    // The same customer again (another message): found by e-mail, updated, not created.
    let mut changed = person(email);
    changed.last_name = Some(Name::parse("Jansen").unwrap());
    let second = h
        .send(CustomerUpsert {
            target: System::Mpluskassa,
            customer: changed,
            existing_id: None,
        })
        .await;
    let reply = h.reply_to(second, WAIT).await;
    assert_eq!(payload(&reply)["created"], false);
    assert_eq!(payload(&reply)["target_id"], number.as_str());

    // A company with its contact person.
    let company_mail = "inkoop@bakkerij.example.nl";
    let mut company = person(company_mail);
    company.kind = CustomerKind::Company {
        company_name: Name::parse("Bakkerij Jansen BV").unwrap(),
        vat_number: None,
        contact: ContactPerson {
            first_name: Some(Name::parse("Els").unwrap()),
            last_name: Some(Name::parse("Jansen").unwrap()),
            email: None,
            phone: None,
        },
    };
    let third = h
        .send(CustomerUpsert {
            target: System::Mpluskassa,
            customer: company.clone(),
            existing_id: None,
        })
        .await;
    assert_eq!(payload(&h.reply_to(third, WAIT).await)["created"], true);
    let fourth = h
        .send(CustomerUpsert {
            target: System::Mpluskassa,
            customer: company,
            existing_id: None,
        })
        .await;
    assert_eq!(payload(&h.reply_to(fourth, WAIT).await)["created"], false);

    let find = h
        .send(CustomerFind {
            target: System::Mpluskassa,
            email: Email::parse(email).unwrap(),
        })
        .await;
    let found = h.reply_to(find, WAIT).await;
    assert_eq!(found.message_type, "customer.found");
    assert_eq!(payload(&found)["found"], number.as_str());
    let missing = h
        .send(CustomerFind {
            target: System::Mpluskassa,
            email: Email::parse("nobody@example.org").unwrap(),
        })
        .await;
    assert!(payload(&h.reply_to(missing, WAIT).await)["found"].is_null());

    let dump = h.dump();
    let rels = relations(&dump);
    let with = |mail: &str| {
        rels.iter()
            .filter(|r| r["email"].as_str().unwrap_or("").eq_ignore_ascii_case(mail))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(with(email).len(), 1, "one relation per e-mail");
    assert_eq!(with(email)[0]["name"], "Anna Jansen");
    let companies = with(company_mail);
    assert_eq!(companies.len(), 1);
    assert_eq!(companies[0]["company_name"], "Bakkerij Jansen BV");
    let contacts = companies[0]["contact_list"].as_array().unwrap();
    assert_eq!(
        contacts.len(),
        1,
        "the contact person is kept, not duplicated: {contacts:?}"
    );
    assert_eq!(contacts[0]["name"], "Els Jansen");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customers_are_upserted_by_email_in_process() {
    customers_are_upserted_by_email(BusKind::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customers_are_upserted_by_email_on_rabbitmq() {
    customers_are_upserted_by_email(BusKind::Rabbit).await;
}

/// Sends `product.upsert` and answers its `product.upserted` reply.
async fn upsert(
    h: &Harness,
    product: Product,
    overwrite_existing: bool,
) -> ferry_proto::Envelope<serde_json::Value> {
    let command = h
        .send(ProductUpsert {
            target: System::Mpluskassa,
            product,
            overwrite_existing,
        })
        .await;
    let reply = h.reply_to(command, WAIT).await;
    assert_eq!(
        reply.message_type, "product.upserted",
        "{:?}",
        reply.payload
    );
    reply
}

fn shirt(skus: &[&str]) -> Product {
    let eur = CurrencyCode::EUR;
    Product {
        sku: Sku::parse("7001").unwrap(),
        title: Name::parse("Ferry test shirt").unwrap(),
        short_description: None,
        long_description: None,
        price: Money::from_minor_units(1995, eur),
        price_includes_tax: true,
        tax_rate: Some(ferry_proto::TaxRate::parse("21").unwrap()),
        gtin: None,
        category: None,
        attributes: Vec::new(),
        properties: Default::default(),
        kind: ProductKind::Configurable {
            variants: skus
                .iter()
                .map(|s| Variant {
                    sku: Sku::parse(s).unwrap(),
                    title: Some(Name::parse(&format!("Ferry test shirt {s}")).unwrap()),
                    price: None,
                    gtin: None,
                    attributes: vec![Attribute {
                        name: Name::parse("size").unwrap(),
                        value: Name::parse(s).unwrap(),
                    }],
                    quantity: None,
                })
                .collect(),
        },
        quantity: None,
    }
}

async fn catalogue_stock_and_orders(kind: BusKind) {
    let h = Harness::new(Options {
        bus: kind,
        ..Options::default()
    })
    .await;

    // Category, then a configurable product with two variants, then a third variant.
    let cat = h
        .send(CategoryUpsert {
            target: System::Mpluskassa,
            category: Category {
                key: ExternalId::parse("ferry-tests").unwrap(),
                name: Name::parse("Ferry tests").unwrap(),
                parent: None,
            },
        })
        .await;
    let reply = h.reply_to(cat, WAIT).await;
    assert_eq!(
        reply.message_type, "category.upserted",
        "{:?}",
        reply.payload
    );
    assert_eq!(payload(&reply)["created"], true);
    let again = h
        .send(CategoryUpsert {
            target: System::Mpluskassa,
            category: Category {
                key: ExternalId::parse("ferry-tests").unwrap(),
                name: Name::parse("Ferry tests").unwrap(),
                parent: None,
            },
        })
        .await;
    assert_eq!(
        payload(&h.reply_to(again, WAIT).await)["created"],
        false,
        "found by name under its parent"
    );
    let parent_group = payload(&reply)["target_id"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let child = h
        .send(CategoryUpsert {
            target: System::Mpluskassa,
            category: Category {
                key: ExternalId::parse("ferry-tests-shirts").unwrap(),
                name: Name::parse("Shirts").unwrap(),
                parent: Some(ExternalId::parse("ferry-tests").unwrap()),
            },
        })
        .await;
    let child_reply = h.reply_to(child, WAIT).await;
    assert_eq!(
        child_reply.message_type, "category.upserted",
        "{:?}",
        child_reply.payload
    );
    let child_group = payload(&child_reply)["target_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let orphan = h
        .send(CategoryUpsert {
            target: System::Mpluskassa,
            category: Category {
                key: ExternalId::parse("orphan").unwrap(),
                name: Name::parse("Orphan").unwrap(),
                parent: Some(ExternalId::parse("never-sent").unwrap()),
            },
        })
        .await;
    let orphan_reply = h.reply_to(orphan, WAIT).await;
    assert_eq!(orphan_reply.message_type, "command.failed");
    assert_eq!(payload(&orphan_reply)["error"]["code"], "not_found");
    assert_eq!(payload(&orphan_reply)["error"]["retryable"], true);

    let mut first_shirt = shirt(&["700101", "700102"]);
    first_shirt.category = Some(ferry_proto::model::CategoryRef {
        key: ExternalId::parse("ferry-tests-shirts").unwrap(),
        name: None,
    });
    let reply = upsert(&h, first_shirt, true).await;
    assert_eq!(payload(&reply)["created"], true);
    let product_number = payload(&reply)["target_id"].clone();
    let reply = upsert(&h, shirt(&["700101", "700102", "700103"]), true).await;
    assert_eq!(payload(&reply)["created"], false);
    assert_eq!(payload(&reply)["target_id"], product_number);
    let reply = upsert(&h, shirt(&["700101"]), false).await;
    assert_eq!(payload(&reply)["created"], false);
    // Issue 18, item 4: overwrite off adds a new variant as an article of the product (with
    // its barcode and size) and keeps the product's information.
    let mut renamed = shirt(&["700101", "700104"]);
    renamed.title = Name::parse("Renamed shirt").unwrap();
    if let ProductKind::Configurable { variants } = &mut renamed.kind {
        variants[1].gtin = Some(ferry_proto::Gtin::parse("4006381333931").unwrap());
    }
    let reply = upsert(&h, renamed, false).await;
    assert_eq!(payload(&reply)["created"], false);
    assert_eq!(payload(&reply)["target_id"], product_number);

    let verify = h
        .send(ProductsVerify {
            target: System::Mpluskassa,
            skus: vec![
                Sku::parse("700103").unwrap(),
                Sku::parse("999999999").unwrap(),
            ],
        })
        .await;
    let reply = h.reply_to(verify, WAIT).await;
    assert_eq!(reply.message_type, "products.verified");
    assert_eq!(payload(&reply)["missing"], serde_json::json!(["999999999"]));
    assert_eq!(payload(&reply)["found"][0]["sku"], "700103");

    let stock = h
        .send(StockSet {
            target: System::Mpluskassa,
            sku: Sku::parse("700102").unwrap(),
            quantity: Quantity::parse("7").unwrap(),
            manage_stock: true,
        })
        .await;
    let reply = h.reply_to(stock, WAIT).await;
    assert_eq!(reply.message_type, "stock.set-done", "{:?}", reply.payload);
    let unknown = h
        .send(StockSet {
            target: System::Mpluskassa,
            sku: Sku::parse("404404").unwrap(),
            quantity: Quantity::parse("1").unwrap(),
            manage_stock: true,
        })
        .await;
    let failed = h.reply_to(unknown, WAIT).await;
    assert_eq!(failed.message_type, "command.failed");
    assert_eq!(payload(&failed)["error"]["code"], "not_found");
    assert!(
        payload(&failed)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("404404")
    );

    let dump = h.dump();
    let products = dump["products"].as_object().unwrap();
    let shirts: Vec<_> = products
        .values()
        .filter(|p| p["description"] == "Ferry test shirt")
        .collect();
    assert_eq!(shirts.len(), 1, "one product, never a duplicate");
    let articles = shirts[0]["articles"].as_array().unwrap();
    assert_eq!(articles.len(), 4);
    let added = articles
        .iter()
        .find(|a| a["plu_number"] == "700104")
        .expect("the variant added with overwrite off");
    assert_eq!(added["barcode"], "4006381333931");
    assert_eq!(added["size"], "700104");
    assert_eq!(
        shirts[0]["group_numbers"],
        serde_json::json!([child_group.parse::<i64>().unwrap()])
    );
    assert_eq!(
        dump["article_groups"][child_group.as_str()]["parent_group_number"],
        parent_group
    );

    // Orders: find (absent), customer, create, create again (replay), find (present).
    let email = "order.buyer@example.org";
    let find = h
        .send(OrderFind {
            target: System::Mpluskassa,
            external_id: ExternalId::parse("WEB-1001").unwrap(),
        })
        .await;
    assert!(payload(&h.reply_to(find, WAIT).await)["found"].is_null());
    let customer = h
        .send(CustomerUpsert {
            target: System::Mpluskassa,
            customer: person(email),
            existing_id: None,
        })
        .await;
    let relation = payload(&h.reply_to(customer, WAIT).await)["target_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A payment term of 14 days: MplusKASSA keeps it on the relation.
    let target = order(
        "WEB-1001",
        email,
        &[("700101", 2, 1995), ("700102", 1, 1995)],
    )
    .with_payment_codes(
        Some(Name::parse("IDEAL").unwrap()),
        Some(Name::parse("14").unwrap()),
    );
    let key =
        OrderCreate::idempotency_key_for(h.integration, &ExternalId::parse("WEB-1001").unwrap());
    let create = OrderCreate {
        target: System::Mpluskassa,
        order: target,
        customer_id: ExternalId::parse(&relation).unwrap(),
        idempotency_key: key,
        articles: Vec::new(),
    };
    let first = h.send(create.clone()).await;
    let reply = h.reply_to(first, WAIT).await;
    assert_eq!(reply.message_type, "order.created", "{:?}", reply.payload);
    assert_eq!(payload(&reply)["replayed"], false);
    let order_id = payload(&reply)["target_id"].clone();
    let second = h.send(create.clone()).await;
    let reply = h.reply_to(second, WAIT).await;
    assert_eq!(payload(&reply)["replayed"], true);
    assert_eq!(payload(&reply)["target_id"], order_id);
    let find = h
        .send(OrderFind {
            target: System::Mpluskassa,
            external_id: ExternalId::parse("WEB-1001").unwrap(),
        })
        .await;
    assert_eq!(payload(&h.reply_to(find, WAIT).await)["found"], order_id);

    // Another key for the same external id: MplusKASSA refuses the duplicate, the connector
    // answers with the existing order.
    let mut other_key = create.clone();
    other_key.idempotency_key = ferry_proto::IdempotencyKey::parse("another-key").unwrap();
    let third = h.send(other_key).await;
    let reply = h.reply_to(third, WAIT).await;
    assert_eq!(payload(&reply)["target_id"], order_id);

    // An order with an unknown SKU fails precisely.
    let bad = OrderCreate {
        target: System::Mpluskassa,
        order: order("WEB-1002", email, &[("404404", 1, 100)]),
        customer_id: ExternalId::parse(&relation).unwrap(),
        idempotency_key: OrderCreate::idempotency_key_for(
            h.integration,
            &ExternalId::parse("WEB-1002").unwrap(),
        ),
        articles: Vec::new(),
    };
    let failed = h.reply_to(h.send(bad).await, WAIT).await;
    assert_eq!(failed.message_type, "command.failed");
    assert_eq!(payload(&failed)["command_type"], "order.create");
    assert_eq!(payload(&failed)["error"]["code"], "not_found");
    assert_eq!(
        payload(&failed)["error"]["details"]["missing_skus"],
        serde_json::json!(["404404"])
    );

    let dump = h.dump();
    let placed: Vec<_> = orders(&dump)
        .into_iter()
        .filter(|o| o["ext_order_id"] == "WEB-1001")
        .collect();
    assert_eq!(placed.len(), 1, "exactly one order per extOrderId");
    assert_eq!(placed[0]["employee_number"], 999999);
    assert_eq!(placed[0]["lines"].as_array().unwrap().len(), 2);
    let buyer = relations(&dump)
        .into_iter()
        .find(|r| r["relation_number"].as_i64() == relation.parse::<i64>().ok())
        .unwrap();
    assert_eq!(buyer["payment_within_days"], 14, "{buyer}");
    // Revenue account 8000 is booked through the turnover group with that accountNumber.
    for line in placed[0]["lines"].as_array().unwrap() {
        assert_eq!(line["turnover_group"], 10, "{line}");
    }
    assert_eq!(placed[0]["payments"][0]["method"], "IDEAL");
    assert_eq!(placed[0]["payments"][0]["amount"], 3 * 1995);
    assert!(
        orders(&dump)
            .iter()
            .all(|o| o["ext_order_id"] != "WEB-1002")
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn catalogue_stock_and_orders_in_process() {
    catalogue_stock_and_orders(BusKind::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn catalogue_stock_and_orders_on_rabbitmq() {
    catalogue_stock_and_orders(BusKind::Rabbit).await;
}

/// `order.create` of `target` for relation `customer`, keyed as the saga keys it.
fn create_command(integration: IntegrationId, target: TargetOrder, customer: &str) -> OrderCreate {
    let ext = target.order().external_id.clone();
    OrderCreate {
        target: System::Mpluskassa,
        order: target,
        customer_id: ExternalId::parse(customer).unwrap(),
        idempotency_key: OrderCreate::idempotency_key_for(integration, &ext),
        articles: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_commands_reply_precisely_and_are_acknowledged() {
    let h = Harness::new(Options::default()).await;
    // No employee number: MplusKASSA orders need one.
    let mut target = order("WEB-2001", "x@example.org", &[("100101", 1, 2495)]);
    target = TargetOrder::new(
        target.order().clone(),
        target.customer_plan().clone(),
        target.line_codes().to_vec(),
    )
    .unwrap();
    let cmd = create_command(h.integration, target, "20001");
    let failed = h.reply_to(h.send(cmd).await, WAIT).await;
    assert_eq!(failed.message_type, "command.failed");
    assert_eq!(
        failed.payload["error"]["code"],
        ErrorCode::Validation.as_str()
    );
    assert!(
        failed.payload["error"]["message"]
            .as_str()
            .unwrap()
            .contains("employee number")
    );
    assert_eq!(failed.payload["error"]["retryable"], false);

    // A relation that does not exist: MplusKASSA's refusal, with its result and message.
    let cmd = create_command(
        h.integration,
        order("WEB-2002", "x@example.org", &[("100101", 1, 2495)]),
        "987654",
    );
    let failed = h.reply_to(h.send(cmd).await, WAIT).await;
    assert_eq!(failed.payload["error"]["code"], "remote_rejected");
    assert_eq!(
        failed.payload["error"]["details"]["result"],
        "CREATE-ORDER-RESULT-FAILED"
    );
    assert!(
        failed.payload["error"]["details"]["error_message"]
            .as_str()
            .unwrap()
            .contains("987654")
    );

    // A payment term that is not a number of days: a mapping error, nothing sent.
    let target = order("WEB-2004", "x@example.org", &[("100101", 1, 2495)])
        .with_payment_codes(None, Some(Name::parse("NET30").unwrap()));
    let failed = h
        .reply_to(
            h.send(create_command(h.integration, target, "20001")).await,
            WAIT,
        )
        .await;
    assert_eq!(
        failed.payload["error"]["code"], "mapping",
        "{}",
        failed.payload
    );
    assert!(
        failed.payload["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payment term \"NET30\" is not a number of days"),
        "{}",
        failed.payload
    );

    // A revenue account no turnover group books to: a mapping error naming the accounts the
    // installation has, before anything is sent to MplusKASSA.
    let mut target = order("WEB-2003", "x@example.org", &[("100101", 1, 2495)]);
    let mut codes = target.line_codes().to_vec();
    codes[0].revenue_account = Some(ExternalId::parse("7777").unwrap());
    target = TargetOrder::new(
        target.order().clone(),
        target.customer_plan().clone(),
        codes,
    )
    .unwrap()
    .with_employee_number(ferry_proto::model::EmployeeNumber::DEFAULT);
    let cmd = create_command(h.integration, target, "20001");
    let failed = h.reply_to(h.send(cmd).await, WAIT).await;
    assert_eq!(
        failed.payload["error"]["code"], "mapping",
        "{}",
        failed.payload
    );
    assert_eq!(failed.payload["error"]["retryable"], false);
    let message = failed.payload["error"]["message"].as_str().unwrap();
    assert!(message.contains("revenue account 7777"), "{message}");
    assert!(message.contains("8000 (10 Kleding)"), "{message}");
    let known = failed.payload["error"]["details"]["known_accounts"].clone();
    assert!(
        known.as_array().unwrap().contains(&serde_json::json!(8000)),
        "{known}"
    );
    assert!(
        orders(&h.dump())
            .iter()
            .all(|o| o["ext_order_id"] != "WEB-2003")
    );

    assert!(
        h.dead.lock().unwrap().is_empty(),
        "refusals are replies, not dead letters"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_delivered_twice_has_one_effect_and_one_reply() {
    let h = Harness::new(Options::default()).await;
    let envelope = ferry_proto::Envelope::new(
        h.integration,
        CustomerUpsert {
            target: System::Mpluskassa,
            customer: person("twice@example.org"),
            existing_id: None,
        },
    );
    let message = ferry_platform::bus::BusMessage::from_envelope(&envelope).unwrap();
    h.bus.publish(message.clone()).await.unwrap();
    h.bus.publish(message).await.unwrap();
    let id = envelope.message_id.as_uuid();
    h.reply_to(id, WAIT).await;
    // Both deliveries handled (acknowledged by the connector's queue; the in-process bus
    // delivers a message id twice when it is published twice).
    h.until("both deliveries acknowledged", WAIT, |_| {
        acked("connector-mpluskassa") >= 2
    })
    .await;
    let replies = h
        .events_of("customer.upserted")
        .into_iter()
        .filter(|e| e.causation_id.map(|c| c.as_uuid()) == Some(id))
        .count();
    assert_eq!(replies, 1, "one reply for one command");
    let dump = h.dump();
    assert_eq!(
        relations(&dump)
            .iter()
            .filter(|r| r["email"] == "twice@example.org")
            .count(),
        1
    );
    h.stop().await;
}

/// Deliveries of `queue` acknowledged so far (from the process's metrics).
fn acked(queue: &str) -> u64 {
    let wanted = format!("ferry_bus_messages_consumed_total{{queue=\"{queue}\",outcome=\"ack\"}}");
    ferry_platform::metrics::encode()
        .lines()
        .find_map(|l| {
            l.strip_prefix(wanted.as_str())
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .map_or(0, |v| v as u64)
}

/// `order.set-status`: an open order is cancelled with `cancelOrder` once (a replay and a
/// refund after it change nothing); a delivered order is left as it is, answered with the
/// reason and what to do; an order MplusKASSA does not have is answered without a target id.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancellations_and_refunds_follow_the_rules() {
    use ferry_proto::messages::OrderSetStatus;
    use ferry_proto::model::OrderStatus;
    let h = Harness::new(Options::default()).await;
    let email = "lifecycle@example.org";
    let customer = h
        .send(CustomerUpsert {
            target: System::Mpluskassa,
            customer: person(email),
            existing_id: None,
        })
        .await;
    let relation = payload(&h.reply_to(customer, WAIT).await)["target_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ids = Vec::new();
    for ext in ["LC-1", "LC-2"] {
        let target = order(ext, email, &[("100101", 1, 2495)]);
        let created = h
            .reply_to(
                h.send(create_command(h.integration, target, &relation))
                    .await,
                WAIT,
            )
            .await;
        assert_eq!(
            created.message_type, "order.created",
            "{:?}",
            created.payload
        );
        ids.push(payload(&created)["target_id"].as_str().unwrap().to_owned());
    }
    let set = |ext: &str, status| OrderSetStatus {
        target: System::Mpluskassa,
        external_id: ExternalId::parse(ext).unwrap(),
        status,
    };
    let before = h.dump();
    let reply = h
        .reply_to(h.send(set("LC-1", OrderStatus::Cancelled)).await, WAIT)
        .await;
    assert_eq!(
        reply.message_type, "order.status-set",
        "{:?}",
        reply.payload
    );
    assert_eq!(payload(&reply)["changed"], true);
    assert_eq!(payload(&reply)["target_id"], ids[0].as_str());
    let cancelled = |dump: &serde_json::Value| {
        orders(dump)
            .into_iter()
            .find(|o| o["ext_order_id"] == "LC-1")
            .map(|o| o["cancel_state"].clone())
    };
    assert_eq!(
        cancelled(&h.dump()),
        Some(serde_json::json!("ORDER-CANCEL-STATE-COMPLETE"))
    );
    assert_ne!(cancelled(&before), cancelled(&h.dump()));
    for status in [OrderStatus::Cancelled, OrderStatus::Refunded] {
        let again = h.reply_to(h.send(set("LC-1", status)).await, WAIT).await;
        assert_eq!(payload(&again)["changed"], false, "{status}");
    }

    // Delivered (and so invoiced): not carried, with the reason and what to do.
    support::deliver(&h, &ids[1]).await;
    let refused = h
        .reply_to(h.send(set("LC-2", OrderStatus::Refunded)).await, WAIT)
        .await;
    assert_eq!(
        refused.message_type, "order.status-set",
        "{:?}",
        refused.payload
    );
    assert_eq!(payload(&refused)["changed"], false);
    let why = payload(&refused)["refused"].as_str().unwrap();
    assert!(
        why.contains("delivered") && why.contains("credit invoice"),
        "{why}"
    );
    let lc2 = orders(&h.dump())
        .into_iter()
        .find(|o| o["ext_order_id"] == "LC-2")
        .unwrap();
    assert_ne!(lc2["cancel_state"], "ORDER-CANCEL-STATE-COMPLETE");

    let unknown = h
        .reply_to(h.send(set("LC-404", OrderStatus::Cancelled)).await, WAIT)
        .await;
    assert_eq!(unknown.message_type, "order.status-set");
    assert!(payload(&unknown)["target_id"].is_null());
    h.stop().await;
}
