//! The mapping itself, free of I/O: an observed record plus an integration's configuration
//! give the target's command, a reason to skip, or every mapping error.
//!
//! Steps for every record:
//! 1. the flow's switch: off, or the record comes from the other side -> skipped;
//! 2. the default mapping ([`crate::defaults`]);
//! 3. the user mappings of the flow ([`crate::rules`]), then the document is parsed back into
//!    the canonical type, so every value passes the contract's parsers;
//! 4. the final checks: SKUs to MailChimp digits only (after the SKU rule), VAT codes and
//!    the employee number on MplusKASSA orders;
//! 5. the command: `<target>.customer.upsert`, `<target>.product.upsert` (with
//!    `overwrite_existing`), `<target>.category.upsert`, `<target>.stock.set` or
//!    `<target>.order.mapped`.

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::Key;
use ferry_platform::bus::BusMessage;
use ferry_proto::messages::{
    CategoryObserved, CategoryUpsert, CustomerObserved, CustomerUpsert, Flow, OrderMapped,
    OrderObserved, ProductObserved, ProductUpsert, StockObserved, StockSet,
};
use ferry_proto::model::{CustomerPlan, LineCodes, ProductKind, TargetOrder, TargetOrderError};
use ferry_proto::{Envelope, EnvelopeError, IntegrationId, Message, NumericSku, Sku, System};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::defaults::{self, Defaulted, StockDoc};
use crate::error::{MappingError, MappingErrorKind, MappingFailure};
use crate::expr::{self, Expr};
use crate::rules::{self, CompiledMappings, Mappings, RuleInputs};
use crate::settings::{Settings, SkuRule, ValueMap};
use crate::validation::FieldError;

/// An observed record the mapper consumes.
// One value per record, moved along once: boxing the large variants would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// `customer.observed`.
    Customer(CustomerObserved),
    /// `product.observed`.
    Product(ProductObserved),
    /// `category.observed`.
    Category(CategoryObserved),
    /// `stock.observed`.
    Stock(StockObserved),
    /// `order.observed`.
    Order(OrderObserved),
}

/// The message types the mapper consumes.
pub const CONSUMED: [&str; 5] = [
    CustomerObserved::MESSAGE_TYPE,
    ProductObserved::MESSAGE_TYPE,
    CategoryObserved::MESSAGE_TYPE,
    StockObserved::MESSAGE_TYPE,
    OrderObserved::MESSAGE_TYPE,
];

impl Observed {
    /// Types the payload of an untyped envelope by its message type.
    pub fn from_envelope(envelope: Envelope<Json>) -> Result<(Envelope<()>, Self), EnvelopeError> {
        fn typed<P: Message>(
            e: Envelope<Json>,
            wrap: fn(P) -> Observed,
        ) -> Result<(Envelope<()>, Observed), EnvelopeError> {
            let e = e.into_typed::<P>()?;
            let (meta, payload) = split(e);
            Ok((meta, wrap(payload)))
        }
        match envelope.message_type.as_str() {
            CustomerObserved::MESSAGE_TYPE => typed(envelope, Observed::Customer),
            ProductObserved::MESSAGE_TYPE => typed(envelope, Observed::Product),
            CategoryObserved::MESSAGE_TYPE => typed(envelope, Observed::Category),
            StockObserved::MESSAGE_TYPE => typed(envelope, Observed::Stock),
            OrderObserved::MESSAGE_TYPE => typed(envelope, Observed::Order),
            other => Err(EnvelopeError::WrongMessageType {
                message_id: envelope.message_id,
                expected: "customer|product|category|stock|order.observed",
                found: other.to_owned(),
            }),
        }
    }

    /// Parses an observed payload of `flow` from JSON (the preview's sample record).
    pub fn from_payload(flow: Flow, payload: Json) -> Result<Self, serde_json::Error> {
        Ok(match flow {
            Flow::Customers => Observed::Customer(serde_json::from_value(payload)?),
            Flow::Products => Observed::Product(serde_json::from_value(payload)?),
            Flow::Categories => Observed::Category(serde_json::from_value(payload)?),
            Flow::Stock => Observed::Stock(serde_json::from_value(payload)?),
            Flow::Orders => Observed::Order(serde_json::from_value(payload)?),
        })
    }

