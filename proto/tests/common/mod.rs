//! Sample records shared by the integration tests.
#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use ferry_proto::model::*;
use ferry_proto::*;

pub fn eur(amount: &str) -> Money {
    Money::parse(amount, CurrencyCode::EUR).expect("money")
}

pub fn address() -> Address {
    Address {
        street: Name::parse("Dorpsstraat").expect("street"),
        house_number: Some(HouseNumber::parse("12").expect("number")),
        house_number_suffix: Some(HouseNumberSuffix::parse("a").expect("suffix")),
        postcode: Postcode::parse("1234 AB").expect("postcode"),
        city: Name::parse("Ons Dorp").expect("city"),
        region: None,
        country: CountryCode::parse("NL").expect("country"),
    }
}

pub fn customer() -> Customer {
    Customer {
        email: Email::parse("Jan@Example.com").expect("email"),
        kind: CustomerKind::Company {
            company_name: Name::parse("Bakkerij Jansen").expect("company"),
            vat_number: Some(VatNumber::parse("NL851234567B01").expect("vat")),
            contact: ContactPerson {
                first_name: Some(Name::parse("Jan").expect("first")),
                last_name: Some(Name::parse("Jansen").expect("last")),
                email: None,
                phone: Some(Phone::parse("+31 6 12345678").expect("phone")),
            },
        },
        first_name: Some(Name::parse("Jan").expect("first")),
        last_name: Some(Name::parse("Jansen").expect("last")),
        phone: None,
        billing_address: Some(address()),
        shipping_address: Some(address()),
        source_ref: Some(SourceRef {
            system: System::Mailchimp,
            id: ExternalId::parse("cust-1").expect("id"),
        }),
        opted_in: Some(true),
    }
}

pub fn product() -> Product {
    Product {
        sku: Sku::parse("1001").expect("sku"),
        title: Name::parse("T-shirt").expect("title"),
        short_description: Some(LongText::parse("Cotton").expect("short")),
        long_description: None,
        price: eur("19.95"),
        price_includes_tax: true,
        tax_rate: Some(TaxRate::parse("21").expect("rate")),
        gtin: Some(Gtin::parse("4006381333931").expect("gtin")),
        category: Some(CategoryRef {
            key: ExternalId::parse("shirts").expect("key"),
            name: None,
        }),
        attributes: vec![],
        properties: [("origin".to_owned(), "NL".to_owned())].into(),
        kind: ProductKind::Configurable {
            variants: vec![Variant {
                sku: Sku::parse("1002").expect("sku"),
                title: Some(Name::parse("T-shirt XL").expect("title")),
                price: None,
                gtin: None,
                attributes: vec![Attribute {
                    name: Name::parse("size").expect("name"),
                    value: Name::parse("XL").expect("value"),
                }],
                quantity: Some(Quantity::from_i64(3)),
            }],
        },
        quantity: None,
    }
}

pub fn order_line(sku: &str) -> OrderLine {
    OrderLine {
        sku: Sku::parse(sku).expect("sku"),
        title: None,
        quantity: PositiveQuantity::parse("2").expect("qty"),
        unit_price: eur("10.00"),
        price_includes_tax: true,
        tax_rate: Some(TaxRate::parse("21").expect("rate")),
        discount: None,
    }
}

pub fn order() -> Order {
    Order {
        external_id: ExternalId::parse("ORD-1001").expect("id"),
        order_type: OrderType::Order,
        customer: customer(),
        lines: OrderLines::new(vec![
            order_line("1001"),
            order_line("1002"),
            order_line("1001"),
        ])
        .expect("lines"),
        totals: OrderTotals {
            subtotal: eur("60.00"),
            tax: eur("10.41"),
            shipping: eur("4.95"),
            total: eur("64.95"),
        },
        currency: CurrencyCode::EUR,
        payment_method: Some(Name::parse("ideal").expect("pm")),
        payment_term: None,
        billing_address: Some(address()),
        shipping_address: None,
        placed_at: Utc
            .with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
            .single()
            .expect("time"),
        notes: None,
        status: Default::default(),
    }
}

pub fn target_order() -> TargetOrder {
    TargetOrder::new(
        order(),
        CustomerPlan::Upsert {
            customer: Box::new(customer()),
        },
        vec![LineCodes::default(); 3],
    )
    .expect("target order")
    .with_employee_number(EmployeeNumber::DEFAULT)
}

pub fn integration() -> IntegrationId {
    IntegrationId::parse("0195f3a4-7b1c-7d2e-8f90-a1b2c3d4e5f6").expect("id")
}
