//! MailChimp records -> canonical records (parse, don't validate).
//!
//! A record that cannot be parsed (no e-mail address, an unknown country, a SKU with
//! whitespace, ...) gives a [`Rejected`] naming the record and the field; the ingester parks
//! it rather than publishing anything (see [`crate::ingest`]). E-mail addresses in reasons are
//! masked by the value types' errors.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ferry_proto::model::{
    Address, CategoryRef, ContactPerson, Customer, CustomerKind, Order, OrderLine, OrderLines,
    OrderStatus, OrderTotals, OrderType, Product, ProductKind, SourceRef, StockLevel, Variant,
    split_street_line,
};
use ferry_proto::{
    CountryCode, CurrencyCode, Email, ExternalId, LongText, Money, Name, ParseError, Phone,
    PositiveQuantity, Postcode, Quantity, Sku, System,
};
use rust_decimal::Decimal;
use serde_json::Value;

/// Why a record was not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MailChimp {resource} {id}: {reason}")]
pub struct Rejected {
    /// `customer`, `member`, `product`, `order`.
    pub resource: &'static str,
    /// The record's MailChimp id.
    pub id: String,
    /// What is wrong, naming the field.
    pub reason: String,
}

struct Ctx<'a> {
    resource: &'static str,
    id: &'a str,
}

impl Ctx<'_> {
    fn reject(&self, reason: impl Into<String>) -> Rejected {
        Rejected {
            resource: self.resource,
            id: self.id.to_owned(),
            reason: reason.into(),
        }
    }

    fn field<T>(&self, field: &str, r: Result<T, ParseError>) -> Result<T, Rejected> {
        r.map_err(|e| self.reject(format!("field `{field}`: {e}")))
    }
}

/// A string field, trimmed; `None` when absent, null or blank.
pub fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// An id that may be a string or a number.
pub fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A decimal that may be a string or a number.
fn decimal(v: &Value, key: &str) -> Option<Result<Decimal, String>> {
    match v.get(key)? {
        Value::Number(n) => Some(
            Decimal::from_str(&n.to_string())
                .or_else(|_| Decimal::from_scientific(&n.to_string()))
                .map_err(|_| format!("field `{key}`: {n} is not a decimal number")),
        ),
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(
            Decimal::from_str(s.trim())
                .map_err(|_| format!("field `{key}`: {s:?} is not a decimal number")),
        ),
        Value::Null => None,
        other => Some(Err(format!("field `{key}`: {other} is not a number"))),
    }
}

fn money(ctx: &Ctx<'_>, v: &Value, key: &str, currency: CurrencyCode) -> Result<Money, Rejected> {
    match decimal(v, key) {
        None => Ok(Money::zero(currency)),
        Some(Ok(d)) => Ok(Money::new(d, currency)),
        Some(Err(e)) => Err(ctx.reject(e)),
    }
}

fn opt_name(ctx: &Ctx<'_>, v: &Value, key: &str) -> Result<Option<Name>, Rejected> {
    text(v, key)
        .map(|s| ctx.field(key, Name::parse(s)))
        .transpose()
}

fn email(ctx: &Ctx<'_>, v: &Value) -> Result<Email, Rejected> {
    let raw = text(v, "email_address").ok_or_else(|| {
        ctx.reject("field `email_address`: missing, a customer needs an e-mail address")
    })?;
    ctx.field("email_address", Email::parse(raw))
}

/// An address whose fields have the given names; `None` when it is blank.
struct AddressKeys {
    street: &'static str,
    city: &'static str,
    postcode: &'static str,
    region: &'static str,
    country: &'static str,
}

const ECOMMERCE_ADDRESS: AddressKeys = AddressKeys {
    street: "address1",
    city: "city",
    postcode: "postal_code",
    region: "province",
    country: "country_code",
};

const MERGE_ADDRESS: AddressKeys = AddressKeys {
    street: "addr1",
    city: "city",
    postcode: "zip",
    region: "state",
    country: "country",
};