    /// The flow the record belongs to.
    pub fn flow(&self) -> Flow {
        match self {
            Observed::Customer(_) => Flow::Customers,
            Observed::Product(_) => Flow::Products,
            Observed::Category(_) => Flow::Categories,
            Observed::Stock(_) => Flow::Stock,
            Observed::Order(_) => Flow::Orders,
        }
    }

    /// The system it was observed in.
    pub fn source(&self) -> System {
        match self {
            Observed::Customer(m) => m.source,
            Observed::Product(m) => m.source,
            Observed::Category(m) => m.source,
            Observed::Stock(m) => m.source,
            Observed::Order(m) => m.source,
        }
    }

    /// The record's key for logs and reasons: SKU, category key, order number, or the
    /// masked e-mail address.
    pub fn record_key(&self) -> String {
        match self {
            Observed::Customer(m) => m.customer.email.masked(),
            Observed::Product(m) => m.product.sku.to_string(),
            Observed::Category(m) => m.category.key.to_string(),
            Observed::Stock(m) => m.stock.sku.to_string(),
            Observed::Order(m) => m.order.external_id.to_string(),
        }
    }

    fn to_json(&self) -> Json {
        let v = match self {
            Observed::Customer(m) => serde_json::to_value(m),
            Observed::Product(m) => serde_json::to_value(m),
            Observed::Category(m) => serde_json::to_value(m),
            Observed::Stock(m) => serde_json::to_value(m),
            Observed::Order(m) => serde_json::to_value(m),
        };
        v.unwrap_or(Json::Null)
    }
}

fn split<P>(e: Envelope<P>) -> (Envelope<()>, P) {
    let meta = Envelope {
        message_id: e.message_id,
        integration_id: e.integration_id,
        message_type: e.message_type,
        schema_version: e.schema_version,
        correlation_id: e.correlation_id,
        causation_id: e.causation_id,
        occurred_at: e.occurred_at,
        trace: e.trace,
        payload: (),
    };
    (meta, e.payload)
}

/// The command (or, for orders, the event) the mapper sends.
// One value per record, moved along once: boxing the large variants would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `<target>.customer.upsert`.
    CustomerUpsert(CustomerUpsert),
    /// `<target>.product.upsert`.
    ProductUpsert(ProductUpsert),
    /// `<target>.category.upsert`.
    CategoryUpsert(CategoryUpsert),
    /// `<target>.stock.set`.
    StockSet(StockSet),
    /// `<target>.order.mapped` (an event that starts the order saga).
    OrderMapped(OrderMapped),
}

impl Command {
    /// The routing key, e.g. `mpluskassa.customer.upsert`.
    pub fn routing_key(&self) -> String {
        match self {
            Command::CustomerUpsert(m) => m.routing_key().to_string(),
            Command::ProductUpsert(m) => m.routing_key().to_string(),
            Command::CategoryUpsert(m) => m.routing_key().to_string(),
            Command::StockSet(m) => m.routing_key().to_string(),
            Command::OrderMapped(m) => m.routing_key().to_string(),
        }
    }

    /// The message type, e.g. `customer.upsert`.
    pub fn message_type(&self) -> &'static str {
        match self {
            Command::CustomerUpsert(_) => CustomerUpsert::MESSAGE_TYPE,
            Command::ProductUpsert(_) => ProductUpsert::MESSAGE_TYPE,
            Command::CategoryUpsert(_) => CategoryUpsert::MESSAGE_TYPE,
            Command::StockSet(_) => StockSet::MESSAGE_TYPE,
            Command::OrderMapped(_) => OrderMapped::MESSAGE_TYPE,
        }
    }

    /// The payload as JSON (the preview's result).
    pub fn payload_json(&self) -> Json {
        let v = match self {
            Command::CustomerUpsert(m) => serde_json::to_value(m),
            Command::ProductUpsert(m) => serde_json::to_value(m),
            Command::CategoryUpsert(m) => serde_json::to_value(m),
            Command::StockSet(m) => serde_json::to_value(m),
            Command::OrderMapped(m) => serde_json::to_value(m),
        };
        v.unwrap_or(Json::Null)
    }

    /// The bus message of this command, caused by `parent` (same integration and correlation,
    /// trace continued from the current span).
    pub fn to_bus_message<Q>(&self, parent: &Envelope<Q>) -> Result<BusMessage, EnvelopeError> {
        fn build<P: Message, Q>(
            parent: &Envelope<Q>,
            payload: P,
        ) -> Result<BusMessage, EnvelopeError> {
            let envelope =
                ferry_platform::bus::with_current_trace(Envelope::caused_by(parent, payload));
            BusMessage::from_envelope(&envelope)
        }
        match self.clone() {
            Command::CustomerUpsert(m) => build(parent, m),
            Command::ProductUpsert(m) => build(parent, m),
            Command::CategoryUpsert(m) => build(parent, m),
            Command::StockSet(m) => build(parent, m),
            Command::OrderMapped(m) => build(parent, m),
        }
    }
}

