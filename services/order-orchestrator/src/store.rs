//! The orchestrator's tables: sagas, their timelines, the customer locks and the customer
//! resolutions, with the migrations and the row <-> [`Saga`] conversion.

use chrono::{DateTime, Utc};
use ferry_proto::messages::ProductRef;
use ferry_proto::model::TargetOrder;
use ferry_proto::{ExternalId, IntegrationId, MessageId, Sku, System, TraceContext};
use sea_orm::sea_query::{ColumnDef, Index, Table};
use sea_orm::{ConnectionTrait, DbErr, Schema, Set};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use uuid::Uuid;

use crate::saga::{CustomerSource, Saga, SagaState, Step, TimelineEntry, Wait};

/// One saga per order (integration, target, external id).
pub mod saga_row {
    use sea_orm::entity::prelude::*;

    /// A saga.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_orchestrator_sagas")]
    pub struct Model {
        /// Saga id (UUID v7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Integration.
        pub integration_id: Uuid,
        /// Target system.
        pub target: String,
        /// Order number from the source.
        pub external_id: String,
        /// [`crate::saga::SagaState`].
        pub state: String,
        /// [`crate::saga::Step`].
        pub step: String,
        /// [`crate::saga::Wait`].
        pub wait: String,
        /// Failed attempts at the current step.
        pub attempt: i32,
        /// Re-verifications of missing products.
        pub rechecks: i32,
        /// The mapped order (JSON of `TargetOrder`).
        pub order_json: Json,
        /// Lock key of the customer (normalised e-mail), when looked up.
        pub customer_key: Option<String>,
        /// Customer id found by e-mail.
        pub existing_customer_id: Option<String>,
        /// [`crate::saga::CustomerSource`] (added by [`super::ResolutionMigration`]).
        pub customer_source: String,
        /// Customer id the order is booked on.
        pub customer_id: Option<String>,
        /// Order id in the target.
        pub target_order_id: Option<String>,
        /// Command awaiting its reply.
        pub pending_command_id: Option<Uuid>,
        /// Commands of the current step (JSON array of UUIDs).
        pub step_commands: Json,
        /// Deadline of the current wait.
        pub next_attempt_at: Option<DateTimeUtc>,
        /// Missing SKUs (JSON array).
        pub missing_skus: Json,
        /// SKUs with their target ids as verified (JSON array of `ProductRef`; added by
        /// [`super::VerifiedProductsMigration`]).
        pub verified_products: Json,
        /// Last failure (JSON of `FailureInfo`).
        pub last_error: Option<Json>,
        /// Outcome or reason, in words.
        pub outcome: Option<String>,
        /// W3C traceparent of the order event.
        pub traceparent: Option<String>,
        /// W3C tracestate of the order event.
        pub tracestate: Option<String>,
        /// Message that caused the next command.
        pub cause_id: Option<Uuid>,
        /// Replica whose timers own the saga.
        pub lease_owner: Option<String>,
        /// Until when that replica owns them.
        pub lease_until: Option<DateTimeUtc>,
        /// Created.
        pub created_at: DateTimeUtc,
        /// Last change.
        pub updated_at: DateTimeUtc,
        /// When it reached a terminal state.
        pub finished_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every step of every saga, with timestamps: the timeline.
pub mod event_row {
    use sea_orm::entity::prelude::*;

    /// One timeline entry.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_orchestrator_saga_events")]
    pub struct Model {
        /// Entry id (UUID v7: ordering by it is ordering by time).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The saga.
        pub saga_id: Uuid,
        /// When.
        pub at: DateTimeUtc,
        /// What happened.
        pub kind: String,
        /// At which step.
        pub step: String,
        /// The message concerned.
        pub message_id: Option<Uuid>,
        /// Its type.
        pub message_type: Option<String>,
        /// Details (JSON).
        pub detail: Json,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Customer locks: one saga at a time runs the customer steps of one customer.
pub mod lock_row {
    use sea_orm::entity::prelude::*;

    /// A held lock.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_orchestrator_customer_locks")]
    pub struct Model {
        /// Integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// Target system.
        #[sea_orm(primary_key, auto_increment = false)]
        pub target: String,
        /// Normalised e-mail.
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_key: String,
        /// The saga holding it.
        pub saga_id: Uuid,
        /// Since when.
        pub acquired_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Customers resolved in the target (find + upsert done by a saga): later sagas of the
/// same customer with the same customer data take the id over while it is fresh.
pub mod resolution_row {
    use sea_orm::entity::prelude::*;

