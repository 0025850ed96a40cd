//! Polling: the connector kit's [`PollScheduler`] decides which replica polls which
//! integration, when, and how many at once; [`MailchimpPoller`] is one poll of one
//! integration (an incremental sync of each of its resources, a full one first when never
//! synced and `initial_sync` is on).

use std::sync::Arc;

use async_trait::async_trait;
use ferry_platform::connector::poll::{PollError, PollScheduler, Poller};
use ferry_proto::{IntegrationId, System};

use crate::ingest::{Ingester, SyncMode};
use crate::resource::Resource;
use crate::store;

/// MailChimp's side of the kit's polling.
pub struct MailchimpPoller {
    ingester: Arc<Ingester>,
    initial_sync: bool,
}

impl MailchimpPoller {
    /// Polls through `ingester`; `initial_sync`: a resource never synced gets a full sync.
    pub fn new(ingester: Arc<Ingester>, initial_sync: bool) -> Self {
        Self {
            ingester,
            initial_sync,
        }
    }

    /// The scheduler of this replica's polls.
    pub fn scheduler(self, db: sea_orm::DatabaseConnection) -> PollScheduler {
        let settings = self.ingester.integrations().section().poll_settings();
        PollScheduler::new(db, System::Mailchimp, Arc::new(self), settings)
    }
}

#[async_trait]
impl Poller for MailchimpPoller {
    fn integrations(&self) -> Vec<IntegrationId> {
        self.ingester
            .integrations()
            .active()
            .iter()
            .map(|i| i.id())
            .collect()
    }

    fn is_active(&self, id: IntegrationId) -> bool {
        self.ingester.integrations().is_active(id)
    }

    async fn poll(&self, id: IntegrationId) -> Result<u64, PollError> {
        let Some(integration) = self.ingester.integrations().get(id) else {
            return Ok(0);
        };
        let mut changes = 0;
        let mut first_error: Option<PollError> = None;
        for resource in Resource::all() {
            if !integration.connection.resources.contains(&resource) {
                continue;
            }
            let never = match store::cursor(self.ingester.db(), id, resource.as_str()).await {
                Ok(cursor) => cursor.is_none_or(|c| c.watermark.is_none()),
                Err(error) => {
                    first_error.get_or_insert(Box::new(error));
                    continue;
                }
            };
            if never && !self.initial_sync {
                continue;
            }
            match self
                .ingester
                .sync(&integration, resource, SyncMode::Incremental)
                .await
            {
                Ok(report) => changes += report.published + report.rejected,
                Err(error) => {
                    tracing::warn!(integration = %id, resource = resource.as_str(), %error, "MailChimp poll failed");
                    first_error.get_or_insert(Box::new(error));
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => {
                ferry_platform::metrics::global().poll_succeeded(
                    "mailchimp",
                    &id.to_string(),
                    chrono::Utc::now().timestamp() as f64,
                );
                Ok(changes)
            }
        }
    }
}
