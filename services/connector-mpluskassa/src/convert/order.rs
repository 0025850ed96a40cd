//! Orders (with their relation) to canonical orders, and canonical addresses to order
//! addresses.

use chrono::Utc;
use ferry_proto::model::{
    Address, Order, OrderLine, OrderLines, OrderStatus, OrderTotals, OrderType,
};
use ferry_proto::{CurrencyCode, ExternalId, Money, PositiveQuantity, Sku, TaxRate};

use super::{Refusal, address, customer, name, street_line};
use crate::soap::requests::AddressWrite;
use crate::soap::types::{self as mk, VatScale};

fn order_address(a: &mk::OrderAddress) -> Option<Address> {
    address(&a.address, &a.zipcode, &a.city, &a.country)
}

/// An order (with its relation) as a canonical order. `sku_of` gives the SKU of a line.
///
/// The canonical order number is the `extOrderId` (the number the order has in every
/// system, e.g. the webshop's), else the installation's own `orderId`, so that an order
/// MailChimp already has is found there by the same number and never created twice.
pub fn order(
    o: &mk::Order,
    relation: &mk::Relation,
    currency: CurrencyCode,
    scale: VatScale,
    sku_of: impl Fn(&mk::OrderLine) -> Result<Sku, Refusal>,
) -> Result<Order, Refusal> {
    let label = format!("order {}", o.order_id);
    let customer = customer(relation).map_err(|e| format!("{label}: {e}"))?;
    let mut lines = Vec::with_capacity(o.lines.len());
    for (i, l) in o.lines.iter().enumerate() {
        let quantity = PositiveQuantity::new(l.quantity)
            .map_err(|e| format!("{label} line {}: {e}", i + 1))?;
        lines.push(OrderLine {
            sku: sku_of(l).map_err(|e| format!("{label} line {}: {e}", i + 1))?,
            title: name(&l.text),
            quantity,
            unit_price: Money::from_minor_units(l.price, currency),
            price_includes_tax: true,
            tax_rate: TaxRate::new(scale.percent(l.vat_percentage)).ok(),
            discount: l
                .discount_amount
                .filter(|d| *d != 0)
                .map(|d| Money::from_minor_units(d, currency)),
        });
    }
    let lines = OrderLines::new(lines).map_err(|e| format!("{label}: {e}"))?;
    Ok(Order {
        external_id: ExternalId::parse(order_number(o)).map_err(|e| format!("{label}: {e}"))?,
        order_type: OrderType::Order,
        customer,
        lines,
        totals: OrderTotals {
            subtotal: Money::from_minor_units(o.total_incl, currency),
            tax: Money::from_minor_units(o.total_incl - o.total_excl, currency),
            shipping: Money::zero(currency),
            total: Money::from_minor_units(o.total_incl, currency),
        },
        currency,
        payment_method: name(&o.payment_method),
        payment_term: None,
        billing_address: o.invoice_address.as_ref().and_then(order_address),
        shipping_address: o.delivery_address.as_ref().and_then(order_address),
        placed_at: o.entry_timestamp.unwrap_or_else(Utc::now),
        notes: None,
        status: if o.is_cancelled() {
            OrderStatus::Cancelled
        } else {
            OrderStatus::Open
        },
    })
}

/// The number an order is known by across systems: its `extOrderId`, else its `orderId`.
pub fn order_number(o: &mk::Order) -> &str {
    if o.ext_order_id.trim().is_empty() {
        &o.order_id
    } else {
        &o.ext_order_id
    }
}

/// A canonical address as an order address.
pub fn address_write(a: &Address, name: Option<String>, company: Option<String>) -> AddressWrite {
    AddressWrite {
        name,
        contact: None,
        address: Some(street_line(a)),
        zipcode: Some(a.postcode.to_string()),
        city: Some(a.city.to_string()),
        country: Some(a.country.to_string()),
        company_name: company,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::customer::tests::relation;

    #[test]
    fn orders_are_numbered_by_their_external_order_id() {
        let mut o = mk::Order {
            order_id: "00000000-0000-4000-8000-000000000001".into(),
            ext_order_id: "WS-240101".into(),
            relation_number: 20001,
            total_incl: 2495,
            total_excl: 2062,
            lines: vec![mk::OrderLine {
                article_number: 10001,
                plu_number: "100101".into(),
                quantity: rust_decimal::Decimal::ONE,
                price: 2495,
                vat_percentage: 2100,
                ..mk::OrderLine::default()
            }],
            ..mk::Order::default()
        };
        let sku = |_: &mk::OrderLine| Sku::parse("100101").map_err(|e| e.to_string());
        let number = |o: &mk::Order| {
            order(o, &relation(), CurrencyCode::EUR, VatScale::Hundredths, sku)
                .expect("valid")
                .external_id
                .to_string()
        };
        assert_eq!(number(&o), "WS-240101", "the number every system knows");
        o.ext_order_id = String::new();
        assert_eq!(
            number(&o),
            "00000000-0000-4000-8000-000000000001",
            "an order entered at the till has only its own id"
        );
    }
}
