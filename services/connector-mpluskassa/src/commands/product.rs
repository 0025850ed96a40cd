//! `product.upsert` and `products.verify`: articles by SKU.

use ferry_platform::connector::{CommandError, Cx, Done, Executed};
use ferry_proto::Sku;
use ferry_proto::System;
use ferry_proto::messages::ErrorCode;
use ferry_proto::messages::{
    ProductRef, ProductUpsert, ProductUpserted, ProductsVerified, ProductsVerify,
};
use ferry_proto::model::ProductKind;
use rust_decimal::Decimal;

use super::{articles_by_sku, cents, check_sku, external_id};
use crate::config::SkuSource;
use crate::integrations::Integration;
use crate::soap::requests::{ArticleWrite, ProductWrite};
use crate::store::kind;

pub(super) async fn product_upsert(
    cx: &Cx<'_, Integration>,
    cmd: &ProductUpsert,
) -> Executed<ProductUpserted> {
    let integration = &**cx.integration;
    let settings = &integration.settings;
    let p = &cmd.product;
    // The sellable items: the variants of a configurable product, else the product itself.
    struct Item<'a> {
        sku: &'a Sku,
        title: String,
        price: i64,
        barcode: Option<String>,
        colour: Option<String>,
        size: Option<String>,
    }
    let attr = |attrs: &[ferry_proto::model::Attribute], names: &[&str]| {
        attrs
            .iter()
            .find(|a| {
                names
                    .iter()
                    .any(|n| a.name.as_str().eq_ignore_ascii_case(n))
            })
            .map(|a| a.value.to_string())
    };
    let base_price = cents(&p.price, &format!("price of {}", p.sku))?;
    let items: Vec<Item<'_>> = match &p.kind {
        ProductKind::Simple => vec![Item {
            sku: &p.sku,
            title: p.title.to_string(),
            price: base_price,
            barcode: p.gtin.as_ref().map(ToString::to_string),
            colour: attr(&p.attributes, &["colour", "color", "kleur"]),
            size: attr(&p.attributes, &["size", "maat"]),
        }],
        ProductKind::Configurable { variants } => {
            let mut items = Vec::with_capacity(variants.len());
            for v in variants {
                items.push(Item {
                    sku: &v.sku,
                    title: v.title.as_ref().unwrap_or(&p.title).to_string(),
                    price: match &v.price {
                        Some(m) => cents(m, &format!("price of {}", v.sku))?,
                        None => base_price,
                    },
                    barcode: v.gtin.as_ref().map(ToString::to_string),
                    colour: attr(&v.attributes, &["colour", "color", "kleur"]),
                    size: attr(&v.attributes, &["size", "maat"]),
                });
            }
            items
        }
    };
    if items.is_empty() {
        return Err(CommandError::permanent(
            ErrorCode::Validation,
            format!("product {} has no variants", p.sku),
        ));
    }
    for item in &items {
        check_sku(settings.sku_source, item.sku)?;
    }
    let skus: Vec<Sku> = items.iter().map(|i| i.sku.clone()).collect();
    let existing = articles_by_sku(integration, &skus).await?;
    let product_number = existing.values().map(|(p, _)| *p).next();

    // "Overwrite existing" off: an existing product keeps its information and its articles;
    // only the variants it lacks are added (as new articles of that product).
    let keep = product_number.is_some() && !cmd.overwrite_existing;
    if let Some(number) = product_number
        && keep
        && items.iter().all(|i| existing.contains_key(i.sku.as_str()))
    {
        let mut done = Done::new(ProductUpserted {
            target: System::Mpluskassa,
            sku: p.sku.clone(),
            target_id: external_id(number)?,
            created: false,
        });
        for (sku, (_, a)) in &existing {
            done = done.xref(kind::ARTICLE, sku.clone(), a.article_number.to_string());
        }
        return Ok(done);
    }

    let items: Vec<&Item<'_>> = items
        .iter()
        .filter(|i| !keep || !existing.contains_key(i.sku.as_str()))
        .collect();
    let group = match &p.category {
        Some(c) if !keep => {
            // The group recorded for the category key (never the key read as a number).
            cx.xref(kind::CATEGORY, c.key.as_str())
                .await?
                .and_then(|g| g.parse().ok())
        }
        _ => None,
    };
    let (turnover, vat_code) = article_codes(integration, p.tax_rate.map(|t| t.value())).await?;
    let price_incl = p.price_includes_tax;
    let writes: Vec<ArticleWrite> = items
        .iter()
        .map(|item| {
            let current = existing
                .get(item.sku.as_str())
                .map(|(_, a)| a.article_number);
            ArticleWrite {
                article_number: current.or_else(|| match settings.sku_source {
                    SkuSource::ArticleNumber => item.sku.as_str().parse().ok(),
                    SkuSource::PluNumber => None,
                }),
                plu_number: match settings.sku_source {
                    SkuSource::PluNumber => Some(item.sku.to_string()),
                    SkuSource::ArticleNumber => None,
                },
                active: Some(true),
                description: Some(item.title.clone()),
                colour: item.colour.clone(),
                size: item.size.clone(),
                barcode: item.barcode.clone(),
                extra_text: p.short_description.as_ref().map(ToString::to_string),
                turnover_group: current.is_none().then_some(turnover).flatten(),
                vat_code: current.is_none().then_some(vat_code).flatten(),
                price_incl: price_incl.then_some(item.price),
                price_excl: (!price_incl).then_some(item.price),
                webshop: Some(true),
                stock_article: current.is_none().then_some(true),
            }
        })
        .collect();
    let write = ProductWrite {
        product_number,
        description: (!keep).then(|| p.title.to_string()),
        extra_text: p
            .long_description
            .as_ref()
            .filter(|_| !keep)
            .map(ToString::to_string),
        articles: writes,
        group_numbers: group.map(|g| vec![g]),
    };
    let (number, created) = match product_number {
        Some(n) => {
            integration.client.update_product(&write).await?;
            (n, false)
        }
        None => (integration.client.create_product(&write).await?.0, true),
    };
    let now = articles_by_sku(integration, &skus).await?;
    let mut done = Done::new(ProductUpserted {
        target: System::Mpluskassa,
        sku: p.sku.clone(),
        target_id: external_id(number)?,
        created,
    });
    for (sku, (_, a)) in now {
        done = done.xref(kind::ARTICLE, sku, a.article_number.to_string());
    }
    Ok(done)
}

