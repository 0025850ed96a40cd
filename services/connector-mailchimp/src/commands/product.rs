//! `product.upsert`, `category.upsert`, `stock.set` and `products.verify`: products and
//! variants by SKU (MailChimp has no categories: a category's name becomes the `type` of its
//! products).

use ferry_mailchimp_wire as wire;
use ferry_platform::connector::{CommandError, Cx, Executed, Xref};
use ferry_proto::messages::{
    CategoryUpsert, CategoryUpserted, ErrorCode, FailureInfo, ProductRef, ProductUpsert,
    ProductUpserted, ProductsVerified, ProductsVerify, StockSet, StockSetDone,
};
use ferry_proto::model::{Product, ProductKind};
use ferry_proto::{Money, NumericSku, Sku, System};
use futures::StreamExt;
use serde_json::Value;

use super::{amount, effect, external_id, integer_quantity, locate, numeric};
use crate::client::segment;
use crate::integrations::Integration;
use crate::records;
use crate::store::{XREFS, XrefKind};
use crate::variants;

fn variants_of(product: &Product) -> Result<Vec<wire::Variant>, CommandError> {
    let mut out = Vec::new();
    let variant = |sku: &NumericSku,
                   title: &str,
                   price: &Money,
                   qty: Option<&ferry_proto::Quantity>|
     -> Result<wire::Variant, CommandError> {
        Ok(wire::Variant {
            id: Some(sku.as_str().to_owned()),
            sku: Some(sku.as_str().to_owned()),
            title: Some(title.to_owned()),
            price: Some(amount(price)),
            inventory_quantity: qty
                .map(|q| integer_quantity(&q.value(), "quantity").map(wire::Amount::from))
                .transpose()?,
            ..wire::Variant::default()
        })
    };
    match &product.kind {
        ProductKind::Simple => {
            let sku = numeric(&product.sku)?;
            out.push(variant(
                &sku,
                product.title.as_str(),
                &product.price,
                product.quantity.as_ref(),
            )?);
        }
        ProductKind::Configurable { variants } => {
            for v in variants {
                let sku = numeric(&v.sku)?;
                let title = v.title.as_ref().unwrap_or(&product.title);
                let price = v.price.as_ref().unwrap_or(&product.price);
                out.push(variant(&sku, title.as_str(), price, v.quantity.as_ref())?);
            }
            if out.is_empty() {
                return Err(CommandError::Permanent(FailureInfo::new(
                    ErrorCode::Validation,
                    format!("configurable product {} has no variants", product.sku),
                )));
            }
        }
    }
    Ok(out)
}

/// The body of `PUT products/{id}`: the product's information with `variants` (at most 50).
async fn product_body(
    db: &sea_orm::DatabaseConnection,
    integration: &Integration,
    product: &Product,
    id: &str,
    variants: Vec<wire::Variant>,
) -> Result<wire::Product, CommandError> {
    let kind = match &product.category {
        Some(category) => {
            let name = match &category.name {
                Some(n) => Some(n.to_string()),
                None => XREFS
                    .by_id(
                        db,
                        integration.id(),
                        XrefKind::Category.as_str(),
                        category.key.as_str(),
                    )
                    .await?
                    .and_then(|x| x.canonical_key),
            };
            Some(name.unwrap_or_else(|| category.key.to_string()))
        }
        None => None,
    };
    Ok(wire::Product {
        id: Some(id.to_owned()),
        title: Some(product.title.as_str().to_owned()),
        description: product
            .long_description
            .as_ref()
            .or(product.short_description.as_ref())
            .map(|d| d.as_str().to_owned()),
        kind,
        vendor: product.properties.get("vendor").cloned(),
        variants,
        ..wire::Product::default()
    })
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, sku = %cmd.product.sku))]
pub(super) async fn product_upsert(
    cx: &Cx<'_, Integration>,
    cmd: &ProductUpsert,
) -> Executed<ProductUpserted> {
    let (db, integration) = (cx.db, &**cx.integration);
    let product = &cmd.product;
    // Refused before any call: a SKU is never altered.
    let sku = numeric(&product.sku)?;
    let variants = variants_of(product)?;
    integration.ensure_store().await?;
    let id = match XREFS
        .by_key(
            db,
            integration.id(),
            XrefKind::Product.as_str(),
            sku.as_str(),
        )
        .await?
    {
        Some(x) => x.external_id,
        None => sku.as_str().to_owned(),
    };
    let store_path = integration.store_path();
    let path = format!("{store_path}/products/{}", segment(&id));
    let client = &integration.client;
    let existing = client
        .get_opt(
            "products.get",
            &path,
            &[("fields", "id,variants.id".into())],
        )
        .await?;
    let created = existing.is_none();
    // At most 50 variants go inline with the product; every further one, and every new
    // variant of a product whose information is kept, by `PUT .../variants/{id}`.
    let (product_body, separate) = match &existing {
        Some(found) if !cmd.overwrite_existing => {
            // Keep the product's information; only add variants it lacks.
            let have = variants::ids(client, &store_path, &id, found).await?;
            let missing: Vec<wire::Variant> = variants
                .into_iter()
                .filter(|v| !have.iter().any(|h| Some(h.as_str()) == v.id.as_deref()))
                .collect();
            (None, missing)
        }
        _ => {
            let mut inline = variants;
            let separate = inline.split_off(inline.len().min(variants::INLINE_VARIANTS));
            let body = product_body(db, integration, product, &id, inline).await?;
            (Some(body), separate)
        }
    };
    let mut saved = match &product_body {
        Some(body) => client.put("products.put", &path, body).await?,
        None => existing.clone().unwrap_or_default(),
    };
    if !separate.is_empty() {
        let collection = variants::collection(&store_path, &id);
        let writes: Vec<Result<Value, _>> = futures::stream::iter(separate)
            .map(|v| {
                let vpath = format!(
                    "{collection}/{}",
                    segment(v.id.as_deref().unwrap_or_default())
                );
                let client = client.clone();
                async move { client.put("variants.put", &vpath, &v).await }
            })
            .buffered(client.concurrency().max(1))
            .collect()
            .await;
        for w in writes {
            w?;
        }
        // The product as MailChimp has it now, all variants included: its fingerprint keeps
        // Ferry's own write from being observed back as a change.
        if let Some(mut full) = client
            .get_opt(
                "products.get",
                &path,
                &[("exclude_fields", "_links".into())],
            )
            .await?
        {
            variants::complete(client, &store_path, &mut full).await?;
            saved = full;
        }
    }
    let mut xrefs = vec![Xref {
        kind: XrefKind::Product.as_str(),
        external_id: id.clone(),
        canonical_key: Some(sku.as_str().to_owned()),
        fingerprint: saved
            .get("updated_at")
            .map(|_| records::fingerprint(&saved)),
    }];
    let variant_skus: Vec<&Sku> = match &product.kind {
        ProductKind::Simple => vec![&product.sku],
        ProductKind::Configurable { variants } => variants.iter().map(|v| &v.sku).collect(),
    };
    for s in variant_skus {
        xrefs.push(Xref {
            kind: XrefKind::Variant.as_str(),
            external_id: format!("{id}/{s}"),
            canonical_key: Some(s.to_string()),
            fingerprint: None,
        });
    }
    let target_id = external_id(&id)?;
    effect(
        ProductUpserted {
            target: System::Mailchimp,
            sku: product.sku.clone(),
            target_id,
            created,
        },
        xrefs,
    )
}

