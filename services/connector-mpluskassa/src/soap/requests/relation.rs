//! Relations: found by e-mail, read by number or page, and written (`RelationWrite`).

use ferry_mplusqapi::ops;
use ferry_mplusqapi::records as wire;

use super::{Page, text};

/// `findRelationV2` with an exact e-mail match.
pub fn find_relation_v2_by_email(email: &str) -> ops::FindRelationV2 {
    ops::FindRelationV2 {
        request: ops::FindRelationV2Request {
            relation: wire::Relation {
                email: Some(email.to_owned()),
                ..wire::Relation::default()
            },
            exact_match: Some(true),
        },
    }
}

/// `getRelation`.
pub fn get_relation(number: i64) -> ops::GetRelation {
    ops::GetRelation {
        relation_number: number,
    }
}

/// `getRelations` for a sync-marker page.
pub fn get_relations(page: Page) -> ops::GetRelations {
    ops::GetRelations {
        request: Some(ops::GetRelationsRequest {
            relation_numbers: Vec::new(),
            sync_marker: Some(page.from),
            sync_marker_limit: Some(page.limit()),
        }),
    }
}

/// A relation as Ferry writes it: only the fields it manages. Absent fields are left alone
/// by `updateRelation`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationWrite {
    /// Set for updates (and for contacts that exist already).
    pub relation_number: Option<i64>,
    /// Name (company name for companies).
    pub name: String,
    /// Street line.
    pub address: Option<String>,
    /// Postcode.
    pub zipcode: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Delivery street line.
    pub delivery_address: Option<String>,
    /// Delivery postcode.
    pub delivery_zipcode: Option<String>,
    /// Delivery city.
    pub delivery_city: Option<String>,
    /// Delivery country.
    pub delivery_country: Option<String>,
    /// Contact person's name.
    pub contact: Option<String>,
    /// Phone.
    pub telephone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// VAT number.
    pub vat_number: Option<String>,
    /// Contact persons (companies); `None` leaves them alone.
    pub contacts: Option<Vec<RelationWrite>>,
    /// Company name.
    pub company_name: Option<String>,
    /// Payment term in days (`paymentWithinDays`); `None` leaves it alone.
    pub payment_within_days: Option<i32>,
}

impl RelationWrite {
    /// The wire relation (always active).
    pub fn to_wire(&self) -> wire::Relation {
        wire::Relation {
            relation_number: self.relation_number,
            active: Some(true),
            name: Some(self.name.clone()),
            address: text(&self.address),
            zipcode: text(&self.zipcode),
            city: text(&self.city),
            country: text(&self.country),
            delivery_address: text(&self.delivery_address),
            delivery_zipcode: text(&self.delivery_zipcode),
            delivery_city: text(&self.delivery_city),
            delivery_country: text(&self.delivery_country),
            contact: text(&self.contact),
            telephone: text(&self.telephone),
            email: text(&self.email),
            vat_number: text(&self.vat_number),
            contact_list: self.contacts.as_ref().map(|contacts| wire::RelationList {
                relation: contacts.iter().map(RelationWrite::to_wire).collect(),
            }),
            company_name: text(&self.company_name),
            payment_within_days: self.payment_within_days,
            ..wire::Relation::default()
        }
    }
}

/// `createRelation`.
pub fn create_relation(r: &RelationWrite) -> ops::CreateRelation {
    ops::CreateRelation {
        relation: r.to_wire(),
    }
}

/// `updateRelation` (`relation_number` must be set).
pub fn update_relation(r: &RelationWrite) -> ops::UpdateRelation {
    ops::UpdateRelation {
        relation: r.to_wire(),
    }
}
