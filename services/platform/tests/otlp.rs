//! OTLP export end to end: `telemetry::init` with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a
//! local OTLP/HTTP receiver (a plain TCP listener on 127.0.0.1:0 answering `POST /v1/traces`)
//! sends the process's spans there when the guard is dropped, as protobuf, with the service
//! name, the span names and the trace id of the W3C `traceparent` the work continued.
//!
//! `telemetry::init` installs the process-global subscriber, so this file holds one test:
//! nextest runs every test in a process of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ferry_platform::config::TelemetryConfig;
use ferry_platform::telemetry;
use figment::Jail;

const SERVICE: &str = "ferry-otlp-test-service";
/// A remote parent (another service's span, as carried in AMQP headers).
const REMOTE_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const REMOTE_SPAN_ID: &str = "00f067aa0ba902b7";

/// One HTTP request as the receiver saw it.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// Reads one request from `reader`; `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();

    let mut content_length = None;
    let mut content_type = None;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => content_length = value.parse::<usize>().ok(),
            "content-type" => content_type = Some(value.to_owned()),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }

    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2]; // data + CRLF
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(content_length.unwrap_or(0), 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request {
        method,
        path,
        content_type,
        body,
    })
}

/// Serves every connection until the test process ends; each request is answered with an
/// empty `ExportTraceServiceResponse` (200, zero-length protobuf) and sent to `requests`.
fn spawn_receiver(requests: mpsc::Sender<Request>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let requests = requests.clone();
            thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                while let Some(request) = read_request(&mut reader) {
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                                   content-length: 0\r\n\r\n";
                    if writer.write_all(answer).is_err() || requests.send(request).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn spans_are_exported_over_otlp_http_protobuf() {
    let (tx, rx) = mpsc::channel();
    let port = spawn_receiver(tx);

    Jail::expect_with(|jail| {
        // Read by `telemetry::init` (and the exporter it builds) only; restored by the jail.
        jail.set_env(
            telemetry::OTLP_ENDPOINT_ENV,
            format!("http://127.0.0.1:{port}"),
        );
        jail.set_env("RUST_LOG", "info");
        let guard = telemetry::init(SERVICE, &TelemetryConfig::default());
        assert!(
            guard.exporting(),
            "OTLP export must be on with the endpoint set"
        );

        // A saga step continuing a remote trace, with an API call inside it.
        let step = tracing::info_span!("saga.step", step = "order.create");
        telemetry::set_parent(
            &step,
            Some(&format!("00-{REMOTE_TRACE_ID}-{REMOTE_SPAN_ID}-01")),
            None,
        );
        step.in_scope(|| {
            let call = tracing::info_span!("mpluskassa.api_call", operation = "createOrderV3");
            call.in_scope(|| tracing::info!("calling"));
            let (traceparent, _) = telemetry::inject_current();
            assert!(
                traceparent.unwrap().contains(REMOTE_TRACE_ID),
                "the step must continue the remote trace"
            );
        });
        drop(step);

        // Dropping the guard flushes the batch and shuts the exporter down.
        drop(guard);
        Ok(())
    });

    // Every export request until the spans showed up (or the deadline passed).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    let wanted: [&[u8]; 4] = [
        SERVICE.as_bytes(),
        b"saga.step",
        b"mpluskassa.api_call",
        &hex(REMOTE_TRACE_ID),
    ];
    let all_spans = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(request) = rx.recv_timeout(left) else {
            let seen: Vec<_> = seen
                .iter()
                .map(|r: &Request| (&r.path, r.body.len()))
                .collect();
            panic!("no export request carried the spans within 15 s; got (path, bytes) {seen:?}");
        };
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/v1/traces");
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/x-protobuf")
        );
        let body = request.body.clone();
        seen.push(request);
        if wanted.iter().all(|w| contains(&body, w)) {
            break body;
        }
    };

    // The resource attribute key, the remote parent's span id, and a span attribute.
    assert!(contains(&all_spans, b"service.name"));
    assert!(contains(&all_spans, &hex(REMOTE_SPAN_ID)));
    assert!(contains(&all_spans, b"createOrderV3"));
}
