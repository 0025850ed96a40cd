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
//!
//! Replicas of a connector share its queue, so each change reaches one of them. That replica
//! also writes the change (credentials still sealed) into the connector's `ferry_registry_mirror`
//! table; every replica reads the table at start and then every few seconds
//! ([`RegistryFollower::spawn_refresh`]) and applies what it has not applied yet. So all
//! replicas follow the registry, and a restarted connector serves its registry integrations
//! at once, before the mapper republishes them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_proto::messages::{IntegrationChanged, IntegrationState};
use ferry_proto::{Envelope, IntegrationId, Message};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, Schema};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::ApiError;
use crate::bus::{Binding, Delivery, Outcome};
use crate::secrets::{Keyring, SecretError};

/// How often a connector replica applies the changes other replicas received.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5);

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
    Binding::events(crate::bus::queues::REGISTRY_CHANGES)
}

/// Whether a delivery is a registry change.
pub fn is_registry_change(delivery: &Delivery) -> bool {
    delivery.message.message_type() == IntegrationChanged::MESSAGE_TYPE
}

/// `?revision=N` of an admin call acting on an integration as saved in revision `N` of the
/// registry (see [`RegistryFollower::require`]).
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct AtRevision {
    /// The registry revision (the integration's `version`) the call needs; absent: any.
    pub revision: Option<u64>,
}

/// The sealed credentials of one connection, as the registry holds them: sent with a
/// saved-connection test so a replica that has not applied the latest registry change yet
/// (its queue busy, or the change delivered to another replica) tests what was saved, opened
/// with its own keyring. Never clear text.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct SealedConnection {
    /// The sealed secret (MailChimp API key, MplusKASSA secret) under the registry's keyring
    /// and its context for the integration and field.
    pub secret_sealed: String,
    /// The MailChimp base URL or the MplusKASSA endpoint (absent: MailChimp's default).
    #[serde(default)]
    pub url: Option<String>,
    /// The MplusKASSA ident (not secret).
    #[serde(default)]
    pub ident: Option<String>,
}

