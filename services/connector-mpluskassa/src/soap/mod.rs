//! MplusQAPI over SOAP 1.1 (document/literal, namespace `urn:mplusqapi`): the envelope and
//! fault handling ([`envelope`]), the XML reader and writer ([`xml`]), the records Ferry reads
//! ([`types`]) and the requests it writes ([`requests`]).
//!
//! Element names and their order come from the official WSDL (`specs/mpluskassa/`, a copy of `shared/specs`);
//! the requests are checked against the WSDL's schema by `tests/wsdl_requests.rs`.

pub mod envelope;
pub mod requests;
pub mod types;
pub mod xml;

pub use envelope::{Fault, ResponseError};
pub use xml::{Node, XmlError};
