//! MplusKASSA records to canonical models (for observed events) and canonical commands to
//! MplusKASSA writes. A record that cannot become a canonical model is refused with a reason
//! that names it (and never holds an e-mail address in clear).

use std::collections::BTreeMap;

use chrono::Utc;
use ferry_proto::model::{
    Address, Attribute, Category, CategoryRef, ContactPerson, Customer, CustomerKind, Order,
    OrderLine, OrderLines, OrderStatus, OrderTotals, OrderType, Product, ProductKind, SourceRef,
    StockLevel, Variant, split_street_line,
};
use ferry_proto::{
    CountryCode, CurrencyCode, Email, ExternalId, Gtin, LongText, Money, Name, Phone,
    PositiveQuantity, Postcode, Quantity, Sku, System, TaxRate, VatNumber,
};

use crate::config::SkuSource;
use crate::soap::requests::{AddressWrite, RelationWrite};
use crate::soap::types::{self as mk, VatScale};

/// Why a record cannot be observed.
pub type Refusal = String;

fn name(raw: &str) -> Option<Name> {
    Name::parse(raw).ok()
}

/// Splits a full name into first name and the rest (`Jan de Vries` -> `Jan`, `de Vries`).
pub fn split_name(full: &str) -> (Option<Name>, Option<Name>) {
    let full = full.trim();
    match full.split_once(char::is_whitespace) {
        Some((first, rest)) => (name(first), name(rest)),
        None => (name(full), None),
    }
}

/// A canonical address from MplusKASSA's separate fields; `None` when it is incomplete or a
/// part does not parse (the raw record keeps everything).
pub fn address(street_line: &str, zipcode: &str, city: &str, country: &str) -> Option<Address> {
    let parts = split_street_line(street_line).ok()?;
    Some(Address {
        street: parts.street,
        house_number: parts.house_number,
        house_number_suffix: parts.house_number_suffix,
        postcode: Postcode::parse(zipcode).ok()?,
        city: Name::parse(city).ok()?,
        region: None,
        country: CountryCode::parse(country).ok()?,
    })
}

/// A relation as a canonical customer.
pub fn customer(r: &mk::Relation) -> Result<Customer, Refusal> {
    let email = Email::parse(&r.email).map_err(|e| {
        format!(
            "relation {} has no usable e-mail address: {e}",
            r.relation_number
        )
    })?;
    let contact_record = r.contacts.first();
    let (first_name, last_name) = if r.is_company() {
        split_name(contact_record.map_or(r.contact.as_str(), |c| c.name.as_str()))
    } else {
        split_name(&r.name)
    };
    let phone = [r.telephone.as_str(), r.mobile.as_str()]
        .into_iter()
        .find_map(|p| Phone::parse(p).ok());
    let kind = if r.is_company() {
        let company_name = Name::parse(&r.company_name)
            .map_err(|e| format!("relation {}: {e}", r.relation_number))?;
        CustomerKind::Company {
            company_name,
            vat_number: VatNumber::parse(&r.vat_number).ok(),
            contact: ContactPerson {
                first_name: first_name.clone(),
                last_name: last_name.clone(),
                email: contact_record
                    .and_then(|c| Email::parse(&c.email).ok())
                    .filter(|e| *e != email),
                phone: contact_record
                    .and_then(|c| Phone::parse(&c.telephone).ok())
                    .or_else(|| phone.clone()),
            },
        }
    } else {
        CustomerKind::Person
    };
    Ok(Customer {
        email,
        kind,
        first_name,
        last_name,
        phone,
        billing_address: address(&r.address, &r.zipcode, &r.city, &r.country),
        shipping_address: address(
            &r.delivery_address,
            &r.delivery_zipcode,
            &r.delivery_city,
            &r.delivery_country,
        ),
        source_ref: Some(SourceRef {
            system: System::Mpluskassa,
            id: ExternalId::parse(&r.relation_number.to_string()).map_err(|e| e.to_string())?,
        }),
        opted_in: None,
    })
}

/// The SKU of an article.
pub fn article_sku(source: SkuSource, a: &mk::Article) -> Result<Sku, Refusal> {
    match source {
        SkuSource::PluNumber => Sku::parse(&a.plu_number).map_err(|e| {
            format!(
                "article {} has no usable PLU number (the SKU): {e}",
                a.article_number
            )
        }),
        SkuSource::ArticleNumber => {
            Sku::parse(&a.article_number.to_string()).map_err(|e| e.to_string())
        }
    }
}

