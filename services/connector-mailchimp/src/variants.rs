//! Whole catalogues: MailChimp returns at most [`INLINE_VARIANTS`] variants inline with a
//! product (and says nothing about the rest: no count, no link). A product showing that many
//! may have more, which only `GET /ecommerce/stores/{store_id}/products/{product_id}/variants`
//! (paged with `count`, at most 1000, and `offset`) lists.
//!
//! - **Reading** ([`complete`]): a product record with [`INLINE_VARIANTS`] inline variants gets
//!   its `variants` replaced by the whole list from the variants endpoint, before it is
//!   fingerprinted, parsed and published; a product with fewer is complete as it is.
//! - **Writing** ([`crate::commands`]): a product is written with at most
//!   [`INLINE_VARIANTS`] variants in its own body and every further variant by
//!   `PUT .../variants/{variant_id}` (an upsert by id); a new variant of an existing product
//!   that must keep its information ("overwrite existing" off) is likewise a `PUT` on the
//!   variants endpoint with its id, never a product body without `id`.

use serde_json::Value;

use crate::client::{ClientError, MailchimpClient, segment};

/// The most variants MailChimp returns inline with a product.
pub const INLINE_VARIANTS: usize = 50;

/// Variants per page of the variants endpoint (MailChimp's maximum `count`).
const PAGE: u32 = 1000;

/// The path of a product's variants endpoint.
pub fn collection(store_path: &str, product_id: &str) -> String {
    format!("{store_path}/products/{}/variants", segment(product_id))
}

/// Whether the inline `variants` of `product` may be only the first of more.
pub fn may_be_truncated(product: &Value) -> bool {
    product
        .get("variants")
        .and_then(Value::as_array)
        .is_some_and(|v| v.len() >= INLINE_VARIANTS)
}

/// Every variant of product `product_id`, page by page, with `query` (`fields`,
/// `exclude_fields`).
pub async fn all(
    client: &MailchimpClient,
    store_path: &str,
    product_id: &str,
    query: &[(&str, String)],
) -> Result<Vec<Value>, ClientError> {
    client
        .all(
            "variants.list",
            &collection(store_path, product_id),
            "variants",
            query,
            PAGE,
        )
        .await
}

/// Replaces the inline variants of `product` (a full product record) with the whole list
/// when the inline ones may be truncated. Answers whether the variants endpoint was read.
pub async fn complete(
    client: &MailchimpClient,
    store_path: &str,
    product: &mut Value,
) -> Result<bool, ClientError> {
    if !may_be_truncated(product) {
        return Ok(false);
    }
    let Some(id) = crate::records::id_of(product) else {
        return Ok(false);
    };
    let query = [("exclude_fields", "variants._links,_links".to_owned())];
    let variants = all(client, store_path, &id, &query).await?;
    product["variants"] = Value::Array(variants);
    Ok(true)
}

/// The ids of every variant of product `product_id`, given its record as read with
/// `fields=id,variants.id`: the inline ones, or all from the variants endpoint when the
/// inline list may be truncated.
pub async fn ids(
    client: &MailchimpClient,
    store_path: &str,
    product_id: &str,
    product: &Value,
) -> Result<Vec<String>, ClientError> {
    let listed: Vec<Value>;
    let variants = if may_be_truncated(product) {
        let query = [("fields", "variants.id,total_items".to_owned())];
        listed = all(client, store_path, product_id, &query).await?;
        listed.as_slice()
    } else {
        product
            .get("variants")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
    };
    Ok(variants.iter().filter_map(crate::records::id_of).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn product(n: usize) -> Value {
        let variants: Vec<Value> = (0..n).map(|i| json!({"id": i.to_string()})).collect();
        json!({"id": "1", "variants": variants})
    }

    #[test]
    fn only_a_full_inline_list_may_be_truncated() {
        assert!(!may_be_truncated(&product(1)));
        assert!(!may_be_truncated(&product(INLINE_VARIANTS - 1)));
        assert!(may_be_truncated(&product(INLINE_VARIANTS)));
        assert!(!may_be_truncated(&json!({"id": "1"})));
    }

    #[test]
    fn the_collection_path_encodes_the_product_id() {
        assert_eq!(
            collection("/ecommerce/stores/s", "a/b"),
            "/ecommerce/stores/s/products/a%2Fb/variants"
        );
    }
}
