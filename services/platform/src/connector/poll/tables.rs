//! The tables of poll ownership and of the shared connection limit, one schema for
//! PostgreSQL and SQLite (migration [`CreatePollTables`]):
//!
//! | table | key | holds |
//! | --- | --- | --- |
//! | `connector_replicas` | system, replica | the heartbeat of each live replica of a connector |
//! | `connector_poll_leases` | system, integration | which replica polls the integration, until when, with a generation number that grows with every change of owner (the fence), and a pending "poll now" request |
//! | `connector_poll_requests` | system, id | what an operator asked of an integration's poll owner (a full sync, a reconciliation of some resources), waiting for the owner ([`CreatePollRequests`]) |
//! | `connector_slots` | system, key hash, slot | the connection slots of one API key (MailChimp: 10), each held by at most one replica until it expires |
//! | `connector_slot_demand` | system, key hash, replica | how many calls a replica wants to run at once on a key (fresh rows only count) |

use sea_orm::Schema;
use sea_orm::entity::prelude::*;
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};

/// `connector_replicas`.
pub mod replica {
    use super::*;

    /// One live replica.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_replicas")]
    pub struct Model {
        /// The connector's system.
        #[sea_orm(primary_key, auto_increment = false)]
        pub system: String,
        /// The replica (a new id per process start).
        #[sea_orm(primary_key, auto_increment = false)]
        pub replica_id: Uuid,
        /// The last heartbeat.
        pub heartbeat_at: DateTimeUtc,
        /// When the replica started.
        pub started_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `connector_poll_leases`.
pub mod poll_lease {
    use super::*;

    /// Who polls one integration.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_poll_leases")]
    pub struct Model {
        /// The connector's system.
        #[sea_orm(primary_key, auto_increment = false)]
        pub system: String,
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// The owning replica (the nil id once released).
        pub owner: Uuid,
        /// Grows by one whenever the owner changes: a poll commits only while the generation it
        /// started with is still the lease's.
        pub generation: i64,
        /// When the lease ends unless renewed.
        pub expires_at: DateTimeUtc,
        /// A "poll now" request (webhook, operator) the owner has not served yet.
        pub requested_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `connector_poll_requests`.
pub mod poll_request {
    use super::*;

    /// One request for an integration's poll owner, served once.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_poll_requests")]
    pub struct Model {
        /// The connector's system.
        #[sea_orm(primary_key, auto_increment = false)]
        pub system: String,
        /// The request (a UUIDv7: ordered by time).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The integration.
        pub integration_id: Uuid,
        /// What is asked, in the connector's own words (JSON).
        pub request: String,
        /// When it was asked.
        pub requested_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `connector_slots`.
pub mod slot {
    use super::*;

    /// One connection slot of an API key.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_slots")]
    pub struct Model {
        /// The connector's system.
        #[sea_orm(primary_key, auto_increment = false)]
        pub system: String,
        /// A digest of the API key (never the key).
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_hash: String,
        /// The slot's number, `0..limit`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub slot: i32,
        /// The replica holding it, if any.
        pub holder: Option<Uuid>,
        /// When the holder's claim ends unless renewed (longer than a call can take).
        pub expires_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `connector_slot_demand`.
pub mod slot_demand {
    use super::*;

    /// How many calls one replica wants to run at once on one key.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_slot_demand")]
    pub struct Model {
        /// The connector's system.
        #[sea_orm(primary_key, auto_increment = false)]
        pub system: String,
        /// A digest of the API key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_hash: String,
        /// The replica.
        #[sea_orm(primary_key, auto_increment = false)]
        pub replica_id: Uuid,
        /// Calls waiting or running.
        pub wanted: i32,
        /// When the replica last said so (older rows are ignored).
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates the poll-ownership and connection-slot tables (idempotent: every connector of an
/// embedded process runs it).
pub struct CreatePollTables;

impl MigrationName for CreatePollTables {
    fn name(&self) -> &str {
        "m20261206_000002_connector_poll_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePollTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        crate::connector::tables::create_tables(
            manager,
            [
                schema.create_table_from_entity(replica::Entity),
                schema.create_table_from_entity(poll_lease::Entity),
                schema.create_table_from_entity(slot::Entity),
                schema.create_table_from_entity(slot_demand::Entity),
            ],
        )
        .await?;
        crate::connector::tables::create_index(
            manager,
            "connector_poll_leases_owner",
            poll_lease::Entity,
            [poll_lease::Column::System, poll_lease::Column::Owner],
        )
        .await?;
        crate::connector::tables::create_index(
            manager,
            "connector_slots_holder",
            slot::Entity,
            [slot::Column::System, slot::Column::Holder],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::connector::tables::drop_tables(
            manager,
            &[
                "connector_slot_demand",
                "connector_slots",
                "connector_poll_leases",
                "connector_replicas",
            ],
        )
        .await
    }
}

/// Creates `connector_poll_requests` (idempotent, like [`CreatePollTables`]).
pub struct CreatePollRequests;

impl MigrationName for CreatePollRequests {
    fn name(&self) -> &str {
        "m20261207_000001_connector_poll_requests"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePollRequests {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        crate::connector::tables::create_tables(
            manager,
            [schema.create_table_from_entity(poll_request::Entity)],
        )
        .await?;
        crate::connector::tables::create_index(
            manager,
            "connector_poll_requests_integration",
            poll_request::Entity,
            [
                poll_request::Column::System,
                poll_request::Column::IntegrationId,
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::connector::tables::drop_tables(manager, &["connector_poll_requests"]).await
    }
}
