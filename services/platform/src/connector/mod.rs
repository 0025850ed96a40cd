//! The connector kit: the protocol every connector speaks, written once.
//!
//! A connector is its API client, its wire types and its conversion to and from the canonical
//! model; what it does with the bus and the database is here.
//!
//! | module | what |
//! | --- | --- |
//! | [`target`] | [`Target`]: the connector's side of each canonical command (upsert customer, create order, ...), returning one [`CommandError`] |
//! | [`executor`] | [`Executor`]: the bus handler around it: inbox, decode, integration lookup, per-record lease, classify, reply, cross-references, all committed in one transaction |
//! | [`error`] | [`CommandError`]: transient, permanent or rate-limited, with the reason |
//! | [`integrations`] | [`Integrations`]: the integrations a connector serves and which are live (paused, resumed from the registry); [`ConfigSource`]: those of its configuration |
//! | [`ingest`] | the ingest pipeline: a page of changes converted or parked ([`ingest::Batch`]), committed with the cursor through the outbox in one fenced transaction ([`ingest::Pipeline`]), page after page ([`ingest::Source`], [`ingest::drain`]) |
//! | [`store`] | the kit's tables `connector_xrefs` and `connector_leases` ([`Xrefs`], [`Leases`]) and their migration |
//! | [`cursors`] | the kit's tables `connector_cursors` (where reading each resource stands: a watermark or a marker) and `connector_runs` (each resource's running or last run) ([`Cursors`]) and their migration |
//! | [`poll`] | polling at scale: one owner per integration ([`poll::PollLeases`], fenced commits), concurrent adaptive polls ([`poll::PollScheduler`]), rebalancing across replicas |
//! | [`progress`] | [`progress::IntegrationProgress`]: the sync progress every connector serves (done, total, rate over a recent window, time left), computed once from the samples a connector keeps with its runs |
//! | [`tables`] | what every connector's tables share: created unless they exist, dropped by name, a row written whole ([`tables::replace`]) |
//! | [`slots`] | [`slots::ConnectionSlots`]: an API key's connection limit shared by every replica (slots leased in the database, a semaphore per key in process) |
//!
//! A connector's service registers [`store::CreateTables`] and [`cursors::CreateCursorTables`]
//! among its migrations, implements
//! [`Target`] and subscribes an [`Executor`] to its queue.

pub mod cursors;
pub mod error;
pub mod executor;
pub mod ingest;
pub mod integrations;
pub mod poll;
pub mod progress;
pub mod slots;
pub mod store;
pub mod tables;
pub mod target;

pub use cursors::Cursors;
pub use error::CommandError;
pub use executor::Executor;
pub use integrations::{ConfigSource, ConnectionSource, FromConfig, Integrations, Served};
pub use store::{Leases, Xref, Xrefs};
pub use target::{Command, Cx, Done, Executed, Lookup, Target};