fn address(
    ctx: &Ctx<'_>,
    field: &str,
    v: Option<&Value>,
    keys: &AddressKeys,
) -> Result<Option<Address>, Rejected> {
    let Some(v) = v.filter(|v| v.is_object()) else {
        return Ok(None);
    };
    let street = text(v, keys.street);
    let city = text(v, keys.city);
    if street.is_none() && city.is_none() {
        return Ok(None);
    }
    let at = |k: &str| format!("{field}.{k}");
    let street =
        street.ok_or_else(|| ctx.reject(format!("field `{}`: missing", at(keys.street))))?;
    let parts = ctx.field(&at(keys.street), split_street_line(street))?;
    let postcode = text(v, keys.postcode)
        .ok_or_else(|| ctx.reject(format!("field `{}`: missing", at(keys.postcode))))?;
    let city = city.ok_or_else(|| ctx.reject(format!("field `{}`: missing", at(keys.city))))?;
    let country = text(v, keys.country)
        .ok_or_else(|| ctx.reject(format!("field `{}`: missing", at(keys.country))))?;
    Ok(Some(Address {
        street: parts.street,
        house_number: parts.house_number,
        house_number_suffix: parts.house_number_suffix,
        postcode: ctx.field(&at(keys.postcode), Postcode::parse(postcode))?,
        city: ctx.field(&at(keys.city), Name::parse(city))?,
        region: text(v, keys.region)
            .map(|r| ctx.field(&at(keys.region), Name::parse(r)))
            .transpose()?,
        country: ctx.field(&at(keys.country), CountryCode::parse(country))?,
    }))
}

fn kind(company: Option<Name>, first: &Option<Name>, last: &Option<Name>) -> CustomerKind {
    match company {
        Some(company_name) => CustomerKind::Company {
            company_name,
            vat_number: None,
            contact: ContactPerson {
                first_name: first.clone(),
                last_name: last.clone(),
                email: None,
                phone: None,
            },
        },
        None => CustomerKind::Person,
    }
}

/// An e-commerce customer (`/ecommerce/stores/{id}/customers/{id}`).
pub fn customer(raw: &Value) -> Result<Customer, Rejected> {
    let id = id_of(raw).unwrap_or_default();
    let ctx = Ctx {
        resource: "customer",
        id: &id,
    };
    if id.is_empty() {
        return Err(ctx.reject("field `id`: missing"));
    }
    let email = email(&ctx, raw)?;
    let first_name = opt_name(&ctx, raw, "first_name")?;
    let last_name = opt_name(&ctx, raw, "last_name")?;
    let company = opt_name(&ctx, raw, "company")?;
    let billing = address(&ctx, "address", raw.get("address"), &ECOMMERCE_ADDRESS)?;
    let phone = text(raw, "sms_phone_number")
        .map(|p| ctx.field("sms_phone_number", Phone::parse(p)))
        .transpose()?;
    Ok(Customer {
        kind: kind(company, &first_name, &last_name),
        email,
        first_name,
        last_name,
        phone,
        shipping_address: billing.clone(),
        billing_address: billing,
        source_ref: Some(SourceRef {
            system: System::Mailchimp,
            id: ctx.field("id", ExternalId::parse(&id))?,
        }),
        opted_in: raw.get("opt_in_status").and_then(Value::as_bool),
    })
}

/// An audience member (`/lists/{id}/members/{hash}`); `company_field` names the merge
/// field holding a company name.
pub fn member(raw: &Value, company_field: &str) -> Result<Customer, Rejected> {
    let id = text(raw, "id").unwrap_or_default().to_owned();
    let ctx = Ctx {
        resource: "member",
        id: &id,
    };
    if id.is_empty() {
        return Err(ctx.reject("field `id`: missing"));
    }
    let email = email(&ctx, raw)?;
    let empty = Value::Null;
    let merges = raw.get("merge_fields").unwrap_or(&empty);
    let first_name = opt_name(&ctx, merges, "FNAME")?;
    let last_name = opt_name(&ctx, merges, "LNAME")?;
    let company = opt_name(&ctx, merges, company_field)?;
    let phone = text(merges, "PHONE")
        .map(|p| ctx.field("merge_fields.PHONE", Phone::parse(p)))
        .transpose()?;
    let billing = address(
        &ctx,
        "merge_fields.ADDRESS",
        merges.get("ADDRESS"),
        &MERGE_ADDRESS,
    )?;
    let opted_in = text(raw, "status").map(|s| s == "subscribed");
    Ok(Customer {
        kind: kind(company, &first_name, &last_name),
        email,
        first_name,
        last_name,
        phone,
        shipping_address: billing.clone(),
        billing_address: billing,
        source_ref: Some(SourceRef {
            system: System::Mailchimp,
            id: ctx.field("id", ExternalId::parse(&id))?,
        }),
        opted_in,
    })
}

