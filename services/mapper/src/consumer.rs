//! The bus side: observed records in, commands out.
//!
//! For each delivery on the `mapper` queue: decode the envelope (undecodable -> parked), load
//! the integration's compiled configuration (cached per settings/mappings version; a database
//! failure -> retry), map the record (mapping errors -> parked with a reason naming the
//! integration, the record and every field), then in one transaction claim the message in the
//! inbox and put the command into the outbox (the transaction shared with concurrent
//! deliveries: [`GroupCommit`]); acknowledge after the commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferry_platform::bus::group_commit::{Effect, GroupCommit};
use ferry_platform::bus::inbox::Inbox;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{Binding, Delivery, Handler, Outcome, queues};
use ferry_platform::coalesce::Coalescer;
use ferry_proto::{Envelope, IntegrationId};
use sea_orm::DatabaseConnection;
use serde_json::Value as Json;
use tracing::Instrument;

use crate::error::flow_name;
use crate::mapper::{self, IntegrationConfig, Mapped, Observed};
use crate::rules::Mappings;
use crate::settings::Settings;
use crate::store::{self, Kind, StoreError};
use crate::validation::FieldError;

/// The bindings of the mapper's queue: every source's observed records (the platform's
/// route table; a test checks it is exactly [`mapper::CONSUMED`]).
pub fn bindings() -> Vec<Binding> {
    queues::bindings(queues::MAPPER)
}

/// Why an integration's configuration could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The database failed (transient).
    #[error("cannot load the configuration of integration {integration}: {source}")]
    Db {
        /// The integration.
        integration: IntegrationId,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The stored documents do not compile (they did when saved; a newer mapper may be
    /// stricter). Permanent until an operator saves a fixed version.
    #[error("the stored settings/mappings of integration {integration} are invalid: {}", join(.errors))]
    Invalid {
        /// The integration.
        integration: IntegrationId,
        /// Every problem.
        errors: Vec<FieldError>,
    },
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A compiled configuration with the (settings, mappings) versions it was built from.
type Cached = ((i64, i64), Arc<IntegrationConfig>);

/// Compiled configurations per integration, refreshed when a new version is saved.
pub struct ConfigCache {
    entries: Mutex<HashMap<IntegrationId, Cached>>,
    /// The version reads of concurrent deliveries, one query per batch: each delivery's
    /// answer comes from a query started after it arrived, so it sees every version saved
    /// before, as a query of its own would.
    versions: Coalescer<IntegrationId, (i64, i64), Arc<StoreError>>,
}

impl Default for ConfigCache {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            versions: Coalescer::new(100),
        }
    }
}

