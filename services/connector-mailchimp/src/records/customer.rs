//! E-commerce customers and audience members -> canonical customers.

use ferry_mailchimp_wire::{self as wire, MergeAddress};
use ferry_proto::model::{
    Address, ContactPerson, Customer, CustomerKind, SourceRef, split_street_line,
};
use ferry_proto::{CountryCode, Email, ExternalId, Name, Phone, Postcode, System};
use serde_json::Value;

use super::{Ctx, Rejected, opt_name};

fn email(ctx: &Ctx<'_>, raw: Option<&str>) -> Result<Email, Rejected> {
    let raw = raw.ok_or_else(|| {
        ctx.reject("field `email_address`: missing, a customer needs an e-mail address")
    })?;
    ctx.field("email_address", Email::parse(raw))
}

/// An address's fields, by their meaning, with the names the record gives them.
pub(super) struct AddressFields<'a> {
    street: (&'static str, Option<&'a str>),
    city: (&'static str, Option<&'a str>),
    postcode: (&'static str, Option<&'a str>),
    region: (&'static str, Option<&'a str>),
    country: (&'static str, Option<&'a str>),
}

impl<'a> AddressFields<'a> {
    /// An e-commerce address (customer, order billing and shipping).
    pub(super) fn ecommerce(a: &'a wire::Address) -> Self {
        Self {
            street: ("address1", a.address1.as_deref()),
            city: ("city", a.city.as_deref()),
            postcode: ("postal_code", a.postal_code.as_deref()),
            region: ("province", a.province.as_deref()),
            country: ("country_code", a.country_code.as_deref()),
        }
    }

    /// A member's `ADDRESS` merge field.
    fn merge(a: &'a MergeAddress) -> Self {
        Self {
            street: ("addr1", a.addr1.as_deref()),
            city: ("city", a.city.as_deref()),
            postcode: ("zip", a.zip.as_deref()),
            region: ("state", a.state.as_deref()),
            country: ("country", a.country.as_deref()),
        }
    }
}

/// A field of address `field` that must be there.
fn required<'v>(
    ctx: &Ctx<'_>,
    field: &str,
    (key, value): (&str, Option<&'v str>),
) -> Result<&'v str, Rejected> {
    value.ok_or_else(|| ctx.reject(format!("field `{field}.{key}`: missing")))
}

/// The canonical address; `None` when it has neither street nor city.
pub(super) fn address(
    ctx: &Ctx<'_>,
    field: &str,
    fields: Option<AddressFields<'_>>,
) -> Result<Option<Address>, Rejected> {
    let Some(a) = fields else {
        return Ok(None);
    };
    if a.street.1.is_none() && a.city.1.is_none() {
        return Ok(None);
    }
    let at = |k: &str| format!("{field}.{k}");
    let street = required(ctx, field, a.street)?;
    let parts = ctx.field(&at(a.street.0), split_street_line(street))?;
    let postcode = required(ctx, field, a.postcode)?;
    let city = required(ctx, field, a.city)?;
    let country = required(ctx, field, a.country)?;
    Ok(Some(Address {
        street: parts.street,
        house_number: parts.house_number,
        house_number_suffix: parts.house_number_suffix,
        postcode: ctx.field(&at(a.postcode.0), Postcode::parse(postcode))?,
        city: ctx.field(&at(a.city.0), Name::parse(city))?,
        region: a
            .region
            .1
            .map(|r| ctx.field(&at(a.region.0), Name::parse(r)))
            .transpose()?,
        country: ctx.field(&at(a.country.0), CountryCode::parse(country))?,
    }))
}

/// What a customer and a member both say about a person.
struct Person<'a> {
    id: &'a str,
    email: Email,
    first_name: Option<Name>,
    last_name: Option<Name>,
    company: Option<Name>,
    phone: Option<Phone>,
    billing: Option<Address>,
}

/// The canonical customer: a company (with the person as its contact) when it names one,
/// else a person; one address, for billing and shipping.
fn person(ctx: &Ctx<'_>, p: Person<'_>, opted_in: Option<bool>) -> Result<Customer, Rejected> {
    let kind = match p.company {
        Some(company_name) => CustomerKind::Company {
            company_name,
            vat_number: None,
            contact: ContactPerson {
                first_name: p.first_name.clone(),
                last_name: p.last_name.clone(),
                email: None,
                phone: None,
            },
        },
        None => CustomerKind::Person,
    };
    Ok(Customer {
        kind,
        email: p.email,
        first_name: p.first_name,
        last_name: p.last_name,
        phone: p.phone,
        shipping_address: p.billing.clone(),
        billing_address: p.billing,
        source_ref: Some(SourceRef {
            system: System::Mailchimp,
            id: ctx.field("id", ExternalId::parse(p.id))?,
        }),
        opted_in,
    })
}

