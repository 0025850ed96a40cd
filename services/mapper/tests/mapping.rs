//! Table-driven tests of every default mapping, every setting and the user mappings, through
//! the public `map` function (no I/O).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_mapper::mapper::{Command, IntegrationConfig, Mapped, Observed, Skip, map};
use ferry_mapper::rules::{Mappings, Rule};
use ferry_mapper::samples;
use ferry_mapper::settings::{PriceMode, Settings, SkuRule, StockCalculation, ValueMap};
use ferry_mapper::{MappingErrorKind, MappingFailure};
use ferry_proto::messages::Direction;
use ferry_proto::model::{CustomerKind, CustomerPlan, ProductKind};
use ferry_proto::{IntegrationId, System};
use rust_decimal::Decimal;
use serde_json::json;

fn config(settings: Settings, mappings: Mappings) -> IntegrationConfig {
    IntegrationConfig::new(IntegrationId::new(), settings, &mappings).expect("valid configuration")
}

fn run(
    observed: Observed,
    settings: Settings,
    mappings: Mappings,
) -> Result<Mapped, MappingFailure> {
    map(&observed, &config(settings, mappings))
}

fn sent(observed: Observed, settings: Settings, mappings: Mappings) -> Command {
    match run(observed, settings, mappings) {
        Ok(Mapped::Send(c)) => c,
        other => panic!("expected a command, got {other:?}"),
    }
}

