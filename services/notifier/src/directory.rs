//! Which integrations exist, what they are called and what state they are in, so that the
//! dashboard and the alerts say "Corner shop" instead of a UUID.
//!
//! Two sources: the registry's `integration.changed` announcements (the notifier hears every
//! message, so it keeps the latest name and state of each, revision-guarded, in
//! `notifier_integrations`), and the integrations configured in the service configuration
//! (`[[integrations]]`, e.g. the demo integration of `ferry run`), which run without a registry
//! entry. A registry entry wins over a configured one with the same id.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use serde::Serialize;
use utoipa::ToSchema;

use crate::classify::Observation;
use crate::config::ConfiguredIntegration;
use crate::store::integration_row;

/// Where the notifier learnt of an integration.
pub const REGISTRY: &str = "registry";
/// Where the notifier learnt of an integration.
pub const CONFIGURED: &str = "configured";

/// One integration as the dashboard lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct KnownIntegration {
    /// The integration id.
    pub integration_id: String,
    /// Its name.
    pub name: String,
    /// `draft`, `live` or `paused` (configured integrations run: `live`).
    pub state: String,
    /// `registry` (set up through the wizard or the CLI) or `configured` (in the services'
    /// configuration files).
    pub origin: String,
    /// When the registry last announced it (none for configured ones).
    pub updated_at: Option<DateTime<Utc>>,
}

/// The integrations' names and states.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    configured: Arc<BTreeMap<String, String>>,
}

impl Directory {
    /// A directory knowing the `configured` integrations besides the registry's.
    pub fn new(configured: &[ConfiguredIntegration]) -> Self {
        Self {
            configured: Arc::new(
                configured
                    .iter()
                    .map(|c| (c.id.clone(), c.name.clone()))
                    .collect(),
            ),
        }
    }

    /// Every known integration, by name.
    pub async fn all<C: ConnectionTrait>(&self, conn: &C) -> Result<Vec<KnownIntegration>, DbErr> {
        let mut all: BTreeMap<String, KnownIntegration> = self
            .configured
            .iter()
            .map(|(id, name)| {
                (
                    id.clone(),
                    KnownIntegration {
                        integration_id: id.clone(),
                        name: name.clone(),
                        state: "live".to_owned(),
                        origin: CONFIGURED.to_owned(),
                        updated_at: None,
                    },
                )
            })
            .collect();
        for row in integration_row::Entity::find().all(conn).await? {
            all.insert(
                row.integration_id.clone(),
                KnownIntegration {
                    integration_id: row.integration_id,
                    name: row.name,
                    state: row.state,
                    origin: REGISTRY.to_owned(),
                    updated_at: Some(row.updated_at),
                },
            );
        }
        let mut list: Vec<KnownIntegration> = all.into_values().collect();
        list.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.integration_id.cmp(&b.integration_id))
        });
        Ok(list)
    }

    /// The name of one integration, if known.
    pub async fn name_of<C: ConnectionTrait>(
        &self,
        conn: &C,
        integration_id: &str,
    ) -> Result<Option<String>, DbErr> {
        if let Some(row) = integration_row::Entity::find_by_id(integration_id.to_owned())
            .one(conn)
            .await?
        {
            return Ok(Some(row.name));
        }
        Ok(self.configured.get(integration_id).cloned())
    }

    /// How an alert names an integration: `Corner shop`, or its id when it has no name.
    pub async fn label<C: ConnectionTrait>(
        &self,
        conn: &C,
        integration_id: &str,
    ) -> Result<String, DbErr> {
        Ok(self
            .name_of(conn, integration_id)
            .await?
            .unwrap_or_else(|| format!("integration {integration_id}")))
    }
}

/// Keeps the registry's announcement `obs` (an `integration.changed`): its name and state,
/// unless a newer revision is stored already; a deletion forgets the integration.
pub async fn record_change<C: ConnectionTrait>(conn: &C, obs: &Observation) -> Result<(), DbErr> {
    let env = &obs.envelope;
    if env.message_type != "integration.changed" {
        return Ok(());
    }
    let id = env.integration_id.to_string();
    let payload = &env.payload;
    let state = payload
        .get("state")
        .and_then(|s| s.as_str())
        .unwrap_or("unknown");
    let revision = payload
        .get("revision")
        .and_then(|r| r.as_u64())
        .map_or(0, |r| i64::try_from(r).unwrap_or(i64::MAX));
    let existing = integration_row::Entity::find_by_id(id.clone())
        .one(conn)
        .await?;
    if existing.as_ref().is_some_and(|e| e.revision > revision) {
        return Ok(());
    }
    if state == "deleted" {
        integration_row::Entity::delete_by_id(id).exec(conn).await?;
        return Ok(());
    }
    let name = payload
        .get("name")
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .or_else(|| existing.as_ref().map(|e| e.name.clone()))
        .unwrap_or_else(|| id.clone());
    let row = integration_row::ActiveModel {
        integration_id: Set(id),
        name: Set(name),
        state: Set(state.to_owned()),
        revision: Set(revision),
        updated_at: Set(Utc::now()),
    };
    integration_row::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(integration_row::Column::IntegrationId)
                .update_columns([
                    integration_row::Column::Name,
                    integration_row::Column::State,
                    integration_row::Column::Revision,
                    integration_row::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}
