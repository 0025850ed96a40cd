//! The bus's tables (inbox and outbox) and their migration.

use sea_orm::sea_query::Index;
use sea_orm::{ConnectionTrait, DbErr, Schema};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

/// Processed message ids, per consumer: the inbox.
pub mod inbox_row {
    use sea_orm::entity::prelude::*;

    /// One processed message.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ferry_inbox")]
    pub struct Model {
        /// The consumer (service and queue) that processed it.
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        /// The message id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: Uuid,
        /// When its effect was committed.
        pub processed_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Messages decided inside a transaction and not yet confirmed by the broker: the outbox.
pub mod outbox_row {
    use sea_orm::entity::prelude::*;

    /// One pending message.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ferry_outbox")]
    pub struct Model {
        /// The message id (UUID v7, so ordering by it is ordering by time).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The service whose relay publishes it.
        pub source: String,
        /// Exchange base name.
        pub exchange: String,
        /// Routing key.
        pub routing_key: String,
        /// Headers as a JSON object of strings.
        pub headers: Json,
        /// The serialized envelope.
        pub body: Vec<u8>,
        /// When it was enqueued.
        pub created_at: DateTimeUtc,
        /// Failed publish attempts so far.
        pub attempts: i32,
        /// The last publish error.
        pub last_error: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Dead-lettered messages taken off the dead-letter queues: the parking lot.
pub mod dead_letter_row {
    use sea_orm::entity::prelude::*;

    /// One parked message.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ferry_dead_letters")]
    pub struct Model {
        /// The queue whose consumer gave up on it.
        #[sea_orm(primary_key, auto_increment = false)]
        pub queue: String,
        /// The message id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: Uuid,
        /// Exchange base name it was published to.
        pub exchange: String,
        /// Routing key.
        pub routing_key: String,
        /// Message type header.
        pub message_type: Option<String>,
        /// Integration id header.
        pub integration_id: Option<String>,
        /// Headers as a JSON object of strings.
        pub headers: Json,
        /// The serialized envelope.
        pub body: Vec<u8>,
        /// Why it was parked.
        pub reason: String,
        /// Attempts made.
        pub attempts: i32,
        /// When it was parked.
        pub parked_at: DateTimeUtc,
        /// When it was last replayed.
        pub replayed_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The journal of the durable in-process bus: every message waiting in one of its queues.
pub mod journal_row {
    use sea_orm::entity::prelude::*;

    /// One message in one queue.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ferry_bus_journal")]
    pub struct Model {
        /// Id of this copy (UUID v7: ordering by it is ordering by time).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Queue name.
        pub queue: String,
        /// Exchange base name.
        pub exchange: String,
        /// Routing key.
        pub routing_key: String,
        /// The message id.
        pub message_id: Uuid,
        /// Headers as a JSON object of strings.
        pub headers: Json,
        /// The serialized envelope.
        pub body: Vec<u8>,
        /// Not delivered before this time (delayed retries).
        pub available_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates the inbox, outbox, dead-letter and in-process journal tables. Include it in every service's migrator; it is
/// idempotent, so services sharing one database (the embedded default) can all run it.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000001_bus_inbox_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        let tables = [
            schema.create_table_from_entity(inbox_row::Entity),
            schema.create_table_from_entity(outbox_row::Entity),
            schema.create_table_from_entity(journal_row::Entity),
            schema.create_table_from_entity(dead_letter_row::Entity),
        ];
        for mut table in tables {
            manager
                .create_table(table.if_not_exists().to_owned())
                .await?;
        }
        let indexes = [
            Index::create()
                .name("ferry_inbox_processed_at")
                .table(inbox_row::Entity)
                .col(inbox_row::Column::ProcessedAt)
                .to_owned(),
            Index::create()
                .name("ferry_outbox_source_id")
                .table(outbox_row::Entity)
                .col(outbox_row::Column::Source)
                .col(outbox_row::Column::Id)
                .to_owned(),
            Index::create()
                .name("ferry_bus_journal_queue")
                .table(journal_row::Entity)
                .col(journal_row::Column::Queue)
                .to_owned(),
            Index::create()
                .name("ferry_dead_letters_parked_at")
                .table(dead_letter_row::Entity)
                .col(dead_letter_row::Column::ParkedAt)
                .to_owned(),
        ];
        for mut index in indexes {
            manager
                .create_index(index.if_not_exists().to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS ferry_bus_journal")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS ferry_dead_letters")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS ferry_outbox")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS ferry_inbox")
            .await?;
        Ok(())
    }
}
