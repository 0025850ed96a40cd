//! A response beyond the client's limits (too deep, too large) is refused before it is read,
//! against a real loopback listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferry_connector_mpluskassa::client::{ClientSettings, Connection, MplusClient, MplusError};
use ferry_connector_mpluskassa::soap::Limits;
use ferry_platform::config::Secret;
use ferry_platform::egress::{EgressConfig, EgressGuard};

/// The test servers of this file listen on loopback over plain http.
fn loopback() -> EgressGuard {
    EgressGuard::new(&EgressConfig {
        allow: vec!["127.0.0.1/32".into()],
        sandbox: true,
    })
    .expect("allow-list")
}

/// Serves one HTTP answer with `body` on a loopback port.
async fn serve_once(body: String) -> String {
    let announced = body.len() as u64;
    serve(announced, body.into_bytes(), false).await
}

/// Serves one HTTP answer announcing `announced` bytes, sends `body`, then closes the
/// connection or (`hold`) keeps it open.
async fn serve(announced: u64, body: Vec<u8>, hold: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        if let Ok((mut socket, _)) = listener.accept().await {
            let mut request = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut request).await;
            let close = if hold { "" } else { "connection: close\r\n" };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {announced}\r\n{close}\r\n"
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
            if hold {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            }
        }
    });
    format!("http://{address}/")
}

#[tokio::test]
async fn a_response_beyond_the_limits_is_refused_unread() {
    let deep = format!(
        r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="urn:mplusqapi"><e:Body><m:getApiVersionResponse>{}{}</m:getApiVersionResponse></e:Body></e:Envelope>"#,
        "<m:x>".repeat(40),
        "</m:x>".repeat(40)
    );
    let settings = ClientSettings {
        max_attempts: 1,
        limits: Limits {
            max_bytes: 1024 * 1024,
            max_depth: 16,
        },
        egress: loopback(),
        ..ClientSettings::default()
    };
    let client = |endpoint: String, settings: ClientSettings| {
        let conn = Connection {
            endpoint,
            ident: "shop".into(),
            secret: Secret::new("hunter2"),
        };
        MplusClient::new(&conn, settings).expect("client")
    };
    let err = client(serve_once(deep.clone()).await, settings.clone())
        .api_version()
        .await
        .expect_err("too deep");
    assert!(
        matches!(&err, MplusError::Malformed { message, .. } if message.contains("deeper than 16")),
        "{err}"
    );
    let small = ClientSettings {
        limits: Limits {
            max_bytes: 100,
            max_depth: 64,
        },
        ..settings
    };
    let err = client(serve_once(deep).await, small)
        .api_version()
        .await
        .expect_err("too large");
    assert!(
        matches!(&err, MplusError::Malformed { message, .. } if message.contains("larger than the 100 bytes accepted")),
        "{err}"
    );
}

/// Issue 19, finding 4: a body announced beyond `limits.max_bytes` is refused at once, unread
/// (the client used to read it whole, waiting for and buffering all of it).
#[tokio::test]
async fn a_body_announced_beyond_the_limit_is_refused_without_reading_it() {
    let settings = ClientSettings {
        max_attempts: 1,
        timeout: std::time::Duration::from_secs(10),
        limits: Limits {
            max_bytes: 1024 * 1024,
            max_depth: 64,
        },
        egress: loopback(),
        ..ClientSettings::default()
    };
    let conn = Connection {
        endpoint: serve(10 * 1024 * 1024 * 1024, vec![b'<'; 1024], true).await,
        ident: "shop".into(),
        secret: Secret::new("hunter2"),
    };
    let started = std::time::Instant::now();
    let err = MplusClient::new(&conn, settings)
        .expect("client")
        .api_version()
        .await
        .expect_err("too large");
    assert!(
        matches!(&err, MplusError::Malformed { message, .. } if message.contains("larger than the 1048576 bytes accepted")),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "refused after {:?}",
        started.elapsed()
    );
}
