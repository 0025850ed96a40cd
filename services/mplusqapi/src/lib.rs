//! MplusKASSA's SOAP API (MplusQAPI) on the wire, written once for the connector and the
//! sandbox: serde-derived requests, responses and records with the element names and the
//! namespace of the official WSDL (`specs/mpluskassa/mplusqapi.wsdl`), and the SOAP 1.1
//! envelope around them.
//!
//! | module | what |
//! | --- | --- |
//! | [`envelope`] | writing a request envelope, reading a response into its body element or a [`Fault`], the size and depth guard ([`Limits`]), list items and their raw JSON |
//! | [`ops`] | by area (reference data, relations, products, stock, orders): one request struct per operation ([`Operation`]: its name, response element and response type) |
//! | [`records`] | the WSDL's complex types Ferry reads and writes (`Relation`, `Product`, `Order`, ...) |
//! | [`date`] | `SoapMplusDate` / `SoapMplusDateTime` and their conversion to chrono |
//! | [`quantity`] | quantities (unscaled long + `decimalPlaces`) as exact decimals |
//!
//! Conventions: money is in cents (`xsd:long`, [`Cents`]); every element the WSDL marks
//! `minOccurs=0` is an `Option` (absent on output when `None`); reading accepts the elements of
//! a sequence in any order and ignores elements it does not know (the real API adds fields).
//! Field order in each struct is the WSDL's sequence order, which is the order they are written.

pub mod date;
pub mod envelope;
pub mod ops;
pub mod quantity;
pub mod records;

pub use date::{SoapMplusDate, SoapMplusDateTime};
pub use envelope::{Body, Fault, Item, Limits, ResponseError, WireError};
pub use ops::Operation;

/// Target namespace of MplusQAPI (`elementFormDefault="qualified"`).
pub const NS: &str = "urn:mplusqapi";
/// SOAP 1.1 envelope namespace.
pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// An amount of money in cents (the WSDL's `xsd:long` amounts).
pub type Cents = i64;
