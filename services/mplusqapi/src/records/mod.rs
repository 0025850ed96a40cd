//! The WSDL's complex types that Ferry and the sandbox exchange, field order = the WSDL's
//! sequence order. Elements the WSDL marks optional are `Option`s; so are a few it requires
//! but a reader must not trust (a missing `articleNumber` is the caller's error to report).
//! Lists keep the WSDL's wrapper elements (`contactList` holds `relation`s).

mod invoice;
mod order;
mod product;
mod reference;
mod relation;

pub use invoice::*;
pub use order::*;
pub use product::*;
pub use reference::*;
pub use relation::*;
