//! Customers (MplusKASSA: relations / debtors; MailChimp: e-commerce customers and
//! audience members).

use super::Address;
use crate::routing::System;
use crate::types::{Email, ExternalId, Name, Phone, VatNumber};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a record comes from: the system and its id there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct SourceRef {
    /// The source system.
    pub system: System,
    /// The record's id in that system.
    pub id: ExternalId,
}

/// A customer. The e-mail address decides whether a customer already exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    /// E-mail address (the matching key).
    pub email: Email,
    /// Person or company.
    pub kind: CustomerKind,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<Name>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<Name>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    /// Billing (invoice) address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    /// Shipping (delivery) address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
    /// The record in the source system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<SourceRef>,
    /// Marketing opt-in, when the source knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opted_in: Option<bool>,
}

impl Customer {
    /// A customer that is a person, with only an e-mail address.
    pub fn person(email: Email) -> Self {
        Self {
            email,
            kind: CustomerKind::Person,
            first_name: None,
            last_name: None,
            phone: None,
            billing_address: None,
            shipping_address: None,
            source_ref: None,
            opted_in: None,
        }
    }

    /// `first last`, whichever parts exist.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(Name::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// A personal debtor, or a company debtor with its contact person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomerKind {
    /// A private person (personal debtor).
    Person,
    /// A company (company debtor with an underlying contact person).
    Company {
        /// Company name.
        company_name: Name,
        /// VAT number.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vat_number: Option<VatNumber>,
        /// The contact person.
        contact: ContactPerson,
    },
}

/// The contact person of a company customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContactPerson {
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<Name>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<Name>,
    /// E-mail address, when it differs from the customer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_customer_round_trip() {
        let json = r#"{
            "email": "Inkoop@Bakkerij.NL",
            "kind": {"type": "company", "company_name": "Bakkerij BV", "vat_number": "nl851234567b01",
                     "contact": {"first_name": "Els"}},
            "first_name": "Els",
            "source_ref": {"system": "mailchimp", "id": "cust-1"},
            "opted_in": true
        }"#;
        let c: Customer = serde_json::from_str(json).expect("valid");
        assert_eq!(c.email.as_str(), "inkoop@bakkerij.nl");
        let CustomerKind::Company { vat_number, .. } = &c.kind else {
            panic!("expected a company");
        };
        assert_eq!(
            vat_number.as_ref().map(VatNumber::as_str),
            Some("NL851234567B01")
        );
        let back: Customer =
            serde_json::from_str(&serde_json::to_string(&c).expect("ser")).expect("de");
        assert_eq!(back, c);
        assert_eq!(c.full_name().as_deref(), Some("Els"));
    }

    #[test]
    fn person_customer() {
        let c: Customer =
            serde_json::from_str(r#"{"email":"a@b.nl","kind":{"type":"person"}}"#).expect("valid");
        assert_eq!(c, Customer::person(Email::parse("a@b.nl").expect("email")));
        assert_eq!(c.full_name(), None);
        assert!(
            serde_json::from_str::<Customer>(r#"{"email":"a@b.nl","kind":{"type":"robot"}}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<Customer>(r#"{"email":"nope","kind":{"type":"person"}}"#)
                .is_err()
        );
    }
}
