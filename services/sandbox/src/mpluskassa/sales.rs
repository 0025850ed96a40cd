//! Sales: what turns stock into turnover. A till sale books an invoice and deducts the stock
//! on hand of its stock articles (`STOCK-HISTORY-TYPE-SALES`): `getStock` reports
//! `amountFree` lower by the quantity. Delivering an order (`deliverOrder`, turnover type
//! invoice) completes its delivery, so its reservation ends, and books an invoice naming the
//! order (`orderIds`, `extOrderIds`) that deducts the stock on hand the order had reserved:
//! `amountReserved` goes down by the order's quantity and `amountFree` stays (it was lowered
//! when the order was placed), the goods left.
//!
//! A refund at the till is a credit invoice (`INVOICE-TYPE-CREDIT-INVOICE`) naming the
//! invoice it credits (`creditedInvoiceId`), with the lines negated: the goods come back.
//!
//! Control endpoints (tests make till sales and refunds with them; a real till is not an API
//! client): `POST /_sandbox/mpluskassa/sales` with a [`Sale`] as JSON, and
//! `POST /_sandbox/mpluskassa/refunds` with a [`Refund`], answer
//! `{"invoice_id", "sync_marker"}` (400 with the reason when an article, relation or invoice
//! is unknown, or the invoice is credited already).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::MplusState;
use super::model::{Invoice, Order, OrderLine, Payment, Qty, StockChange};
use super::store::Store;

/// A till sale.
#[derive(Debug, Clone, Deserialize)]
pub struct Sale {
    /// Branch (default: the installation's first).
    #[serde(default)]
    pub branch_number: Option<i32>,
    /// Workplace (till).
    #[serde(default)]
    pub workplace_number: Option<i32>,
    /// Employee at the till (default: the super user).
    #[serde(default)]
    pub employee_number: Option<i64>,
    /// The customer, when the till knows one; absent or 0: an anonymous sale.
    #[serde(default)]
    pub relation_number: Option<i64>,
    /// Payment method (default `CASH`).
    #[serde(default)]
    pub payment_method: Option<String>,
    /// The lines.
    pub lines: Vec<SaleLine>,
}

/// One line of a till sale.
#[derive(Debug, Clone, Deserialize)]
pub struct SaleLine {
    /// The article.
    pub article_number: i64,
    /// Whole items.
    pub quantity: i64,
    /// Unit price including VAT in cents (default: the article's).
    #[serde(default)]
    pub price: Option<i64>,
}

