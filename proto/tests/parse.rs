//! Envelope decoding, the catalogue and message round trips.

mod common;

use common::*;
use ferry_proto::messages::*;
use ferry_proto::model::*;
use ferry_proto::*;
use serde_json::json;

fn stock_set() -> StockSet {
    StockSet {
        target: System::Mailchimp,
        sku: Sku::parse("1001").expect("sku"),
        quantity: Quantity::parse("7").expect("qty"),
        manage_stock: true,
    }
}

fn round_trip<M: Message + PartialEq + std::fmt::Debug>(payload: M) -> Envelope<M> {
    let env = Envelope::new(integration(), payload);
    let bytes = env.to_json_bytes().expect("encode");
    let back = Envelope::<M>::decode(&bytes).expect("decode");
    assert_eq!(back, env, "{}", M::MESSAGE_TYPE);
    env
}

#[test]
fn every_message_round_trips_with_its_routing_key() {
    let mc = System::Mailchimp;
    let mk = System::Mpluskassa;
    let id = |s: &str| ExternalId::parse(s).expect("id");
    let email = || Email::parse("jan@example.com").expect("email");
    let sku = || Sku::parse("1001").expect("sku");
    let keys = [
        round_trip(CustomerObserved {
            source: mc,
            customer: customer(),
            raw: json!({"id": "c1"}),
        })
        .routing_key(),
        round_trip(ProductObserved {
            source: mk,
            product: product(),
            raw: json!({}),
        })
        .routing_key(),
        round_trip(CategoryObserved {
            source: mk,
            category: Category {
                key: id("shirts"),
                name: Name::parse("Shirts").expect("n"),
                parent: None,
            },
            raw: json!({}),
        })
        .routing_key(),
        round_trip(StockObserved {
            source: mk,
            stock: StockLevel {
                sku: sku(),
                physical: Quantity::from_i64(10),
                reserved: Quantity::from_i64(2),
                available: Quantity::from_i64(8),
                observed_at: order().placed_at,
            },
            raw: json!({"amountFree": 8}),
        })
        .routing_key(),
        round_trip(OrderObserved {
            source: mc,
            order: order(),
            raw: json!({}),
        })
        .routing_key(),
        round_trip(OrderMapped {
            target: mk,
            order: target_order(),
        })
        .routing_key(),
        round_trip(CustomerUpsert {
            target: mk,
            customer: customer(),
            existing_id: None,
        })
        .routing_key(),
        round_trip(CustomerFind {
            target: mk,
            email: email(),
        })
        .routing_key(),
        round_trip(ProductUpsert {
            target: mc,
            product: product(),
            overwrite_existing: false,
        })
        .routing_key(),
        round_trip(CategoryUpsert {
            target: mk,
            category: Category {
                key: id("k"),
                name: Name::parse("K").expect("n"),
                parent: Some(id("root")),
            },
        })
        .routing_key(),
        round_trip(stock_set()).routing_key(),
        round_trip(OrderFind {
            target: mk,
            external_id: id("ORD-1001"),
        })
        .routing_key(),
        round_trip(OrderCreate {
            target: mk,
            order: target_order(),
            customer_id: id("42"),
            idempotency_key: OrderCreate::idempotency_key_for(integration(), &id("ORD-1001")),
            articles: Vec::new(),
        })
        .routing_key(),
        round_trip(ProductsVerify {
            target: mk,
            skus: vec![sku()],
        })
        .routing_key(),
        round_trip(CustomerUpserted {
            target: mk,
            email: email(),
            target_id: id("42"),
            created: true,
        })
        .routing_key(),
        round_trip(CustomerFound {
            target: mk,
            email: email(),
            found: None,
        })
        .routing_key(),
        round_trip(ProductUpserted {
            target: mc,
            sku: sku(),
            target_id: id("1001"),
            created: false,
        })
        .routing_key(),
        round_trip(CategoryUpserted {
            target: mk,
            key: id("k"),
            target_id: id("7"),
            created: true,
        })
        .routing_key(),
        round_trip(StockSetDone {
            target: mc,
            sku: sku(),
            quantity: Quantity::from_i64(7),
            managed: true,
        })
        .routing_key(),
        round_trip(OrderFound {
            target: mk,
            external_id: id("ORD-1001"),
            found: Some(id("9")),
        })
        .routing_key(),
        round_trip(OrderCreated {
            target: mk,
            external_id: id("ORD-1001"),
            target_id: id("9"),
            replayed: false,
        })
        .routing_key(),
        round_trip(OrderSetStatus {
            target: mk,
            external_id: id("ORD-1001"),
            status: OrderStatus::Cancelled,
        })
        .routing_key(),
        round_trip(OrderStatusSet {
            target: mk,
            external_id: id("ORD-1001"),
            status: OrderStatus::Refunded,
            target_id: Some(id("9")),
            changed: true,
            refused: None,
        })
        .routing_key(),
        round_trip(ProductsVerified {
            target: mk,
            missing: vec![sku()],
            found: vec![],
        })
        .routing_key(),
        round_trip(CommandFailed::for_command(
            &stock_set(),
            FailureInfo::new(ErrorCode::NotFound, "SKU 1001 does not exist in MailChimp"),
        ))
        .routing_key(),
        round_trip(IntegrationChanged::new(
            IntegrationState::Live,
            vec![FlowSetting {
                flow: Flow::Orders,
                direction: Direction::MailchimpToMpluskassa,
                enabled: true,
            }],
            3,
        ))
        .routing_key(),
        round_trip(SagaParked {
            saga_id: uuid::Uuid::now_v7(),
            target: mk,
            external_id: id("ORD-1001"),
            step: "verify_products".to_owned(),
            missing_skus: vec![sku()],
            error: FailureInfo::new(ErrorCode::NotFound, "SKU 1001 does not exist in MplusKASSA"),
        })
        .routing_key(),
        round_trip(SagaFailed {
            saga_id: uuid::Uuid::now_v7(),
            target: mk,
            external_id: id("ORD-1001"),
            step: "create_order".to_owned(),
            attempts: 5,
            error: FailureInfo::new(ErrorCode::Unavailable, "MplusKASSA answered 503"),
        })
        .routing_key(),
        round_trip(PersonEraseRequested {
            erase_id: uuid::Uuid::now_v7(),
            fingerprint: "0".repeat(64),
            requested_by: "oncall".to_owned(),
            requested_at: chrono::Utc::now(),
        })
        .routing_key(),
    ];
    let keys: Vec<&str> = keys.iter().map(RoutingKey::as_str).collect();
    assert_eq!(
        keys,
        [
            "mailchimp.customer.observed",
            "mpluskassa.product.observed",
            "mpluskassa.category.observed",
            "mpluskassa.stock.observed",
            "mailchimp.order.observed",
            "mpluskassa.order.mapped",
            "mpluskassa.customer.upsert",
            "mpluskassa.customer.find",
            "mailchimp.product.upsert",
            "mpluskassa.category.upsert",
            "mailchimp.stock.set",
            "mpluskassa.order.find",
            "mpluskassa.order.create",
            "mpluskassa.products.verify",
            "mpluskassa.customer.upserted",
            "mpluskassa.customer.found",
            "mailchimp.product.upserted",
            "mpluskassa.category.upserted",
            "mailchimp.stock.set-done",
            "mpluskassa.order.found",
            "mpluskassa.order.created",
            "mpluskassa.order.set-status",
            "mpluskassa.order.status-set",
            "mpluskassa.products.verified",
            "mailchimp.stock.failed",
            "ferry.integration.changed",
            "ferry.saga.parked",
            "ferry.saga.failed",
            "ferry.person.erase-requested",
        ]
    );
    assert_eq!(keys.len(), CATALOGUE.len());
}

