//! Each entity's pass progress: kept in memory for the pass running here, stored as the
//! entity's run in the kit's `connector_runs` when the pass starts with something to read,
//! with every page (in the page's transaction) and when it ends, so that any replica answers
//! the admin API.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ferry_platform::connector::cursors::run_row;
use ferry_platform::connector::ingest::Batch;
use ferry_platform::connector::poll::{LEASE_LOST, check_current};
use ferry_platform::connector::progress::SyncState;
use ferry_proto::IntegrationId;
use sea_orm::TransactionTrait;
use serde::Serialize;

use super::{EntityReport, Ingest, IngestError};
use crate::store::{CURSORS, SyncEntity};

/// How far one entity of one integration is.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// Whether a pass of this entity runs now.
    pub running: bool,
    /// The current pass started from cursor 0 (a full sync).
    pub full_sync: bool,
    /// The committed cursor.
    pub cursor: i64,
    /// The installation's current marker at the start of the pass.
    pub target: i64,
    /// Records observed in this pass.
    pub observed: u64,
    /// Records parked in this pass.
    pub parked: u64,
    /// Records skipped in this pass (inactive, deleted, or created by Ferry).
    pub skipped: u64,
    /// When the last pass started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the last pass finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// The last pass's error.
    pub last_error: Option<String>,
}

impl Progress {
    /// The stats' view of a stored pass.
    pub fn of(row: &run_row::Model) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Self {
            running: SyncState::parse(&row.state) == SyncState::Running,
            full_sync: row.mode == "full",
            cursor: row.position,
            target: row.target.unwrap_or(0),
            observed: count(row.published),
            parked: count(row.parked),
            skipped: count(row.skipped),
            started_at: row.started_at,
            finished_at: row.finished_at,
            last_error: row.last_error.clone(),
        }
    }
}

/// The running or last pass of an entity in this replica.
#[derive(Clone)]
pub(super) struct Tracked {
    pub(super) row: run_row::Model,
    /// This pass stored its start or a page: its end is stored too.
    pub(super) stored: bool,
    /// The stored row is this replica's last finished pass (or an older one, finished): a pass
    /// finding nothing needs to store nothing. False until this replica stored or checked
    /// it, and after storing failed.
    pub(super) clean: bool,
}

/// How many times a pass's start or end is tried before it is left (the page transactions
/// keep the counts; the next pass finding nothing mends a state left `running`).
const STORE_ATTEMPTS: u32 = 5;

pub(super) type ProgressMap = HashMap<(IntegrationId, SyncEntity), Tracked>;

impl Ingest {
    pub(super) fn tracked(&self, id: IntegrationId, entity: SyncEntity) -> Option<Tracked> {
        let map = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(id, entity)).cloned()
    }

    pub(super) fn set_progress(&self, id: IntegrationId, entity: SyncEntity, tracked: Tracked) {
        let mut map = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        map.insert((id, entity), tracked);
    }

    /// Ends the tracked pass of `entity` at `cursor` with `result`, and stores it when the
    /// pass stored anything, failed, or the stored row is not known to be finished.
    pub(super) async fn finish_progress(
        &self,
        id: IntegrationId,
        entity: SyncEntity,
        cursor: i64,
        result: &Result<EntityReport, IngestError>,
    ) {
        let Some(mut tracked) = self.tracked(id, entity) else {
            return;
        };
        let row = &mut tracked.row;
        row.position = cursor;
        row.finish(result.as_ref().err().map(ToString::to_string), Utc::now());
        if tracked.stored || result.is_err() {
            tracked.clean = self.store_progress(&tracked.row, false).await;
        } else if !tracked.clean {
            // Found nothing, and the stored row is not known to be finished (never
            // checked by this replica, or an end that could not be stored): mend it.
            tracked.clean = self.store_progress(&tracked.row, true).await;
        }
        self.set_progress(id, entity, tracked);
    }

    /// Stores a pass's start or end (with `settle`: only mends the stored row, see
    /// [`Cursors::settle_run`](ferry_platform::connector::Cursors::settle_run)), only while this replica still owns the integration's
    /// polling (a replica that lost it leaves the new owner's progress alone). Tried
    /// [`STORE_ATTEMPTS`] times (SQLite refuses a write racing another one); a failure is
    /// logged, never the pass's failure. Answers whether it was stored.
    pub(super) async fn store_progress(&self, row: &run_row::Model, settle: bool) -> bool {
        let mut pause = std::time::Duration::from_millis(50);
        for attempt in 1..=STORE_ATTEMPTS {
            let stored = async {
                let txn = self.db().begin().await?;
                check_current(&txn).await?;
                if settle {
                    CURSORS.settle_run(&txn, row.clone()).await?;
                } else {
                    CURSORS.put_runs(&txn, std::slice::from_ref(row)).await?;
                }
                txn.commit().await
            }
            .await;
            let error = match stored {
                Ok(()) => return true,
                Err(error) => error,
            };
            let lost = error.to_string().contains(LEASE_LOST);
            if lost || attempt == STORE_ATTEMPTS {
                tracing::warn!(entity = %row.resource, %error, "MplusKASSA pass progress not stored");
                return false;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        false
    }

    /// The entity's pass progress after `batch` commits: its counts, its cursor, a sample.
    /// `None` when no pass of it is tracked (never: a page belongs to a pass).
    pub(super) fn page_progress(
        &self,
        id: IntegrationId,
        entity: SyncEntity,
        batch: &Batch,
    ) -> Option<run_row::Model> {
        let mut row = self.tracked(id, entity)?.row;
        row.position = row.position.max(batch.position);
        row.published += batch.events.len() as i64;
        row.parked += batch.parked.len() as i64;
        row.skipped += i64::try_from(batch.skipped).unwrap_or(0);
        row.sample(Utc::now());
        Some(row)
    }

    /// Keeps the progress a committed page stored as the tracked pass.
    pub(super) fn page_stored(&self, id: IntegrationId, entity: SyncEntity, row: run_row::Model) {
        let clean = self.tracked(id, entity).is_some_and(|t| t.clean);
        self.set_progress(
            id,
            entity,
            Tracked {
                row,
                stored: true,
                clean,
            },
        );
    }
}
