//! The records Ferry reads from MplusQAPI, made from the wire records of
//! [`ferry_mplusqapi`]: defaults filled in, text trimmed, dates in UTC, money in cents
//! (`xsd:long`) and quantities as exact decimals (unscaled long + decimalPlaces).
//!
//! | file | records |
//! | --- | --- |
//! | `relation.rs` | relations (customers, companies with contact persons) |
//! | `product.rs` | articles, products, article groups |
//! | `stock.rs` | stock of an article in a branch |
//! | `sale.rs` | orders (lines, addresses) and invoices |
//! | `installation.rs` | API version, sync markers, branches, employees, payment methods, VAT and turnover groups |

use chrono::{DateTime, Utc};
use ferry_mplusqapi::{SoapMplusDateTime, WireError};

pub use ferry_mplusqapi::quantity::{from_wire as quantity, to_wire as quantity_to_wire};

/// A `SoapMplusDateTime` as UTC.
pub fn datetime(t: &SoapMplusDateTime) -> Result<DateTime<Utc>, WireError> {
    t.to_utc()
}

fn opt_datetime(t: Option<SoapMplusDateTime>) -> Result<Option<DateTime<Utc>>, WireError> {
    t.as_ref().map(datetime).transpose()
}

/// Trimmed text of an optional element, empty when absent.
fn string(v: Option<String>) -> String {
    match v {
        Some(v) if v.trim().len() == v.len() => v,
        Some(v) => v.trim().to_owned(),
        None => String::new(),
    }
}

/// A required element, or an error naming it.
fn required<T>(v: Option<T>, record: &str, name: &str) -> Result<T, WireError> {
    v.ok_or_else(|| WireError::Content(format!("<{record}> has no <{name}> element")))
}

mod installation;
mod product;
mod relation;
mod sale;
mod stock;

pub use installation::{
    ApiVersion, Branch, Employee, PaymentMethod, SyncMarkers, TurnoverGroup, VatGroup, VatScale,
    Workplace,
};
pub use product::{Article, ArticleGroup, Product};
pub use relation::Relation;
pub use sale::{Invoice, Order, OrderAddress, OrderLine};
pub use stock::ArticleStock;