pub(super) async fn category_upsert(
    cx: &Cx<'_, Integration>,
    cmd: &CategoryUpsert,
) -> Executed<CategoryUpserted> {
    let category = &cmd.category;
    let existed = XREFS
        .by_id(
            cx.db,
            cx.integration_id,
            XrefKind::Category.as_str(),
            category.key.as_str(),
        )
        .await?
        .is_some();
    effect(
        CategoryUpserted {
            target: System::Mailchimp,
            key: category.key.clone(),
            target_id: category.key.clone(),
            created: !existed,
        },
        vec![Xref {
            kind: XrefKind::Category.as_str(),
            external_id: category.key.to_string(),
            canonical_key: Some(category.name.to_string()),
            fingerprint: None,
        }],
    )
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, sku = %cmd.sku))]
pub(super) async fn stock_set(cx: &Cx<'_, Integration>, cmd: &StockSet) -> Executed<StockSetDone> {
    let (db, integration) = (cx.db, &**cx.integration);
    let sku = numeric(&cmd.sku)?;
    let qty = integer_quantity(&cmd.quantity.value(), "quantity")?;
    let done = |managed| StockSetDone {
        target: System::Mailchimp,
        sku: cmd.sku.clone(),
        quantity: cmd.quantity,
        managed,
    };
    if !cmd.manage_stock {
        // MailChimp has no switch for stock tracking: a product whose stock MailChimp
        // should not manage keeps whatever inventory it has, untouched by Ferry.
        return effect(done(false), Vec::new());
    }
    integration.ensure_store().await?;
    let (product, variant) = locate(db, integration, &sku).await?;
    let path = format!(
        "{}/products/{}/variants/{}",
        integration.store_path(),
        segment(&product),
        segment(&variant)
    );
    match integration
        .client
        .patch(
            "variants.patch",
            &path,
            &wire::Variant {
                inventory_quantity: Some(wire::Amount::from(qty)),
                ..wire::Variant::default()
            },
        )
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {
            return Err(CommandError::Permanent(
                FailureInfo::new(
                    ErrorCode::NotFound,
                    format!("no MailChimp product variant has SKU {sku}; upsert the product first"),
                )
                .with_retryable(false),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    effect(done(true), Vec::new())
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, skus = cmd.skus.len()))]
pub(super) async fn products_verify(
    cx: &Cx<'_, Integration>,
    cmd: &ProductsVerify,
) -> Executed<ProductsVerified> {
    let (db, integration) = (cx.db, &**cx.integration);
    integration.ensure_store().await?;
    let checks = futures::stream::iter(cmd.skus.iter().cloned())
        .map(|sku| async move {
            let Ok(numeric) = NumericSku::from_sku(&sku) else {
                // A non-numeric SKU cannot exist in MailChimp.
                return Ok::<_, CommandError>((sku, None));
            };
            let (product, variant) = locate(db, integration, &numeric).await?;
            let path = format!(
                "{}/products/{}/variants/{}",
                integration.store_path(),
                segment(&product),
                segment(&variant)
            );
            let found = integration
                .client
                .get_opt("variants.get", &path, &[("fields", "id".into())])
                .await?;
            Ok((sku, found.map(|_| product)))
        })
        .buffered(integration.client.concurrency());
    let results: Vec<Result<(Sku, Option<String>), CommandError>> = checks.collect().await;
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for r in results {
        match r? {
            (sku, None) => missing.push(sku),
            (sku, Some(product)) => found.push(ProductRef {
                sku,
                target_id: external_id(&product)?,
            }),
        }
    }
    effect(
        ProductsVerified {
            target: System::Mailchimp,
            missing,
            found,
        },
        Vec::new(),
    )
}
