//! What a message on the bus means for the activity log: decoded generically (an
//! `Envelope<serde_json::Value>`), typed through the catalogue only to learn its record key,
//! and classified (direction, flow, status, failure).

use ferry_proto::messages::{
    CategoryObserved, CategoryUpsert, CategoryUpserted, CommandFailed, CustomerFind, CustomerFound,
    CustomerObserved, CustomerUpsert, CustomerUpserted, IntegrationChanged, OrderCreate,
    OrderCreated, OrderFind, OrderFound, OrderMapped, OrderObserved, OrderSetStatus,
    OrderStatusSet, ProductObserved, ProductUpsert, ProductUpserted, ProductsVerified,
    ProductsVerify, StockObserved, StockSet, StockSetDone,
};
use ferry_proto::{Email, Envelope, EnvelopeError, Message, RoutingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Where a row stands.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A fact seen at a source (or an internal fact).
    Observed,
    /// A command sent to a target, no reply yet.
    Sent,
    /// Done: a success reply (or a command whose reply was a success).
    Succeeded,
    /// A failure reply (or a command whose reply was a failure).
    Failed,
    /// Dead-lettered: a consumer gave up on it.
    Parked,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Observed => "observed",
            Self::Sent => "sent",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Parked => "parked",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Observed,
            Self::Sent,
            Self::Succeeded,
            Self::Failed,
            Self::Parked,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// A failure a message reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `auth`, `unavailable`, `mapping`, ... (or `saga` for an orchestrator's failure event).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// A message, understood.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The envelope with an untyped payload.
    pub envelope: Envelope<Value>,
    /// `event` or `command`.
    pub kind: &'static str,
    /// `in`, `out` or `internal`.
    pub direction: &'static str,
    /// `mailchimp`, `mpluskassa` or `ferry`.
    pub system: String,
    /// The flow (`customers`, `products`, `categories`, `stock`, `orders`, `integration`).
    pub flow: String,
    /// The entity of the routing key.
    pub entity: String,
    /// The routing key.
    pub routing_key: String,
    /// SKU, e-mail, order number (may be personal data).
    pub record_key: Option<String>,
    /// The row's status.
    pub status: Status,
    /// The failure it reports.
    pub failure: Option<Failure>,
    /// Every e-mail address it mentions (normalised).
    pub emails: Vec<String>,
    /// A payload problem found while typing it through the catalogue.
    pub payload_problem: Option<String>,
}

impl Observation {
    /// Whether this is a reply to a command (an event caused by a message, from a target).
    pub fn is_reply(&self) -> bool {
        self.kind == "event" && self.direction == "in" && self.status != Status::Observed
    }

    /// The record key in a form fit for logs and alerts (e-mail addresses masked).
    pub fn masked_key(&self) -> Option<String> {
        self.record_key.as_deref().map(mask_if_email)
    }
}

/// Decodes and classifies a delivered message. Fails only when the body is no envelope.
pub fn classify(
    routing_key: &str,
    is_command: bool,
    body: &[u8],
) -> Result<Observation, EnvelopeError> {
    let envelope = Envelope::<Value>::from_json_slice(body)?;
    let parsed = RoutingKey::parse(routing_key).ok();
    let message_type = envelope.message_type.clone();
    let (mt_entity, verb) = message_type
        .split_once('.')
        .unwrap_or((message_type.as_str(), ""));
    let system = parsed
        .as_ref()
        .map(|k| k.system().to_owned())
        .unwrap_or_else(|| routing_key.split('.').next().unwrap_or("").to_owned());
    let entity = parsed
        .as_ref()
        .map(|k| k.entity().to_owned())
        .unwrap_or_else(|| mt_entity.to_owned());
    let flow = flow_of(&entity);

    let (record_key, payload_problem) = match record_key(&envelope) {
        Ok(key) => (key, None),
        Err(e) => (None, Some(e.to_string())),
    };

    let kind = if is_command { "command" } else { "event" };
    let internal = system == "ferry" || message_type == OrderMapped::MESSAGE_TYPE;
    let direction = if is_command {
        "out"
    } else if internal {
        "internal"
    } else {
        "in"
    };

    let failure = failure_of(&message_type, verb, &envelope.payload);
    let status = if is_command {
        Status::Sent
    } else if failure.is_some() {
        Status::Failed
    } else if verb == "observed" || internal {
        Status::Observed
    } else {
        Status::Succeeded
    };

    let mut emails = Vec::new();
    collect_emails(&envelope.payload, &mut emails);
    if let Some(Ok(email)) = record_key.as_deref().map(Email::parse) {
        emails.push(email.as_str().to_owned());
    }
    emails.sort();
    emails.dedup();

    Ok(Observation {
        kind,
        direction,
        system,
        flow: flow.to_owned(),
        entity,
        routing_key: routing_key.to_owned(),
        record_key,
        status,
        failure,
        emails,
        payload_problem,
        envelope,
    })
}

