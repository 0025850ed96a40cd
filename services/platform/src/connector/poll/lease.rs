//! Poll ownership in the database: heartbeats of the live replicas and one lease per
//! integration ([`PollLeases`]), and the fence a poll checks before it commits ([`Fence`]).
//!
//! A lease is taken when it is free or expired, renewed by its owner, and released (owner set
//! to the nil id, expired) when the owner gives it up. Every take raises the lease's
//! generation; a poll remembers the generation it started under and [`Fence::check`] refuses
//! its commit once the lease moved on. On PostgreSQL the check locks the lease row for share
//! until the poll's transaction ends, so a take-over waits for a commit in progress; SQLite
//! has a single writer, so the check and the commit are atomic there anyway.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_proto::{IntegrationId, System};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{DatabaseBackend, QuerySelect, Set};

use super::tables::{poll_lease, poll_request, replica};

/// The integrations of `ids` (a stored id that is not one is skipped).
fn integration_ids(ids: Vec<Uuid>) -> std::collections::HashSet<IntegrationId> {
    ids.into_iter()
        .filter_map(|id| IntegrationId::from_uuid(id).ok())
        .collect()
}

/// One lease this replica holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The integration.
    pub integration: IntegrationId,
    /// The generation the lease was taken with.
    pub generation: i64,
    /// A "poll now" request is pending.
    pub requested: bool,
}

/// The poll leases and heartbeats of one connector's replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollLeases {
    system: System,
    replica: Uuid,
    ttl: Duration,
}

fn after(ttl: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60))
}

impl PollLeases {
    /// The leases of `replica` of `system`, each lasting `ttl` unless renewed.
    pub const fn new(system: System, replica: Uuid, ttl: Duration) -> Self {
        Self {
            system,
            replica,
            ttl,
        }
    }

    /// This replica's id.
    pub fn replica(&self) -> Uuid {
        self.replica
    }

