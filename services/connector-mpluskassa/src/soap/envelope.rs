//! SOAP 1.1 framing: wrapping a request body, and reading a response into its body element
//! or a [`Fault`].

use super::xml::{self, ENVELOPE_END, NS, Node, SOAP_ENV, XmlError};

/// A SOAP fault as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `faultcode` (`SOAP-ENV:Client`, `SOAP-ENV:Server`, ...).
    pub code: String,
    /// `faultstring`.
    pub message: String,
}

impl Fault {
    /// A `Client*` fault: the request was refused (credentials, invalid content); sending it
    /// again does not help. Everything else (`Server*`) may pass later.
    pub fn is_client(&self) -> bool {
        let local = self.code.rsplit(':').next().unwrap_or(&self.code);
        local.starts_with("Client")
    }

    /// Whether the fault reports refused credentials.
    pub fn is_auth(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        self.is_client()
            && (m.contains("authenticat") || m.contains("ident") || m.contains("secret"))
    }
}

/// What a response turned out to be when it was not the expected body element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The server answered with a SOAP fault.
    #[error("SOAP fault {}: {}", .0.code, .0.message)]
    Fault(Fault),
    /// The body is not a readable SOAP envelope.
    #[error("{0}")]
    Malformed(XmlError),
    /// A well-formed envelope with another body element than expected.
    #[error("expected <{expected}> in the SOAP Body, found <{found}>")]
    Unexpected {
        /// The response element the WSDL names.
        expected: &'static str,
        /// What came.
        found: String,
    },
}

/// The complete request envelope around `body` (one operation element).
pub fn wrap(body: &str) -> String {
    let mut out = xml::envelope_start();
    out.reserve(body.len() + ENVELOPE_END.len());
    out.push_str(body);
    out.push_str(ENVELOPE_END);
    out
}

/// Reads a response: the body element named `expected` (in `urn:mplusqapi`), or the fault.
pub fn read(text: &str, expected: &'static str) -> Result<Node, ResponseError> {
    let root = xml::parse(text).map_err(ResponseError::Malformed)?;
    if !root.is(SOAP_ENV, "Envelope") {
        return Err(ResponseError::Malformed(XmlError::Content(format!(
            "the root element <{}> is not a SOAP 1.1 Envelope",
            root.name
        ))));
    }
    let body = root
        .children
        .into_iter()
        .find(|c| c.is(SOAP_ENV, "Body"))
        .ok_or_else(|| {
            ResponseError::Malformed(XmlError::Content("the Envelope has no Body".into()))
        })?;
    let element = body.children.into_iter().next().ok_or_else(|| {
        ResponseError::Malformed(XmlError::Content("the SOAP Body is empty".into()))
    })?;
    if element.is(SOAP_ENV, "Fault") {
        return Err(ResponseError::Fault(Fault {
            code: element.string("faultcode"),
            message: element.string("faultstring"),
        }));
    }
    if element.name != expected || element.ns.as_deref() != Some(NS) {
        return Err(ResponseError::Unexpected {
            expected,
            found: element.name,
        });
    }
    Ok(element)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="urn:mplusqapi"><SOAP-ENV:Body>"#;

    #[test]
    fn reads_bodies_and_faults() {
        let ok = format!(
            "{ENV}<ns:getApiVersionResponse><ns:majorNumber>67</ns:majorNumber></ns:getApiVersionResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"
        );
        let node = read(&ok, "getApiVersionResponse").expect("body");
        assert_eq!(node.num::<i32>("majorNumber"), Ok(Some(67)));
        assert!(matches!(
            read(&ok, "GetProductsResponse"),
            Err(ResponseError::Unexpected { .. })
        ));

        let fault = format!(
            "{ENV}<SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>Authentication failed: invalid or missing ident/secret</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
        );
        let Err(ResponseError::Fault(f)) = read(&fault, "getApiVersionResponse") else {
            panic!("expected a fault");
        };
        assert!(f.is_client() && f.is_auth());
        let server = Fault {
            code: "SOAP-ENV:Server".into(),
            message: "database unavailable".into(),
        };
        assert!(!server.is_client() && !server.is_auth());

        for broken in ["", "<html>502 Bad Gateway</html>", &ok[..ok.len() / 2]] {
            assert!(matches!(
                read(broken, "getApiVersionResponse"),
                Err(ResponseError::Malformed(_))
            ));
        }
    }

    #[test]
    fn wraps_requests() {
        let env = wrap("<m:getApiVersion/>");
        let root = xml::parse(&env).expect("well-formed");
        assert!(root.is(SOAP_ENV, "Envelope"));
        let body = root.child("Body").expect("body");
        assert!(body.children[0].is(NS, "getApiVersion"));
    }
}