#[test]
fn catalogue_is_consistent_and_documented() {
    let lib = include_str!("../src/lib.rs");
    let mut seen = std::collections::HashSet::new();
    for spec in CATALOGUE {
        assert!(
            MessageType::parse(spec.message_type).is_ok(),
            "{}",
            spec.message_type
        );
        assert!(
            seen.insert(spec.message_type),
            "duplicate {}",
            spec.message_type
        );
        assert!(
            lib.contains(&format!("| `{}` | {} |", spec.message_type, spec.kind)),
            "{} ({}) is missing from the routing table in lib.rs",
            spec.message_type,
            spec.kind
        );
        assert_eq!(messages::spec(spec.message_type), Some(spec));
    }
    assert_eq!(messages::spec("nope.nope"), None);
}

#[test]
fn command_failed_carries_the_command() {
    let failed = CommandFailed::for_command(
        &CustomerFind {
            target: System::Mpluskassa,
            email: Email::parse("a@b.nl").expect("e"),
        },
        FailureInfo::new(ErrorCode::Timeout, "timed out after 30 s"),
    );
    assert_eq!(failed.command_type.as_str(), "customer.find");
    assert_eq!(failed.record_key.as_deref(), Some("a@b.nl"));
    assert!(failed.error.retryable, "timeouts are retryable");
    assert_eq!(failed.routing_key().as_str(), "mpluskassa.customer.failed");
    assert!(!FailureInfo::new(ErrorCode::Mapping, "x").retryable);
    let long = FailureInfo::new(ErrorCode::Internal, "é".repeat(5000));
    assert!(long.message.len() <= FailureInfo::MAX_MESSAGE_LEN);
    assert_eq!(
        serde_json::to_value(ErrorCode::RemoteRejected).expect("ser"),
        "remote_rejected"
    );
}

