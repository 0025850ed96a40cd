//! The scale seed: e-commerce stores with as many customers, products and orders as asked
//! (`sandbox --scale orders=100000,products=20000,customers=50000,stores=3`), generated
//! deterministically in memory (no checked-in file; the same [`Scale`] always gives the same
//! records with the same timestamps).
//!
//! The scale replaces the e-commerce records of the seed's store (its id, list and settings
//! stay) and adds stores `<store_id>-2` ... `<store_id>-N` on the same audience, each with
//! the same counts. Audience members and the MplusKASSA simulator keep the seed's records.
//!
//! Records: customer `i` (1-based) has id `sc-<i>` and e-mail `customer<i>@scale.example`
//! (every 5th has a company); product `i` has id `<100000 + i>` and one variant whose id
//! and SKU are `<5000000 + i>` (digits only, as Ferry requires); order `i` has id
//! `SO-<i>`, one to three lines over the products, and belongs to customer
//! `1 + (7 i mod customers)`. Record `i` was created (and last updated) at
//! 2025-01-01T00:00:00Z plus `i` seconds, so creation order is id order.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::query::fmt_time;
use super::state::{McState, Order, Product, Rec, Store};

/// How many records of each kind per store, and how many stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scale {
    pub orders: usize,
    pub products: usize,
    pub customers: usize,
    pub stores: usize,
}

impl Default for Scale {
    fn default() -> Self {
        Scale {
            orders: 0,
            products: 0,
            customers: 0,
            stores: 1,
        }
    }
}

/// A `--scale` value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid scale {0:?}: expected e.g. orders=100000,products=20000,customers=50000,stores=2 (orders need products and customers)"
)]
pub struct ScaleError(String);

impl FromStr for Scale {
    type Err = ScaleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ScaleError(s.to_owned());
        let mut scale = Scale::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(bad)?;
            let n: usize = v.trim().replace('_', "").parse().map_err(|_| bad())?;
            match k.trim() {
                "orders" => scale.orders = n,
                "products" => scale.products = n,
                "customers" => scale.customers = n,
                "stores" => scale.stores = n,
                _ => return Err(bad()),
            }
        }
        scale.check().map_err(|_| bad())?;
        Ok(scale)
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "orders={},products={},customers={},stores={}",
            self.orders, self.products, self.customers, self.stores
        )
    }
}

impl Scale {
    /// Orders need products and customers; at least one store.
    pub fn check(&self) -> Result<(), String> {
        if self.stores == 0 {
            return Err("stores must be at least 1".into());
        }
        if self.orders > 0 && (self.products == 0 || self.customers == 0) {
            return Err("orders need products and customers".into());
        }
        Ok(())
    }

    /// Replaces the e-commerce records of the first store of `st` (the seed's) and adds the
    /// further stores. Does nothing to an account without a store (the empty sandbox).
    pub fn fill(&self, st: &mut McState) {
        let Some(template) = st.stores.values().next().map(|s| s.rec.clone()) else {
            return;
        };
        let base_id = template.str("id").to_owned();
        let base_name = template.str("name").to_owned();
        let currency = template.str("currency_code").to_owned();
        for n in 1..=self.stores {
            let id = if n == 1 {
                base_id.clone()
            } else {
                format!("{base_id}-{n}")
            };
            let mut rec = template.clone();
            rec.data.insert("id".into(), json!(id));
            if n > 1 {
                rec.data
                    .insert("name".into(), json!(format!("{base_name} {n}")));
            }
            let store = self.store(rec, &currency);
            st.stores.insert(id, store);
        }
    }

    fn store(&self, rec: Rec, currency: &str) -> Store {
        let mut customers = IndexMap::with_capacity(self.customers);
        for i in 1..=self.customers {
            let c = customer(i);
            customers.insert(c.str("id").to_owned(), c);
        }
        let mut products = IndexMap::with_capacity(self.products);
        for i in 1..=self.products {
            let p = product(i);
            products.insert(p.rec.str("id").to_owned(), p);
        }
        let mut orders = IndexMap::with_capacity(self.orders);
        for i in 1..=self.orders {
            let o = order(i, self, currency);
            orders.insert(o.rec.str("id").to_owned(), o);
        }
        Store {
            rec,
            customers,
            products,
            orders,
        }
    }
}

