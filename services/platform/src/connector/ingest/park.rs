//! [`Parked`]: a record that cannot be converted, as a dead letter of the connector's own
//! queue. The parking lot takes it from there (alert, activity log, replay); the record is
//! observed again once it changes at its source.

use ferry_proto::{IntegrationId, System};
use uuid::Uuid;

use crate::bus::{BusMessage, Exchange, headers};

/// Largest raw record (as JSON text) a parked message carries whole. Bigger ones (a 10 MB
/// description) are cut to an excerpt, so that the parked message stays far below the bus's
/// message size limit: otherwise its publish fails and the pass never completes, holding up
/// every record after it.
pub const MAX_PARKED_RAW_BYTES: usize = 64 * 1024;

/// A record refused with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Parked {
    /// The message type it would have been (`customer.observed`).
    pub message_type: String,
    /// The record's key at its source (a relation number, an order id).
    pub record: String,
    /// Its position (sync marker), 0 when unknown.
    pub position: i64,
    /// Why it cannot be converted.
    pub reason: String,
    /// The record as read.
    pub raw: serde_json::Value,
}

impl Parked {
    /// A record of `entity` (`customer`), observed as `<entity>.observed`.
    pub fn observed(
        entity: &str,
        record: impl Into<String>,
        position: i64,
        reason: impl Into<String>,
        raw: serde_json::Value,
    ) -> Self {
        Self {
            message_type: format!("{entity}.observed"),
            record: record.into(),
            position,
            reason: reason.into(),
            raw,
        }
    }

    /// The dead letter of `system`'s connector queue `queue`: the reason in the headers, the
    /// raw record (bounded) in the body.
    pub fn dead_letter(
        &self,
        system: System,
        integration: IntegrationId,
        queue: &str,
    ) -> BusMessage {
        let body = serde_json::json!({
            "integration_id": integration,
            "system": system.as_str(),
            "message_type": self.message_type,
            "record": self.record,
            "sync_marker": self.position,
            "reason": self.reason,
            "raw": bounded_raw(self.raw.clone()),
        });
        let routing_key = format!("{}.{}", system.as_str(), self.message_type);
        let name = display_name(system);
        BusMessage::new(
            Exchange::Events,
            routing_key.clone(),
            Uuid::now_v7(),
            serde_json::to_vec(&body).unwrap_or_default(),
        )
        .with_header(headers::MESSAGE_TYPE, self.message_type.clone())
        .with_header(headers::INTEGRATION_ID, integration.to_string())
        .with_header(
            headers::DEAD_REASON,
            format!(
                "invalid {name} record {}: {}; it is observed again once it changes in {name}",
                self.record, self.reason
            ),
        )
        .with_header(headers::DEAD_QUEUE, queue)
        .with_header(headers::ORIGINAL_EXCHANGE, Exchange::Events.base_name())
        .with_header(headers::ORIGINAL_ROUTING_KEY, routing_key)
        .with_header(headers::ATTEMPT, "1")
    }
}

/// How a system is named to people (`MplusKASSA`).
pub fn display_name(system: System) -> &'static str {
    match system {
        System::Mailchimp => "MailChimp",
        System::Mpluskassa => "MplusKASSA",
        System::Ferry => "Ferry",
    }
}

/// `raw` itself when small enough, else `{truncated, bytes, excerpt}` with the start of its
/// JSON text.
pub fn bounded_raw(raw: serde_json::Value) -> serde_json::Value {
    let text = raw.to_string();
    if text.len() <= MAX_PARKED_RAW_BYTES {
        return raw;
    }
    let mut end = MAX_PARKED_RAW_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    serde_json::json!({"truncated": true, "bytes": text.len(), "excerpt": &text[..end]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_raw_record_is_cut_to_an_excerpt_below_the_bus_limit() {
        let small = serde_json::json!({"description": "short"});
        assert_eq!(bounded_raw(small.clone()), small);
        let huge = serde_json::json!({"description": "é".repeat(10 * 1024 * 1024)});
        let bounded = bounded_raw(huge);
        assert_eq!(bounded["truncated"], true);
        assert!(bounded["bytes"].as_u64().unwrap_or(0) > 10 * 1024 * 1024);
        let size = bounded.to_string().len();
        assert!(
            size < crate::bus::DEFAULT_MAX_MESSAGE_BYTES / 4,
            "{size} bytes"
        );
    }

    #[test]
    fn a_parked_record_is_a_dead_letter_of_the_connectors_queue_with_its_reason() {
        let integration = IntegrationId::new();
        let parked = Parked::observed(
            "customer",
            "12",
            40,
            "no e-mail address",
            serde_json::json!({"relationNumber": "12"}),
        );
        let message = parked.dead_letter(
            System::Mpluskassa,
            integration,
            crate::bus::queues::CONNECTOR_MPLUSKASSA,
        );
        assert_eq!(message.routing_key, "mpluskassa.customer.observed");
        let header = |name: &str| message.headers.get(name).cloned();
        assert_eq!(
            header(headers::DEAD_QUEUE).as_deref(),
            Some(crate::bus::queues::CONNECTOR_MPLUSKASSA)
        );
        assert_eq!(
            header(headers::DEAD_REASON).as_deref(),
            Some(
                "invalid MplusKASSA record 12: no e-mail address; it is observed again once it \
                 changes in MplusKASSA"
            )
        );
        let body: serde_json::Value = serde_json::from_slice(&message.body).expect("json");
        assert_eq!(body["sync_marker"], 40);
        assert_eq!(body["raw"]["relationNumber"], "12");
        assert_eq!(body["integration_id"], integration.to_string());
    }
}
