//! The in-memory installation: records, one increasing sync marker sequence per entity type,
//! stock levels with their history, and the idempotency replay cache.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::model::{
    Article, ArticleGroup, Branch, Employee, Invoice, MplusDateTime, Order, OrderLine, Payment,
    PaymentMethod, Product, Qty, Relation, StockChange, StockLevel, TurnoverGroup, VatGroup,
};
use super::seed::{MplusSeed, SeedOrder};

/// Current values of each entity's sync marker sequence (`getCurrentSyncMarkers`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Markers {
    pub article: i64,
    pub article_group: i64,
    pub relation: i64,
    pub employee: i64,
    pub order: i64,
    pub invoice: i64,
    pub stock_id: i64,
}

#[derive(Debug, Default, Serialize)]
pub struct Store {
    pub markers: Markers,
    pub branches: Vec<Branch>,
    pub employees: BTreeMap<i64, Employee>,
    pub payment_methods: Vec<PaymentMethod>,
    pub vat_groups: Vec<VatGroup>,
    pub turnover_groups: Vec<TurnoverGroup>,
    pub relations: BTreeMap<i64, Relation>,
    pub products: BTreeMap<i64, Product>,
    pub article_groups: BTreeMap<i32, ArticleGroup>,
    /// `(branchNumber, articleNumber)`.
    #[serde(serialize_with = "stock_as_list")]
    pub stock: BTreeMap<(i32, i64), StockLevel>,
    pub stock_history: Vec<StockChange>,
    /// By orderId.
    pub orders: BTreeMap<String, Order>,
    /// By invoiceId (till sales and delivered orders).
    pub invoices: BTreeMap<String, Invoice>,
    /// Replay cache of idempotent calls: `(operation, idempotencyKey)` -> response body.
    #[serde(skip)]
    pub idempotency: HashMap<(String, String), String>,
    next_relation_number: i64,
    next_product_number: i64,
    next_article_number: i64,
    next_group_number: i32,
    next_order_number: i64,
    next_invoice_number: i64,
}

impl Store {
    /// Builds the installation from the seed, numbering markers in seed order.
    pub fn from_seed(seed: &MplusSeed) -> Self {
        let mut store = Store {
            branches: seed.branches.clone(),
            payment_methods: seed.payment_methods.clone(),
            vat_groups: seed.vat_groups.clone(),
            turnover_groups: seed.turnover_groups.clone(),
            next_relation_number: 1,
            next_product_number: 1,
            next_article_number: 1,
            next_group_number: 1,
            next_order_number: 1,
            next_invoice_number: 1,
            ..Store::default()
        };
        let now = store.now();
        for e in &seed.employees {
            let mut e = e.clone();
            e.sync_marker = store.next_employee_marker();
            store.employees.insert(e.number, e);
        }
        for r in &seed.relations {
            let mut r = r.clone();
            let changed = r.change_timestamp;
            store.number_relation(&mut r, &now);
            if changed.is_some() {
                r.change_timestamp = changed;
            }
            store.relations.insert(r.relation_number, r);
        }
        for p in &seed.products {
            let mut p = p.clone();
            if p.product_number <= 0 {
                p.product_number = store.next_product_number;
            }
            store.next_product_number = store.next_product_number.max(p.product_number + 1);
            let marker = store.next_article_marker();
            p.sync_marker = marker;
            for a in &mut p.articles {
                if a.article_number <= 0 {
                    a.article_number = store.next_article_number;
                }
                store.next_article_number = store.next_article_number.max(a.article_number + 1);
                a.sync_marker = marker;
                a.create_timestamp.get_or_insert(now);
                a.change_timestamp.get_or_insert(now);
                store.complete_prices(a, false, a.price_incl == 0);
            }
            store.products.insert(p.product_number, p);
        }
        for g in &seed.article_groups {
            let mut g = g.clone();
            g.sync_marker = store.next_group_marker();
            store.next_group_number = store.next_group_number.max(g.group_number + 1);
            store.article_groups.insert(g.group_number, g);
        }
        for s in &seed.stock {
            store.markers.stock_id += 1;
            let stock_id = store.markers.stock_id;
            store.stock.insert(
                (s.branch_number, s.article_number),
                StockLevel {
                    on_hand: Qty(s.free.0 + s.reserved.0),
                    incoming: s.incoming,
                    reserved_base: s.reserved,
                    stock_id,
                    change_timestamp: now,
                },
            );
            store.stock_history.push(StockChange {
                stock_id,
                timestamp: now,
                branch_number: s.branch_number,
                article_number: s.article_number,
                amount_changed: Qty(s.free.0 + s.reserved.0),
                kind: "STOCK-HISTORY-TYPE-CORRECTION".into(),
                correction: Some((Qty(0), Qty(s.free.0 + s.reserved.0))),
            });
        }
        for o in &seed.orders {
            store.seed_order(o);
        }
        store
    }

