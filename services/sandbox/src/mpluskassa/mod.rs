//! A stateful simulator of MplusKASSA's SOAP API (MplusQAPI, SOAP 1.1 document/literal).
//!
//! - `POST /?ident=..&secret=..`: the SOAP endpoint. Wrong or missing credentials, malformed
//!   XML and unknown operations are SOAP faults (HTTP 500); business failures are `result`
//!   enums with an `errorMessage`, as in the real API. Dispatch is on the Body's element (the
//!   WSDL's `soapAction` is empty); a non-empty `SOAPAction` header must name the same
//!   operation.
//! - `GET /?wsdl`: the official WSDL with the service address rewritten to this listener.
//! - `/_sandbox/...`: the crate's control endpoints ([`crate::control`]).
//!
//! The installation lives in memory behind a lock ([`MplusState`]), is built from the shared
//! seed ([`crate::seed::Seed`] via [`MplusSeed`]) and can be reset through the control
//! endpoints. Fault rules ([`crate::faults`]) are matched per SOAP operation.
//!
//! Requests are read with the wire crate [`ferry_mplusqapi`]: its checked reader finds the
//! operation element (well-formed, no DTD, size and depth limits), and each handler
//! deserializes its typed request (a missing required element or a value of the wrong type is
//! a `Client` fault, as gSOAP's validation).
//!
//! Layout: [`soap`] (envelopes, faults), [`model`] (stored records), [`parse`] (wire records
//! to stored records), [`render`] (stored records to wire records), [`xml`] (the response
//! writer), [`store`] (state, markers, reservations), [`sales`] (till sales and delivered orders:
//! invoices and stock deductions; `POST /_sandbox/mpluskassa/sales`), `ops/` (one handler per operation),
//! [`seed`] (the starting installation).

pub mod model;
mod ops;
pub mod parse;
pub mod render;
pub mod sales;
pub mod seed;
pub mod soap;
pub mod store;
pub mod xml;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, web};
use bytes::Bytes;
use serde::Deserialize;

use crate::control::{self, Control, Listener, SimState};
use crate::faults::{Applied, Fault, Route, System, apply_generic, corrupt_body};
use crate::seed::Seed;

pub use ops::API_VERSION;
pub use seed::{MplusSeed, SUPER_USER};
pub use soap::SoapFault;
pub use store::Store;

/// The official WSDL (`specs/mpluskassa/mplusqapi.wsdl`), compiled in: the sandbox binary
/// serves it wherever it runs.
pub const OFFICIAL_WSDL: &str = include_str!("../../../../specs/mpluskassa/mplusqapi.wsdl");

/// Credentials and files of the simulated installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MplusSettings {
    /// Expected `ident` query parameter.
    pub ident: String,
    /// Expected `secret` query parameter.
    pub secret: String,
    /// Another WSDL to serve at `?wsdl` (read once, when the state is built); `None`: the
    /// official one compiled into the binary.
    pub wsdl_path: Option<PathBuf>,
}

impl Default for MplusSettings {
    fn default() -> Self {
        Self {
            ident: "ferry-sandbox".into(),
            secret: "sandbox-secret".into(),
            wsdl_path: None,
        }
    }
}

/// The simulated installation, shared by all workers of a listener. Clones share it.
#[derive(Clone)]
pub struct MplusState {
    store: Arc<Mutex<Store>>,
    settings: Arc<MplusSettings>,
    /// The WSDL text (BOM removed), or why it could not be read.
    wsdl: Arc<Result<String, String>>,
}

impl MplusState {
    /// The installation of the shared seed shop.
    pub fn new(seed: &Seed, settings: MplusSettings) -> Self {
        Self::from_mplus_seed(&MplusSeed::from(seed), settings)
    }

    /// An installation from an MplusKASSA-only seed (e.g. [`MplusSeed::demo`]).
    pub fn from_mplus_seed(seed: &MplusSeed, settings: MplusSettings) -> Self {
        let wsdl = match &settings.wsdl_path {
            None => Ok(OFFICIAL_WSDL.to_owned()),
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the WSDL at {}: {e}", path.display())),
        }
        .map(|s| s.trim_start_matches('\u{feff}').to_owned());
        if let Err(e) = &wsdl {
            tracing::warn!(error = %e, "mpluskassa sandbox serves no WSDL");
        }
        Self {
            store: Arc::new(Mutex::new(Store::from_seed(seed))),
            settings: Arc::new(settings),
            wsdl: Arc::new(wsdl),
        }
    }

