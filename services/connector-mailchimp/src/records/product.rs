//! Products with their variants -> canonical products and stock levels.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_mailchimp_wire as wire;
use ferry_proto::model::{CategoryRef, Product, ProductKind, StockLevel, Variant};
use ferry_proto::{CurrencyCode, ExternalId, LongText, Name, Quantity, Sku};
use serde_json::Value;

use super::{Ctx, Rejected, currency_of, money, opt_name};

fn variant_sku(ctx: &Ctx<'_>, v: &wire::Variant) -> Result<Sku, Rejected> {
    let raw = v
        .sku
        .as_deref()
        .or(v.id.as_deref())
        .ok_or_else(|| ctx.reject("a variant has neither `sku` nor `id`"))?;
    ctx.field("variants[].sku", Sku::parse(raw))
}

fn quantity(ctx: &Ctx<'_>, v: &wire::Variant) -> Result<Option<Quantity>, Rejected> {
    match &v.inventory_quantity {
        None => Ok(None),
        Some(q) => {
            let d = q.decimal("inventory_quantity").map_err(|e| ctx.reject(e))?;
            ctx.field("inventory_quantity", Quantity::new(d)).map(Some)
        }
    }
}

/// A product with its (inline) variants. One variant: a simple product whose SKU is the
/// variant's; several: a configurable product keyed by the product id.
pub fn product(raw: &Value, store_currency: CurrencyCode) -> Result<Product, Rejected> {
    let p: wire::Product = wire::read(raw);
    let id = p.id.clone().unwrap_or_default();
    let ctx = Ctx::of("product", &id)?;
    let title = p
        .title
        .as_deref()
        .ok_or_else(|| ctx.reject("field `title`: missing"))?;
    let title = ctx.field("title", Name::parse(title))?;
    let currency = currency_of(&ctx, p.currency_code.as_deref(), store_currency)?;
    let Some(first) = p.variants.first() else {
        return Err(ctx.reject("field `variants`: a product needs at least one variant"));
    };
    let price = money(&ctx, "price", first.price.as_ref(), currency)?;
    let (sku, kind, qty) = if p.variants.len() == 1 {
        (
            variant_sku(&ctx, first)?,
            ProductKind::Simple,
            quantity(&ctx, first)?,
        )
    } else {
        let mut out = Vec::with_capacity(p.variants.len());
        for v in &p.variants {
            out.push(Variant {
                sku: variant_sku(&ctx, v)?,
                title: opt_name(&ctx, "title", v.title.as_deref())?,
                price: Some(money(&ctx, "price", v.price.as_ref(), currency)?),
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
    let category = match p.kind.as_deref() {
        Some(t) => Some(CategoryRef {
            key: ctx.field("type", ExternalId::parse(t))?,
            name: Some(ctx.field("type", Name::parse(t))?),
        }),
        None => None,
    };
    let mut properties = BTreeMap::new();
    for (key, value) in [
        ("vendor", &p.vendor),
        ("handle", &p.handle),
        ("url", &p.url),
    ] {
        if let Some(v) = value {
            properties.insert(key.to_owned(), v.clone());
        }
    }
    properties.insert("mailchimp_product_id".into(), id.clone());
    Ok(Product {
        sku,
        title,
        short_description: None,
        long_description: p
            .description
            .as_deref()
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

/// The id and SKU of each variant of a product (the id where it has no SKU, blank where it
/// has no id), for the cross-references `{product id}/{variant id}` -> SKU.
pub fn variant_keys(raw: &Value) -> Vec<(String, String)> {
    let p: wire::Product = wire::read(raw);
    p.variants
        .into_iter()
        .map(|v| {
            let id = v.id.unwrap_or_default();
            let sku = v.sku.unwrap_or_else(|| id.clone());
            (id, sku)
        })
        .collect()
}

/// The stock levels of a product's variants (`inventory_quantity`: MailChimp knows one
/// figure, so physical = available and nothing is reserved).
pub fn stock_levels(raw: &Value, observed_at: DateTime<Utc>) -> Vec<StockLevel> {
    let p: wire::Product = wire::read(raw);
    let id = p.id.clone().unwrap_or_default();
    let ctx = Ctx {
        resource: "product",
        id: &id,
    };
    p.variants
        .iter()
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use serde_json::json;

    fn eur() -> CurrencyCode {
        CurrencyCode::parse("EUR").expect("EUR")
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
}