/// The flow an entity belongs to.
pub fn flow_of(entity: &str) -> &'static str {
    match entity {
        "customer" | "customers" => "customers",
        "product" | "products" => "products",
        "category" | "categories" => "categories",
        "stock" => "stock",
        "order" | "orders" | "saga" => "orders",
        "integration" => "integration",
        _ => "other",
    }
}

/// The record key of a catalogue message (typed through the catalogue); for unknown message
/// types a `record_key` field of the payload, if any.
fn record_key(envelope: &Envelope<Value>) -> Result<Option<String>, EnvelopeError> {
    fn key<P: Message>(envelope: &Envelope<Value>) -> Result<Option<String>, EnvelopeError> {
        Ok(envelope.clone().into_typed::<P>()?.payload.record_key())
    }
    match envelope.message_type.as_str() {
        CustomerObserved::MESSAGE_TYPE => key::<CustomerObserved>(envelope),
        ProductObserved::MESSAGE_TYPE => key::<ProductObserved>(envelope),
        CategoryObserved::MESSAGE_TYPE => key::<CategoryObserved>(envelope),
        StockObserved::MESSAGE_TYPE => key::<StockObserved>(envelope),
        OrderObserved::MESSAGE_TYPE => key::<OrderObserved>(envelope),
        OrderMapped::MESSAGE_TYPE => key::<OrderMapped>(envelope),
        CustomerUpsert::MESSAGE_TYPE => key::<CustomerUpsert>(envelope),
        CustomerFind::MESSAGE_TYPE => key::<CustomerFind>(envelope),
        ProductUpsert::MESSAGE_TYPE => key::<ProductUpsert>(envelope),
        CategoryUpsert::MESSAGE_TYPE => key::<CategoryUpsert>(envelope),
        StockSet::MESSAGE_TYPE => key::<StockSet>(envelope),
        OrderFind::MESSAGE_TYPE => key::<OrderFind>(envelope),
        OrderCreate::MESSAGE_TYPE => key::<OrderCreate>(envelope),
        ProductsVerify::MESSAGE_TYPE => key::<ProductsVerify>(envelope),
        CustomerUpserted::MESSAGE_TYPE => key::<CustomerUpserted>(envelope),
        CustomerFound::MESSAGE_TYPE => key::<CustomerFound>(envelope),
        ProductUpserted::MESSAGE_TYPE => key::<ProductUpserted>(envelope),
        CategoryUpserted::MESSAGE_TYPE => key::<CategoryUpserted>(envelope),
        StockSetDone::MESSAGE_TYPE => key::<StockSetDone>(envelope),
        OrderFound::MESSAGE_TYPE => key::<OrderFound>(envelope),
        OrderCreated::MESSAGE_TYPE => key::<OrderCreated>(envelope),
        OrderSetStatus::MESSAGE_TYPE => key::<OrderSetStatus>(envelope),
        OrderStatusSet::MESSAGE_TYPE => key::<OrderStatusSet>(envelope),
        ProductsVerified::MESSAGE_TYPE => key::<ProductsVerified>(envelope),
        CommandFailed::MESSAGE_TYPE => key::<CommandFailed>(envelope),
        IntegrationChanged::MESSAGE_TYPE => key::<IntegrationChanged>(envelope),
        _ => Ok(["record_key", "external_id", "sku", "email"]
            .iter()
            .find_map(|field| envelope.payload.get(*field)?.as_str().map(str::to_owned))),
    }
}

