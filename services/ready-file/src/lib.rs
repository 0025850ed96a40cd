//! The ready file: how a Ferry binary tells the process that started it where it listens.
//!
//! Every Ferry binary (the five services, `ferry` and the `sandbox`) takes `--ready-file PATH`
//! (or `FERRY_READY_FILE=PATH`). Once every listener it serves is bound, it writes one JSON
//! document there: its process id and the address each listener actually bound, by name:
//!
//! ```json
//! {"pid":4242,"listeners":{"admin":"127.0.0.1:40123"}}
//! ```
//!
//! Configured with port 0, the operating system picks a free port while the listener binds,
//! and the parent reads it here: nothing picks a free port, releases it and hopes that no other
//! process takes it before the child binds it. The document is written to a temporary file
//! beside `PATH` and renamed over it, so a reader sees all of it or nothing. A file left by an
//! earlier run names another process id: a parent compares it with its child's
//! ([`Ready::read_for`]) or deletes the file before it starts the child.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The variable naming the ready file (the same as `--ready-file`).
pub const ENV: &str = "FERRY_READY_FILE";

/// The names of the listeners, the same in every binary that serves one.
pub mod listener {
    /// The admin HTTP server (`/healthz`, `/readyz`, `/metrics`, `/api/v1`): every service and
    /// `ferry`.
    pub const ADMIN: &str = "admin";
    /// The MailChimp simulator (its API under `/3.0`): the `sandbox`, and `ferry` with its
    /// sandboxes.
    pub const SANDBOX_MAILCHIMP: &str = "sandbox_mailchimp";
    /// The MplusKASSA simulator (SOAP at `/`): the `sandbox`, and `ferry` with its sandboxes.
    pub const SANDBOX_MPLUSKASSA: &str = "sandbox_mpluskassa";
}

/// `--ready-file PATH` / `FERRY_READY_FILE`, for a binary's command line (`#[command(flatten)]`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReadyFileArg {
    /// Once every listener is bound, write the address each one bound (with port 0: the port
    /// the system chose) and this process id to this file, as JSON
    /// (`{"pid":N,"listeners":{"admin":"127.0.0.1:40123"}}`), atomically.
    #[arg(long = "ready-file", env = ENV, value_name = "PATH", global = true)]
    pub ready_file: Option<PathBuf>,
}

impl ReadyFileArg {
    /// Writes `ready` when a ready file was asked for; nothing otherwise.
    pub fn write(&self, ready: &Ready) -> Result<(), ReadyFileError> {
        match &self.ready_file {
            Some(path) => ready.write(path),
            None => Ok(()),
        }
    }
}

/// What a ready file says: who wrote it and where each listener listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The process id of the writer.
    pub pid: u32,
    /// The address each listener bound, by name ([`listener`]).
    pub listeners: BTreeMap<String, SocketAddr>,
}

impl Ready {
    /// No listener yet, written by this process.
    pub fn of_this_process() -> Self {
        Self {
            pid: std::process::id(),
            listeners: BTreeMap::new(),
        }
    }

    /// Adds the listener `name`, bound to `addr` (the bound address, not the configured one).
    pub fn listener(mut self, name: &str, addr: SocketAddr) -> Self {
        self.listeners.insert(name.to_owned(), addr);
        self
    }

    /// The address of the listener `name`.
    pub fn addr(&self, name: &str) -> Result<SocketAddr, ReadyFileError> {
        self.listeners
            .get(name)
            .copied()
            .ok_or_else(|| ReadyFileError::NoSuchListener {
                name: name.to_owned(),
                pid: self.pid,
                known: self.listeners.keys().cloned().collect(),
            })
    }

    /// `http://<address>` of the listener `name`.
    pub fn http_url(&self, name: &str) -> Result<String, ReadyFileError> {
        Ok(format!("http://{}", self.addr(name)?))
    }

