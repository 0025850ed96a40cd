//! Stock of an article in a branch (exact decimals from unscaled long + decimal places).

use chrono::{DateTime, Utc};
use ferry_mplusqapi::WireError;
use ferry_mplusqapi::records as wire;
use rust_decimal::Decimal;

use super::{opt_datetime, quantity, required};

/// Stock of one article in one branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleStock {
    /// Branch.
    pub branch_number: i32,
    /// Article.
    pub article_number: i64,
    /// Marker of the last change.
    pub stock_id: i64,
    /// Free stock (`amountFree`): on hand minus what open orders reserve.
    pub free: Decimal,
    /// Reserved by undelivered open orders (`amountReserved`).
    pub reserved: Decimal,
    /// Incoming (ordered from suppliers).
    pub incoming: Decimal,
    /// Last change.
    pub change_timestamp: Option<DateTime<Utc>>,
}

impl ArticleStock {
    /// From a `tns:ArticleStock`.
    pub fn from_wire(s: wire::ArticleStock) -> Result<Self, WireError> {
        Ok(Self {
            branch_number: s.branch_number.unwrap_or(0),
            article_number: required(s.article_number, "articleStocks", "articleNumber")?,
            stock_id: s.stock_id,
            free: quantity(s.amount_free, s.decimal_places_free.unwrap_or(0))?,
            reserved: quantity(s.amount_reserved, s.decimal_places_reserved.unwrap_or(0))?,
            incoming: quantity(s.amount_incoming, s.decimal_places_incoming.unwrap_or(0))?,
            change_timestamp: opt_datetime(s.change_timestamp)?,
        })
    }
}
