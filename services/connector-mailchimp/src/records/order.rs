//! Orders with their lines -> canonical orders, and an order's lifecycle status.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ferry_mailchimp_wire as wire;
use ferry_proto::model::{Order, OrderLine, OrderLines, OrderStatus, OrderTotals, OrderType};
use ferry_proto::{CurrencyCode, ExternalId, Money, PositiveQuantity, Sku};
use rust_decimal::Decimal;
use serde_json::Value;

use super::customer::{AddressFields, address};
use super::{Ctx, Rejected, currency_of, money, opt_name};

/// An order's lifecycle status: `financial_status` refunded (partly refunded is not a
/// refund of the order), cancelled, or a `cancelled_at_foreign` time; else open.
/// `financial_status` is free text in MailChimp: compared without case, both spellings of
/// cancelled.
pub fn order_status(raw: &Value) -> OrderStatus {
    status_of(&wire::read(raw))
}

fn status_of(o: &wire::Order) -> OrderStatus {
    let financial = o.financial_status.as_deref().unwrap_or_default();
    if financial.eq_ignore_ascii_case("refunded") {
        OrderStatus::Refunded
    } else if financial.eq_ignore_ascii_case("cancelled")
        || financial.eq_ignore_ascii_case("canceled")
        || o.cancelled_at_foreign.is_some()
    {
        OrderStatus::Cancelled
    } else {
        OrderStatus::Open
    }
}

fn order_address(
    ctx: &Ctx<'_>,
    field: &str,
    a: Option<&wire::OrderAddress>,
) -> Result<Option<ferry_proto::model::Address>, Rejected> {
    address(ctx, field, a.map(|a| AddressFields::ecommerce(&a.address)))
}

