//! Following the integration registry: what every consumer of `ferry.integration.changed`
//! needs, so the connectors follow it the same way.
//!
//! The registry (in the mapper) publishes an [`IntegrationChanged`] after every change and, at
//! its start, one per integration. A [`RegistryFollower`] decodes them, drops stale ones
//! (a revision not above one already applied: deliveries may come out of order, and the
//! registry republishes everything periodically), and opens
//! the sealed credentials with the deployment's [`Keyring`]. [`RegistryFollower::apply`] hands
//! the change to a [`RegistryTarget`] (a connector's served integrations): serve it live or
//! inactive (draft, paused), or erase it (deleted); [`InactiveSet`] keeps which are not live.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};

use async_trait::async_trait;
use ferry_proto::messages::{IntegrationChanged, IntegrationState};
use ferry_proto::{Envelope, IntegrationId, Message};

use crate::bus::{Binding, Delivery, Outcome};
use crate::secrets::{Keyring, SecretError};

/// The sealing context of an integration's MailChimp API key.
pub fn mailchimp_key_context(id: impl std::fmt::Display) -> String {
    format!("integration/{id}/mailchimp.api_key")
}

/// The sealing context of an integration's MplusKASSA secret.
pub fn mpluskassa_secret_context(id: impl std::fmt::Display) -> String {
    format!("integration/{id}/mpluskassa.secret")
}

/// The binding that brings registry changes to a queue (events exchange).
pub fn binding() -> Binding {
    Binding::events("ferry.integration.changed")
}

/// Whether a delivery is a registry change.
pub fn is_registry_change(delivery: &Delivery) -> bool {
    delivery.message.message_type() == IntegrationChanged::MESSAGE_TYPE
}

/// Decodes registry changes, drops stale ones, opens credentials.
#[derive(Debug)]
pub struct RegistryFollower {
    service: &'static str,
    keyring: Option<Keyring>,
    revisions: Mutex<HashMap<IntegrationId, u64>>,
}

impl RegistryFollower {
    /// A follower for `service` (named in its errors), with the host's keyring or, without
    /// one, the keyring of `FERRY_CREDENTIALS_KEY` (none: changes with credentials are
    /// parked with that reason).
    pub fn new(service: &'static str, keyring: Option<Keyring>) -> Result<Self, SecretError> {
        let keyring = match keyring {
            Some(k) => Some(k),
            None => match Keyring::from_env() {
                Ok(k) => Some(k),
                Err(SecretError::Missing) => None,
                Err(e) => return Err(e),
            },
        };
        Ok(Self {
            service,
            keyring,
            revisions: Mutex::default(),
        })
    }

    /// The change in `delivery`, or `Ok(None)` when this or a newer revision was applied
    /// already (the registry republishes periodically).
    pub fn decode(
        &self,
        delivery: &Delivery,
    ) -> Result<Option<Envelope<IntegrationChanged>>, Outcome> {
        let envelope =
            Envelope::<IntegrationChanged>::decode(&delivery.message.body).map_err(|e| {
                Outcome::DeadLetter(format!(
                    "{} cannot decode integration.changed {}: {e}",
                    self.service, delivery.message.message_id
                ))
            })?;
        let known = self
            .revisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&envelope.integration_id)
            .copied();
        if known.is_some_and(|k| k >= envelope.payload.revision) {
            tracing::debug!(integration = %envelope.integration_id, revision = envelope.payload.revision, "stale registry change ignored");
            return Ok(None);
        }
        Ok(Some(envelope))
    }

    /// Opens a sealed credential of integration `id`; a failure parks the change with a
    /// reason naming the integration and the field, never the value.
    pub fn open(
        &self,
        id: IntegrationId,
        field: &str,
        sealed: &str,
        context: &str,
    ) -> Result<String, Outcome> {
        let keyring = self.keyring.as_ref().ok_or_else(|| {
            Outcome::DeadLetter(format!(
                "{}: integration {id}: {} cannot be opened: {}",
                self.service,
                field,
                SecretError::Missing
            ))
        })?;
        keyring.open(sealed, context).map_err(|e| {
            Outcome::DeadLetter(format!(
                "{}: integration {id}: {field} cannot be opened: {e}",
                self.service
            ))
        })
    }

    /// Records that revision `revision` of `id` is applied.
    pub fn applied(&self, id: IntegrationId, revision: u64) {
        let mut revisions = self.revisions.lock().unwrap_or_else(|e| e.into_inner());
        let entry = revisions.entry(id).or_insert(revision);
        *entry = (*entry).max(revision);
    }

    /// Applies the change in `delivery` to `target`: deleted -> erased; otherwise its
    /// connection (if it has one for `target`'s system) is served, live or inactive.
    pub async fn apply<T: RegistryTarget>(&self, target: &T, delivery: &Delivery) -> Outcome {
        let envelope = match self.decode(delivery) {
            Ok(Some(e)) => e,
            Ok(None) => return Outcome::Ack,
            Err(out) => return out,
        };
        let id = envelope.integration_id;
        let revision = envelope.payload.revision;
        if envelope.payload.state == IntegrationState::Deleted {
            if let Err(e) = target.erase(id).await {
                return Outcome::Retry(format!(
                    "{}: cannot erase integration {id}: {e}",
                    self.service
                ));
            }
            self.applied(id, revision);
            tracing::info!(integration = %id, service = self.service, "integration deleted: connection, cursors and cross-references erased");
            return Outcome::Ack;
        }
        let connection = match target.connection(self, &envelope) {
            Ok(Some(c)) => c,
            // No connection of this system: nothing to serve here.
            Ok(None) => return Outcome::Ack,
            Err(out) => return out,
        };
        let live = envelope.payload.state == IntegrationState::Live;
        if let Err(e) = target.serve(id, connection, live).await {
            return Outcome::Retry(format!(
                "{}: cannot serve integration {id}: {e}",
                self.service
            ));
        }
        self.applied(id, revision);
        tracing::info!(integration = %id, revision, live, service = self.service, "integration updated from the registry");
        Outcome::Ack
    }
}

