//! Stock per branch and article: levels with reservations from open orders, absolute and
//! relative changes, and the change history by stockId.
//!
//! What the figures mean (MplusQAPI's `ArticleStock`, see the store's `StockLevel`):
//! `amountReserved` is what open (undelivered, uncancelled) orders hold, `amountFree` is the
//! stock on hand minus that (available to sell), so on hand is `amountFree + amountReserved`.
//! Placing an order lowers `amountFree` and raises `amountReserved`; delivering it lowers
//! `amountReserved` (the goods left); cancelling it releases the reservation; a till sale
//! lowers `amountFree`. `setStock` sets the free amount (on hand becomes `amount +
//! amountReserved`) and `updateStock` changes free and on hand by `amountChanged`; both are
//! physical changes in `getStockHistoryV2` (corrections show on hand before and after).

use super::{Ctx, page};
use crate::mpluskassa::model::{Qty, StockChange};
use crate::mpluskassa::xml::{XmlError, XmlWriter};
use ferry_mplusqapi::ops;

pub fn get_stock(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::GetStock>()?.request;
    let filters = cx.request::<ops::Request<ops::GetStockFilters>>()?.request;
    let articles = req.article_numbers.article_numbers;
    let mut branches = filters
        .branch_numbers
        .map(|b| b.branch_number)
        .unwrap_or_default();
    if branches.is_empty() {
        branches.push(req.branch_number);
    }
    let since = req.stock_id;
    let store = &*cx.store;
    for b in branches {
        if store.branch(b).is_none() {
            continue;
        }
        let numbers: Vec<i64> = if articles.is_empty() {
            store
                .products
                .values()
                .flat_map(|p| &p.articles)
                .filter(|a| a.stock_article)
                .map(|a| a.article_number)
                .collect()
        } else {
            articles.clone()
        };
        for n in numbers {
            if !store.article(n).is_some_and(|(_, a)| a.stock_article) {
                continue;
            }
            let level = store.stock.get(&(b, n));
            let stock_id = level.map_or(0, |l| l.stock_id);
            if since.is_some_and(|s| stock_id < s) {
                continue;
            }
            let (free, free_dp) = store.free(b, n).to_wire();
            let (reserved, reserved_dp) = store.reserved(b, n).to_wire();
            let (incoming, incoming_dp) = level.map_or(Qty(0), |l| l.incoming).to_wire();
            cx.w.elem("articleStocks", |w| {
                w.leaf("branchNumber", b);
                w.leaf("articleNumber", n);
                if let Some(l) = level {
                    w.datetime("changeTimestamp", &l.change_timestamp);
                }
                w.leaf("stockId", stock_id);
                w.leaf("amountFree", free);
                w.leaf("decimalPlacesFree", free_dp);
                w.leaf("amountReserved", reserved);
                w.leaf("decimalPlacesReserved", reserved_dp);
                w.leaf("amountIncoming", incoming);
                w.leaf("decimalPlacesIncoming", incoming_dp);
                w.leaf("isDayStockArticle", false);
            });
        }
    }
    Ok(())
}

/// A stock change as asked: branch, article, amount (absolute or relative), its decimal
/// places, the employee.
struct Change {
    branch: i32,
    article: i64,
    raw: i64,
    dp: Option<u32>,
    employee: Option<i64>,
}

