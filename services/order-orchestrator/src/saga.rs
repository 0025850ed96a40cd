//! The order saga as a state machine, free of I/O: its state, the command each step sends,
//! and what every input (a reply, a timer, an operator) does to it.
//!
//! ```text
//!  order.mapped ─> find_order ──found──> skipped           (found, order cancelled or refunded
//!                      │                                    in the source: set_status)
//!                      │ not found
//!                      ├──default debtor──────────────┐
//!                      v                              v
//!                find_customer ─> upsert_customer ─> verify_products ──missing──> waiting_products
//!               (customer lock held from here ...  ...to here)   │ all there  <──re-verify──┘
//!                      │                                ^        v
//!                      └──customer resolved recently────┘  create_order ─> completed
//!                         (same customer data: reused)
//! ```
//! **Lifecycle.** An order cancelled or refunded in its source ([`OrderStatus`]) is carried
//! to the target by a last step, `set_status` (`order.set-status`), once the order exists
//! there: after `find_order` found it, or after `create_order` created it. An order the
//! source cancelled before it reached the target is not created (`skipped`). A later event
//! of an order whose saga exists carries a new status to it ([`Saga::carry_status`]): a saga
//! still running takes it along; one that ended is reopened at `find_order`. The same status
//! twice changes nothing (idempotent), and the connectors leave an order already in that
//! status alone.
//!
//! A saga whose upsert confirmed the customer records the resolution ([`CustomerEffect`]);
//! a saga of the same customer with the same customer data reaching `find_customer` while
//! that resolution is fresh takes the id over ([`Saga::customer_reused`]). When the order
//! of a saga that reused a customer is refused for good, the resolution is forgotten and
//! the saga resolves its customer again, once, before it would fail.
//! Any step: a retryable failure or a timeout retries with backoff; after
//! `max_attempts`, or at once on a permanent failure, the saga is `failed` (parked for an
//! operator, alert). [`crate::engine`] persists every transition with the commands it
//! decided, in one transaction.

use chrono::{DateTime, Utc};
use ferry_platform::bus::BusMessage;
use ferry_proto::messages::{
    CommandFailed, CustomerFind, CustomerFound, CustomerUpsert, CustomerUpserted, ErrorCode,
    FailureInfo, OrderCreate, OrderCreated, OrderFind, OrderFound, OrderMapped, OrderSetStatus,
    OrderStatusSet, ProductRef, ProductsVerified, ProductsVerify, SagaFailed, SagaParked,
};
use ferry_proto::model::{CustomerPlan, OrderStatus, TargetOrder};
use ferry_proto::{
    Email, Envelope, EnvelopeError, ExternalId, IntegrationId, Message, MessageId, Sku, System,
    TraceContext,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::config::SagaSettings;

/// Where a saga stands overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SagaState {
    /// Accepted, waiting for a free slot (`saga.max_in_flight`).
    Queued,
    /// A step is in progress.
    Running,
    /// Parked: products are missing in the target; re-verified with backoff and on
    /// `product.upserted`, or retried by an operator. Alert-worthy.
    WaitingProducts,
    /// Parked: a step failed permanently or too often; an operator must retry, skip or
    /// cancel it. Alert-worthy.
    Failed,
    /// The order was created in the target.
    Completed,
    /// Not created: it existed in the target already, or an operator skipped it.
    Skipped,
    /// Abandoned by an operator.
    Cancelled,
}

impl SagaState {
    /// Every state.
    pub const ALL: [SagaState; 7] = [
        Self::Queued,
        Self::Running,
        Self::WaitingProducts,
        Self::Failed,
        Self::Completed,
        Self::Skipped,
        Self::Cancelled,
    ];

    /// The snake_case name (also the database value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::WaitingProducts => "waiting_products",
            Self::Failed => "failed",
            Self::Completed => "completed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses [`SagaState::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether the saga is over for good.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Skipped | Self::Cancelled)
    }

    /// Whether the saga counts against `max_in_flight`.
    pub fn is_in_flight(self) -> bool {
        matches!(self, Self::Running | Self::WaitingProducts)
    }
}

/// The saga steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// 1. does the order exist in the target already?
    FindOrder,
    /// Find the customer by e-mail: a separate step of sagas persisted by a release before
    /// `customer.upsert` answered found-or-created; such a saga finishes through it. New
    /// sagas go from `FindOrder` to `UpsertCustomer`.
    FindCustomer,
    /// 2. find the customer by e-mail and update it, or create it (one command).
    UpsertCustomer,
    /// 3. do all SKUs exist?
    VerifyProducts,
    /// 4. create (confirm) the order.
    CreateOrder,
    /// 5. carry a cancellation or refund to the order in the target.
    SetStatus,
    /// Nothing left to do.
    Finished,
}

impl Step {
    /// Every step.
    pub const ALL: [Step; 7] = [
        Self::FindOrder,
        Self::FindCustomer,
        Self::UpsertCustomer,
        Self::VerifyProducts,
        Self::CreateOrder,
        Self::SetStatus,
        Self::Finished,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FindOrder => "find_order",
            Self::FindCustomer => "find_customer",
            Self::UpsertCustomer => "upsert_customer",
            Self::VerifyProducts => "verify_products",
            Self::CreateOrder => "create_order",
            Self::SetStatus => "set_status",
            Self::Finished => "finished",
        }
    }

    /// Parses [`Step::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The message type of the command this step sends.
    pub fn command_type(self) -> Option<&'static str> {
        match self {
            Self::FindOrder => Some(OrderFind::MESSAGE_TYPE),
            Self::FindCustomer => Some(CustomerFind::MESSAGE_TYPE),
            Self::UpsertCustomer => Some(CustomerUpsert::MESSAGE_TYPE),
            Self::VerifyProducts => Some(ProductsVerify::MESSAGE_TYPE),
            Self::CreateOrder => Some(OrderCreate::MESSAGE_TYPE),
            Self::SetStatus => Some(OrderSetStatus::MESSAGE_TYPE),
            Self::Finished => None,
        }
    }

    /// The step whose command has message type `command_type`.
    pub fn of_command(command_type: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.command_type() == Some(command_type))
    }
}

/// Where a saga's customer id comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerSource {
    /// Looked up and upserted by this saga (or not resolved yet; a recent resolution of
    /// the same customer data may still be reused).
    Lookup,
    /// Taken over from a recent resolution of another saga, without commands.
    Reused,
    /// The reused id was refused by the target: looked up and upserted again, never reused.
    Refreshed,
}

impl CustomerSource {
    /// The snake_case name (also the database value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lookup => "lookup",
            Self::Reused => "reused",
            Self::Refreshed => "refreshed",
        }
    }

    /// Parses [`CustomerSource::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Lookup, Self::Reused, Self::Refreshed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// What a running saga waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Wait {
    /// Nothing (not running).
    None,
    /// The reply to the pending command, until the step timeout.
    Reply,
    /// The time of the next attempt (backoff, or the next re-verification).
    Retry,
    /// Another saga of the same customer to finish its customer steps.
    CustomerLock,
}

impl Wait {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Reply => "reply",
            Self::Retry => "retry",
            Self::CustomerLock => "customer_lock",
        }
    }

    /// Parses [`Wait::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::None, Self::Reply, Self::Retry, Self::CustomerLock]
            .into_iter()
            .find(|w| w.as_str() == raw)
    }
}