    /// How long a lease lasts unless renewed.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn sys(&self) -> String {
        self.system.as_str().to_owned()
    }

    fn of(&self, integration: IntegrationId) -> sea_orm::UpdateMany<poll_lease::Entity> {
        poll_lease::Entity::update_many()
            .filter(poll_lease::Column::System.eq(self.sys()))
            .filter(poll_lease::Column::IntegrationId.eq(integration.as_uuid()))
    }

    /// Says this replica is alive.
    pub async fn heartbeat<C: ConnectionTrait>(&self, db: &C) -> Result<(), DbErr> {
        let now = Utc::now();
        replica::Entity::insert(replica::ActiveModel {
            system: Set(self.sys()),
            replica_id: Set(self.replica),
            heartbeat_at: Set(now),
            started_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([replica::Column::System, replica::Column::ReplicaId])
                .update_column(replica::Column::HeartbeatAt)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        Ok(())
    }

    /// The replicas whose heartbeat is younger than a lease (this one included once it beat);
    /// forgets those silent for ten leases.
    pub async fn live_replicas<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<Uuid>, DbErr> {
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::seconds(60));
        let now = Utc::now();
        replica::Entity::delete_many()
            .filter(replica::Column::System.eq(self.sys()))
            .filter(replica::Column::HeartbeatAt.lt(now - ttl * 10))
            .exec(db)
            .await?;
        let mut live: Vec<Uuid> = replica::Entity::find()
            .filter(replica::Column::System.eq(self.sys()))
            .filter(replica::Column::HeartbeatAt.gt(now - ttl))
            .all(db)
            .await?
            .into_iter()
            .map(|r| r.replica_id)
            .collect();
        live.sort();
        Ok(live)
    }

    /// Leaves: releases every lease and removes the heartbeat (a graceful shutdown, so the
    /// other replicas take over at once instead of after a lease).
    pub async fn leave<C: ConnectionTrait>(&self, db: &C) -> Result<(), DbErr> {
        poll_lease::Entity::update_many()
            .col_expr(poll_lease::Column::Owner, Expr::value(Uuid::nil()))
            .col_expr(poll_lease::Column::ExpiresAt, Expr::value(Utc::now()))
            .filter(poll_lease::Column::System.eq(self.sys()))
            .filter(poll_lease::Column::Owner.eq(self.replica))
            .exec(db)
            .await?;
        replica::Entity::delete_many()
            .filter(replica::Column::System.eq(self.sys()))
            .filter(replica::Column::ReplicaId.eq(self.replica))
            .exec(db)
            .await?;
        Ok(())
    }

    /// Renews every lease this replica holds and answers them.
    pub async fn renew<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<Held>, DbErr> {
        poll_lease::Entity::update_many()
            .col_expr(poll_lease::Column::ExpiresAt, Expr::value(after(self.ttl)))
            .filter(poll_lease::Column::System.eq(self.sys()))
            .filter(poll_lease::Column::Owner.eq(self.replica))
            .exec(db)
            .await?;
        let rows = poll_lease::Entity::find()
            .filter(poll_lease::Column::System.eq(self.sys()))
            .filter(poll_lease::Column::Owner.eq(self.replica))
            .all(db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(Held {
                    integration: IntegrationId::from_uuid(r.integration_id).ok()?,
                    generation: r.generation,
                    requested: r.requested_at.is_some(),
                })
            })
            .collect())
    }

    /// Takes the lease of `integration` when it is free or expired; answers its generation.
    pub async fn try_take<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
    ) -> Result<Option<i64>, DbErr> {
        let expires = after(self.ttl);
        let inserted = poll_lease::Entity::insert(poll_lease::ActiveModel {
            system: Set(self.sys()),
            integration_id: Set(integration.as_uuid()),
            owner: Set(self.replica),
            generation: Set(1),
            expires_at: Set(expires),
            requested_at: Set(None),
        })
        .on_conflict(
            OnConflict::columns([
                poll_lease::Column::System,
                poll_lease::Column::IntegrationId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        if inserted == 1 {
            return Ok(Some(1));
        }
        // Held by someone: take it only when expired. On PostgreSQL a concurrent take waits
        // for this row lock and then finds the lease unexpired.
        let taken = self
            .of(integration)
            .col_expr(poll_lease::Column::Owner, Expr::value(self.replica))
            .col_expr(
                poll_lease::Column::Generation,
                Expr::col(poll_lease::Column::Generation).add(1),
            )
            .col_expr(poll_lease::Column::ExpiresAt, Expr::value(expires))
            .filter(poll_lease::Column::ExpiresAt.lt(Utc::now()))
            .exec(db)
            .await?;
        if taken.rows_affected != 1 {
            return Ok(None);
        }
        Ok(self
            .lease(db, integration)
            .await?
            .filter(|r| r.owner == self.replica)
            .map(|r| r.generation))
    }

    /// The integrations whose lease another replica holds now (unexpired): not worth a
    /// take. One statement, instead of a failed take (two) per such integration.
    pub async fn held_by_others<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<std::collections::HashSet<IntegrationId>, DbErr> {
        let rows: Vec<Uuid> = poll_lease::Entity::find()
            .select_only()
            .column(poll_lease::Column::IntegrationId)
            .filter(poll_lease::Column::System.eq(self.sys()))
            .filter(poll_lease::Column::Owner.ne(self.replica))
            .filter(poll_lease::Column::ExpiresAt.gte(Utc::now()))
            .into_tuple()
            .all(db)
            .await?;
        Ok(integration_ids(rows))
    }

    /// The lease row of `integration`.
    pub async fn lease<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
    ) -> Result<Option<poll_lease::Model>, DbErr> {
        poll_lease::Entity::find_by_id((self.sys(), integration.as_uuid()))
            .one(db)
            .await
    }

    /// Gives up the lease of `integration` taken with `generation` (a no-op when it moved on).
    pub async fn release<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        generation: i64,
    ) -> Result<(), DbErr> {
        self.of(integration)
            .col_expr(poll_lease::Column::Owner, Expr::value(Uuid::nil()))
            .col_expr(poll_lease::Column::ExpiresAt, Expr::value(Utc::now()))
            .filter(poll_lease::Column::Owner.eq(self.replica))
            .filter(poll_lease::Column::Generation.eq(generation))
            .exec(db)
            .await?;
        Ok(())
    }

    /// Asks the owner of `integration`, whichever replica it is, to poll it now.
    pub async fn request<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
    ) -> Result<(), DbErr> {
        self.of(integration)
            .col_expr(poll_lease::Column::RequestedAt, Expr::value(Utc::now()))
            .exec(db)
            .await?;
        Ok(())
    }

    /// Asks the owner of `integration`, whichever replica it is, to serve `request` (the
    /// connector's own JSON, e.g. a full sync of some resources) instead of its next poll.
    /// Each request is served once, by the replica owning the lease when it is read.
    pub async fn request_with<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        request: &str,
    ) -> Result<(), DbErr> {
        poll_request::Entity::insert(poll_request::ActiveModel {
            system: Set(self.sys()),
            id: Set(Uuid::now_v7()),
            integration_id: Set(integration.as_uuid()),
            request: Set(request.to_owned()),
            requested_at: Set(Utc::now()),
        })
        .exec_without_returning(db)
        .await?;
        self.request(db, integration).await
    }

    /// The integrations with requests waiting (for any owner).
    pub async fn with_requests<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<std::collections::HashSet<IntegrationId>, DbErr> {
        let rows: Vec<Uuid> = poll_request::Entity::find()
            .select_only()
            .column(poll_request::Column::IntegrationId)
            .distinct()
            .filter(poll_request::Column::System.eq(self.sys()))
            .into_tuple()
            .all(db)
            .await?;
        Ok(integration_ids(rows))
    }

    /// Takes the requests waiting for `integration` (oldest first): they are this replica's
    /// to serve, and gone from the table.
    pub async fn take_requests<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
    ) -> Result<Vec<String>, DbErr> {
        let rows = poll_request::Entity::find()
            .filter(poll_request::Column::System.eq(self.sys()))
            .filter(poll_request::Column::IntegrationId.eq(integration.as_uuid()))
            .all(db)
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        poll_request::Entity::delete_many()
            .filter(poll_request::Column::System.eq(self.sys()))
            .filter(poll_request::Column::Id.is_in(rows.iter().map(|r| r.id)))
            .exec(db)
            .await?;
        let mut rows = rows;
        rows.sort_by_key(|r| r.id);
        Ok(rows.into_iter().map(|r| r.request).collect())
    }

    /// Clears the "poll now" request of a lease this replica holds (it is being served).
    pub async fn clear_request<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
    ) -> Result<(), DbErr> {
        self.of(integration)
            .col_expr(
                poll_lease::Column::RequestedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(poll_lease::Column::Owner.eq(self.replica))
            .exec(db)
            .await?;
        Ok(())
    }

    /// Forgets the lease (and the waiting requests) of a deleted integration.
    pub async fn forget<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
    ) -> Result<(), DbErr> {
        poll_request::Entity::delete_many()
            .filter(poll_request::Column::System.eq(self.sys()))
            .filter(poll_request::Column::IntegrationId.eq(integration.as_uuid()))
            .exec(db)
            .await?;
        poll_lease::Entity::delete_many()
            .filter(poll_lease::Column::System.eq(self.sys()))
            .filter(poll_lease::Column::IntegrationId.eq(integration.as_uuid()))
            .exec(db)
            .await?;
        Ok(())
    }

    /// The fence of a poll of `integration` under `generation`.
    pub fn fence(&self, integration: IntegrationId, generation: i64) -> Fence {
        Fence {
            leases: *self,
            integration,
            generation,
        }
    }
}

