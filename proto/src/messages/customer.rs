//! Customer messages.

use super::impl_message;
use crate::model::Customer;
use crate::routing::System;
use crate::types::{Email, ExternalId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Event: a source connector saw a new or changed customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerObserved {
    /// The source system.
    pub source: System,
    /// The customer in canonical form.
    pub customer: Customer,
    /// The source API record as received, for user mappings.
    pub raw: serde_json::Value,
}
impl_message!(
    CustomerObserved,
    "customer.observed",
    version = 1,
    Event,
    system = source,
    key = |m| Some(m.customer.email.to_string())
);

/// Command: create or update a customer in the target (matched by e-mail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerUpsert {
    /// The target system.
    pub target: System,
    /// The customer as it should be in the target.
    pub customer: Customer,
    /// The customer's id in the target, when a lookup already found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<ExternalId>,
}
impl_message!(
    CustomerUpsert,
    "customer.upsert",
    version = 1,
    Command,
    system = target,
    key = |m| Some(m.customer.email.to_string())
);

/// Command: look a customer up by e-mail address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerFind {
    /// The target system.
    pub target: System,
    /// The e-mail address to look for.
    pub email: Email,
}
impl_message!(
    CustomerFind,
    "customer.find",
    version = 1,
    Command,
    system = target,
    key = |m| Some(m.email.to_string())
);

/// Reply to [`CustomerUpsert`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerUpserted {
    /// The system that executed the command.
    pub target: System,
    /// The customer's e-mail address.
    pub email: Email,
    /// The customer's id in the target (MplusKASSA relation number).
    pub target_id: ExternalId,
    /// True when the customer was created, false when updated.
    pub created: bool,
}
impl_message!(
    CustomerUpserted,
    "customer.upserted",
    version = 1,
    Event,
    system = target,
    key = |m| Some(m.email.to_string())
);

/// Reply to [`CustomerFind`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerFound {
    /// The system that executed the command.
    pub target: System,
    /// The e-mail address looked for.
    pub email: Email,
    /// The customer's id in the target, or `None` when there is none.
    pub found: Option<ExternalId>,
}
impl_message!(
    CustomerFound,
    "customer.found",
    version = 1,
    Event,
    system = target,
    key = |m| Some(m.email.to_string())
);
