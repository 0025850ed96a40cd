//! A stand-in for a target connector on the real bus: it consumes the commands the
//! orchestrator sends to `<target>.*`, keeps its own state (orders by external id and
//! idempotency key, customers by e-mail, SKUs), replies like a connector would, and counts
//! every effect. Faults can be queued per command type.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ferry_platform::bus::{
    Binding, Bus, BusMessage, Delivery, Handler, Outcome, Subscription, SubscriptionHandle, queues,
};
use ferry_proto::messages::{
    CommandFailed, CustomerFind, CustomerFound, CustomerUpsert, CustomerUpserted, ErrorCode,
    FailureInfo, OrderCreate, OrderCreated, OrderFind, OrderFound, OrderSetStatus, OrderStatusSet,
    ProductRef, ProductUpserted, ProductsVerified, ProductsVerify,
};
use ferry_proto::{Envelope, ExternalId, IntegrationId, Message, Sku, System};
use uuid::Uuid;

/// Something the responder does instead of (or besides) answering normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with `command.failed` carrying this failure; no effect.
    Fail(FailureInfo),
    /// Execute the command but send no reply (a lost reply).
    Drop,
    /// Execute it and reply twice (two reply messages).
    Twice,
    /// Execute it and reply after this delay.
    Delay(Duration),
}

/// An order the target holds.
#[derive(Debug, Clone)]
pub struct TargetOrderRecord {
    /// Its id in the target.
    pub target_id: String,
    /// The customer it is booked on.
    pub customer_id: String,
    /// The idempotency key it was created with.
    pub idempotency_key: String,
    /// The full command.
    pub command: OrderCreate,
}

/// The target's state and the effects counted.
#[derive(Debug, Default)]
pub struct TargetState {
    /// Orders by external id.
    pub orders: HashMap<String, TargetOrderRecord>,
    /// Customer ids by e-mail.
    pub customers: HashMap<String, String>,
    /// SKUs that exist.
    pub skus: HashSet<String>,
    /// Command message ids processed (the connector's inbox).
    pub seen: HashSet<Uuid>,
    /// Commands handled, by type.
    pub commands: BTreeMap<String, usize>,
    /// Orders really created (idempotent replays not counted).
    pub orders_created: usize,
    /// Customers really created.
    pub customers_created: usize,
    /// Customers updated.
    pub customers_updated: usize,
    /// Lifecycle statuses set, by external id (`order.set-status`).
    pub statuses: HashMap<String, ferry_proto::model::OrderStatus>,
    /// Status changes really made (an order in that status already not counted).
    pub status_changes: usize,
    /// Customer ids deleted in the target: orders booked on them are refused.
    pub gone_customers: HashSet<String>,
    /// Faults still to inject, by command type.
    pub faults: HashMap<String, VecDeque<Fault>>,
    /// Command types whose every command gets this fault (after the queued ones).
    pub always: HashMap<String, Fault>,
    next_id: u64,
}

impl TargetState {
    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }
}

/// The responder: subscribe it before the orchestrator sends anything.
pub struct Responder {
    /// The system it plays.
    pub target: System,
    state: Arc<Mutex<TargetState>>,
    bus: Arc<dyn Bus>,
    handle: Mutex<Option<SubscriptionHandle>>,
}

impl Responder {
    /// Subscribes a responder playing `target`'s connector on `bus`.
    pub async fn start(bus: Arc<dyn Bus>, target: System) -> Arc<Self> {
        Self::start_with_prefetch(bus, target, 64).await
    }

    /// [`Responder::start`] with a consumer prefetch of `prefetch`.
    pub async fn start_with_prefetch(
        bus: Arc<dyn Bus>,
        target: System,
        prefetch: u16,
    ) -> Arc<Self> {
        let responder = Arc::new(Self {
            target,
            state: Arc::new(Mutex::new(TargetState::default())),
            bus: bus.clone(),
            handle: Mutex::new(None),
        });
        let queue = match target {
            System::Mpluskassa => queues::CONNECTOR_MPLUSKASSA,
            _ => queues::CONNECTOR_MAILCHIMP,
        };
        let bindings = [
            OrderFind::MESSAGE_TYPE,
            CustomerFind::MESSAGE_TYPE,
            CustomerUpsert::MESSAGE_TYPE,
            ProductsVerify::MESSAGE_TYPE,
            OrderCreate::MESSAGE_TYPE,
            OrderSetStatus::MESSAGE_TYPE,
        ]
        .iter()
        .map(|t| Binding::commands(format!("{}.{t}", target.as_str())))
        .collect();
        let subscription = Subscription::new(queue, bindings).prefetch(prefetch);
        let handler = Arc::new(ResponderHandler {
            responder: Arc::downgrade(&responder),
        });
        let handle = bus
            .subscribe(subscription, handler)
            .await
            .expect("responder subscribes");
        *responder.handle.lock().unwrap() = Some(handle);
        responder
    }

