//! A private RabbitMQ node for tests that kill the broker (feature `test-util`): its own port,
//! distribution port, node name and data directory, so killing it does not disturb the tests
//! that share the machine's broker. Needs `rabbitmq-server` on the `PATH` (see `.ci/run`).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a node may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

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

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PrivateBroker {
    /// Starts a node and waits until it accepts connections.
    pub fn start() -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("ferry-rabbit-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        // The server script drops to the rabbitmq user when started as root.
        let _ = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&dir)
            .status();
        let broker = Self {
            node: format!(
                "ferrytest{}{}@localhost",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..6]
            ),
            port: free_port()?,
            dist_port: free_port()?,
            server: Mutex::new(None),
            dir,
        };
        broker.launch()?;
        Ok(broker)
    }

    /// The AMQP URL of the node.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The node's data directory (its log is `server.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts the node (again, after [`kill`](Self::kill), with the same data) and waits
    /// until it accepts connections.
    pub fn launch(&self) -> std::io::Result<()> {
        let log = std::fs::File::create(self.dir.join("server.log"))?;
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
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() >= deadline {
                return Err(std::io::Error::other(format!(
                    "private RabbitMQ node did not start; see {}",
                    self.dir.join("server.log").display()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
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