/// An order with its lines. `variant_skus` maps a variant id to its SKU where they differ
/// (from the cross-references); otherwise the variant id is the SKU.
pub fn order(
    raw: &Value,
    store_currency: CurrencyCode,
    variant_skus: &HashMap<String, String>,
) -> Result<Order, Rejected> {
    let o: wire::Order = wire::read(raw);
    let id = o.id.clone().unwrap_or_default();
    let ctx = Ctx::of("order", &id)?;
    let currency = currency_of(&ctx, o.currency_code.as_deref(), store_currency)?;
    let buyer = o
        .customer
        .as_ref()
        .ok_or_else(|| ctx.reject("field `customer`: missing"))?;
    let customer = super::customer::from_wire(buyer)
        .map_err(|e| ctx.reject(format!("customer: {}", e.reason)))?;
    let mut lines = Vec::new();
    let mut subtotal = Decimal::ZERO;
    for (i, l) in o.lines.iter().enumerate() {
        let variant = l
            .product_variant_id
            .clone()
            .ok_or_else(|| ctx.reject(format!("lines[{i}].product_variant_id: missing")))?;
        let sku = variant_skus.get(&variant).cloned().unwrap_or(variant);
        let qty = match &l.quantity {
            Some(q) => {
                let q = q
                    .decimal("quantity")
                    .map_err(|e| ctx.reject(format!("lines[{i}]: {e}")))?;
                ctx.field(&format!("lines[{i}].quantity"), PositiveQuantity::new(q))?
            }
            None => return Err(ctx.reject(format!("lines[{i}].quantity: missing"))),
        };
        let unit_price = money(&ctx, "price", l.price.as_ref(), currency)?;
        let discount = money(&ctx, "discount", l.discount.as_ref(), currency)?;
        // Checked: amounts come from outside, and a total beyond what a decimal holds must
        // reject this order, not panic.
        subtotal = unit_price
            .amount()
            .checked_mul(qty.value())
            .and_then(|total| total.checked_sub(discount.amount()))
            .and_then(|total| subtotal.checked_add(total))
            .ok_or_else(|| {
                ctx.reject(format!("lines[{i}]: the order's amounts are out of range"))
            })?;
        lines.push(OrderLine {
            sku: ctx.field(&format!("lines[{i}].product_variant_id"), Sku::parse(&sku))?,
            title: opt_name(&ctx, "product_title", l.product_title.as_deref())?,
            quantity: qty,
            unit_price,
            price_includes_tax: true,
            tax_rate: None,
            discount: (!discount.amount().is_zero()).then_some(discount),
        });
    }
    let lines = OrderLines::new(lines).map_err(|e| ctx.reject(format!("field `lines`: {e}")))?;
    let placed_at = o
        .processed_at_foreign
        .as_deref()
        .or(o.created_at.as_deref())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ctx.reject("field `processed_at_foreign`: missing or not a date-time"))?;
    let order = Order {
        external_id: ctx.field("id", ExternalId::parse(&id))?,
        order_type: OrderType::Order,
        customer,
        lines,
        totals: OrderTotals {
            subtotal: Money::new(subtotal, currency),
            tax: money(&ctx, "tax_total", o.tax_total.as_ref(), currency)?,
            shipping: money(&ctx, "shipping_total", o.shipping_total.as_ref(), currency)?,
            total: money(&ctx, "order_total", o.order_total.as_ref(), currency)?,
        },
        currency,
        payment_method: None,
        payment_term: None,
        billing_address: order_address(&ctx, "billing_address", o.billing_address.as_ref())?,
        shipping_address: order_address(&ctx, "shipping_address", o.shipping_address.as_ref())?,
        placed_at,
        notes: None,
        status: status_of(&o),
    };
    order
        .check_currencies()
        .map_err(|e| ctx.reject(e.to_string()))?;
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eur() -> CurrencyCode {
        CurrencyCode::parse("EUR").expect("EUR")
    }

    #[test]
    fn an_orders_status_comes_from_its_financial_status_or_cancellation_time() {
        for (raw, expected) in [
            (json!({"financial_status": "paid"}), OrderStatus::Open),
            (json!({}), OrderStatus::Open),
            (
                json!({"financial_status": "Cancelled"}),
                OrderStatus::Cancelled,
            ),
            (
                json!({"financial_status": "canceled"}),
                OrderStatus::Cancelled,
            ),
            (
                json!({"financial_status": "pending", "cancelled_at_foreign": "2026-12-01T10:00:00+00:00"}),
                OrderStatus::Cancelled,
            ),
            (json!({"cancelled_at_foreign": ""}), OrderStatus::Open),
            (
                json!({"financial_status": "refunded"}),
                OrderStatus::Refunded,
            ),
            (
                json!({"financial_status": "refunded", "cancelled_at_foreign": "2026-12-01T10:00:00+00:00"}),
                OrderStatus::Refunded,
            ),
            (
                json!({"financial_status": "partially_refunded"}),
                OrderStatus::Open,
            ),
        ] {
            assert_eq!(order_status(&raw), expected, "{raw}");
        }
    }

    /// Found while writing the `mailchimp_records` fuzz target: a line total beyond what a
    /// decimal holds panicked (`Decimal`'s `*` and `+=`) instead of rejecting the order.
    #[test]
    fn an_order_whose_amounts_overflow_is_rejected_not_a_panic() {
        let max = "79228162514264337593543950335";
        let order_with = |lines: serde_json::Value| {
            json!({"id": "WS-1", "processed_at_foreign": "2026-01-04T10:00:00+00:00",
                "customer": {"id": "c1", "email_address": "els@bakkerij.nl"}, "lines": lines})
        };
        for lines in [
            json!([{"product_variant_id": "1001", "quantity": 2, "price": max}]),
            json!([{"product_variant_id": "1001", "quantity": 1, "price": max},
                   {"product_variant_id": "1002", "quantity": 1, "price": max}]),
            json!([{"product_variant_id": "1001", "quantity": 1, "price": "-1", "discount": max}]),
        ] {
            let raw = order_with(lines);
            let err = order(&raw, eur(), &HashMap::new()).expect_err("out of range");
            assert!(err.to_string().contains("out of range"), "{err}");
            assert!(err.to_string().contains("WS-1"), "{err}");
        }
    }
}