/// The failure a message reports: `command.failed`, a `products.verified` with missing SKUs,
/// or any other event whose verb says it failed (an orchestrator's saga failure).
fn failure_of(message_type: &str, verb: &str, payload: &Value) -> Option<Failure> {
    if message_type == CommandFailed::MESSAGE_TYPE {
        let error = payload.get("error");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        return Some(Failure {
            code: text(error.and_then(|e| e.get("code"))),
            message: text(error.and_then(|e| e.get("message"))),
        });
    }
    if message_type == ProductsVerified::MESSAGE_TYPE {
        let missing: Vec<&str> = payload
            .get("missing")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if missing.is_empty() {
            return None;
        }
        return Some(Failure {
            code: "not_found".to_owned(),
            message: format!(
                "{} product(s) missing in the target: {}",
                missing.len(),
                missing.join(", ")
            ),
        });
    }
    if verb.contains("fail") {
        let message = ["message", "reason", "error"]
            .iter()
            .find_map(|field| match payload.get(*field)? {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            })
            .unwrap_or_else(|| format!("{message_type} reported a failure"));
        let code = payload
            .get("error")
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .or_else(|| payload.get("code").and_then(Value::as_str))
            .unwrap_or("saga")
            .to_owned();
        return Some(Failure { code, message });
    }
    None
}

/// Every string in `value` that parses as an e-mail address, normalised.
pub fn collect_emails(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains('@') => {
            if let Ok(email) = Email::parse(s) {
                out.push(email.as_str().to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_emails(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_emails(v, out)),
        _ => {}
    }
}

/// The stored fingerprint of an e-mail address: the first 128 bits of its SHA-256, hex.
pub fn email_hash(email: &str) -> String {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    hex::encode(&digest[..16])
}

/// `,h1,h2,` for a list of addresses (empty string for none).
pub fn email_hashes(emails: &[String]) -> String {
    if emails.is_empty() {
        return String::new();
    }
    let mut out = String::from(",");
    for email in emails {
        out.push_str(&email_hash(email));
        out.push(',');
    }
    out
}

/// `j***@example.com` for an e-mail address; other values unchanged.
pub fn mask_if_email(value: &str) -> String {
    match Email::parse(value) {
        Ok(email) if value.contains('@') => email.masked(),
        _ => value.to_owned(),
    }
}

/// A copy of `value` with every e-mail address masked (for readers without the operator scope).
pub fn mask_json(value: &Value) -> Value {
    match value {
        Value::String(s) if s.contains('@') => Value::String(mask_if_email(s)),
        Value::Array(items) => Value::Array(items.iter().map(mask_json).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), mask_json(v))).collect())
        }
        other => other.clone(),
    }
}

/// `text` with every e-mail-looking word masked (for free-text errors).
pub fn mask_text(text: &str) -> String {
    if !text.contains('@') {
        return text.to_owned();
    }
    text.split_inclusive(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '"' | '\'' | '<' | '>')
    })
    .map(|word| {
        let trimmed = word.trim_end_matches(|c: char| {
            c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '"' | '\'' | '<' | '>')
        });
        let tail = &word[trimmed.len()..];
        if trimmed.contains('@') {
            format!("{}{tail}", mask_if_email(trimmed.trim_end_matches('.')))
        } else {
            word.to_owned()
        }
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_emails_in_text_and_json() {
        assert_eq!(
            mask_text("customer jan@example.com refused, try (piet@shop.nl)"),
            "customer j***@example.com refused, try (p***@shop.nl)"
        );
        assert_eq!(mask_text("no address here"), "no address here");
        let masked = mask_json(&serde_json::json!({"a": ["x@y.nl", 3], "b": "plain"}));
        assert_eq!(
            masked,
            serde_json::json!({"a": ["x***@y.nl", 3], "b": "plain"})
        );
    }

    #[test]
    fn hashes_are_case_insensitive() {
        assert_eq!(email_hash("Jan@Example.com"), email_hash("jan@example.com"));
        assert_eq!(email_hashes(&[]), "");
        assert!(email_hashes(&["a@b.nl".to_owned()]).starts_with(','));
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["observed", "sent", "succeeded", "failed", "parked"] {
            assert_eq!(Status::parse(s).map(Status::as_str), Some(s));
        }
        assert_eq!(Status::parse("x"), None);
    }
}
