//! MailChimp records -> canonical records (parse, don't validate).
//!
//! A record is read into its wire type ([`ferry_mailchimp_wire`], leniently: unknown fields
//! ignored, ids and amounts as strings or numbers) and converted here. A record that cannot
//! be converted (no e-mail address, an unknown country, a SKU with whitespace, ...) gives a
//! [`Rejected`] naming the record and the field; the ingester parks it rather than publishing
//! anything (see [`crate::ingest`]). E-mail addresses in reasons are masked by the value
//! types' errors.
//!
//! | file | records |
//! | --- | --- |
//! | `customer.rs` | e-commerce customers, audience members, addresses |
//! | `product.rs` | products with variants, stock levels |
//! | `order.rs` | orders with lines, order status |
//! | here | [`fingerprint`] (the version of a record), [`changed_at`] |

mod customer;
mod order;
mod product;

pub use customer::{customer, member};
pub use order::{order, order_status};
pub use product::{product, stock_levels, variant_keys};

use chrono::{DateTime, Utc};
use ferry_mailchimp_wire::Amount;
use ferry_proto::{CurrencyCode, Money, Name, ParseError};
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

impl<'a> Ctx<'a> {
    /// The context of record `id` of `resource`; a record without an id is rejected.
    fn of(resource: &'static str, id: &'a str) -> Result<Self, Rejected> {
        let ctx = Self { resource, id };
        if id.is_empty() {
            return Err(ctx.reject("field `id`: missing"));
        }
        Ok(ctx)
    }

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

/// A string field of a raw record (a projection, a scan), trimmed; `None` when absent, null
/// or blank.
pub fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The id of a raw record, a string or a number.
pub fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An amount in `currency`; zero when absent.
fn money(
    ctx: &Ctx<'_>,
    field: &str,
    amount: Option<&Amount>,
    currency: CurrencyCode,
) -> Result<Money, Rejected> {
    match amount {
        None => Ok(Money::zero(currency)),
        Some(a) => a
            .decimal(field)
            .map(|d| Money::new(d, currency))
            .map_err(|e| ctx.reject(e)),
    }
}

fn opt_name(ctx: &Ctx<'_>, field: &str, value: Option<&str>) -> Result<Option<Name>, Rejected> {
    value.map(|s| ctx.field(field, Name::parse(s))).transpose()
}

fn currency_of(
    ctx: &Ctx<'_>,
    code: Option<&str>,
    fallback: CurrencyCode,
) -> Result<CurrencyCode, Rejected> {
    match code {
        Some(c) => ctx.field("currency_code", CurrencyCode::parse(c)),
        None => Ok(fallback),
    }
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
