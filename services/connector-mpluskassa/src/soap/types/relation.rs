//! A relation (customer): a person, or a company with contact persons.

use chrono::{DateTime, Utc};
use ferry_mplusqapi::WireError;
use ferry_mplusqapi::records as wire;

use super::{opt_datetime, string};

/// A relation (customer): a person, or a company (`companyName`) with contact persons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relation {
    /// Relation number.
    pub relation_number: i64,
    /// Change marker.
    pub sync_marker: i64,
    /// Whether active (deleted relations turn inactive).
    pub active: bool,
    /// Name (the company name for companies).
    pub name: String,
    /// Street line.
    pub address: String,
    /// Postcode.
    pub zipcode: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: String,
    /// Delivery street line.
    pub delivery_address: String,
    /// Delivery postcode.
    pub delivery_zipcode: String,
    /// Delivery city.
    pub delivery_city: String,
    /// Delivery country.
    pub delivery_country: String,
    /// Contact person's name.
    pub contact: String,
    /// Phone.
    pub telephone: String,
    /// Mobile phone.
    pub mobile: String,
    /// E-mail address.
    pub email: String,
    /// VAT number.
    pub vat_number: String,
    /// Company name; empty for persons.
    pub company_name: String,
    /// Contact persons of a company.
    pub contacts: Vec<Relation>,
    /// Payment term in days.
    pub payment_within_days: Option<i32>,
    /// Last change.
    pub change_timestamp: Option<DateTime<Utc>>,
}

impl Relation {
    /// From a `tns:Relation`.
    pub fn from_wire(r: wire::Relation) -> Result<Self, WireError> {
        let contacts = r
            .contact_list
            .map(|l| l.relation.into_iter().map(Relation::from_wire).collect())
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            relation_number: r.relation_number.unwrap_or(0),
            sync_marker: r.sync_marker.unwrap_or(0),
            active: r.active.unwrap_or(true),
            name: string(r.name),
            address: string(r.address),
            zipcode: string(r.zipcode),
            city: string(r.city),
            country: string(r.country),
            delivery_address: string(r.delivery_address),
            delivery_zipcode: string(r.delivery_zipcode),
            delivery_city: string(r.delivery_city),
            delivery_country: string(r.delivery_country),
            contact: string(r.contact),
            telephone: string(r.telephone),
            mobile: string(r.mobile),
            email: string(r.email),
            vat_number: string(r.vat_number),
            company_name: string(r.company_name),
            contacts,
            payment_within_days: r.payment_within_days,
            change_timestamp: opt_datetime(r.change_timestamp)?,
        })
    }

    /// Whether this relation is a company (it has a company name).
    pub fn is_company(&self) -> bool {
        !self.company_name.trim().is_empty()
    }
}
