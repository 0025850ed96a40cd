//! Facts about people (GDPR): an erase request every service acts on.

use crate::routing::{Message, MessageKind, System};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Event `ferry.person.erase-requested`: an operator asked to erase a person from one
/// integration (the envelope's). Every service erases its own rows mentioning the person and
/// drops the messages about them still queued (those that occurred before `requested_at`).
///
/// The person travels only as `fingerprint`, the SHA-256 (hex) of the normalised (trimmed,
/// lower-cased) e-mail address, never as the address itself: services find their rows by
/// hashing the addresses in them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PersonEraseRequested {
    /// The erase request (the same for every integration it covers; the audit rows carry it).
    pub erase_id: Uuid,
    /// SHA-256 of the normalised e-mail address, 64 lower-case hex digits.
    pub fingerprint: String,
    /// Who asked (the admin token's name), for the audit.
    pub requested_by: String,
    /// When the erase was asked for: messages about the person that occurred before are
    /// dropped when consumed.
    pub requested_at: DateTime<Utc>,
}

impl Message for PersonEraseRequested {
    const MESSAGE_TYPE: &'static str = "person.erase-requested";
    const SCHEMA_VERSION: u16 = 1;
    const KIND: MessageKind = MessageKind::Event;

    fn system(&self) -> System {
        System::Ferry
    }

    fn record_key(&self) -> Option<String> {
        None
    }
}