    pub fn settings(&self) -> &MplusSettings {
        &self.settings
    }

    /// The store, locked (a poisoned lock still holds consistent records: every handler
    /// validates before it mutates).
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the installation.
    pub fn replace(&self, seed: &MplusSeed) {
        *self.lock() = Store::from_seed(seed);
    }

    /// Names of the operations the simulator implements.
    pub fn operations() -> Vec<&'static str> {
        ops::names().collect()
    }
}

impl SimState for MplusState {
    fn reset(&self, seed: Option<&Seed>) {
        let seed = match seed {
            Some(seed) => MplusSeed::from(seed),
            // "Empty" keeps the installation's reference data (branches, employees, ...).
            None => MplusSeed::from(&Seed::empty()),
        };
        self.replace(&seed);
    }

    fn dump(&self) -> serde_json::Value {
        serde_json::to_value(&*self.lock()).unwrap_or(serde_json::Value::Null)
    }
}

/// Mounts the simulator (`/`) and the control endpoints (`/_sandbox`) and registers the
/// state with the control so that reset and seed loading reach it.
pub fn configure(cfg: &mut web::ServiceConfig, state: MplusState, control: Control) {
    control.register(System::Mpluskassa, Arc::new(state.clone()));
    // Before the generic control scope, which would answer 404 for it.
    cfg.route(
        "/_sandbox/mpluskassa/sales",
        web::post().to(sales::post_sale),
    )
    .route(
        "/_sandbox/mpluskassa/refunds",
        web::post().to(sales::post_refund),
    );
    control::configure(cfg, control, System::Mpluskassa);
    cfg.app_data(web::Data::new(state)).service(
        web::resource("/")
            .route(web::post().to(soap_endpoint))
            .route(web::get().to(get_endpoint)),
    );
}

/// The whole app of an MplusKASSA listener: [`configure`] plus request logging.
pub fn app(
    state: MplusState,
    control: Control,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(actix_web::middleware::from_fn(control::record_requests))
        .configure(move |cfg| configure(cfg, state, control))
}

#[derive(Deserialize)]
struct Credentials {
    ident: Option<String>,
    secret: Option<String>,
}

fn xml_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        ))
        .insert_header((
            "mplus-service-version",
            format!("{}.{}.{}", API_VERSION.0, API_VERSION.1, API_VERSION.2),
        ))
        .body(body)
}

fn fault_response(status: StatusCode, fault: &SoapFault) -> HttpResponse {
    xml_response(status, fault.render())
}

/// `GET /?wsdl` serves the WSDL with `soap:address` pointing here; other GETs are refused.
async fn get_endpoint(req: HttpRequest, state: web::Data<MplusState>) -> HttpResponse {
    let wants_wsdl = req
        .query_string()
        .split('&')
        .any(|p| p.eq_ignore_ascii_case("wsdl"));
    if !wants_wsdl {
        return HttpResponse::MethodNotAllowed()
            .insert_header(("Allow", "POST"))
            .body("POST SOAP requests here; GET /?wsdl for the WSDL");
    }
    match &*state.wsdl {
        Ok(wsdl) => {
            let info = req.connection_info();
            let address = format!("{}://{}/", info.scheme(), info.host());
            xml_response(StatusCode::OK, rewrite_address(wsdl, &address))
        }
        Err(e) => HttpResponse::ServiceUnavailable().body(e.clone()),
    }
}