/// Turnover group and VAT code of new articles: the configured turnover group (else the
/// installation's first), the VAT group whose rate matches (else the configured default).
pub(super) async fn article_codes(
    integration: &Integration,
    rate: Option<Decimal>,
) -> Result<(Option<i32>, Option<i32>), CommandError> {
    let settings = &integration.settings;
    let turnover = match settings.default_turnover_group {
        Some(t) => Some(t),
        None => integration
            .turnover_groups(crate::integrations::TURNOVER_GROUPS_FRESH)
            .await?
            .first()
            .map(|t| t.number),
    };
    let vat = match rate {
        Some(rate) => {
            let (groups, _) = integration.vat().await?;
            groups
                .iter()
                .find(|g| g.percent == rate.normalize())
                .map(|g| g.vat_code)
                .or(settings.default_vat_code)
        }
        None => settings.default_vat_code,
    };
    Ok((turnover, vat))
}

pub(super) async fn products_verify(
    cx: &Cx<'_, Integration>,
    cmd: &ProductsVerify,
) -> Executed<ProductsVerified> {
    let integration = &**cx.integration;
    let source = integration.settings.sku_source;
    let askable: Vec<Sku> = cmd
        .skus
        .iter()
        .filter(|s| check_sku(source, s).is_ok())
        .cloned()
        .collect();
    let found = articles_by_sku(integration, &askable).await?;
    let mut done = Done::new(ProductsVerified {
        target: System::Mpluskassa,
        missing: Vec::new(),
        found: Vec::new(),
    });
    for sku in &cmd.skus {
        match found.get(sku.as_str()) {
            Some((_, a)) if a.active => {
                done.reply.found.push(ProductRef {
                    sku: sku.clone(),
                    target_id: external_id(a.article_number)?,
                });
                done = done.xref(kind::ARTICLE, sku.as_str(), a.article_number.to_string());
            }
            _ => done.reply.missing.push(sku.clone()),
        }
    }
    Ok(done)
}
