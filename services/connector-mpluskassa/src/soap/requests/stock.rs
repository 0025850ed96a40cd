//! Stock: read since a `stockId`, set absolutely.

use ferry_mplusqapi::ops;
use ferry_mplusqapi::quantity;
use rust_decimal::Decimal;

/// `getStock` of some articles (all stock articles when empty) changed since `stock_id`.
pub fn get_stock(
    branch: i32,
    article_numbers: &[i64],
    since_stock_id: Option<i64>,
) -> ops::GetStock {
    ops::GetStock {
        request: ops::GetStockRequest {
            branch_number: branch,
            article_numbers: ops::ArticleNumberList {
                article_numbers: article_numbers.to_vec(),
            },
            stock_id: since_stock_id,
        },
    }
}

/// `setStock` (absolute). `None` when the quantity does not fit the wire format.
pub fn set_stock(
    branch: i32,
    article_number: i64,
    amount: Decimal,
    employee: Option<i64>,
    reference: &str,
) -> Option<ops::SetStock> {
    let (value, places) = quantity::to_wire(amount)?;
    Some(ops::SetStock {
        request: ops::SetStockRequest {
            branch_number: branch,
            article_number,
            amount: value,
            decimal_places: Some(places),
            employee_number: employee,
            reference: (!reference.is_empty()).then(|| reference.to_owned()),
        },
    })
}