fn failed(observed: Observed, settings: Settings, mappings: Mappings) -> MappingFailure {
    match run(observed, settings, mappings) {
        Err(f) => f,
        other => panic!("expected a mapping failure, got {other:?}"),
    }
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn eu_vat() -> Settings {
    let mut s = Settings::default();
    s.orders.vat_codes = ValueMap::of([("NL", "2"), ("NL:9", "1"), ("BE", "12"), ("BE:9", "11")]);
    s
}

// ----------------------------------------------------------------------------------------
// Routing: every flow, both directions, switched off
// ----------------------------------------------------------------------------------------

#[test]
fn default_routes_of_every_flow() {
    let cases: Vec<(Observed, &str)> = vec![
        (
            Observed::Customer(samples::customer(false)),
            "mpluskassa.customer.upsert",
        ),
        (
            Observed::Product(samples::product("100200", 2)),
            "mailchimp.product.upsert",
        ),
        (
            Observed::Category(samples::category()),
            "mailchimp.category.upsert",
        ),
        (
            Observed::Stock(samples::stock("100200", "10", "2", "9")),
            "mailchimp.stock.set",
        ),
        (
            Observed::Order(samples::order(3, "BE", false)),
            "mpluskassa.order.mapped",
        ),
    ];
    for (observed, key) in cases {
        let command = sent(observed, eu_vat(), Mappings::default());
        assert_eq!(command.routing_key(), key);
    }
}

#[test]
fn reversed_directions_route_to_the_other_system() {
    let mut settings = eu_vat();
    settings.flows.customers.direction = Direction::MpluskassaToMailchimp;
    settings.flows.products.direction = Direction::MailchimpToMpluskassa;
    settings.flows.categories.direction = Direction::MailchimpToMpluskassa;
    settings.flows.stock.direction = Direction::MailchimpToMpluskassa;
    settings.flows.orders.direction = Direction::MpluskassaToMailchimp;
    let with_source =
        |mut j: serde_json::Value, flow: ferry_proto::messages::Flow, source: &str| {
            j["source"] = json!(source);
            Observed::from_payload(flow, j).expect("valid")
        };
    use ferry_proto::messages::Flow;
    let cases = vec![
        (
            with_source(samples::customer_json(false), Flow::Customers, "mpluskassa"),
            "mailchimp.customer.upsert",
        ),
        (
            with_source(
                samples::product_json("SHIRT-1", 1),
                Flow::Products,
                "mailchimp",
            ),
            "mpluskassa.product.upsert",
        ),
        (
            with_source(samples::category_json(), Flow::Categories, "mailchimp"),
            "mpluskassa.category.upsert",
        ),
        (
            with_source(
                samples::stock_json("SHIRT-1", "1", "0", "1"),
                Flow::Stock,
                "mailchimp",
            ),
            "mpluskassa.stock.set",
        ),
        (
            with_source(
                samples::order_json(2, "NL", false),
                Flow::Orders,
                "mpluskassa",
            ),
            "mailchimp.order.mapped",
        ),
    ];
    for (observed, key) in cases {
        // Non-numeric SKUs are fine towards MplusKASSA.
        assert_eq!(
            sent(observed, settings.clone(), Mappings::default()).routing_key(),
            key
        );
    }
}

#[test]
fn records_of_the_other_side_and_switched_off_flows_are_skipped() {
    let mut reversed = samples::customer_json(false);
    reversed["source"] = json!("mpluskassa");
    let observed =
        Observed::from_payload(ferry_proto::messages::Flow::Customers, reversed).expect("valid");
    assert_eq!(
        run(observed, Settings::default(), Mappings::default()).expect("no error"),
        Mapped::Skipped(Skip::OtherDirection {
            source: System::Mpluskassa,
            configured_source: System::Mailchimp
        })
    );
    let mut off = Settings::default();
    off.flows.products.enabled = false;
    off.flows.stock.enabled = false;
    for observed in [
        Observed::Product(samples::product("1", 0)),
        Observed::Stock(samples::stock("1", "1", "0", "1")),
    ] {
        assert_eq!(
            run(observed, off.clone(), Mappings::default()).expect("no error"),
            Mapped::Skipped(Skip::FlowDisabled)
        );
    }
}

// ----------------------------------------------------------------------------------------
// Customers
// ----------------------------------------------------------------------------------------

#[test]
fn customers_keep_every_field_and_companies_get_a_contact_person() {
    let Command::CustomerUpsert(person) = sent(
        Observed::Customer(samples::customer(false)),
        Settings::default(),
        Mappings::default(),
    ) else {
        panic!("customer upsert expected")
    };
    let source = samples::customer(false).customer;
    assert_eq!(person.customer, source, "a person is passed on unchanged");
    assert_eq!(person.target, System::Mpluskassa);
    assert_eq!(person.existing_id, None);

    let Command::CustomerUpsert(company) = sent(
        Observed::Customer(samples::customer(true)),
        Settings::default(),
        Mappings::default(),
    ) else {
        panic!("customer upsert expected")
    };
    let CustomerKind::Company {
        company_name,
        vat_number,
        contact,
    } = &company.customer.kind
    else {
        panic!("company expected")
    };
    assert_eq!(company_name.as_str(), "Bakkerij De Korenschoof BV");
    assert_eq!(
        vat_number.as_ref().map(|v| v.as_str()),
        Some("NL851234567B01")
    );
    assert_eq!(contact.first_name.as_ref().map(|n| n.as_str()), Some("Els"));
    assert_eq!(
        contact.last_name.as_ref().map(|n| n.as_str()),
        Some("de Vries")
    );
    assert_eq!(
        contact.phone.as_ref().map(|n| n.as_str()),
        Some("+31 20 123 4567")
    );

    // A contact person the source named is kept as it is.
    let mut json = samples::customer_json(true);
    json["customer"]["kind"]["contact"] = json!({"first_name": "Piet"});
    let observed =
        Observed::from_payload(ferry_proto::messages::Flow::Customers, json).expect("valid");
    let Command::CustomerUpsert(c) = sent(observed, Settings::default(), Mappings::default())
    else {
        panic!()
    };
    let CustomerKind::Company { contact, .. } = &c.customer.kind else {
        panic!()
    };
    assert_eq!(
        contact.first_name.as_ref().map(|n| n.as_str()),
        Some("Piet")
    );
    assert_eq!(contact.last_name, None);
}

// ----------------------------------------------------------------------------------------
// Products
// ----------------------------------------------------------------------------------------

#[test]
fn products_are_passed_on_with_the_overwrite_setting() {
    for overwrite in [true, false] {
        let mut settings = Settings::default();
        settings.products.overwrite_existing = overwrite;
        let Command::ProductUpsert(p) = sent(
            Observed::Product(samples::product("100200", 3)),
            settings,
            Mappings::default(),
        ) else {
            panic!()
        };
        assert_eq!(p.overwrite_existing, overwrite);
        let mut expected = samples::product("100200", 3).product;
        let ProductKind::Configurable { variants } = &mut expected.kind else {
            panic!()
        };
        for v in variants.iter_mut() {
            let title = format!("{} - colour 0", v.title.as_ref().expect("title"));
            v.title = Some(title.parse().expect("name"));
        }
        assert_eq!(
            p.product, expected,
            "defaults change nothing but the variant titles to MailChimp"
        );
    }
}

/// Issue 18, item 4: to MailChimp, variant attributes reach the variant titles and the brand
/// the vendor by default; to MplusKASSA the product stays as it is (attributes and GTIN have
/// fields of their own there).
#[test]
fn attributes_reach_mailchimp_variant_titles_and_the_brand_its_vendor() {
    let mut observed = samples::product("100200", 2);
    observed
        .product
        .properties
        .insert("brand".into(), "Noordwind".into());
    if let ProductKind::Configurable { variants } = &mut observed.product.kind {
        variants[1].title = None;
    }
    let Command::ProductUpsert(p) = sent(
        Observed::Product(observed.clone()),
        Settings::default(),
        Mappings::default(),
    ) else {
        panic!()
    };
    let ProductKind::Configurable { variants } = &p.product.kind else {
        panic!()
    };
    let titles: Vec<&str> = variants
        .iter()
        .map(|v| v.title.as_ref().map_or("", |t| t.as_str()))
        .collect();
    assert_eq!(
        titles,
        [
            "Shirt size S - colour 0",
            "Organic cotton shirt - M / colour 0"
        ]
    );
    assert!(
        variants[0].gtin.is_some(),
        "the GTIN stays in the canonical product"
    );
    assert_eq!(
        p.product.properties.get("vendor").map(String::as_str),
        Some("Noordwind")
    );

    // A user mapping still decides: it writes the titles after the defaults.
    let Command::ProductUpsert(p) = sent(
        Observed::Product(observed.clone()),
        Settings::default(),
        rules(
            "products",
            vec![Rule::new("kind.variants[*].title", "item.sku")],
        ),
    ) else {
        panic!()
    };
    let ProductKind::Configurable { variants } = &p.product.kind else {
        panic!()
    };
    assert_eq!(
        variants[0].title.as_ref().map(|t| t.as_str()),
        Some("100200000")
    );

    // To MplusKASSA: unchanged.
    let mut settings = Settings::default();
    settings.flows.products.direction = Direction::MailchimpToMpluskassa;
    let mut from_mailchimp = observed;
    from_mailchimp.source = System::Mailchimp;
    let Command::ProductUpsert(p) = sent(
        Observed::Product(from_mailchimp.clone()),
        settings,
        Mappings::default(),
    ) else {
        panic!()
    };
    assert_eq!(p.product, from_mailchimp.product);
}

#[test]
fn product_prices_follow_the_price_setting() {
    // (mode, expected price, expected includes-tax flag, expected variant price)
    let cases = [
        (PriceMode::AsSource, "24.20", true, "24.20"),
        (PriceMode::IncludingTax, "24.20", true, "24.20"),
        (PriceMode::ExcludingTax, "20.00", false, "20.00"),
    ];
    for (mode, price, incl, variant) in cases {
        let mut settings = Settings::default();
        settings.products.price = mode;
        let Command::ProductUpsert(p) = sent(
            Observed::Product(samples::product("100200", 2)),
            settings,
            Mappings::default(),
        ) else {
            panic!()
        };
        assert_eq!(p.product.price.amount(), dec(price), "{mode:?}");
        assert_eq!(p.product.price_includes_tax, incl, "{mode:?}");
        let ProductKind::Configurable { variants } = &p.product.kind else {
            panic!()
        };
        assert_eq!(
            variants[1].price.as_ref().map(|m| m.amount()),
            Some(dec(variant)),
            "{mode:?}"
        );
    }
    // Converting needs a tax rate.
    let mut json = samples::product_json("100200", 0);
    json["product"]
        .as_object_mut()
        .expect("object")
        .remove("tax_rate");
    let mut settings = Settings::default();
    settings.products.price = PriceMode::ExcludingTax;
    let f = failed(
        Observed::from_payload(ferry_proto::messages::Flow::Products, json).expect("valid"),
        settings,
        Mappings::default(),
    );
    assert_eq!(f.errors[0].kind, MappingErrorKind::PriceConversion);
    assert_eq!(f.errors[0].field, "price");
}

#[test]
fn non_numeric_skus_to_mailchimp_are_errors_naming_every_field() {
    let f = failed(
        Observed::Product(samples::product("SHIRT-", 2)),
        Settings::default(),
        Mappings::default(),
    );
    let fields: Vec<&str> = f.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["sku", "kind.variants[0].sku", "kind.variants[1].sku"]
    );
    assert!(
        f.errors
            .iter()
            .all(|e| e.kind == MappingErrorKind::NonNumericSku)
    );
    let reason = f.to_string();
    assert!(
        reason.contains(&f.integration.to_string())
            && reason.contains("SHIRT-")
            && reason.contains("products record"),
        "{reason}"
    );

    let f = failed(
        Observed::Stock(samples::stock("AB-1", "1", "0", "1")),
        Settings::default(),
        Mappings::default(),
    );
    assert_eq!(f.errors[0].kind, MappingErrorKind::NonNumericSku);
}

