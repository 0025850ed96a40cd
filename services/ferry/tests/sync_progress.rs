//! Sync progress where people read it, against the real `ferry run` with its demo
//! integration: `ferry integration progress` (once, `--json`, `--watch` until nothing is left
//! to wait for) and the dashboard's overview (a bar per resource, redrawn while a backfill
//! runs; in headless Chromium). A full sync of the MplusKASSA relations in pages of 10, each
//! `getRelations` held 700 ms by the sandbox, is followed by both at once. Screenshots under
//! `target/test-artifacts/ferry-sync-progress/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::webdriver::{Browser, artifact_dir};
use support::{Ferry, integration_cli, temp_dir};

const DEMO: &str = "0193a0c4-0000-7000-8000-00000000de70";

fn cli(dir: &Path, admin: &str, args: &[&str]) -> Output {
    integration_cli(dir, admin, args, &[])
}

fn stdout_of(output: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The percentage a `progress` line shows (-1 when none).
fn percent(line: &str) -> f64 {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .iter()
        .position(|w| *w == "%")
        .and_then(|i| words.get(i.wrapping_sub(1)))
        .and_then(|p| p.parse().ok())
        .unwrap_or(-1.0)
}

/// The relations line of each frame `progress` printed.
fn relations_lines(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| l.trim_start().starts_with("relations "))
        .collect()
}

/// Script lines finding the demo's row of the dashboard's sync progress (`tr`).
fn demo_row() -> String {
    format!(
        "const tr = [...document.querySelectorAll('#progress tr[data-integration]')]\
         .find((r) => r.dataset.integration === '{DEMO}');"
    )
}

/// Script lines finding the demo's relations bar (`b`: its state, value and text, or null).
fn relations_bar_js() -> String {
    format!(
        "{} const s = tr && tr.querySelector('td[data-system=\"mpluskassa\"] .sync[data-resource=\"relations\"]'); \
         const b = s ? {{ state: s.dataset.state, value: s.querySelector('progress').value, text: s.innerText }} : null;",
        demo_row()
    )
}

