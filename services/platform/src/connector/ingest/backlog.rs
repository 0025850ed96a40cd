//! [`Backlog`]: bulk pages (a backfill, a reconciliation) wait while the pipeline behind
//! them is busy, so a live change is never queued behind a whole backfill.
//!
//! RabbitMQ's quorum queues have no priorities, and every record of a backfill is one event
//! in the same queues as the live changes of every integration. Read as fast as the API
//! allows, a backfill of 100,000 orders (or of 200 new integrations at once) puts its events
//! ahead of every live order for as long as the pipeline takes to consume them: minutes. So
//! before committing a bulk page, the connector waits until fewer than `max` messages are
//! ready in the pipeline's queues ([`queues::PIPELINE`]: mapper, orchestrator, both
//! connectors; the notifier only observes and is left out) plus its own outbox. Live pages
//! never wait: they find at most `max` messages (and one page per replica) ahead of them.
//!
//! The bulk pages of one replica take turns: each holds the turn from its check until its
//! commit, so the next one's check sees its events (in the outbox). A backfill is thereby
//! paced by what the pipeline consumes, not by what the API serves: its rate is the
//! pipeline's.
//!
//! When the bus cannot tell a queue's depth (a broker outage), the queue counts as empty: the
//! outbox holds what the relay cannot publish, and it is counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::backoff::Backoff;
use crate::bus::outbox::Outbox;
use crate::bus::{Bus, queues};
use crate::metrics;

/// The default: at most this many messages ahead of a live change because of bulk pages.
pub const DEFAULT_MAX: u64 = 1000;

/// The gate of one connector's bulk pages (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Backlog {
    bus: Arc<dyn Bus>,
    max: u64,
    turn: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backlog").field("max", &self.max).finish()
    }
}

/// A bulk page's turn, held until it commits.
pub type Turn = OwnedMutexGuard<()>;

impl Backlog {
    /// Bulk pages wait while `max` or more messages are ahead (0: they never wait).
    pub fn new(bus: Arc<dyn Bus>, max: u64) -> Self {
        Self {
            bus,
            max,
            turn: Arc::new(Mutex::new(())),
        }
    }

    /// The messages ready in the pipeline's queues and waiting in `outbox`.
    pub async fn ahead(&self, db: &DatabaseConnection, outbox: &Outbox) -> Result<u64, DbErr> {
        let mut ahead = outbox.pending(db).await?;
        for queue in queues::PIPELINE {
            match self.bus.queue_depth(queue).await {
                Ok(depth) => ahead += depth.unwrap_or(0),
                Err(error) => {
                    tracing::debug!(queue, %error, "queue depth unknown; counted as empty");
                }
            }
        }
        Ok(ahead)
    }

    /// Waits for this replica's turn and until fewer than `max` messages are ahead; the turn
    /// is held until the page commits (drop it then). `system` labels the time waited.
    pub async fn room(
        &self,
        db: &DatabaseConnection,
        outbox: &Outbox,
        system: &str,
    ) -> Result<Turn, DbErr> {
        let turn = self.turn.clone().lock_owned().await;
        if self.max == 0 {
            return Ok(turn);
        }
        let started = Instant::now();
        let pause = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        let mut waits = 0;
        loop {
            let ahead = self.ahead(db, outbox).await?;
            if ahead < self.max {
                break;
            }
            if waits == 0 {
                tracing::debug!(ahead, max = self.max, "bulk page waits for the pipeline");
            }
            waits += 1;
            tokio::time::sleep(pause.ceiling(waits)).await;
        }
        if waits > 0 {
            metrics::global().ingest_backlog_waited(system, started.elapsed());
        }
        Ok(turn)
    }
}