#[test]
fn sku_rules_map_non_numeric_skus_or_fail_clearly() {
    let mut by_map = Settings::default();
    by_map.products.sku_rule = SkuRule::ValueMap { map: "skus".into() };
    let mut mappings = Mappings::default();
    mappings.value_maps.insert(
        "skus".into(),
        ValueMap::of([("SHIRT-", "9000"), ("SHIRT-000", "9001")]),
    );
    let f = failed(
        Observed::Product(samples::product("SHIRT-", 2)),
        by_map.clone(),
        mappings.clone(),
    );
    assert_eq!(f.errors.len(), 1, "only the unmapped variant fails: {f}");
    assert_eq!(f.errors[0].field, "kind.variants[1].sku");
    assert!(
        f.errors[0]
            .message
            .contains("value map `skus` has no entry"),
        "{f}"
    );
    mappings
        .value_maps
        .get_mut("skus")
        .expect("map")
        .entries
        .insert("SHIRT-001".into(), "9002".into());
    let Command::ProductUpsert(p) = sent(
        Observed::Product(samples::product("SHIRT-", 2)),
        by_map.clone(),
        mappings.clone(),
    ) else {
        panic!()
    };
    assert_eq!(
        p.product
            .skus()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        ["9000", "9001", "9002"]
    );

    // A rule that still gives a non-numeric SKU is an error, never sent.
    mappings
        .value_maps
        .get_mut("skus")
        .expect("map")
        .entries
        .insert("SHIRT-001".into(), "90X".into());
    let f = failed(
        Observed::Product(samples::product("SHIRT-", 2)),
        by_map,
        mappings,
    );
    assert!(f.errors[0].message.contains("90X"), "{f}");

    let mut by_expr = Settings::default();
    by_expr.products.sku_rule = SkuRule::Expression {
        expr: "'77' + digits(sku)".into(),
    };
    let Command::StockSet(s) = sent(
        Observed::Stock(samples::stock("AB-12", "5", "0", "5")),
        by_expr,
        Mappings::default(),
    ) else {
        panic!()
    };
    assert_eq!(s.sku.as_str(), "7712");
}

// ----------------------------------------------------------------------------------------
// Categories and stock
// ----------------------------------------------------------------------------------------

