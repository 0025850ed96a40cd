//! What is read from MailChimp: the four resources, their names, operations and
//! cross-reference kinds. A leaf of the crate (configuration, integrations and change
//! detection all name it; it names none of them).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::store::XrefKind;

/// What is read from MailChimp.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// Audience members.
    Members,
    /// E-commerce customers.
    Customers,
    /// Products with variants.
    Products,
    /// Orders with lines.
    Orders,
}

impl Resource {
    /// All, in sync order (products before orders, so order lines find their SKUs).
    pub fn all() -> Vec<Resource> {
        vec![Self::Members, Self::Customers, Self::Products, Self::Orders]
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Members => "members",
            Self::Customers => "customers",
            Self::Products => "products",
            Self::Orders => "orders",
        }
    }

    pub(crate) fn xref_kind(self) -> XrefKind {
        match self {
            Self::Members => XrefKind::Member,
            Self::Customers => XrefKind::Customer,
            Self::Products => XrefKind::Product,
            Self::Orders => XrefKind::Order,
        }
    }

    pub(crate) fn list_op(self) -> &'static str {
        match self {
            Self::Members => "members.list",
            Self::Customers => "customers.list",
            Self::Products => "products.list",
            Self::Orders => "orders.list",
        }
    }

    pub(crate) fn get_op(self) -> &'static str {
        match self {
            Self::Members => "members.get",
            Self::Customers => "customers.get",
            Self::Products => "products.get",
            Self::Orders => "orders.get",
        }
    }

    /// Whether changes are found by scanning (e-commerce collections have no changed-since
    /// filter; members have `since_last_changed`).
    pub(crate) fn scanned(self) -> bool {
        self != Self::Members
    }
}
