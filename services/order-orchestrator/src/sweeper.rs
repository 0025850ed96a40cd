//! The sweeper: finds sagas whose timers are due in the database (after a restart, on
//! another replica's expired lease, parked sagas due for re-verification, queued sagas for
//! which a slot freed) and hands them to their actors; purges old finished sagas.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::actors::SagaActors;

/// Sagas claimed per pass.
const BATCH: u64 = 500;
/// How often finished sagas past their retention are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Runs the sweeper until `shutdown`.
pub fn spawn(actors: Arc<SagaActors>, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let interval = actors.engine().settings().sweep_interval();
        let mut last_purge: Option<Instant> = None;
        loop {
            match actors.engine().claim_due(BATCH).await {
                Ok(ids) => {
                    if !ids.is_empty() {
                        tracing::debug!(due = ids.len(), "due sagas claimed");
                    }
                    for id in ids {
                        actors.poke(id);
                    }
                }
                Err(error) => tracing::warn!(%error, "saga sweep failed; will try again"),
            }
            if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                last_purge = Some(Instant::now());
                match actors.engine().purge_finished().await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(purged = n, "finished sagas past their retention deleted")
                    }
                    Err(error) => tracing::warn!(%error, "saga purge failed; will try again"),
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    })
}