#[test]
fn categories_are_passed_on() {
    let Command::CategoryUpsert(c) = sent(
        Observed::Category(samples::category()),
        Settings::default(),
        Mappings::default(),
    ) else {
        panic!()
    };
    assert_eq!(c.category, samples::category().category);
    assert_eq!(c.target, System::Mailchimp);
}

#[test]
fn stock_calculations() {
    use StockCalculation::*;
    // (calculation, buffer, physical, reserved, available, expected). The default is
    // physical minus reserved: on hand and not promised to an open order.
    let cases = [
        // MplusKASSA: 7 free, 3 reserved, so 10 on hand.
        (AvailableMinusReserved, "0", "10", "3", "7", "7"),
        (Physical, "0", "10", "3", "7", "10"),
        (Available, "0", "10", "3", "7", "7"),
        // The default reads physical, not available: a source whose available figure
        // differs (9 here) does not change it.
        (AvailableMinusReserved, "0", "10", "3", "9", "7"),
        (Available, "0", "10", "3", "9", "9"),
        // Buffers are subtracted after the calculation, never below 0.
        (AvailableMinusReserved, "2", "10", "3", "7", "5"),
        (Physical, "2.5", "10", "3", "7", "7.5"),
        (Available, "3", "10", "3", "7", "4"),
        (AvailableMinusReserved, "0", "1", "5", "-4", "0"),
        (Physical, "11", "10", "3", "7", "0"),
        (Available, "5", "10", "0", "3", "0"),
        (Available, "0", "0", "0", "-4", "0"),
        // MailChimp: one figure, nothing reserved: every calculation sends it.
        (AvailableMinusReserved, "0", "6", "0", "6", "6"),
        (Physical, "1", "6", "0", "6", "5"),
    ];
    for (calculation, buffer, physical, reserved, available, expected) in cases {
        let mut settings = Settings::default();
        settings.stock.calculation = calculation;
        settings.stock.buffer = dec(buffer);
        let Command::StockSet(s) = sent(
            Observed::Stock(samples::stock("100", physical, reserved, available)),
            settings,
            Mappings::default(),
        ) else {
            panic!()
        };
        assert_eq!(
            s.quantity.value(),
            dec(expected),
            "{calculation:?} buffer {buffer}: {physical}/{reserved}/{available}"
        );
        assert!(s.manage_stock);
    }
    let mut settings = Settings::default();
    settings.stock.manage_stock = false;
    let Command::StockSet(s) = sent(
        Observed::Stock(samples::stock("100", "1", "0", "1")),
        settings,
        Mappings::default(),
    ) else {
        panic!()
    };
    assert!(!s.manage_stock);
}

// ----------------------------------------------------------------------------------------
// Orders
// ----------------------------------------------------------------------------------------

fn mapped_order(
    observed: Observed,
    settings: Settings,
    mappings: Mappings,
) -> ferry_proto::model::TargetOrder {
    match sent(observed, settings, mappings) {
        Command::OrderMapped(m) => m.order,
        other => panic!("order.mapped expected, got {other:?}"),
    }
}

#[test]
fn orders_to_mpluskassa_get_settings_codes_and_customer() {
    let mut settings = eu_vat();
    settings.orders.branch_number = Some(3);
    settings.orders.workplace_number = Some(7);
    settings.orders.payment_methods = ValueMap::of([("ideal", "IDEAL"), ("card", "PIN")]);
    settings.orders.payment_terms = ValueMap::of([("direct", "0")]);
    settings.orders.revenue_accounts = ValueMap::of([("BE", "8020"), ("BE:9", "8010")]);
    let order = mapped_order(
        Observed::Order(samples::order(5, "BE", false)),
        settings,
        Mappings::default(),
    );
    assert_eq!(
        order.employee_number().map(|e| e.0),
        Some(999_999),
        "default employee number"
    );
    assert_eq!(
        (order.branch_number(), order.workplace_number()),
        (Some(3), Some(7))
    );
    assert_eq!(
        order.payment_method_code().map(|n| n.as_str()),
        Some("IDEAL")
    );
    assert_eq!(order.payment_term_code().map(|n| n.as_str()), Some("0"));
    let codes: Vec<(Option<&str>, Option<&str>)> = order
        .line_codes()
        .iter()
        .map(|c| {
            (
                c.vat_code.as_ref().map(|v| v.as_str()),
                c.revenue_account.as_ref().map(|v| v.as_str()),
            )
        })
        .collect();
    // Line 4 has 9% tax (see samples): the per-rate entries win.
    assert_eq!(
        codes,
        [
            (Some("12"), Some("8020")),
            (Some("12"), Some("8020")),
            (Some("12"), Some("8020")),
            (Some("12"), Some("8020")),
            (Some("11"), Some("8010"))
        ]
    );
    assert_eq!(
        order.order(),
        &samples::order(5, "BE", false).order,
        "the canonical order is kept"
    );
    let CustomerPlan::Upsert { customer } = order.customer_plan() else {
        panic!("upsert expected")
    };
    assert_eq!(customer.email.as_str(), "els.devries@example.nl");
}

