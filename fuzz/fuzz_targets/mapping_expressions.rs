//! Arbitrary text as a user mapping's expression: compiled (refused when longer than the
//! mapper accepts, nested too deep, unparsable or naming unknown variables) and, when it
//! compiles, evaluated against a small order document with every variable a rule can see.
//! Neither step may panic or hang.
#![no_main]

use std::sync::OnceLock;

use ferry_mapper::expr::{self, MAX_EXPRESSION_CHARS};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// The variables of a rule for `lines[*].sku` of an order: the observed order, the target
/// document mapped so far, settings, value maps, the current line and its index, the SKU.
fn variables() -> &'static [(&'static str, Value)] {
    static VARIABLES: OnceLock<Vec<(&'static str, Value)>> = OnceLock::new();
    VARIABLES.get_or_init(|| {
        let line = json!({"sku": "8001", "quantity": "2", "unit_price": "19.95", "title": "Koffie"});
        vec![
            (
                "source",
                json!({
                    "order": {
                        "external_id": "WS-240101",
                        "placed_at": "2026-01-04T10:15:00+01:00",
                        "customer": {"email": "els@bakkerij.nl", "first_name": "Els", "last_name": "Bakker"},
                        "billing_address": {"street": "Dorpsstraat", "house_number": "12", "house_number_suffix": "a", "postcode": "1234 AB", "city": "Utrecht", "country": "NL"},
                        "lines": [line.clone(), {"sku": "8002", "quantity": "1", "unit_price": "4.50"}],
                        "totals": {"total": "44.40", "tax": "7.71"}
                    },
                    "raw": {"id": "WS-240101", "financial_status": "paid", "order_total": 44.4, "lines": [{"product_variant_id": 1001, "price": 19.95}]}
                }),
            ),
            ("target", json!({"employee_number": 999999, "lines": [line.clone()]})),
            ("settings", json!({"employee_number": "999999", "default_country": "NL"})),
            ("maps", json!({"payment_methods": {"ideal": "IDEAL"}, "vat_codes": {"NL": "2"}})),
            ("item", line),
            ("index", json!(0)),
            ("sku", json!("WS-8001")),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    // Longer text is refused by `compile` before it is parsed; fuzzing it would only time
    // the refusal.
    if source.chars().count() > MAX_EXPRESSION_CHARS {
        return;
    }
    let Ok(compiled) = expr::compile(source) else {
        return;
    };
    let mut ctx = expr::context();
    for (name, value) in variables() {
        ctx.add_variable_from_value(*name, expr::from_json(value));
    }
    let _ = compiled.eval(&ctx);
});
