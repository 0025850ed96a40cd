//! Category messages.

use super::impl_message;
use crate::model::Category;
use crate::routing::System;
use crate::types::ExternalId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Event: a source connector saw a new or changed category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CategoryObserved {
    /// The source system.
    pub source: System,
    /// The category.
    pub category: Category,
    /// The source API record as received.
    pub raw: serde_json::Value,
}
impl_message!(
    CategoryObserved,
    "category.observed",
    version = 1,
    Event,
    system = source,
    key = |m| Some(m.category.key.to_string())
);

/// Command: create or update a category in the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CategoryUpsert {
    /// The target system.
    pub target: System,
    /// The category.
    pub category: Category,
}
impl_message!(
    CategoryUpsert,
    "category.upsert",
    version = 1,
    Command,
    system = target,
    key = |m| Some(m.category.key.to_string())
);

/// Reply to [`CategoryUpsert`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CategoryUpserted {
    /// The system that executed the command.
    pub target: System,
    /// The category key.
    pub key: ExternalId,
    /// The category's id in the target (MplusKASSA article group number).
    pub target_id: ExternalId,
    /// True when created, false when updated.
    pub created: bool,
}
impl_message!(
    CategoryUpserted,
    "category.upserted",
    version = 1,
    Event,
    system = target,
    key = |m| Some(m.key.to_string())
);