/// What a poll checks before it commits: the lease it started under is still this replica's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    leases: PollLeases,
    integration: IntegrationId,
    generation: i64,
}

/// The error of a commit refused by its [`Fence`] (a [`DbErr::Custom`], so it rolls back the
/// transaction like any database failure).
pub const LEASE_LOST: &str = "the poll lease was lost to another replica; nothing committed";

impl Fence {
    /// The integration.
    pub fn integration(&self) -> IntegrationId {
        self.integration
    }

    /// The generation.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Succeeds when the lease is still this replica's, in this generation, unexpired; call it
    /// inside the transaction that commits a page. On PostgreSQL it holds the lease row (FOR
    /// SHARE) until that transaction ends.
    pub async fn check<C: ConnectionTrait>(&self, txn: &C) -> Result<(), DbErr> {
        let mut query = poll_lease::Entity::find()
            .filter(poll_lease::Column::System.eq(self.leases.sys()))
            .filter(poll_lease::Column::IntegrationId.eq(self.integration.as_uuid()));
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            query = query.lock_shared();
        }
        match query.one(txn).await? {
            Some(row)
                if row.owner == self.leases.replica
                    && row.generation == self.generation
                    && row.expires_at > Utc::now() =>
            {
                Ok(())
            }
            _ => Err(DbErr::Custom(LEASE_LOST.to_owned())),
        }
    }
}

tokio::task_local! {
    static CURRENT: Fence;
}

/// Runs `poll` with `fence` as the current poll's fence (see [`check_current`]).
pub async fn with_fence<F: std::future::Future>(fence: Fence, poll: F) -> F::Output {
    CURRENT.scope(fence, poll).await
}

/// Checks the fence of the poll running on this task, if any (a sync an operator started
/// outside the scheduler has none and always passes). Call it inside the transaction that
/// commits a page of changes.
pub async fn check_current<C: ConnectionTrait>(txn: &C) -> Result<(), DbErr> {
    match current_fence() {
        Some(fence) => fence.check(txn).await,
        None => Ok(()),
    }
}

/// The fence of the poll running on this task, if any.
pub fn current_fence() -> Option<Fence> {
    CURRENT.try_with(|f| *f).ok()
}
