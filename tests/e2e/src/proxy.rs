//! One entry point in front of a [`Cluster`]: nginx (Debian's `nginx-light`) configured from
//! the route table the services check their own routes against
//! (`ferry_platform::routes::ROUTES`, the table `k8s/base/routes.json`, the Ingress and the
//! HTTPRoute are generated from), as the Kubernetes Ingress does it: each prefix, matched on
//! whole path segments, to every instance of the service that owns it; anything else 404.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use ferry_platform::routes::ROUTES;

use crate::{Cluster, Process, ServiceKind, eventually};

/// How many ports nginx is given to find one nobody else took.
const ATTEMPTS: usize = 5;

/// What a start of nginx came to.
enum Outcome {
    /// It listens on its port.
    Listening,
    /// Another process had taken the port.
    PortTaken,
}

/// The nginx binary (Debian's package installs it here; `FERRY_E2E_NGINX` overrides).
fn nginx_binary() -> PathBuf {
    std::env::var_os("FERRY_E2E_NGINX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"))
}

/// nginx running in front of the cluster until dropped.
#[derive(Debug)]
pub struct ReverseProxy {
    /// `http://127.0.0.1:<port>`: the single address of the deployment.
    pub base: String,
    process: Process,
}

impl ReverseProxy {
    /// Writes `nginx.conf` into the cluster's log directory (with nginx's own logs and
    /// temporary files), starts nginx on a free port and waits until it serves the dashboard.
    ///
    /// nginx refuses port 0 ("invalid port"), so the port is picked beforehand and may be
    /// taken by another process before nginx binds it: nginx then exits with "Address already
    /// in use" and is started again on another port. Until nginx logged that its workers
    /// started (it binds before), nothing is asked at the port, which might be another
    /// process's.
    pub async fn start(cluster: &Cluster) -> anyhow::Result<Self> {
        let nginx = nginx_binary();
        if !nginx.exists() {
            bail!(
                "{} not found: install Debian's nginx (`apt-get install -y nginx-light`)",
                nginx.display()
            );
        }
        let dir = cluster.log_dir().join("nginx");
        std::fs::create_dir_all(dir.join("temp"))?;
        let mut attempt = 0;
        let (port, process) = loop {
            attempt += 1;
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let mut process = Self::spawn_nginx(cluster, &nginx, &dir, port)?;
            match started(&mut process).await? {
                Outcome::Listening => break (port, process),
                Outcome::PortTaken if attempt < ATTEMPTS => {
                    eprintln!("e2e: port {port} was taken before nginx bound it; another one");
                }
                Outcome::PortTaken => bail!("nginx found {ATTEMPTS} free ports taken in turn"),
            }
        };
        let base = format!("http://127.0.0.1:{port}");
        let http = cluster.http.clone();
        let dashboard = format!("{base}/dashboard/");
        eventually(
            "nginx serving the dashboard",
            Duration::from_secs(20),
            || {
                let http = http.clone();
                let dashboard = dashboard.clone();
                async move {
                    let status = http.get(&dashboard).send().await?.status();
                    if !status.is_success() {
                        bail!("{dashboard}: {status}");
                    }
                    Ok(())
                }
            },
        )
        .await?;
        Ok(Self { base, process })
    }

    /// Writes the configuration for `port`, checks it and starts nginx.
    fn spawn_nginx(
        cluster: &Cluster,
        nginx: &Path,
        dir: &Path,
        port: u16,
    ) -> anyhow::Result<Process> {
        let config = nginx_config(dir, port, |service| {
            ServiceKind::ALL
                .iter()
                .find(|kind| kind.name() == service)
                .map(|kind| cluster.admin_urls(*kind))
                .unwrap_or_default()
        })?;
        let path = dir.join("nginx.conf");
        std::fs::write(&path, &config)?;
        let args = vec![
            "-p".to_owned(),
            dir.display().to_string(),
            "-c".to_owned(),
            path.display().to_string(),
        ];
        let test = std::process::Command::new(nginx)
            .args(&args)
            .arg("-t")
            .output()
            .with_context(|| format!("cannot run {}", nginx.display()))?;
        if !test.status.success() {
            bail!(
                "nginx refuses the generated configuration {}: {}",
                path.display(),
                String::from_utf8_lossy(&test.stderr)
            );
        }
        let mut process = Process::new(
            "nginx",
            nginx.to_path_buf(),
            args,
            Vec::new(),
            cluster.log_dir().join("nginx.log"),
        );
        process.spawn()?;
        Ok(process)
    }

    /// The process (logs, liveness).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

/// Waits until nginx (logging `notice` to stderr) started its workers, which it does once its
/// listener is bound, or exited: because its port was taken, or for another reason (an error).
async fn started(process: &mut Process) -> anyhow::Result<Outcome> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = process.log_since_start();
        if log.contains("start worker process") {
            return Ok(Outcome::Listening);
        }
        if let Err(exited) = process.check_alive() {
            if process.log_since_start().contains("Address already in use") {
                return Ok(Outcome::PortTaken);
            }
            return Err(exited);
        }
        if std::time::Instant::now() >= deadline {
            bail!("nginx did not start within 20 s:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for ReverseProxy {
    fn drop(&mut self) {
        self.process.kill();
    }
}

/// The nginx configuration: one `upstream` per service of the route table (its instances
/// from `upstreams`), and for each route an exact location plus a `^~ prefix/` location (the
/// Ingress `Prefix` match: whole segments). Workers, pid file, logs and temporary files under
/// `dir`, in the foreground.
pub fn nginx_config(
    dir: &Path,
    port: u16,
    upstreams: impl Fn(&str) -> Vec<String>,
) -> anyhow::Result<String> {
    let mut services: Vec<&str> = ROUTES.iter().map(|route| route.service).collect();
    services.sort_unstable();
    services.dedup();
    let dir = dir.display();
    let mut config = String::new();
    // As root, nginx would run its workers as `nobody`, who cannot write under target/.
    if running_as_root() {
        config.push_str("user root root;\n");
    }
    let _ = writeln!(
        config,
        "daemon off;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log stderr notice;\n\
         events {{ worker_connections 512; }}\nhttp {{\n  access_log {dir}/access.log;\n  \
         client_body_temp_path {dir}/temp/body;\n  proxy_temp_path {dir}/temp/proxy;\n  \
         proxy_http_version 1.1;\n  proxy_set_header Connection \"\";\n  \
         proxy_set_header Host $host;\n  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n  \
         proxy_set_header X-Forwarded-Proto $scheme;\n  proxy_read_timeout 60s;"
    );
    for service in &services {
        let servers = upstreams(service);
        if servers.is_empty() {
            bail!("the route table routes to {service}, which the cluster does not run");
        }
        let _ = writeln!(config, "  upstream {} {{", upstream(service));
        for server in servers {
            let address = server.trim_start_matches("http://");
            let _ = writeln!(config, "    server {address};");
        }
        config.push_str("    keepalive 8;\n  }\n");
    }
    let _ = writeln!(config, "  server {{\n    listen 127.0.0.1:{port};");
    for route in ROUTES {
        let target = upstream(route.service);
        let _ = writeln!(
            config,
            "    location = {prefix} {{ proxy_pass http://{target}; }}\n    \
             location ^~ {prefix}/ {{ proxy_pass http://{target}; }}",
            prefix = route.prefix
        );
    }
    config.push_str("    location / { return 404; }\n  }\n}\n");
    Ok(config)
}

fn upstream(service: &str) -> String {
    format!("ferry_{}", service.replace('-', "_"))
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}