/// One order saga.
#[derive(Debug, Clone, PartialEq)]
pub struct Saga {
    /// The saga id; the correlation id of every command it sends.
    pub id: Uuid,
    /// The integration.
    pub integration_id: IntegrationId,
    /// Where the order goes.
    pub target: System,
    /// The order number from the source.
    pub external_id: ExternalId,
    /// Overall state.
    pub state: SagaState,
    /// Current step.
    pub step: Step,
    /// What it waits for.
    pub wait: Wait,
    /// Failed attempts at the current step.
    pub attempt: u32,
    /// Re-verifications of missing products so far (drives their backoff).
    pub rechecks: u32,
    /// The mapped order.
    pub order: TargetOrder,
    /// The customer's id in the target found by e-mail.
    pub existing_customer_id: Option<ExternalId>,
    /// Where `customer_id` comes from.
    pub customer_source: CustomerSource,
    /// The customer's id the order is booked on.
    pub customer_id: Option<ExternalId>,
    /// The order's id in the target, once created (or found).
    pub target_order_id: Option<ExternalId>,
    /// The command awaiting a reply.
    pub pending_command: Option<Uuid>,
    /// Every command sent for the current step (a late reply to an earlier attempt counts).
    pub step_commands: Vec<Uuid>,
    /// Deadline of the current wait.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// SKUs missing in the target.
    pub missing_skus: Vec<Sku>,
    /// The order's SKUs with their ids in the target, as the last `products.verified`
    /// found them (sent with `order.create`, so the target does not look them up again).
    pub verified: Vec<ProductRef>,
    /// The last failure.
    pub last_error: Option<FailureInfo>,
    /// How it ended, or why it is parked, in words.
    pub outcome: Option<String>,
    /// Trace context of the order event, continued by every command.
    pub trace: TraceContext,
    /// The message that caused the next command (the last reply, or the order event).
    pub cause: Option<MessageId>,
}

/// Something to write into the saga's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// What happened (`command_sent`, `reply`, `timeout`, ...).
    pub kind: &'static str,
    /// The step it happened at.
    pub step: Step,
    /// The message concerned.
    pub message_id: Option<Uuid>,
    /// Its type.
    pub message_type: Option<String>,
    /// Details (never secrets; e-mail addresses masked).
    pub detail: serde_json::Value,
}

impl TimelineEntry {
    fn new(kind: &'static str, step: Step, detail: serde_json::Value) -> Self {
        Self {
            kind,
            step,
            message_id: None,
            message_type: None,
            detail,
        }
    }

    fn message(mut self, id: Uuid, message_type: impl Into<String>) -> Self {
        self.message_id = Some(id);
        self.message_type = Some(message_type.into());
        self
    }
}

/// What a transition learnt about the saga's customer in the target, for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerEffect {
    /// The target confirmed the customer (upsert reply): record it for reuse.
    Resolved {
        /// The customer's id in the target.
        customer_id: ExternalId,
        /// [`Saga::customer_payload_hash`] of the data upserted.
        payload_hash: String,
    },
    /// A reused customer id was refused: forget that resolution.
    Invalidated {
        /// The id that was refused.
        customer_id: ExternalId,
    },
}

/// What a transition decided besides the new state: messages to publish (with the state,
/// through the outbox), timeline entries, and what it learnt about the customer.
#[derive(Debug, Default)]
pub struct Effects {
    /// Commands and alert events, in order.
    pub messages: Vec<BusMessage>,
    /// Timeline entries, in order.
    pub timeline: Vec<TimelineEntry>,
    /// A customer resolution to record or forget.
    pub customer: Option<CustomerEffect>,
}

impl Effects {
    fn note(&mut self, entry: TimelineEntry) {
        self.timeline.push(entry);
    }

    /// Appends the effects of a further transition of the same input.
    pub fn absorb(&mut self, more: Effects) {
        self.messages.extend(more.messages);
        self.timeline.extend(more.timeline);
        if more.customer.is_some() {
            self.customer = more.customer;
        }
    }
}

/// A reply addressed to a saga.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The reply's message id.
    pub message_id: Uuid,
    /// The command it answers.
    pub causation_id: Option<Uuid>,
    /// The reply itself.
    pub payload: ReplyPayload,
}

/// The replies a saga understands.
#[derive(Debug, Clone)]
pub enum ReplyPayload {
    /// To `order.find`.
    OrderFound(OrderFound),
    /// To `customer.find`.
    CustomerFound(CustomerFound),
    /// To `customer.upsert`.
    CustomerUpserted(CustomerUpserted),
    /// To `products.verify`.
    ProductsVerified(ProductsVerified),
    /// To `order.create`.
    OrderCreated(OrderCreated),
    /// To `order.set-status`.
    OrderStatusSet(OrderStatusSet),
    /// To any of them.
    Failed(CommandFailed),
}

impl ReplyPayload {
    /// The message types that are replies.
    pub const TYPES: [&'static str; 7] = [
        OrderFound::MESSAGE_TYPE,
        CustomerFound::MESSAGE_TYPE,
        CustomerUpserted::MESSAGE_TYPE,
        ProductsVerified::MESSAGE_TYPE,
        OrderCreated::MESSAGE_TYPE,
        OrderStatusSet::MESSAGE_TYPE,
        CommandFailed::MESSAGE_TYPE,
    ];

    /// The step this reply answers.
    pub fn step(&self) -> Option<Step> {
        match self {
            Self::OrderFound(_) => Some(Step::FindOrder),
            Self::CustomerFound(_) => Some(Step::FindCustomer),
            Self::CustomerUpserted(_) => Some(Step::UpsertCustomer),
            Self::ProductsVerified(_) => Some(Step::VerifyProducts),
            Self::OrderCreated(_) => Some(Step::CreateOrder),
            Self::OrderStatusSet(_) => Some(Step::SetStatus),
            Self::Failed(f) => Step::of_command(f.command_type.as_str()),
        }
    }

    /// The system that answered.
    pub fn target(&self) -> System {
        match self {
            Self::OrderFound(m) => m.target,
            Self::CustomerFound(m) => m.target,
            Self::CustomerUpserted(m) => m.target,
            Self::ProductsVerified(m) => m.target,
            Self::OrderCreated(m) => m.target,
            Self::OrderStatusSet(m) => m.target,
            Self::Failed(m) => m.target,
        }
    }

    /// The message type.
    pub fn message_type(&self) -> &'static str {
        match self {
            Self::OrderFound(_) => OrderFound::MESSAGE_TYPE,
            Self::CustomerFound(_) => CustomerFound::MESSAGE_TYPE,
            Self::CustomerUpserted(_) => CustomerUpserted::MESSAGE_TYPE,
            Self::ProductsVerified(_) => ProductsVerified::MESSAGE_TYPE,
            Self::OrderCreated(_) => OrderCreated::MESSAGE_TYPE,
            Self::OrderStatusSet(_) => OrderStatusSet::MESSAGE_TYPE,
            Self::Failed(_) => CommandFailed::MESSAGE_TYPE,
        }
    }

    /// A summary for the timeline: no personal data beyond a masked e-mail.
    pub fn summary(&self) -> serde_json::Value {
        match self {
            Self::OrderFound(m) => json!({ "found": m.found }),
            Self::CustomerFound(m) => json!({ "email": m.email.masked(), "found": m.found }),
            Self::CustomerUpserted(m) => json!({
                "email": m.email.masked(), "target_id": m.target_id, "created": m.created
            }),
            Self::ProductsVerified(m) => json!({ "missing": m.missing, "found": m.found.len() }),
            Self::OrderCreated(m) => json!({ "target_id": m.target_id, "replayed": m.replayed }),
            Self::OrderStatusSet(m) => json!({
                "status": m.status, "target_id": m.target_id, "changed": m.changed,
                "refused": m.refused,
            }),
            Self::Failed(m) => json!({ "command_type": m.command_type.as_str(), "error": m.error }),
        }
    }
}