/// An e-commerce customer (`/ecommerce/stores/{id}/customers/{id}`).
pub fn customer(raw: &Value) -> Result<Customer, Rejected> {
    from_wire(&wire::read(raw))
}

/// An e-commerce customer, as read.
pub(super) fn from_wire(c: &wire::Customer) -> Result<Customer, Rejected> {
    let id = c.id.clone().unwrap_or_default();
    let ctx = Ctx::of("customer", &id)?;
    let email = email(&ctx, c.email_address.as_deref())?;
    let first_name = opt_name(&ctx, "first_name", c.first_name.as_deref())?;
    let last_name = opt_name(&ctx, "last_name", c.last_name.as_deref())?;
    let company = opt_name(&ctx, "company", c.company.as_deref())?;
    let billing = address(
        &ctx,
        "address",
        c.address.as_ref().map(AddressFields::ecommerce),
    )?;
    let phone = c
        .sms_phone_number
        .as_deref()
        .map(|p| ctx.field("sms_phone_number", Phone::parse(p)))
        .transpose()?;
    person(
        &ctx,
        Person {
            id: &id,
            email,
            first_name,
            last_name,
            company,
            phone,
            billing,
        },
        c.opt_in_status,
    )
}

/// An audience member (`/lists/{id}/members/{hash}`); `company_field` names the merge
/// field holding a company name.
pub fn member(raw: &Value, company_field: &str) -> Result<Customer, Rejected> {
    let m: wire::Member = wire::read(raw);
    let id = m.id.clone().unwrap_or_default();
    let ctx = Ctx::of("member", &id)?;
    let email = email(&ctx, m.email_address.as_deref())?;
    let merges = m.merge_fields.unwrap_or_default();
    let first_name = opt_name(&ctx, "FNAME", merges.text("FNAME"))?;
    let last_name = opt_name(&ctx, "LNAME", merges.text("LNAME"))?;
    let company = opt_name(&ctx, company_field, merges.text(company_field))?;
    let phone = merges
        .text("PHONE")
        .map(|p| ctx.field("merge_fields.PHONE", Phone::parse(p)))
        .transpose()?;
    let billing = address(
        &ctx,
        "merge_fields.ADDRESS",
        merges.address("ADDRESS").map(AddressFields::merge),
    )?;
    let opted_in = m.status.as_deref().map(|s| s == "subscribed");
    person(
        &ctx,
        Person {
            id: &id,
            email,
            first_name,
            last_name,
            company,
            phone,
            billing,
        },
        opted_in,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn customers_parse_with_company_and_address() {
        let raw = json!({
            "id": "c1", "email_address": "Els@Bakkerij.nl", "opt_in_status": true,
            "first_name": "Els", "last_name": "Jansen", "company": "Bakkerij BV",
            "address": {"address1": "Dorpsstraat 12a", "city": "Ons Dorp", "postal_code": "1234 AB",
                        "country": "Netherlands", "country_code": "NL"}
        });
        let c = customer(&raw).expect("valid");
        assert_eq!(c.email.as_str(), "els@bakkerij.nl");
        assert!(matches!(c.kind, CustomerKind::Company { .. }));
        let a = c.billing_address.expect("address");
        assert_eq!(a.house_number.map(|n| n.to_string()).as_deref(), Some("12"));
        assert_eq!(a.country.as_str(), "NL");
    }

    #[test]
    fn invalid_customers_are_rejected_with_the_field() {
        let no_mail =
            customer(&json!({"id": "c2", "opt_in_status": false})).expect_err("no e-mail");
        assert!(no_mail.to_string().contains("email_address"), "{no_mail}");
        assert!(no_mail.to_string().contains("c2"), "{no_mail}");
        let country = customer(&json!({
            "id": "c3", "email_address": "a@b.nl",
            "address": {"address1": "Straat 1", "city": "X", "postal_code": "1", "country_code": "XX"}
        }))
        .expect_err("unknown country");
        assert!(
            country.to_string().contains("address.country_code"),
            "{country}"
        );
    }
}