async fn relations_bar(browser: &Browser) -> Value {
    browser
        .run(&format!("{} return b;", relations_bar_js()), json!([]))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_dashboard_show_sync_progress() {
    let dir = temp_dir();
    // Small MplusKASSA pages, so a full sync of the relations takes several pages.
    let ferry = Ferry::start_with(
        &dir,
        &[("FERRY_CONNECTOR_MPLUSKASSA__SYNC__PAGE_SIZE", "10")],
    );
    let admin = ferry.base.clone();
    let sandbox = ferry.sandbox_mpluskassa.clone().expect("sandbox line");
    let token = ferry.token();
    let http = reqwest::Client::new();
    let shots = artifact_dir("ferry-sync-progress");

    // The demo's first syncs: --watch ends once every resource of both connectors synced.
    let watched = stdout_of(
        cli(
            &dir,
            &admin,
            &["progress", DEMO, "--watch", "--json", "--interval", "0.2"],
        ),
        "progress --watch --json",
    );
    let last: Value =
        serde_json::from_str(watched.lines().last().expect("a line per refresh")).unwrap();
    assert_eq!(last["settled"], true, "{last}");
    let systems: Vec<&str> = last["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["system"].as_str().unwrap())
        .collect();
    assert_eq!(systems, ["mailchimp", "mpluskassa"], "{last}");
    for c in last["connectors"].as_array().unwrap() {
        assert_eq!(c["polled"], true, "{c}");
        for r in c["resources"].as_array().unwrap() {
            assert_ne!(r["state"], "idle", "{r}");
        }
    }

    // The dashboard shows every resource of both connectors, nothing left to wait for.
    let browser = Browser::start().await;
    browser.goto(&format!("{admin}/dashboard/")).await;
    browser
        .wait_for(
            "the login form",
            "return !document.querySelector('#login').hidden",
        )
        .await;
    browser.type_into("#token", &token).await;
    browser.click("#login-button").await;
    let bars = browser
        .wait_for(
            "the demo's sync bars",
            &format!(
                "{} return tr && tr.dataset.settled === 'true' \
                 ? [...tr.querySelectorAll('.sync')].map((s) => s.dataset.resource) : null;",
                demo_row()
            ),
        )
        .await;
    for resource in [
        "members",
        "customers",
        "products",
        "orders",
        "relations",
        "stock",
    ] {
        assert!(
            bars.as_array().unwrap().iter().any(|r| r == resource),
            "{resource}: {bars}"
        );
    }
    browser.screenshot(&shots.join("01-synced.png")).await;

    // A full sync of the relations, each getRelations held 700 ms.
    http.post(format!("{}/_sandbox/faults", sandbox.trim_end_matches('/')))
        .json(&json!({"system": "mpluskassa", "operation": "getRelations",
            "fault": {"kind": "latency", "ms": 700}}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    http.post(format!(
        "{admin}/api/v1/mpluskassa/integrations/{DEMO}/sync"
    ))
    .bearer_auth(&token)
    .json(&json!({"full": true, "entities": ["relations"]}))
    .send()
    .await
    .unwrap()
    .error_for_status()
    .unwrap();
    let url = format!("{admin}/api/v1/mpluskassa/integrations/{DEMO}/progress");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = ferry_test_support::get_json(&http, &url, &token).await;
        let started = p["resources"].as_array().unwrap().iter().any(|r| {
            r["resource"] == "relations" && r["state"] == "running" && r["mode"] == "full"
        });
        if started {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the full sync never started: {p}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The CLI redraws its bars until the sync is done, while the dashboard shows it.
    let watching = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .current_dir(&dir)
        .args([
            "integration",
            "progress",
            DEMO,
            "--watch",
            "--interval",
            "0.2",
        ])
        .args(["--url", &admin])
        .env_remove("FERRY_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // To another view and back: the overview is drawn anew.
    browser.goto(&format!("{admin}/dashboard/#activity")).await;
    browser.goto(&format!("{admin}/dashboard/#overview")).await;
    let running = browser
        .wait_for(
            "the relations bar part of the way",
            &format!(
                "{} return b && b.state === 'running' && b.value > 0 && b.value < 100 ? b : null;",
                relations_bar_js()
            ),
        )
        .await;
    assert!(
        running["text"].as_str().unwrap().contains("backfill ·"),
        "{running}"
    );
    browser.screenshot(&shots.join("02-backfill.png")).await;
    // On a phone: the bars, without the page scrolling sideways.
    browser.viewport(Some(390)).await;
    browser
        .run(
            "document.querySelector('#progress').scrollIntoView()",
            json!([]),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    browser.screenshot(&shots.join("03-phone.png")).await;
    browser.assert_fits_phone("the overview with bars").await;
    // Redrawn by itself until done.
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let bar = relations_bar(&browser).await;
        if bar["state"] == "done" {
            break bar;
        }
        assert!(Instant::now() < deadline, "the bar never got done: {bar}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["value"].as_f64(), Some(100.0), "{done}");
    browser.screenshot(&shots.join("04-done.png")).await;
    browser.close().await;

    let watched = stdout_of(watching.wait_with_output().unwrap(), "progress --watch");
    assert!(watched.contains("MailChimp (polled)"), "{watched}");
    assert!(watched.contains("MplusKASSA (polled)"), "{watched}");
    let lines = relations_lines(&watched);
    let partway = lines.iter().find(|l| {
        let p = percent(l);
        l.contains("backfill: ") && l.contains(" records") && p > 0.0 && p < 100.0
    });
    assert!(partway.is_some(), "no bar part of the way: {watched}");
    let last = lines.last().unwrap();
    assert!(percent(last) == 100.0 && last.contains("done"), "{watched}");

    // Once: one frame; an integration no connector serves is an error.
    let once = stdout_of(cli(&dir, &admin, &["progress", DEMO]), "progress");
    assert_eq!(relations_lines(&once).len(), 1, "{once}");
    let unknown = cli(
        &dir,
        &admin,
        &["progress", "0193a0c4-0000-7000-8000-000000000000"],
    );
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no connector serves"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    let (status, _) = ferry.terminate();
    assert!(status.success(), "clean exit: {status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