fn attributes(a: &mk::Article) -> Vec<Attribute> {
    [("colour", &a.colour), ("size", &a.size)]
        .into_iter()
        .filter_map(|(n, v)| {
            Some(Attribute {
                name: Name::parse(n).ok()?,
                value: Name::parse(v).ok()?,
            })
        })
        .collect()
}

/// A product (with its active articles) as a canonical product: one article is a simple
/// product, several are a configurable product whose SKU is the product number.
/// `Ok(None)`: every article is inactive (a deletion, which the contract cannot express).
pub fn product(
    p: &mk::Product,
    source: SkuSource,
    currency: CurrencyCode,
    scale: VatScale,
) -> Result<Option<Product>, Refusal> {
    let active: Vec<&mk::Article> = p.articles.iter().filter(|a| a.active).collect();
    let Some(first) = active.first() else {
        return Ok(None);
    };
    let title_text = if p.description.trim().is_empty() {
        &first.description
    } else {
        &p.description
    };
    let title = Name::parse(title_text).map_err(|e| {
        format!(
            "product {} has no usable description: {e}",
            p.product_number
        )
    })?;
    let tax_rate = TaxRate::new(scale.percent(first.vat_percentage)).ok();
    let category = p.group_numbers.first().and_then(|g| {
        Some(CategoryRef {
            key: ExternalId::parse(&g.to_string()).ok()?,
            name: None,
        })
    });
    let mut properties = BTreeMap::new();
    if !first.brand_name.is_empty() {
        properties.insert("brand".to_owned(), first.brand_name.clone());
    }
    properties.insert("product_number".to_owned(), p.product_number.to_string());
    let (sku, kind, gtin, attrs) = if active.len() == 1 {
        (
            article_sku(source, first)?,
            ProductKind::Simple,
            Gtin::parse(&first.barcode).ok(),
            attributes(first),
        )
    } else {
        let mut variants = Vec::with_capacity(active.len());
        for a in &active {
            variants.push(Variant {
                sku: article_sku(source, a)?,
                title: name(&a.description),
                price: Some(Money::from_minor_units(a.price_incl, currency)),
                gtin: Gtin::parse(&a.barcode).ok(),
                attributes: attributes(a),
                quantity: None,
            });
        }
        let sku = Sku::parse(&p.product_number.to_string()).map_err(|e| e.to_string())?;
        (
            sku,
            ProductKind::Configurable { variants },
            None,
            Vec::new(),
        )
    };
    Ok(Some(Product {
        sku,
        title,
        short_description: LongText::parse(&first.extra_text).ok(),
        long_description: LongText::parse(&p.extra_text).ok(),
        price: Money::from_minor_units(first.price_incl, currency),
        price_includes_tax: true,
        tax_rate,
        gtin,
        category,
        attributes: attrs,
        properties,
        kind,
        quantity: None,
    }))
}

/// An article group as a canonical category (the key is the group number).
pub fn category(g: &mk::ArticleGroup) -> Result<Category, Refusal> {
    Ok(Category {
        key: ExternalId::parse(&g.group_number.to_string()).map_err(|e| e.to_string())?,
        name: Name::parse(&g.name)
            .map_err(|e| format!("article group {} has no usable name: {e}", g.group_number))?,
        parent: (g.parent > 0)
            .then(|| ExternalId::parse(&g.parent.to_string()).ok())
            .flatten(),
    })
}

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

fn order_address(a: &mk::OrderAddress) -> Option<Address> {
    address(&a.address, &a.zipcode, &a.city, &a.country)
}