    /// Stops consuming.
    pub async fn stop(&self) {
        let handle = self.handle.lock().unwrap().take();
        if let Some(handle) = handle {
            handle.stop(Duration::from_secs(2)).await;
        }
    }

    /// Reads the state.
    pub fn with<R>(&self, f: impl FnOnce(&TargetState) -> R) -> R {
        f(&self.state.lock().unwrap())
    }

    /// Adds SKUs that exist in the target (silently).
    pub fn add_skus(&self, skus: &[&str]) {
        let mut state = self.state.lock().unwrap();
        for sku in skus {
            state.skus.insert((*sku).to_owned());
        }
    }

    /// Adds a SKU and announces it with `<target>.product.upserted`, as a connector does.
    pub async fn add_product_and_announce(&self, integration: IntegrationId, sku: &str) {
        self.add_skus(&[sku]);
        let event = Envelope::new(
            integration,
            ProductUpserted {
                target: self.target,
                sku: Sku::parse(sku).unwrap(),
                target_id: ExternalId::parse(&format!("art-{sku}")).unwrap(),
                created: true,
            },
        );
        self.bus
            .publish(BusMessage::from_envelope(&event).unwrap())
            .await
            .expect("publish product.upserted");
    }

    /// Adds an existing customer.
    pub fn add_customer(&self, email: &str, id: &str) {
        self.state
            .lock()
            .unwrap()
            .customers
            .insert(email.to_lowercase(), id.to_owned());
    }

    /// Deletes the customer with `email` in the target (as a shop owner might); returns its id.
    pub fn remove_customer(&self, email: &str) -> String {
        let mut state = self.state.lock().unwrap();
        let id = state.customers.remove(&email.to_lowercase()).unwrap();
        state.gone_customers.insert(id.clone());
        id
    }

    /// Adds an existing order.
    pub fn add_existing_order(&self, external_id: &str, target_id: &str) {
        let mut state = self.state.lock().unwrap();
        // A placeholder record; only the id matters for the lookup.
        state.orders.insert(
            external_id.to_owned(),
            TargetOrderRecord {
                target_id: target_id.to_owned(),
                customer_id: String::new(),
                idempotency_key: String::new(),
                command: placeholder_command(),
            },
        );
    }

