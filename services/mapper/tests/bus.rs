//! The mapper end to end on both buses: observed events in, commands out; bad records parked
//! with a reason naming the integration, the record and the field; duplicates absorbed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_mapper::consumer::{ConfigCache, MapperHandler};
use ferry_mapper::samples;
use ferry_mapper::settings::{Settings, ValueMap};
use ferry_mapper::store::{self, Kind};
use ferry_platform::bus::inbox::Inbox;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{Binding, BusMessage, Delivery, Exchange, Handler, Outcome, headers};
use ferry_proto::messages::{CustomerUpsert, OrderMapped, ProductUpsert, StockSet};
use ferry_proto::{Envelope, IntegrationId, Message};
use support::{Harness, Kind as BusKind, next};

fn message<P: Message>(integration: IntegrationId, payload: P) -> (BusMessage, Envelope<P>) {
    let envelope = Envelope::new(integration, payload);
    (
        BusMessage::from_envelope(&envelope).expect("encodes"),
        envelope,
    )
}

async fn observed_records_become_commands(kind: BusKind) {
    let mut h = Harness::start(kind).await;
    let mut out = h
        .observe(
            "test-observer",
            vec![
                Binding::commands("mailchimp.#"),
                Binding::commands("mpluskassa.#"),
                Binding::events("*.order.mapped"),
            ],
        )
        .await;
    let integration = IntegrationId::new();
    let mut settings = Settings::default();
    settings.orders.vat_codes = ValueMap::of([("NL", "2"), ("BE", "12")]);
    settings.orders.employee_number = 4711;
    settings.products.overwrite_existing = false;
    store::save(
        &h.db,
        integration,
        Kind::Settings,
        &settings,
        "test",
        None,
        Some(0),
    )
    .await
    .expect("settings saved");

    let inputs = [
        message(integration, samples::customer(true)).0,
        message(integration, samples::product("100200", 3)).0,
        message(integration, samples::category()).0,
        message(integration, samples::stock("100200", "10", "4", "6")).0,
        message(integration, samples::order(3, "BE", false)).0,
    ];
    let mut by_id = BTreeMap::new();
    for m in &inputs {
        by_id.insert(m.message_id, m.routing_key.clone());
        h.publish(m.clone()).await;
    }
    let mut seen = BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    while seen.len() < inputs.len() {
        let d = next(&mut out, 20).await;
        // Delivery is at least once (an outbox row may be relayed again): count each id once.
        if !ids.insert(d.message.message_id) {
            continue;
        }
        let env =
            Envelope::<serde_json::Value>::from_json_slice(&d.message.body).expect("envelope");
        assert_eq!(env.integration_id, integration);
        let cause = env
            .causation_id
            .expect("caused by the observed record")
            .as_uuid();
        let source_key = by_id.get(&cause).expect("caused by one of ours").clone();
        match d.message.routing_key.as_str() {
            "mpluskassa.customer.upsert" => {
                let c: CustomerUpsert = env.into_typed().expect("typed").payload;
                assert!(matches!(
                    c.customer.kind,
                    ferry_proto::model::CustomerKind::Company { .. }
                ));
            }
            "mailchimp.product.upsert" => {
                let p: ProductUpsert = env.into_typed().expect("typed").payload;
                assert!(!p.overwrite_existing, "the setting is applied");
                assert_eq!(p.product.skus().len(), 4);
            }
            "mailchimp.category.upsert" => {}
            "mailchimp.stock.set" => {
                let s: StockSet = env.into_typed().expect("typed").payload;
                assert_eq!(s.quantity.value(), 6.into(), "physical minus reserved");
            }
            "mpluskassa.order.mapped" => {
                let o: OrderMapped = env.into_typed().expect("typed").payload;
                assert_eq!(o.order.employee_number().map(|e| e.0), Some(4711));
                assert!(
                    o.order
                        .line_codes()
                        .iter()
                        .all(|c| c.vat_code.as_ref().map(|v| v.as_str()) == Some("12"))
                );
            }
            other => panic!("unexpected {other}"),
        }
        assert!(
            seen.insert(d.message.routing_key.clone(), source_key)
                .is_none(),
            "one command per record"
        );
    }
    let expected = [
        ("mailchimp.category.upsert", "mpluskassa.category.observed"),
        ("mailchimp.product.upsert", "mpluskassa.product.observed"),
        ("mailchimp.stock.set", "mpluskassa.stock.observed"),
        ("mpluskassa.customer.upsert", "mailchimp.customer.observed"),
        ("mpluskassa.order.mapped", "mailchimp.order.observed"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        expected,
        "each command caused by its record"
    );
    h.stop().await;
}

async fn bad_records_are_parked(kind: BusKind) {
    let mut h = Harness::start(kind).await;
    let mut parked = h.parked().await;
    let integration = IntegrationId::new();

    // A non-numeric SKU for MailChimp.
    let (bad_sku, _) = message(integration, samples::product("SHIRT-XL", 0));
    h.publish(bad_sku.clone()).await;
    let d = next(&mut parked, 20).await;
    assert_eq!(d.message.message_id, bad_sku.message_id);
    let reason = d
        .message
        .header(headers::DEAD_REASON)
        .expect("reason")
        .to_owned();
    for part in [
        integration.to_string().as_str(),
        "SHIRT-XL",
        "sku (non_numeric_sku)",
        "products record",
    ] {
        assert!(reason.contains(part), "{part:?} missing in {reason}");
    }

    // An order to a country without VAT code.
    let (no_vat, _) = message(integration, samples::order(2, "DE", false));
    h.publish(no_vat.clone()).await;
    let d = next(&mut parked, 20).await;
    assert_eq!(d.message.message_id, no_vat.message_id);
    let reason = d
        .message
        .header(headers::DEAD_REASON)
        .expect("reason")
        .to_owned();
    assert!(
        reason.contains("MC-2026-0042")
            && reason.contains("line_codes[1].vat_code")
            && reason.contains("country DE"),
        "{reason}"
    );

    // A payload that breaks the contract (the e-mail address is masked in the reason).
    let mut json =
        serde_json::to_value(Envelope::new(integration, samples::customer(false))).expect("json");
    json["payload"]["customer"]["email"] = serde_json::json!("not-an-email");
    let broken = BusMessage::new(
        Exchange::Events,
        "mailchimp.customer.observed",
        uuid::Uuid::now_v7(),
        serde_json::to_vec(&json).expect("bytes"),
    );
    h.publish(broken.clone()).await;
    let d = next(&mut parked, 20).await;
    assert_eq!(d.message.message_id, broken.message_id);
    let reason = d
        .message
        .header(headers::DEAD_REASON)
        .expect("reason")
        .to_owned();
    assert!(
        reason.contains(&integration.to_string()) && reason.contains("invalid payload"),
        "{reason}"
    );

    // Not even an envelope.
    let garbage = BusMessage::new(
        Exchange::Events,
        "mpluskassa.stock.observed",
        uuid::Uuid::now_v7(),
        b"{nope".to_vec(),
    );
    h.publish(garbage.clone()).await;
    let d = next(&mut parked, 20).await;
    assert_eq!(d.message.message_id, garbage.message_id);
    h.stop().await;
}

#[tokio::test]
async fn in_process_observed_records_become_commands() {
    observed_records_become_commands(BusKind::InProcess).await;
}

#[tokio::test]
async fn rabbitmq_observed_records_become_commands() {
    observed_records_become_commands(BusKind::Rabbit).await;
}

#[tokio::test]
async fn in_process_bad_records_are_parked() {
    bad_records_are_parked(BusKind::InProcess).await;
}

#[tokio::test]
async fn rabbitmq_bad_records_are_parked() {
    bad_records_are_parked(BusKind::Rabbit).await;
}

/// A message delivered twice has one effect: one command in the outbox.
#[tokio::test]
async fn duplicates_are_absorbed_by_the_inbox() {
    let database = ferry_platform::db::testing::sqlite_temp();
    let db = ferry_platform::db::connect(database.config())
        .await
        .expect("connect");
    ferry_platform::db::migrate::<ferry_mapper::Migrator>(&db)
        .await
        .expect("migrate");
    let outbox = Outbox::new("mapper-dup-test");
    let handler = MapperHandler::new(
        db.clone(),
        Inbox::new("mapper"),
        outbox.clone(),
        std::sync::Arc::new(ConfigCache::default()),
    );
    let (m, _) = message(IntegrationId::new(), samples::customer(false));
    let delivery = Delivery {
        message: m,
        queue: "mapper".into(),
        attempt: 1,
        redelivered: false,
    };
    assert_eq!(handler.handle(&delivery).await, Outcome::Ack);
    let again = Delivery {
        redelivered: true,
        ..delivery
    };
    assert_eq!(handler.handle(&again).await, Outcome::Ack);
    assert_eq!(outbox.pending(&db).await.expect("count"), 1);
    // A new settings version is picked up by the next record: the flow switched off.
    let integration = Envelope::<serde_json::Value>::from_json_slice(&again.message.body)
        .expect("env")
        .integration_id;
    let mut off = Settings::default();
    off.flows.customers.enabled = false;
    store::save(&db, integration, Kind::Settings, &off, "test", None, None)
        .await
        .expect("saved");
    let (m, _) = message(integration, samples::customer(false));
    let fresh = Delivery {
        message: m,
        queue: "mapper".into(),
        attempt: 1,
        redelivered: false,
    };
    assert_eq!(handler.handle(&fresh).await, Outcome::Ack);
    assert_eq!(
        outbox.pending(&db).await.expect("count"),
        1,
        "a switched-off flow sends nothing"
    );
    tokio::time::timeout(Duration::from_secs(5), db.close())
        .await
        .ok();
}
