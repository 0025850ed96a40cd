//! MplusQAPI over SOAP 1.1 (document/literal, namespace `urn:mplusqapi`). The wire format
//! (envelope, fault, every request and response) is the shared crate [`ferry_mplusqapi`];
//! here are what Ferry makes of it: the records it reads ([`types`]), the requests it writes
//! ([`requests`]) and the raw element of a listed record ([`Element`]).
//!
//! The requests are checked against the WSDL's schema by `tests/wsdl_requests.rs`.

pub mod requests;
pub mod types;

pub use ferry_mplusqapi::{Fault, Limits, ResponseError, WireError};

/// A record's element as JSON (local names; leaves are their text, repeated names arrays):
/// the `raw` of an observed event, and where a record that could not be read is parked from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    json: serde_json::Value,
}

impl Element {
    /// The element of `xml`.
    pub fn parse(xml: &str) -> Self {
        Self {
            json: ferry_mplusqapi::envelope::raw_json(xml),
        }
    }

    /// An element from its JSON form.
    pub fn from_json(json: serde_json::Value) -> Self {
        Self { json }
    }

    /// The element as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        self.json.clone()
    }

    /// The text of child `name`, empty when absent.
    pub fn string(&self, name: &str) -> String {
        self.json
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// Child `name` as a number, when present.
    pub fn num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, WireError> {
        match self.string(name).as_str() {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| WireError::Content(format!("<{name}> is not a number: {v:?}"))),
        }
    }
}