/// An order (with its relation) as a canonical order. `sku_of` gives the SKU of a line.
///
/// The canonical order number is the `extOrderId` (the number the order has in every
/// system, e.g. the webshop's), else the installation's own `orderId`, so that an order
/// MailChimp already has is found there by the same number and never created twice.
pub fn order(
    o: &mk::Order,
    relation: &mk::Relation,
    currency: CurrencyCode,
    scale: VatScale,
    sku_of: impl Fn(&mk::OrderLine) -> Result<Sku, Refusal>,
) -> Result<Order, Refusal> {
    let label = format!("order {}", o.order_id);
    let customer = customer(relation).map_err(|e| format!("{label}: {e}"))?;
    let mut lines = Vec::with_capacity(o.lines.len());
    for (i, l) in o.lines.iter().enumerate() {
        let quantity = PositiveQuantity::new(l.quantity)
            .map_err(|e| format!("{label} line {}: {e}", i + 1))?;
        lines.push(OrderLine {
            sku: sku_of(l).map_err(|e| format!("{label} line {}: {e}", i + 1))?,
            title: name(&l.text),
            quantity,
            unit_price: Money::from_minor_units(l.price, currency),
            price_includes_tax: true,
            tax_rate: TaxRate::new(scale.percent(l.vat_percentage)).ok(),
            discount: l
                .discount_amount
                .filter(|d| *d != 0)
                .map(|d| Money::from_minor_units(d, currency)),
        });
    }
    let lines = OrderLines::new(lines).map_err(|e| format!("{label}: {e}"))?;
    Ok(Order {
        external_id: ExternalId::parse(order_number(o)).map_err(|e| format!("{label}: {e}"))?,
        order_type: OrderType::Order,
        customer,
        lines,
        totals: OrderTotals {
            subtotal: Money::from_minor_units(o.total_incl, currency),
            tax: Money::from_minor_units(o.total_incl - o.total_excl, currency),
            shipping: Money::zero(currency),
            total: Money::from_minor_units(o.total_incl, currency),
        },
        currency,
        payment_method: name(&o.payment_method),
        payment_term: None,
        billing_address: o.invoice_address.as_ref().and_then(order_address),
        shipping_address: o.delivery_address.as_ref().and_then(order_address),
        placed_at: o.entry_timestamp.unwrap_or_else(Utc::now),
        notes: None,
        status: if o.is_cancelled() {
            OrderStatus::Cancelled
        } else {
            OrderStatus::Open
        },
    })
}

/// The number an order is known by across systems: its `extOrderId`, else its `orderId`.
pub fn order_number(o: &mk::Order) -> &str {
    if o.ext_order_id.trim().is_empty() {
        &o.order_id
    } else {
        &o.ext_order_id
    }
}

/// The street line of a canonical address (`Dorpsstraat 12a`, `Veldstraat 102-3`).
pub fn street_line(a: &Address) -> String {
    a.street_line()
}

