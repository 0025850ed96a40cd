//! Invoices by sync marker, and delivering orders (which invoices them; see
//! [`crate::mpluskassa::sales`]).

use super::{Ctx, page};
use crate::mpluskassa::render;
use crate::mpluskassa::xml::XmlError;
use ferry_mplusqapi::ops;

pub fn get_invoices(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::GetInvoices>()?.request;
    let plus: Vec<&str> = req
        .article_plu_numbers
        .text
        .iter()
        .map(|t| t.text.as_str())
        .collect();
    let include_lines = req.include_line_list.unwrap_or(true);
    let selected = page(
        cx.store
            .invoices
            .values()
            .filter(|i| {
                plus.is_empty()
                    || i.lines
                        .iter()
                        .any(|l| plus.contains(&l.plu_number.as_str()))
            })
            .map(|i| (i.sync_marker, i)),
        req.sync_marker,
        req.sync_marker_limit,
    );
    cx.w.elem("invoiceList", |w| {
        for i in selected {
            render::invoice(w, i, include_lines);
        }
    });
    Ok(())
}

pub fn get_invoice(cx: Ctx<'_>) -> Result<(), XmlError> {
    let id = cx
        .request::<ops::GetInvoice>()?
        .invoice_id
        .trim()
        .to_owned();
    match cx.store.invoices.get(&id) {
        Some(i) => {
            cx.w.leaf("result", "GET-INVOICE-RESULT-OK");
            render::invoice(cx.w, i, true);
        }
        None => cx.w.leaf("result", "GET-INVOICE-RESULT-NOT-FOUND"),
    }
    Ok(())
}

pub fn deliver_order(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::DeliverOrder>()?.request;
    let as_invoice = req
        .turnover_type
        .as_deref()
        .is_none_or(|t| t.trim() == "DELIVER-ORDER-TURNOVER-TYPE-INVOICE");
    let w = cx.w;
    if !as_invoice {
        w.leaf("result", "DELIVER-ORDER-RESULT-FAILED");
        w.leaf(
            "errorMessage",
            "The sandbox delivers orders with turnover type invoice only.",
        );
        return Ok(());
    }
    match cx.store.deliver_order(req.order_id.trim()) {
        Ok(invoice_id) => {
            w.leaf("result", "DELIVER-ORDER-RESULT-OK");
            w.leaf("invoiceId", invoice_id);
            w.leaf("errorMessage", "");
        }
        Err((result, message)) => {
            w.leaf("result", format!("DELIVER-ORDER-RESULT-{result}"));
            w.leaf("errorMessage", message);
        }
    }
    Ok(())
}
