//! The `sandbox` binary on port 0: it reports the ports both simulators got in its ready file
//! (`FERRY_READY_FILE`), and they are its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry_test_support::ready::{self, listener};

/// Kills the sandbox however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn both_listeners_on_port_0_are_reported_with_the_ports_they_got() {
    let dir = ferry_test_support::unique_dir("ferry-sandbox-ready");
    let path = dir.join("ready.json");
    let mut sandbox = Running(
        Command::new(env!("CARGO_BIN_EXE_sandbox"))
            .args(["--mailchimp-listen", "127.0.0.1:0"])
            .args(["--mpluskassa-listen", "127.0.0.1:0"])
            .arg("--empty")
            .env(ready::ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the sandbox binary starts"),
    );
    let pid = sandbox.0.id();
    let reported = ready::ReadyWait::new(&path, pid, Duration::from_secs(30), || {
        match sandbox.0.try_wait() {
            Ok(None) => Ok(()),
            other => Err(format!("the sandbox ended: {other:?}")),
        }
    })
    .wait()
    .await
    .unwrap();
    assert_eq!(reported.pid, pid);
    let mailchimp = reported.addr(listener::SANDBOX_MAILCHIMP).unwrap();
    let mpluskassa = reported.addr(listener::SANDBOX_MPLUSKASSA).unwrap();
    assert_ne!(mailchimp.port(), 0);
    assert_ne!(mpluskassa.port(), 0);
    assert_ne!(mailchimp, mpluskassa);
    // The very process that reported them listens there ...
    let ports = ready::listening_ports(pid).unwrap();
    assert!(
        ports.contains(&mailchimp.port()) && ports.contains(&mpluskassa.port()),
        "{mailchimp} and {mpluskassa} not among {ports:?}"
    );
    // ... and serves each simulator at its own.
    let http = reqwest::Client::new();
    let state = |addr: std::net::SocketAddr| {
        let http = http.clone();
        async move {
            http.get(format!("http://{addr}/_sandbox/state"))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let mc = state(mailchimp).await;
    assert!(mc.get("connections").is_some(), "MailChimp's state: {mc}");
    let mk = state(mpluskassa).await;
    assert!(mk.get("relations").is_some(), "MplusKASSA's state: {mk}");
    let wsdl = http
        .get(format!("http://{mpluskassa}/?wsdl"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(wsdl.contains("MplusQapi"), "{wsdl}");
    drop(sandbox);
    let _ = std::fs::remove_dir_all(dir);
}