/// Replaces every `soap:address location` (any prefix) by `address`.
pub fn rewrite_address(wsdl: &str, address: &str) -> String {
    const MARK: &str = ":address location=\"";
    let mut out = String::with_capacity(wsdl.len());
    let mut rest = wsdl;
    while let Some(i) = rest.find(MARK) {
        let start = i + MARK.len();
        out.push_str(&rest[..start]);
        out.push_str(&quick_xml::escape::escape(address));
        rest = &rest[start..];
        match rest.find('"') {
            Some(end) => rest = &rest[end..],
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// Does a `SOAPAction` header name this operation? Empty (the WSDL's value) always does.
fn action_matches(header: &str, operation: &str) -> bool {
    let action = header.trim().trim_matches('"');
    action.is_empty()
        || action == operation
        || action
            .strip_suffix(operation)
            .is_some_and(|prefix| prefix.ends_with(['/', '#', ':']))
}

async fn soap_endpoint(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<MplusState>,
    listener: Option<web::Data<Listener>>,
) -> HttpResponse {
    let creds = web::Query::<Credentials>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or(Credentials {
            ident: None,
            secret: None,
        });
    let settings = state.settings();
    if creds.ident.as_deref() != Some(settings.ident.as_str())
        || creds.secret.as_deref() != Some(settings.secret.as_str())
    {
        return fault_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &SoapFault::client("Authentication failed: invalid or missing ident/secret"),
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return fault_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &SoapFault::client("the request is not valid UTF-8"),
        );
    };
    let op = match soap::operation(text) {
        Ok(op) => op,
        Err(fault) => return fault_response(StatusCode::INTERNAL_SERVER_ERROR, &fault),
    };
    if let Some(action) = req
        .headers()
        .get("SOAPAction")
        .and_then(|v| v.to_str().ok())
        && !action_matches(action, &op.name)
    {
        return fault_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &SoapFault::client(format!(
                "SOAPAction '{action}' does not match the operation '{}'",
                op.name
            )),
        );
    }

    let decided = listener.as_ref().and_then(|l| {
        l.control
            .faults
            .decide(System::Mpluskassa, &Route::soap(&op.name))
    });
    let corrupt = match apply_generic(decided.clone()).await {
        Applied::Proceed { corrupt } => corrupt,
        Applied::Respond(mut resp) => {
            if let Some(f) = &decided {
                control::mark_fault(&mut resp, f);
            }
            return resp;
        }
        Applied::Native(fault) => {
            let mut resp = native_fault(&fault);
            control::mark_fault(&mut resp, &fault);
            return resp;
        }
    };

    let outcome = {
        let mut store = state.lock();
        ops::run(&op.name, op.xml, &mut store)
    };
    let mut resp = match outcome {
        Some(Ok(body)) => xml_response(StatusCode::OK, soap::envelope(&body)),
        Some(Err(e)) => fault_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &SoapFault::client(e.to_string()),
        ),
        None if wsdl_declares(&state, &op.name) => fault_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &SoapFault::server(format!(
                "Operation '{}' is not simulated by the Ferry sandbox",
                op.name
            )),
        ),
        None => fault_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &SoapFault::client(format!(
                "Method 'ns:{}' not implemented: method name or namespace not recognized",
                op.name
            )),
        ),
    };
    if let (Some(mode), Some(fault)) = (corrupt, &decided) {
        let status = resp.status();
        let original = resp.into_body().try_into_bytes().unwrap_or_default();
        resp = HttpResponse::build(status)
            .insert_header((
                CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=utf-8"),
            ))
            .body(corrupt_body(&original, mode));
        control::mark_fault(&mut resp, fault);
    }
    resp
}

fn wsdl_declares(state: &MplusState, operation: &str) -> bool {
    state
        .wsdl
        .as_ref()
        .as_ref()
        .is_ok_and(|w| w.contains(&format!("<operation name=\"{operation}\">")))
}

/// MplusKASSA's rendering of the system-native faults: SOAP faults with an HTTP status.
fn native_fault(fault: &Fault) -> HttpResponse {
    match fault {
        Fault::SoapFault { code, message } => fault_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &SoapFault::new(code, message.clone()),
        ),
        Fault::ServerError { status } => fault_response(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &SoapFault::server("Internal server error"),
        ),
        _ => fault_response(
            StatusCode::TOO_MANY_REQUESTS,
            &SoapFault::server("Too many requests"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_the_address() {
        let wsdl = r#"<port><SOAP:address location="http://127.0.0.1:18083/" /></port>"#;
        assert_eq!(
            rewrite_address(wsdl, "http://127.0.0.1:9/"),
            r#"<port><SOAP:address location="http://127.0.0.1:9/" /></port>"#
        );
    }

    #[test]
    fn soap_actions() {
        assert!(action_matches("\"\"", "getProducts"));
        assert!(action_matches("getProducts", "getProducts"));
        assert!(action_matches(
            "\"urn:mplusqapi#getProducts\"",
            "getProducts"
        ));
        assert!(!action_matches("getOrders", "getProducts"));
        assert!(!action_matches("xgetProducts", "getProducts"));
    }
}