/// Decodes registry changes, drops stale ones, opens credentials.
#[derive(Debug)]
pub struct RegistryFollower {
    service: &'static str,
    keyring: Option<Keyring>,
    revisions: Mutex<HashMap<IntegrationId, u64>>,
    mirror: Option<DatabaseConnection>,
    /// One change applied at a time, so an older one (from the mirror) never overtakes a
    /// newer one (from the queue).
    applying: tokio::sync::Mutex<()>,
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
            mirror: None,
            applying: tokio::sync::Mutex::default(),
        })
    }

    /// Keeps every applied change in `db`'s `ferry_registry_mirror` too, for the other
    /// replicas and the next start (see the module docs).
    pub fn with_mirror(mut self, db: DatabaseConnection) -> Self {
        self.mirror = Some(db);
        self
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
        if self
            .known(envelope.integration_id)
            .is_some_and(|k| k >= envelope.payload.revision)
        {
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

    /// Opens `sealed` (a credential of integration `id` sealed under `context`) for a
    /// saved-connection test; the error names the field, never the value.
    pub fn open_for_test(
        &self,
        id: IntegrationId,
        field: &str,
        sealed: &str,
        context: &str,
    ) -> Result<String, ApiError> {
        self.open(id, field, sealed, context).map_err(|_| {
            ApiError::InvalidRequest(format!(
                "{}: the sealed {field} of integration {id} cannot be opened with this \
                 service's credentials key",
                self.service
            ))
        })
    }

    /// The revision of `id` applied last (`None`: none yet).
    pub fn revision(&self, id: IntegrationId) -> Option<u64> {
        self.known(id)
    }

    /// Refuses (409) while this service has not applied revision `wanted` of `id` (a
    /// registry change still on its way): what a caller acting on a revision it just saved
    /// retries on. `None` wants no particular revision.
    pub fn require(&self, id: IntegrationId, wanted: Option<u64>) -> Result<(), ApiError> {
        match (wanted, self.known(id)) {
            (None, _) => Ok(()),
            (Some(w), Some(k)) if k >= w => Ok(()),
            (Some(w), known) => Err(ApiError::Conflict(format!(
                "{} has revision {} of integration {id}, not yet {w}; retry shortly",
                self.service,
                known.map_or_else(|| "none".to_owned(), |k| k.to_string())
            ))),
        }
    }

    /// What a connector serves of `id` for a call needing revision `wanted`: `held` once it
    /// has applied that revision; a conflict (retry) while it has not, also when it holds
    /// nothing of `id` yet; `missing` (not found) when it is at that revision and holds
    /// nothing.
    pub fn serving<T>(
        &self,
        id: IntegrationId,
        wanted: Option<u64>,
        held: Option<T>,
        missing: impl FnOnce() -> ApiError,
    ) -> Result<T, ApiError> {
        match held {
            Some(held) => self.require(id, wanted).map(|()| held),
            None if wanted.is_some() => self.require(id, wanted).and_then(|()| Err(missing())),
            None => Err(missing()),
        }
    }

    /// The revision of `id` applied last.
    fn known(&self, id: IntegrationId) -> Option<u64> {
        self.revisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied()
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
        if let Some(db) = &self.mirror
            && let Err(e) = mirror_save(db, self.service, &envelope).await
        {
            return Outcome::Retry(format!(
                "{}: cannot record the registry change of {}: {e}",
                self.service, envelope.integration_id
            ));
        }
        self.apply_change(target, &envelope).await
    }

    async fn apply_change<T: RegistryTarget>(
        &self,
        target: &T,
        envelope: &Envelope<IntegrationChanged>,
    ) -> Outcome {
        let id = envelope.integration_id;
        let revision = envelope.payload.revision;
        let _one_at_a_time = self.applying.lock().await;
        if self.known(id).is_some_and(|k| k >= revision) {
            return Outcome::Ack;
        }
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
        let connection = match target.connection(self, envelope) {
            Ok(Some(c)) => c,
            // No connection of this system: nothing to serve here.
            Ok(None) => {
                self.applied(id, revision);
                return Outcome::Ack;
            }
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

    /// Applies every change in the mirror this process has not applied yet; returns how many.
    pub async fn refresh<T: RegistryTarget>(&self, target: &T) -> Result<usize, DbErr> {
        let Some(db) = &self.mirror else {
            return Ok(0);
        };
        let rows = mirror_row::Entity::find()
            .filter(mirror_row::Column::Service.eq(self.service))
            .all(db)
            .await?;
        let mut applied = 0;
        for row in rows {
            let Ok(id) = IntegrationId::from_uuid(row.integration_id) else {
                continue;
            };
            if self
                .known(id)
                .is_some_and(|k| i64::try_from(k).unwrap_or(i64::MAX) >= row.revision)
            {
                continue;
            }
            let change: IntegrationChanged = match serde_json::from_value(row.change) {
                Ok(c) => c,
                Err(error) => {
                    tracing::warn!(integration = %id, %error, "unreadable registry mirror row skipped");
                    continue;
                }
            };
            let envelope = Envelope::new(id, change);
            match self.apply_change(target, &envelope).await {
                Outcome::Ack => applied += 1,
                Outcome::Retry(reason) | Outcome::DeadLetter(reason) => {
                    tracing::warn!(integration = %id, %reason, "registry change from the mirror not applied; next refresh");
                }
            }
        }
        Ok(applied)
    }

    /// Refreshes from the mirror now and then every `every` until `shutdown`.
    pub fn spawn_refresh<T: RegistryTarget + 'static>(
        self: Arc<Self>,
        target: Arc<T>,
        every: Duration,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(error) = self.refresh(target.as_ref()).await {
                    tracing::warn!(service = self.service, %error, "cannot read the registry mirror; next interval");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
            }
        })
    }
}