fn at(i: usize) -> DateTime<Utc> {
    let base = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    base + Duration::seconds(i64::try_from(i).unwrap_or(i64::MAX / 2))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn rec(data: Value, i: usize) -> Rec {
    Rec::new(obj(data), at(i))
}

fn customer_id(i: usize) -> String {
    format!("sc-{i}")
}

fn address(i: usize) -> Value {
    json!({
        "address1": format!("Schaalstraat {}", i % 300 + 1), "address2": "",
        "city": "Amsterdam", "province": "", "province_code": "",
        "postal_code": format!("{} AB", 1000 + i % 9000),
        "country": "Netherlands", "country_code": "NL",
    })
}

fn customer(i: usize) -> Rec {
    let mut data = json!({
        "id": customer_id(i), "email_address": format!("customer{i}@scale.example"),
        "opt_in_status": i.is_multiple_of(3), "first_name": "Klant", "last_name": format!("Nummer {i}"),
        "address": address(i),
    });
    if i.is_multiple_of(5) {
        data["company"] = json!(format!("Bedrijf {i} B.V."));
    }
    rec(data, i)
}

fn sku(i: usize) -> String {
    (5_000_000 + i).to_string()
}

fn price_cents(i: usize) -> i64 {
    495 + i64::try_from(i % 50).unwrap_or(0) * 100
}

fn cents(c: i64) -> Value {
    json!((c as f64) / 100.0)
}

fn product(i: usize) -> Product {
    let id = (100_000 + i).to_string();
    let sku = sku(i);
    let url = format!("https://shop.example/products/scale-{i}");
    let mut variants = IndexMap::new();
    variants.insert(
        sku.clone(),
        rec(
            json!({
                "id": sku, "title": format!("Product {i}"), "url": url, "sku": sku,
                "price": cents(price_cents(i)), "inventory_quantity": i % 40,
                "image_url": "", "backorders": "false", "visibility": "visible",
            }),
            i,
        ),
    );
    Product {
        rec: rec(
            json!({
                "id": id, "title": format!("Product {i}"), "handle": format!("scale-{i}"),
                "url": url, "description": format!("Generated product {i}."),
                "type": "Scale", "vendor": "Ferry Scale", "image_url": "",
                "published_at_foreign": fmt_time(&at(i)),
            }),
            i,
        ),
        variants,
    }
}

fn order(i: usize, scale: &Scale, currency: &str) -> Order {
    let c = 1 + (7 * i) % scale.customers;
    let mut lines = IndexMap::new();
    let mut total = 0i64;
    for k in 0..(1 + i % 3) {
        let p = 1 + (13 * i + 7 * k) % scale.products;
        let qty = 1 + (i + k) % 3;
        let price = price_cents(p);
        total += price * i64::try_from(qty).unwrap_or(1);
        let line_id = format!("SO-{i}-{}", k + 1);
        lines.insert(
            line_id.clone(),
            rec(
                json!({
                    "id": line_id, "product_id": (100_000 + p).to_string(),
                    "product_variant_id": sku(p), "quantity": qty,
                    "price": cents(price), "discount": 0,
                }),
                i,
            ),
        );
    }
    let shipping = 495;
    let mut addr = address(c);
    addr["name"] = json!(format!("Klant Nummer {c}"));
    addr["phone"] = json!("");
    addr["company"] = json!("");
    Order {
        rec: rec(
            json!({
                "id": format!("SO-{i}"), "customer": {"id": customer_id(c)},
                "financial_status": "paid", "fulfillment_status": "",
                "currency_code": currency, "order_total": cents(total + shipping),
                "discount_total": 0, "tax_total": cents((total + shipping) * 21 / 121),
                "shipping_total": cents(shipping),
                "processed_at_foreign": fmt_time(&at(i)),
                "updated_at_foreign": fmt_time(&at(i)),
                "shipping_address": addr, "billing_address": addr,
                "order_url": format!("https://shop.example/account/orders/SO-{i}"),
                "campaign_id": "", "landing_site": "", "promos": [],
            }),
            i,
        ),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let s: Scale = "orders=100000,products=20000,customers=50000"
            .parse()
            .expect("valid");
        assert_eq!(
            s,
            Scale {
                orders: 100_000,
                products: 20_000,
                customers: 50_000,
                stores: 1
            }
        );
        assert_eq!(s.to_string().parse::<Scale>().expect("round trip"), s);
        assert!(
            "orders=10".parse::<Scale>().is_err(),
            "orders need products"
        );
        assert!("stores=0".parse::<Scale>().is_err());
        assert!("widgets=3".parse::<Scale>().is_err());
        assert!("orders=x".parse::<Scale>().is_err());
    }
}
