//! Order messages.

use super::impl_message;
use super::product::ProductRef;
use crate::model::{Order, OrderStatus, TargetOrder};
use crate::routing::System;
use crate::types::{ExternalId, IdempotencyKey, IntegrationId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Event: a source connector saw a new order or invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderObserved {
    /// The source system.
    pub source: System,
    /// The order.
    pub order: Order,
    /// The source API record as received.
    pub raw: serde_json::Value,
}
impl_message!(
    OrderObserved,
    "order.observed",
    version = 1,
    Event,
    system = source,
    key = |m| Some(m.order.external_id.to_string())
);

/// Event: the mapper prepared an order for the target; starts the order saga.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderMapped {
    /// The target system.
    pub target: System,
    /// The mapped order.
    pub order: TargetOrder,
}
impl_message!(
    OrderMapped,
    "order.mapped",
    version = 1,
    Event,
    system = target,
    key = |m| Some(m.order.order().external_id.to_string())
);

/// Command: look an order up by its external id (saga step 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderFind {
    /// The target system.
    pub target: System,
    /// The order number from the source.
    pub external_id: ExternalId,
}
impl_message!(
    OrderFind,
    "order.find",
    version = 1,
    Command,
    system = target,
    key = |m| Some(m.external_id.to_string())
);

/// Reply to [`OrderFind`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderFound {
    /// The system that executed the command.
    pub target: System,
    /// The order number looked for.
    pub external_id: ExternalId,
    /// The order's id in the target, or `None` when it does not exist.
    pub found: Option<ExternalId>,
}
impl_message!(
    OrderFound,
    "order.found",
    version = 1,
    Event,
    system = target,
    key = |m| Some(m.external_id.to_string())
);

/// Command: create (confirm) the order in the target (saga step 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderCreate {
    /// The target system.
    pub target: System,
    /// The mapped order.
    pub order: TargetOrder,
    /// The customer's id in the target (from the upsert, or the default debtor).
    pub customer_id: ExternalId,
    /// Makes the creation idempotent at the target; see [`OrderCreate::idempotency_key_for`].
    pub idempotency_key: IdempotencyKey,
    /// The lines' SKUs with their ids in the target, as `products.verify` found them (saga
    /// step 3), so the creation does not look them up again. Empty (or a SKU left out): the
    /// target looks the SKU up itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub articles: Vec<ProductRef>,
}
impl_message!(
    OrderCreate,
    "order.create",
    version = 1,
    Command,
    system = target,
    key = |m| Some(m.order.order().external_id.to_string())
);

impl OrderCreate {
    /// The idempotency key of an order: derived from the integration and the external
    /// order id only, so every retry and replay of the saga uses the same key.
    pub fn idempotency_key_for(
        integration: IntegrationId,
        external_id: &ExternalId,
    ) -> IdempotencyKey {
        IdempotencyKey::for_order(integration, external_id)
    }
}

/// Reply to [`OrderCreate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderCreated {
    /// The system that executed the command.
    pub target: System,
    /// The order number from the source.
    pub external_id: ExternalId,
    /// The order's id in the target.
    pub target_id: ExternalId,
    /// True when the target answered an idempotent replay (the order already existed
    /// from an earlier attempt).
    #[serde(default)]
    pub replayed: bool,
}
impl_message!(
    OrderCreated,
    "order.created",
    version = 1,
    Event,
    system = target,
    key = |m| Some(m.external_id.to_string())
);

/// Command: carry an order's lifecycle status (cancelled, refunded) to the target, where
/// the order exists already. Idempotent: an order already in that status is left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderSetStatus {
    /// The target system.
    pub target: System,
    /// The order number from the source.
    pub external_id: ExternalId,
    /// The status to carry (never `open`: reopening an order is not carried).
    pub status: OrderStatus,
}
impl_message!(
    OrderSetStatus,
    "order.set-status",
    version = 1,
    Command,
    system = target,
    key = |m| Some(m.external_id.to_string())
);

/// Reply to [`OrderSetStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderStatusSet {
    /// The system that executed the command.
    pub target: System,
    /// The order number from the source.
    pub external_id: ExternalId,
    /// The status carried.
    pub status: OrderStatus,
    /// The order's id in the target, or `None` when the target has no such order (nothing
    /// was changed).
    pub target_id: Option<ExternalId>,
    /// False when the order was in that status already (a replay, or the echo of a change
    /// Ferry made itself), or when the target cannot take it (`refused`).
    pub changed: bool,
    /// Why the target cannot take the status, when it cannot (MplusKASSA: the order was
    /// delivered, so invoiced; a credit invoice at the till undoes it). The order stays as it
    /// is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}
impl_message!(
    OrderStatusSet,
    "order.status-set",
    version = 1,
    Event,
    system = target,
    key = |m| Some(m.external_id.to_string())
);