/// Why a sale or delivery was refused: `(result suffix, message)`.
pub type Refused = (&'static str, String);

impl Store {
    /// Books a till sale: an invoice, paid in full, and the stock deductions.
    pub fn sell(&mut self, sale: &Sale) -> Result<(String, i64), String> {
        let branch = sale.branch_number.unwrap_or_else(|| self.default_branch());
        if self.branch(branch).is_none() {
            return Err(format!("branch {branch} does not exist"));
        }
        let relation_number = sale.relation_number.unwrap_or(0);
        let relation_name = match relation_number {
            0 => String::new(),
            n => self
                .relation(n)
                .map(|r| r.name.clone())
                .ok_or_else(|| format!("relation {n} does not exist"))?,
        };
        if sale.lines.is_empty() {
            return Err("a sale needs at least one line".into());
        }
        let number = self.take_invoice_number();
        let mut lines = Vec::new();
        for l in &sale.lines {
            if l.quantity <= 0 {
                return Err(format!(
                    "article {}: quantity must be positive",
                    l.article_number
                ));
            }
            let id = format!("till-{number}-{}", lines.len() + 1);
            let line = self
                .line(id, l.article_number, Qty::units(l.quantity), l.price)
                .ok_or_else(|| format!("article {} does not exist", l.article_number))?;
            lines.push(line);
        }
        let method = sale.payment_method.clone().unwrap_or_else(|| "CASH".into());
        let total: i64 = lines.iter().map(|l| l.total_incl).sum();
        let invoice = Invoice {
            invoice_id: String::new(),
            order_ids: Vec::new(),
            ext_order_ids: Vec::new(),
            sync_marker: 0,
            invoice_number: (0, number),
            invoice_type: "INVOICE-TYPE-DIRECT-INVOICE".into(),
            employee_number: sale.employee_number.unwrap_or(super::SUPER_USER),
            entry_timestamp: self.now(),
            relation_number,
            relation_name,
            delivery_address: None,
            invoice_address: None,
            branch_number: branch,
            workplace_number: sale.workplace_number,
            reference: String::new(),
            total_incl: total,
            total_excl: lines.iter().map(|l| l.total_excl).sum(),
            lines,
            payments: vec![self.payment(&method, total, number)],
            credited_invoice_id: None,
        };
        Ok(self.book_invoice(invoice))
    }

    /// Delivers an open order and invoices it (`deliverOrder`): the reservation ends and the
    /// invoice deducts the stock. Answers the invoice id.
    pub fn deliver_order(&mut self, order_id: &str) -> Result<String, Refused> {
        let Some(o) = self.orders.get(order_id) else {
            return Err(("FAILED", format!("Order {order_id} not found.")));
        };
        if o.delivery_state == "ORDER-DELIVERY-STATE-COMPLETE" {
            return Err((
                "ALREADY-DELIVERED",
                format!("Order {order_id} is already delivered."),
            ));
        }
        if o.cancel_state == "ORDER-CANCEL-STATE-COMPLETE" {
            return Err(("FAILED", format!("Order {order_id} is cancelled.")));
        }
        let o: Order = o.clone();
        let marker = self.next_order_marker();
        if let Some(stored) = self.orders.get_mut(order_id) {
            stored.delivery_state = "ORDER-DELIVERY-STATE-COMPLETE".into();
            stored.complete_state = "ORDER-COMPLETE-STATE-COMPLETE".into();
            stored.sync_marker = marker;
            stored.change_counter += 1;
            stored.version_number += 1;
        }
        self.end_reservation(&o);
        let number = self.take_invoice_number();
        let invoice = Invoice {
            invoice_id: String::new(),
            order_ids: vec![o.order_id.clone()],
            ext_order_ids: [o.ext_order_id.clone()]
                .into_iter()
                .filter(|e| !e.is_empty())
                .collect(),
            sync_marker: 0,
            invoice_number: (0, number),
            invoice_type: "INVOICE-TYPE-INVOICE".into(),
            employee_number: o.employee_number,
            entry_timestamp: self.now(),
            relation_number: o.relation_number,
            relation_name: o.relation_name.clone(),
            delivery_address: o.delivery_address.clone(),
            invoice_address: o.invoice_address.clone(),
            branch_number: o.financial_branch_number,
            workplace_number: o.workplace_number,
            reference: o.reference.clone(),
            total_incl: o.total_incl,
            total_excl: o.total_excl,
            lines: o.lines.clone(),
            payments: o.payments.clone(),
            credited_invoice_id: None,
        };
        Ok(self.book_invoice(invoice).0)
    }

    /// Numbers and stores an invoice and deducts its stock articles' stock; answers its id
    /// and sync marker.
    fn book_invoice(&mut self, mut invoice: Invoice) -> (String, i64) {
        let now = self.now();
        invoice.invoice_id = format!("00000000-0000-4000-9000-{:012}", invoice.invoice_number.1);
        invoice.invoice_number.0 = now.year;
        invoice.sync_marker = self.next_invoice_marker();
        for l in &invoice.lines {
            self.deduct(invoice.branch_number, l.article_number, l.quantity);
        }
        let booked = (invoice.invoice_id.clone(), invoice.sync_marker);
        self.invoices.insert(invoice.invoice_id.clone(), invoice);
        booked
    }

    /// A sale leaves the shop: the stock on hand of a stock article goes down (and with it
    /// the free stock; what open orders reserve stays).
    fn deduct(&mut self, branch: i32, article: i64, quantity: Qty) {
        if !self.article(article).is_some_and(|(_, a)| a.stock_article) {
            return;
        }
        let level = self.change_level(branch, article);
        level.on_hand = Qty(level.on_hand.0 - quantity.0);
        let (stock_id, now) = (level.stock_id, level.change_timestamp);
        self.stock_history.push(StockChange {
            stock_id,
            timestamp: now,
            branch_number: branch,
            article_number: article,
            amount_changed: Qty(-quantity.0),
            kind: "STOCK-HISTORY-TYPE-SALES".into(),
            correction: None,
        });
    }

    /// A refund at the till: a credit invoice of invoice `invoice_id` (`creditedInvoiceId`),
    /// with its lines negated and paid back; the goods come back into stock. An invoice is
    /// credited once, and a credit invoice is not credited. Answers the credit invoice's id and
    /// sync marker.
    pub fn credit(&mut self, invoice_id: &str) -> Result<(String, i64), String> {
        let Some(original) = self.invoices.get(invoice_id).cloned() else {
            return Err(format!("invoice {invoice_id} does not exist"));
        };
        if original.credited_invoice_id.is_some() {
            return Err(format!("invoice {invoice_id} is a credit invoice"));
        }
        if self
            .invoices
            .values()
            .any(|i| i.credited_invoice_id.as_deref() == Some(invoice_id))
        {
            return Err(format!("invoice {invoice_id} is credited already"));
        }
        let number = self.take_invoice_number();
        let negate = |l: &OrderLine| OrderLine {
            line_id: format!("credit-{number}-{}", l.line_id),
            quantity: Qty(-l.quantity.0),
            total_incl: -l.total_incl,
            total_excl: -l.total_excl,
            ..l.clone()
        };
        let payments = original
            .payments
            .iter()
            .map(|p| Payment {
                payment_id: format!("credit-{number}-{}", p.payment_id),
                amount: -p.amount,
                ..p.clone()
            })
            .collect();
        let credit = Invoice {
            invoice_id: String::new(),
            sync_marker: 0,
            invoice_number: (0, number),
            invoice_type: ferry_mplusqapi::records::CREDIT_INVOICE.into(),
            entry_timestamp: self.now(),
            total_incl: -original.total_incl,
            total_excl: -original.total_excl,
            lines: original.lines.iter().map(negate).collect(),
            payments,
            credited_invoice_id: Some(original.invoice_id.clone()),
            ..original
        };
        Ok(self.book_invoice(credit))
    }

    fn payment(&self, method: &str, amount: i64, number: i64) -> Payment {
        let kind = self.payment_methods.iter().find(|m| m.method == method);
        Payment {
            payment_id: format!("till-{number}-payment"),
            method: method.to_owned(),
            description: kind.map(|m| m.description.clone()).unwrap_or_default(),
            amount,
            payment_method_type: kind.map(|m| m.method_type.clone()),
        }
    }
}

/// `POST /_sandbox/mpluskassa/sales`.
pub async fn post_sale(state: web::Data<MplusState>, sale: web::Json<Sale>) -> HttpResponse {
    match state.lock().sell(&sale) {
        Ok((invoice_id, sync_marker)) => {
            HttpResponse::Ok().json(json!({"invoice_id": invoice_id, "sync_marker": sync_marker}))
        }
        Err(e) => HttpResponse::BadRequest().json(json!({"error": e})),
    }
}

/// A refund at the till.
#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    /// The invoice refunded (credited as a whole).
    pub invoice_id: String,
}

/// `POST /_sandbox/mpluskassa/refunds`: credits an invoice as a till does for a refund.
pub async fn post_refund(state: web::Data<MplusState>, refund: web::Json<Refund>) -> HttpResponse {
    match state.lock().credit(refund.invoice_id.trim()) {
        Ok((invoice_id, sync_marker)) => {
            HttpResponse::Ok().json(json!({"invoice_id": invoice_id, "sync_marker": sync_marker}))
        }
        Err(e) => HttpResponse::BadRequest().json(json!({"error": e})),
    }
}