impl Reply {
    /// Types an untyped envelope as a reply; `Ok(None)` for messages that are no reply.
    pub fn from_envelope(
        envelope: Envelope<serde_json::Value>,
    ) -> Result<Option<Self>, EnvelopeError> {
        fn typed<P: Message>(
            envelope: Envelope<serde_json::Value>,
            wrap: fn(P) -> ReplyPayload,
        ) -> Result<Reply, EnvelopeError> {
            let typed = envelope.into_typed::<P>()?;
            Ok(Reply {
                message_id: typed.message_id.as_uuid(),
                causation_id: typed.causation_id.map(|c| c.as_uuid()),
                payload: wrap(typed.payload),
            })
        }
        let reply = match envelope.message_type.as_str() {
            OrderFound::MESSAGE_TYPE => typed(envelope, ReplyPayload::OrderFound)?,
            CustomerFound::MESSAGE_TYPE => typed(envelope, ReplyPayload::CustomerFound)?,
            CustomerUpserted::MESSAGE_TYPE => typed(envelope, ReplyPayload::CustomerUpserted)?,
            ProductsVerified::MESSAGE_TYPE => typed(envelope, ReplyPayload::ProductsVerified)?,
            OrderCreated::MESSAGE_TYPE => typed(envelope, ReplyPayload::OrderCreated)?,
            OrderStatusSet::MESSAGE_TYPE => typed(envelope, ReplyPayload::OrderStatusSet)?,
            CommandFailed::MESSAGE_TYPE => typed(envelope, ReplyPayload::Failed)?,
            _ => return Ok(None),
        };
        Ok(Some(reply))
    }
}

/// An operator's decision about a saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperatorAction {
    /// Try the current step again now (from `failed`, `waiting_products` or a running
    /// saga waiting for a retry or a reply).
    Retry,
    /// Mark it done without creating the order (e.g. it was entered by hand).
    Skip,
    /// Abandon it.
    Cancel,
}

impl OperatorAction {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Skip => "skip",
            Self::Cancel => "cancel",
        }
    }
}

/// Why a transition did not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The reply does not belong to the saga's current step (late, duplicate, out of order).
    #[error("{0}")]
    StaleReply(String),
    /// The operator action is not possible in this state.
    #[error("{0}")]
    NotAllowed(String),
}

/// Why a command or event could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The envelope could not be encoded.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The saga lacks data its step needs (a bug or a corrupt row).
    #[error("saga {saga} at step {step}: {what}")]
    Inconsistent {
        /// The saga.
        saga: Uuid,
        /// Its step.
        step: &'static str,
        /// What is missing.
        what: &'static str,
    },
}

impl Saga {
    /// A new saga for `mapped` (state `queued`; [`Saga::start`] runs it).
    pub fn new(id: Uuid, envelope: &Envelope<OrderMapped>) -> Self {
        Self {
            id,
            integration_id: envelope.integration_id,
            target: envelope.payload.target,
            external_id: envelope.payload.order.order().external_id.clone(),
            state: SagaState::Queued,
            step: Step::FindOrder,
            wait: Wait::None,
            attempt: 0,
            rechecks: 0,
            order: envelope.payload.order.clone(),
            existing_customer_id: None,
            customer_source: CustomerSource::Lookup,
            customer_id: None,
            target_order_id: None,
            pending_command: None,
            step_commands: Vec::new(),
            next_attempt_at: None,
            missing_skus: Vec::new(),
            verified: Vec::new(),
            last_error: None,
            outcome: None,
            trace: envelope.trace.clone(),
            cause: Some(envelope.message_id),
        }
    }

    /// The order's lifecycle status in its source, as last carried to this saga.
    pub fn status(&self) -> OrderStatus {
        self.order.order().status
    }

    /// A later event of this saga's order carries `status`. The same status as before, or
    /// `open` (reopening is not carried), changes nothing: `None`. A saga still under way
    /// takes the status along (it carries it once the order exists in the target); a saga
    /// that ended (completed, skipped, cancelled by an operator) is reopened at `find_order`
    /// and carries it from there. A failed saga takes it along for its operator's retry.
    pub fn carry_status(
        &mut self,
        status: OrderStatus,
        message_id: Uuid,
        now: DateTime<Utc>,
        settings: &SagaSettings,
    ) -> Result<Option<Effects>, BuildError> {
        if status.is_open() || status == self.status() {
            return Ok(None);
        }
        let mut fx = Effects::default();
        let before = self.status();
        self.order = self.order.clone().with_status(status);
        self.cause = MessageId::from_uuid(message_id).ok();
        fx.note(
            TimelineEntry::new(
                "status_changed",
                self.step,
                json!({ "from": before, "to": status, "saga_state": self.state.as_str() }),
            )
            .message(message_id, OrderMapped::MESSAGE_TYPE),
        );
        if self.state.is_terminal() {
            self.state = SagaState::Running;
            self.last_error = None;
            self.outcome = None;
            self.enter(Step::FindOrder);
            self.send_command(now, settings, &mut fx)?;
        }
        Ok(Some(fx))
    }

    /// The customer lock key (normalised e-mail) when the plan looks the customer up.
    pub fn customer_email(&self) -> Option<&Email> {
        match self.order.customer_plan() {
            CustomerPlan::Upsert { customer } => Some(&customer.email),
            CustomerPlan::DefaultDebtor { .. } => None,
        }
    }

