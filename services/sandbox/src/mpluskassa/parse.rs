//! Wire records (as read by [`ferry_mplusqapi`]) to stored records. `apply_*` copy only the
//! elements present, which gives both create (onto a default record) and update (onto the
//! stored record) semantics.

use super::model::{Address, Article, Payment, Qty, Relation};
use super::xml::XmlError;
use ferry_mplusqapi::records as wire;

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

pub fn apply_article(from: &wire::Article, a: &mut Article) -> PriceFields {
    set(&from.ext_article_id, &mut a.ext_article_id);
    set(&from.plu_number, &mut a.plu_number);
    if let Some(v) = from.active {
        a.active = v;
    }
    set(&from.description, &mut a.description);
    set(&from.colour, &mut a.colour);
    set(&from.size, &mut a.size);
    set(&from.invoice_text, &mut a.invoice_text);
    set(&from.receipt_text, &mut a.receipt_text);
    set(&from.barcode, &mut a.barcode);
    set(&from.brand_name, &mut a.brand_name);
    set(&from.extra_text, &mut a.extra_text);
    if let Some(v) = from.turnover_group {
        a.turnover_group = v;
    }
    if let Some(v) = from.vat_code {
        a.vat_code = v;
    }
    if from.purchase_price.is_some() {
        a.purchase_price = from.purchase_price;
    }
    let mut prices = PriceFields::default();
    if let Some(v) = from.price_incl {
        a.price_incl = v;
        prices.incl = true;
    }
    if let Some(v) = from.price_excl {
        a.price_excl = v;
        prices.excl = true;
    }
    if let Some(v) = from.webshop {
        a.webshop = v;
    }
    if let Some(v) = from.stock_article {
        a.stock_article = v;
    }
    prices
}

pub fn address(from: &wire::Address) -> Address {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    Address {
        name: s(&from.name),
        contact: s(&from.contact),
        address: s(&from.address),
        zipcode: s(&from.zipcode),
        city: s(&from.city),
        country: s(&from.country),
        company_name: s(&from.company_name),
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

/// A `tns:OrderLine` as requested: `articleNumber` is required, and so is `quantity` when the
/// line has `data` (without it, one piece).
pub fn line(from: &wire::OrderLine) -> Result<LineRequest, XmlError> {
    let missing = |name: &str, parent: &str| {
        XmlError::Invalid(format!("missing required element `{name}` in `{parent}`"))
    };
    let article_number = from
        .article_number
        .ok_or_else(|| missing("articleNumber", "line"))?;
    let data = from.data.as_ref();
    let (quantity, dp) = match data {
        Some(d) => (
            d.quantity.ok_or_else(|| missing("quantity", "data"))?,
            d.decimal_places.unwrap_or(0),
        ),
        None => (1, 0),
    };
    let quantity = i32::try_from(dp)
        .ok()
        .and_then(|dp| Qty::from_wire(quantity, dp))
        .ok_or_else(|| {
            XmlError::Invalid(format!(
                "quantity {quantity} with decimalPlaces {dp} is not supported"
            ))
        })?;
    Ok(LineRequest {
        article_number,
        plu_number: from.plu_number.clone(),
        text: from.text.clone(),
        quantity,
        price: data.and_then(|d| d.price),
        price_excl: data.and_then(|d| d.price_excl),
        vat_code: data.and_then(|d| d.vat_code),
        turnover_group: data.and_then(|d| d.turnover_group),
        discount_percentage: data.and_then(|d| d.discount_percentage),
        discount_amount: data.and_then(|d| d.discount_amount),
    })
}

/// The payments sent with an order.
pub fn payments(list: Option<&wire::PaymentList>) -> Vec<Payment> {
    list.iter()
        .flat_map(|l| &l.payment)
        .map(|p| Payment {
            method: p.method.trim().to_owned(),
            amount: p.amount,
            description: p.description.clone().unwrap_or_default(),
            ..Payment::default()
        })
        .collect()
}
