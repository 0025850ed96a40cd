//! A connector's sync progress (`GET /api/v1/<system>/integrations/{id}/progress`) followed
//! until one resource's run ends, for the tests that show it moving.

use std::time::{Duration, Instant};

use serde_json::Value;

/// What following one resource's run saw.
#[derive(Debug)]
pub struct Followed {
    /// The resource's progress each time it was read while running, in order.
    pub running: Vec<Value>,
    /// Its progress once done.
    pub last: Value,
}

impl Followed {
    /// The records done seen while running, checked never to go backwards, without
    /// repetitions.
    pub fn counts(&self) -> Vec<u64> {
        let mut counts: Vec<u64> = self
            .running
            .iter()
            .map(|r| r["done"].as_u64().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        counts.dedup();
        counts
    }

    /// The first reading in the middle of the run: records done, fewer than `total`, and a
    /// rate already measured.
    pub fn middle(&self, total: u64) -> &Value {
        self.running
            .iter()
            .find(|r| {
                let done = r["done"].as_u64().unwrap();
                done > 0 && done < total && !r["rate_per_second"].is_null()
            })
            .unwrap_or_else(|| panic!("no reading in the middle: {:?}", self.running))
    }
}

/// The progress of `resource` in a connector's answer.
pub fn of(all: &Value, resource: &str) -> Value {
    all["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == resource)
        .unwrap_or_else(|| panic!("no {resource} in {all}"))
        .clone()
}

/// Reads `url` with `token` every 100 ms until `resource` was seen running and then done;
/// fails when it fails or `timeout` passes. While it runs the integration is not settled.
pub async fn follow(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    resource: &str,
    timeout: Duration,
) -> Followed {
    let deadline = Instant::now() + timeout;
    let mut running = Vec::new();
    loop {
        let all = crate::get_json(http, url, token).await;
        let progress = of(&all, resource);
        match progress["state"].as_str().unwrap() {
            "running" => {
                assert_eq!(all["settled"], false, "a backfill runs: {all}");
                running.push(progress);
            }
            "done" if !running.is_empty() => {
                return Followed {
                    running,
                    last: progress,
                };
            }
            "failed" => panic!("the sync failed: {progress}"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "the sync did not finish: {all}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
