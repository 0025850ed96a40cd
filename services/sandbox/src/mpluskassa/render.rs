//! Records to XML through the shared wire types of [`ferry_mplusqapi`] (the WSDL's element
//! names and sequence order are theirs): each function turns a stored record into its wire
//! record and appends it to the response being written.

use ferry_mplusqapi::envelope;
use ferry_mplusqapi::records as wire;
use serde::Serialize;

use super::model::{
    Address, Article, ArticleGroup, Branch, Employee, Invoice, Order, OrderLine, Payment,
    PaymentMethod, Product, Relation, TurnoverGroup, VatGroup,
};
use super::xml::XmlWriter;

/// Appends `value` as element `name`.
fn put<T: Serialize>(w: &mut XmlWriter, name: &str, value: &T) {
    match envelope::element(name, value) {
        Ok(xml) => w.raw(&xml),
        // The wire types hold only strings, numbers and booleans: nothing fails to write.
        Err(e) => tracing::error!(element = name, error = %e, "cannot render a record"),
    }
}

/// `Some` of a non-empty string (the WSDL's optional strings, left out when empty).
fn text(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

fn relation_wire(r: &Relation) -> wire::Relation {
    wire::Relation {
        relation_number: Some(r.relation_number),
        ext_relation_id: text(&r.ext_relation_id),
        sync_marker: Some(r.sync_marker),
        create_timestamp: r.create_timestamp,
        change_timestamp: r.change_timestamp,
        active: Some(r.active),
        name: Some(r.name.clone()),
        address: Some(r.address.clone()),
        zipcode: Some(r.zipcode.clone()),
        city: Some(r.city.clone()),
        country: Some(r.country.clone()),
        delivery_address: text(&r.delivery_address),
        delivery_zipcode: text(&r.delivery_zipcode),
        delivery_city: text(&r.delivery_city),
        delivery_country: text(&r.delivery_country),
        contact: text(&r.contact),
        telephone: text(&r.telephone),
        mobile: text(&r.mobile),
        email: Some(r.email.clone()),
        website: text(&r.website),
        birth_date: r.birth_date,
        relation_code: text(&r.relation_code),
        payment_within_days: r.payment_within_days,
        vat_number: text(&r.vat_number),
        commerce_number: text(&r.commerce_number),
        extra_text: text(&r.extra_text),
        default_vat_method: r.default_vat_method.clone(),
        contact_list: (!r.contact_list.is_empty()).then(|| wire::RelationList {
            relation: r.contact_list.iter().map(relation_wire).collect(),
        }),
        company_name: text(&r.company_name),
    }
}

/// `tns:Relation` (contacts nested in `contactList`).
pub fn relation(w: &mut XmlWriter, name: &str, r: &Relation) {
    put(w, name, &relation_wire(r));
}

fn article_wire(a: &Article) -> wire::Article {
    wire::Article {
        article_number: Some(a.article_number),
        ext_article_id: text(&a.ext_article_id),
        plu_number: Some(a.plu_number.clone()),
        sync_marker: Some(a.sync_marker),
        change_timestamp: a.change_timestamp,
        create_timestamp: a.create_timestamp,
        active: Some(a.active),
        description: Some(a.description.clone()),
        colour: text(&a.colour),
        size: text(&a.size),
        invoice_text: text(&a.invoice_text),
        receipt_text: text(&a.receipt_text),
        barcode: text(&a.barcode),
        brand_name: text(&a.brand_name),
        extra_text: text(&a.extra_text),
        turnover_group: Some(a.turnover_group),
        vat_code: Some(a.vat_code),
        vat_percentage: Some(a.vat_percentage),
        purchase_price: a.purchase_price,
        price_incl: Some(a.price_incl),
        price_excl: Some(a.price_excl),
        webshop: Some(a.webshop),
        stock_article: Some(a.stock_article),
    }
}

/// `tns:Product` with the given subset of its articles.
pub fn product(w: &mut XmlWriter, p: &Product, articles: &[&Article]) {
    let product = wire::Product {
        product_number: Some(p.product_number),
        sync_marker: Some(p.sync_marker),
        description: Some(p.description.clone()),
        extra_text: text(&p.extra_text),
        article_list: Some(wire::ArticleList {
            article: articles.iter().map(|a| article_wire(a)).collect(),
        }),
        group_numbers: p.group_numbers.clone(),
    };
    put(w, "product", &product);
}

pub fn branch(w: &mut XmlWriter, b: &Branch) {
    let branch = wire::Branch {
        branch_number: Some(b.number),
        branch_name: b.name.clone(),
        abbreviation: b.abbreviation.clone(),
        ext_branch_id: text(&b.ext_branch_id),
        workplaces: Some(wire::WorkplaceList {
            workplace: b
                .workplaces
                .iter()
                .map(|wp| wire::Workplace {
                    workplace_number: Some(wp.number),
                    workplace_name: wp.name.clone(),
                    is_mobile: Some(false),
                })
                .collect(),
        }),
        country_code: Some(b.country_code),
        country_iso3: Some(b.country_iso3.clone()),
        country_name: Some(b.country_name.clone()),
    };
    put(w, "branch", &branch);
}

pub fn employee(w: &mut XmlWriter, e: &Employee) {
    let employee = wire::Employee {
        employee_number: Some(e.number),
        sync_marker: Some(e.sync_marker),
        name: Some(e.name.clone()),
        email: text(&e.email),
        active: Some(e.active),
    };
    put(w, "employee", &employee);
}

pub fn payment_method(w: &mut XmlWriter, p: &PaymentMethod) {
    let method = wire::PaymentMethod {
        method: p.method.clone(),
        description: p.description.clone(),
        button_text: p.description.clone(),
        allow_negative_amount: true,
        active: Some(p.active),
        kind: Some(p.method_type.clone()),
        account_number: p.account_number,
    };
    put(w, "paymentMethod", &method);
}

pub fn vat_group(w: &mut XmlWriter, v: &VatGroup) {
    let group = wire::VatGroup {
        country_iso3: Some(v.country_iso3.clone()),
        vat_code: Some(v.vat_code),
        vat_percentage: Some(v.vat_percentage),
        account_number: v.account_number,
    };
    put(w, "vatGroup", &group);
}

pub fn turnover_group(w: &mut XmlWriter, t: &TurnoverGroup) {
    let group = wire::TurnoverGroup {
        turnover_group_type: "TURNOVER-GROUP-TYPE-TURNOVER".to_owned(),
        turnover_group: Some(t.number),
        turnover_group_name: t.name.clone(),
        default_account_number: Some(t.account_number),
        account_number: Some(t.account_number),
        default_vat_code: Some(t.default_vat_code),
    };
    put(w, "turnoverGroup", &group);
}

/// `tns:ArticleGroup` with its (already built) sub groups.
pub fn article_group_wire(
    g: &ArticleGroup,
    sub_groups: Vec<wire::ArticleGroup>,
    article_numbers: Option<&[i64]>,
) -> wire::ArticleGroup {
    wire::ArticleGroup {
        group_number: Some(g.group_number),
        sync_marker: Some(g.sync_marker),
        name: g.name.clone(),
        text: g.text.clone(),
        sub_group_list: wire::ArticleGroupList {
            article_groups: sub_groups,
        },
        sort_order: g.sort_order,
        product_numbers: Some(wire::NumberList {
            number: g.product_numbers.clone(),
        }),
        article_numbers: article_numbers.map(|n| wire::NumberList { number: n.to_vec() }),
        is_deleted: g.is_deleted.then_some(true),
    }
}

/// Appends a built article group.
pub fn article_group(w: &mut XmlWriter, g: &wire::ArticleGroup) {
    put(w, "articleGroups", g);
}

fn address(a: &Address) -> wire::Address {
    wire::Address {
        name: text(&a.name),
        contact: text(&a.contact),
        address: text(&a.address),
        zipcode: text(&a.zipcode),
        city: text(&a.city),
        country: text(&a.country),
        company_name: text(&a.company_name),
    }
}

fn line(l: &OrderLine, employee_number: i64) -> wire::OrderLine {
    let (quantity, dp) = l.quantity.to_wire();
    let discounted = l.discount_percentage.is_some() || l.discount_amount.is_some();
    wire::OrderLine {
        line_id: Some(l.line_id.clone()),
        employee_number: Some(employee_number),
        article_number: Some(l.article_number),
        plu_number: text(&l.plu_number),
        text: text(&l.text),
        data: Some(wire::LineData {
            quantity: Some(quantity),
            decimal_places: u32::try_from(dp).ok(),
            price: Some(l.price),
            price_excl: Some(l.price_excl),
            turnover_group: Some(l.turnover_group),
            vat_code: Some(l.vat_code),
            vat_percentage: Some(l.vat_percentage),
            discount_type: discounted.then(|| "DISCOUNT-TYPE-EXTERNAL-DISCOUNT".to_owned()),
            discount_percentage: l.discount_percentage,
            discount_amount: l.discount_amount,
            total_incl_amount: Some(l.total_incl),
            total_excl_amount: Some(l.total_excl),
        }),
    }
}

fn payment(p: &Payment) -> wire::Payment {
    wire::Payment {
        payment_id: Some(p.payment_id.clone()),
        method: p.method.clone(),
        description: text(&p.description),
        amount: p.amount,
        payment_method_type: p.payment_method_type.clone(),
    }
}

/// `tns:Order`; `vat` is the order's VAT breakdown `(vatCode, percentage, excl, vat)`.
pub fn order(
    w: &mut XmlWriter,
    name: &str,
    o: &Order,
    include_lines: bool,
    vat: &[(i32, i64, i64, i64)],
) {
    let order = wire::Order {
        order_id: o.order_id.clone(),
        ext_order_id: text(&o.ext_order_id),
        sync_marker: Some(o.sync_marker),
        order_type: Some(o.order_type.clone()),
        entry_branch_number: Some(o.entry_branch_number),
        employee_number: Some(o.employee_number),
        employee_name: Some(o.employee_name.clone()),
        entry_timestamp: o.entry_timestamp,
        relation_number: Some(o.relation_number),
        relation_name: Some(o.relation_name.clone()),
        delivery_address: o.delivery_address.as_ref().map(address),
        invoice_address: o.invoice_address.as_ref().map(address),
        financial_date: o.financial_date,
        financial_branch_number: Some(o.financial_branch_number),
        workplace_number: o.workplace_number,
        reference: text(&o.reference),
        total_incl_amount: Some(o.total_incl),
        total_excl_amount: Some(o.total_excl),
        vat_method: Some(o.vat_method.clone()),
        vat_group_list: Some(wire::OrderVatGroupList {
            vat_group: vat
                .iter()
                .map(
                    |&(vat_code, vat_percentage, excl_amount, vat_amount)| wire::OrderVatGroup {
                        vat_code,
                        vat_percentage,
                        excl_amount,
                        vat_amount,
                    },
                )
                .collect(),
        }),
        payment_method: text(&o.payment_method),
        change_counter: Some(o.change_counter),
        version_number: Some(o.version_number),
        prepaid_amount: Some(o.prepaid_amount),
        fully_paid: Some(o.fully_paid),
        delivery_state: Some(o.delivery_state.clone()),
        cancel_state: Some(o.cancel_state.clone()),
        complete_state: Some(o.complete_state.clone()),
        order_number: Some(wire::YearNumber {
            year: o.order_number.0,
            number: o.order_number.1,
        }),
        order_barcode: Some(o.order_string()),
        line_list: include_lines.then(|| wire::OrderLineList {
            line: o.lines.iter().map(|l| line(l, o.employee_number)).collect(),
        }),
        payment_list: Some(wire::PaymentList {
            payment: o.payments.iter().map(payment).collect(),
        }),
    };
    put(w, name, &order);
}

/// `tns:Invoice`.
pub fn invoice(w: &mut XmlWriter, i: &Invoice, include_lines: bool) {
    let ids = |ids: &[String]| {
        (!ids.is_empty()).then(|| ferry_mplusqapi::ops::IdList { id: ids.to_vec() })
    };
    let invoice = wire::Invoice {
        invoice_id: Some(i.invoice_id.clone()),
        ext_invoice_id: None,
        order_ids: ids(&i.order_ids),
        ext_order_ids: ids(&i.ext_order_ids),
        sync_marker: Some(i.sync_marker),
        invoice_number: Some(wire::YearNumber {
            year: i.invoice_number.0,
            number: i.invoice_number.1,
        }),
        invoice_type: Some(i.invoice_type.clone()),
        employee_number: Some(i.employee_number),
        entry_timestamp: Some(i.entry_timestamp),
        relation_number: Some(i.relation_number),
        relation_name: text(&i.relation_name),
        delivery_address: i.delivery_address.as_ref().map(address),
        invoice_address: i.invoice_address.as_ref().map(address),
        financial_date: Some(i.entry_timestamp.date()),
        financial_branch_number: Some(i.branch_number),
        workplace_number: i.workplace_number,
        entry_branch_number: Some(i.branch_number),
        reference: text(&i.reference),
        total_incl_amount: Some(i.total_incl),
        total_excl_amount: Some(i.total_excl),
        vat_method: Some("VAT-METHOD-INCLUSIVE".into()),
        paid_amount: Some(i.payments.iter().map(|p| p.amount).sum()),
        state: Some(
            if i.payments.iter().map(|p| p.amount).sum::<i64>() >= i.total_incl {
                "INVOICE-STATE-PAID"
            } else {
                "INVOICE-STATE-OUTSTANDING"
            }
            .into(),
        ),
        line_list: include_lines.then(|| wire::OrderLineList {
            line: i.lines.iter().map(|l| line(l, i.employee_number)).collect(),
        }),
        payment_list: Some(wire::PaymentList {
            payment: i.payments.iter().map(payment).collect(),
        }),
        credited_invoice_id: i.credited_invoice_id.clone(),
    };
    put(w, "invoice", &invoice);
}
