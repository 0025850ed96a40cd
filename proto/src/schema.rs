//! JSON Schemas of the envelope and of every message, checked in under
//! `proto/schemas/` so non-Rust consumers can validate messages.

use crate::envelope::Envelope;
use crate::messages::*;
use crate::routing::Message;
use serde_json::Value;

/// File name of the schema of an untyped envelope.
pub const ENVELOPE_FILE: &str = "envelope.schema.json";

/// The schema of `Envelope<M>`, with `message_type` and `schema_version` pinned.
pub fn for_message<M: Message>() -> Value {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(Envelope<M>)).unwrap_or(Value::Null);
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "title".into(),
            format!("{} v{}", M::MESSAGE_TYPE, M::SCHEMA_VERSION).into(),
        );
        obj.insert(
            "description".into(),
            format!(
                "Ferry {} envelope carrying `{}` (schema version {}).",
                M::KIND,
                M::MESSAGE_TYPE,
                M::SCHEMA_VERSION
            )
            .into(),
        );
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                "message_type".into(),
                serde_json::json!({ "type": "string", "const": M::MESSAGE_TYPE }),
            );
            props.insert(
                "schema_version".into(),
                serde_json::json!({ "type": "integer", "const": M::SCHEMA_VERSION }),
            );
        }
    }
    schema
}

/// The schema of an envelope with any payload.
pub fn envelope() -> Value {
    serde_json::to_value(schemars::schema_for!(Envelope<Value>)).unwrap_or(Value::Null)
}

fn entry<M: Message>() -> (String, Value) {
    (
        crate::messages::MessageSpec::of::<M>().schema_file_name(),
        for_message::<M>(),
    )
}

/// Every schema file: `(file name, schema)`, one per catalogue message plus
/// [`ENVELOPE_FILE`].
pub fn all() -> Vec<(String, Value)> {
    vec![
        (ENVELOPE_FILE.to_owned(), envelope()),
        entry::<CustomerObserved>(),
        entry::<ProductObserved>(),
        entry::<CategoryObserved>(),
        entry::<StockObserved>(),
        entry::<OrderObserved>(),
        entry::<OrderMapped>(),
        entry::<CustomerUpsert>(),
        entry::<CustomerFind>(),
        entry::<ProductUpsert>(),
        entry::<CategoryUpsert>(),
        entry::<StockSet>(),
        entry::<OrderFind>(),
        entry::<OrderCreate>(),
        entry::<OrderSetStatus>(),
        entry::<ProductsVerify>(),
        entry::<CustomerUpserted>(),
        entry::<CustomerFound>(),
        entry::<ProductUpserted>(),
        entry::<CategoryUpserted>(),
        entry::<StockSetDone>(),
        entry::<OrderFound>(),
        entry::<OrderCreated>(),
        entry::<OrderStatusSet>(),
        entry::<ProductsVerified>(),
        entry::<CommandFailed>(),
        entry::<IntegrationChanged>(),
        entry::<SagaParked>(),
        entry::<SagaFailed>(),
        entry::<PersonEraseRequested>(),
    ]
}

/// Renders a schema as the checked-in file text (pretty JSON, trailing newline).
pub fn render(schema: &Value) -> String {
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}
