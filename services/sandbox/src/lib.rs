//! Faithful, stateful simulators of the two external APIs Ferry talks to, for tests and the
//! embedded default: the MailChimp Marketing API v3 (`mailchimp`) and MplusKASSA's SOAP API
//! MplusQAPI (`mpluskassa`), with deterministic fault injection (`faults`), a shared seed shop
//! (`seed`) and control endpoints for tests (`control`).
//!
//! [`Sandbox::start`] serves both on their own listeners (port 0 allowed) in the current
//! tokio runtime and returns a [`SandboxHandle`] with the URLs and the state handles.

pub mod control;
pub mod faults;
pub mod mailchimp;
pub mod mpluskassa;
pub mod seed;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer};

use control::Control;
use faults::{Faults, System};
use mailchimp::{Mailchimp, MailchimpConfig};
use seed::Seed;

/// Default MplusKASSA credentials (`?ident=...&secret=...`).
pub const DEFAULT_MPLUSKASSA_IDENT: &str = "ferry-sandbox";
pub const DEFAULT_MPLUSKASSA_SECRET: &str = "sandbox-secret";

/// How long an idle keep-alive connection stays open: like the real services' front ends
/// (nginx's default is 75 s), not actix-web's 5 s, which races clients reusing a pooled
/// connection just as the server closes it.
const SERVER_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(75);

/// How long the server waits for a request's head: generous, so that a loaded test machine
/// does not turn a slow client into a `408` (timeouts are injected on purpose with faults).
const CLIENT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What to start.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub mailchimp_listen: SocketAddr,
    pub mpluskassa_listen: SocketAddr,
    pub mailchimp: MailchimpConfig,
    pub mpluskassa_ident: String,
    pub mpluskassa_secret: String,
    /// The seed both simulators load (and `reset` returns to).
    pub seed: Seed,
    /// Start empty (the seed stays the target of `reset`).
    pub empty: bool,
    /// Worker threads per listener.
    pub workers: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        SandboxConfig {
            mailchimp_listen: local,
            mpluskassa_listen: local,
            mailchimp: MailchimpConfig::default(),
            mpluskassa_ident: DEFAULT_MPLUSKASSA_IDENT.to_owned(),
            mpluskassa_secret: DEFAULT_MPLUSKASSA_SECRET.to_owned(),
            seed: Seed::default_shop(),
            empty: false,
            workers: 2,
        }
    }
}

/// A running sandbox.
pub struct SandboxHandle {
    /// `http://127.0.0.1:PORT/3.0`: the MailChimp API base URL.
    pub mailchimp_url: String,
    /// `http://127.0.0.1:PORT`: the MailChimp listener (control endpoints under `/_sandbox`).
    pub mailchimp_base: String,
    /// `http://127.0.0.1:PORT/`: the MplusKASSA SOAP endpoint (control under `/_sandbox`).
    pub mpluskassa_url: String,
    pub mailchimp_addr: SocketAddr,
    pub mpluskassa_addr: SocketAddr,
    pub control: Control,
    pub faults: Faults,
    pub mailchimp: Mailchimp,
    servers: Vec<ServerHandle>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl SandboxHandle {
    /// Stops both servers (in-flight requests are dropped).
    pub async fn stop(self) {
        for s in &self.servers {
            s.stop(false).await;
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Waits until both servers stop (for the binary).
    pub async fn wait(self) -> std::io::Result<()> {
        for t in self.tasks {
            t.await.map_err(std::io::Error::other)??;
        }
        Ok(())
    }
}

/// Starts the sandbox.
pub struct Sandbox;

impl Sandbox {
    pub async fn start(config: SandboxConfig) -> std::io::Result<SandboxHandle> {
        let faults = Faults::new();
        let control = Control::new(Arc::new(config.seed.clone()), faults.clone());
        let initial = (!config.empty).then_some(&config.seed);

        let mailchimp = Mailchimp::new(config.mailchimp.clone(), initial, faults.clone());
        control.register(System::Mailchimp, Arc::new(mailchimp.clone()));
        let (mc_app_control, mc_app) = (control.clone(), mailchimp.clone());
        let mc_server = HttpServer::new(move || {
            let (c, m) = (mc_app_control.clone(), mc_app.clone());
            App::new()
                .wrap(from_fn(control::record_requests))
                .configure(|cfg| m.configure_control(cfg, c.clone()))
                .configure(|cfg| control::configure(cfg, c, System::Mailchimp))
                .configure(|cfg| m.configure(cfg))
        })
        .workers(config.workers)
        .keep_alive(SERVER_KEEP_ALIVE)
        .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(config.mailchimp_listen)?;
        let mailchimp_addr = mc_server.addrs()[0];
        let mailchimp_base = format!("http://{mailchimp_addr}");
        mailchimp.set_base_url(&mailchimp_base);
        let mc_server = mc_server.run();

        let mk_server = mpluskassa_server(&config, &control)?;
        let mpluskassa_addr = mk_server.0;
        let mk_server = mk_server.1;

        let servers = vec![mc_server.handle(), mk_server.handle()];
        let tasks = vec![tokio::spawn(mc_server), tokio::spawn(mk_server)];
        Ok(SandboxHandle {
            mailchimp_url: format!("{mailchimp_base}/3.0"),
            mailchimp_base,
            mpluskassa_url: format!("http://{mpluskassa_addr}/"),
            mailchimp_addr,
            mpluskassa_addr,
            control,
            faults,
            mailchimp,
            servers,
            tasks,
        })
    }
}

/// The MplusKASSA listener: the SOAP simulator with the control endpoints.
fn mpluskassa_server(
    config: &SandboxConfig,
    control: &Control,
) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    let settings = mpluskassa::MplusSettings {
        ident: config.mpluskassa_ident.clone(),
        secret: config.mpluskassa_secret.clone(),
        ..mpluskassa::MplusSettings::default()
    };
    let state = mpluskassa::MplusState::new(&config.seed, settings);
    if config.empty {
        control::SimState::reset(&state, None);
    }
    control.register(System::Mpluskassa, Arc::new(state.clone()));
    let c = control.clone();
    let server = HttpServer::new(move || mpluskassa::app(state.clone(), c.clone()))
        .workers(config.workers)
        .keep_alive(SERVER_KEEP_ALIVE)
        .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(config.mpluskassa_listen)?;
    let addr = server.addrs()[0];
    Ok((addr, server.run()))
}
