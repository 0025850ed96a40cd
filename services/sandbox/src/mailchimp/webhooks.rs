//! Delivery of list webhooks: form-encoded POSTs, in order, with retries and exponential
//! backoff; every outcome is logged in the state (`deliveries`).

use tokio::sync::mpsc;

use super::MailchimpConfig;
use super::state::{Delivery, DeliveryLog};

/// The delivery task: runs until the simulator is dropped.
/// `record` logs an outcome; it returns false once the simulator is gone.
pub async fn deliver(
    record: impl Fn(DeliveryLog) -> bool,
    mut rx: mpsc::UnboundedReceiver<Delivery>,
    config: MailchimpConfig,
) {
    let client = match reqwest::Client::builder()
        .timeout(config.webhook_timeout)
        .user_agent("MailChimp")
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client");
            return;
        }
    };
    while let Some(d) = rx.recv().await {
        let mut attempts = 0;
        let mut status = None;
        let mut delivered = false;
        let mut delay = config.webhook_backoff;
        while attempts < config.webhook_attempts.max(1) {
            attempts += 1;
            match client.post(&d.url).form(&d.form).send().await {
                Ok(r) => {
                    status = Some(r.status().as_u16());
                    if r.status().is_success() {
                        delivered = true;
                        break;
                    }
                }
                Err(e) => tracing::debug!(url = %d.url, error = %e, "webhook delivery failed"),
            }
            if attempts < config.webhook_attempts {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        let alive = record(DeliveryLog {
            url: d.url,
            event: d.event,
            attempts,
            status,
            delivered,
        });
        if !alive {
            return;
        }
    }
}
