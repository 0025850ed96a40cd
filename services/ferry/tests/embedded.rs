//! The embedded default, black-box: the real `ferry` binary started as a newcomer would, in an
//! empty directory, then asked over HTTP, then stopped with SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Ferry, temp_dir};

#[tokio::test]
async fn starts_in_an_empty_directory_answers_and_stops_cleanly() {
    let dir = temp_dir();
    let ferry = Ferry::start(&dir);
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", ferry.base));

    let health = get("/healthz").send().await.unwrap();
    assert_eq!(health.status(), 200);

    let ready: serde_json::Value = get("/readyz").send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["checks"]["bus"], "ok", "{ready}");
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");

    assert_eq!(get("/api/v1/status").send().await.unwrap().status(), 401);
    let token = ferry.token();
    assert!(token.len() >= 32, "a strong token was generated");
    let status = ferry.get_json(&http, "/api/v1/status").await;
    assert_eq!(status["bus"], "in_process");
    assert_eq!(status["database"], "sqlite");
    // Port 0 everywhere: the ready file named this process's own listeners (admin and both
    // sandboxes), and the admin server reached there names the same sandboxes.
    let own = ferry_test_support::ready::listening_ports(ferry.reported.pid).unwrap();
    assert_eq!(ferry.reported.listeners.len(), 3, "{:?}", ferry.reported);
    for (name, addr) in &ferry.reported.listeners {
        assert!(
            own.contains(&addr.port()),
            "{name} {addr} not among {own:?}"
        );
    }
    assert_eq!(
        status["sandbox_mailchimp"].as_str(),
        ferry.sandbox_mailchimp.as_deref()
    );
    assert_eq!(
        status["sandbox_mpluskassa"].as_str(),
        ferry.sandbox_mpluskassa.as_deref()
    );
    assert!(
        dir.join("ferry-data/ferry.sqlite").exists(),
        "SQLite file in the data directory"
    );

    let openapi = ferry.get_json(&http, "/api/v1/openapi.json").await;
    assert!(openapi["paths"]["/api/v1/status"].is_object(), "{openapi}");
    assert!(
        openapi["paths"]["/api/v1/dead-letters"].is_object(),
        "{openapi}"
    );
    let parked = get("/api/v1/dead-letters")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(parked.status(), 200);
    assert_eq!(
        parked.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!([])
    );
    assert!(openapi["components"]["securitySchemes"]["bearer"].is_object());

    // Every service runs in this process: their routes are in the one admin server.
    for path in [
        "/api/v1/activity",
        "/api/v1/sagas",
        "/api/v1/mailchimp/integrations",
        "/api/v1/mpluskassa/integrations",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} missing from {openapi}"
        );
        let answer = get(path).bearer_auth(&token).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
    }
    let dashboard = get("/dashboard/").send().await.unwrap();
    assert_eq!(dashboard.status(), 200);

    let metrics = get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ferry_bus_publish_seconds"), "{metrics}");

    let (status, logs) = ferry.terminate();
    assert!(
        status.success(),
        "clean exit after SIGTERM: {status:?}\n{logs}"
    );
    assert!(logs.contains("stopped"), "{logs}");
    assert!(
        !logs.contains(&token),
        "the admin token never appears in the logs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The embedded default's promise: a newcomer's `ferry run` syncs the seeded sandboxes
/// through the demo integration, and within a minute the dashboard's health view shows
/// succeeded customers, products, stock and orders.
#[tokio::test]
async fn a_newcomer_sees_synced_customers_products_stock_and_orders_within_a_minute() {
    let dir = temp_dir();
    let started = Instant::now();
    let ferry = Ferry::start(&dir);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let wanted = ["customers", "products", "stock", "orders"];
    let synced = loop {
        let health = ferry.get_json(&http, "/api/v1/integration-health").await;
        let succeeded = |flow: &str| {
            health
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| i["integration_id"] == "0193a0c4-0000-7000-8000-00000000de70")
                .flat_map(|i| i["flows"].as_array().cloned().unwrap_or_default())
                .filter(|f| f["flow"] == flow)
                .map(|f| f["counts"]["succeeded"].as_i64().unwrap_or(0))
                .sum::<i64>()
        };
        let counts: Vec<(&str, i64)> = wanted.iter().map(|f| (*f, succeeded(f))).collect();
        if counts.iter().all(|(_, n)| *n > 0) {
            break counts;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let (_, logs) = ferry.terminate();
            let tail: String = logs.lines().rev().take(40).collect::<Vec<_>>().join("\n");
            panic!(
                "not every flow synced within a minute: {counts:?}\n{health}\nlogs (newest first):\n{tail}"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!(
        "synced within {:.1}s: {synced:?}",
        started.elapsed().as_secs_f64()
    );
    // The dashboard names the demo integration and lists it as running.
    let known = ferry.get_json(&http, "/api/v1/integration-directory").await;
    let demo = known
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["integration_id"] == "0193a0c4-0000-7000-8000-00000000de70")
        .cloned()
        .unwrap_or_default();
    assert!(
        demo["name"].as_str().is_some_and(|n| n.ends_with("(demo)"))
            && demo["state"] == "live"
            && demo["origin"] == "configured",
        "{known}"
    );
    let dashboard = http
        .get(format!("{}/dashboard/", ferry.base))
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 200);
    let (status, logs) = ferry.terminate();
    assert!(status.success(), "clean exit: {status:?}\n{logs}");
    assert!(
        !logs.contains("sandbox-secret"),
        "the demo integration's secret never appears in the logs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One order is one trace: every activity row of an order's saga (the observed order, the
/// mapper's command, the orchestrator's commands to MplusKASSA and their replies), written by
/// different services from the messages they handled, carries the same trace id, and another
/// order carries another one. The trace ids come from the W3C `traceparent` each message
/// carries (the OTLP export of those spans is tested in `ferry-platform --test otlp`).
#[tokio::test]
async fn one_order_is_one_trace_across_the_services() {
    let dir = temp_dir();
    let ferry = Ferry::start(&dir);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // Not a timing test: generous for a machine busy with other tests (a loaded CI run once
    // took over a minute to start the embedded default and complete two sagas).
    let deadline = Instant::now() + Duration::from_secs(180);
    let sagas = loop {
        let sagas = ferry.get_json(&http, "/api/v1/sagas").await;
        let done: Vec<serde_json::Value> = sagas
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["state"] == "completed")
            .cloned()
            .collect();
        if done.len() >= 2 {
            break done;
        }
        assert!(Instant::now() < deadline, "no two completed sagas: {sagas}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut traces = Vec::new();
    for saga in &sagas[..2] {
        // The notifier records deliveries in batches: the saga can be done a moment before
        // its last messages are in the activity log.
        let rows = loop {
            let rows = ferry
                .get_json(
                    &http,
                    &format!(
                        "/api/v1/activity?correlation_id={}&limit=500",
                        saga["id"].as_str().unwrap()
                    ),
                )
                .await;
            let recorded = rows["items"].as_array().map_or(0, Vec::len);
            if recorded >= 3 || Instant::now() >= deadline {
                break rows;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let items = rows["items"].as_array().unwrap();
        assert!(items.len() >= 3, "the saga's activity: {rows}");
        let ids: std::collections::BTreeSet<&str> = items
            .iter()
            .map(|i| i["trace_id"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(ids.len(), 1, "one trace for the whole saga: {rows}");
        let trace = ids.into_iter().next().unwrap().to_owned();
        assert_eq!(trace.len(), 32, "a W3C trace id: {trace}");
        let kinds: std::collections::BTreeSet<&str> = items
            .iter()
            .map(|i| i["message_type"].as_str().unwrap())
            .collect();
        assert!(
            kinds.len() >= 3,
            "messages of several services in the trace: {kinds:?}"
        );
        // The observed order (the connector's event, before any saga existed) is in it too.
        let observed = ferry
            .get_json(
                &http,
                &format!(
                    "/api/v1/activity?key={}&status=observed",
                    saga["external_id"].as_str().unwrap()
                ),
            )
            .await;
        assert!(
            observed["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["trace_id"] == trace.as_str()),
            "the observed order starts the saga's trace {trace}: {observed}"
        );
        traces.push(trace);
    }
    assert_ne!(traces[0], traces[1], "each order has a trace of its own");
    let (status, logs) = ferry.terminate();
    assert!(status.success(), "clean exit: {status:?}\n{logs}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_invalid_configuration_is_refused_with_every_problem_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("check-config")
        .env("FERRY_BUS__KIND", "rabbitmq")
        .env("FERRY_BUS__URL", "http://guest:hunter2secret@broker")
        .env("FERRY_BUS__PREFETCH", "0")
        .env_remove("FERRY_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bus.url"), "{stderr}");
    assert!(stderr.contains("bus.prefetch"), "{stderr}");
    assert!(
        !stderr.contains("hunter2secret"),
        "a secret is never echoed: {stderr}"
    );
}

#[test]
fn a_variable_meant_for_a_standalone_service_is_refused_naming_the_embedded_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("check-config")
        .env("FERRY_MAILCHIMP__POLL_INTERVAL_SECS", "1")
        // Variables of the keyring, the CLI and the test harnesses are no configuration keys.
        .env(
            "FERRY_CREDENTIALS_KEY",
            "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .env("FERRY_ADMIN_TOKEN", "some-operator-token")
        .env("FERRY_TEST_AMQP_URL", "amqp://127.0.0.1:5672/%2f")
        .env_remove("FERRY_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "unknown variable FERRY_MAILCHIMP__POLL_INTERVAL_SECS: did you mean \
             FERRY_CONNECTOR_MAILCHIMP__MAILCHIMP__POLL_INTERVAL_SECS?"
        ),
        "{stderr}"
    );
    // The key it suggests is accepted.
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("check-config")
        .env(
            "FERRY_CONNECTOR_MAILCHIMP__MAILCHIMP__POLL_INTERVAL_SECS",
            "1",
        )
        .env_remove("FERRY_CONFIG")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn check_config_accepts_the_defaults() {
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("check-config")
        .env_remove("FERRY_CONFIG")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid"));
}

#[test]
fn the_example_configuration_stays_valid() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/config/ferry.example.toml"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["--config", example, "check-config"])
        .env_remove("FERRY_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Issue 19, finding 1, on the embedded default: a seeded MailChimp customer flows into
/// MplusKASSA through `ferry run` (SQLite); once erased (`POST /api/v1/gdpr/erase`), no table
/// of the SQLite file holds their e-mail address, last name, street or phone number, and none
/// does a few seconds later while the connectors keep polling.
#[tokio::test]
async fn an_erased_person_leaves_no_trace_in_the_sqlite_file() {
    let dir = temp_dir();
    let ferry = Ferry::start(&dir);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let seed = ferry_sandbox::seed::Seed::default_shop();
    let person = seed
        .customers
        .iter()
        .find(|c| c.in_mailchimp_store && !c.in_mpluskassa && !c.phone.is_empty())
        .expect("a MailChimp customer that Ferry creates in MplusKASSA");
    // Their name and street too, unless another seeded person shares them (those stay, rightly).
    let unique = |f: fn(&ferry_sandbox::seed::Customer) -> &str| {
        seed.customers
            .iter()
            .filter(|o| f(o).eq_ignore_ascii_case(f(person)))
            .count()
            == 1
    };
    let mut needles = vec![person.email.as_str(), person.phone.as_str()];
    if unique(|p| p.last_name.as_str()) {
        needles.push(person.last_name.as_str());
    }
    if unique(|p| p.address.street.as_str()) {
        needles.push(person.address.street.as_str());
    }
    let database = dir.join("ferry-data/ferry.sqlite");
    // The initial sync done: the person's rows stop changing (what arrives after the erase is
    // new data from the source, where the person still is). Ferry's own writes echo back
    // through the next polls (up to 5 s apart when idle), so unchanged for 12 s.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = Vec::new();
    let mut steady = 0;
    while steady < 24 {
        let hits = sqlite_hits(&database, &needles).await;
        steady = if !hits.is_empty() && hits == last {
            steady + 1
        } else {
            0
        };
        last = hits;
        assert!(
            Instant::now() < deadline,
            "the person's data never settled in Ferry's database: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let erased = http
        .post(format!("{}/api/v1/gdpr/erase", ferry.base))
        .bearer_auth(ferry.token())
        .json(&serde_json::json!({ "email": person.email.to_uppercase() }))
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 200, "{}", erased.text().await.unwrap());
    // Every service erases on its own delivery of the request: give them a moment, then look
    // twice, the second time after more polls.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let hits = sqlite_hits(&database, &needles).await;
        if hits.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left after the erase: {hits:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let hits = sqlite_hits(&database, &needles).await;
    assert!(hits.is_empty(), "back after the erase: {hits:?}");
    let (status, _) = ferry.terminate();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `table.column` of every cell of the SQLite file at `path` holding one of `needles`
/// (case-insensitive, as text; blobs read as UTF-8).
async fn sqlite_hits(path: &std::path::Path, needles: &[&str]) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    let db = Database::connect(format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    let tables = db
        .query_all(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table'",
        ))
        .await
        .unwrap();
    let mut hits = Vec::new();
    for table in tables {
        let table: String = table.try_get("", "name").unwrap();
        let columns = db
            .query_all(Statement::from_string(
                DbBackend::Sqlite,
                format!("SELECT name FROM pragma_table_info('{table}')"),
            ))
            .await
            .unwrap();
        for column in columns {
            let column: String = column.try_get("", "name").unwrap();
            for needle in needles {
                let found = db
                    .query_one(Statement::from_sql_and_values(
                        DbBackend::Sqlite,
                        format!(
                            "SELECT count(*) AS n FROM \"{table}\" \
                             WHERE instr(lower(CAST(\"{column}\" AS TEXT)), lower($1)) > 0"
                        ),
                        [(*needle).into()],
                    ))
                    .await
                    .unwrap()
                    .and_then(|r| r.try_get::<i64>("", "n").ok())
                    .unwrap_or(0);
                if found > 0 {
                    hits.push(format!("{table}.{column} ({found} rows hold {needle:?})"));
                }
            }
        }
    }
    db.close().await.ok();
    hits
}
