//! The response writer (the WSDL's element names with the `ns:` prefix) and why a request
//! could not be read.

use std::fmt::Write as _;

use quick_xml::escape::escape;

use super::model::{MplusDate, MplusDateTime};

/// Why a request could not be read: becomes a SOAP `Client` fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum XmlError {
    #[error("validation constraint violation: {0}")]
    Invalid(String),
}

/// Renders elements in the `urn:mplusqapi` namespace with the `ns:` prefix (the one the WSDL
/// declares), the way gSOAP-generated servers do.
#[derive(Debug, Default)]
pub struct XmlWriter {
    buf: String,
}

impl XmlWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn finish(self) -> String {
        self.buf
    }

    pub fn start(&mut self, name: &str) {
        let _ = write!(self.buf, "<ns:{name}>");
    }

    pub fn end(&mut self, name: &str) {
        let _ = write!(self.buf, "</ns:{name}>");
    }

    /// `<ns:name>` + body + `</ns:name>`.
    pub fn elem(&mut self, name: &str, body: impl FnOnce(&mut Self)) {
        self.start(name);
        body(self);
        self.end(name);
    }

    /// Appends already rendered XML (a replayed response).
    pub fn raw(&mut self, xml: &str) {
        self.buf.push_str(xml);
    }

    pub fn empty(&mut self, name: &str) {
        let _ = write!(self.buf, "<ns:{name}/>");
    }

    /// A simple-typed leaf; strings are escaped.
    pub fn leaf(&mut self, name: &str, value: impl std::fmt::Display) {
        let text = value.to_string();
        let _ = write!(self.buf, "<ns:{name}>{}</ns:{name}>", escape(text.as_str()));
    }

    pub fn opt<T: std::fmt::Display>(&mut self, name: &str, value: Option<T>) {
        if let Some(value) = value {
            self.leaf(name, value);
        }
    }

    /// Optional string leaf, left out when empty.
    pub fn opt_str(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.leaf(name, value);
        }
    }

    pub fn date(&mut self, name: &str, date: &MplusDate) {
        self.elem(name, |w| {
            w.leaf("day", date.day);
            w.leaf("mon", date.mon);
            w.leaf("year", date.year);
        });
    }

    pub fn datetime(&mut self, name: &str, ts: &MplusDateTime) {
        self.elem(name, |w| {
            w.leaf("sec", ts.sec);
            w.leaf("min", ts.min);
            w.leaf("hour", ts.hour);
            w.leaf("day", ts.day);
            w.leaf("mon", ts.mon);
            w.leaf("year", ts.year);
            w.leaf("isdst", ts.isdst);
            w.leaf("timezone", ts.timezone);
        });
    }
}