    /// A digest of the customer data this saga would upsert (SHA-256 of its JSON, hex), to
    /// tell whether a recorded resolution was made with the same data.
    pub fn customer_payload_hash(&self) -> Option<String> {
        let CustomerPlan::Upsert { customer } = self.order.customer_plan() else {
            return None;
        };
        let json = serde_json::to_vec(customer).ok()?;
        let digest = Sha256::digest(&json);
        Some(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Whether a recent resolution of this saga's customer may stand in for its lookup.
    pub fn may_reuse_customer(&self) -> bool {
        self.customer_source == CustomerSource::Lookup && self.customer_email().is_some()
    }

    /// Whether the saga must hold its customer's lock in its current state: from the
    /// customer lookup until the customer exists.
    pub fn needs_customer_lock(&self) -> bool {
        self.state == SagaState::Running
            && matches!(self.step, Step::FindCustomer | Step::UpsertCustomer)
            && self.wait != Wait::CustomerLock
    }

    /// Whether the current wait has expired at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.next_attempt_at.is_some_and(|at| at <= now)
    }

    /// Starts a queued saga: sends `order.find`.
    pub fn start(
        &mut self,
        now: DateTime<Utc>,
        settings: &SagaSettings,
    ) -> Result<Effects, BuildError> {
        let mut fx = Effects::default();
        self.state = SagaState::Running;
        fx.note(TimelineEntry::new("started", self.step, json!({})));
        self.send_command(now, settings, &mut fx)?;
        Ok(fx)
    }

    /// Ends a new saga without a command: its order came from this saga's target through
    /// Ferry (saga `origin` created it in the other system as `created_as`), so it exists
    /// here already. The echo of Ferry's own write is not sent back.
    pub fn skip_echo(&mut self, origin: Uuid, created_as: Option<String>) -> Effects {
        let mut fx = Effects::default();
        fx.note(TimelineEntry::new(
            "echo",
            self.step,
            json!({ "origin_saga": origin, "created_as": created_as }),
        ));
        self.finish(
            SagaState::Skipped,
            format!(
                "the order came from {} through Ferry (saga {origin}); not sent back",
                self.target
            ),
            &mut fx,
        );
        fx
    }

    /// Applies a reply.
    pub fn on_reply(
        &mut self,
        reply: &Reply,
        now: DateTime<Utc>,
        settings: &SagaSettings,
    ) -> Result<Result<Effects, Refused>, BuildError> {
        if let Some(why) = self.stale_reason(reply) {
            return Ok(Err(Refused::StaleReply(why)));
        }
        let mut fx = Effects::default();
        fx.note(
            TimelineEntry::new("reply", self.step, reply.payload.summary())
                .message(reply.message_id, reply.payload.message_type()),
        );
        self.cause = MessageId::from_uuid(reply.message_id).ok();
        self.pending_command = None;
        match &reply.payload {
            ReplyPayload::OrderFound(m) => match &m.found {
                Some(id) if !self.status().is_open() => {
                    self.target_order_id = Some(id.clone());
                    self.enter(Step::SetStatus);
                    self.send_command(now, settings, &mut fx)?;
                }
                None if !self.status().is_open() => {
                    self.finish(
                        SagaState::Skipped,
                        format!(
                            "the order was {} in the source before it reached {}; not created",
                            self.status(),
                            self.target
                        ),
                        &mut fx,
                    );
                }
                Some(id) => {
                    self.target_order_id = Some(id.clone());
                    self.finish(
                        SagaState::Skipped,
                        format!(
                            "the order already exists in {} as {id}; not created again",
                            self.target
                        ),
                        &mut fx,
                    );
                }
                None => match self.order.customer_plan().clone() {
                    CustomerPlan::Upsert { .. } => {
                        self.enter(Step::UpsertCustomer);
                        self.wait = Wait::CustomerLock;
                        self.next_attempt_at = Some(now);
                    }
                    CustomerPlan::DefaultDebtor { relation_id } => {
                        fx.note(TimelineEntry::new(
                            "default_debtor",
                            Step::UpsertCustomer,
                            json!({ "customer_id": relation_id }),
                        ));
                        self.customer_id = Some(relation_id);
                        self.enter(Step::VerifyProducts);
                        self.send_command(now, settings, &mut fx)?;
                    }
                },
            },
            ReplyPayload::CustomerFound(m) => {
                self.existing_customer_id = m.found.clone();
                self.enter(Step::UpsertCustomer);
                self.send_command(now, settings, &mut fx)?;
            }
            ReplyPayload::CustomerUpserted(m) => {
                self.customer_id = Some(m.target_id.clone());
                fx.customer =
                    self.customer_payload_hash()
                        .map(|payload_hash| CustomerEffect::Resolved {
                            customer_id: m.target_id.clone(),
                            payload_hash,
                        });
                self.enter(Step::VerifyProducts);
                self.send_command(now, settings, &mut fx)?;
            }
            ReplyPayload::ProductsVerified(m) if m.missing.is_empty() => {
                if self.state == SagaState::WaitingProducts {
                    fx.note(TimelineEntry::new(
                        "resumed",
                        self.step,
                        json!({ "reason": "every product exists now" }),
                    ));
                    self.state = SagaState::Running;
                }
                self.missing_skus.clear();
                self.verified = m.found.clone();
                self.last_error = None;
                self.outcome = None;
                self.enter(Step::CreateOrder);
                self.send_command(now, settings, &mut fx)?;
            }
            ReplyPayload::ProductsVerified(m) => {
                let first_time = self.state != SagaState::WaitingProducts;
                self.missing_skus = m.missing.clone();
                self.rechecks += 1;
                let list: Vec<&str> = m.missing.iter().map(Sku::as_str).collect();
                let error = FailureInfo::new(
                    ErrorCode::NotFound,
                    format!(
                        "order {}: {} product(s) missing in {}: SKU {}; the saga waits until they exist",
                        self.external_id,
                        list.len(),
                        self.target,
                        list.join(", ")
                    ),
                )
                .with_retryable(true);
                self.state = SagaState::WaitingProducts;
                self.wait = Wait::Retry;
                let delay = settings.recheck_delay(self.rechecks);
                self.next_attempt_at = Some(now + delay_of(delay));
                self.outcome = Some(error.message.clone());
                self.last_error = Some(error.clone());
                fx.note(TimelineEntry::new(
                    if first_time {
                        "parked"
                    } else {
                        "still_missing"
                    },
                    self.step,
                    json!({ "missing": m.missing, "recheck_in_ms": delay.as_millis() as u64 }),
                ));
                if first_time {
                    let parked = SagaParked {
                        saga_id: self.id,
                        target: self.target,
                        external_id: self.external_id.clone(),
                        step: self.step.as_str().to_owned(),
                        missing_skus: m.missing.clone(),
                        error,
                    };
                    fx.messages.push(self.event(parked)?);
                }
            }
            ReplyPayload::OrderCreated(m) => {
                self.target_order_id = Some(m.target_id.clone());
                if !self.status().is_open() {
                    // Cancelled or refunded in the source while it was being created.
                    fx.note(TimelineEntry::new(
                        "created",
                        self.step,
                        json!({ "target_id": m.target_id, "then": self.status() }),
                    ));
                    self.enter(Step::SetStatus);
                    self.send_command(now, settings, &mut fx)?;
                    return Ok(Ok(fx));
                }
                let how = if m.replayed {
                    " (the target answered an idempotent replay)"
                } else {
                    ""
                };
                self.finish(
                    SagaState::Completed,
                    format!("created in {} as {}{how}", self.target, m.target_id),
                    &mut fx,
                );
            }
            ReplyPayload::OrderStatusSet(m) if m.status != self.status() => {
                // Another status arrived while this one was on its way: carry that one too.
                self.enter(Step::SetStatus);
                self.send_command(now, settings, &mut fx)?;
            }
            ReplyPayload::OrderStatusSet(m) if m.refused.is_some() => {
                if let Some(id) = &m.target_id {
                    self.target_order_id = Some(id.clone());
                }
                let why = m.refused.clone().unwrap_or_default();
                self.finish(
                    SagaState::Skipped,
                    format!("{} not carried to {}: {why}", m.status, self.target),
                    &mut fx,
                );
            }
            ReplyPayload::OrderStatusSet(m) => {
                let outcome = match (&m.target_id, m.changed) {
                    (Some(id), true) => format!("{} in {} (order {id})", m.status, self.target),
                    (Some(id), false) => {
                        format!(
                            "{} in {} already (order {id}); nothing changed",
                            m.status, self.target
                        )
                    }
                    (None, _) => format!(
                        "the order is not in {}; nothing to mark {}",
                        self.target, m.status
                    ),
                };
                if let Some(id) = &m.target_id {
                    self.target_order_id = Some(id.clone());
                }
                let state = if m.target_id.is_some() {
                    SagaState::Completed
                } else {
                    SagaState::Skipped
                };
                self.finish(state, outcome, &mut fx);
            }
            ReplyPayload::Failed(m) if self.reused_customer_refused(&m.error) => {
                self.resolve_customer_again(&m.error, now, &mut fx);
            }
            ReplyPayload::Failed(m) => {
                self.fail_attempt(m.error.clone(), now, settings, &mut fx)?;
            }
        }
        Ok(Ok(fx))
    }

    /// Why `reply` does not apply now, if it does not.
    fn stale_reason(&self, reply: &Reply) -> Option<String> {
        let kind = reply.payload.message_type();
        if reply.payload.target() != self.target {
            return Some(format!(
                "{kind} from {} but the saga's target is {}",
                reply.payload.target(),
                self.target
            ));
        }
        if !matches!(self.state, SagaState::Running | SagaState::WaitingProducts) {
            return Some(format!(
                "{kind} arrived while the saga is {}",
                self.state.as_str()
            ));
        }
        if reply.payload.step() != Some(self.step) {
            return Some(format!(
                "{kind} does not answer the current step {}",
                self.step.as_str()
            ));
        }
        match reply.causation_id {
            Some(c) if self.step_commands.contains(&c) => None,
            Some(c) => Some(format!(
                "{kind} answers command {c}, which is not a command of the current step {}",
                self.step.as_str()
            )),
            None => Some(format!("{kind} carries no causation id")),
        }
    }

    /// A timer fired: resend after a timeout or backoff; nothing when not due.
    pub fn on_timer(
        &mut self,
        now: DateTime<Utc>,
        settings: &SagaSettings,
    ) -> Result<Effects, BuildError> {
        let mut fx = Effects::default();
        if !self.is_due(now) {
            return Ok(fx);
        }
        match (self.state, self.wait) {
            (SagaState::Queued, _) => return self.start(now, settings),
            (SagaState::Running, Wait::Reply) => {
                let command = self.step.command_type().unwrap_or("command");
                let error = FailureInfo::new(
                    ErrorCode::Timeout,
                    format!(
                        "no reply from {} to {command} of order {} within {} ms",
                        self.target, self.external_id, settings.step_timeout_ms
                    ),
                );
                fx.note(TimelineEntry::new(
                    "timeout",
                    self.step,
                    json!({ "command_id": self.pending_command, "attempt": self.attempt + 1 }),
                ));
                self.pending_command = None;
                self.fail_attempt(error, now, settings, &mut fx)?;
            }
            (SagaState::Running, Wait::Retry) => self.send_command(now, settings, &mut fx)?,
            (SagaState::WaitingProducts, Wait::Retry) => {
                fx.note(TimelineEntry::new(
                    "recheck",
                    self.step,
                    json!({ "missing": self.missing_skus }),
                ));
                self.send_command(now, settings, &mut fx)?;
            }
            (SagaState::WaitingProducts, Wait::Reply) => {
                fx.note(TimelineEntry::new(
                    "timeout",
                    self.step,
                    json!({ "command_id": self.pending_command }),
                ));
                self.pending_command = None;
                self.wait = Wait::Retry;
                self.next_attempt_at = Some(now + delay_of(settings.recheck_delay(self.rechecks)));
            }
            // The customer lock is taken by the engine, which sees `Wait::CustomerLock`.
            _ => {}
        }
        Ok(fx)
    }

    /// Called by the engine once the customer lock is held: sends `customer.find`.
    pub fn customer_lock_acquired(
        &mut self,
        now: DateTime<Utc>,
        settings: &SagaSettings,
    ) -> Result<Effects, BuildError> {
        let mut fx = Effects::default();
        fx.note(TimelineEntry::new(
            "customer_lock_acquired",
            self.step,
            json!({ "email": self.customer_email().map(Email::masked) }),
        ));
        self.send_command(now, settings, &mut fx)?;
        Ok(fx)
    }

    /// Called by the engine instead of taking the lock when `customer_id` was resolved
    /// recently (at `resolved_at`) with the same customer data: goes on to the products.
    pub fn customer_reused(
        &mut self,
        customer_id: ExternalId,
        resolved_at: DateTime<Utc>,
        now: DateTime<Utc>,
        settings: &SagaSettings,
    ) -> Result<Effects, BuildError> {
        let mut fx = Effects::default();
        fx.note(TimelineEntry::new(
            "customer_reused",
            self.step,
            json!({
                "email": self.customer_email().map(Email::masked),
                "customer_id": customer_id,
                "resolved_at": resolved_at,
            }),
        ));
        self.customer_source = CustomerSource::Reused;
        self.existing_customer_id = Some(customer_id.clone());
        self.customer_id = Some(customer_id);
        self.enter(Step::VerifyProducts);
        self.send_command(now, settings, &mut fx)?;
        Ok(fx)
    }

    /// Whether `error` refused an order booked on a reused customer for good: the customer
    /// may be gone from the target (the connectors report that as a permanent rejection).
    fn reused_customer_refused(&self, error: &FailureInfo) -> bool {
        self.step == Step::CreateOrder
            && self.customer_source == CustomerSource::Reused
            && !error.retryable
    }

    /// Forgets the reused customer and goes back to the (locked) lookup and upsert.
    fn resolve_customer_again(
        &mut self,
        error: &FailureInfo,
        now: DateTime<Utc>,
        fx: &mut Effects,
    ) {
        fx.note(TimelineEntry::new(
            "customer_reuse_invalidated",
            self.step,
            json!({ "customer_id": self.customer_id, "error": error }),
        ));
        fx.customer = self
            .customer_id
            .take()
            .map(|customer_id| CustomerEffect::Invalidated { customer_id });
        self.customer_source = CustomerSource::Refreshed;
        self.existing_customer_id = None;
        self.last_error = Some(error.clone());
        self.enter(Step::UpsertCustomer);
        self.wait = Wait::CustomerLock;
        self.next_attempt_at = Some(now);
    }

    /// Called by the engine when another saga holds the customer lock.
    pub fn customer_lock_busy(&mut self, now: DateTime<Utc>, settings: &SagaSettings) -> bool {
        let first = self.wait != Wait::CustomerLock || self.pending_command.is_some();
        self.wait = Wait::CustomerLock;
        self.pending_command = None;
        self.next_attempt_at = Some(now + delay_of(settings.customer_lock_poll()));
        first
    }

    /// Wakes a parked saga early (a missing product appeared).
    pub fn wake(&mut self, now: DateTime<Utc>) {
        if self.state == SagaState::WaitingProducts && self.wait == Wait::Retry {
            self.next_attempt_at = Some(now);
        }
    }

    /// An operator's action. `who` is the token name.
    pub fn on_operator(
        &mut self,
        action: OperatorAction,
        who: &str,
        now: DateTime<Utc>,
        settings: &SagaSettings,
    ) -> Result<Result<Effects, Refused>, BuildError> {
        let mut fx = Effects::default();
        if self.state.is_terminal() {
            return Ok(Err(Refused::NotAllowed(format!(
                "saga {} is {} already; nothing to {}",
                self.id,
                self.state.as_str(),
                action.as_str()
            ))));
        }
        fx.note(TimelineEntry::new(
            match action {
                OperatorAction::Retry => "operator_retry",
                OperatorAction::Skip => "operator_skip",
                OperatorAction::Cancel => "operator_cancel",
            },
            self.step,
            json!({ "by": who }),
        ));
        match action {
            OperatorAction::Retry => {
                if self.state == SagaState::Queued {
                    return Ok(Err(Refused::NotAllowed(format!(
                        "saga {} is queued; it starts when a slot is free",
                        self.id
                    ))));
                }
                self.state = SagaState::Running;
                self.attempt = 0;
                self.last_error = None;
                self.outcome = None;
                self.pending_command = None;
                if matches!(self.step, Step::FindCustomer | Step::UpsertCustomer) {
                    // The customer step runs under the customer lock.
                    self.enter(Step::UpsertCustomer);
                    self.wait = Wait::CustomerLock;
                    self.next_attempt_at = Some(now);
                } else {
                    self.send_command(now, settings, &mut fx)?;
                }
            }
            OperatorAction::Skip => self.finish(
                SagaState::Skipped,
                format!("skipped by operator {who}; the order was not created by Ferry"),
                &mut fx,
            ),
            OperatorAction::Cancel => self.finish(
                SagaState::Cancelled,
                format!("cancelled by operator {who}"),
                &mut fx,
            ),
        }
        Ok(Ok(fx))
    }

    fn enter(&mut self, step: Step) {
        self.step = step;
        self.attempt = 0;
        self.step_commands.clear();
        self.pending_command = None;
    }

    fn finish(&mut self, state: SagaState, outcome: String, fx: &mut Effects) {
        fx.note(TimelineEntry::new(
            state.as_str(),
            self.step,
            json!({ "outcome": outcome, "target_order_id": self.target_order_id }),
        ));
        self.state = state;
        self.step = Step::Finished;
        self.wait = Wait::None;
        self.pending_command = None;
        self.next_attempt_at = None;
        self.outcome = Some(outcome);
    }

    /// One failed attempt at the current step: retry with backoff, or give up.
    fn fail_attempt(
        &mut self,
        error: FailureInfo,
        now: DateTime<Utc>,
        settings: &SagaSettings,
        fx: &mut Effects,
    ) -> Result<(), BuildError> {
        if self.state == SagaState::WaitingProducts {
            // A re-verification failed: stay parked, look again later.
            self.wait = Wait::Retry;
            self.next_attempt_at = Some(now + delay_of(settings.recheck_delay(self.rechecks)));
            fx.note(TimelineEntry::new(
                "recheck_failed",
                self.step,
                json!({ "error": error }),
            ));
            return Ok(());
        }
        self.attempt += 1;
        self.last_error = Some(error.clone());
        if error.retryable && self.attempt < settings.max_attempts {
            let delay = settings.retry_delay(self.attempt);
            self.wait = Wait::Retry;
            self.next_attempt_at = Some(now + delay_of(delay));
            fx.note(TimelineEntry::new(
                "retry_scheduled",
                self.step,
                json!({ "attempt": self.attempt, "in_ms": delay.as_millis() as u64, "error": error }),
            ));
            return Ok(());
        }
        let why = if error.retryable {
            format!("gave up after {} attempts", self.attempt)
        } else {
            "permanent failure".to_owned()
        };
        let outcome = format!(
            "order {}: step {} failed ({why}): {}",
            self.external_id,
            self.step.as_str(),
            error.message
        );
        fx.note(TimelineEntry::new(
            "failed",
            self.step,
            json!({ "attempts": self.attempt, "error": error }),
        ));
        self.state = SagaState::Failed;
        self.wait = Wait::None;
        self.pending_command = None;
        self.next_attempt_at = None;
        self.outcome = Some(outcome);
        let failed = SagaFailed {
            saga_id: self.id,
            target: self.target,
            external_id: self.external_id.clone(),
            step: self.step.as_str().to_owned(),
            attempts: self.attempt,
            error,
        };
        fx.messages.push(self.event(failed)?);
        Ok(())
    }

    /// Sends the current step's command (a fresh message each time: the target side is
    /// idempotent, and a new id makes its inbox run the command again rather than swallow it).
    fn send_command(
        &mut self,
        now: DateTime<Utc>,
        settings: &SagaSettings,
        fx: &mut Effects,
    ) -> Result<(), BuildError> {
        let message = self.command()?;
        self.pending_command = Some(message.message_id);
        self.step_commands.push(message.message_id);
        self.wait = Wait::Reply;
        self.next_attempt_at = Some(now + delay_of(settings.step_timeout()));
        fx.note(
            TimelineEntry::new(
                "command_sent",
                self.step,
                json!({ "routing_key": message.routing_key, "attempt": self.attempt + 1 }),
            )
            .message(message.message_id, message.message_type()),
        );
        fx.messages.push(message);
        Ok(())
    }

    /// The current step's command.
    pub fn command(&self) -> Result<BusMessage, BuildError> {
        let target = self.target;
        let inconsistent = |what| BuildError::Inconsistent {
            saga: self.id,
            step: self.step.as_str(),
            what,
        };
        match self.step {
            Step::FindOrder => self.envelope(OrderFind {
                target,
                external_id: self.external_id.clone(),
            }),
            Step::FindCustomer => {
                let email = self
                    .customer_email()
                    .ok_or_else(|| inconsistent("no customer to look up"))?;
                self.envelope(CustomerFind {
                    target,
                    email: email.clone(),
                })
            }
            Step::UpsertCustomer => match self.order.customer_plan() {
                CustomerPlan::Upsert { customer } => self.envelope(CustomerUpsert {
                    target,
                    customer: (**customer).clone(),
                    existing_id: self.existing_customer_id.clone(),
                }),
                CustomerPlan::DefaultDebtor { .. } => Err(inconsistent("no customer to upsert")),
            },
            Step::VerifyProducts => self.envelope(ProductsVerify {
                target,
                skus: self.order.order().skus(),
            }),
            Step::CreateOrder => {
                let customer_id = self
                    .customer_id
                    .clone()
                    .ok_or_else(|| inconsistent("no customer id"))?;
                self.envelope(OrderCreate {
                    target,
                    order: self.order.clone(),
                    customer_id,
                    idempotency_key: OrderCreate::idempotency_key_for(
                        self.integration_id,
                        &self.external_id,
                    ),
                    articles: self.verified.clone(),
                })
            }
            Step::SetStatus => self.envelope(OrderSetStatus {
                target,
                external_id: self.external_id.clone(),
                status: self.status(),
            }),
            Step::Finished => Err(inconsistent("a finished saga sends no command")),
        }
    }

    fn envelope<P: Message>(&self, payload: P) -> Result<BusMessage, BuildError> {
        let mut envelope = Envelope::new(self.integration_id, payload)
            .with_correlation(self.id)
            .with_trace(self.trace.clone());
        envelope.causation_id = self.cause;
        Ok(BusMessage::from_envelope(&envelope)?)
    }

    fn event<P: Message>(&self, payload: P) -> Result<BusMessage, BuildError> {
        self.envelope(payload)
    }
}

fn delay_of(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! The state machine with an injected clock: no sleeping, no I/O.
    use super::*;
    use ferry_proto::model::{
        Customer, LineCodes, Order, OrderLine, OrderLines, OrderTotals, OrderType,
    };
    use ferry_proto::{CurrencyCode, Money, PositiveQuantity};

    fn settings() -> SagaSettings {
        SagaSettings {
            max_attempts: 3,
            retry_base_ms: 100,
            retry_max_ms: 100,
            step_timeout_ms: 1_000,
            ..SagaSettings::default()
        }
    }

    fn saga() -> Saga {
        let eur = |a| Money::parse(a, CurrencyCode::EUR).unwrap();
        let customer = Customer::person(Email::parse("a@example.com").unwrap());
        let order = Order {
            external_id: ExternalId::parse("ORD-1").unwrap(),
            order_type: OrderType::Order,
            customer: customer.clone(),
            lines: OrderLines::new(vec![OrderLine {
                sku: Sku::parse("1001").unwrap(),
                title: None,
                quantity: PositiveQuantity::parse("1").unwrap(),
                unit_price: eur("1.00"),
                price_includes_tax: true,
                tax_rate: None,
                discount: None,
            }])
            .unwrap(),
            totals: OrderTotals {
                subtotal: eur("1.00"),
                tax: eur("0.00"),
                shipping: eur("0.00"),
                total: eur("1.00"),
            },
            currency: CurrencyCode::EUR,
            payment_method: None,
            payment_term: None,
            billing_address: None,
            shipping_address: None,
            placed_at: Utc::now(),
            notes: None,
            status: Default::default(),
        };
        let plan = CustomerPlan::Upsert {
            customer: Box::new(customer),
        };
        let mapped = OrderMapped {
            target: System::Mpluskassa,
            order: TargetOrder::new(order, plan, vec![LineCodes::default()]).unwrap(),
        };
        Saga::new(Uuid::now_v7(), &Envelope::new(IntegrationId::new(), mapped))
    }

    fn found(causation: Option<Uuid>) -> Reply {
        Reply {
            message_id: Uuid::now_v7(),
            causation_id: causation,
            payload: ReplyPayload::OrderFound(OrderFound {
                target: System::Mpluskassa,
                external_id: ExternalId::parse("ORD-1").unwrap(),
                found: None,
            }),
        }
    }

    fn reply(causation: Option<Uuid>, payload: ReplyPayload) -> Reply {
        Reply {
            message_id: Uuid::now_v7(),
            causation_id: causation,
            payload,
        }
    }

    fn found_as(causation: Option<Uuid>, id: Option<&str>) -> Reply {
        reply(
            causation,
            ReplyPayload::OrderFound(OrderFound {
                target: System::Mpluskassa,
                external_id: ExternalId::parse("ORD-1").unwrap(),
                found: id.map(|i| ExternalId::parse(i).unwrap()),
            }),
        )
    }

    fn status_set(causation: Option<Uuid>, status: OrderStatus, changed: bool) -> Reply {
        reply(
            causation,
            ReplyPayload::OrderStatusSet(OrderStatusSet {
                target: System::Mpluskassa,
                external_id: ExternalId::parse("ORD-1").unwrap(),
                status,
                target_id: Some(ExternalId::parse("40001").unwrap()),
                changed,
                refused: None,
            }),
        )
    }

    fn with_status(mut s: Saga, status: OrderStatus) -> Saga {
        s.order = s.order.clone().with_status(status);
        s
    }

    fn payload_status(m: &BusMessage) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
        v["payload"]["status"].clone()
    }

