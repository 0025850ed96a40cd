//! Products (with their articles) and article groups to canonical products and categories.

use std::collections::BTreeMap;

use ferry_proto::model::{Attribute, Category, CategoryRef, Product, ProductKind, Variant};
use ferry_proto::{CurrencyCode, ExternalId, Gtin, LongText, Money, Name, Sku, TaxRate};

use super::{Refusal, name};
use crate::config::SkuSource;
use crate::soap::types::{self as mk, VatScale};

/// The SKU of an article.
pub fn article_sku(source: SkuSource, a: &mk::Article) -> Result<Sku, Refusal> {
    match source {
        SkuSource::PluNumber => Sku::parse(&a.plu_number).map_err(|e| {
            format!(
                "article {} has no usable PLU number (the SKU): {e}",
                a.article_number
            )
        }),
        SkuSource::ArticleNumber => {
            Sku::parse(&a.article_number.to_string()).map_err(|e| e.to_string())
        }
    }
}

fn attributes(a: &mk::Article) -> Vec<Attribute> {
    [("colour", &a.colour), ("size", &a.size)]
        .into_iter()
        .filter_map(|(n, v)| {
            Some(Attribute {
                name: Name::parse(n).ok()?,
                value: Name::parse(v).ok()?,
            })
        })
        .collect()
}

/// A product (with its active articles) as a canonical product: one article is a simple
/// product, several are a configurable product whose SKU is the product number.
/// `Ok(None)`: every article is inactive (a deletion, which the contract cannot express).
pub fn product(
    p: &mk::Product,
    source: SkuSource,
    currency: CurrencyCode,
    scale: VatScale,
) -> Result<Option<Product>, Refusal> {
    let active: Vec<&mk::Article> = p.articles.iter().filter(|a| a.active).collect();
    let Some(first) = active.first() else {
        return Ok(None);
    };
    let title_text = if p.description.trim().is_empty() {
        &first.description
    } else {
        &p.description
    };
    let title = Name::parse(title_text).map_err(|e| {
        format!(
            "product {} has no usable description: {e}",
            p.product_number
        )
    })?;
    let tax_rate = TaxRate::new(scale.percent(first.vat_percentage)).ok();
    let category = p.group_numbers.first().and_then(|g| {
        Some(CategoryRef {
            key: ExternalId::parse(&g.to_string()).ok()?,
            name: None,
        })
    });
    let mut properties = BTreeMap::new();
    if !first.brand_name.is_empty() {
        properties.insert("brand".to_owned(), first.brand_name.clone());
    }
    properties.insert("product_number".to_owned(), p.product_number.to_string());
    let (sku, kind, gtin, attrs) = if active.len() == 1 {
        (
            article_sku(source, first)?,
            ProductKind::Simple,
            Gtin::parse(&first.barcode).ok(),
            attributes(first),
        )
    } else {
        let mut variants = Vec::with_capacity(active.len());
        for a in &active {
            variants.push(Variant {
                sku: article_sku(source, a)?,
                title: name(&a.description),
                price: Some(Money::from_minor_units(a.price_incl, currency)),
                gtin: Gtin::parse(&a.barcode).ok(),
                attributes: attributes(a),
                quantity: None,
            });
        }
        let sku = Sku::parse(&p.product_number.to_string()).map_err(|e| e.to_string())?;
        (
            sku,
            ProductKind::Configurable { variants },
            None,
            Vec::new(),
        )
    };
    Ok(Some(Product {
        sku,
        title,
        short_description: LongText::parse(&first.extra_text).ok(),
        long_description: LongText::parse(&p.extra_text).ok(),
        price: Money::from_minor_units(first.price_incl, currency),
        price_includes_tax: true,
        tax_rate,
        gtin,
        category,
        attributes: attrs,
        properties,
        kind,
        quantity: None,
    }))
}

/// An article group as a canonical category (the key is the group number).
pub fn category(g: &mk::ArticleGroup) -> Result<Category, Refusal> {
    Ok(Category {
        key: ExternalId::parse(&g.group_number.to_string()).map_err(|e| e.to_string())?,
        name: Name::parse(&g.name)
            .map_err(|e| format!("article group {} has no usable name: {e}", g.group_number))?,
        parent: (g.parent > 0)
            .then(|| ExternalId::parse(&g.parent.to_string()).ok())
            .flatten(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_simple_and_configurable() {
        let article = |n: i64, plu: &str, size: &str| mk::Article {
            article_number: n,
            plu_number: plu.into(),
            active: true,
            description: format!("Shirt {size}"),
            size: size.into(),
            vat_percentage: 2100,
            price_incl: 2495,
            ..mk::Article::default()
        };
        let mut p = mk::Product {
            product_number: 1001,
            description: "Shirt".into(),
            articles: vec![article(10001, "100101", "S")],
            group_numbers: vec![11],
            ..mk::Product::default()
        };
        let simple = product(
            &p,
            SkuSource::PluNumber,
            CurrencyCode::EUR,
            VatScale::Hundredths,
        )
        .expect("valid")
        .expect("active");
        assert_eq!(simple.sku.as_str(), "100101");
        assert_eq!(simple.kind, ProductKind::Simple);
        assert_eq!(
            simple.tax_rate.map(|t| t.to_string()).as_deref(),
            Some("21")
        );
        assert_eq!(simple.price.to_minor_units(), Ok(2495));

        p.articles.push(article(10002, "100102", "M"));
        let conf = product(
            &p,
            SkuSource::ArticleNumber,
            CurrencyCode::EUR,
            VatScale::Hundredths,
        )
        .expect("valid")
        .expect("active");
        assert_eq!(conf.sku.as_str(), "1001");
        let ProductKind::Configurable { variants } = &conf.kind else {
            panic!("configurable");
        };
        assert_eq!(variants[1].sku.as_str(), "10002");

        p.articles[1].plu_number = String::new();
        assert!(
            product(
                &p,
                SkuSource::PluNumber,
                CurrencyCode::EUR,
                VatScale::Hundredths
            )
            .is_err()
        );
        for a in &mut p.articles {
            a.active = false;
        }
        assert_eq!(
            product(
                &p,
                SkuSource::PluNumber,
                CurrencyCode::EUR,
                VatScale::Hundredths
            ),
            Ok(None)
        );
    }
}
