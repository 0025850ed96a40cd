//! Deleted integrations stay deleted.
//!
//! Deliveries of the notifier's queue run concurrently and in no guaranteed order, so an event
//! of an integration (its settings change, a command in flight) can be recorded at the same
//! time as, or after, the registry's announcement that the integration was deleted. Without a
//! guard, such a row escapes the erase and stays forever (issue 19, finding 7). Two things close
//! that door:
//!
//! - a **tombstone** per deleted integration (`notifier_erased_integrations`, the id and the
//!   time only: no personal data), checked before anything of the integration is recorded;
//! - a **per-integration lock** taken first in every recording transaction: shared by the
//!   recordings, exclusive for the erase. On PostgreSQL a transaction-scoped advisory lock; an
//!   erase therefore waits for the recordings in flight to commit (its `DELETE` then sees their
//!   rows) and a recording that waited for an erase sees its tombstone. SQLite serialises
//!   writing transactions by itself (the inbox claim writes first), so it needs no lock.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, Set, Statement};

use crate::store::erased_row;

/// Takes the integration's lock for a recording (shared) and tells whether the integration may
/// still be recorded (`false`: it was deleted; record nothing of it).
pub async fn may_record<C: ConnectionTrait>(conn: &C, integration_id: &str) -> Result<bool, DbErr> {
    lock(conn, integration_id, false).await?;
    Ok(!is_erased(conn, integration_id).await?)
}

/// Takes the integration's lock for its erase (exclusive) and writes its tombstone. Returns
/// `false` when it had been erased already.
pub async fn begin_erase<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    lock(conn, integration_id, true).await?;
    let row = erased_row::ActiveModel {
        integration_id: Set(integration_id.to_owned()),
        erased_at: Set(now),
    };
    let inserted = erased_row::Entity::insert(row)
        .on_conflict(
            OnConflict::column(erased_row::Column::IntegrationId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(inserted == 1)
}

/// Takes the integration's lock exclusively for a person's erase: the recordings in flight
/// commit first, later ones wait and then see the erase's tombstones.
pub async fn lock_for_person_erase<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
) -> Result<(), DbErr> {
    lock(conn, integration_id, true).await
}

/// Whether the integration was deleted.
pub async fn is_erased<C: ConnectionTrait>(conn: &C, integration_id: &str) -> Result<bool, DbErr> {
    Ok(erased_row::Entity::find_by_id(integration_id.to_owned())
        .one(conn)
        .await?
        .is_some())
}

async fn lock<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    exclusive: bool,
) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let function = if exclusive {
        "pg_advisory_xact_lock"
    } else {
        "pg_advisory_xact_lock_shared"
    };
    conn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "SELECT {function}(hashtext(current_schema() || '/ferry/notifier/integration/' || $1))::text"
        ),
        [integration_id.into()],
    ))
    .await?;
    Ok(())
}
