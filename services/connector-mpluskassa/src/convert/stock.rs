//! Stock entries to canonical stock levels.

use chrono::Utc;
use ferry_proto::model::StockLevel;
use ferry_proto::{Quantity, Sku};

use super::Refusal;
use crate::soap::types as mk;

/// A stock entry as a canonical stock level. MplusKASSA's `amountFree` is the free stock
/// (on hand minus what open orders reserve: available to sell) and `amountReserved` what
/// undelivered open orders hold, so on hand is their sum: physical is `amountFree +
/// amountReserved`, available is `amountFree`, reserved is `amountReserved` (the mapper's
/// default sends physical minus reserved, i.e. `amountFree`). `amountIncoming` (ordered from
/// suppliers) is not stock yet and is left out.
pub fn stock(s: &mk::ArticleStock, sku: Sku) -> Result<StockLevel, Refusal> {
    let q = |d| Quantity::new(d).map_err(|e| format!("article {}: {e}", s.article_number));
    let on_hand = s.free.checked_add(s.reserved).ok_or_else(|| {
        format!(
            "article {}: free {} plus reserved {} overflows",
            s.article_number, s.free, s.reserved
        )
    })?;
    Ok(StockLevel {
        sku,
        physical: q(on_hand)?,
        reserved: q(s.reserved)?,
        available: q(s.free)?,
        observed_at: s.change_timestamp.unwrap_or_else(Utc::now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_stock_figures_become_physical_available_and_reserved() {
        // 0.530 free (decimalPlacesFree 3), 2 reserved, 7 incoming.
        let wire = ferry_mplusqapi::records::ArticleStock {
            branch_number: Some(1),
            article_number: Some(10001),
            change_timestamp: None,
            stock_id: 9,
            amount_free: 530,
            decimal_places_free: Some(3),
            amount_reserved: 2,
            decimal_places_reserved: Some(0),
            amount_incoming: 7,
            decimal_places_incoming: None,
            is_day_stock_article: false,
        };
        let s = mk::ArticleStock::from_wire(wire).expect("valid");
        let level = stock(&s, Sku::parse("10001").expect("sku")).expect("valid");
        let q = |raw: &str| Quantity::parse(raw).expect("quantity").value();
        assert_eq!(
            level.physical.value(),
            q("2.530"),
            "on hand: free + reserved"
        );
        assert_eq!(level.available.value(), q("0.530"), "available: free");
        assert_eq!(level.reserved.value(), q("2"));
        // More promised than on hand: free is negative, physical what is left.
        let short = mk::ArticleStock {
            free: q("-3"),
            reserved: q("5"),
            ..s
        };
        let level = stock(&short, Sku::parse("10001").expect("sku")).expect("valid");
        assert_eq!(
            (level.physical.value(), level.available.value()),
            (q("2"), q("-3"))
        );
    }
}