/// A canonical customer as a relation write; contacts of an existing company keep their
/// numbers (the first contact is the one Ferry manages).
pub fn relation_write(c: &Customer, existing: Option<&mk::Relation>) -> RelationWrite {
    let person = c.full_name();
    let billing = c.billing_address.as_ref();
    let shipping = c.shipping_address.as_ref();
    let mut w = RelationWrite {
        relation_number: existing.map(|r| r.relation_number),
        name: person.clone().unwrap_or_else(|| c.email.to_string()),
        address: billing.map(street_line),
        zipcode: billing.map(|a| a.postcode.to_string()),
        city: billing.map(|a| a.city.to_string()),
        country: billing.map(|a| a.country.to_string()),
        delivery_address: shipping.map(street_line),
        delivery_zipcode: shipping.map(|a| a.postcode.to_string()),
        delivery_city: shipping.map(|a| a.city.to_string()),
        delivery_country: shipping.map(|a| a.country.to_string()),
        contact: None,
        telephone: c.phone.as_ref().map(|p| p.to_string()),
        email: Some(c.email.to_string()),
        vat_number: None,
        contacts: None,
        company_name: None,
        payment_within_days: None,
    };
    if let CustomerKind::Company {
        company_name,
        vat_number,
        contact,
    } = &c.kind
    {
        let contact_name = [&contact.first_name, &contact.last_name]
            .into_iter()
            .flatten()
            .map(Name::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let contact_name = if contact_name.is_empty() {
            person.unwrap_or_else(|| c.email.to_string())
        } else {
            contact_name
        };
        w.name = company_name.to_string();
        w.company_name = Some(company_name.to_string());
        w.vat_number = vat_number.as_ref().map(|v| v.to_string());
        w.contact = Some(contact_name.clone());
        let mut contacts = Vec::new();
        contacts.push(RelationWrite {
            relation_number: existing
                .and_then(|r| r.contacts.first())
                .map(|c| c.relation_number)
                .filter(|n| *n > 0),
            name: contact_name,
            email: Some(contact.email.as_ref().unwrap_or(&c.email).to_string()),
            telephone: contact
                .phone
                .as_ref()
                .or(c.phone.as_ref())
                .map(|p| p.to_string()),
            ..RelationWrite::default()
        });
        // Other contacts of the company stay as they are.
        if let Some(r) = existing {
            contacts.extend(r.contacts.iter().skip(1).map(|k| RelationWrite {
                relation_number: Some(k.relation_number),
                name: k.name.clone(),
                ..RelationWrite::default()
            }));
        }
        w.contacts = Some(contacts);
    }
    w
}

/// Whether writing `w` over `current` would change nothing MplusKASSA keeps: every field `w`
/// sends (empty ones are left out of a write) equals the relation's, the e-mail ignoring case,
/// and so do the contact persons when `w` sends them. An upsert then needs no `updateRelation`.
pub fn relation_unchanged(w: &RelationWrite, current: &mk::Relation) -> bool {
    fn same(sent: &Option<String>, kept: &str) -> bool {
        sent.as_deref().is_none_or(|v| v.is_empty() || v == kept)
    }
    w.name == current.name
        && current.active
        && same(&w.address, &current.address)
        && same(&w.zipcode, &current.zipcode)
        && same(&w.city, &current.city)
        && same(&w.country, &current.country)
        && same(&w.delivery_address, &current.delivery_address)
        && same(&w.delivery_zipcode, &current.delivery_zipcode)
        && same(&w.delivery_city, &current.delivery_city)
        && same(&w.delivery_country, &current.delivery_country)
        && same(&w.contact, &current.contact)
        && same(&w.telephone, &current.telephone)
        && w.email
            .as_deref()
            .is_none_or(|e| e.is_empty() || e.eq_ignore_ascii_case(&current.email))
        && same(&w.vat_number, &current.vat_number)
        && same(&w.company_name, &current.company_name)
        && w.payment_within_days
            .is_none_or(|d| current.payment_within_days == Some(d))
        && w.contacts.as_ref().is_none_or(|contacts| {
            contacts.len() == current.contacts.len()
                && contacts
                    .iter()
                    .zip(&current.contacts)
                    .all(|(w, c)| relation_unchanged(w, c))
        })
}

/// A canonical address as an order address.
pub fn address_write(a: &Address, name: Option<String>, company: Option<String>) -> AddressWrite {
    AddressWrite {
        name,
        contact: None,
        address: Some(street_line(a)),
        zipcode: Some(a.postcode.to_string()),
        city: Some(a.city.to_string()),
        country: Some(a.country.to_string()),
        company_name: company,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation() -> mk::Relation {
        mk::Relation {
            relation_number: 20001,
            active: true,
            name: "Sanne de Jong".into(),
            address: "Prinsengracht 3".into(),
            zipcode: "1015 DV".into(),
            city: "Amsterdam".into(),
            country: "NL".into(),
            telephone: "+31 6 1000 2000".into(),
            email: "Sanne.deJong@example.com".into(),
            ..mk::Relation::default()
        }
    }

    #[test]
    fn an_upsert_of_what_the_relation_holds_changes_nothing() {
        let current = relation();
        let c = customer(&current).expect("valid");
        let write = relation_write(&c, Some(&current));
        assert!(relation_unchanged(&write, &current), "{write:?}");
        for change in [
            |r: &mut mk::Relation| r.city = "Utrecht".into(),
            |r: &mut mk::Relation| r.telephone = String::new(),
            |r: &mut mk::Relation| r.name = "Sanne Jong".into(),
            |r: &mut mk::Relation| r.active = false,
        ] {
            let mut changed = current.clone();
            change(&mut changed);
            assert!(!relation_unchanged(&write, &changed), "{changed:?}");
        }
        // Only a differently cased e-mail: nothing to write.
        let mut upper = current.clone();
        upper.email = upper.email.to_uppercase();
        assert!(relation_unchanged(&write, &upper));
    }

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

    #[test]
    fn persons_and_companies() {
        let c = customer(&relation()).expect("valid");
        assert_eq!(c.email.as_str(), "sanne.dejong@example.com");
        assert_eq!(c.first_name.as_ref().map(Name::as_str), Some("Sanne"));
        assert_eq!(c.last_name.as_ref().map(Name::as_str), Some("de Jong"));
        assert_eq!(c.kind, CustomerKind::Person);
        let a = c.billing_address.expect("address");
        assert_eq!(a.house_number.map(|h| h.to_string()).as_deref(), Some("3"));

        let mut company = relation();
        company.company_name = "Bakkerij BV".into();
        company.name = "Bakkerij BV".into();
        company.contacts = vec![mk::Relation {
            relation_number: 20002,
            name: "Els Bakker".into(),
            email: "els@bakkerij.nl".into(),
            ..mk::Relation::default()
        }];
        let c = customer(&company).expect("valid");
        let CustomerKind::Company { contact, .. } = &c.kind else {
            panic!("a company");
        };
        assert_eq!(contact.first_name.as_ref().map(Name::as_str), Some("Els"));
        let w = relation_write(&c, Some(&company));
        assert_eq!(w.company_name.as_deref(), Some("Bakkerij BV"));
        assert_eq!(
            w.contacts.as_ref().expect("contacts")[0].relation_number,
            Some(20002)
        );

        let mut no_mail = relation();
        no_mail.email = String::new();
        let why = customer(&no_mail).expect_err("refused");
        assert!(why.contains("relation 20001"), "{why}");
    }

    #[test]
    fn orders_are_numbered_by_their_external_order_id() {
        let mut o = mk::Order {
            order_id: "00000000-0000-4000-8000-000000000001".into(),
            ext_order_id: "WS-240101".into(),
            relation_number: 20001,
            total_incl: 2495,
            total_excl: 2062,
            lines: vec![mk::OrderLine {
                article_number: 10001,
                plu_number: "100101".into(),
                quantity: rust_decimal::Decimal::ONE,
                price: 2495,
                vat_percentage: 2100,
                ..mk::OrderLine::default()
            }],
            ..mk::Order::default()
        };
        let sku = |_: &mk::OrderLine| Sku::parse("100101").map_err(|e| e.to_string());
        let number = |o: &mk::Order| {
            order(o, &relation(), CurrencyCode::EUR, VatScale::Hundredths, sku)
                .expect("valid")
                .external_id
                .to_string()
        };
        assert_eq!(number(&o), "WS-240101", "the number every system knows");
        o.ext_order_id = String::new();
        assert_eq!(
            number(&o),
            "00000000-0000-4000-8000-000000000001",
            "an order entered at the till has only its own id"
        );
    }

    #[test]
    fn products_simple_and_configurable() {
        let article = |n: i64, plu: &str, size: &str| mk::Article {
            article_number: n,
            plu_number: plu.into(),
            active: true,
            description: format!("Shirt {size}"),
            size: size.into(),
            vat_percentage: 2100,
            price_incl: 2495,
            ..mk::Article::default()
        };
        let mut p = mk::Product {
            product_number: 1001,
            description: "Shirt".into(),
            articles: vec![article(10001, "100101", "S")],
            group_numbers: vec![11],
            ..mk::Product::default()
        };
        let simple = product(
            &p,
            SkuSource::PluNumber,
            CurrencyCode::EUR,
            VatScale::Hundredths,
        )
        .expect("valid")
        .expect("active");
        assert_eq!(simple.sku.as_str(), "100101");
        assert_eq!(simple.kind, ProductKind::Simple);
        assert_eq!(
            simple.tax_rate.map(|t| t.to_string()).as_deref(),
            Some("21")
        );
        assert_eq!(simple.price.to_minor_units(), Ok(2495));

        p.articles.push(article(10002, "100102", "M"));
        let conf = product(
            &p,
            SkuSource::ArticleNumber,
            CurrencyCode::EUR,
            VatScale::Hundredths,
        )
        .expect("valid")
        .expect("active");
        assert_eq!(conf.sku.as_str(), "1001");
        let ProductKind::Configurable { variants } = &conf.kind else {
            panic!("configurable");
        };
        assert_eq!(variants[1].sku.as_str(), "10002");

        p.articles[1].plu_number = String::new();
        assert!(
            product(
                &p,
                SkuSource::PluNumber,
                CurrencyCode::EUR,
                VatScale::Hundredths
            )
            .is_err()
        );
        for a in &mut p.articles {
            a.active = false;
        }
        assert_eq!(
            product(
                &p,
                SkuSource::PluNumber,
                CurrencyCode::EUR,
                VatScale::Hundredths
            ),
            Ok(None)
        );
    }
}