/// Why a record is not mapped (not an error: the settings say so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The flow is switched off.
    FlowDisabled,
    /// The flow runs the other way: records of this source are not sent.
    OtherDirection {
        /// Where the record came from.
        source: System,
        /// Where the flow takes records from.
        configured_source: System,
    },
    /// A sale of a type `orders.source_types` does not send (MplusKASSA as source).
    SourceType(ferry_proto::model::OrderType),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::FlowDisabled => f.write_str("the flow is switched off"),
            Skip::OtherDirection {
                source,
                configured_source,
            } => write!(
                f,
                "the flow runs from {configured_source}; records observed in {source} are not sent"
            ),
            Skip::SourceType(t) => write!(
                f,
                "orders.source_types does not send MplusKASSA sales of type {}",
                match t {
                    ferry_proto::model::OrderType::Order => "order",
                    ferry_proto::model::OrderType::Invoice => "invoice",
                }
            ),
        }
    }
}

/// What became of a record.
// One value per record, moved along once: boxing the large variants would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// Send this.
    Send(Command),
    /// Nothing to send.
    Skipped(Skip),
}

/// Everything the mapping of one integration needs, compiled once.
#[derive(Debug, Clone)]
pub struct IntegrationConfig {
    /// The integration.
    pub integration: IntegrationId,
    /// Its settings.
    pub settings: Settings,
    /// Its compiled user mappings.
    pub mappings: CompiledMappings,
    sku_expr: Option<Expr>,
    settings_cel: cel::Value,
    maps_cel: cel::Value,
}

