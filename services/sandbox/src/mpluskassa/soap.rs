//! SOAP 1.1 framing: reading the envelope of a request, writing response and fault envelopes
//! the way the gSOAP-based MplusQAPI does (`SOAP-ENV` prefix, HTTP 500 for faults).

use ferry_mplusqapi::envelope::{self, Body};
use ferry_mplusqapi::{Limits, NS};

/// SOAP 1.2's envelope namespace: answered with a `VersionMismatch` fault.
const SOAP12_ENV: &str = "http://www.w3.org/2003/05/soap-envelope";

/// A SOAP fault: `faultcode` (`SOAP-ENV:Client`, `SOAP-ENV:Server`, ...) and `faultstring`.
#[derive(Debug, Clone, PartialEq)]
pub struct SoapFault {
    pub code: String,
    pub message: String,
}

impl SoapFault {
    pub fn client(message: impl Into<String>) -> Self {
        Self::new("SOAP-ENV:Client", message)
    }

    pub fn server(message: impl Into<String>) -> Self {
        Self::new("SOAP-ENV:Server", message)
    }

    /// A bare code (`Server`) gets the `SOAP-ENV:` prefix.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        let code = if code.contains(':') {
            code.to_owned()
        } else {
            format!("SOAP-ENV:{code}")
        };
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn render(&self) -> String {
        envelope::fault_response(&ferry_mplusqapi::Fault {
            code: self.code.clone(),
            message: self.message.clone(),
        })
    }
}

/// Wraps a rendered response element in an envelope (gSOAP style: `SOAP-ENV`, `ns`).
pub fn envelope(body: &str) -> String {
    envelope::wrap_response(body)
}

/// Reads a request envelope (checked as a whole by [`envelope::open_request`]: well-formed,
/// no DTD, within [`Limits`]) and returns its operation element: the Body's only child, in the
/// `urn:mplusqapi` namespace, any prefix.
pub fn operation(text: &str) -> Result<Body<'_>, SoapFault> {
    let op =
        envelope::open_request(text, &Limits::default()).map_err(|e| {
            match envelope::root_of(text) {
                Some((name, Some(ns))) if name == "Envelope" && ns == SOAP12_ENV => SoapFault::new(
                    "SOAP-ENV:VersionMismatch",
                    "SOAP 1.2 is not supported: use SOAP 1.1",
                ),
                _ => SoapFault::client(e.to_string()),
            }
        })?;
    if op.ns.as_deref() != Some(NS) {
        return Err(SoapFault::client(format!(
            "Method '{}' not implemented: method name or namespace not recognized",
            op.name
        )));
    }
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_operation() {
        let req = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body><getApiVersion xmlns="urn:mplusqapi"/></s:Body></s:Envelope>"#;
        assert_eq!(
            operation(req).map(|b| b.name),
            Ok("getApiVersion".to_owned())
        );
    }

    #[test]
    fn faults() {
        let wrong_ns = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><getApiVersion/></s:Body></s:Envelope>"#;
        assert_eq!(
            operation(wrong_ns).map_err(|f| f.code),
            Err("SOAP-ENV:Client".to_owned())
        );
        let soap12 = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>"#;
        assert_eq!(
            operation(soap12).map_err(|f| f.code),
            Err("SOAP-ENV:VersionMismatch".to_owned())
        );
        assert!(operation("<a>").is_err());
        let rendered = SoapFault::new("Server", "a < b").render();
        assert!(
            rendered.contains(
                "<faultcode>SOAP-ENV:Server</faultcode><faultstring>a &lt; b</faultstring>"
            )
        );
    }
}