    /// Queues `fault` for the next command of `command_type`.
    pub fn fault(&self, command_type: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .entry(command_type.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// Applies `fault` to every command of `command_type` from now on.
    pub fn always(&self, command_type: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .always
            .insert(command_type.to_owned(), fault);
    }

    /// Ends [`Responder::always`] for `command_type`.
    pub fn heal(&self, command_type: &str) {
        self.state.lock().unwrap().always.remove(command_type);
    }

    /// Commands of `command_type` handled so far.
    pub fn commands(&self, command_type: &str) -> usize {
        self.with(|s| s.commands.get(command_type).copied().unwrap_or(0))
    }

    /// Orders really created.
    pub fn orders_created(&self) -> usize {
        self.with(|s| s.orders_created)
    }

    /// Customers really created.
    pub fn customers_created(&self) -> usize {
        self.with(|s| s.customers_created)
    }

    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let envelope = match Envelope::<serde_json::Value>::from_json_slice(&delivery.message.body)
        {
            Ok(e) => e,
            Err(e) => return Outcome::DeadLetter(e.to_string()),
        };
        let command_type = envelope.message_type.clone();
        let fault = {
            let mut state = self.state.lock().unwrap();
            if !state.seen.insert(envelope.message_id.as_uuid()) {
                return Outcome::Ack; // a redelivery: the reply went out already
            }
            *state.commands.entry(command_type.clone()).or_default() += 1;
            let queued = state
                .faults
                .get_mut(&command_type)
                .and_then(VecDeque::pop_front);
            queued.or_else(|| state.always.get(&command_type).cloned())
        };
        let replies: Vec<BusMessage> = match (&fault, command_type.as_str()) {
            (Some(Fault::Fail(error)), _) => {
                vec![self.failure(&envelope, error.clone())]
            }
            (_, OrderFind::MESSAGE_TYPE) => {
                let cmd = envelope.clone().into_typed::<OrderFind>().unwrap();
                let found = self.with(|s| {
                    s.orders
                        .get(cmd.payload.external_id.as_str())
                        .map(|o| ExternalId::parse(&o.target_id).unwrap())
                });
                vec![reply(
                    &cmd,
                    OrderFound {
                        target: self.target,
                        external_id: cmd.payload.external_id.clone(),
                        found,
                    },
                )]
            }
            (_, OrderSetStatus::MESSAGE_TYPE) => {
                let cmd = envelope.clone().into_typed::<OrderSetStatus>().unwrap();
                let ext = cmd.payload.external_id.as_str().to_owned();
                let (target_id, changed) = {
                    let mut state = self.state.lock().unwrap();
                    match state.orders.get(&ext).map(|o| o.target_id.clone()) {
                        None => (None, false),
                        Some(id) => {
                            let before = state.statuses.insert(ext, cmd.payload.status);
                            let changed = before != Some(cmd.payload.status);
                            if changed {
                                state.status_changes += 1;
                            }
                            (Some(ExternalId::parse(&id).unwrap()), changed)
                        }
                    }
                };
                vec![reply(
                    &cmd,
                    OrderStatusSet {
                        target: self.target,
                        external_id: cmd.payload.external_id.clone(),
                        status: cmd.payload.status,
                        target_id,
                        changed,
                        refused: None,
                    },
                )]
            }
            (_, CustomerFind::MESSAGE_TYPE) => {
                let cmd = envelope.clone().into_typed::<CustomerFind>().unwrap();
                let found = self.with(|s| {
                    s.customers
                        .get(cmd.payload.email.as_str())
                        .map(|id| ExternalId::parse(id).unwrap())
                });
                vec![reply(
                    &cmd,
                    CustomerFound {
                        target: self.target,
                        email: cmd.payload.email.clone(),
                        found,
                    },
                )]
            }
            (_, CustomerUpsert::MESSAGE_TYPE) => {
                let cmd = envelope.clone().into_typed::<CustomerUpsert>().unwrap();
                let email = cmd.payload.customer.email.as_str().to_owned();
                let (id, created) = {
                    let mut state = self.state.lock().unwrap();
                    match state.customers.get(&email).cloned() {
                        Some(id) => {
                            state.customers_updated += 1;
                            (id, false)
                        }
                        None => {
                            let id = state.new_id("rel-");
                            state.customers.insert(email, id.clone());
                            state.customers_created += 1;
                            (id, true)
                        }
                    }
                };
                vec![reply(
                    &cmd,
                    CustomerUpserted {
                        target: self.target,
                        email: cmd.payload.customer.email.clone(),
                        target_id: ExternalId::parse(&id).unwrap(),
                        created,
                    },
                )]
            }
            (_, ProductsVerify::MESSAGE_TYPE) => {
                let cmd = envelope.clone().into_typed::<ProductsVerify>().unwrap();
                let (missing, found) = self.with(|s| {
                    let mut missing = Vec::new();
                    let mut found = Vec::new();
                    for sku in &cmd.payload.skus {
                        if s.skus.contains(sku.as_str()) {
                            found.push(ProductRef {
                                sku: sku.clone(),
                                target_id: ExternalId::parse(&format!("art-{sku}")).unwrap(),
                            });
                        } else {
                            missing.push(sku.clone());
                        }
                    }
                    (missing, found)
                });
                vec![reply(
                    &cmd,
                    ProductsVerified {
                        target: self.target,
                        missing,
                        found,
                    },
                )]
            }
            (_, OrderCreate::MESSAGE_TYPE) => {
                let cmd = envelope.clone().into_typed::<OrderCreate>().unwrap();
                let external_id = cmd.payload.order.order().external_id.as_str().to_owned();
                let key = cmd.payload.idempotency_key.as_str().to_owned();
                let outcome = {
                    let mut state = self.state.lock().unwrap();
                    let missing: Vec<String> = cmd
                        .payload
                        .order
                        .order()
                        .skus()
                        .iter()
                        .filter(|s| !state.skus.contains(s.as_str()))
                        .map(|s| s.to_string())
                        .collect();
                    if let Some(existing) = state
                        .orders
                        .values()
                        .find(|o| o.idempotency_key == key)
                        .cloned()
                    {
                        Ok((existing.target_id, true))
                    } else if state.orders.contains_key(&external_id) {
                        Err(FailureInfo::new(
                            ErrorCode::Conflict,
                            format!("order {external_id} exists with another idempotency key"),
                        ))
                    } else if state
                        .gone_customers
                        .contains(cmd.payload.customer_id.as_str())
                    {
                        // What MplusKASSA answers (createOrderV3), as the connector reports it.
                        Err(FailureInfo::new(
                            ErrorCode::RemoteRejected,
                            format!("Relation {} not found.", cmd.payload.customer_id),
                        ))
                    } else if !missing.is_empty() {
                        Err(FailureInfo::new(
                            ErrorCode::NotFound,
                            format!("SKUs {missing:?} do not exist"),
                        ))
                    } else {
                        let id = state.new_id("ord-");
                        state.orders.insert(
                            external_id.clone(),
                            TargetOrderRecord {
                                target_id: id.clone(),
                                customer_id: cmd.payload.customer_id.to_string(),
                                idempotency_key: key,
                                command: cmd.payload.clone(),
                            },
                        );
                        state.orders_created += 1;
                        Ok((id, false))
                    }
                };
                match outcome {
                    Ok((id, replayed)) => vec![reply(
                        &cmd,
                        OrderCreated {
                            target: self.target,
                            external_id: cmd.payload.order.order().external_id.clone(),
                            target_id: ExternalId::parse(&id).unwrap(),
                            replayed,
                        },
                    )],
                    Err(error) => vec![self.failure(&envelope, error)],
                }
            }
            _ => return Outcome::DeadLetter(format!("unexpected command {command_type}")),
        };
        let replies = match fault {
            Some(Fault::Drop) => Vec::new(),
            Some(Fault::Twice) => {
                let mut out = Vec::new();
                for r in replies {
                    let mut again = r.clone();
                    let mut body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                    let id = Uuid::now_v7();
                    body["message_id"] = serde_json::json!(id);
                    again.message_id = id;
                    again.body = serde_json::to_vec(&body).unwrap().into();
                    out.push(r);
                    out.push(again);
                }
                out
            }
            Some(Fault::Delay(delay)) => {
                let bus = self.bus.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    for r in replies {
                        let _ = bus.publish(r).await;
                    }
                });
                Vec::new()
            }
            _ => replies,
        };
        for r in replies {
            if let Err(e) = self.bus.publish(r).await {
                return Outcome::Retry(e.to_string());
            }
        }
        Outcome::Ack
    }

    fn failure(&self, command: &Envelope<serde_json::Value>, error: FailureInfo) -> BusMessage {
        let failed = CommandFailed {
            target: self.target,
            command_type: ferry_proto::MessageType::parse(&command.message_type).unwrap(),
            record_key: None,
            error,
        };
        BusMessage::from_envelope(&Envelope::caused_by(command, failed)).unwrap()
    }
}

fn reply<C, R: Message>(command: &Envelope<C>, payload: R) -> BusMessage {
    BusMessage::from_envelope(&Envelope::caused_by(command, payload)).unwrap()
}

fn placeholder_command() -> OrderCreate {
    let mapped = super::mapped_order(
        "placeholder",
        super::Plan::DefaultDebtor("rel-0"),
        &["1"],
        System::Mpluskassa,
    );
    OrderCreate {
        target: System::Mpluskassa,
        customer_id: ExternalId::parse("rel-0").unwrap(),
        idempotency_key: OrderCreate::idempotency_key_for(
            IntegrationId::new(),
            &ExternalId::parse("placeholder").unwrap(),
        ),
        articles: Vec::new(),
        order: mapped.order,
    }
}

struct ResponderHandler {
    responder: std::sync::Weak<Responder>,
}

#[async_trait]
impl Handler for ResponderHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        match self.responder.upgrade() {
            Some(responder) => responder.handle(delivery).await,
            None => Outcome::Retry("responder gone".into()),
        }
    }
}