    #[test]
    fn a_cancelled_order_found_in_the_target_is_cancelled_there() {
        let mut s = with_status(saga(), OrderStatus::Cancelled);
        let now = Utc::now();
        s.start(now, &settings()).unwrap();
        let fx = s
            .on_reply(
                &found_as(s.pending_command, Some("40001")),
                now,
                &settings(),
            )
            .unwrap()
            .unwrap();
        assert_eq!(s.step, Step::SetStatus);
        assert_eq!(fx.messages[0].routing_key, "mpluskassa.order.set-status");
        assert_eq!(payload_status(&fx.messages[0]), "cancelled");
        let fx = s
            .on_reply(
                &status_set(s.pending_command, OrderStatus::Cancelled, true),
                now,
                &settings(),
            )
            .unwrap()
            .unwrap();
        assert!(fx.messages.is_empty());
        assert_eq!((s.state, s.step), (SagaState::Completed, Step::Finished));
        assert!(
            s.outcome
                .as_deref()
                .unwrap()
                .starts_with("cancelled in mpluskassa")
        );
    }

    #[test]
    fn a_status_the_target_cannot_take_ends_skipped_with_its_reason() {
        let mut s = with_status(saga(), OrderStatus::Refunded);
        let now = Utc::now();
        s.start(now, &settings()).unwrap();
        s.on_reply(
            &found_as(s.pending_command, Some("40001")),
            now,
            &settings(),
        )
        .unwrap()
        .unwrap();
        let mut refused = status_set(s.pending_command, OrderStatus::Refunded, false);
        if let ReplyPayload::OrderStatusSet(m) = &mut refused.payload {
            m.refused = Some("the order is delivered".into());
        }
        let fx = s.on_reply(&refused, now, &settings()).unwrap().unwrap();
        assert!(fx.messages.is_empty(), "no alert event: {:?}", fx.messages);
        assert_eq!(s.state, SagaState::Skipped);
        assert_eq!(
            s.outcome.as_deref(),
            Some("refunded not carried to mpluskassa: the order is delivered")
        );
    }