fn variant_sku(ctx: &Ctx<'_>, v: &Value) -> Result<Sku, Rejected> {
    let raw = text(v, "sku")
        .map(str::to_owned)
        .or_else(|| id_of(v))
        .ok_or_else(|| ctx.reject("a variant has neither `sku` nor `id`"))?;
    ctx.field("variants[].sku", Sku::parse(&raw))
}

fn quantity(ctx: &Ctx<'_>, v: &Value) -> Result<Option<Quantity>, Rejected> {
    match decimal(v, "inventory_quantity") {
        None => Ok(None),
        Some(Ok(d)) => ctx.field("inventory_quantity", Quantity::new(d)).map(Some),
        Some(Err(e)) => Err(ctx.reject(e)),
    }
}

fn currency_of(
    ctx: &Ctx<'_>,
    raw: &Value,
    fallback: CurrencyCode,
) -> Result<CurrencyCode, Rejected> {
    match text(raw, "currency_code") {
        Some(c) => ctx.field("currency_code", CurrencyCode::parse(c)),
        None => Ok(fallback),
    }
}

/// A product with its (inline) variants. One variant: a simple product whose SKU is the
/// variant's; several: a configurable product keyed by the product id.
pub fn product(raw: &Value, store_currency: CurrencyCode) -> Result<Product, Rejected> {
    let id = id_of(raw).unwrap_or_default();
    let ctx = Ctx {
        resource: "product",
        id: &id,
    };
    if id.is_empty() {
        return Err(ctx.reject("field `id`: missing"));
    }
    let title = text(raw, "title").ok_or_else(|| ctx.reject("field `title`: missing"))?;
    let title = ctx.field("title", Name::parse(title))?;
    let currency = currency_of(&ctx, raw, store_currency)?;
    let variants: Vec<&Value> = raw
        .get("variants")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let Some(first) = variants.first() else {
        return Err(ctx.reject("field `variants`: a product needs at least one variant"));
    };
    let price = money(&ctx, first, "price", currency)?;
    let (sku, kind, qty) = if variants.len() == 1 {
        (
            variant_sku(&ctx, first)?,
            ProductKind::Simple,
            quantity(&ctx, first)?,
        )
    } else {
        let mut out = Vec::with_capacity(variants.len());
        for v in &variants {
            out.push(Variant {
                sku: variant_sku(&ctx, v)?,
                title: opt_name(&ctx, v, "title")?,
                price: Some(money(&ctx, v, "price", currency)?),
                gtin: None,
                attributes: Vec::new(),
                quantity: quantity(&ctx, v)?,
            });
        }
        (
            ctx.field("id", Sku::parse(&id))?,
            ProductKind::Configurable { variants: out },
            None,
        )
    };
    let category = match text(raw, "type") {
        Some(t) => Some(CategoryRef {
            key: ctx.field("type", ExternalId::parse(t))?,
            name: Some(ctx.field("type", Name::parse(t))?),
        }),
        None => None,
    };
    let mut properties = BTreeMap::new();
    for key in ["vendor", "handle", "url"] {
        if let Some(v) = text(raw, key) {
            properties.insert(key.to_owned(), v.to_owned());
        }
    }
    properties.insert("mailchimp_product_id".into(), id.clone());
    Ok(Product {
        sku,
        title,
        short_description: None,
        long_description: text(raw, "description")
            .map(|d| ctx.field("description", LongText::parse(d)))
            .transpose()?,
        price,
        price_includes_tax: true,
        tax_rate: None,
        gtin: None,
        category,
        attributes: Vec::new(),
        properties,
        kind,
        quantity: qty,
    })
}

