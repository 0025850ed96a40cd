//! The MplusQAPI client: [`transport`] (HTTP, credentials, timeouts, the response guard)
//! with [`connection`] (where an installation is, how a client behaves), [`retry`] (which
//! calls are sent again, after which backoff) and [`error`] (how failures are classified),
//! apart from [`operations`] (one method per operation Ferry uses, from a request of
//! [`crate::soap::requests`] to a record of [`crate::soap::types`]).

pub mod connection;
pub mod error;
pub mod operations;
pub mod retry;
pub mod transport;

pub use connection::{ClientSettings, Connection};
pub use error::{ClientError, MplusError, TransportKind};
pub use operations::{Cancellation, Listed, OrderCreation};
pub use retry::Retry;
pub use transport::{MplusClient, Response};