async fn mirror_save(
    db: &DatabaseConnection,
    service: &str,
    envelope: &Envelope<IntegrationChanged>,
) -> Result<(), DbErr> {
    let change =
        serde_json::to_value(&envelope.payload).map_err(|e| DbErr::Custom(e.to_string()))?;
    let revision = i64::try_from(envelope.payload.revision).unwrap_or(i64::MAX);
    let row = mirror_row::ActiveModel {
        service: sea_orm::Set(service.to_owned()),
        integration_id: sea_orm::Set(envelope.integration_id.as_uuid()),
        revision: sea_orm::Set(revision),
        change: sea_orm::Set(change),
        updated_at: sea_orm::Set(Utc::now()),
    };
    // A newer revision stored by another replica stays.
    let stored =
        mirror_row::Entity::find_by_id((service.to_owned(), envelope.integration_id.as_uuid()))
            .one(db)
            .await?;
    if stored.is_some_and(|s| s.revision >= revision) {
        return Ok(());
    }
    mirror_row::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                mirror_row::Column::Service,
                mirror_row::Column::IntegrationId,
            ])
            .update_columns([
                mirror_row::Column::Revision,
                mirror_row::Column::Change,
                mirror_row::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// `ferry_registry_mirror`: the last registry change per service and integration.
pub mod mirror_row {
    use super::*;

    /// One integration's last change, as a connector received it (credentials sealed).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "ferry_registry_mirror")]
    pub struct Model {
        /// The connector.
        #[sea_orm(primary_key, auto_increment = false)]
        pub service: String,
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// The change's revision.
        pub revision: i64,
        /// The `integration.changed` payload.
        pub change: Json,
        /// When it was stored.
        pub updated_at: DateTime<Utc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `ferry_registry_mirror` (in the bus's migrator of every connector database).
pub struct MirrorMigration;

impl MigrationName for MirrorMigration {
    fn name(&self) -> &str {
        "m20261124_000002_registry_mirror"
    }
}

#[async_trait]
impl MigrationTrait for MirrorMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(mirror_row::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
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

/// A connector's side of the registry: applies `integration.changed` deliveries, and the
/// changes other replicas received (the mirror), to its served integrations `T`.
pub struct RegistryListener<T> {
    follower: Arc<RegistryFollower>,
    target: Arc<T>,
}

impl<T: RegistryTarget + 'static> RegistryListener<T> {
    /// A listener updating `target`, opening credentials with `follower`, keeping the
    /// changes in `db`'s registry mirror for the other replicas.
    pub fn new(follower: RegistryFollower, db: DatabaseConnection, target: Arc<T>) -> Self {
        Self {
            follower: Arc::new(follower.with_mirror(db)),
            target,
        }
    }

    /// The registry's follower: which revision of each integration this replica serves.
    pub fn follower(&self) -> &RegistryFollower {
        &self.follower
    }

    /// Handles one `integration.changed` delivery.
    pub async fn handle(&self, delivery: &Delivery) -> Outcome {
        self.follower.apply(self.target.as_ref(), delivery).await
    }

    /// Applies what other replicas received (the registry mirror) now and every `every`.
    pub fn spawn_refresh(&self, every: Duration, shutdown: CancellationToken) -> JoinHandle<()> {
        self.follower
            .clone()
            .spawn_refresh(self.target.clone(), every, shutdown)
    }
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
    fn a_call_at_a_revision_not_applied_yet_is_a_conflict_held_or_not() {
        let ring = Keyring::generate("k").unwrap().0;
        let follower = RegistryFollower::new("test", Some(ring)).unwrap();
        let id = IntegrationId::new();
        let missing = || ApiError::not_found("none here");
        fn status(r: Result<&str, ApiError>) -> Result<&str, u16> {
            r.map_err(|e| actix_web::ResponseError::status_code(&e).as_u16())
        }
        // Nothing applied yet: a wanted revision is to be retried, none wanted is not found.
        assert_eq!(
            status(follower.serving(id, Some(1), None, missing)),
            Err(409)
        );
        assert_eq!(status(follower.serving(id, None, None, missing)), Err(404));
        follower.applied(id, 2);
        assert_eq!(
            status(follower.serving(id, Some(2), Some("held"), missing)),
            Ok("held")
        );
        assert_eq!(
            status(follower.serving(id, Some(3), Some("held"), missing)),
            Err(409)
        );
        assert_eq!(
            status(follower.serving(id, Some(2), None, missing)),
            Err(404)
        );
        assert_eq!(
            status(follower.serving(id, None, Some("held"), missing)),
            Ok("held")
        );
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
            mirror: None,
            applying: tokio::sync::Mutex::default(),
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
