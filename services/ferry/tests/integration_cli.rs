//! `ferry integration ...` against a running `ferry run` (both the real binary): create, list,
//! test, go-live, pause, resume, delete, with the token read from `ferry-data/admin-token`.
//! `progress` is in `sync_progress.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{Ferry, temp_dir};

use ferry_sandbox::seed::Seed;

const API_KEY: &str = ferry_sandbox::mailchimp::DEFAULT_API_KEY;
const SECRET: &str = ferry_sandbox::DEFAULT_MPLUSKASSA_SECRET;

/// Runs `ferry integration <args>` in `dir`.
fn cli(dir: &Path, admin: &str, args: &[&str]) -> Output {
    support::integration_cli(
        dir,
        admin,
        args,
        &[
            ("FERRY_MAILCHIMP_API_KEY", API_KEY),
            ("FERRY_MPLUSKASSA_SECRET", SECRET),
        ],
    )
}

fn ok(output: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!stdout.contains(API_KEY) && !stdout.contains(SECRET));
    stdout
}

#[test]
fn cli_manages_integrations_of_a_running_ferry() {
    let dir = temp_dir();
    // The CLI's own registry: no demo integration beside it.
    let ferry = Ferry::start_with(&dir, &[("FERRY_SANDBOX__DEMO_INTEGRATION", "false")]);
    let admin = ferry.base.clone();
    let mailchimp = ferry
        .sandbox_mailchimp
        .clone()
        .expect("sandbox mailchimp line");
    let mpluskassa = ferry
        .sandbox_mpluskassa
        .clone()
        .expect("sandbox mpluskassa line");
    let seed = Seed::default_shop();

    let created = ok(
        cli(
            &dir,
            &admin,
            &[
                "create",
                "--name",
                "CLI shop",
                "--mailchimp-base-url",
                &mailchimp,
                "--list-id",
                &seed.shop.list_id,
                "--store-id",
                &seed.shop.store_id,
                "--mpluskassa-endpoint",
                &mpluskassa,
                "--mpluskassa-ident",
                ferry_sandbox::DEFAULT_MPLUSKASSA_IDENT,
            ],
        ),
        "create",
    );
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["state"], "draft");
    assert!(
        dir.join("ferry-data/credentials-key").exists(),
        "ferry run generated its credentials key"
    );

    let listed = ok(cli(&dir, &admin, &["list"]), "list");
    assert!(listed.contains(&id) && listed.contains("CLI shop") && listed.contains("draft"));

    let tested = ok(cli(&dir, &admin, &["test", &id]), "test");
    let tested: serde_json::Value = serde_json::from_str(&tested).unwrap();
    assert_eq!(tested["ok"], true, "{tested}");

    assert!(ok(cli(&dir, &admin, &["go-live", &id]), "go-live").contains("live"));
    assert!(ok(cli(&dir, &admin, &["pause", &id]), "pause").contains("paused"));
    // Pausing twice is refused with the API's reason.
    let again = cli(&dir, &admin, &["pause", &id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("409"));
    assert!(ok(cli(&dir, &admin, &["resume", &id]), "resume").contains("live"));
    ok(cli(&dir, &admin, &["delete", &id]), "delete");
    let listed = ok(cli(&dir, &admin, &["list"]), "list");
    assert!(!listed.contains(&id));

    // Secrets are no arguments (the process list shows arguments to every user).
    let as_argument = cli(
        &dir,
        &admin,
        &["create", "--name", "x", "--mailchimp-api-key", API_KEY],
    );
    assert!(!as_argument.status.success());
    assert!(
        String::from_utf8_lossy(&as_argument.stderr).contains("--mailchimp-api-key"),
        "{}",
        String::from_utf8_lossy(&as_argument.stderr)
    );

    // A wrong token is refused.
    let refused = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .current_dir(&dir)
        .args([
            "integration",
            "list",
            "--url",
            &admin,
            "--token",
            "nope-nope-nope",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());

    let (status, logs) = ferry.terminate();
    assert!(status.success(), "clean exit: {status:?}");
    assert!(!logs.contains(API_KEY), "the API key was logged");
    assert!(!logs.contains(SECRET), "the secret was logged");
    let _ = std::fs::remove_dir_all(&dir);
}