#[test]
fn order_settings_table() {
    // Employee number, default debtor, company customer, unconfigured payment maps.
    let mut settings = eu_vat();
    settings.orders.employee_number = 42;
    settings.orders.default_debtor.enabled = true;
    settings.orders.default_debtor.relation_id = Some("5001".into());
    let order = mapped_order(
        Observed::Order(samples::order(1, "NL", true)),
        settings,
        Mappings::default(),
    );
    assert_eq!(order.employee_number().map(|e| e.0), Some(42));
    assert_eq!(
        order.customer_plan(),
        &CustomerPlan::DefaultDebtor {
            relation_id: "5001".parse().expect("id")
        }
    );
    assert_eq!(
        order.payment_method_code().map(|n| n.as_str()),
        Some("ideal"),
        "unconfigured maps pass codes through"
    );

    let order = mapped_order(
        Observed::Order(samples::order(1, "NL", true)),
        eu_vat(),
        Mappings::default(),
    );
    let CustomerPlan::Upsert { customer } = order.customer_plan() else {
        panic!()
    };
    let CustomerKind::Company { contact, .. } = &customer.kind else {
        panic!("company relation expected")
    };
    assert_eq!(
        contact.first_name.as_ref().map(|n| n.as_str()),
        Some("Els"),
        "with contact person"
    );

    // A map default covers unknown codes.
    let mut settings = eu_vat();
    settings.orders.payment_methods = ValueMap {
        entries: Default::default(),
        default: Some("OTHER".into()),
    };
    let order = mapped_order(
        Observed::Order(samples::order(1, "NL", false)),
        settings,
        Mappings::default(),
    );
    assert_eq!(
        order.payment_method_code().map(|n| n.as_str()),
        Some("OTHER")
    );
}

#[test]
fn order_errors_name_every_field() {
    // No VAT code for BE: every line is reported.
    let mut settings = Settings::default();
    settings.orders.vat_codes = ValueMap::of([("NL", "2")]);
    let f = failed(
        Observed::Order(samples::order(3, "BE", false)),
        settings.clone(),
        Mappings::default(),
    );
    assert_eq!(f.errors.len(), 3);
    assert!(
        f.errors
            .iter()
            .all(|e| e.kind == MappingErrorKind::MissingVatCode)
    );
    assert_eq!(f.errors[2].field, "line_codes[2].vat_code");
    assert!(f.errors[0].message.contains("country BE"), "{f}");
    assert_eq!(f.record_key, "MC-2026-0042");

    // A payment method without entry.
    let mut settings = eu_vat();
    settings.orders.payment_methods = ValueMap::of([("card", "PIN")]);
    let f = failed(
        Observed::Order(samples::order(1, "NL", false)),
        settings,
        Mappings::default(),
    );
    assert_eq!(f.errors[0].kind, MappingErrorKind::UnmappedValue);
    assert_eq!(f.errors[0].field, "payment_method_code");

    // Revenue accounts configured but not for this country.
    let mut settings = eu_vat();
    settings.orders.revenue_accounts = ValueMap::of([("NL", "8000")]);
    let f = failed(
        Observed::Order(samples::order(2, "BE", false)),
        settings,
        Mappings::default(),
    );
    assert_eq!(f.errors.len(), 2);
    assert_eq!(f.errors[0].field, "line_codes[0].revenue_account");
}

#[test]
fn orders_to_mailchimp_carry_no_mpluskassa_codes_and_need_numeric_skus() {
    let mut settings = Settings::default();
    settings.flows.orders.direction = Direction::MpluskassaToMailchimp;
    let mut json = samples::order_json(2, "NL", false);
    json["source"] = json!("mpluskassa");
    let observed =
        Observed::from_payload(ferry_proto::messages::Flow::Orders, json.clone()).expect("valid");
    let order = mapped_order(observed, settings.clone(), Mappings::default());
    assert_eq!(order.employee_number(), None);
    assert!(order.line_codes().iter().all(|c| c.vat_code.is_none()));
    json["order"]["lines"][1]["sku"] = json!("ART-2");
    let observed =
        Observed::from_payload(ferry_proto::messages::Flow::Orders, json).expect("valid");
    let f = failed(observed, settings, Mappings::default());
    assert_eq!(f.errors[0].field, "order.lines[1].sku");
    assert_eq!(f.errors[0].kind, MappingErrorKind::NonNumericSku);
}

// ----------------------------------------------------------------------------------------
// User mappings
// ----------------------------------------------------------------------------------------

fn rules(flow: &str, rules: Vec<Rule>) -> Mappings {
    let mut m = Mappings::default();
    match flow {
        "customers" => m.rules.customers = rules,
        "products" => m.rules.products = rules,
        "orders" => m.rules.orders = rules,
        "stock" => m.rules.stock = rules,
        _ => m.rules.categories = rules,
    }
    m
}