    #[test]
    fn an_order_cancelled_before_it_reached_the_target_is_not_created() {
        let mut s = with_status(saga(), OrderStatus::Refunded);
        let now = Utc::now();
        s.start(now, &settings()).unwrap();
        let fx = s
            .on_reply(&found_as(s.pending_command, None), now, &settings())
            .unwrap()
            .unwrap();
        assert!(
            fx.messages.is_empty(),
            "no customer, no order: {:?}",
            fx.messages
        );
        assert_eq!(s.state, SagaState::Skipped);
        assert!(
            s.outcome
                .as_deref()
                .unwrap()
                .contains("refunded in the source before")
        );
    }

    #[test]
    fn a_status_change_while_creating_is_carried_once_the_order_exists() {
        let mut s = saga();
        let now = Utc::now();
        s.start(now, &settings()).unwrap();
        s.customer_id = Some(ExternalId::parse("7").unwrap());
        s.enter(Step::CreateOrder);
        let mut fx = Effects::default();
        s.send_command(now, &settings(), &mut fx).unwrap();
        // The cancellation arrives while the order is being created: taken along.
        let taken = s
            .carry_status(OrderStatus::Cancelled, Uuid::now_v7(), now, &settings())
            .unwrap()
            .unwrap();
        assert!(taken.messages.is_empty());
        assert_eq!(s.step, Step::CreateOrder);
        let created = reply(
            s.pending_command,
            ReplyPayload::OrderCreated(OrderCreated {
                target: System::Mpluskassa,
                external_id: ExternalId::parse("ORD-1").unwrap(),
                target_id: ExternalId::parse("40001").unwrap(),
                replayed: false,
            }),
        );
        let fx = s.on_reply(&created, now, &settings()).unwrap().unwrap();
        assert_eq!(s.step, Step::SetStatus);
        assert_eq!(fx.messages[0].routing_key, "mpluskassa.order.set-status");
        // A refund arrives before the cancellation is confirmed: the refund follows it.
        s.carry_status(OrderStatus::Refunded, Uuid::now_v7(), now, &settings())
            .unwrap()
            .unwrap();
        let fx = s
            .on_reply(
                &status_set(s.pending_command, OrderStatus::Cancelled, true),
                now,
                &settings(),
            )
            .unwrap()
            .unwrap();
        assert_eq!(payload_status(&fx.messages[0]), "refunded");
        s.on_reply(
            &status_set(s.pending_command, OrderStatus::Refunded, true),
            now,
            &settings(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.state, SagaState::Completed);
    }

    #[test]
    fn an_ended_saga_is_reopened_by_a_new_status_and_only_once() {
        let mut s = saga();
        let now = Utc::now();
        s.start(now, &settings()).unwrap();
        s.on_reply(
            &found_as(s.pending_command, Some("40001")),
            now,
            &settings(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.state, SagaState::Skipped);
        // Open again, or the status it has: nothing.
        assert!(
            s.carry_status(OrderStatus::Open, Uuid::now_v7(), now, &settings())
                .unwrap()
                .is_none()
        );
        let fx = s
            .carry_status(OrderStatus::Cancelled, Uuid::now_v7(), now, &settings())
            .unwrap()
            .unwrap();
        assert_eq!((s.state, s.step), (SagaState::Running, Step::FindOrder));
        assert_eq!(fx.messages[0].routing_key, "mpluskassa.order.find");
        assert_eq!(fx.timeline[0].kind, "status_changed");
        assert!(
            s.carry_status(OrderStatus::Cancelled, Uuid::now_v7(), now, &settings())
                .unwrap()
                .is_none(),
            "the same status twice changes nothing"
        );
        s.on_reply(
            &found_as(s.pending_command, Some("40001")),
            now,
            &settings(),
        )
        .unwrap()
        .unwrap();
        s.on_reply(
            &status_set(s.pending_command, OrderStatus::Cancelled, false),
            now,
            &settings(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.state, SagaState::Completed);
        assert!(s.outcome.as_deref().unwrap().contains("already"));
    }

    #[test]
    fn start_sends_order_find_with_the_saga_as_correlation() {
        let mut s = saga();
        let now = Utc::now();
        let fx = s.start(now, &settings()).unwrap();
        assert_eq!(fx.messages.len(), 1);
        assert_eq!(fx.messages[0].routing_key, "mpluskassa.order.find");
        assert_eq!(
            fx.messages[0].header(ferry_platform::bus::headers::CORRELATION_ID),
            Some(s.id.to_string().as_str())
        );
        assert_eq!(s.wait, Wait::Reply);
        assert_eq!(s.next_attempt_at, Some(now + chrono::Duration::seconds(1)));
    }

    #[test]
    fn an_echo_ends_skipped_without_a_command() {
        let mut s = saga();
        let origin = Uuid::now_v7();
        let fx = s.skip_echo(origin, Some("40001".into()));
        assert!(fx.messages.is_empty());
        assert_eq!((s.state, s.step), (SagaState::Skipped, Step::Finished));
        assert!(
            s.outcome
                .as_deref()
                .unwrap_or_default()
                .contains(&origin.to_string())
        );
        assert_eq!(fx.timeline[0].kind, "echo");
    }

    #[test]
    fn replies_to_unknown_commands_or_other_steps_are_refused() {
        let mut s = saga();
        let now = Utc::now();
        s.start(now, &settings()).unwrap();
        let stale = s
            .on_reply(&found(Some(Uuid::now_v7())), now, &settings())
            .unwrap();
        assert!(matches!(stale, Err(Refused::StaleReply(_))));
        let none = s.on_reply(&found(None), now, &settings()).unwrap();
        assert!(matches!(none, Err(Refused::StaleReply(_))));
        // The right reply moves on to the customer lock; the same reply again is stale.
        let right = found(s.pending_command);
        assert!(s.on_reply(&right, now, &settings()).unwrap().is_ok());
        assert_eq!((s.step, s.wait), (Step::UpsertCustomer, Wait::CustomerLock));
        assert!(s.on_reply(&right, now, &settings()).unwrap().is_err());
    }

    #[test]
    fn timeouts_retry_until_max_attempts_then_fail_with_an_alert() {
        let mut s = saga();
        let mut now = Utc::now();
        s.start(now, &settings()).unwrap();
        assert!(
            s.on_timer(now, &settings()).unwrap().messages.is_empty(),
            "not due yet"
        );
        let mut sent = 1;
        loop {
            now += chrono::Duration::seconds(2);
            let fx = s.on_timer(now, &settings()).unwrap();
            sent += fx
                .messages
                .iter()
                .filter(|m| m.routing_key.ends_with("order.find"))
                .count();
            if s.state == SagaState::Failed {
                assert_eq!(fx.messages[0].routing_key, "ferry.saga.failed");
                break;
            }
            assert!(sent < 10, "never gave up");
        }
        assert_eq!(s.attempt, 3);
        assert_eq!(s.last_error.as_ref().unwrap().code, ErrorCode::Timeout);
        // A late reply to any earlier attempt is now refused.
        let late = found(s.step_commands.first().copied());
        assert!(s.on_reply(&late, now, &settings()).unwrap().is_err());
    }

    /// A saga at `upsert_customer`, its lock wait due.
    fn at_upsert_customer(now: DateTime<Utc>) -> Saga {
        let mut s = saga();
        s.start(now, &settings()).unwrap();
        assert!(
            s.on_reply(&found(s.pending_command), now, &settings())
                .unwrap()
                .is_ok()
        );
        assert_eq!((s.step, s.wait), (Step::UpsertCustomer, Wait::CustomerLock));
        s
    }

    fn reply_to(s: &Saga, payload: ReplyPayload) -> Reply {
        Reply {
            message_id: Uuid::now_v7(),
            causation_id: s.pending_command,
            payload,
        }
    }

    #[test]
    fn the_upsert_reply_records_the_resolution_with_the_payload_hash() {
        let now = Utc::now();
        let mut s = at_upsert_customer(now);
        let fx = s.customer_lock_acquired(now, &settings()).unwrap();
        // One command finds the customer by e-mail and updates or creates it.
        assert_eq!(fx.messages.len(), 1);
        assert_eq!(fx.messages[0].routing_key, "mpluskassa.customer.upsert");
        assert_eq!(fx.customer, None, "nothing resolved before the reply");
        let email = s.customer_email().unwrap().clone();
        let upserted = reply_to(
            &s,
            ReplyPayload::CustomerUpserted(CustomerUpserted {
                target: System::Mpluskassa,
                email,
                target_id: ExternalId::parse("rel-9").unwrap(),
                created: true,
            }),
        );
        let fx = s.on_reply(&upserted, now, &settings()).unwrap().unwrap();
        let hash = s.customer_payload_hash().unwrap();
        assert_eq!(hash.len(), 64);
        assert_eq!(
            fx.customer,
            Some(CustomerEffect::Resolved {
                customer_id: ExternalId::parse("rel-9").unwrap(),
                payload_hash: hash,
            })
        );
        assert_eq!(s.customer_source, CustomerSource::Lookup);
    }

    #[test]
    fn a_saga_persisted_at_the_old_find_step_finishes_through_it() {
        let now = Utc::now();
        let mut s = at_upsert_customer(now);
        // As a release before the one-command upsert left it.
        s.step = Step::FindCustomer;
        let fx = s.customer_lock_acquired(now, &settings()).unwrap();
        assert_eq!(fx.messages[0].routing_key, "mpluskassa.customer.find");
        let email = s.customer_email().unwrap().clone();
        let found = reply_to(
            &s,
            ReplyPayload::CustomerFound(CustomerFound {
                target: System::Mpluskassa,
                email,
                found: Some(ExternalId::parse("rel-3").unwrap()),
            }),
        );
        let fx = s.on_reply(&found, now, &settings()).unwrap().unwrap();
        assert_eq!(s.step, Step::UpsertCustomer);
        assert_eq!(fx.messages[0].routing_key, "mpluskassa.customer.upsert");
        assert_eq!(
            s.existing_customer_id,
            Some(ExternalId::parse("rel-3").unwrap())
        );
    }

    #[test]
    fn the_articles_verified_travel_with_the_order() {
        let now = Utc::now();
        let mut s = at_upsert_customer(now);
        s.customer_lock_acquired(now, &settings()).unwrap();
        let email = s.customer_email().unwrap().clone();
        let upserted = reply_to(
            &s,
            ReplyPayload::CustomerUpserted(CustomerUpserted {
                target: System::Mpluskassa,
                email,
                target_id: ExternalId::parse("rel-9").unwrap(),
                created: false,
            }),
        );
        s.on_reply(&upserted, now, &settings()).unwrap().unwrap();
        let refs: Vec<ProductRef> = s
            .order
            .order()
            .skus()
            .into_iter()
            .enumerate()
            .map(|(i, sku)| ProductRef {
                sku,
                target_id: ExternalId::parse(&format!("{}", 700 + i)).unwrap(),
            })
            .collect();
        let verified = reply_to(
            &s,
            ReplyPayload::ProductsVerified(ProductsVerified {
                target: System::Mpluskassa,
                missing: vec![],
                found: refs.clone(),
            }),
        );
        let fx = s.on_reply(&verified, now, &settings()).unwrap().unwrap();
        assert_eq!(s.step, Step::CreateOrder);
        let sent: OrderCreate = Envelope::decode(&fx.messages[0].body).unwrap().payload;
        assert_eq!(sent.articles, refs);
        // Rebuilt after a timeout or a crash, the command carries them too.
        let again: OrderCreate = Envelope::decode(&s.command().unwrap().body)
            .unwrap()
            .payload;
        assert_eq!(again.articles, refs);
    }

    #[test]
    fn a_reused_customer_skips_the_customer_commands_and_falls_back_once_when_refused() {
        let now = Utc::now();
        let mut s = at_upsert_customer(now);
        assert!(s.may_reuse_customer());
        let id = ExternalId::parse("rel-9").unwrap();
        let fx = s
            .customer_reused(id.clone(), now, now, &settings())
            .unwrap();
        assert_eq!(fx.messages.len(), 1);
        assert_eq!(fx.messages[0].routing_key, "mpluskassa.products.verify");
        assert_eq!(fx.timeline[0].kind, "customer_reused");
        assert_eq!(s.customer_id.as_ref(), Some(&id));
        assert!(!s.needs_customer_lock(), "a reused customer takes no lock");

        // Products there; the order is refused for good: the customer is looked up again.
        let verified = reply_to(
            &s,
            ReplyPayload::ProductsVerified(ProductsVerified {
                target: System::Mpluskassa,
                missing: vec![],
                found: vec![],
            }),
        );
        s.on_reply(&verified, now, &settings()).unwrap().unwrap();
        assert_eq!(s.step, Step::CreateOrder);
        let refused = |s: &Saga| {
            reply_to(
                s,
                ReplyPayload::Failed(CommandFailed {
                    target: System::Mpluskassa,
                    command_type: ferry_proto::MessageType::parse("order.create").unwrap(),
                    record_key: None,
                    error: FailureInfo::new(ErrorCode::RemoteRejected, "Relation 9 not found."),
                }),
            )
        };
        let fx = s.on_reply(&refused(&s), now, &settings()).unwrap().unwrap();
        assert_eq!(
            fx.customer,
            Some(CustomerEffect::Invalidated { customer_id: id })
        );
        assert_eq!(s.state, SagaState::Running);
        assert_eq!((s.step, s.wait), (Step::UpsertCustomer, Wait::CustomerLock));
        assert!(s.is_due(now));
        assert_eq!(s.customer_source, CustomerSource::Refreshed);
        assert!(
            !s.may_reuse_customer(),
            "falls back once, never reuses again"
        );

        // After the locked lookup, a second refusal fails the saga as before.
        s.customer_lock_acquired(now, &settings()).unwrap();
        s.customer_id = Some(ExternalId::parse("rel-10").unwrap());
        s.enter(Step::CreateOrder);
        s.send_command(now, &settings(), &mut Effects::default())
            .unwrap();
        s.on_reply(&refused(&s), now, &settings()).unwrap().unwrap();
        assert_eq!(s.state, SagaState::Failed);
    }

    #[test]
    fn operators_cannot_touch_finished_sagas() {
        let mut s = saga();
        let now = Utc::now();
        s.start(now, &settings()).unwrap();
        assert!(
            s.on_operator(OperatorAction::Cancel, "ops", now, &settings())
                .unwrap()
                .is_ok()
        );
        assert_eq!(s.state, SagaState::Cancelled);
        let again = s
            .on_operator(OperatorAction::Retry, "ops", now, &settings())
            .unwrap();
        assert!(matches!(again, Err(Refused::NotAllowed(_))));
    }
}
