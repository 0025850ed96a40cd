//! The ingest pipeline, written once: read a page of changes behind a cursor, convert each
//! record to the canonical model or park it, publish through the outbox, advance the cursor
//! and record progress, the page in one fenced transaction.
//!
//! | module | what |
//! | --- | --- |
//! | [`backlog`] | [`Backlog`]: a bulk page (backfill, reconciliation) waits while the pipeline's queues hold `max` messages, so live changes are not queued behind a backfill |
//! | [`batch`] | [`Batch`]: what a page decided (events, parked records, skips, cross-references, the position reached), built record by record by the connector's conversion |
//! | [`park`] | [`Parked`]: a record that cannot be converted, as a dead letter of the connector's queue (its reason in the headers, the raw record, bounded, in the body) |
//! | [`offsets`] | [`offsets::pages`]: the pages of a counted collection read by offset, fetched concurrently and yielded in order, the newest first where the API keeps creation order |
//! | [`page`] | [`Pipeline`]: the commit of one page: parked records sent (broker-confirmed), then events, cross-references and the connector's cursor in one transaction checked against the poll lease ([`crate::connector::poll::check_current`]) |
//! | [`source`] | [`Source`]: the connector's side (list the changes after a position, convert a page), [`Checkpoint`]: where a run keeps its cursor, and [`drain`], the loop over pages until the source has nothing newer |
//!
//! **Guarantees.** A page's events are in the outbox in the transaction that moves the cursor
//! past them: a crash before the commit reads the page again, after it the relay publishes
//! what is left. A parked record is confirmed by the broker before the cursor moves past it,
//! so nothing is skipped silently: it reaches the parking lot with the reason, and the
//! activity log shows it. A replica that lost the integration's poll lease commits nothing.

pub mod backlog;
pub mod batch;
pub mod offsets;
pub mod page;
pub mod park;
pub mod source;

pub use backlog::Backlog;
pub use batch::{Batch, EncodeError, Scope};
pub use page::{OpenPage, PageError, Pipeline};
pub use park::Parked;
pub use source::{Checkpoint, Drained, Listing, Source, drain};