    /// A seeded order: prices and VAT from the articles, states from the seed's flags.
    fn seed_order(&mut self, s: &SeedOrder) {
        let mut lines = Vec::new();
        for (article_number, quantity, price) in &s.lines {
            let id = format!("seed-{}-{}", s.order_number, lines.len() + 1);
            if let Some(line) = self.line(id, *article_number, *quantity, Some(*price)) {
                lines.push(line);
            }
        }
        let total_incl: i64 = lines.iter().map(|l| l.total_incl).sum();
        let total_excl: i64 = lines.iter().map(|l| l.total_excl).sum();
        let payments = if s.paid {
            let kind = self
                .payment_methods
                .iter()
                .find(|m| m.method == s.payment_method);
            vec![Payment {
                payment_id: format!("seed-{}-payment", s.order_number),
                method: s.payment_method.clone(),
                description: kind.map(|m| m.description.clone()).unwrap_or_default(),
                amount: total_incl,
                payment_method_type: kind.map(|m| m.method_type.clone()),
            }]
        } else {
            Vec::new()
        };
        let state = |done: bool, kind: &str| {
            format!(
                "ORDER-{kind}-STATE-{}",
                if done { "COMPLETE" } else { "NOTHING" }
            )
        };
        let order = Order {
            order_id: format!("00000000-0000-4000-8000-{:012}", s.order_number),
            ext_order_id: s.ext_order_id.clone(),
            sync_marker: self.next_order_marker(),
            order_type: "ORDER-TYPE-SALES-ORDER".into(),
            entry_branch_number: s.branch_number,
            employee_number: s.employee_number,
            employee_name: self
                .employees
                .get(&s.employee_number)
                .map(|e| e.name.clone())
                .unwrap_or_default(),
            entry_timestamp: Some(s.entry_timestamp),
            relation_number: s.relation_number,
            relation_name: self
                .relation(s.relation_number)
                .map(|r| r.name.clone())
                .unwrap_or_default(),
            delivery_address: None,
            invoice_address: None,
            financial_date: Some(s.entry_timestamp.date()),
            financial_branch_number: s.branch_number,
            workplace_number: Some(s.workplace_number),
            reference: s.reference.clone(),
            total_incl,
            total_excl,
            vat_method: "VAT-METHOD-INCLUSIVE".into(),
            payment_method: s.payment_method.clone(),
            change_counter: 1,
            version_number: 1,
            prepaid_amount: payments.iter().map(|p| p.amount).sum(),
            fully_paid: s.paid,
            delivery_state: state(s.delivered, "DELIVERY"),
            cancel_state: state(s.cancelled, "CANCEL"),
            complete_state: format!(
                "ORDER-COMPLETE-STATE-{}",
                if s.delivered || s.cancelled {
                    "COMPLETE"
                } else {
                    "NOTHING"
                }
            ),
            order_number: (s.entry_timestamp.year, s.order_number),
            lines,
            payments,
            reserves_stock: false,
        };
        self.next_order_number = self.next_order_number.max(s.order_number + 1);
        self.orders.insert(order.order_id.clone(), order);
    }

    /// A sales line of an article: price (incl. VAT, cents) as given or the article's, VAT
    /// and turnover group from the article. `None`: no such article.
    pub fn line(
        &self,
        line_id: String,
        article_number: i64,
        quantity: Qty,
        price: Option<i64>,
    ) -> Option<OrderLine> {
        let (_, a) = self.article(article_number)?;
        let pct = a.vat_percentage;
        let price = price.unwrap_or(a.price_incl);
        let total_incl = quantity.times_cents(price);
        Some(OrderLine {
            line_id,
            article_number,
            plu_number: a.plu_number.clone(),
            text: a.description.clone(),
            quantity,
            price,
            price_excl: excl_from_incl(price, pct),
            vat_code: a.vat_code,
            vat_percentage: pct,
            turnover_group: a.turnover_group,
            discount_percentage: None,
            discount_amount: None,
            total_incl,
            total_excl: excl_from_incl(total_incl, pct),
        })
    }

    pub fn now_chrono(&self) -> DateTime<FixedOffset> {
        chrono::Local::now().fixed_offset()
    }

