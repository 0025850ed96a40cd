//! The MplusQAPI client: [`transport`] (HTTP, credentials, timeouts, retries, faults and how
//! failures are classified) and [`operations`] (one method per operation Ferry uses, from a
//! request of [`crate::soap::requests`] to a record of [`crate::soap::types`]).

pub mod operations;
pub mod transport;

pub use operations::{Cancellation, Listed, OrderCreation};
pub use transport::{
    ClientError, ClientSettings, Connection, MplusClient, MplusError, Response, Retry,
    TransportKind,
};