#[test]
fn caused_by_links_reply_to_command() {
    let command = Envelope::new(integration(), stock_set()).with_trace(
        TraceContext::parse(
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            None,
        )
        .expect("trace"),
    );
    assert_eq!(command.correlation_id, command.message_id.as_uuid());
    assert_eq!(command.kind(), MessageKind::Command);
    let reply = Envelope::caused_by(
        &command,
        StockSetDone {
            target: System::Mailchimp,
            sku: Sku::parse("1001").expect("s"),
            quantity: Quantity::ZERO,
            managed: false,
        },
    );
    assert_eq!(reply.causation_id, Some(command.message_id));
    assert_eq!(reply.correlation_id, command.correlation_id);
    assert_eq!(reply.integration_id, command.integration_id);
    assert_eq!(reply.trace, command.trace);
    assert_ne!(reply.message_id, command.message_id);
    assert_eq!(reply.message_type, "stock.set-done");
    assert_eq!(reply.kind(), MessageKind::Event);
    let run = uuid::Uuid::now_v7();
    assert_eq!(reply.with_correlation(run).correlation_id, run);
}

fn decode_err(bytes: &[u8]) -> EnvelopeError {
    match Envelope::<StockSet>::decode(bytes) {
        Ok(e) => panic!("unexpectedly decoded {e:?}"),
        Err(e) => e,
    }
}

fn stock_set_json() -> serde_json::Value {
    serde_json::to_value(Envelope::new(integration(), stock_set())).expect("json")
}

#[test]
fn decode_reports_wrong_type() {
    let mut v = stock_set_json();
    v["message_type"] = json!("stock.observed");
    let err = decode_err(&serde_json::to_vec(&v).expect("bytes"));
    assert!(
        matches!(&err, EnvelopeError::WrongMessageType { expected: "stock.set", found, .. } if found == "stock.observed"),
        "{err}"
    );
}