impl IntegrationConfig {
    /// Compiles `settings` and `mappings`; every problem is returned with its place.
    pub fn new(
        integration: IntegrationId,
        settings: Settings,
        mappings: &Mappings,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = settings.validate();
        let compiled = match mappings.compile() {
            Ok(c) => Some(c),
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        if let SkuRule::ValueMap { map } = &settings.products.sku_rule
            && !mappings.value_maps.contains_key(map)
        {
            errors.push(FieldError::at(
                "products.sku_rule.map",
                format!("there is no value map `{map}` in the mappings"),
            ));
        }
        let sku_expr = match &settings.products.sku_rule {
            SkuRule::Expression { expr } => expr::compile(expr).ok(),
            _ => None,
        };
        let (Some(mappings), true) = (compiled, errors.is_empty()) else {
            return Err(errors);
        };
        let settings_cel = expr::from_json(&serde_json::to_value(&settings).unwrap_or(Json::Null));
        let maps_cel = maps_value(&settings, &mappings.value_maps);
        Ok(Self {
            integration,
            settings,
            mappings,
            sku_expr,
            settings_cel,
            maps_cel,
        })
    }

    /// Defaults only: default settings and no user mappings.
    pub fn defaults(integration: IntegrationId) -> Self {
        Self {
            integration,
            settings: Settings::default(),
            mappings: CompiledMappings::default(),
            sku_expr: None,
            settings_cel: expr::from_json(
                &serde_json::to_value(Settings::default()).unwrap_or(Json::Null),
            ),
            maps_cel: maps_value(&Settings::default(), &Default::default()),
        }
    }
}

/// `maps`: every value map as a plain `{key: value}` CEL map.
fn maps_value(
    settings: &Settings,
    user: &std::collections::BTreeMap<String, ValueMap>,
) -> cel::Value {
    let plain = |m: &ValueMap| -> cel::Value {
        let entries: HashMap<Key, cel::Value> = m
            .entries
            .iter()
            .map(|(k, v)| {
                (
                    Key::String(Arc::new(k.clone())),
                    cel::Value::String(Arc::new(v.clone())),
                )
            })
            .collect();
        cel::Value::from(entries)
    };
    let o = &settings.orders;
    let mut all: HashMap<Key, cel::Value> = HashMap::new();
    for (name, map) in [
        ("payment_methods", &o.payment_methods),
        ("payment_terms", &o.payment_terms),
        ("vat_codes", &o.vat_codes),
        ("revenue_accounts", &o.revenue_accounts),
    ] {
        all.insert(Key::String(Arc::new(name.to_owned())), plain(map));
    }
    for (name, map) in user {
        all.insert(Key::String(Arc::new(name.clone())), plain(map));
    }
    cel::Value::from(all)
}

/// Maps one observed record.
pub fn map(observed: &Observed, config: &IntegrationConfig) -> Result<Mapped, MappingFailure> {
    let flow = observed.flow();
    let switch = config.settings.flows.get(flow);
    if !switch.enabled {
        return Ok(Mapped::Skipped(Skip::FlowDisabled));
    }
    if let Observed::Order(m) = observed
        && observed.source() == switch.direction.target()
        && !m.order.status.is_open()
        && config.settings.orders.lifecycle
    {
        return lifecycle_back(m, switch.direction.source())
            .map(|mapped| Mapped::Send(Command::OrderMapped(mapped)))
            .map_err(|e| MappingFailure {
                integration: config.integration,
                flow,
                record_key: observed.record_key(),
                errors: vec![MappingError::new(
                    MappingErrorKind::InvalidResult,
                    "line_codes",
                    e.to_string(),
                )],
            });
    }
    if observed.source() != switch.direction.source() {
        return Ok(Mapped::Skipped(Skip::OtherDirection {
            source: observed.source(),
            configured_source: switch.direction.source(),
        }));
    }
    if let Observed::Order(m) = observed
        && m.source == System::Mpluskassa
        && !config
            .settings
            .orders
            .source_types
            .sends(m.order.order_type)
    {
        return Ok(Mapped::Skipped(Skip::SourceType(m.order.order_type)));
    }
    let target = switch.direction.target();
    let fail = |errors: Vec<MappingError>| MappingFailure {
        integration: config.integration,
        flow,
        record_key: observed.record_key(),
        errors,
    };
    let command = match observed {
        Observed::Customer(m) => {
            let doc = defaults::customer(&m.customer);
            let customer = finish(
                flow,
                observed,
                Defaulted {
                    doc,
                    errors: vec![],
                },
                config,
            )
            .map_err(fail)?;
            Command::CustomerUpsert(CustomerUpsert {
                target,
                customer,
                existing_id: None,
            })
        }
        Observed::Product(m) => {
            let d = defaults::product(&m.product, target, &config.settings);
            let mut product = finish(flow, observed, d, config).map_err(fail)?;
            if target == System::Mailchimp {
                numeric_product_skus(&mut product, config).map_err(fail)?;
            }
            Command::ProductUpsert(ProductUpsert {
                target,
                product,
                overwrite_existing: config.settings.products.overwrite_existing,
            })
        }
        Observed::Category(m) => {
            let doc = defaults::category(&m.category);
            let category = finish(
                flow,
                observed,
                Defaulted {
                    doc,
                    errors: vec![],
                },
                config,
            )
            .map_err(fail)?;
            Command::CategoryUpsert(CategoryUpsert { target, category })
        }
        Observed::Stock(m) => {
            let doc = defaults::stock(&m.stock, &config.settings);
            let mut doc: StockDoc = finish(
                flow,
                observed,
                Defaulted {
                    doc,
                    errors: vec![],
                },
                config,
            )
            .map_err(fail)?;
            if target == System::Mailchimp {
                doc.sku = numeric_sku(&doc.sku, "sku", config).map_err(|e| fail(vec![e]))?;
            }
            Command::StockSet(StockSet {
                target,
                sku: doc.sku,
                quantity: doc.quantity,
                manage_stock: doc.manage_stock,
            })
        }
        Observed::Order(m) => {
            let d = defaults::order(&m.order, target, &config.settings).map_err(fail)?;
            let order = finish(flow, observed, d, config).map_err(fail)?;
            let order = check_order(order, target, config).map_err(fail)?;
            Command::OrderMapped(OrderMapped { target, order })
        }
    };
    Ok(Mapped::Send(command))
}

/// A cancellation or refund observed in the order flow's target system, for the order's
/// source (`orders.lifecycle`): the order as observed, without the order mappings. Its saga
/// only looks the order up and carries the status (an order that is not open is never
/// created), so nothing of the mapping is used but the number and the status: an order Ferry
/// did not create from the source is not found there and the saga ends skipped.
fn lifecycle_back(m: &OrderObserved, source: System) -> Result<OrderMapped, TargetOrderError> {
    let lines = vec![LineCodes::default(); m.order.lines.len()];
    let plan = CustomerPlan::Upsert {
        customer: Box::new(m.order.customer.clone()),
    };
    Ok(OrderMapped {
        target: source,
        order: TargetOrder::new(m.order.clone(), plan, lines)?,
    })
}

/// Applies the user mappings to a default-mapped document and parses the result.
fn finish<T: Serialize + DeserializeOwned>(
    flow: Flow,
    observed: &Observed,
    defaulted: Defaulted<T>,
    config: &IntegrationConfig,
) -> Result<T, Vec<MappingError>> {
    let rules = config.mappings.rules(flow);
    let Defaulted { doc, mut errors } = defaulted;
    if rules.is_empty() {
        return if errors.is_empty() {
            Ok(doc)
        } else {
            Err(errors)
        };
    }
    let mut json = serde_json::to_value(&doc).map_err(|e| {
        vec![MappingError::new(
            MappingErrorKind::InvalidResult,
            "",
            e.to_string(),
        )]
    })?;
    let uses_source = rules.iter().any(|r| r.uses("source"));
    let source = if uses_source {
        observed.to_json()
    } else {
        Json::Null
    };
    let inputs = RuleInputs {
        source: &source,
        settings: &config.settings_cel,
        maps: &config.maps_cel,
    };
    let rule_errors = rules::apply(rules, &mut json, &inputs);
    errors.retain(|e| !rules::written_by_rules(rules, &e.field));
    errors.extend(rule_errors);
    // The plain parse is fast; only when it fails is it repeated to name the field.
    match T::deserialize(&json) {
        Ok(typed) if errors.is_empty() => return Ok(typed),
        Ok(_) => return Err(errors),
        Err(_) => {}
    }
    match serde_path_to_error::deserialize::<_, T>(&json) {
        Ok(_) => Err(errors),
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            errors.push(MappingError::new(
                MappingErrorKind::InvalidResult,
                field,
                format!("the mapped value is not accepted: {}", e.inner()),
            ));
            Err(errors)
        }
    }
}

