//! A response beyond the client's limits (too deep, too large) is refused before it is read,
//! against a real loopback listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferry_connector_mpluskassa::client::{ClientSettings, Connection, MplusClient, MplusError};
use ferry_connector_mpluskassa::soap::Limits;
use ferry_platform::config::Secret;

/// Serves one HTTP answer with `body` on a loopback port.
async fn serve_once(body: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        if let Ok((mut socket, _)) = listener.accept().await {
            let mut request = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
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
    let err = client(serve_once(deep.clone()).await, settings)
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
        matches!(&err, MplusError::Malformed { message, .. } if message.contains("more than the 100 accepted")),
        "{err}"
    );
}