/// The stock levels of a product's variants (`inventory_quantity`: MailChimp knows one
/// figure, so physical = available and nothing is reserved).
pub fn stock_levels(raw: &Value, observed_at: DateTime<Utc>) -> Vec<StockLevel> {
    let id = id_of(raw).unwrap_or_default();
    let ctx = Ctx {
        resource: "product",
        id: &id,
    };
    raw.get("variants")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(|v| {
                    let sku = variant_sku(&ctx, v).ok()?;
                    let q = quantity(&ctx, v).ok()??;
                    Some(StockLevel {
                        sku,
                        physical: q,
                        reserved: Quantity::from_i64(0),
                        available: q,
                        observed_at,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An order's lifecycle status: `financial_status` refunded (partly refunded is not a
/// refund of the order), cancelled, or a `cancelled_at_foreign` time; else open.
/// `financial_status` is free text in MailChimp: compared without case, both spellings of
/// cancelled.
pub fn order_status(raw: &Value) -> OrderStatus {
    let financial = text(raw, "financial_status").unwrap_or_default().trim();
    if financial.eq_ignore_ascii_case("refunded") {
        OrderStatus::Refunded
    } else if financial.eq_ignore_ascii_case("cancelled")
        || financial.eq_ignore_ascii_case("canceled")
        || text(raw, "cancelled_at_foreign").is_some_and(|t| !t.trim().is_empty())
    {
        OrderStatus::Cancelled
    } else {
        OrderStatus::Open
    }
}

/// An order with its lines. `variant_skus` maps a variant id to its SKU where they differ
/// (from the cross-references); otherwise the variant id is the SKU.
pub fn order(
    raw: &Value,
    store_currency: CurrencyCode,
    variant_skus: &HashMap<String, String>,
) -> Result<Order, Rejected> {
    let id = id_of(raw).unwrap_or_default();
    let ctx = Ctx {
        resource: "order",
        id: &id,
    };
    if id.is_empty() {
        return Err(ctx.reject("field `id`: missing"));
    }
    let currency = currency_of(&ctx, raw, store_currency)?;
    let buyer = raw
        .get("customer")
        .ok_or_else(|| ctx.reject("field `customer`: missing"))?;
    let customer = customer(buyer).map_err(|e| ctx.reject(format!("customer: {}", e.reason)))?;
    let mut lines = Vec::new();
    let mut subtotal = Decimal::ZERO;
    for (i, l) in raw
        .get("lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let variant = l
            .get("product_variant_id")
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| ctx.reject(format!("lines[{i}].product_variant_id: missing")))?;
        let sku = variant_skus.get(&variant).cloned().unwrap_or(variant);
        let qty = match decimal(l, "quantity") {
            Some(Ok(q)) => ctx.field(&format!("lines[{i}].quantity"), PositiveQuantity::new(q))?,
            Some(Err(e)) => return Err(ctx.reject(format!("lines[{i}]: {e}"))),
            None => return Err(ctx.reject(format!("lines[{i}].quantity: missing"))),
        };
        let unit_price = money(&ctx, l, "price", currency)?;
        let discount = money(&ctx, l, "discount", currency)?;
        // Checked: amounts come from outside, and a total beyond what a decimal holds must
        // reject this order, not panic.
        subtotal = unit_price
            .amount()
            .checked_mul(qty.value())
            .and_then(|total| total.checked_sub(discount.amount()))
            .and_then(|total| subtotal.checked_add(total))
            .ok_or_else(|| {
                ctx.reject(format!("lines[{i}]: the order's amounts are out of range"))
            })?;
        lines.push(OrderLine {
            sku: ctx.field(&format!("lines[{i}].product_variant_id"), Sku::parse(&sku))?,
            title: opt_name(&ctx, l, "product_title")?,
            quantity: qty,
            unit_price,
            price_includes_tax: true,
            tax_rate: None,
            discount: (!discount.amount().is_zero()).then_some(discount),
        });
    }
    let lines = OrderLines::new(lines).map_err(|e| ctx.reject(format!("field `lines`: {e}")))?;
    let placed_at = text(raw, "processed_at_foreign")
        .or_else(|| text(raw, "created_at"))
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ctx.reject("field `processed_at_foreign`: missing or not a date-time"))?;
    let order = Order {
        external_id: ctx.field("id", ExternalId::parse(&id))?,
        order_type: OrderType::Order,
        customer,
        lines,
        totals: OrderTotals {
            subtotal: Money::new(subtotal, currency),
            tax: money(&ctx, raw, "tax_total", currency)?,
            shipping: money(&ctx, raw, "shipping_total", currency)?,
            total: money(&ctx, raw, "order_total", currency)?,
        },
        currency,
        payment_method: None,
        payment_term: None,
        billing_address: address(
            &ctx,
            "billing_address",
            raw.get("billing_address"),
            &ECOMMERCE_ADDRESS,
        )?,
        shipping_address: address(
            &ctx,
            "shipping_address",
            raw.get("shipping_address"),
            &ECOMMERCE_ADDRESS,
        )?,
        placed_at,
        notes: None,
        status: order_status(raw),
    };
    order
        .check_currencies()
        .map_err(|e| ctx.reject(e.to_string()))?;
    Ok(order)
}

/// The version of a record: a digest of its content without links, statistics and change
/// times, at every level (`_links`, `stats`, `orders_count`, `total_spent`, `updated_at`,
/// `last_changed` change without the record's content changing: every new order of a
/// customer touches the customer, and so the customer embedded in each of their earlier
/// orders). Content rather than `updated_at`, also because MailChimp's timestamps have a
/// one-second resolution: two changes within one second must still be two versions.
pub fn fingerprint(raw: &Value) -> String {
    use md5::{Digest, Md5};
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for volatile in [
                    "_links",
                    "stats",
                    "orders_count",
                    "total_spent",
                    "updated_at",
                    "last_changed",
                ] {
                    map.remove(volatile);
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut content = raw.clone();
    strip(&mut content);
    let digest = Md5::digest(content.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// When the record last changed (`updated_at`, `last_changed`), if it says.
pub fn changed_at(raw: &Value) -> Option<DateTime<Utc>> {
    text(raw, "updated_at")
        .or_else(|| text(raw, "last_changed"))
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eur() -> CurrencyCode {
        CurrencyCode::parse("EUR").expect("EUR")
    }

    #[test]
    fn an_orders_status_comes_from_its_financial_status_or_cancellation_time() {
        for (raw, expected) in [
            (json!({"financial_status": "paid"}), OrderStatus::Open),
            (json!({}), OrderStatus::Open),
            (
                json!({"financial_status": "Cancelled"}),
                OrderStatus::Cancelled,
            ),
            (
                json!({"financial_status": "canceled"}),
                OrderStatus::Cancelled,
            ),
            (
                json!({"financial_status": "pending", "cancelled_at_foreign": "2026-12-01T10:00:00+00:00"}),
                OrderStatus::Cancelled,
            ),
            (json!({"cancelled_at_foreign": ""}), OrderStatus::Open),
            (
                json!({"financial_status": "refunded"}),
                OrderStatus::Refunded,
            ),
            (
                json!({"financial_status": "refunded", "cancelled_at_foreign": "2026-12-01T10:00:00+00:00"}),
                OrderStatus::Refunded,
            ),
            (
                json!({"financial_status": "partially_refunded"}),
                OrderStatus::Open,
            ),
        ] {
            assert_eq!(order_status(&raw), expected, "{raw}");
        }
    }

    #[test]
    fn customers_parse_with_company_and_address() {
        let raw = json!({
            "id": "c1", "email_address": "Els@Bakkerij.nl", "opt_in_status": true,
            "first_name": "Els", "last_name": "Jansen", "company": "Bakkerij BV",
            "address": {"address1": "Dorpsstraat 12a", "city": "Ons Dorp", "postal_code": "1234 AB",
                        "country": "Netherlands", "country_code": "NL"}
        });
        let c = customer(&raw).expect("valid");
        assert_eq!(c.email.as_str(), "els@bakkerij.nl");
        assert!(matches!(c.kind, CustomerKind::Company { .. }));
        let a = c.billing_address.expect("address");
        assert_eq!(a.house_number.map(|n| n.to_string()).as_deref(), Some("12"));
        assert_eq!(a.country.as_str(), "NL");
    }

    #[test]
    fn invalid_customers_are_rejected_with_the_field() {
        let no_mail =
            customer(&json!({"id": "c2", "opt_in_status": false})).expect_err("no e-mail");
        assert!(no_mail.to_string().contains("email_address"), "{no_mail}");
        assert!(no_mail.to_string().contains("c2"), "{no_mail}");
        let country = customer(&json!({
            "id": "c3", "email_address": "a@b.nl",
            "address": {"address1": "Straat 1", "city": "X", "postal_code": "1", "country_code": "XX"}
        }))
        .expect_err("unknown country");
        assert!(
            country.to_string().contains("address.country_code"),
            "{country}"
        );
    }

    /// Found while writing the `mailchimp_records` fuzz target: a line total beyond what a
    /// decimal holds panicked (`Decimal`'s `*` and `+=`) instead of rejecting the order.
    #[test]
    fn an_order_whose_amounts_overflow_is_rejected_not_a_panic() {
        let max = "79228162514264337593543950335";
        let order_with = |lines: serde_json::Value| {
            json!({"id": "WS-1", "processed_at_foreign": "2026-01-04T10:00:00+00:00",
                "customer": {"id": "c1", "email_address": "els@bakkerij.nl"}, "lines": lines})
        };
        for lines in [
            json!([{"product_variant_id": "1001", "quantity": 2, "price": max}]),
            json!([{"product_variant_id": "1001", "quantity": 1, "price": max},
                   {"product_variant_id": "1002", "quantity": 1, "price": max}]),
            json!([{"product_variant_id": "1001", "quantity": 1, "price": "-1", "discount": max}]),
        ] {
            let raw = order_with(lines);
            let err = order(&raw, eur(), &HashMap::new()).expect_err("out of range");
            assert!(err.to_string().contains("out of range"), "{err}");
            assert!(err.to_string().contains("WS-1"), "{err}");
        }
    }

    #[test]
    fn products_simple_and_configurable() {
        let simple = json!({"id": "100", "title": "Brood", "type": "Bakery",
            "variants": [{"id": "2001", "sku": "2001", "title": "Brood", "price": 2.5, "inventory_quantity": 7}]});
        let p = product(&simple, eur()).expect("valid");
        assert_eq!(p.sku.as_str(), "2001");
        assert_eq!(p.price.amount(), Decimal::new(25, 1));
        assert_eq!(
            p.category.map(|c| c.key.to_string()).as_deref(),
            Some("Bakery")
        );
        let conf = json!({"id": "200", "title": "Shirt", "currency_code": "EUR",
            "variants": [{"id": "2101", "title": "S", "price": "10.00"}, {"id": "2102", "title": "M", "price": 10}]});
        let p = product(&conf, eur()).expect("valid");
        assert_eq!(p.sku.as_str(), "200");
        let ProductKind::Configurable { variants } = p.kind else {
            panic!("configurable")
        };
        assert_eq!(variants.len(), 2);
        assert!(product(&json!({"id": "300", "title": "x", "variants": []}), eur()).is_err());
    }

    #[test]
    fn fingerprints_follow_the_content_not_the_links() {
        let t = "2026-01-01T00:00:00+00:00";
        let a = fingerprint(&json!({"id": "1", "title": "a", "updated_at": t, "_links": [1]}));
        assert_eq!(
            a,
            fingerprint(&json!({"id": "1", "title": "a", "updated_at": t}))
        );
        assert_ne!(
            a,
            fingerprint(&json!({"id": "1", "title": "b", "updated_at": t}))
        );
        // A new order of the customer touches the customer embedded in this order: not a
        // new version of the order.
        let order = |updated: &str, count: u32| {
            json!({"id": "WS-1", "order_total": 9.5, "updated_at": t,
                   "customer": {"id": "c1", "email_address": "a@example.com",
                                "updated_at": updated, "orders_count": count, "total_spent": 9.5 * f64::from(count)}})
        };
        assert_eq!(
            fingerprint(&order(t, 1)),
            fingerprint(&order("2026-01-01T00:05:00+00:00", 2))
        );
        assert_ne!(
            fingerprint(&order(t, 1)),
            fingerprint(&json!({"id": "WS-1", "order_total": 9.0, "updated_at": t}))
        );
        assert_eq!(
            changed_at(&json!({"updated_at": t})).map(|d| d.timestamp()),
            Some(1_767_225_600)
        );
    }
}