/// The SKU as MailChimp needs it: digits only, after the configured SKU rule.
fn numeric_sku(sku: &Sku, field: &str, config: &IntegrationConfig) -> Result<Sku, MappingError> {
    if sku.is_digits_only() {
        return Ok(sku.clone());
    }
    let non_numeric = |detail: String| {
        MappingError::new(
            MappingErrorKind::NonNumericSku,
            field,
            format!(
                "SKU {:?} is not digits only, as MailChimp requires{detail}",
                sku.as_str()
            ),
        )
    };
    let mapped: String = match &config.settings.products.sku_rule {
        SkuRule::Reject => {
            return Err(non_numeric(
                " (settings products.sku_rule: reject)".to_owned(),
            ));
        }
        SkuRule::ValueMap { map } => {
            match config
                .mappings
                .value_maps
                .get(map)
                .and_then(|m| m.lookup(sku.as_str()))
            {
                Some(v) => v.to_owned(),
                None => {
                    return Err(non_numeric(format!(
                        " and value map `{map}` has no entry for it"
                    )));
                }
            }
        }
        SkuRule::Expression { .. } => {
            let Some(expr) = &config.sku_expr else {
                return Err(non_numeric(
                    " and the SKU rule expression does not compile".to_owned(),
                ));
            };
            let mut ctx = expr::context();
            ctx.add_variable_from_value(
                "sku",
                cel::Value::String(Arc::new(sku.as_str().to_owned())),
            );
            ctx.add_variable_from_value("maps", config.maps_cel.clone());
            ctx.add_variable_from_value("settings", config.settings_cel.clone());
            match expr.eval(&ctx) {
                Ok(Json::String(s)) => s,
                Ok(other) => {
                    return Err(non_numeric(format!(
                        " and the SKU rule gave {other}, not a string"
                    )));
                }
                Err(e) => return Err(non_numeric(format!(" and the SKU rule failed: {e}"))),
            }
        }
    };
    Sku::parse(&mapped)
        .and_then(|s| NumericSku::from_sku(&s))
        .map(Sku::from)
        .map_err(|e| {
            non_numeric(format!(
                "; the SKU rule made it {:?}: {e}",
                truncate(&mapped)
            ))
        })
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

fn numeric_product_skus(
    product: &mut ferry_proto::model::Product,
    config: &IntegrationConfig,
) -> Result<(), Vec<MappingError>> {
    let mut errors = Vec::new();
    match numeric_sku(&product.sku, "sku", config) {
        Ok(s) => product.sku = s,
        Err(e) => errors.push(e),
    }
    if let ProductKind::Configurable { variants } = &mut product.kind {
        for (i, v) in variants.iter_mut().enumerate() {
            match numeric_sku(&v.sku, &format!("kind.variants[{i}].sku"), config) {
                Ok(s) => v.sku = s,
                Err(e) => errors.push(e),
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The final checks of a mapped order: SKUs to MailChimp digits only; on MplusKASSA orders an
/// employee number and a VAT code on every line.
fn check_order(
    order: TargetOrder,
    target: System,
    config: &IntegrationConfig,
) -> Result<TargetOrder, Vec<MappingError>> {
    let mut errors = Vec::new();
    match target {
        System::Mailchimp => {
            let mut json = match serde_json::to_value(&order) {
                Ok(j) => j,
                Err(e) => {
                    return Err(vec![MappingError::new(
                        MappingErrorKind::InvalidResult,
                        "",
                        e.to_string(),
                    )]);
                }
            };
            let mut changed = false;
            for (i, line) in order.order().lines.iter().enumerate() {
                match numeric_sku(&line.sku, &format!("order.lines[{i}].sku"), config) {
                    Ok(s) if s != line.sku => {
                        json["order"]["lines"][i]["sku"] = Json::String(s.to_string());
                        changed = true;
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(e),
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            if changed {
                return serde_json::from_value(json).map_err(|e| {
                    vec![MappingError::new(
                        MappingErrorKind::InvalidResult,
                        "order.lines",
                        e.to_string(),
                    )]
                });
            }
        }
        System::Mpluskassa => {
            if order.employee_number().is_none() {
                errors.push(MappingError::new(
                    MappingErrorKind::MissingValue,
                    "employee_number",
                    "MplusKASSA orders need an employee number (settings orders.employee_number)",
                ));
            }
            let country = defaults::order_country(order.order());
            for (i, (line, codes)) in order.lines_with_codes().enumerate() {
                if codes.vat_code.is_none() {
                    errors.push(MappingError::new(
                        MappingErrorKind::MissingVatCode,
                        format!("line_codes[{i}].vat_code"),
                        format!(
                            "no VAT code for {} (line with SKU {}; settings orders.vat_codes)",
                            defaults::describe_country(country.as_ref(), line.tax_rate.as_ref()),
                            line.sku
                        ),
                    ));
                }
            }
        }
        System::Ferry => errors.push(MappingError::new(
            MappingErrorKind::Settings,
            "",
            "Ferry is no target system",
        )),
    }
    if errors.is_empty() {
        Ok(order)
    } else {
        Err(errors)
    }
}
