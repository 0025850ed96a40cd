//! What Ferry's test suites share, written once (each crate's `tests/support/mod.rs` keeps
//! only what is its own):
//!
//! | item | what |
//! | --- | --- |
//! | [`amqp_url`] | the RabbitMQ the tests use (`FERRY_TEST_AMQP_URL`) |
//! | [`get_json`] | a `GET` of an admin API with a token, as JSON |
//! | [`unique_dir`] | a fresh temporary directory no other test (thread or process) shares |
//! | [`ready`] | waiting for a started binary's ready file: the addresses its listeners bound on port 0 |
//! | [`progress`] | a connector's sync progress followed until one resource's run ends |
//! | [`egress`] | probes of the egress guard for the connectors' connection tests (redirect, internal texts, TLS, internal destinations) |
//! | [`webdriver`] | just enough W3C WebDriver to drive headless Chromium through Debian's `chromedriver`, which binds port 0 and reports the port it got |
//! | [`wizard`] | the dashboard's setup wizard driven step by step to go-live (embedded and behind the reverse proxy) |
//!
//! PostgreSQL schemas and SQLite files for tests are `ferry_platform::db::testing`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod egress;
pub mod progress;
pub mod ready;
pub mod webdriver;
pub mod wizard;

use std::path::PathBuf;

/// Variable naming the RabbitMQ of the tests.
pub const AMQP_URL_ENV: &str = "FERRY_TEST_AMQP_URL";

/// The local RabbitMQ of the tests.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The RabbitMQ the tests use (override with `FERRY_TEST_AMQP_URL`).
pub fn amqp_url() -> String {
    std::env::var(AMQP_URL_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_AMQP_URL.to_owned())
}

/// A `GET` of `url` with the bearer `token`, its body as JSON.
pub async fn get_json(
    http: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    token: &str,
) -> serde_json::Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A new, empty directory `<tmp>/<prefix>-<uuid>`: unique per call, so tests running side by
/// side (threads of one test binary, or processes) never share one.
pub fn unique_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_never_shared() {
        let a = unique_dir("ferry-support-test");
        let b = unique_dir("ferry-support-test");
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
        let _ = std::fs::remove_dir_all(a);
        let _ = std::fs::remove_dir_all(b);
    }
}
