//! The e-commerce resources, store-scoped (`/ecommerce/stores/{store_id}/...`): store,
//! customer, product with variants and images, order with lines, addresses.
//!
//! Field names and optionality as the Marketing API (3.0.81, plus the newer fields NOTES.md
//! lists) gives them. Read leniently ([`crate::lenient`]: unknown fields ignored, ids and
//! amounts as strings or numbers); an absent field is not written.

use serde::{Deserialize, Serialize};

use crate::lenient::{self, Amount};

/// A store (`/ecommerce/stores/{id}`): `id`, `list_id`, `name`, `currency_code` required on
/// create; `list_id` immutable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Store {
    #[serde(
        deserialize_with = "lenient::id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub list_id: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// The e-commerce platform (`Ferry`).
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub platform: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub currency_code: Option<String>,
    #[serde(
        deserialize_with = "lenient::boolean",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_syncing: Option<bool>,
}

/// An address of a customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Address {
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub address1: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub address2: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub city: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub province: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub province_code: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub postal_code: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub country: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub country_code: Option<String>,
}

/// An order's billing or shipping address: a customer's address plus `name`, `phone` and
/// `company`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderAddress {
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub company: Option<String>,
    #[serde(flatten)]
    pub address: Address,
}

/// An e-commerce customer: `id` (at most 50 characters), `email_address` and
/// `opt_in_status` required on create; the e-mail cannot change once created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Customer {
    #[serde(
        deserialize_with = "lenient::id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub email_address: Option<String>,
    #[serde(
        deserialize_with = "lenient::boolean",
        skip_serializing_if = "Option::is_none"
    )]
    pub opt_in_status: Option<bool>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub company: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_name: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_name: Option<String>,
    /// Newer than spec 3.0.81.
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub sms_phone_number: Option<String>,
    #[serde(
        deserialize_with = "lenient::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub address: Option<Address>,
}

/// A product: `id`, `title` and at least one variant required. MailChimp returns at most 50
/// variants inline (the rest through `/products/{id}/variants`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Product {
    #[serde(
        deserialize_with = "lenient::id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub title: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub handle: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// The product's type (Ferry's category: MailChimp has no categories).
    #[serde(
        rename = "type",
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub vendor: Option<String>,
    /// Not in the spec: read where a record carries it (the store's currency applies
    /// otherwise), never written.
    #[serde(deserialize_with = "lenient::text", skip_serializing)]
    pub currency_code: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_url: Option<String>,
    #[serde(
        deserialize_with = "lenient::objects",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub images: Vec<Image>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub published_at_foreign: Option<String>,
    #[serde(deserialize_with = "lenient::objects")]
    pub variants: Vec<Variant>,
}

/// A product image (read and kept, never written by Ferry: images are not synchronised).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Image {
    #[serde(
        deserialize_with = "lenient::id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
    #[serde(
        deserialize_with = "lenient::texts",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub variant_ids: Vec<String>,
}

/// A product variant: `id` and `title` required. Stock sync is a PATCH of
/// `inventory_quantity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Variant {
    #[serde(
        deserialize_with = "lenient::id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub title: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub sku: Option<String>,
    #[serde(
        deserialize_with = "lenient::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub price: Option<Amount>,
    #[serde(
        deserialize_with = "lenient::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub inventory_quantity: Option<Amount>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub backorders: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub visibility: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_url: Option<String>,
}

/// An order: `id`, `customer` (`{id}`, plus e-mail, opt-in, names and address for a new
/// customer), `currency_code`, `order_total` and `lines` required on create. Also the body
/// of a status PATCH (`financial_status`, `cancelled_at_foreign` only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Order {
    #[serde(
        deserialize_with = "lenient::id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Present (an object or not) or absent.
    #[serde(
        deserialize_with = "lenient::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub customer: Option<Customer>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub currency_code: Option<String>,
    #[serde(
        deserialize_with = "lenient::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_total: Option<Amount>,
    #[serde(
        deserialize_with = "lenient::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub tax_total: Option<Amount>,
    #[serde(
        deserialize_with = "lenient::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub shipping_total: Option<Amount>,
    #[serde(
        deserialize_with = "lenient::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub discount_total: Option<Amount>,
    /// `paid`, `pending`, `refunded`, `cancelled` (free text in MailChimp).
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub financial_status: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub fulfillment_status: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub processed_at_foreign: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub cancelled_at_foreign: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_at_foreign: Option<String>,
    /// Read only.
    #[serde(deserialize_with = "lenient::text", skip_serializing)]
    pub created_at: Option<String>,
    /// Newer than spec 3.0.81.
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub cart_id: Option<String>,
    #[serde(
        deserialize_with = "lenient::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub billing_address: Option<OrderAddress>,
    #[serde(
        deserialize_with = "lenient::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub shipping_address: Option<OrderAddress>,
    #[serde(
        deserialize_with = "lenient::objects",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub lines: Vec<OrderLine>,
}

/// An order line: `id`, `product_id`, `product_variant_id`, `quantity` and `price` required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderLine {
    #[serde(
        deserialize_with = "lenient::id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(
        deserialize_with = "lenient::id",
        skip_serializing_if = "Option::is_none"
    )]
    pub product_id: Option<String>,
    /// As sent (a string, even blank, or a number).
    #[serde(
        deserialize_with = "lenient::raw_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub product_variant_id: Option<String>,
    /// Read only.
    #[serde(deserialize_with = "lenient::text", skip_serializing)]
    pub product_title: Option<String>,
    #[serde(
        deserialize_with = "lenient::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub quantity: Option<Amount>,
    #[serde(
        deserialize_with = "lenient::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub price: Option<Amount>,
    #[serde(
        deserialize_with = "lenient::amount",
        skip_serializing_if = "Option::is_none"
    )]
    pub discount: Option<Amount>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lenient::read;
    use serde_json::json;

    #[test]
    fn records_read_leniently_and_ignore_unknown_fields() {
        let o: Order = read(&json!({
            "id": 17, "customer": "x", "order_total": "9.50", "lines": [5, {"product_variant_id": ""}],
            "billing_address": "no", "shipping_address": {"name": " Els ", "address1": "Dorpsstraat 1"},
            "_links": [], "unknown": {"a": 1}
        }));
        assert_eq!(o.id.as_deref(), Some("17"));
        assert_eq!(o.customer, Some(Customer::default()));
        assert_eq!(o.lines.len(), 2);
        assert_eq!(o.lines[0], OrderLine::default());
        assert_eq!(o.lines[1].product_variant_id.as_deref(), Some(""));
        assert_eq!(o.billing_address, None);
        let shipping = o.shipping_address.expect("shipping");
        assert_eq!(shipping.name.as_deref(), Some("Els"));
        assert_eq!(shipping.address.address1.as_deref(), Some("Dorpsstraat 1"));
        assert_eq!(read::<Order>(&json!([1, 2])), Order::default());
    }

    #[test]
    fn absent_fields_are_not_written() {
        let c = Customer {
            id: Some("c1".into()),
            email_address: Some("a@example.com".into()),
            opt_in_status: Some(false),
            ..Customer::default()
        };
        assert_eq!(
            serde_json::to_value(&c).expect("json"),
            json!({"id": "c1", "email_address": "a@example.com", "opt_in_status": false})
        );
        let patch = Order {
            financial_status: Some("cancelled".into()),
            created_at: Some("2026-01-01T00:00:00+00:00".into()),
            ..Order::default()
        };
        assert_eq!(
            serde_json::to_value(&patch).expect("json"),
            json!({"financial_status": "cancelled"})
        );
    }
}
