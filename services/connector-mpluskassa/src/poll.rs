//! Polling: the connector kit's [`PollScheduler`] decides which replica polls which
//! installation, when, and how many at once; [`MplusPoller`] is one pass over one
//! integration's entities ([`Ingest::run_pass`]).

use std::sync::Arc;

use async_trait::async_trait;
use ferry_platform::connector::poll::{PollError, PollScheduler, Poller};
use ferry_proto::{IntegrationId, System};

use crate::ingest::Ingest;

/// MplusKASSA's side of the kit's polling.
pub struct MplusPoller {
    ingest: Ingest,
}

impl MplusPoller {
    /// Polls through `ingest`.
    pub fn new(ingest: Ingest) -> Self {
        Self { ingest }
    }

    /// The scheduler of this replica's polls.
    pub fn scheduler(self, db: sea_orm::DatabaseConnection) -> PollScheduler {
        let settings = self.ingest.config().poll_settings();
        PollScheduler::new(db, System::Mpluskassa, Arc::new(self), settings)
    }
}

#[async_trait]
impl Poller for MplusPoller {
    fn integrations(&self) -> Vec<IntegrationId> {
        self.ingest
            .integrations()
            .active()
            .iter()
            .map(|i| i.id())
            .collect()
    }

    async fn poll(&self, id: IntegrationId) -> Result<u64, PollError> {
        // Paused (or back to draft) since the scheduler's last pass: not polled, at once.
        let integrations = self.ingest.integrations();
        let Some(integration) = integrations.get(id).filter(|_| integrations.is_active(id)) else {
            return Ok(0);
        };
        Ok(self.ingest.run_pass(&integration).await?)
    }
}