    pub fn now(&self) -> MplusDateTime {
        MplusDateTime::from_chrono(&self.now_chrono())
    }

    pub fn next_relation_marker(&mut self) -> i64 {
        self.markers.relation += 1;
        self.markers.relation
    }

    pub fn next_article_marker(&mut self) -> i64 {
        self.markers.article += 1;
        self.markers.article
    }

    pub fn next_group_marker(&mut self) -> i64 {
        self.markers.article_group += 1;
        self.markers.article_group
    }

    pub fn next_employee_marker(&mut self) -> i64 {
        self.markers.employee += 1;
        self.markers.employee
    }

    pub fn next_order_marker(&mut self) -> i64 {
        self.markers.order += 1;
        self.markers.order
    }

    pub fn next_invoice_marker(&mut self) -> i64 {
        self.markers.invoice += 1;
        self.markers.invoice
    }

    pub fn take_invoice_number(&mut self) -> i64 {
        let n = self.next_invoice_number;
        self.next_invoice_number += 1;
        n
    }

    pub fn next_stock_id(&mut self) -> i64 {
        self.markers.stock_id += 1;
        self.markers.stock_id
    }

    pub fn take_relation_number(&mut self) -> i64 {
        while self.relation_number_taken(self.next_relation_number) {
            self.next_relation_number += 1;
        }
        let n = self.next_relation_number;
        self.next_relation_number += 1;
        n
    }

    pub fn take_product_number(&mut self) -> i64 {
        while self.products.contains_key(&self.next_product_number) {
            self.next_product_number += 1;
        }
        let n = self.next_product_number;
        self.next_product_number += 1;
        n
    }

    pub fn take_article_number(&mut self) -> i64 {
        while self.article(self.next_article_number).is_some() {
            self.next_article_number += 1;
        }
        let n = self.next_article_number;
        self.next_article_number += 1;
        n
    }

    pub fn take_group_number(&mut self) -> i32 {
        while self.article_groups.contains_key(&self.next_group_number) {
            self.next_group_number += 1;
        }
        let n = self.next_group_number;
        self.next_group_number += 1;
        n
    }

    pub fn take_order_number(&mut self) -> i64 {
        let n = self.next_order_number;
        self.next_order_number += 1;
        n
    }

    /// Relation numbers are unique across relations and their contacts.
    pub fn relation_number_taken(&self, n: i64) -> bool {
        self.relations.values().any(|r| {
            r.relation_number == n || r.contact_list.iter().any(|c| c.relation_number == n)
        })
    }

    /// Gives a relation (and its contacts without one) numbers, a marker and timestamps.
    pub fn number_relation(&mut self, r: &mut Relation, now: &MplusDateTime) {
        if r.relation_number <= 0 {
            r.relation_number = self.take_relation_number();
        }
        self.next_relation_number = self.next_relation_number.max(r.relation_number + 1);
        r.sync_marker = self.next_relation_marker();
        r.create_timestamp.get_or_insert(*now);
        r.change_timestamp = Some(*now);
        for c in &mut r.contact_list {
            if c.relation_number <= 0 {
                c.relation_number = self.take_relation_number();
            }
            self.next_relation_number = self.next_relation_number.max(c.relation_number + 1);
            c.sync_marker = r.sync_marker;
            c.create_timestamp.get_or_insert(*now);
            c.change_timestamp = Some(*now);
        }
    }

    pub fn relation(&self, number: i64) -> Option<&Relation> {
        self.relations.get(&number)
    }

    pub fn article(&self, number: i64) -> Option<(&Product, &Article)> {
        self.products.values().find_map(|p| {
            p.articles
                .iter()
                .find(|a| a.article_number == number)
                .map(|a| (p, a))
        })
    }

    pub fn article_by_plu(&self, plu: &str) -> Option<&Article> {
        self.products
            .values()
            .flat_map(|p| &p.articles)
            .find(|a| a.plu_number == plu)
    }

    pub fn vat_group(&self, code: i32) -> Option<&VatGroup> {
        self.vat_groups.iter().find(|v| v.vat_code == code)
    }

    pub fn turnover_group(&self, number: i32) -> Option<&TurnoverGroup> {
        self.turnover_groups.iter().find(|t| t.number == number)
    }

    pub fn branch(&self, number: i32) -> Option<&Branch> {
        self.branches.iter().find(|b| b.number == number)
    }

    /// The installation's default branch: the first one.
    pub fn default_branch(&self) -> i32 {
        self.branches.first().map(|b| b.number).unwrap_or(1)
    }

