//! MplusKASSA records to canonical models (for observed events) and canonical commands to
//! MplusKASSA writes. A record that cannot become a canonical model is refused with a reason
//! that names it (and never holds an e-mail address in clear).
//!
//! | file | records |
//! | --- | --- |
//! | `customer.rs` | relations <-> customers |
//! | `product.rs` | products and articles, article groups -> products, categories |
//! | `stock.rs` | stock entries -> stock levels |
//! | `order.rs` | orders -> orders; addresses -> order addresses |

use ferry_proto::model::{Address, split_street_line};
use ferry_proto::{CountryCode, Name, Postcode};

mod customer;
mod order;
mod product;
mod stock;

pub use customer::{customer, relation_unchanged, relation_write};
pub use order::{address_write, order, order_number};
pub use product::{article_sku, category, product};
pub use stock::stock;

/// Why a record cannot be observed.
pub type Refusal = String;

fn name(raw: &str) -> Option<Name> {
    Name::parse(raw).ok()
}

/// Splits a full name into first name and the rest (`Jan de Vries` -> `Jan`, `de Vries`).
pub fn split_name(full: &str) -> (Option<Name>, Option<Name>) {
    let full = full.trim();
    match full.split_once(char::is_whitespace) {
        Some((first, rest)) => (name(first), name(rest)),
        None => (name(full), None),
    }
}

/// A canonical address from MplusKASSA's separate fields; `None` when it is incomplete or a
/// part does not parse (the raw record keeps everything).
pub fn address(street_line: &str, zipcode: &str, city: &str, country: &str) -> Option<Address> {
    let parts = split_street_line(street_line).ok()?;
    Some(Address {
        street: parts.street,
        house_number: parts.house_number,
        house_number_suffix: parts.house_number_suffix,
        postcode: Postcode::parse(zipcode).ok()?,
        city: Name::parse(city).ok()?,
        region: None,
        country: CountryCode::parse(country).ok()?,
    })
}

/// The street line of a canonical address (`Dorpsstraat 12a`, `Veldstraat 102-3`).
pub fn street_line(a: &Address) -> String {
    a.street_line()
}
