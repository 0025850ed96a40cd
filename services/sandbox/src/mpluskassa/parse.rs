//! Request XML to records. `apply_*` copy only the elements present, which gives both create
//! (onto a default record) and update (onto the stored record) semantics.

use super::model::{Address, Article, Payment, Qty, Relation};
use super::xml::{Node, XmlError};
use ferry_mplusqapi::records as wire;

fn set_str(node: &Node, name: &str, field: &mut String) {
    if let Some(v) = node.str(name) {
        *field = v.to_owned();
    }
}

/// Copies a sent string (an absent element leaves the field alone).
fn set(value: &Option<String>, field: &mut String) {
    if let Some(v) = value {
        field.clone_from(v);
    }
}

/// Copies the simple fields of a `tns:Relation`. Contacts are returned separately (the store
/// numbers them); server-managed fields (numbers, markers, timestamps) are left alone.
pub fn apply_relation(
    from: &wire::Relation,
    r: &mut Relation,
) -> Result<Option<Vec<Relation>>, XmlError> {
    set(&from.ext_relation_id, &mut r.ext_relation_id);
    if let Some(v) = from.active {
        r.active = v;
    }
    set(&from.name, &mut r.name);
    set(&from.address, &mut r.address);
    set(&from.zipcode, &mut r.zipcode);
    set(&from.city, &mut r.city);
    set(&from.country, &mut r.country);
    set(&from.delivery_address, &mut r.delivery_address);
    set(&from.delivery_zipcode, &mut r.delivery_zipcode);
    set(&from.delivery_city, &mut r.delivery_city);
    set(&from.delivery_country, &mut r.delivery_country);
    set(&from.contact, &mut r.contact);
    set(&from.telephone, &mut r.telephone);
    set(&from.mobile, &mut r.mobile);
    set(&from.email, &mut r.email);
    set(&from.website, &mut r.website);
    if from.birth_date.is_some() {
        r.birth_date = from.birth_date;
    }
    set(&from.relation_code, &mut r.relation_code);
    if from.payment_within_days.is_some() {
        r.payment_within_days = from.payment_within_days;
    }
    set(&from.vat_number, &mut r.vat_number);
    set(&from.commerce_number, &mut r.commerce_number);
    set(&from.extra_text, &mut r.extra_text);
    if let Some(v) = &from.default_vat_method {
        let v = v.trim();
        if !matches!(
            v,
            "VAT-METHOD-INCLUSIVE"
                | "VAT-METHOD-EXCLUSIVE"
                | "VAT-METHOD-SHIFTED"
                | "VAT-METHOD-NONE"
        ) {
            return Err(XmlError::Invalid(format!("`{v}` is not a VatMethod")));
        }
        r.default_vat_method = Some(v.to_owned());
    }
    set(&from.company_name, &mut r.company_name);
    let contacts = match &from.contact_list {
        None => None,
        Some(list) => {
            let mut contacts = Vec::new();
            for c in &list.relation {
                let mut contact = Relation {
                    relation_number: c.relation_number.unwrap_or(0),
                    active: true,
                    ..Relation::default()
                };
                apply_relation(c, &mut contact)?;
                contacts.push(contact);
            }
            Some(contacts)
        }
    };
    Ok(contacts)
}

/// Which price fields an article element set (the other is derived from the VAT rate).
#[derive(Debug, Default, Clone, Copy)]
pub struct PriceFields {
    pub incl: bool,
    pub excl: bool,
}

pub fn apply_article(node: &Node, a: &mut Article) -> Result<PriceFields, XmlError> {
    set_str(node, "extArticleId", &mut a.ext_article_id);
    set_str(node, "pluNumber", &mut a.plu_number);
    if let Some(v) = node.bool("active")? {
        a.active = v;
    }
    set_str(node, "description", &mut a.description);
    set_str(node, "colour", &mut a.colour);
    set_str(node, "size", &mut a.size);
    set_str(node, "invoiceText", &mut a.invoice_text);
    set_str(node, "receiptText", &mut a.receipt_text);
    set_str(node, "barcode", &mut a.barcode);
    set_str(node, "brandName", &mut a.brand_name);
    set_str(node, "extraText", &mut a.extra_text);
    if let Some(v) = node.i32("turnoverGroup")? {
        a.turnover_group = v;
    }
    if let Some(v) = node.i32("vatCode")? {
        a.vat_code = v;
    }
    if let Some(v) = node.i64("purchasePrice")? {
        a.purchase_price = Some(v);
    }
    let mut prices = PriceFields::default();
    if let Some(v) = node.i64("priceIncl")? {
        a.price_incl = v;
        prices.incl = true;
    }
    if let Some(v) = node.i64("priceExcl")? {
        a.price_excl = v;
        prices.excl = true;
    }
    if let Some(v) = node.bool("webshop")? {
        a.webshop = v;
    }
    if let Some(v) = node.bool("stockArticle")? {
        a.stock_article = v;
    }
    Ok(prices)
}

pub fn address(node: &Node) -> Address {
    let s = |n: &str| node.string(n).unwrap_or_default();
    Address {
        name: s("name"),
        contact: s("contact"),
        address: s("address"),
        zipcode: s("zipcode"),
        city: s("city"),
        country: s("country"),
        company_name: s("companyName"),
    }
}

/// A line as requested; prices and VAT are completed from the article by the store.
#[derive(Debug, Clone)]
pub struct LineRequest {
    pub article_number: i64,
    pub plu_number: Option<String>,
    pub text: Option<String>,
    pub quantity: Qty,
    pub price: Option<i64>,
    pub price_excl: Option<i64>,
    pub vat_code: Option<i32>,
    pub turnover_group: Option<i32>,
    pub discount_percentage: Option<i32>,
    pub discount_amount: Option<i64>,
}

pub fn line(node: &Node) -> Result<LineRequest, XmlError> {
    let article_number = node.required_i64("articleNumber")?;
    let data = node.child("data");
    let (quantity, dp) = match data {
        Some(d) => (
            d.required_i64("quantity")?,
            d.i32("decimalPlaces")?.unwrap_or(0),
        ),
        None => (1, 0),
    };
    let quantity = Qty::from_wire(quantity, dp).ok_or_else(|| {
        XmlError::Invalid(format!(
            "quantity {quantity} with decimalPlaces {dp} is not supported"
        ))
    })?;
    let opt_i64 = |n: &str| data.map(|d| d.i64(n)).transpose().map(Option::flatten);
    let opt_i32 = |n: &str| data.map(|d| d.i32(n)).transpose().map(Option::flatten);
    Ok(LineRequest {
        article_number,
        plu_number: node.string("pluNumber"),
        text: node.string("text"),
        quantity,
        price: opt_i64("price")?,
        price_excl: opt_i64("priceExcl")?,
        vat_code: opt_i32("vatCode")?,
        turnover_group: opt_i32("turnoverGroup")?,
        discount_percentage: opt_i32("discountPercentage")?,
        discount_amount: opt_i64("discountAmount")?,
    })
}

pub fn payments(list: Option<&Node>) -> Result<Vec<Payment>, XmlError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    list.all("payment")
        .map(|p| {
            Ok(Payment {
                method: p.required("method")?.text.trim().to_owned(),
                amount: p.required_i64("amount")?,
                description: p.string("description").unwrap_or_default(),
                ..Payment::default()
            })
        })
        .collect()
}
