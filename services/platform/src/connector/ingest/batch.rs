//! [`Batch`]: what one page of changes decided, record by record.

use ferry_proto::{Envelope, IntegrationId, Message, System};
use uuid::Uuid;

use crate::bus::{BusMessage, with_new_trace};
use crate::connector::Xref;

use super::park::Parked;

/// Whose page: the connector's system, the integration and the sync run (the correlation id
/// of every event the run publishes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// The connector's system.
    pub system: System,
    /// The integration.
    pub integration: IntegrationId,
    /// The sync run.
    pub run: Uuid,
    /// The connector's queue, whose dead letters parked records are.
    pub queue: &'static str,
}

/// An event that could not be encoded for the bus.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot encode the event: {0}")]
pub struct EncodeError(pub String);

/// The events, parked records, skips and cross-references of one page, and the highest
/// position (sync marker) its records reached.
#[derive(Debug)]
pub struct Batch {
    scope: Scope,
    /// Events to publish through the outbox.
    pub events: Vec<BusMessage>,
    /// Dead letters of records that cannot be converted.
    pub parked: Vec<BusMessage>,
    /// Records read and deliberately not published (inactive, deleted, written by Ferry).
    pub skipped: u64,
    /// Cross-references learnt from the page.
    pub xrefs: Vec<Xref>,
    /// The highest position of the page's records (0 for a source without positions).
    pub position: i64,
}

impl Batch {
    /// An empty batch of `scope`.
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            events: Vec::new(),
            parked: Vec::new(),
            skipped: 0,
            xrefs: Vec::new(),
            position: 0,
        }
    }

    /// Whose batch.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Nothing to commit: no event, no parked record.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.parked.is_empty()
    }

    /// A record at `position` was read (whatever becomes of it).
    pub fn reach(&mut self, position: i64) {
        self.position = self.position.max(position);
    }

    /// A record read and not published.
    pub fn skip(&mut self) {
        self.skipped += 1;
    }

    /// Publishes `envelope` as it is (the caller chose its message id and correlation),
    /// starting a trace of its own linked to the current span (the sync run).
    pub fn emit<P: Message>(&mut self, envelope: Envelope<P>) -> Result<(), EncodeError> {
        let message = BusMessage::from_envelope(&with_new_trace(envelope))
            .map_err(|e| EncodeError(e.to_string()))?;
        self.events.push(message);
        Ok(())
    }

    /// Publishes `payload` as an event of the run; one that cannot be encoded is parked
    /// with the reason instead.
    pub fn observe<P: Message + serde::Serialize>(&mut self, payload: P) {
        let envelope =
            Envelope::new(self.scope.integration, payload).with_correlation(self.scope.run);
        let key = envelope.payload.record_key().unwrap_or_default();
        let raw = serde_json::to_value(&envelope.payload).unwrap_or_default();
        if let Err(e) = self.emit(envelope) {
            self.park(Parked {
                message_type: P::MESSAGE_TYPE.to_owned(),
                record: key,
                position: 0,
                reason: e.to_string(),
                raw,
            });
        }
    }

    /// Parks a record that cannot be converted (logged with its key and reason).
    pub fn park(&mut self, parked: Parked) {
        tracing::warn!(
            integration = %self.scope.integration,
            system = self.scope.system.as_str(),
            message_type = %parked.message_type,
            record = %parked.record,
            position = parked.position,
            reason = %parked.reason,
            "record parked"
        );
        self.parked.push(parked.dead_letter(
            self.scope.system,
            self.scope.integration,
            self.scope.queue,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_proto::messages::CategoryObserved;

    fn scope() -> Scope {
        Scope {
            system: System::Mpluskassa,
            integration: IntegrationId::new(),
            run: Uuid::now_v7(),
            queue: crate::bus::queues::CONNECTOR_MPLUSKASSA,
        }
    }

    #[test]
    fn a_batch_keeps_the_highest_position_and_counts_what_it_decided() {
        let mut batch = Batch::new(scope());
        assert!(batch.is_empty());
        batch.reach(7);
        batch.reach(3);
        batch.skip();
        batch.park(Parked {
            message_type: "customer.observed".into(),
            record: "12".into(),
            position: 7,
            reason: "no e-mail".into(),
            raw: serde_json::json!({"relationNumber": "12"}),
        });
        assert_eq!(batch.position, 7);
        assert_eq!(batch.skipped, 1);
        assert_eq!(batch.parked.len(), 1);
        assert!(batch.events.is_empty());
        assert!(!batch.is_empty());
    }

    #[test]
    fn an_observed_record_is_an_event_of_the_run() {
        let scope = scope();
        let mut batch = Batch::new(scope);
        let category = ferry_proto::model::Category {
            key: ferry_proto::ExternalId::parse("12").expect("key"),
            name: ferry_proto::Name::parse("Shoes").expect("name"),
            parent: None,
        };
        batch.observe(CategoryObserved {
            source: System::Mpluskassa,
            category,
            raw: serde_json::json!({}),
        });
        assert_eq!(batch.events.len(), 1);
        assert!(batch.parked.is_empty());
        let envelope: Envelope<CategoryObserved> =
            serde_json::from_slice(&batch.events[0].body).expect("envelope");
        assert_eq!(envelope.correlation_id, scope.run);
        assert_eq!(envelope.integration_id, scope.integration);
    }
}
