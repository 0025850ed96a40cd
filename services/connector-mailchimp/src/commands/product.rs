//! `product.upsert`, `category.upsert`, `stock.set` and `products.verify`: products and
//! variants by SKU (MailChimp has no categories: a category's name becomes the `type` of its
//! products).

use ferry_platform::connector::{CommandError, Cx, Executed, Xref};
use ferry_proto::messages::{
    CategoryUpsert, CategoryUpserted, ErrorCode, FailureInfo, ProductRef, ProductUpsert,
    ProductUpserted, ProductsVerified, ProductsVerify, StockSet, StockSetDone,
};
use ferry_proto::model::{Product, ProductKind};
use ferry_proto::{Money, NumericSku, Sku, System};
use futures::StreamExt;
use serde_json::{Value, json};

use super::{amount, effect, external_id, integer_quantity, locate, numeric};
use crate::client::segment;
use crate::integrations::Integration;
use crate::records;
use crate::store::{XREFS, XrefKind};

fn variants_json(product: &Product) -> Result<Vec<Value>, CommandError> {
    let mut out = Vec::new();
    let variant = |sku: &NumericSku,
                   title: &str,
                   price: &Money,
                   qty: Option<&ferry_proto::Quantity>|
     -> Result<Value, CommandError> {
        let mut v = json!({"id": sku.as_str(), "sku": sku.as_str(), "title": title, "price": amount(price)});
        if let Some(q) = qty {
            v["inventory_quantity"] = json!(integer_quantity(&q.value(), "quantity")?);
        }
        Ok(v)
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

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, sku = %cmd.product.sku))]
pub(super) async fn product_upsert(
    cx: &Cx<'_, Integration>,
    cmd: &ProductUpsert,
) -> Executed<ProductUpserted> {
    let (db, integration) = (cx.db, &**cx.integration);
    let product = &cmd.product;
    // Refused before any call: a SKU is never altered.
    let sku = numeric(&product.sku)?;
    let variants = variants_json(product)?;
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
    let path = format!("{}/products/{}", integration.store_path(), segment(&id));
    let existing = integration
        .client
        .get_opt(
            "products.get",
            &path,
            &[("fields", "id,variants.id".into())],
        )
        .await?;
    let created = existing.is_none();
    let body = if existing.is_some() && !cmd.overwrite_existing {
        // Keep the product's information; only add variants it lacks.
        let have: Vec<String> = existing
            .as_ref()
            .and_then(|p| p.get("variants"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(records::id_of)
            .collect();
        let missing: Vec<Value> = variants
            .into_iter()
            .filter(|v| !have.iter().any(|h| Some(h.as_str()) == v["id"].as_str()))
            .collect();
        json!({"variants": missing})
    } else {
        let mut body = json!({
            "id": id,
            "title": product.title.as_str(),
            "variants": variants,
        });
        if let Some(d) = product
            .long_description
            .as_ref()
            .or(product.short_description.as_ref())
        {
            body["description"] = json!(d.as_str());
        }
        if let Some(category) = &product.category {
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
            body["type"] = json!(name.unwrap_or_else(|| category.key.to_string()));
        }
        if let Some(vendor) = product.properties.get("vendor") {
            body["vendor"] = json!(vendor);
        }
        body
    };
    let saved = if body["variants"].as_array().is_some_and(|v| v.is_empty())
        && !created
        && !cmd.overwrite_existing
    {
        existing.unwrap_or_default()
    } else {
        integration.client.put("products.put", &path, &body).await?
    };
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
        .patch("variants.patch", &path, &json!({"inventory_quantity": qty}))
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
