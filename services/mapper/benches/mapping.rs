//! Mapping throughput: a configurable product with 20 variants and an order with 50 lines,
//! with the default mappings only and with typical user mappings, on one thread.
//!
//! `map` is the mapping alone; `decode+map+encode` adds what the consumer does around it
//! (envelope JSON in, command envelope JSON out).
//!
//! ```sh
//! cargo bench -p ferry-mapper --bench mapping      # FERRY_BENCH_SECONDS (default 2) per row
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use ferry_mapper::mapper::{IntegrationConfig, Mapped, Observed, map};
use ferry_mapper::rules::{Mappings, Rule};
use ferry_mapper::samples;
use ferry_mapper::settings::{Settings, ValueMap};
use ferry_platform::bus::BusMessage;
use ferry_proto::{Envelope, IntegrationId};

fn settings() -> Settings {
    let mut s = Settings::default();
    s.orders.vat_codes = ValueMap::of([("NL", "2"), ("NL:9", "1"), ("BE", "12"), ("BE:9", "11")]);
    s.orders.revenue_accounts = ValueMap::of([("NL", "8000"), ("BE", "8020")]);
    s.orders.payment_methods = ValueMap::of([("ideal", "IDEAL"), ("card", "PIN")]);
    s
}

fn user_mappings() -> Mappings {
    let mut m = Mappings::default();
    m.value_maps.insert(
        "colours".into(),
        ValueMap::of([
            ("colour 0", "Red"),
            ("colour 1", "Blue"),
            ("colour 2", "Green"),
        ]),
    );
    m.rules.products = vec![
        Rule::new("title", "title(lower(source.product.title))"),
        Rule::new("properties.supplier", "source.raw.supplier.name"),
        Rule::new(
            "properties.delivery",
            "string(source.raw.deliveryTimeDays) + ' days'",
        ),
        Rule::new(
            "short_description",
            "trim(source.product.short_description)",
        )
        .when("has(source.product.short_description)"),
        Rule::new(
            "kind.variants[*].title",
            "item.sku + ' ' + lookup_or(maps.colours, get(item, 'attributes.1.value'), 'Other')",
        ),
        Rule::new(
            "kind.variants[*].price.amount",
            "price_excl(item.price.amount, source.product.tax_rate)",
        ),
    ];
    m.rules.orders = vec![
        Rule::new(
            "order.notes",
            "'Order ' + source.order.external_id + ' of ' + format_date(source.order.placed_at, '%d-%m-%Y')",
        ),
        Rule::new(
            "order.lines[*].title",
            "concat([item.sku, ' ', default_if_empty(get(item, 'title'), 'article')])",
        ),
        Rule::new(
            "line_codes[*].revenue_account",
            "source.order.lines[index].tax_rate == '9' ? '8010' : '8020'",
        ),
        Rule::new(
            "customer_plan.customer.billing_address.house_number",
            "house_number(source.raw.shipping_address.address1)",
        ),
        Rule::new(
            "payment_term_code",
            "lookup_or({'direct': '0'}, source.order.payment_term, '30')",
        ),
    ];
    m
}

struct Row {
    name: &'static str,
    per_sec_map: f64,
    per_sec_full: f64,
    micros: f64,
}

fn measure(
    name: &'static str,
    observed: Observed,
    config: &IntegrationConfig,
    budget: Duration,
) -> Row {
    let envelope_bytes = {
        let integration = config.integration;
        let bytes = match &observed {
            Observed::Product(p) => Envelope::new(integration, p.clone()).to_json_bytes(),
            Observed::Order(o) => Envelope::new(integration, o.clone()).to_json_bytes(),
            _ => panic!("bench covers products and orders"),
        };
        bytes.expect("encodes")
    };
    // Sanity: it maps.
    match map(&observed, config) {
        Ok(Mapped::Send(_)) => {}
        other => panic!("{name}: expected a command, got {other:?}"),
    }
    let run = |f: &mut dyn FnMut()| {
        for _ in 0..50 {
            f();
        }
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget {
            for _ in 0..20 {
                f();
            }
            n += 20;
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    let per_sec_map = run(&mut || {
        black_box(map(black_box(&observed), config).expect("maps"));
    });
    let per_sec_full = run(&mut || {
        let untyped = Envelope::<serde_json::Value>::from_json_slice(black_box(&envelope_bytes))
            .expect("decodes");
        let (meta, observed) = Observed::from_envelope(untyped).expect("typed");
        let Ok(Mapped::Send(command)) = map(&observed, config) else {
            panic!("maps")
        };
        let message: BusMessage = command.to_bus_message(&meta).expect("encodes");
        black_box(message);
    });
    Row {
        name,
        per_sec_map,
        per_sec_full,
        micros: 1e6 / per_sec_map,
    }
}

fn main() {
    let secs: u64 = std::env::var("FERRY_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let budget = Duration::from_secs(secs);
    let integration = IntegrationId::new();
    let defaults =
        IntegrationConfig::new(integration, settings(), &Mappings::default()).expect("valid");
    let users = IntegrationConfig::new(integration, settings(), &user_mappings()).expect("valid");
    let product = || Observed::Product(samples::product("100200", 20));
    let order = || Observed::Order(samples::order(50, "BE", true));
    let rows = [
        measure(
            "product, 20 variants, default mappings",
            product(),
            &defaults,
            budget,
        ),
        measure(
            "product, 20 variants, + 6 user rules",
            product(),
            &users,
            budget,
        ),
        measure(
            "order, 50 lines, default mappings",
            order(),
            &defaults,
            budget,
        ),
        measure("order, 50 lines, + 5 user rules", order(), &users, budget),
    ];
    println!();
    println!("| record | map/s | µs per map | decode+map+encode/s |");
    println!("| --- | ---: | ---: | ---: |");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.1} | {:.0} |",
            r.name, r.per_sec_map, r.micros, r.per_sec_full
        );
    }
}
