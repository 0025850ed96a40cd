//! Shared helpers of the MplusKASSA simulator tests: a simulator on 127.0.0.1:0, a SOAP
//! client over real HTTP (reqwest), and the WSDL schema checker.

#![allow(dead_code)]

pub mod xsd;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};

use ferry_sandbox::control::Control;
use ferry_sandbox::faults::Faults;
use ferry_sandbox::mpluskassa::{self, MplusSeed, MplusSettings, MplusState};
use ferry_sandbox::seed::Seed;

pub use xsd::{El, Schema};

pub const WSDL_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../specs/mpluskassa/mplusqapi.wsdl"
);

/// The schema, loaded once per test binary.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::load(WSDL_PATH).expect("the WSDL's schema loads"))
}

pub struct Sim {
    pub base: String,
    pub http: reqwest::Client,
    pub state: MplusState,
    pub control: Control,
    pub settings: MplusSettings,
    /// Operations called through [`Sim::call`] (schema-checked).
    pub checked: Mutex<BTreeSet<String>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

/// A simulator with the demo installation ([`MplusSeed::demo`]).
pub async fn spawn() -> Sim {
    let settings = MplusSettings::default();
    let state = MplusState::from_mplus_seed(&MplusSeed::demo(), settings.clone());
    spawn_with(state, settings).await
}

/// A simulator with the shared seed shop.
pub async fn spawn_shared_seed() -> Sim {
    let settings = MplusSettings::default();
    let state = MplusState::new(&Seed::default_shop(), settings.clone());
    spawn_with(state, settings).await
}

/// A simulator serving `state`.
pub async fn spawn_with(state: MplusState, settings: MplusSettings) -> Sim {
    let control = Control::new(Arc::new(Seed::default_shop()), Faults::new());
    let (s, c) = (state.clone(), control.clone());
    let server = actix_web::HttpServer::new(move || mpluskassa::app(s.clone(), c.clone()))
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bind 127.0.0.1:0");
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Sim {
        base: format!("http://{addr}/"),
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .expect("client"),
        state,
        control,
        settings,
        checked: Mutex::default(),
        handle,
    }
}

/// A SOAP 1.1 request with the operation element `<m:{op}>{inner}</m:{op}>`; `inner` uses the
/// `m:` prefix for `urn:mplusqapi`.
pub fn envelope(op: &str, inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="urn:mplusqapi"><soapenv:Header/><soapenv:Body><m:{op}>{inner}</m:{op}></soapenv:Body></soapenv:Envelope>"#
    )
}

pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The Body's element, parsed.
    pub fn element(&self) -> El {
        let env = xsd::parse(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body));
        env.get("Body")
            .and_then(|b| b.children.first())
            .cloned()
            .unwrap_or_else(|| panic!("no body element: {}", self.body))
    }

    pub fn fault(&self) -> Option<(String, String)> {
        let el = self.element();
        (el.name == "Fault").then(|| {
            (
                el.get("faultcode")
                    .map(|c| c.text.clone())
                    .unwrap_or_default(),
                el.get("faultstring")
                    .map(|c| c.text.clone())
                    .unwrap_or_default(),
            )
        })
    }
}

impl Sim {
    pub fn url(&self) -> String {
        format!(
            "{}?ident={}&secret={}",
            self.base, self.settings.ident, self.settings.secret
        )
    }

    pub async fn post_raw(&self, url: &str, body: String, action: Option<&str>) -> Reply {
        let mut req = self
            .http
            .post(url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(body);
        if let Some(a) = action {
            req = req.header("SOAPAction", a);
        }
        let resp = req.send().await.expect("request sent");
        Reply {
            status: resp.status().as_u16(),
            body: resp.text().await.expect("body"),
        }
    }

    /// Calls an operation without schema checks.
    pub async fn call_unchecked(&self, op: &str, inner: &str) -> Reply {
        self.post_raw(&self.url(), envelope(op, inner), Some(op))
            .await
    }

    /// Calls an operation; the request and the response must both be valid against the WSDL
    /// schema, and the response must be HTTP 200 with the operation's response element.
    pub async fn call(&self, op: &str, inner: &str) -> El {
        let schema = schema();
        let (input, output) = schema
            .operation(op)
            .unwrap_or_else(|| panic!("{op} is not in the WSDL"));
        let request = envelope(op, inner);
        let errors = schema.check_message(&request, input);
        assert!(
            errors.is_empty(),
            "request of {op} is invalid: {errors:#?}\n{request}"
        );
        let reply = self.post_raw(&self.url(), request, Some(op)).await;
        assert_eq!(reply.status, 200, "{op}: {}", reply.body);
        let errors = schema.check_message(&reply.body, output);
        assert!(
            errors.is_empty(),
            "response of {op} is invalid: {errors:#?}\n{}",
            reply.body
        );
        self.checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(op.to_owned());
        reply.element()
    }
}

/// `<m:name>value</m:name>`, the value escaped.
pub fn el(name: &str, value: impl std::fmt::Display) -> String {
    let value = value.to_string();
    format!(
        "<m:{name}>{}</m:{name}>",
        quick_xml::escape::escape(value.as_str())
    )
}

pub fn texts<'a>(el: &'a El, name: &'a str) -> Vec<&'a str> {
    el.all(name).map(|c| c.text.as_str()).collect()
}

pub fn num(el: &El, path: &str) -> i64 {
    el.text_at(path)
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no number at {path} in {el:#?}"))
}
