//! Ferry's canonical message contract: the [`Envelope`], the parse-don't-validate
//! value types, the canonical models and the catalogue of events and commands.
//!
//! Other services depend on this crate; non-Rust consumers use the JSON Schemas
//! checked in under `proto/schemas/` (see [`schema`]).
//!
//! # Layout
//! - [`envelope`]: [`Envelope`], encoding/decoding, [`MAX_MESSAGE_BYTES`].
//! - [`routing`]: [`System`], [`MessageKind`], [`MessageType`], [`RoutingKey`], the [`Message`] trait.
//! - [`trace`]: W3C [`TraceContext`].
//! - [`types`]: value types ([`Email`], [`Sku`], [`CountryCode`], [`Money`], ...).
//! - [`model`]: canonical customers, products, categories, stock levels, orders.
//! - [`messages`]: the catalogue below.
//! - [`schema`]: JSON Schema generation.
//!
//! # Routing keys
//! Events go to the events exchange, commands to the commands exchange. A routing key
//! is `<system>.<entity>.<verb>` where `<system>` is `mailchimp`, `mpluskassa` or
//! `ferry` ([`Message::system`]: the source for observations, the target for commands
//! and replies) and `<entity>.<verb>` is the message type.
//!
//! | message type | kind | payload | routing key | sent by -> to |
//! | --- | --- | --- | --- | --- |
//! | `customer.observed` | event | [`messages::CustomerObserved`] | `<source>.customer.observed` | source connector -> mapper, notifier |
//! | `product.observed` | event | [`messages::ProductObserved`] | `<source>.product.observed` | source connector -> mapper |
//! | `category.observed` | event | [`messages::CategoryObserved`] | `<source>.category.observed` | source connector -> mapper |
//! | `stock.observed` | event | [`messages::StockObserved`] | `<source>.stock.observed` | source connector -> mapper |
//! | `order.observed` | event | [`messages::OrderObserved`] | `<source>.order.observed` | source connector -> mapper |
//! | `order.mapped` | event | [`messages::OrderMapped`] | `<target>.order.mapped` | mapper -> order orchestrator |
//! | `customer.upsert` | command | [`messages::CustomerUpsert`] | `<target>.customer.upsert` | mapper / orchestrator -> target connector |
//! | `customer.find` | command | [`messages::CustomerFind`] | `<target>.customer.find` | orchestrator -> target connector |
//! | `product.upsert` | command | [`messages::ProductUpsert`] | `<target>.product.upsert` | mapper -> target connector |
//! | `category.upsert` | command | [`messages::CategoryUpsert`] | `<target>.category.upsert` | mapper -> target connector |
//! | `stock.set` | command | [`messages::StockSet`] | `<target>.stock.set` | mapper -> target connector |
//! | `order.find` | command | [`messages::OrderFind`] | `<target>.order.find` | orchestrator -> target connector |
//! | `order.create` | command | [`messages::OrderCreate`] | `<target>.order.create` | orchestrator -> target connector |
//! | `order.set-status` | command | [`messages::OrderSetStatus`] | `<target>.order.set-status` | orchestrator -> target connector |
//! | `products.verify` | command | [`messages::ProductsVerify`] | `<target>.products.verify` | orchestrator -> target connector |
//! | `customer.upserted` | event | [`messages::CustomerUpserted`] | `<target>.customer.upserted` | target connector -> requester |
//! | `customer.found` | event | [`messages::CustomerFound`] | `<target>.customer.found` | target connector -> orchestrator |
//! | `product.upserted` | event | [`messages::ProductUpserted`] | `<target>.product.upserted` | target connector -> notifier |
//! | `category.upserted` | event | [`messages::CategoryUpserted`] | `<target>.category.upserted` | target connector -> notifier |
//! | `stock.set-done` | event | [`messages::StockSetDone`] | `<target>.stock.set-done` | target connector -> notifier |
//! | `order.found` | event | [`messages::OrderFound`] | `<target>.order.found` | target connector -> orchestrator |
//! | `order.created` | event | [`messages::OrderCreated`] | `<target>.order.created` | target connector -> orchestrator |
//! | `order.status-set` | event | [`messages::OrderStatusSet`] | `<target>.order.status-set` | target connector -> orchestrator, notifier |
//! | `products.verified` | event | [`messages::ProductsVerified`] | `<target>.products.verified` | target connector -> orchestrator |
//! | `command.failed` | event | [`messages::CommandFailed`] | `<target>.<entity of the command>.failed` | target connector -> requester, notifier |
//! | `integration.changed` | event | [`messages::IntegrationChanged`] | `ferry.integration.changed` | registry (mapper) -> all services; state `deleted` on deletion |
//! | `saga.parked` | event | [`messages::SagaParked`] | `ferry.saga.parked` | order orchestrator -> notifier (alert) |
//! | `saga.failed` | event | [`messages::SagaFailed`] | `ferry.saga.failed` | order orchestrator -> notifier (alert) |
//! | `person.erase-requested` | event | [`messages::PersonEraseRequested`] | `ferry.person.erase-requested` | notifier (GDPR erase) -> every service; the person only as a SHA-256 fingerprint |
//!
//! Replies carry `causation_id` = the command's message id and the command's
//! `correlation_id`. Payloads never carry secrets in clear: `integration.changed` carries
//! the integration's credentials only sealed (AEAD, `ferry_platform::secrets`). Images are not supported: product
//! images are ignored by design.
//!
//! # Wire conventions
//! Value types serialize as strings and deserialize through their parsers, so invalid
//! JSON cannot construct them. Decimals (money amounts, quantities, tax rates) are JSON
//! strings, never numbers. Every observed event carries `raw`, the source API record as
//! received, so user mappings can reach any field.

pub mod envelope;
pub mod messages;
pub mod model;
pub mod routing;
pub mod schema;
pub mod trace;
pub mod types;

pub use envelope::{Envelope, EnvelopeError, MAX_MESSAGE_BYTES};
pub use messages::{CATALOGUE, MessageSpec};
pub use routing::{Message, MessageKind, MessageType, RoutingKey, System};
pub use trace::{TraceContext, TraceParent, TraceState};
pub use types::*;
