//! Polling at scale: each integration's polling owned by one replica at a time, integrations
//! polled concurrently on adaptive schedules, ownership rebalanced as replicas come and go.
//!
//! | module | what |
//! | --- | --- |
//! | [`tables`] | `connector_replicas`, `connector_poll_leases`, `connector_slots`, `connector_slot_demand` and their migration [`CreatePollTables`]; `connector_poll_requests` ([`CreatePollRequests`]) |
//! | [`lease`] | [`PollLeases`]: heartbeats, take / renew / release, "poll now" requests; [`Fence`]: the check before a commit |
//! | [`memory`] | [`PollMemory`]: what the owner remembers of an integration between its polls (one lease generation) |
//! | [`schedule`] | [`PollScheduler`] running a connector's [`Poller`]; [`AdaptiveInterval`]; [`PollSettings`] |
//!
//! A connector implements [`Poller`] (which integrations, one poll of one; [`PollServed`]
//! answers the first from its served [`super::Integrations`]), registers
//! [`CreatePollTables`] among its migrations, spawns a [`PollScheduler`], and calls
//! [`check_current`] in the transaction that commits a page of changes.
//!
//! **Guarantees.** Never two pollers of one integration at once: a lease has one owner; a
//! replica stops a poll before releasing its lease, and stops every poll when it could not
//! renew for two thirds of a lease; and a commit checks the lease's generation (on PostgreSQL
//! holding the row until it commits, so a take-over waits). A replica killed with `kill -9`
//! stops renewing: its leases expire after at most one lease period and the others take them
//! at their next tick (a third of a lease), well within two lease periods. A graceful stop
//! releases at once. An operator's request (a full sync, a reconciliation:
//! [`PollScheduler::request`]) is served by the owner in place of a poll, under its fence,
//! whichever replica received it (through `connector_poll_requests`), so it never runs beside
//! the owner's polls either.
//!
//! **Defaults and budget** ([`PollSettings::default`]): lease 15 s (renewed every 5 s); 64
//! polls at once per replica; 1 s between polls of an integration that just changed, doubling
//! (1, 2, 4, 5 s) to 5 s when idle. A change therefore waits at most 5 s plus one poll to be
//! read, which leaves ~4 s of the 10 s p99 freshness goal for the pipeline behind it. An idle
//! integration costs one poll every ~5 s: MailChimp one list call per enabled resource and
//! page (members, customers, products, orders: 4 calls for a small store, ~0.8 calls/s per API
//! key, far below the 10 connections), MplusKASSA one `getSyncMarkers` plus a call per entity
//! whose marker moved. 1,000 idle integrations on 3 replicas make ~333 polls per replica per
//! 5 s; at 64 at once a poll may take up to ~1 s before idle polls start to slip. An idle
//! MailChimp poll costs ~5.6 ms across the machine since the owner remembers its
//! integrations ([`PollMemory`]; ~11 ms before: tests/PERFORMANCE.md sessions 22-23), so
//! 1,000 integrations polled every 5 s take ~1.1 cores; the permits are the tighter bound
//! there: polls that wait on their key's connection slots hold them, and the others slip.

pub mod lease;
pub mod memory;
pub mod schedule;
pub mod tables;

pub use lease::{Fence, Held, LEASE_LOST, PollLeases, check_current, current_fence, with_fence};
pub use memory::PollMemory;
pub use schedule::{AdaptiveInterval, PollError, PollScheduler, PollServed, PollSettings, Poller};
pub use tables::{CreatePollRequests, CreatePollTables};