#[test]
fn user_mappings_reach_any_source_field_and_any_target_field() {
    let mut m = rules(
        "products",
        vec![
            Rule::new("title", "upper(source.product.title)"),
            Rule::new("properties.supplier", "source.raw.supplier.name"),
            Rule::new(
                "properties.delivery_days",
                "string(source.raw.deliveryTimeDays)",
            ),
            Rule::new("kind.variants[*].title", "item.sku + ' #' + string(index)"),
            Rule::new("long_description", "null"),
            Rule::new("short_description", "'Sale!'")
                .when("source.product.price.amount == '24.20'"),
            Rule::new("gtin", "'0'").when("false"),
            Rule::new(
                "properties.colour",
                "lookup(maps.colours, get(target, 'kind.variants.0.attributes.1.value'))",
            ),
        ],
    );
    m.value_maps
        .insert("colours".into(), ValueMap::of([("colour 0", "Red")]));
    let Command::ProductUpsert(p) = sent(
        Observed::Product(samples::product("100200", 2)),
        Settings::default(),
        m,
    ) else {
        panic!()
    };
    let p = p.product;
    assert_eq!(p.title.as_str(), "ORGANIC COTTON SHIRT");
    assert_eq!(
        p.properties.get("supplier").map(String::as_str),
        Some("Textiel BV")
    );
    assert_eq!(
        p.properties.get("delivery_days").map(String::as_str),
        Some("3")
    );
    assert_eq!(p.properties.get("colour").map(String::as_str), Some("Red"));
    assert_eq!(p.long_description, None, "null clears an optional field");
    assert_eq!(
        p.short_description.as_ref().map(|t| t.as_str()),
        Some("Sale!")
    );
    assert!(p.gtin.is_some(), "a false condition leaves the field");
    let ProductKind::Configurable { variants } = &p.kind else {
        panic!()
    };
    assert_eq!(
        variants[1].title.as_ref().map(|t| t.as_str()),
        Some("100200001 #1")
    );
}

#[test]
fn user_mappings_transform_addresses_and_names() {
    let m = rules(
        "customers",
        vec![
            Rule::new("billing_address.street", "street(source.raw.address.address1)"),
            Rule::new("billing_address.house_number", "house_number(source.raw.address.address1)"),
            Rule::new("billing_address.house_number_suffix", "house_number_suffix(source.raw.address.address1)"),
            Rule::new("first_name", "title(lower(source.raw.merge_fields.FNAME))"),
            Rule::new("kind", "{'type': 'company', 'company_name': trim(source.raw.company), 'contact': {'last_name': 'X'}}")
                .when("trim(source.raw.company) != ''"),
        ],
    );
    let Command::CustomerUpsert(c) = sent(
        Observed::Customer(samples::customer(true)),
        Settings::default(),
        m.clone(),
    ) else {
        panic!()
    };
    let a = c.customer.billing_address.expect("address");
    assert_eq!(
        (
            a.street.as_str(),
            a.house_number.map(|n| n.to_string()),
            a.house_number_suffix.map(|s| s.to_string())
        ),
        ("Dorpsstraat", Some("12".into()), Some("a".into()))
    );
    assert!(matches!(c.customer.kind, CustomerKind::Company { .. }));
    let Command::CustomerUpsert(c) = sent(
        Observed::Customer(samples::customer(false)),
        Settings::default(),
        m,
    ) else {
        panic!()
    };
    assert!(
        matches!(c.customer.kind, CustomerKind::Person),
        "condition false for a person"
    );
}

#[test]
fn user_mappings_can_supply_what_the_defaults_lack() {
    // No VAT code for BE in the settings, but a rule sets them: no error.
    let m = rules(
        "orders",
        vec![Rule::new(
            "line_codes[*].vat_code",
            "source.order.lines[index].tax_rate == '9' ? 'L' : 'H'",
        )],
    );
    let order = mapped_order(
        Observed::Order(samples::order(5, "BE", false)),
        Settings::default(),
        m,
    );
    let codes: Vec<_> = order
        .line_codes()
        .iter()
        .map(|c| c.vat_code.as_ref().map(|v| v.to_string()))
        .collect();
    assert_eq!(codes[0].as_deref(), Some("H"));
    assert_eq!(codes[4].as_deref(), Some("L"));

    // A rule that sets only some of them still leaves the others reported.
    let m = rules("orders", vec![Rule::new("line_codes[0].vat_code", "'H'")]);
    let f = failed(
        Observed::Order(samples::order(2, "BE", false)),
        Settings::default(),
        m,
    );
    assert_eq!(f.errors.len(), 1);
    assert_eq!(f.errors[0].field, "line_codes[1].vat_code");

    // Employee number and notes from a rule.
    let m = rules(
        "orders",
        vec![
            Rule::new("employee_number", "123"),
            Rule::new("order.notes", "'via ' + source.source"),
        ],
    );
    let order = mapped_order(Observed::Order(samples::order(1, "NL", false)), eu_vat(), m);
    assert_eq!(order.employee_number().map(|e| e.0), Some(123));
    assert_eq!(
        order.order().notes.as_ref().map(|n| n.as_str()),
        Some("via mailchimp")
    );
}

