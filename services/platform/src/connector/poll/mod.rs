//! Polling at scale: each integration's polling owned by one replica at a time, integrations
//! polled concurrently on adaptive schedules, ownership rebalanced as replicas come and go.
//!
//! | module | what |
//! | --- | --- |
//! | [`tables`] | `connector_replicas`, `connector_poll_leases`, `connector_slots`, `connector_slot_demand` and their migration [`CreatePollTables`] |
//! | [`lease`] | [`PollLeases`]: heartbeats, take / renew / release, "poll now" requests; [`Fence`]: the check before a commit |
//! | [`schedule`] | [`PollScheduler`] running a connector's [`Poller`]; [`AdaptiveInterval`]; [`PollSettings`] |
//!
//! A connector implements [`Poller`] (which integrations, one poll of one), registers
//! [`CreatePollTables`] among its migrations, spawns a [`PollScheduler`], and calls
//! [`check_current`] in the transaction that commits a page of changes.
//!
//! **Guarantees.** Never two pollers of one integration at once: a lease has one owner; a
//! replica stops a poll before releasing its lease, and stops every poll when it could not
//! renew for two thirds of a lease; and a commit checks the lease's generation (on PostgreSQL
//! holding the row until it commits, so a take-over waits). A replica killed with `kill -9`
//! stops renewing: its leases expire after at most one lease period and the others take them
//! at their next tick (a third of a lease), well within two lease periods. A graceful stop
//! releases at once.
//!
//! **Defaults and budget** ([`PollSettings::default`]): lease 15 s; 32 polls at once per
//! replica; 1 s between polls of an integration that just changed, doubling to 5 s when idle.
//! An idle integration therefore costs one poll every ~5 s (MailChimp: one cheap projected
//! call per resource and page; MplusKASSA: one `getSyncMarkers` plus the entities that moved),
//! a change waits at most 5 s plus one poll to be read, and the freshness goal of p99 <= 10 s
//! keeps ~4 s for the pipeline behind it.

pub mod lease;
pub mod schedule;
pub mod tables;

pub use lease::{Fence, Held, LEASE_LOST, PollLeases, check_current, with_fence};
pub use schedule::{AdaptiveInterval, PollError, PollScheduler, PollSettings, Poller};
pub use tables::CreatePollTables;