    /// A resolution.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_orchestrator_customer_resolutions")]
    pub struct Model {
        /// Integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// Target system.
        #[sea_orm(primary_key, auto_increment = false)]
        pub target: String,
        /// Normalised e-mail.
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_key: String,
        /// The customer's id in the target.
        pub target_customer_id: String,
        /// SHA-256 (hex) of the customer data the resolving saga upserted.
        pub payload_hash: String,
        /// The saga that resolved it.
        pub saga_id: Uuid,
        /// When the target confirmed it.
        pub resolved_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A row that cannot be read back as a saga (corrupt or written by a newer version).
#[derive(Debug, thiserror::Error)]
#[error("saga {id}: column {column} holds an unreadable value: {why}")]
pub struct CorruptRow {
    /// The saga.
    pub id: Uuid,
    /// The column.
    pub column: &'static str,
    /// Why.
    pub why: String,
}

/// Reads a saga row.
pub fn saga_from_row(row: &saga_row::Model) -> Result<Saga, CorruptRow> {
    let bad = |column: &'static str, why: String| CorruptRow {
        id: row.id,
        column,
        why,
    };
    let ext =
        |column: &'static str, v: &Option<String>| -> Result<Option<ExternalId>, CorruptRow> {
            v.as_deref()
                .map(ExternalId::parse)
                .transpose()
                .map_err(|e| bad(column, e.to_string()))
        };
    let order: TargetOrder = serde_json::from_value(row.order_json.clone())
        .map_err(|e| bad("order_json", e.to_string()))?;
    Ok(Saga {
        id: row.id,
        integration_id: IntegrationId::from_uuid(row.integration_id)
            .map_err(|e| bad("integration_id", e.to_string()))?,
        target: System::parse(&row.target).ok_or_else(|| bad("target", row.target.clone()))?,
        external_id: ExternalId::parse(&row.external_id)
            .map_err(|e| bad("external_id", e.to_string()))?,
        state: SagaState::parse(&row.state).ok_or_else(|| bad("state", row.state.clone()))?,
        step: Step::parse(&row.step).ok_or_else(|| bad("step", row.step.clone()))?,
        wait: Wait::parse(&row.wait).ok_or_else(|| bad("wait", row.wait.clone()))?,
        attempt: u32::try_from(row.attempt).unwrap_or(0),
        rechecks: u32::try_from(row.rechecks).unwrap_or(0),
        order,
        existing_customer_id: ext("existing_customer_id", &row.existing_customer_id)?,
        customer_source: CustomerSource::parse(&row.customer_source)
            .ok_or_else(|| bad("customer_source", row.customer_source.clone()))?,
        customer_id: ext("customer_id", &row.customer_id)?,
        target_order_id: ext("target_order_id", &row.target_order_id)?,
        pending_command: row.pending_command_id,
        step_commands: serde_json::from_value(row.step_commands.clone())
            .map_err(|e| bad("step_commands", e.to_string()))?,
        next_attempt_at: row.next_attempt_at,
        missing_skus: serde_json::from_value::<Vec<Sku>>(row.missing_skus.clone())
            .map_err(|e| bad("missing_skus", e.to_string()))?,
        verified: serde_json::from_value::<Vec<ProductRef>>(row.verified_products.clone())
            .map_err(|e| bad("verified_products", e.to_string()))?,
        last_error: row
            .last_error
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| bad("last_error", e.to_string()))?,
        outcome: row.outcome.clone(),
        trace: TraceContext::from_headers(row.traceparent.as_deref(), row.tracestate.as_deref()),
        cause: row.cause_id.and_then(|c| MessageId::from_uuid(c).ok()),
    })
}

/// The active model writing every column of `saga` (timestamps and lease by the caller).
pub fn saga_to_active(saga: &Saga, now: DateTime<Utc>) -> Result<saga_row::ActiveModel, DbErr> {
    let json = |v: serde_json::Result<serde_json::Value>| {
        v.map_err(|e| DbErr::Custom(format!("saga {}: cannot encode: {e}", saga.id)))
    };
    Ok(saga_row::ActiveModel {
        id: Set(saga.id),
        integration_id: Set(saga.integration_id.as_uuid()),
        target: Set(saga.target.as_str().to_owned()),
        external_id: Set(saga.external_id.to_string()),
        state: Set(saga.state.as_str().to_owned()),
        step: Set(saga.step.as_str().to_owned()),
        wait: Set(saga.wait.as_str().to_owned()),
        attempt: Set(i32::try_from(saga.attempt).unwrap_or(i32::MAX)),
        rechecks: Set(i32::try_from(saga.rechecks).unwrap_or(i32::MAX)),
        order_json: Set(json(serde_json::to_value(&saga.order))?),
        customer_key: Set(saga.customer_email().map(|e| e.as_str().to_owned())),
        existing_customer_id: Set(saga.existing_customer_id.as_ref().map(ToString::to_string)),
        customer_source: Set(saga.customer_source.as_str().to_owned()),
        customer_id: Set(saga.customer_id.as_ref().map(ToString::to_string)),
        target_order_id: Set(saga.target_order_id.as_ref().map(ToString::to_string)),
        pending_command_id: Set(saga.pending_command),
        step_commands: Set(json(serde_json::to_value(&saga.step_commands))?),
        next_attempt_at: Set(saga.next_attempt_at),
        missing_skus: Set(json(serde_json::to_value(&saga.missing_skus))?),
        verified_products: Set(json(serde_json::to_value(&saga.verified))?),
        last_error: Set(saga
            .last_error
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| DbErr::Custom(format!("saga {}: {e}", saga.id)))?),
        outcome: Set(saga.outcome.clone()),
        traceparent: Set(saga.trace.traceparent_str().map(str::to_owned)),
        tracestate: Set(saga.trace.tracestate_str().map(str::to_owned)),
        cause_id: Set(saga.cause.map(|c| c.as_uuid())),
        updated_at: Set(now),
        finished_at: Set(saga.state.is_terminal().then_some(now)),
        ..Default::default()
    })
}

/// A timeline row.
pub fn event_to_active(
    saga_id: Uuid,
    entry: &TimelineEntry,
    at: DateTime<Utc>,
) -> event_row::ActiveModel {
    event_row::ActiveModel {
        id: Set(Uuid::now_v7()),
        saga_id: Set(saga_id),
        at: Set(at),
        kind: Set(entry.kind.to_owned()),
        step: Set(entry.step.as_str().to_owned()),
        message_id: Set(entry.message_id),
        message_type: Set(entry.message_type.clone()),
        detail: Set(entry.detail.clone()),
    }
}

/// Creates the saga, timeline and customer lock tables.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000001_order_orchestrator_sagas"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        for mut table in [
            schema.create_table_from_entity(saga_row::Entity),
            schema.create_table_from_entity(event_row::Entity),
            schema.create_table_from_entity(lock_row::Entity),
        ] {
            manager
                .create_table(table.if_not_exists().to_owned())
                .await?;
        }
        let indexes = [
            Index::create()
                .if_not_exists()
                .unique()
                .name("order_orchestrator_sagas_order")
                .table(saga_row::Entity)
                .col(saga_row::Column::IntegrationId)
                .col(saga_row::Column::Target)
                .col(saga_row::Column::ExternalId)
                .to_owned(),
            Index::create()
                .if_not_exists()
                .name("order_orchestrator_sagas_due")
                .table(saga_row::Entity)
                .col(saga_row::Column::State)
                .col(saga_row::Column::NextAttemptAt)
                .to_owned(),
            Index::create()
                .if_not_exists()
                .name("order_orchestrator_saga_events_saga")
                .table(event_row::Entity)
                .col(event_row::Column::SagaId)
                .col(event_row::Column::Id)
                .to_owned(),
            Index::create()
                .if_not_exists()
                .name("order_orchestrator_customer_locks_saga")
                .table(lock_row::Entity)
                .col(lock_row::Column::SagaId)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "order_orchestrator_customer_locks",
            "order_orchestrator_saga_events",
            "order_orchestrator_sagas",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}

/// Adds the customer resolutions (and the sagas' `customer_source`): orders of a customer
/// resolved recently skip the customer round trips.
pub struct ResolutionMigration;

impl MigrationName for ResolutionMigration {
    fn name(&self) -> &str {
        "m20261124_000002_order_orchestrator_customer_resolutions"
    }
}

/// The sagas' column added by [`ResolutionMigration`].
const CUSTOMER_SOURCE: &str = "customer_source";

#[async_trait::async_trait]
impl MigrationTrait for ResolutionMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(resolution_row::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // A database created before this migration has no `customer_source` yet; one
        // created since has it from the entity.
        if !manager
            .has_column("order_orchestrator_sagas", CUSTOMER_SOURCE)
            .await?
        {
            manager
                .alter_table(
                    Table::alter()
                        .table(saga_row::Entity)
                        .add_column(
                            ColumnDef::new(saga_row::Column::CustomerSource)
                                .string()
                                .not_null()
                                .default(CustomerSource::Lookup.as_str()),
                        )
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS order_orchestrator_customer_resolutions")
            .await?;
        Ok(())
    }
}

/// Adds the sagas' `verified_products`: the article ids `products.verify` found travel with
/// `order.create`, so the target does not look them up again. Backward compatible: the
/// column has a default, so the previous release still writes sagas on this schema.
pub struct VerifiedProductsMigration;

impl MigrationName for VerifiedProductsMigration {
    fn name(&self) -> &str {
        "m20261206_000003_order_orchestrator_verified_products"
    }
}

/// The sagas' column added by [`VerifiedProductsMigration`].
const VERIFIED_PRODUCTS: &str = "verified_products";

#[async_trait::async_trait]
impl MigrationTrait for VerifiedProductsMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A database created since has the column from the entity.
        if manager
            .has_column("order_orchestrator_sagas", VERIFIED_PRODUCTS)
            .await?
        {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(saga_row::Entity)
                    .add_column(
                        ColumnDef::new(saga_row::Column::VerifiedProducts)
                            .json()
                            .not_null()
                            .default("[]"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// An index of the sagas by order (integration, external id): the intake's echo check asks
/// for a completed saga of the same order towards the *other* target, which the unique
/// (integration, target, external id) index cannot answer without reading every saga of
/// the integration (a cost that grew with the number of orders).
pub struct SagasByOrderMigration;

impl MigrationName for SagasByOrderMigration {
    fn name(&self) -> &str {
        "m20261207_000001_order_orchestrator_sagas_by_order"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SagasByOrderMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("order_orchestrator_sagas_by_order")
                    .table(saga_row::Entity)
                    .col(saga_row::Column::IntegrationId)
                    .col(saga_row::Column::ExternalId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("order_orchestrator_sagas_by_order")
                    .table(saga_row::Entity)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

/// The ids of the sagas of `integration` and `target` other than `except` waiting for the
/// lock on customer `email`, oldest first; the query reads [`WaitingForCustomerMigration`]'s
/// index.
pub fn waiting_for_customer(
    integration: IntegrationId,
    target: System,
    email: &str,
    except: Uuid,
) -> sea_orm::Select<saga_row::Entity> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let [running, waiting] = waiting_for_customer_lock();
    saga_row::Entity::find()
        .select_only()
        .column(saga_row::Column::Id)
        .filter(saga_row::Column::IntegrationId.eq(integration.as_uuid()))
        .filter(saga_row::Column::Target.eq(target.as_str()))
        .filter(saga_row::Column::CustomerKey.eq(email))
        .filter(sea_orm::sea_query::Expr::cust(running))
        .filter(sea_orm::sea_query::Expr::cust(waiting))
        .filter(saga_row::Column::Id.ne(except))
        .order_by_asc(saga_row::Column::CreatedAt)
}

/// The index of every saga by customer that [`WaitingForCustomerMigration`] replaces (the
/// waiters' query was its only reader; the first migration made it).
const REPLACED_CUSTOMER_INDEX: &str = "order_orchestrator_sagas_customer";

/// The name of [`WaitingForCustomerMigration`]'s index.
const WAITING_FOR_CUSTOMER_INDEX: &str = "order_orchestrator_sagas_waiting_for_customer";

/// The sagas waiting for a customer lock, as SQL terms with the values written out: the
/// predicate of [`WaitingForCustomerMigration`]'s partial index (the terms joined by `AND`),
/// and the filters a query must carry word for word, each its own term, to use it (with the
/// values as bound parameters, PostgreSQL's generic plan and SQLite's planner cannot prove
/// the predicate and read another index).
pub fn waiting_for_customer_lock() -> [String; 2] {
    [
        format!("state = '{}'", SagaState::Running.as_str()),
        format!("wait = '{}'", Wait::CustomerLock.as_str()),
    ]
}

/// A partial index of the sagas waiting for a customer lock: a saga releasing the lock asks
/// which sagas of its customer wait for it, and the index of every saga by customer read
/// all of that customer's sagas, finished ones included (~1.1 ms per release on PostgreSQL
/// for a customer with a few hundred orders). Only running sagas that wait for the lock are
/// in it, so it stays a handful of rows and costs nothing to the other sagas' writes. Both
/// databases take the `WHERE` of a partial index in the same words. It replaces the index of
/// every saga by customer, which nothing else read (and which SQLite's planner sometimes
/// preferred to it).
pub struct WaitingForCustomerMigration;

impl MigrationName for WaitingForCustomerMigration {
    fn name(&self) -> &str {
        "m20261207_000002_order_orchestrator_sagas_waiting_for_customer"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for WaitingForCustomerMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(REPLACED_CUSTOMER_INDEX)
                    .table(saga_row::Entity)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {WAITING_FOR_CUSTOMER_INDEX} \
                 ON order_orchestrator_sagas (integration_id, target, customer_key, created_at) \
                 WHERE {}",
                waiting_for_customer_lock().join(" AND ")
            ))
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(WAITING_FOR_CUSTOMER_INDEX)
                    .table(saga_row::Entity)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(REPLACED_CUSTOMER_INDEX)
                    .table(saga_row::Entity)
                    .col(saga_row::Column::CustomerKey)
                    .to_owned(),
            )
            .await
    }
}