/// What a connector does with registry changes.
#[async_trait]
pub trait RegistryTarget: Send + Sync {
    /// What the connector serves for one integration.
    type Connection: Send;

    /// The connection of this connector's system in `change`, its credentials opened with
    /// `follower` (`Ok(None)`: the change has none for this system).
    fn connection(
        &self,
        follower: &RegistryFollower,
        change: &Envelope<IntegrationChanged>,
    ) -> Result<Option<Self::Connection>, Outcome>;

    /// Serves (or replaces) the connection; `live`: polled and its commands executed.
    async fn serve(
        &self,
        id: IntegrationId,
        connection: Self::Connection,
        live: bool,
    ) -> Result<(), String>;

    /// Stops serving the integration and erases its data.
    async fn erase(&self, id: IntegrationId) -> Result<(), String>;
}

/// The integrations served but not live (draft or paused in the registry).
#[derive(Debug, Default)]
pub struct InactiveSet(RwLock<HashSet<IntegrationId>>);

impl InactiveSet {
    /// Marks `id` live (`true`) or not.
    pub fn set_live(&self, id: IntegrationId, live: bool) {
        let mut inactive = self.0.write().unwrap_or_else(|e| e.into_inner());
        if live {
            inactive.remove(&id);
        } else {
            inactive.insert(id);
        }
    }

    /// Whether `id` is live (integrations never marked are: those of the configuration).
    pub fn is_live(&self, id: IntegrationId) -> bool {
        !self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::bus::BusMessage;

    fn delivery(id: IntegrationId, change: IntegrationChanged) -> Delivery {
        let envelope = Envelope::new(id, change);
        Delivery {
            message: BusMessage::from_envelope(&envelope).unwrap(),
            queue: "q".into(),
            attempt: 1,
            redelivered: false,
        }
    }

    #[test]
    fn applied_revisions_and_older_ones_are_skipped() {
        let ring = Keyring::generate("k").unwrap().0;
        let follower = RegistryFollower::new("test", Some(ring)).unwrap();
        let id = IntegrationId::new();
        let change = |revision| IntegrationChanged::new(IntegrationState::Live, vec![], revision);
        let d = delivery(id, change(3));
        assert!(is_registry_change(&d));
        assert!(follower.decode(&d).unwrap().is_some());
        follower.applied(id, 3);
        assert!(follower.decode(&d).unwrap().is_none(), "same revision");
        assert!(follower.decode(&delivery(id, change(2))).unwrap().is_none());
        assert!(follower.decode(&delivery(id, change(4))).unwrap().is_some());
    }

    #[test]
    fn credentials_open_only_in_their_context_and_errors_never_carry_them() {
        let (ring, _) = Keyring::generate("k").unwrap();
        let id = IntegrationId::new();
        let sealed = ring
            .seal("the-api-key-us1", &mailchimp_key_context(id))
            .unwrap();
        let follower = RegistryFollower::new("test", Some(ring)).unwrap();
        assert_eq!(
            follower
                .open(id, "mailchimp.api_key", &sealed, &mailchimp_key_context(id))
                .unwrap(),
            "the-api-key-us1"
        );
        let other = IntegrationId::new();
        match follower.open(
            other,
            "mailchimp.api_key",
            &sealed,
            &mailchimp_key_context(other),
        ) {
            Err(Outcome::DeadLetter(reason)) => {
                assert!(reason.contains("mailchimp.api_key") && !reason.contains("the-api-key"));
            }
            other => panic!("expected a dead letter, got {other:?}"),
        }
        let keyless = RegistryFollower {
            service: "test",
            keyring: None,
            revisions: Mutex::default(),
        };
        assert!(matches!(
            keyless.open(id, "mailchimp.api_key", &sealed, &mailchimp_key_context(id)),
            Err(Outcome::DeadLetter(_))
        ));
    }

    #[test]
    fn inactive_set() {
        let set = InactiveSet::default();
        let id = IntegrationId::new();
        assert!(set.is_live(id));
        set.set_live(id, false);
        assert!(!set.is_live(id));
        set.set_live(id, true);
        assert!(set.is_live(id));
    }
}
