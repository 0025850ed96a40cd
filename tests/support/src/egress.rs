//! Probes of the egress guard for the connectors' connection tests (issue 19): local servers
//! answering a redirect to the metadata address, a 500 with internal texts, and plain HTTP
//! where TLS is expected; the destinations a connection test must refuse; and the check that
//! every case fails with its code, fast, and without echoing what the remote said.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Texts of the probe servers' answers and of internal errors that must never reach a
/// connection test's reply.
pub const LEAKS: [&str; 5] = [
    "INTERNAL-TEXT",
    "10.9.8.7",
    "meta-data/",
    "error sending",
    "hyper",
];

const INTERNAL_BODY: &str = "db at 10.9.8.7 password=INTERNAL-TEXT-x";

/// A server on loopback answering every request with `answer`, then closing; its port.
pub async fn answering(answer: String) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 8192];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    port
}

/// `host:port` of a URL, for `egress.allow`.
pub fn socket_of(url: &str) -> String {
    let url = reqwest::Url::parse(url).expect("URL");
    format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port_or_known_default().expect("port")
    )
}

/// This machine's host name, which resolves to an internal address (loopback on most
/// machines, the container's private address elsewhere): a name a guard checking only the
/// URL's text would let through.
pub async fn internal_host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("the host name")
        .trim()
        .to_owned();
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
        .await
        .expect("the host name resolves")
        .collect();
    assert!(
        !resolved.is_empty()
            && resolved.iter().all(|a| match a.ip() {
                std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
                std::net::IpAddr::V6(v6) =>
                    v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
            }),
        "{name} resolves to {resolved:?}"
    );
    name
}

/// The three probe servers.
pub struct Probes {
    /// Answers 302 to `http://169.254.169.254/latest/meta-data/`.
    pub redirect: u16,
    /// Answers 500 with a body full of internal texts.
    pub failing: u16,
    /// Answers plain HTTP (a TLS handshake with it fails).
    pub plain: u16,
}

impl Probes {
    /// Starts them.
    pub async fn start() -> Self {
        let close = "Connection: close\r\n";
        Self {
            redirect: answering(format!(
                "HTTP/1.1 302 Found\r\n{close}Location: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n"
            ))
            .await,
            failing: answering(format!(
                "HTTP/1.1 500 Internal Server Error\r\n{close}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{INTERNAL_BODY}",
                INTERNAL_BODY.len()
            ))
            .await,
            plain: answering(format!(
                "HTTP/1.1 200 OK\r\n{close}Content-Length: 0\r\n\r\n"
            ))
            .await,
        }
    }

    /// Their addresses, for `egress.allow`.
    pub fn allow(&self) -> Vec<String> {
        [self.redirect, self.failing, self.plain]
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect()
    }

    /// Each URL a connection test is given (`path` appended: `/3.0`, `/`) with the error code
    /// it must answer. `admin_port` is the connector's own admin server (loopback, not
    /// allowed), `sandbox_port` the allowed sandbox's port (reached by a name instead of the
    /// allowed address), `public_host` a public API host (refused over plain http).
    pub async fn cases(
        &self,
        admin_port: u16,
        sandbox_port: u16,
        path: &str,
        public_host: &str,
    ) -> Vec<(String, &'static str)> {
        let own_name = internal_host_name().await;
        let refused = "refused_destination";
        vec![
            (format!("https://169.254.169.254{path}"), refused),
            (format!("http://169.254.169.254{path}"), refused),
            (format!("https://10.20.30.40{path}"), refused),
            // Loopback, but not the allowed port: the connector's own admin server.
            (format!("http://127.0.0.1:{admin_port}{path}"), refused),
            // The same, spelled otherwise.
            (format!("https://0x7f000001:{admin_port}{path}"), refused),
            (
                format!("https://[::ffff:127.0.0.1]:{admin_port}{path}"),
                refused,
            ),
            (format!("https://localhost:{sandbox_port}{path}"), refused),
            // Resolved at connect time.
            (format!("https://{own_name}:{sandbox_port}{path}"), refused),
            // Credentials in clear to a public host.
            (format!("http://{public_host}{path}"), "insecure_scheme"),
            // Allowed, but the answer redirects to the metadata address: not followed.
            (
                format!("http://127.0.0.1:{}{path}", self.redirect),
                "http_3xx",
            ),
            (
                format!("http://127.0.0.1:{}{path}", self.failing),
                "http_5xx",
            ),
            (format!("https://127.0.0.1:{}{path}", self.plain), "tls"),
        ]
    }
}

/// Runs `test` (a connection test given a URL, answering its JSON reply) on every case: it
/// fails with the case's `error.code` within 5 s (refusals connect nowhere), and the reply
/// contains none of [`LEAKS`] nor `secret`.
pub async fn check_cases<F, Fut>(cases: Vec<(String, &'static str)>, secret: &str, test: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Value>,
{
    for (url, code) in cases {
        let started = Instant::now();
        let answer = test(url.clone()).await;
        assert_eq!(answer["ok"], false, "{url}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{url}: {answer}");
        let text = answer.to_string();
        for leak in LEAKS.iter().chain([&secret]) {
            assert!(!text.contains(leak), "{url}: {leak} in {answer}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{url}: {:?} (a connection was attempted)",
            started.elapsed()
        );
    }
}