#[test]
fn failing_rules_and_invalid_results_are_errors_naming_the_field() {
    let m = rules(
        "products",
        vec![
            Rule::new("title", "source.raw.missing.field"),
            Rule::new("sku", "'A B'"),
            Rule::new("kind.variants[*].price.amount", "12.5"),
            Rule::new("properties.x", "1 / 0"),
            Rule::new("short_description", "42").when("'yes'"),
        ],
    );
    let f = failed(
        Observed::Product(samples::product("100200", 1)),
        Settings::default(),
        m,
    );
    let kinds: Vec<(MappingErrorKind, &str)> = f
        .errors
        .iter()
        .map(|e| (e.kind, e.field.as_str()))
        .collect();
    assert!(
        kinds.contains(&(MappingErrorKind::ExpressionFailed, "title")),
        "{f}"
    );
    assert!(
        kinds.contains(&(MappingErrorKind::ExpressionFailed, "properties.x")),
        "{f}"
    );
    assert!(
        kinds.contains(&(MappingErrorKind::ExpressionFailed, "short_description")),
        "{f}"
    );
    assert!(
        f.errors
            .iter()
            .any(|e| e.message.contains("not true or false")),
        "{f}"
    );
    // The document parse reports the first invalid value with its path (inside a tagged
    // union such as `kind`, the path ends at the union).
    let m = rules("products", vec![Rule::new("price.amount", "12.5")]);
    let f = failed(
        Observed::Product(samples::product("100200", 1)),
        Settings::default(),
        m,
    );
    assert_eq!(f.errors[0].kind, MappingErrorKind::InvalidResult);
    assert_eq!(f.errors[0].field, "price.amount", "{f}");
    assert!(f.errors[0].message.contains("expected a string"), "{f}");
    let m = rules(
        "products",
        vec![Rule::new("kind.variants[*].price.amount", "12.5")],
    );
    let f = failed(
        Observed::Product(samples::product("100200", 1)),
        Settings::default(),
        m,
    );
    assert_eq!(f.errors[0].field, "kind", "{f}");
    let m = rules("stock", vec![Rule::new("sku", "'A B'")]);
    let f = failed(
        Observed::Stock(samples::stock("1", "1", "0", "1")),
        Settings::default(),
        m,
    );
    assert_eq!(
        (f.errors[0].kind, f.errors[0].field.as_str()),
        (MappingErrorKind::InvalidResult, "sku"),
        "{f}"
    );
}

// ----------------------------------------------------------------------------------------
// Validation when saving
// ----------------------------------------------------------------------------------------

#[test]
fn invalid_mappings_are_refused_with_positions() {
    let m = rules(
        "products",
        vec![
            Rule::new("title", "upper(source.product.title"),
            Rule::new("titel", "'x'"),
            Rule::new("title", "item.sku"),
            Rule::new("kind.variants[x].sku", "'1'"),
            Rule::new("title", "'x'").when("sourc.product != null"),
        ],
    );
    let errors = m.compile().expect_err("invalid");
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "rules.products[0].expr",
            "rules.products[1].target",
            "rules.products[2].expr",
            "rules.products[3].target",
            "rules.products[4].when"
        ],
        "{errors:#?}"
    );
    assert_eq!(
        (errors[0].line, errors[0].column.is_some()),
        (Some(1), true)
    );
    assert_eq!(errors[3].column, Some(15), "the `x`");
    assert_eq!((errors[4].line, errors[4].column), (Some(1), Some(1)));
    assert!(errors[1].message.contains("no field `titel`"));
}

#[test]
fn invalid_settings_are_refused_with_paths() {
    let mut s = Settings::default();
    s.orders.employee_number = 0;
    s.orders.default_debtor.enabled = true;
    s.orders.vat_codes = ValueMap::of([("XX", "1"), ("nl", "2"), ("NL:9.0", "3"), ("BE", " ")]);
    s.stock.buffer = dec("-1");
    s.products.sku_rule = SkuRule::Expression {
        expr: "sku +".into(),
    };
    let errors = s.validate();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "orders.employee_number",
            "orders.default_debtor.relation_id",
            "orders.vat_codes.entries.BE",
            "orders.vat_codes.entries.NL:9.0",
            "orders.vat_codes.entries.XX",
            "orders.vat_codes.entries.nl",
            "stock.buffer",
            "products.sku_rule.expr",
        ],
        "{errors:#?}"
    );
    let mut s = Settings::default();
    s.products.sku_rule = SkuRule::ValueMap { map: "nope".into() };
    let errors = IntegrationConfig::new(IntegrationId::new(), s, &Mappings::default())
        .expect_err("missing map");
    assert_eq!(errors[0].path, "products.sku_rule.map");
}

#[test]
fn settings_serialize_with_their_defaults() {
    let json = serde_json::to_value(Settings::default()).expect("json");
    assert_eq!(json["orders"]["employee_number"], 999_999);
    assert_eq!(
        json["flows"]["customers"],
        json!({"enabled": true, "direction": "mailchimp_to_mpluskassa"})
    );
    assert_eq!(
        json["flows"]["products"]["direction"],
        "mpluskassa_to_mailchimp"
    );
    assert_eq!(
        json["stock"],
        json!({"calculation": "available_minus_reserved", "buffer": "0", "manage_stock": true})
    );
    assert_eq!(json["products"]["sku_rule"], json!({"mode": "reject"}));
    // Issue 18, item 6: customers to the audience are off by default, consent-safe when on.
    assert_eq!(
        json["customers"],
        json!({"audience": {"enabled": false, "status": "transactional"}})
    );
    assert_eq!(Settings::default().customers.audience.published(), None);
    let on: Settings =
        serde_json::from_value(json!({"customers": {"audience": {"enabled": true}}}))
            .expect("audience on");
    assert_eq!(
        on.customers.audience.published(),
        Some(ferry_proto::messages::AudienceStatus::Transactional)
    );
    let pending: Settings = serde_json::from_value(
        json!({"customers": {"audience": {"enabled": true, "status": "pending"}}}),
    )
    .expect("pending");
    assert_eq!(
        pending.customers.audience.published(),
        Some(ferry_proto::messages::AudienceStatus::Pending)
    );
    assert!(
        serde_json::from_value::<Settings>(
            json!({"customers": {"audience": {"enabled": true, "status": "subscribed"}}})
        )
        .is_err(),
        "subscribed without consent cannot be configured"
    );
    let partial: Settings =
        serde_json::from_value(json!({"stock": {"buffer": "3"}})).expect("partial");
    assert_eq!(partial.stock.buffer, dec("3"));
    assert_eq!(partial.orders.employee_number, 999_999);
    assert!(
        serde_json::from_value::<Settings>(json!({"stok": {}})).is_err(),
        "unknown keys are refused"
    );
}