#[test]
fn decode_reports_wrong_version() {
    let mut v = stock_set_json();
    v["schema_version"] = json!(2);
    let err = decode_err(&serde_json::to_vec(&v).expect("bytes"));
    assert!(
        matches!(
            err,
            EnvelopeError::WrongSchemaVersion {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn decode_reports_invalid_payload_with_masked_values() {
    let mut v = serde_json::to_value(Envelope::new(
        integration(),
        CustomerFind {
            target: System::Mpluskassa,
            email: Email::parse("a@b.nl").expect("e"),
        },
    ))
    .expect("json");
    v["payload"]["email"] = json!("secret.person@nodot");
    let err = Envelope::<CustomerFind>::decode(&serde_json::to_vec(&v).expect("bytes"))
        .expect_err("invalid e-mail");
    let msg = err.to_string();
    assert!(matches!(err, EnvelopeError::InvalidPayload { .. }), "{msg}");
    assert!(msg.contains("customer.find"), "{msg}");
    assert!(
        !msg.contains("secret.person"),
        "personal data leaked: {msg}"
    );

    let mut v = stock_set_json();
    v["payload"]["quantity"] = json!(7.5);
    assert!(matches!(
        decode_err(&serde_json::to_vec(&v).expect("bytes")),
        EnvelopeError::InvalidPayload { .. }
    ));
}

#[test]
fn decode_reports_malformed_json_and_envelopes() {
    assert!(matches!(
        decode_err(b"{not json"),
        EnvelopeError::Malformed(_)
    ));
    assert!(matches!(decode_err(b""), EnvelopeError::Malformed(_)));
    assert!(matches!(decode_err(b"[]"), EnvelopeError::Malformed(_)));
    let mut v = stock_set_json();
    v.as_object_mut().expect("object").remove("integration_id");
    assert!(matches!(
        decode_err(&serde_json::to_vec(&v).expect("b")),
        EnvelopeError::Malformed(_)
    ));
    let mut v = stock_set_json();
    v["message_type"] = json!("Stock Set");
    assert!(matches!(
        decode_err(&serde_json::to_vec(&v).expect("b")),
        EnvelopeError::Malformed(_)
    ));
    let mut v = stock_set_json();
    v["trace"] = json!({"traceparent": "00-0000"});
    assert!(matches!(
        decode_err(&serde_json::to_vec(&v).expect("b")),
        EnvelopeError::Malformed(_)
    ));
}

#[test]
fn oversized_messages_are_refused_both_ways() {
    let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
    let err = decode_err(&big);
    assert!(
        matches!(err, EnvelopeError::TooLarge { size, max } if size == MAX_MESSAGE_BYTES + 1 && max == MAX_MESSAGE_BYTES),
        "{err}"
    );
    assert!(matches!(
        Envelope::<serde_json::Value>::from_json_slice(&big),
        Err(EnvelopeError::TooLarge { .. })
    ));
    let huge = CustomerObserved {
        source: System::Mailchimp,
        customer: customer(),
        raw: json!("x".repeat(MAX_MESSAGE_BYTES)),
    };
    assert!(matches!(
        Envelope::new(integration(), huge).to_json_bytes(),
        Err(EnvelopeError::TooLarge { .. })
    ));
}

#[test]
fn untyped_envelopes_keep_everything() {
    let env = Envelope::new(integration(), stock_set());
    let bytes = env.to_json_bytes().expect("encode");
    let untyped = Envelope::<serde_json::Value>::from_json_slice(&bytes).expect("untyped");
    assert_eq!(untyped, env.to_untyped().expect("to untyped"));
    assert_eq!(untyped.payload["sku"], "1001");
    assert_eq!(untyped.into_typed::<StockSet>().expect("typed"), env);
}

#[test]
fn envelope_wire_shape() {
    let v = stock_set_json();
    for field in [
        "message_id",
        "integration_id",
        "message_type",
        "schema_version",
        "correlation_id",
        "occurred_at",
        "payload",
    ] {
        assert!(v.get(field).is_some(), "{field}");
    }
    assert!(v.get("causation_id").is_none(), "omitted when absent");
    assert_eq!(v["payload"]["quantity"], "7", "decimals are strings");
    assert_eq!(v["payload"]["target"], "mailchimp");
}

#[test]
fn order_invariants() {
    assert!(matches!(
        OrderLines::new(vec![]),
        Err(OrderLinesError::Empty)
    ));
    assert!(matches!(
        OrderLines::new(vec![order_line("1"); MAX_ORDER_LINES + 1]),
        Err(OrderLinesError::TooMany { .. })
    ));
    let mut v = serde_json::to_value(order()).expect("json");
    v["lines"] = json!([]);
    assert!(
        serde_json::from_value::<Order>(v).is_err(),
        "orders need a line"
    );
    let mut v = serde_json::to_value(order()).expect("json");
    v["lines"][0]["quantity"] = json!("-1");
    assert!(
        serde_json::from_value::<Order>(v).is_err(),
        "negative quantity"
    );

    let o = order();
    assert_eq!(o.check_currencies(), Ok(()));
    assert_eq!(o.skus().len(), 2, "distinct SKUs");
    let mut usd = o.clone();
    usd.totals.shipping = Money::parse("1", CurrencyCode::parse("USD").expect("usd")).expect("m");
    assert!(
        matches!(usd.check_currencies(), Err(OrderError::CurrencyMismatch { field, .. }) if field == "totals.shipping")
    );

    assert!(matches!(
        TargetOrder::new(
            order(),
            CustomerPlan::DefaultDebtor {
                relation_id: ExternalId::parse("1").expect("id")
            },
            vec![]
        ),
        Err(TargetOrderError::LineCodesMismatch {
            lines: 3,
            codes: 0,
            ..
        })
    ));
    let mut v = serde_json::to_value(target_order()).expect("json");
    v["line_codes"] = json!([{}]);
    assert!(
        serde_json::from_value::<TargetOrder>(v).is_err(),
        "line codes must match lines"
    );
    let t = target_order();
    assert_eq!(t.employee_number(), Some(EmployeeNumber(999_999)));
    assert_eq!(t.lines_with_codes().count(), 3);
}

#[test]
fn idempotency_key_is_stable() {
    let id = ExternalId::parse(&"x".repeat(128)).expect("id");
    let a = OrderCreate::idempotency_key_for(integration(), &id);
    let b = OrderCreate::idempotency_key_for(integration(), &id);
    assert_eq!(a, b);
    assert!(a.as_str().starts_with("ferry:0195f3a4-"));
    assert!(IdempotencyKey::parse(a.as_str()).is_ok());
}

#[test]
fn integration_changed_carries_connections_with_sealed_credentials_only() {
    let mut change = IntegrationChanged::new(IntegrationState::Paused, vec![], 4);
    change.name = Some("Shop".to_owned());
    change.mailchimp = Some(MailchimpConnectionInfo {
        api_key_sealed: "v1.k1.bm9uY2U.Y2lwaGVy".to_owned(),
        base_url: Some("http://127.0.0.1:9110/3.0".to_owned()),
        list_id: "a1b2c3".to_owned(),
        store_id: "shop".to_owned(),
        store_name: "Shop".to_owned(),
        currency: CurrencyCode::EUR,
        audience_members: Some(AudienceStatus::Transactional),
    });
    change.mpluskassa = Some(MpluskassaConnectionInfo {
        endpoint: "http://127.0.0.1:9111/".to_owned(),
        ident: "shop".to_owned(),
        secret_sealed: "v1.k1.bm9uY2U.c2VjcmV0".to_owned(),
        branch: 1,
        workplace: Some(2),
    });
    let env = round_trip(change);
    let json = String::from_utf8(env.to_json_bytes().expect("encode").to_vec()).expect("utf-8");
    assert!(json.contains("\"api_key_sealed\"") && json.contains("\"secret_sealed\""));
    assert!(!json.contains("\"api_key\"") && !json.contains("\"secret\""));
    // A deletion (and a v1 consumer's minimal form) still decodes: the connections are optional.
    let minimal = IntegrationChanged::new(IntegrationState::Deleted, vec![], 5);
    let text = serde_json::to_string(&minimal).expect("encode");
    assert!(!text.contains("mailchimp"));
    round_trip(minimal);
}
