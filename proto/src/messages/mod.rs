//! The message catalogue: every event and command payload Ferry exchanges.
//!
//! Replies to a command are events whose envelope has `causation_id` = the command's
//! message id and the same `correlation_id`.

mod category;
mod customer;
mod failure;
mod integration;
mod order;
mod person;
mod product;
mod saga;
mod stock;

pub use category::{CategoryObserved, CategoryUpsert, CategoryUpserted};
pub use customer::{
    CustomerFind, CustomerFound, CustomerObserved, CustomerUpsert, CustomerUpserted,
};
pub use failure::{CommandFailed, ErrorCode, FailureInfo};
pub use integration::{
    AudienceStatus, Direction, Flow, FlowSetting, IntegrationChanged, IntegrationState,
    MailchimpConnectionInfo, MpluskassaConnectionInfo,
};
pub use order::{
    OrderCreate, OrderCreated, OrderFind, OrderFound, OrderMapped, OrderObserved, OrderSetStatus,
    OrderStatusSet,
};
pub use person::PersonEraseRequested;
pub use product::{
    ProductObserved, ProductRef, ProductUpsert, ProductUpserted, ProductsVerified, ProductsVerify,
};
pub use saga::{SagaFailed, SagaParked};
pub use stock::{StockObserved, StockSet, StockSetDone};

use crate::routing::{Message, MessageKind};

/// Implements [`Message`] for a payload struct.
///
/// `system = field` names the payload field holding the [`crate::System`];
/// `key = |m| expr` gives the record key.
macro_rules! impl_message {
    ($ty:ty, $mt:literal, version = $ver:literal, $kind:ident, system = $field:ident, key = |$m:ident| $key:expr) => {
        impl $crate::routing::Message for $ty {
            const MESSAGE_TYPE: &'static str = $mt;
            const SCHEMA_VERSION: u16 = $ver;
            const KIND: $crate::routing::MessageKind = $crate::routing::MessageKind::$kind;

            fn system(&self) -> $crate::routing::System {
                self.$field
            }

            fn record_key(&self) -> Option<String> {
                let $m = self;
                $key
            }
        }
    };
}
pub(crate) use impl_message;

/// Static facts about one catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSpec {
    /// `<entity>.<verb>`.
    pub message_type: &'static str,
    /// Payload schema version.
    pub schema_version: u16,
    /// Event or command.
    pub kind: MessageKind,
}

impl MessageSpec {
    /// The facts of `M`.
    pub const fn of<M: Message>() -> Self {
        Self {
            message_type: M::MESSAGE_TYPE,
            schema_version: M::SCHEMA_VERSION,
            kind: M::KIND,
        }
    }

    /// File name of the envelope schema under `proto/schemas/`.
    pub fn schema_file_name(&self) -> String {
        format!("{}.v{}.schema.json", self.message_type, self.schema_version)
    }
}

/// Every message of the catalogue.
pub const CATALOGUE: &[MessageSpec] = &[
    MessageSpec::of::<CustomerObserved>(),
    MessageSpec::of::<ProductObserved>(),
    MessageSpec::of::<CategoryObserved>(),
    MessageSpec::of::<StockObserved>(),
    MessageSpec::of::<OrderObserved>(),
    MessageSpec::of::<OrderMapped>(),
    MessageSpec::of::<CustomerUpsert>(),
    MessageSpec::of::<CustomerFind>(),
    MessageSpec::of::<ProductUpsert>(),
    MessageSpec::of::<CategoryUpsert>(),
    MessageSpec::of::<StockSet>(),
    MessageSpec::of::<OrderFind>(),
    MessageSpec::of::<OrderCreate>(),
    MessageSpec::of::<OrderSetStatus>(),
    MessageSpec::of::<ProductsVerify>(),
    MessageSpec::of::<CustomerUpserted>(),
    MessageSpec::of::<CustomerFound>(),
    MessageSpec::of::<ProductUpserted>(),
    MessageSpec::of::<CategoryUpserted>(),
    MessageSpec::of::<StockSetDone>(),
    MessageSpec::of::<OrderFound>(),
    MessageSpec::of::<OrderCreated>(),
    MessageSpec::of::<OrderStatusSet>(),
    MessageSpec::of::<ProductsVerified>(),
    MessageSpec::of::<CommandFailed>(),
    MessageSpec::of::<IntegrationChanged>(),
    MessageSpec::of::<SagaParked>(),
    MessageSpec::of::<SagaFailed>(),
    MessageSpec::of::<PersonEraseRequested>(),
];

/// Looks up a catalogue entry by message type.
pub fn spec(message_type: &str) -> Option<&'static MessageSpec> {
    CATALOGUE.iter().find(|s| s.message_type == message_type)
}
