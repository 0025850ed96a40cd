//! A private RabbitMQ node for tests that kill the broker (feature `test-util`): its own port,
//! distribution port, node name and data directory, so killing it does not disturb the tests
//! that share the machine's broker. Needs `rabbitmq-server` on the `PATH` (see `.ci/run`).
//!
//! Ports: RabbitMQ cannot report a port it got from the system. Given port 0, its AMQP
//! listener binds one but says `[::]:0` (log and `rabbitmq-diagnostics listeners`), and the
//! distribution port refuses 0 (`invalid_dist_port_range`). So both ports are picked free
//! beforehand, and another process may take one before the node binds it. That is noticed,
//! not hoped away: the node then does not boot (`eaddrinuse`, `dist_port_already_used` in its
//! output), and [`PrivateBroker::start`] tries again with new ports. A node counts as started
//! only once it said so itself ("Starting broker... completed"), never because something
//! answered at its port (that might be another process).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a node may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How many pairs of ports a start tries before it gives up.
const ATTEMPTS: usize = 5;

/// What the node prints on stdout once it booted (its listeners bound).
const BOOTED: &str = "Starting broker... completed";

/// What it prints when its AMQP port is taken.
const AMQP_PORT_TAKEN: &str = "eaddrinuse";

/// What it prints when its distribution port is taken.
const DIST_PORT_TAKEN: &str = "dist_port_already_used";

/// A private RabbitMQ node; dropping it kills the node and removes its files (kept when the
/// test panicked, for inspection).
#[derive(Debug)]
pub struct PrivateBroker {
    dir: PathBuf,
    node: String,
    port: u16,
    dist_port: u16,
    /// The `rabbitmq-server` script; it exits when the node dies.
    server: Mutex<Option<Child>>,
}

/// A port free now; the node may still find it taken (see the module's documentation).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// How a boot ended, when the node did not fail otherwise.
enum Boot {
    /// The node runs and listens on its ports.
    Booted,
    /// Another process had one of its ports: which.
    PortTaken(String),
}

impl PrivateBroker {
    /// Starts a node and waits until it accepts connections, on new ports when another
    /// process took one of those picked.
    pub fn start() -> std::io::Result<Self> {
        Self::start_trying(free_port()?)
    }

    /// [`start`](Self::start), trying the AMQP port `port` first (for a test of the retry:
    /// a port another process holds).
    pub fn start_trying(port: u16) -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("ferry-rabbit-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        // The server script drops to the rabbitmq user when started as root.
        let _ = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&dir)
            .status();
        let mut broker = Self {
            node: format!(
                "ferrytest{}{}@localhost",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..6]
            ),
            port,
            dist_port: free_port()?,
            server: Mutex::new(None),
            dir,
        };
        let mut attempt = 1;
        loop {
            match broker.boot()? {
                Boot::Booted => return Ok(broker),
                Boot::PortTaken(why) if attempt < ATTEMPTS => {
                    eprintln!("private RabbitMQ node: a port was taken ({why}); new ports");
                    broker.port = free_port()?;
                    broker.dist_port = free_port()?;
                    attempt += 1;
                }
                Boot::PortTaken(why) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::AddrInUse,
                        format!("private RabbitMQ node: ports taken {ATTEMPTS} times ({why})"),
                    ));
                }
            }
        }
    }

    /// The node's AMQP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The AMQP URL of the node.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The node's data directory (its log is `server.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts the node (again, after [`kill`](Self::kill), with the same data and ports: its
    /// clients know its URL) and waits until it accepts connections. Fails when another
    /// process took one of its ports while it was down.
    pub fn launch(&self) -> std::io::Result<()> {
        match self.boot()? {
            Boot::Booted => Ok(()),
            Boot::PortTaken(why) => Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("private RabbitMQ node: a port was taken while it was down ({why})"),
            )),
        }
    }

    /// Starts the node on its ports and waits until it booted or exited.
    fn boot(&self) -> std::io::Result<Boot> {
        let output = self.dir.join("server.log");
        let log = std::fs::File::create(&output)?;
        let server = Command::new("rabbitmq-server")
            .current_dir(&self.dir)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("none"))
            .env("RABBITMQ_PID_FILE", self.dir.join("pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        if let Ok(mut slot) = self.server.lock() {
            *slot = Some(server);
        }
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let printed = std::fs::read_to_string(&output).unwrap_or_default();
            if printed.contains(BOOTED) {
                return Ok(Boot::Booted);
            }
            if self.server_exited() {
                // Read again: the last lines may have come after the look above.
                let printed = std::fs::read_to_string(&output).unwrap_or_default();
                std::fs::remove_file(self.dir.join("pid")).ok();
                if printed.contains(DIST_PORT_TAKEN) {
                    return Ok(Boot::PortTaken(format!(
                        "distribution port {} in use",
                        self.dist_port
                    )));
                }
                if printed.contains(AMQP_PORT_TAKEN) {
                    return Ok(Boot::PortTaken(format!("AMQP port {} in use", self.port)));
                }
                return Err(std::io::Error::other(format!(
                    "private RabbitMQ node did not start; see {}",
                    output.display()
                )));
            }
            if Instant::now() >= deadline {
                return Err(std::io::Error::other(format!(
                    "private RabbitMQ node did not start within {START_TIMEOUT:?}; see {}",
                    output.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether the `rabbitmq-server` script ended (it does when the node does); reaps it.
    fn server_exited(&self) -> bool {
        let Ok(mut slot) = self.server.lock() else {
            return false;
        };
        let ended = match slot.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => false,
            Some(Ok(Some(_)) | Err(_)) | None => true,
        };
        if ended {
            *slot = None;
        }
        ended
    }

    /// `kill -9` the node: no chance to flush anything it had not already made durable.
    pub fn kill(&self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pid")) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        std::fs::remove_file(self.dir.join("pid")).ok();
        if let Some(mut server) = self.server.lock().ok().and_then(|mut s| s.take()) {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("private broker's files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
