//! Waiting for what a started binary reports in its ready file (`ferry_ready_file`): the
//! address each of its listeners bound. A harness starts the binary with port 0 and
//! `FERRY_READY_FILE` pointing at a file of its own, then waits here: no free port is picked
//! and released beforehand, so no other process can take it in between.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use ferry_ready_file::{ENV, Ready, ReadyFileError, listener};

/// How often the file is looked at.
const POLL: Duration = Duration::from_millis(50);

/// Why no ready document came.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// The process is gone (the check's own text: its exit status, the end of its log).
    #[error("{0}")]
    Exited(String),
    /// The file is there but unreadable.
    #[error(transparent)]
    File(#[from] ReadyFileError),
    /// The process did not report within the time.
    #[error("no ready file {} from process {pid} within {timeout:?}", path.display())]
    TimedOut {
        /// The ready file.
        path: PathBuf,
        /// The child.
        pid: u32,
        /// How long it was given.
        timeout: Duration,
    },
}

/// A wait for the ready file of one process: [`blocking`](Self::blocking) or, in async code,
/// [`wait`](Self::wait) (pauses without blocking the runtime).
pub struct ReadyWait<'a, F> {
    path: &'a Path,
    pid: u32,
    timeout: Duration,
    started: Instant,
    alive: F,
}

impl<'a, F: FnMut() -> Result<(), String>> ReadyWait<'a, F> {
    /// Waits up to `timeout` until the process `pid` wrote its ready file at `path`; `alive`
    /// is asked between looks and ends the wait with its error once the process exited.
    pub fn new(path: &'a Path, pid: u32, timeout: Duration, alive: F) -> Self {
        Self {
            path,
            pid,
            timeout,
            started: Instant::now(),
            alive,
        }
    }

    /// Waits, blocking the thread.
    pub fn blocking(mut self) -> Result<Ready, NotReady> {
        loop {
            match self.look()? {
                Some(ready) => return Ok(ready),
                None => std::thread::sleep(POLL),
            }
        }
    }

    /// Waits without blocking the runtime.
    pub async fn wait(mut self) -> Result<Ready, NotReady> {
        loop {
            if let Some(ready) = self.look()? {
                return Ok(ready);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One look: the document, `None` to look again after a pause, or why to stop.
    fn look(&mut self) -> Result<Option<Ready>, NotReady> {
        if let Some(ready) = Ready::read_for(self.path, self.pid)? {
            return Ok(Some(ready));
        }
        (self.alive)().map_err(NotReady::Exited)?;
        if self.started.elapsed() >= self.timeout {
            return Err(NotReady::TimedOut {
                path: self.path.to_owned(),
                pid: self.pid,
                timeout: self.timeout,
            });
        }
        Ok(None)
    }
}

/// The TCP ports the process `pid` listens on (Linux: the socket inodes among its open files,
/// `/proc/<pid>/fd`, matched with the listening rows of its `/proc/<pid>/net/tcp` and `tcp6`):
/// for a test to check that a reported port is bound by the process that reported it.
pub fn listening_ports(pid: u32) -> std::io::Result<BTreeSet<u16>> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let mut sockets = BTreeSet::new();
    for entry in std::fs::read_dir(proc.join("fd"))? {
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue; // closed meanwhile
        };
        if let Some(inode) = target
            .to_str()
            .and_then(|t| t.strip_prefix("socket:["))
            .and_then(|t| t.strip_suffix(']'))
        {
            sockets.insert(inode.to_owned());
        }
    }
    let mut ports = BTreeSet::new();
    for table in ["net/tcp", "net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(proc.join(table)) else {
            continue; // no IPv6
        };
        for row in text.lines().skip(1) {
            let fields: Vec<&str> = row.split_whitespace().collect();
            // sl, local_address, rem_address, st (0A: LISTEN), ..., inode (the tenth)
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            if *state == "0A"
                && sockets.contains(*inode)
                && let Some(port) = local
                    .rsplit(':')
                    .next()
                    .and_then(|hex| u16::from_str_radix(hex, 16).ok())
            {
                ports.insert(port);
            }
        }
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_the_childs_document_and_stops_when_it_exits_or_the_time_is_up() {
        let dir = crate::unique_dir("ferry-ready-wait");
        let path = dir.join("ready.json");
        let me = std::process::id();
        // Another process's file is not the child's.
        Ready {
            pid: me.wrapping_add(1),
            listeners: Default::default(),
        }
        .write(&path)
        .unwrap();
        let timed_out = ReadyWait::new(&path, me, Duration::from_millis(200), || Ok(())).blocking();
        assert!(
            matches!(timed_out, Err(NotReady::TimedOut { .. })),
            "{timed_out:?}"
        );
        let exited = ReadyWait::new(&path, me, Duration::from_secs(5), || {
            Err("exited with 1".to_owned())
        })
        .blocking();
        assert_eq!(exited.unwrap_err().to_string(), "exited with 1");
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(150));
                Ready::of_this_process()
                    .listener(listener::ADMIN, "127.0.0.1:4242".parse().unwrap())
                    .write(&path)
                    .unwrap();
            })
        };
        let ready = ReadyWait::new(&path, me, Duration::from_secs(5), || Ok(()))
            .blocking()
            .unwrap();
        assert_eq!(ready.addr(listener::ADMIN).unwrap().port(), 4242);
        writer.join().unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_ports_a_process_listens_on_are_its_own() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connected = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let ours = listening_ports(std::process::id()).unwrap();
        assert!(ours.contains(&port), "{port} not in {ours:?}");
        // A connected socket is not a listener.
        let local = connected.local_addr().unwrap().port();
        assert!(!ours.contains(&local), "{local} in {ours:?}");
        drop(listener);
        let after = listening_ports(std::process::id()).unwrap();
        assert!(!after.contains(&port), "{port} still in {after:?}");
    }
}