    /// Fills vatPercentage from the VAT code and the price that was not given from the other.
    pub fn complete_prices(&self, a: &mut Article, incl_given: bool, excl_given: bool) {
        if a.vat_code == 0
            && let Some(t) = self.turnover_group(a.turnover_group)
        {
            a.vat_code = t.default_vat_code;
        }
        a.vat_percentage = self
            .vat_group(a.vat_code)
            .map(|v| v.vat_percentage)
            .unwrap_or(0);
        if excl_given && !incl_given {
            a.price_incl = incl_from_excl(a.price_excl, a.vat_percentage);
        } else if incl_given || a.price_excl == 0 {
            a.price_excl = excl_from_incl(a.price_incl, a.vat_percentage);
        }
    }

    /// Quantity of an article reserved by open orders in a branch.
    pub fn reserved(&self, branch: i32, article: i64) -> Qty {
        let base = self
            .stock
            .get(&(branch, article))
            .map_or(0, |l| l.reserved_base.0);
        Qty(base
            + self
                .orders
                .values()
                .filter(|o| o.is_open() && o.entry_branch_number == branch)
                .flat_map(|o| &o.lines)
                .filter(|l| l.article_number == article)
                .map(|l| l.quantity.0)
                .sum::<i64>())
    }

    /// Free stock of an article in a branch (`amountFree`): on hand minus what open orders
    /// reserve.
    pub fn free(&self, branch: i32, article: i64) -> Qty {
        let on_hand = self
            .stock
            .get(&(branch, article))
            .map_or(0, |l| l.on_hand.0);
        Qty(on_hand - self.reserved(branch, article).0)
    }

    /// The stock record of an article in a branch for a change: a new stockId and change
    /// time (an empty record when there was none). Answers the record.
    pub fn change_level(&mut self, branch: i32, article: i64) -> &mut StockLevel {
        let stock_id = self.next_stock_id();
        let now = self.now();
        let level = self
            .stock
            .entry((branch, article))
            .or_insert_with(|| StockLevel::empty(stock_id, now));
        level.stock_id = stock_id;
        level.change_timestamp = now;
        level
    }

    /// A reservation changed: the stock record of a stock article gets a new stockId (no
    /// history entry: on hand did not change).
    pub fn touch_stock(&mut self, branch: i32, article: i64) {
        if self.article(article).is_some_and(|(_, a)| a.stock_article) {
            self.change_level(branch, article);
        }
    }

    /// An order stops reserving (delivered or cancelled, its state already changed): a seeded
    /// order's quantities leave the seed's base reservation, and every line's stock record
    /// gets a new stockId.
    pub fn end_reservation(&mut self, order: &Order) {
        for l in &order.lines {
            let key = (order.entry_branch_number, l.article_number);
            if !order.reserves_stock
                && let Some(level) = self.stock.get_mut(&key)
            {
                level.reserved_base = Qty((level.reserved_base.0 - l.quantity.0).max(0));
            }
            self.touch_stock(key.0, key.1);
        }
    }
}

/// JSON has no tuple keys: the stock dumps as `[{branch_number, article_number, ...}]`.
fn stock_as_list<S: serde::Serializer>(
    stock: &BTreeMap<(i32, i64), StockLevel>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Entry<'a> {
        branch_number: i32,
        article_number: i64,
        #[serde(flatten)]
        level: &'a StockLevel,
    }
    serializer.collect_seq(
        stock
            .iter()
            .map(|((branch_number, article_number), level)| Entry {
                branch_number: *branch_number,
                article_number: *article_number,
                level,
            }),
    )
}

/// `excl = incl / (1 + pct)`, pct in hundredths of a percent, rounded half up.
pub fn excl_from_incl(incl: i64, pct: i64) -> i64 {
    let num = i128::from(incl) * 10_000;
    let den = 10_000 + i128::from(pct);
    i64::try_from((2 * num + den).div_euclid(2 * den)).unwrap_or(i64::MAX)
}

pub fn incl_from_excl(excl: i64, pct: i64) -> i64 {
    let num = i128::from(excl) * (10_000 + i128::from(pct));
    i64::try_from((num + 5_000).div_euclid(10_000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vat_arithmetic() {
        assert_eq!(excl_from_incl(1995, 2100), 1649);
        assert_eq!(incl_from_excl(1649, 2100), 1995);
        assert_eq!(excl_from_incl(1090, 900), 1000);
        assert_eq!(excl_from_incl(500, 0), 500);
    }
}
