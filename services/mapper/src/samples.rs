//! Example observed records, as connectors publish them: used by the tests, the benchmark and
//! as templates for the preview endpoint. Built from JSON, so they pass the contract's parsers
//! exactly as a real message does.

use ferry_proto::messages::{
    CategoryObserved, CustomerObserved, OrderObserved, ProductObserved, StockObserved,
};
use serde_json::{Value as Json, json};

/// A MailChimp customer; `company` makes it a company with contact person.
pub fn customer_json(company: bool) -> Json {
    let kind = if company {
        json!({"type": "company", "company_name": "Bakkerij De Korenschoof BV", "vat_number": "NL851234567B01", "contact": {}})
    } else {
        json!({"type": "person"})
    };
    json!({
        "source": "mailchimp",
        "customer": {
            "email": "els.devries@example.nl",
            "kind": kind,
            "first_name": "Els",
            "last_name": "de Vries",
            "phone": "+31 20 123 4567",
            "billing_address": {"street": "Dorpsstraat", "house_number": "12", "house_number_suffix": "a",
                                "postcode": "1234 AB", "city": "Ons Dorp", "country": "NL"},
            "source_ref": {"system": "mailchimp", "id": "cust-1001"},
            "opted_in": true
        },
        "raw": {"id": "cust-1001", "email_address": "els.devries@example.nl", "company": if company { "Bakkerij De Korenschoof BV" } else { "" },
                "address": {"address1": "Dorpsstraat 12a", "city": "Ons Dorp", "postal_code": "1234 AB", "country_code": "NL"},
                "merge_fields": {"FNAME": "Els", "LNAME": "de Vries", "BIRTHDAY": "1985-03-14"}}
    })
}

/// A customer record.
pub fn customer(company: bool) -> CustomerObserved {
    from_json(customer_json(company))
}

/// An MplusKASSA product: simple with `variants == 0`, configurable otherwise. SKUs are
/// digits only unless `sku` says otherwise.
pub fn product_json(sku: &str, variants: usize) -> Json {
    let kind = if variants == 0 {
        json!({"type": "simple"})
    } else {
        let vs: Vec<Json> = (0..variants)
            .map(|i| {
                let size = ["S", "M", "L", "XL"][i % 4];
                json!({
                    "sku": format!("{sku}{i:03}"),
                    "title": format!("Shirt size {size}"),
                    "price": {"amount": "24.20", "currency": "EUR"},
                    "gtin": "4006381333931",
                    "attributes": [{"name": "size", "value": size}, {"name": "colour", "value": format!("colour {}", i / 4)}],
                    "quantity": "7"
                })
            })
            .collect();
        json!({"type": "configurable", "variants": vs})
    };
    json!({
        "source": "mpluskassa",
        "product": {
            "sku": sku,
            "title": "Organic cotton shirt",
            "short_description": "A soft shirt",
            "long_description": "<p>A soft shirt of organic cotton.</p>",
            "price": {"amount": "24.20", "currency": "EUR"},
            "price_includes_tax": true,
            "tax_rate": "21",
            "gtin": "4006381333931",
            "category": {"key": "12", "name": "Shirts"},
            "attributes": [],
            "properties": {"country_of_origin": "PT"},
            "kind": kind,
            "quantity": "12"
        },
        "raw": {"articleNumber": sku, "text": "Organic cotton shirt", "supplier": {"name": "Textiel BV"}, "deliveryTimeDays": 3}
    })
}

/// A product record.
pub fn product(sku: &str, variants: usize) -> ProductObserved {
    from_json(product_json(sku, variants))
}

/// An MplusKASSA article group.
pub fn category_json() -> Json {
    json!({"source": "mpluskassa", "category": {"key": "12", "name": "Shirts", "parent": "1"}, "raw": {"groupNumber": 12}})
}

/// A category record.
pub fn category() -> CategoryObserved {
    from_json(category_json())
}

/// An MplusKASSA stock level (`raw` as `getStock` reports it: `amountFree` is the available
/// figure, `amountReserved` the reserved one).
pub fn stock_json(sku: &str, physical: &str, reserved: &str, available: &str) -> Json {
    json!({
        "source": "mpluskassa",
        "stock": {"sku": sku, "physical": physical, "reserved": reserved, "available": available,
                  "observed_at": "2026-11-24T10:00:00Z"},
        "raw": {"articleNumber": sku, "amountFree": available, "amountReserved": reserved}
    })
}

/// A stock record.
pub fn stock(sku: &str, physical: &str, reserved: &str, available: &str) -> StockObserved {
    from_json(stock_json(sku, physical, reserved, available))
}

/// A MailChimp order with `lines` lines, shipped to `country`.
pub fn order_json(lines: usize, country: &str, company: bool) -> Json {
    let ls: Vec<Json> = (0..lines.max(1))
        .map(|i| {
            json!({"sku": format!("{}", 100_000 + i), "title": format!("Article {i}"), "quantity": "2",
                   "unit_price": {"amount": "12.10", "currency": "EUR"}, "price_includes_tax": true,
                   "tax_rate": if i % 5 == 4 { "9" } else { "21" }})
        })
        .collect();
    let customer = customer_json(company)["customer"].clone();
    json!({
        "source": "mailchimp",
        "order": {
            "external_id": "MC-2026-0042",
            "order_type": "order",
            "customer": customer,
            "lines": ls,
            "totals": {"subtotal": {"amount": "24.20", "currency": "EUR"}, "tax": {"amount": "4.20", "currency": "EUR"},
                       "shipping": {"amount": "0", "currency": "EUR"}, "total": {"amount": "24.20", "currency": "EUR"}},
            "currency": "EUR",
            "payment_method": "ideal",
            "payment_term": "direct",
            "billing_address": {"street": "Dorpsstraat", "house_number": "12", "postcode": "1234 AB", "city": "Ons Dorp", "country": "NL"},
            "shipping_address": {"street": "Rue de la Loi", "house_number": "16", "postcode": "1000", "city": "Bruxelles", "country": country},
            "placed_at": "2026-11-24T09:30:00Z",
            "notes": "Please ring twice"
        },
        "raw": {"id": "MC-2026-0042", "financial_status": "paid", "shipping_address": {"address1": "Rue de la Loi 16"}}
    })
}

/// An order record.
pub fn order(lines: usize, country: &str, company: bool) -> OrderObserved {
    from_json(order_json(lines, country, company))
}

#[allow(clippy::expect_used)]
fn from_json<T: serde::de::DeserializeOwned>(json: Json) -> T {
    // The samples are fixed and valid; a failure is a bug in this file, found by the tests.
    serde_json::from_value(json).expect("the sample record is valid")
}
