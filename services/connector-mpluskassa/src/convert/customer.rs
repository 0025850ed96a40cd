//! Relations to canonical customers, and canonical customers to relation writes.

use ferry_proto::model::{ContactPerson, Customer, CustomerKind, SourceRef};
use ferry_proto::{Email, ExternalId, Name, Phone, System, VatNumber};

use super::{Refusal, address, split_name, street_line};
use crate::soap::requests::RelationWrite;
use crate::soap::types as mk;

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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A person with an address and a phone number.
    pub(in crate::convert) fn relation() -> mk::Relation {
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
}
