//! Relations (customers and companies with contacts).

use serde::{Deserialize, Serialize};

use crate::date::SoapMplusDateTime;
use crate::records::{Relation, RelationList};

/// `findRelationV2`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindRelationV2 {
    /// The search.
    pub request: FindRelationV2Request,
}

/// `tns:FindRelationV2Request`: the fields to match, given as a relation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FindRelationV2Request {
    /// Fields to match.
    pub relation: Relation,
    /// Exact matches only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_match: Option<bool>,
}

/// `FindRelationV2Response`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindRelationV2Response {
    /// `FIND-RELATION-RESULT-*`.
    pub result: String,
    /// The relation when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
}

/// `getRelation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetRelation {
    /// The relation.
    pub relation_number: i64,
}

/// `GetRelationResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetRelationResponse {
    /// `GET-RELATION-RESULT-*`.
    pub result: String,
    /// The relation (an empty one when not found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
}

/// `getRelations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetRelations {
    /// Filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<GetRelationsRequest>,
}

/// `tns:GetRelationsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetRelationsRequest {
    /// These relations.
    pub relation_numbers: Vec<i64>,
    /// Records with a marker from this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Most records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker_limit: Option<i32>,
}

/// `GetRelationsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetRelationsResponse {
    /// The relations.
    pub relation_list: RelationList,
}

/// `createRelation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateRelation {
    /// The new relation.
    pub relation: Relation,
}

/// `CreateRelationResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateRelationResponse {
    /// `CREATE-RELATION-RESULT-*`.
    pub result: String,
    /// The new relation's number.
    pub relation_number: Option<i64>,
    /// Created at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Its marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Why it failed.
    pub error_message: String,
}

/// `updateRelation` (absent fields are left alone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateRelation {
    /// The relation with its number.
    pub relation: Relation,
}

/// `UpdateRelationResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateRelationResponse {
    /// `UPDATE-RELATION-RESULT-*`.
    pub result: String,
    /// Why it failed.
    pub error_message: String,
    /// Changed at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Its marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
}

/// `findRelation`: the first relation matching the template's fields, partly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindRelation {
    /// The template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
}

/// `FindRelationResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindRelationResponse {
    /// `FIND-RELATION-RESULT-*`.
    pub result: String,
    /// The relation when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
}
