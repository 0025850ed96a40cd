//! `ferry integration ...` against a running `ferry run` (both the real binary): create, list,
//! test, go-live, pause, resume, delete, with the token read from `ferry-data/admin-token`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferry_sandbox::seed::Seed;

const API_KEY: &str = ferry_sandbox::mailchimp::DEFAULT_API_KEY;
const SECRET: &str = ferry_sandbox::DEFAULT_MPLUSKASSA_SECRET;

struct Running {
    child: Child,
    admin: String,
    mailchimp: String,
    mpluskassa: String,
}

fn start(dir: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .current_dir(dir)
        .env("FERRY_ADMIN__LISTEN", "127.0.0.1:0")
        .env("FERRY_SANDBOX__MAILCHIMP_LISTEN", "127.0.0.1:0")
        .env("FERRY_SANDBOX__MPLUSKASSA_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env_remove("FERRY_CONFIG")
        .env_remove("FERRY_CREDENTIALS_KEY")
        .env_remove("FERRY_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut admin, mut mailchimp, mut mpluskassa) = (None, None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin.is_none() {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("ferry prints its addresses within a minute");
        if let Some(url) = line.strip_prefix("ferry admin listening on ") {
            admin = Some(url.to_owned());
        } else if let Some(url) = line.strip_prefix("sandbox mailchimp ") {
            mailchimp = Some(url.to_owned());
        } else if let Some(url) = line.strip_prefix("sandbox mpluskassa ") {
            mpluskassa = Some(url.to_owned());
        }
    }
    Running {
        child,
        admin: admin.unwrap(),
        mailchimp: mailchimp.expect("sandbox mailchimp line"),
        mpluskassa: mpluskassa.expect("sandbox mpluskassa line"),
    }
}

/// Runs `ferry integration <args>` in `dir`.
fn cli(dir: &Path, admin: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .current_dir(dir)
        .arg("integration")
        .args(args)
        .args(["--url", admin])
        .env_remove("FERRY_ADMIN_TOKEN")
        .env("FERRY_MAILCHIMP_API_KEY", API_KEY)
        .env("FERRY_MPLUSKASSA_SECRET", SECRET)
        .output()
        .unwrap()
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

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferry-integration-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn cli_manages_integrations_of_a_running_ferry() {
    let dir = temp_dir();
    let mut ferry = start(&dir);
    let seed = Seed::default_shop();

    let created = ok(
        cli(
            &dir,
            &ferry.admin,
            &[
                "create",
                "--name",
                "CLI shop",
                "--mailchimp-base-url",
                &ferry.mailchimp,
                "--list-id",
                &seed.shop.list_id,
                "--store-id",
                &seed.shop.store_id,
                "--mpluskassa-endpoint",
                &ferry.mpluskassa,
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

    let listed = ok(cli(&dir, &ferry.admin, &["list"]), "list");
    assert!(listed.contains(&id) && listed.contains("CLI shop") && listed.contains("draft"));

    let tested = ok(cli(&dir, &ferry.admin, &["test", &id]), "test");
    let tested: serde_json::Value = serde_json::from_str(&tested).unwrap();
    assert_eq!(tested["ok"], true, "{tested}");

    assert!(ok(cli(&dir, &ferry.admin, &["go-live", &id]), "go-live").contains("live"));
    assert!(ok(cli(&dir, &ferry.admin, &["pause", &id]), "pause").contains("paused"));
    // Pausing twice is refused with the API's reason.
    let again = cli(&dir, &ferry.admin, &["pause", &id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("409"));
    assert!(ok(cli(&dir, &ferry.admin, &["resume", &id]), "resume").contains("live"));
    ok(cli(&dir, &ferry.admin, &["delete", &id]), "delete");
    let listed = ok(cli(&dir, &ferry.admin, &["list"]), "list");
    assert!(!listed.contains(&id));

    // A wrong token is refused.
    let refused = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .current_dir(&dir)
        .args([
            "integration",
            "list",
            "--url",
            &ferry.admin,
            "--token",
            "nope-nope-nope",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());

    Command::new("kill")
        .args(["-TERM", &ferry.child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ferry.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "ferry did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut logs = String::new();
    ferry
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(!logs.contains(API_KEY), "the API key was logged");
    assert!(!logs.contains(SECRET), "the secret was logged");
    let _ = std::fs::remove_dir_all(&dir);
}
