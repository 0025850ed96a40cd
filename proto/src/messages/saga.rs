//! Facts about order sagas that need a person's attention (the notifier turns them into
//! alerts).

use super::FailureInfo;
use crate::routing::{Message, MessageKind, System};
use crate::types::{ExternalId, Sku};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Event `ferry.saga.parked`: an order saga waits for something outside Ferry (products
/// missing in the target). It resumes by itself once the products exist, or when an
/// operator retries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SagaParked {
    /// The saga (also the envelope's correlation id).
    pub saga_id: Uuid,
    /// The system the order goes to.
    pub target: System,
    /// The order number from the source.
    pub external_id: ExternalId,
    /// The saga step that parked (`verify_products`).
    pub step: String,
    /// SKUs that do not exist in the target.
    #[serde(default)]
    pub missing_skus: Vec<Sku>,
    /// Why it is parked.
    pub error: FailureInfo,
}

impl Message for SagaParked {
    const MESSAGE_TYPE: &'static str = "saga.parked";
    const SCHEMA_VERSION: u16 = 1;
    const KIND: MessageKind = MessageKind::Event;

    fn system(&self) -> System {
        System::Ferry
    }

    fn record_key(&self) -> Option<String> {
        Some(self.external_id.to_string())
    }
}

/// Event `ferry.saga.failed`: an order saga gave up (a permanent failure, or a step failed
/// too often). It stays parked until an operator retries, skips or cancels it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SagaFailed {
    /// The saga (also the envelope's correlation id).
    pub saga_id: Uuid,
    /// The system the order goes to.
    pub target: System,
    /// The order number from the source.
    pub external_id: ExternalId,
    /// The step that failed (`find_order`, `find_customer`, `upsert_customer`,
    /// `verify_products`, `create_order`).
    pub step: String,
    /// Attempts made at that step.
    pub attempts: u32,
    /// The last failure.
    pub error: FailureInfo,
}

impl Message for SagaFailed {
    const MESSAGE_TYPE: &'static str = "saga.failed";
    const SCHEMA_VERSION: u16 = 1;
    const KIND: MessageKind = MessageKind::Event;

    fn system(&self) -> System {
        System::Ferry
    }

    fn record_key(&self) -> Option<String> {
        Some(self.external_id.to_string())
    }
}
