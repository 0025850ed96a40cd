//! Crash points for the crash-recovery tests: the binary reads
//! [`CRASH_AT_ENV`] (only `main.rs` arms it; the library never reads the environment), and
//! when the engine reaches the named point it prints [`MARKER`] with the point's name on
//! stderr and stops making progress, so the test can `kill -9` the process exactly there.
//!
//! Points: `before_commit:<command>` and `after_commit:<command>` around the transaction
//! that sends `<command>` (`order.find`, `customer.upsert`,
//! `products.verify`, `order.create`), and `before_commit:completed` /
//! `after_commit:completed` around the transaction that records the created order.

use std::sync::OnceLock;
use std::time::Duration;

/// Environment variable naming the crash point (binary only).
pub const CRASH_AT_ENV: &str = "FERRY_ORCHESTRATOR_CRASH_AT";
/// Printed on stderr, followed by the point's name, when a crash point is reached.
pub const MARKER: &str = "FERRY-CRASH-POINT-REACHED";

static CRASH_AT: OnceLock<String> = OnceLock::new();

/// Arms the crash point `point` for this process (once; later calls are ignored).
pub fn arm(point: &str) {
    let _ = CRASH_AT.set(point.to_owned());
}

/// Every crash point, in the order a normal saga passes them.
pub fn all_points() -> Vec<String> {
    let mut points = Vec::new();
    for command in [
        "order.find",
        "customer.upsert",
        "products.verify",
        "order.create",
        "completed",
    ] {
        points.push(format!("before_commit:{command}"));
        points.push(format!("after_commit:{command}"));
    }
    points
}

/// Stops here for good when `point` is the armed crash point.
pub(crate) fn reached(point: &str) {
    if CRASH_AT.get().is_some_and(|armed| armed == point) {
        eprintln!("{MARKER} {point}");
        // Block this thread forever: the test kills the process now (SIGKILL).
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// Whether any crash point is armed.
pub(crate) fn armed() -> bool {
    CRASH_AT.get().is_some()
}