impl ConfigCache {
    /// The current configuration of `integration`.
    pub async fn get(
        &self,
        db: &DatabaseConnection,
        integration: IntegrationId,
    ) -> Result<Arc<IntegrationConfig>, ConfigError> {
        let db_error = |source| ConfigError::Db {
            integration,
            source,
        };
        let versions = self
            .versions
            .load(integration, |integrations| async move {
                store::current_versions_of_many(db, &integrations)
                    .await
                    .map_err(Arc::new)
            })
            .await
            .map_err(|e| db_error(StoreError::Db(sea_orm::DbErr::Custom(e.to_string()))))?
            .unwrap_or_default();
        if let Some((cached_versions, config)) = self.lock().get(&integration)
            && *cached_versions == versions
        {
            return Ok(config.clone());
        }
        let settings = store::current::<Settings, _>(db, integration, Kind::Settings).await;
        let mappings = store::current::<Mappings, _>(db, integration, Kind::Mappings).await;
        let corrupt = |e: StoreError| match e {
            StoreError::Corrupt { .. } => ConfigError::Invalid {
                integration,
                errors: vec![FieldError::at("", e.to_string())],
            },
            other => ConfigError::Db {
                integration,
                source: other,
            },
        };
        let settings = settings.map_err(corrupt)?;
        let mappings = mappings.map_err(corrupt)?;
        let versions = (settings.version, mappings.version);
        let config = IntegrationConfig::new(integration, settings.document, &mappings.document)
            .map_err(|errors| ConfigError::Invalid {
                integration,
                errors,
            })?;
        let config = Arc::new(config);
        self.lock().insert(integration, (versions, config.clone()));
        Ok(config)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IntegrationId, Cached>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Handles the deliveries of the mapper's queue.
pub struct MapperHandler {
    db: DatabaseConnection,
    commits: GroupCommit,
    configs: Arc<ConfigCache>,
}

impl MapperHandler {
    /// A handler claiming in `inbox` and publishing through `outbox`, the claims and commands
    /// of concurrent deliveries in one transaction ([`GroupCommit`]).
    pub fn new(
        db: DatabaseConnection,
        inbox: Inbox,
        outbox: Outbox,
        configs: Arc<ConfigCache>,
    ) -> Self {
        Self {
            commits: GroupCommit::spawn(db.clone(), inbox, outbox),
            db,
            configs,
        }
    }

    async fn handle_observed(&self, meta: Envelope<()>, observed: Observed) -> Outcome {
        let integration = meta.integration_id;
        let config = match self.configs.get(&self.db, integration).await {
            Ok(config) => config,
            Err(e @ ConfigError::Db { .. }) => {
                tracing::warn!(error = %e, "configuration unavailable; will retry");
                return Outcome::Retry(e.to_string());
            }
            Err(e @ ConfigError::Invalid { .. }) => {
                tracing::error!(error = %e, "configuration invalid; parking the record");
                return Outcome::DeadLetter(e.to_string());
            }
        };
        let command = match mapper::map(&observed, &config) {
            Ok(Mapped::Send(command)) => command,
            Ok(Mapped::Skipped(skip)) => {
                tracing::debug!(%skip, "not mapped");
                return Outcome::Ack;
            }
            Err(failure) => {
                tracing::warn!(reason = %failure, "mapping failed; parking the record");
                return Outcome::DeadLetter(failure.to_string());
            }
        };
        let message = match command.to_bus_message(&meta) {
            Ok(message) => message,
            Err(e) => {
                return Outcome::DeadLetter(format!(
                    "integration {integration}, {} record {}: the mapped {} cannot be sent: {e}",
                    flow_name(observed.flow()),
                    observed.record_key(),
                    command.message_type()
                ));
            }
        };
        let (routing_key, command_id) = (message.routing_key.clone(), message.message_id);
        let effect = Effect::claim(meta.message_id.as_uuid(), vec![message]);
        match self.commits.commit(effect).await {
            Ok(true) => {
                tracing::info!(%routing_key, %command_id, "mapped");
                Outcome::Ack
            }
            Ok(false) => Outcome::Ack,
            Err(e) => Outcome::Retry(format!(
                "database error while storing the mapped command: {e}"
            )),
        }
    }
}

#[async_trait]
impl Handler for MapperHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let envelope = match Envelope::<Json>::from_json_slice(&delivery.message.body) {
            Ok(e) => e,
            Err(e) => {
                return Outcome::DeadLetter(format!(
                    "message {} ({}) is not a readable envelope: {e}",
                    delivery.message.message_id, delivery.message.routing_key
                ));
            }
        };
        let integration = envelope.integration_id;
        let (meta, observed) = match Observed::from_envelope(envelope) {
            Ok(typed) => typed,
            Err(e) => {
                return Outcome::DeadLetter(format!(
                    "integration {integration}: message {} ({}) cannot be mapped: {e}",
                    delivery.message.message_id, delivery.message.routing_key
                ));
            }
        };
        let span = tracing::info_span!(
            "map_record",
            integration_id = %integration,
            flow = flow_name(observed.flow()),
            record = %observed.record_key(),
            message_id = %meta.message_id,
        );
        self.handle_observed(meta, observed).instrument(span).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_table_brings_exactly_what_the_mapper_consumes() {
        let mut bound: Vec<String> = bindings().into_iter().map(|b| b.pattern).collect();
        let mut consumed: Vec<String> = mapper::CONSUMED.iter().map(|t| format!("*.{t}")).collect();
        // And the erase requests, which the platform's erase handles in front of the mapper.
        consumed.push(queues::PERSON_ERASE.to_owned());
        bound.sort();
        consumed.sort();
        assert_eq!(bound, consumed);
        assert!(
            bindings()
                .iter()
                .all(|b| b.exchange == ferry_platform::bus::Exchange::Events)
        );
    }
}
