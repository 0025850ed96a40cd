//! Relations: customers, and companies with contact persons.

use serde::{Deserialize, Serialize};

use crate::date::{SoapMplusDate, SoapMplusDateTime};

/// `tns:RelationList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationList {
    /// Relations.
    #[serde(default)]
    pub relation: Vec<Relation>,
}

/// `tns:Relation`: a customer, or a company (`companyName`) with contact persons.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Relation {
    /// Relation number (server-assigned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_number: Option<i64>,
    /// External id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_relation_id: Option<String>,
    /// Change marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Created at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_timestamp: Option<SoapMplusDateTime>,
    /// Last change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Active (deleted relations turn inactive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Name (the company name for companies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Street line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Postcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zipcode: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Delivery street line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_address: Option<String>,
    /// Delivery postcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_zipcode: Option<String>,
    /// Delivery city.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_city: Option<String>,
    /// Delivery country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_country: Option<String>,
    /// Contact person's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telephone: Option<String>,
    /// Mobile phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Website.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Birth date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<SoapMplusDate>,
    /// Relation code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_code: Option<String>,
    /// Payment term in days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_within_days: Option<i32>,
    /// VAT number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_number: Option<String>,
    /// Chamber of commerce number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commerce_number: Option<String>,
    /// Extra text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_text: Option<String>,
    /// `VAT-METHOD-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_vat_method: Option<String>,
    /// Contact persons of a company.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_list: Option<RelationList>,
    /// Company name; absent or empty for persons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
}