    /// Writes the document to `path` atomically: to a temporary file in the same directory,
    /// then renamed over `path`.
    pub fn write(&self, path: &Path) -> Result<(), ReadyFileError> {
        let write_error = |source| ReadyFileError::Write {
            path: path.to_owned(),
            source,
        };
        let mut name = path
            .file_name()
            .ok_or_else(|| write_error(std::io::Error::other("the path names no file")))?
            .to_owned();
        name.push(format!(".{}.tmp", self.pid));
        let temporary = path.with_file_name(name);
        let body = serde_json::to_vec(self).map_err(|e| write_error(std::io::Error::other(e)))?;
        std::fs::write(&temporary, body).map_err(write_error)?;
        std::fs::rename(&temporary, path).map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            write_error(e)
        })
    }

    /// The document at `path`; `None` while there is none.
    pub fn read(path: &Path) -> Result<Option<Self>, ReadyFileError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ReadyFileError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ReadyFileError::Invalid {
                path: path.to_owned(),
                source,
            })
    }

    /// The document at `path` if the process `pid` wrote it; `None` while there is none or
    /// while it is one another process left.
    pub fn read_for(path: &Path, pid: u32) -> Result<Option<Self>, ReadyFileError> {
        Ok(Self::read(path)?.filter(|ready| ready.pid == pid))
    }
}

/// A ready file that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReadyFileError {
    /// Writing (or renaming into place) failed.
    #[error("cannot write the ready file {}", path.display())]
    Write {
        /// The ready file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading failed (other than: there is none yet).
    #[error("cannot read the ready file {}", path.display())]
    Read {
        /// The ready file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no ready document.
    #[error("the ready file {} is not a ready document", path.display())]
    Invalid {
        /// The ready file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The process reported no listener of that name.
    #[error("process {pid} reported no listener {name:?} (only {known:?})")]
    NoSuchListener {
        /// The listener asked for.
        name: String,
        /// The writer.
        pid: u32,
        /// The listeners it reported.
        known: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ferry-ready-file-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_written_document_reads_back_whole_and_leaves_no_temporary_file() {
        let dir = dir();
        let path = dir.join("ready.json");
        assert_eq!(Ready::read(&path).unwrap(), None);
        let ready = Ready::of_this_process()
            .listener(listener::ADMIN, "127.0.0.1:40123".parse().unwrap())
            .listener(listener::SANDBOX_MAILCHIMP, "[::1]:40124".parse().unwrap());
        ready.write(&path).unwrap();
        let read = Ready::read(&path).unwrap().unwrap();
        assert_eq!(read, ready);
        assert_eq!(read.pid, std::process::id());
        assert_eq!(
            read.http_url(listener::ADMIN).unwrap(),
            "http://127.0.0.1:40123"
        );
        assert_eq!(
            read.addr(listener::SANDBOX_MAILCHIMP).unwrap(),
            "[::1]:40124".parse::<SocketAddr>().unwrap()
        );
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1, "only the ready file: {files:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(r#""admin":"127.0.0.1:40123""#),
            "addresses as strings: {text}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_of_another_process_is_not_taken_for_the_childs() {
        let dir = dir();
        let path = dir.join("ready.json");
        let stale = Ready {
            pid: std::process::id().wrapping_add(1),
            listeners: BTreeMap::from([(
                listener::ADMIN.to_owned(),
                "127.0.0.1:1".parse().unwrap(),
            )]),
        };
        stale.write(&path).unwrap();
        assert_eq!(Ready::read_for(&path, std::process::id()).unwrap(), None);
        assert_eq!(Ready::read_for(&path, stale.pid).unwrap(), Some(stale));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_rewrite_replaces_the_document_and_a_missing_listener_is_named() {
        let dir = dir();
        let path = dir.join("ready.json");
        Ready::of_this_process()
            .listener(listener::ADMIN, "127.0.0.1:1".parse().unwrap())
            .write(&path)
            .unwrap();
        Ready::of_this_process()
            .listener(listener::ADMIN, "127.0.0.1:2".parse().unwrap())
            .write(&path)
            .unwrap();
        let read = Ready::read(&path).unwrap().unwrap();
        assert_eq!(read.addr(listener::ADMIN).unwrap().port(), 2);
        let missing = read.addr(listener::SANDBOX_MPLUSKASSA).unwrap_err();
        assert!(
            missing.to_string().contains("sandbox_mpluskassa")
                && missing.to_string().contains("admin"),
            "{missing}"
        );
        std::fs::write(&path, "not json").unwrap();
        assert!(matches!(
            Ready::read(&path),
            Err(ReadyFileError::Invalid { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_argument_writes_only_when_given() {
        let dir = dir();
        let path = dir.join("ready.json");
        let ready = Ready::of_this_process();
        ReadyFileArg::default().write(&ready).unwrap();
        assert!(!path.exists());
        ReadyFileArg {
            ready_file: Some(path.clone()),
        }
        .write(&ready)
        .unwrap();
        assert_eq!(Ready::read(&path).unwrap(), Some(ready));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
