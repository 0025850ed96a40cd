//! Property tests: no input makes the mapper panic, and what it sends keeps its promises
//! (numeric SKUs to MailChimp, stock never below zero, a VAT code on every MplusKASSA line).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_mapper::MappingErrorKind;
use ferry_mapper::expr;
use ferry_mapper::mapper::{Command, IntegrationConfig, Mapped, Observed, map};
use ferry_mapper::rules::{Mappings, Rule, TargetPath, check_path};
use ferry_mapper::samples;
use ferry_mapper::settings::{PriceMode, Settings, SkuRule, StockCalculation, ValueMap};
use ferry_proto::IntegrationId;
use ferry_proto::messages::Flow;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

const FLOWS: [Flow; 5] = [
    Flow::Customers,
    Flow::Products,
    Flow::Categories,
    Flow::Stock,
    Flow::Orders,
];

fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Json::String),
        "[0-9]{1,6}(\\.[0-9]{1,3})?".prop_map(Json::String),
        prop_oneof![
            Just("NL"),
            Just("BE"),
            Just("DE"),
            Just("mailchimp"),
            Just("mpluskassa"),
            Just("person"),
            Just("company")
        ]
        .prop_map(|s| Json::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

fn leaf_paths(v: &Json, prefix: Vec<Json>, out: &mut Vec<Vec<Json>>) {
    match v {
        Json::Object(m) => {
            out.push(prefix.clone());
            for (k, child) in m {
                let mut p = prefix.clone();
                p.push(Json::String(k.clone()));
                leaf_paths(child, p, out);
            }
        }
        Json::Array(a) => {
            out.push(prefix.clone());
            for (i, child) in a.iter().enumerate() {
                let mut p = prefix.clone();
                p.push(json!(i));
                leaf_paths(child, p, out);
            }
        }
        _ => out.push(prefix),
    }
}

/// The sample of `flow` with the node at a random position replaced (or removed).
fn mutated(flow: Flow, pick: usize, replacement: Option<Json>) -> Json {
    let mut doc = match flow {
        Flow::Customers => samples::customer_json(pick.is_multiple_of(2)),
        Flow::Products => samples::product_json("100200", pick % 4),
        Flow::Categories => samples::category_json(),
        Flow::Stock => samples::stock_json("100200", "10", "2", "9"),
        Flow::Orders => samples::order_json(1 + pick % 3, "NL", pick.is_multiple_of(2)),
    };
    let mut paths = Vec::new();
    leaf_paths(&doc, Vec::new(), &mut paths);
    let path = paths[pick % paths.len()].clone();
    let Some((last, parents)) = path.split_last() else {
        return replacement.unwrap_or(Json::Null);
    };
    let mut node = &mut doc;
    for p in parents {
        node = match p {
            Json::String(k) => &mut node[k.as_str()],
            other => &mut node[other.as_u64().unwrap_or(0) as usize],
        };
    }
    match (node, last, replacement) {
        (Json::Object(m), Json::String(k), None) => {
            m.remove(k);
        }
        (Json::Object(m), Json::String(k), Some(r)) => {
            m.insert(k.clone(), r);
        }
        (Json::Array(a), i, r) => {
            let i = i.as_u64().unwrap_or(0) as usize;
            match r {
                Some(r) if i < a.len() => a[i] = r,
                _ if i < a.len() => {
                    a.remove(i);
                }
                _ => {}
            }
        }
        _ => {}
    }
    doc
}

fn user_mappings() -> Mappings {
    let mut m = Mappings::default();
    m.value_maps
        .insert("skus".into(), ValueMap::of([("SHIRT", "1")]));
    m.rules.customers = vec![
        Rule::new(
            "first_name",
            "title(default_if_empty(get(source, 'raw.merge_fields.FNAME'), 'X'))",
        ),
        Rule::new(
            "billing_address.house_number",
            "house_number(get(source, 'raw.address.address1'))",
        )
        .when("get(source, 'raw.address.address1') != null"),
    ];
    m.rules.products = vec![
        Rule::new("title", "upper(string(get(source, 'product.title')))"),
        Rule::new(
            "kind.variants[*].title",
            "concat([get(item, 'sku'), ' ', string(index)])",
        ),
        Rule::new(
            "properties.supplier",
            "string(get(source, 'raw.supplier.name'))",
        ),
    ];
    m.rules.orders = vec![
        Rule::new(
            "line_codes[*].vat_code",
            "lookup_or(maps.vat_codes, string(get(source, 'order.shipping_address.country')), 'V')",
        ),
        Rule::new(
            "order.notes",
            "format_date(string(get(source, 'order.placed_at')), '%Y-%m-%d')",
        ),
    ];
    m.rules.stock = vec![Rule::new(
        "quantity",
        "format_number(get(target, 'quantity'), 0)",
    )];
    m
}

fn configs() -> Vec<IntegrationConfig> {
    let mut s = Settings::default();
    s.orders.vat_codes = ValueMap::of([("NL", "2")]);
    s.products.price = PriceMode::ExcludingTax;
    s.products.sku_rule = SkuRule::Expression {
        expr: "'9' + digits(sku)".into(),
    };
    vec![
        IntegrationConfig::defaults(IntegrationId::new()),
        IntegrationConfig::new(IntegrationId::new(), s, &user_mappings()).expect("valid"),
    ]
}

/// The promises of a sent command.
fn check_promises(command: &Command) {
    match command {
        Command::ProductUpsert(p) if p.target == ferry_proto::System::Mailchimp => {
            assert!(
                p.product.skus().iter().all(|s| s.is_digits_only()),
                "non-numeric SKU sent to MailChimp"
            );
        }
        Command::StockSet(s) => {
            assert!(
                s.quantity.value() >= rust_decimal::Decimal::ZERO,
                "negative stock sent"
            );
            if s.target == ferry_proto::System::Mailchimp {
                assert!(s.sku.is_digits_only());
            }
        }
        Command::OrderMapped(o) if o.target == ferry_proto::System::Mpluskassa => {
            assert!(
                o.order.line_codes().iter().all(|c| c.vat_code.is_some()),
                "MplusKASSA line without VAT code"
            );
            assert!(o.order.employee_number().is_some());
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_payloads_never_panic(flow in 0usize..5, payload in arb_json()) {
        if let Ok(observed) = Observed::from_payload(FLOWS[flow], payload) {
            for config in configs() {
                if let Ok(Mapped::Send(c)) = map(&observed, &config) {
                    check_promises(&c);
                }
            }
        }
    }

    #[test]
    fn mutated_records_never_panic(flow in 0usize..5, pick in 0usize..400, replacement in proptest::option::of(arb_json())) {
        let doc = mutated(FLOWS[flow], pick, replacement);
        if let Ok(observed) = Observed::from_payload(FLOWS[flow], doc) {
            for config in configs() {
                match map(&observed, &config) {
                    Ok(Mapped::Send(c)) => check_promises(&c),
                    Ok(Mapped::Skipped(_)) => {}
                    Err(f) => prop_assert!(!f.errors.is_empty()),
                }
            }
        }
    }

    #[test]
    fn arbitrary_expressions_never_panic(src in ".{0,40}", pick in 0usize..5) {
        if let Ok(e) = expr::compile(&src) {
            let mut ctx = expr::context();
            ctx.add_variable_from_value("source", expr::from_json(&samples::order_json(2, "NL", true)));
            ctx.add_variable_from_value("target", expr::from_json(&json!({"a": [1, 2]})));
            ctx.add_variable_from_value("item", expr::from_json(&json!({"sku": "1"})));
            ctx.add_variable_from_value("index", cel::Value::Int(pick as i64));
            let _ = e.eval(&ctx);
        }
    }

    #[test]
    fn expressions_built_from_functions_never_panic(
        f in prop::sample::select(vec!["trim", "upper", "lower", "title", "concat", "street", "house_number", "house_number_suffix",
                                        "is_digits", "digits", "decimal", "format_number", "format_date", "default_if_empty",
                                        "price_excl", "price_incl", "lookup", "lookup_or", "get", "join"]),
        args in prop::collection::vec(prop_oneof![
            "'[^'\\\\]{0,12}'", "-?[0-9]{1,25}", "-?[0-9]{1,3}\\.[0-9]{1,4}", Just("null".to_owned()), Just("[1, 'a', null]".to_owned()),
            Just("{'a': 'b'}".to_owned()), Just("'%Y-%m-%d %z %Q'".to_owned()), Just("'2026-11-24T10:00:00Z'".to_owned()),
            Just("source.order".to_owned()), Just("1e308 * 10.0".to_owned())
        ], 0..4),
    ) {
        let src = format!("{f}({})", args.join(", "));
        if let Ok(e) = expr::compile(&src) {
            let mut ctx = expr::context();
            ctx.add_variable_from_value("source", expr::from_json(&samples::order_json(1, "NL", false)));
            let _ = e.eval(&ctx);
        }
    }

    #[test]
    fn arbitrary_target_paths_never_panic(path in "[a-z_.\\[\\]*0-9]{0,30}", flow in 0usize..5) {
        if let Ok(p) = TargetPath::parse(&path) {
            let _ = check_path(FLOWS[flow], &p);
        }
    }

    #[test]
    fn stock_is_never_negative(
        physical in -1_000_000i64..1_000_000, reserved in -1_000i64..1_000_000, available in -1_000_000i64..1_000_000,
        buffer in 0i64..1_000, calc in 0usize..3,
    ) {
        let mut s = Settings::default();
        s.stock.calculation = [StockCalculation::AvailableMinusReserved, StockCalculation::Physical, StockCalculation::Available][calc];
        s.stock.buffer = buffer.into();
        let config = IntegrationConfig::new(IntegrationId::new(), s, &Mappings::default()).expect("valid");
        let observed = Observed::Stock(samples::stock("42", &physical.to_string(), &reserved.to_string(), &available.to_string()));
        let Ok(Mapped::Send(Command::StockSet(set))) = map(&observed, &config) else { panic!("stock is always mapped") };
        prop_assert!(set.quantity.value() >= rust_decimal::Decimal::ZERO);
    }

    #[test]
    fn skus_to_mailchimp_are_numeric_or_reported(sku in "[A-Za-z0-9-]{1,20}", variants in 0usize..4) {
        let observed = Observed::Product(samples::product(&sku, variants));
        match map(&observed, &IntegrationConfig::defaults(IntegrationId::new())) {
            Ok(Mapped::Send(c)) => {
                check_promises(&c);
                prop_assert!(sku.bytes().all(|b| b.is_ascii_digit()));
            }
            Err(f) => {
                prop_assert!(f.errors.iter().all(|e| e.kind == MappingErrorKind::NonNumericSku));
                prop_assert_eq!(f.errors.len(), 1 + variants);
            }
            Ok(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