/// Shared part of setStock/updateStock: the result prefix is `SET-STOCK` or `UPDATE-STOCK`.
fn change_stock(
    cx: Ctx<'_>,
    change: Change,
    prefix: &str,
    apply: fn(Qty, Qty) -> Qty,
    kind: &str,
) -> Result<(), XmlError> {
    let Change {
        branch,
        article,
        raw,
        dp,
        employee,
    } = change;
    let dp = dp.map_or(Some(0), |d| i32::try_from(d).ok());
    let store = cx.store;
    let w: &mut XmlWriter = cx.w;
    let result =
        |w: &mut XmlWriter, outcome: &str| w.leaf("result", format!("{prefix}-RESULT-{outcome}"));
    if store.branch(branch).is_none() {
        result(w, "BRANCH-NOT-FOUND");
        return Ok(());
    }
    let Some((_, a)) = store.article(article) else {
        result(w, "ARTICLE-NOT-FOUND");
        return Ok(());
    };
    if !a.stock_article {
        result(w, "NO-STOCK-ARTICLE");
        return Ok(());
    }
    let (Some(value), true) = (
        dp.and_then(|dp| Qty::from_wire(raw, dp)),
        employee.is_none_or(|e| store.employees.contains_key(&e)),
    ) else {
        result(w, "FAILED");
        return Ok(());
    };
    // The request names free stock; reservations stay, so on hand moves by the same amount.
    let free_before = store.free(branch, article);
    let changed = apply(free_before, value).0 - free_before.0;
    let level = store.change_level(branch, article);
    let before = level.on_hand;
    level.on_hand = Qty(before.0 + changed);
    let (after, stock_id, now) = (level.on_hand, level.stock_id, level.change_timestamp);
    store.stock_history.push(StockChange {
        stock_id,
        timestamp: now,
        branch_number: branch,
        article_number: article,
        amount_changed: Qty(changed),
        kind: kind.to_owned(),
        correction: (kind == "STOCK-HISTORY-TYPE-CORRECTION").then_some((before, after)),
    });
    result(w, "OK");
    w.leaf("stockId", stock_id);
    Ok(())
}

/// `setStock`: the free amount becomes `amount` (absolute).
pub fn set_stock(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::SetStock>()?.request;
    let change = Change {
        branch: req.branch_number,
        article: req.article_number,
        raw: req.amount,
        dp: req.decimal_places,
        employee: req.employee_number,
    };
    change_stock(
        cx,
        change,
        "SET-STOCK",
        |_, new| new,
        "STOCK-HISTORY-TYPE-CORRECTION",
    )
}

/// `updateStock`: the free amount (and on hand) changes by `amountChanged` (relative).
pub fn update_stock(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::UpdateStock>()?.request;
    let change = Change {
        branch: req.branch_number,
        article: req.article_number,
        raw: req.amount_changed,
        dp: req.decimal_places,
        employee: req.employee_number,
    };
    change_stock(
        cx,
        change,
        "UPDATE-STOCK",
        |old, delta| Qty(old.0 + delta.0),
        "STOCK-HISTORY-TYPE-API",
    )
}

pub fn get_stock_history_v2(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::GetStockHistoryV2>()?.request;
    let branches = req.branch_numbers;
    let articles = req
        .article_numbers
        .map(|a| a.article_numbers)
        .unwrap_or_default();
    let from = req.from_financial_date_time.map(|d| d.date());
    let through = req.through_financial_date_time.map(|d| d.date());
    let since = req.since_stock_id;
    let limit = req.since_stock_id_limit;
    let selected = page(
        cx.store
            .stock_history
            .iter()
            .filter(|h| branches.is_empty() || branches.contains(&h.branch_number))
            .filter(|h| articles.is_empty() || articles.contains(&h.article_number))
            .filter(|h| from.is_none_or(|f| h.timestamp.date().on_or_after(&f)))
            .filter(|h| through.is_none_or(|t| t.on_or_after(&h.timestamp.date())))
            .map(|h| (h.stock_id, h)),
        since,
        limit,
    );
    for h in selected {
        cx.w.elem("articleStockHistory", |w| {
            w.leaf("stockId", h.stock_id);
            w.datetime("timestamp", &h.timestamp);
            w.leaf("branchNumber", h.branch_number);
            w.leaf("articleNumber", h.article_number);
            let (amount, dp) = h.amount_changed.to_wire();
            w.leaf("amountChanged", amount);
            w.leaf("decimalPlaces", dp);
            w.leaf("type", &h.kind);
            if let Some((before, after)) = h.correction {
                let (b, bdp) = before.to_wire();
                let (a, adp) = after.to_wire();
                w.leaf("beforeCorrectionQuantity", b);
                w.leaf("beforeCorrectionDecimalPlaces", bdp);
                w.leaf("afterCorrectionQuantity", a);
                w.leaf("afterCorrectionDecimalPlaces", adp);
            }
        });
    }
    Ok(())
}
