//! Product categories (MplusKASSA article groups). MailChimp has no categories.

use crate::types::{ExternalId, Name};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A category in a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Category {
    /// Stable key of the category in its source system.
    pub key: ExternalId,
    /// Display name.
    pub name: Name,
    /// Key of the parent category; `None` for a root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ExternalId>,
}

/// A product's reference to its category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CategoryRef {
    /// Key of the category (see [`Category::key`]).
    pub key: ExternalId,
    /// Its name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
}
