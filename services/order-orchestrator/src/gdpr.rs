//! Erasing a person (GDPR, `ferry.person.erase-requested`): the orchestrator's rows about them.
//!
//! | table | erased |
//! | --- | --- |
//! | `order_orchestrator_sagas` | every saga (open, completed or failed) whose order or customer key holds the address: deleted, with its timeline |
//! | `order_orchestrator_saga_events` | the timelines of those sagas |
//! | `order_orchestrator_customer_resolutions` | the resolutions keyed by the address |
//! | `order_orchestrator_customer_locks` | the locks keyed by the address |
//!
//! The platform erases the outbox and drops messages about the person still queued
//! ([`ferry_platform::gdpr`]). A saga's actor that is in memory at the erase no longer finds its
//! row and stops at its next step.

use async_trait::async_trait;
use ferry_platform::gdpr::{self, ErasedRows, Eraser, Fingerprint};
use ferry_proto::IntegrationId;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter};

use crate::store::{event_row, lock_row, resolution_row, saga_row};

/// The orchestrator's [`Eraser`].
pub struct SagaEraser;

#[async_trait]
impl Eraser for SagaEraser {
    async fn erase(
        &self,
        txn: &DatabaseTransaction,
        integration: IntegrationId,
        person: &Fingerprint,
    ) -> Result<ErasedRows, DbErr> {
        let id = integration.as_uuid();
        let sagas: Vec<_> = saga_row::Entity::find()
            .filter(saga_row::Column::IntegrationId.eq(id))
            .all(txn)
            .await?
            .into_iter()
            .filter(|saga| {
                let order = saga.order_json.to_string();
                let error = saga.last_error.as_ref().map(ToString::to_string);
                person.mentioned_in_any(
                    [
                        Some(order.as_str()),
                        saga.customer_key.as_deref(),
                        error.as_deref(),
                    ]
                    .into_iter()
                    .flatten(),
                )
            })
            .map(|saga| saga.id)
            .collect();
        let mut events = 0;
        for chunk in sagas.chunks(500) {
            events += event_row::Entity::delete_many()
                .filter(event_row::Column::SagaId.is_in(chunk.iter().copied()))
                .exec(txn)
                .await?
                .rows_affected;
        }
        let mut deleted_sagas = 0;
        for chunk in sagas.chunks(500) {
            deleted_sagas += saga_row::Entity::delete_many()
                .filter(saga_row::Column::Id.is_in(chunk.iter().copied()))
                .exec(txn)
                .await?
                .rows_affected;
        }
        let resolutions = gdpr::delete_mentioning(
            txn,
            resolution_row::Entity::find().filter(resolution_row::Column::IntegrationId.eq(id)),
            person,
            |row| vec![row.customer_key.clone()],
        )
        .await?;
        let locks = gdpr::delete_mentioning(
            txn,
            lock_row::Entity::find().filter(lock_row::Column::IntegrationId.eq(id)),
            person,
            |row| vec![row.customer_key.clone()],
        )
        .await?;
        Ok(ErasedRows::from([
            ("order_orchestrator_sagas", deleted_sagas),
            ("order_orchestrator_saga_events", events),
            ("order_orchestrator_customer_resolutions", resolutions),
            ("order_orchestrator_customer_locks", locks),
        ]))
    }
}