#[test]
fn mpluskassa_sales_follow_orders_source_types() {
    use ferry_mapper::settings::SourceTypes;
    use ferry_proto::messages::Flow;
    use ferry_proto::model::OrderType;
    let sale = |order_type: &str| {
        let mut j = samples::order_json(2, "NL", false);
        j["source"] = json!("mpluskassa");
        j["order"]["order_type"] = json!(order_type);
        Observed::from_payload(Flow::Orders, j).expect("valid")
    };
    let mut settings = eu_vat();
    settings.flows.orders.direction = Direction::MpluskassaToMailchimp;
    for (types, order_sent, invoice_sent) in [
        (SourceTypes::Both, true, true),
        (SourceTypes::Orders, true, false),
        (SourceTypes::Invoices, false, true),
    ] {
        settings.orders.source_types = types;
        for (kind, expected, order_type) in [
            ("order", order_sent, OrderType::Order),
            ("invoice", invoice_sent, OrderType::Invoice),
        ] {
            let r = run(sale(kind), settings.clone(), Mappings::default()).expect("mapped");
            match r {
                Mapped::Send(c) => {
                    assert!(expected, "{types:?} sent an {kind}");
                    assert_eq!(c.routing_key(), "mailchimp.order.mapped");
                }
                Mapped::Skipped(skip) => {
                    assert!(!expected, "{types:?} skipped an {kind}");
                    assert_eq!(skip, Skip::SourceType(order_type));
                    assert!(skip.to_string().contains("orders.source_types"));
                }
            }
        }
    }
    // The default is both, and the setting is part of the settings document.
    assert_eq!(Settings::default().orders.source_types, SourceTypes::Both);
    let doc: Settings =
        serde_json::from_value(json!({"orders": {"source_types": "invoices"}})).expect("reads");
    assert_eq!(doc.orders.source_types, SourceTypes::Invoices);
}

/// `orders.lifecycle`: a cancellation or refund reaches the target with the order (the
/// order flow's direction), and one observed in the flow's target goes back to its source,
/// without the order mappings; an open order of the target stays skipped; off, the status is
/// not carried and the target's changes are not sent back.
#[test]
fn order_lifecycle_follows_the_order_both_ways_unless_switched_off() {
    use ferry_mapper::mapper::Command;
    use ferry_proto::messages::Flow;
    use ferry_proto::model::OrderStatus;
    let order = |source: &str, status: &str| {
        let mut j = samples::order_json(2, "NL", false);
        j["source"] = json!(source);
        j["order"]["status"] = json!(status);
        Observed::from_payload(Flow::Orders, j).expect("valid")
    };
    let mapped = |r: Mapped| match r {
        Mapped::Send(Command::OrderMapped(m)) => Some(m),
        Mapped::Send(other) => panic!("not an order: {other:?}"),
        Mapped::Skipped(_) => None,
    };
    let settings = eu_vat();
    assert!(settings.orders.lifecycle, "on by default");
    assert_eq!(
        settings.flows.orders.direction,
        Direction::MailchimpToMpluskassa
    );

    // With the order: the status travels in the mapped order.
    let m = mapped(
        run(
            order("mailchimp", "cancelled"),
            settings.clone(),
            Mappings::default(),
        )
        .expect("mapped"),
    )
    .expect("sent");
    assert_eq!(m.target, System::Mpluskassa);
    assert_eq!(m.order.order().status, OrderStatus::Cancelled);

    // Back from the target: a refund is sent to the source, even with mappings that would
    // refuse the order (no VAT codes, no revenue accounts).
    let m = mapped(
        run(
            order("mpluskassa", "refunded"),
            Settings::default(),
            Mappings::default(),
        )
        .expect("mapped"),
    )
    .expect("sent back");
    assert_eq!(m.target, System::Mailchimp);
    assert_eq!(m.order.order().status, OrderStatus::Refunded);
    // An open order of the target is no order of this flow.
    assert!(
        mapped(
            run(
                order("mpluskassa", "open"),
                settings.clone(),
                Mappings::default()
            )
            .expect("ok")
        )
        .is_none()
    );

    // Off: the status is not carried, nothing goes back.
    let mut off = settings.clone();
    off.orders.lifecycle = false;
    let m = mapped(
        run(
            order("mailchimp", "cancelled"),
            off.clone(),
            Mappings::default(),
        )
        .expect("mapped"),
    )
    .expect("sent");
    assert_eq!(m.order.order().status, OrderStatus::Open);
    assert!(
        mapped(run(order("mpluskassa", "refunded"), off, Mappings::default()).expect("ok"))
            .is_none()
    );
    let doc: Settings =
        serde_json::from_value(json!({"orders": {"lifecycle": false}})).expect("reads");
    assert!(!doc.orders.lifecycle);
}
