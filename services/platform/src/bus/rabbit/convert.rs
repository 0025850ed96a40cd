//! Between [`BusMessage`] and AMQP properties and deliveries.

use std::collections::BTreeMap;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};

use super::topology::Names;
use crate::bus::{BusMessage, Exchange};

/// Header keeping the exchange a message was published to, through retries and replays.
const EXCHANGE_HEADER: &str = "x-ferry-exchange";
/// Header keeping the routing key a message was published with, through retries and replays.
const ROUTING_KEY_HEADER: &str = "x-ferry-routing-key";
/// Persistent delivery mode.
const PERSISTENT: u8 = 2;

/// Properties of a message: persistent, JSON, its id, type and timestamp, and its headers.
pub(crate) fn properties(message: &BusMessage) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in &message.headers {
        headers.insert(
            name.as_str().into(),
            AMQPValue::LongString(LongString::from(value.as_str())),
        );
    }
    headers.insert(
        EXCHANGE_HEADER.into(),
        AMQPValue::LongString(LongString::from(message.exchange.base_name())),
    );
    headers.insert(
        ROUTING_KEY_HEADER.into(),
        AMQPValue::LongString(LongString::from(message.routing_key.as_str())),
    );
    let timestamp = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
    BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type("application/json".into())
        .with_message_id(message.message_id.to_string().as_str().into())
        .with_type(message.message_type().into())
        .with_timestamp(timestamp)
        .with_headers(headers)
}

/// Rebuilds the message of a delivery.
pub(crate) fn message(delivery: &lapin::message::Delivery, names: &Names) -> BusMessage {
    let mut headers = BTreeMap::new();
    if let Some(table) = delivery.properties.headers() {
        for (name, value) in table.inner() {
            if let Some(text) = header_text(value) {
                headers.insert(name.to_string(), text);
            }
        }
    }
    let exchange = headers
        .remove(EXCHANGE_HEADER)
        .and_then(|name| Exchange::from_base_name(&name))
        .or_else(|| Exchange::from_base_name(names.strip(delivery.exchange.as_str())))
        .unwrap_or(Exchange::Events);
    let routing_key = headers
        .remove(ROUTING_KEY_HEADER)
        .unwrap_or_else(|| delivery.routing_key.to_string());
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .and_then(|id| uuid::Uuid::parse_str(id.as_str()).ok())
        .unwrap_or_else(uuid::Uuid::nil);
    BusMessage {
        exchange,
        routing_key,
        message_id,
        headers,
        body: delivery.data.clone().into(),
    }
}

fn header_text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        AMQPValue::LongLongInt(n) => Some(n.to_string()),
        AMQPValue::LongInt(n) => Some(n.to_string()),
        AMQPValue::LongUInt(n) => Some(n.to_string()),
        AMQPValue::ShortInt(n) => Some(n.to_string()),
        AMQPValue::ShortUInt(n) => Some(n.to_string()),
        AMQPValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}
