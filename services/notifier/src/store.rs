//! The notifier's tables and their migration: activity rows, alerts, alert deliveries and
//! per-integration retention.

use sea_orm::sea_query::Index;
use sea_orm::{ConnectionTrait, DbErr, Schema};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

/// One row per message per integration: what the notifier saw on the bus.
pub mod activity_row {
    use sea_orm::entity::prelude::*;

    /// One observed message.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifier_activity")]
    pub struct Model {
        /// Row id (UUID v7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The envelope's message id.
        pub message_id: Uuid,
        /// The integration.
        pub integration_id: String,
        /// `event` or `command`.
        pub kind: String,
        /// `in` (from a system), `out` (to a system) or `internal`.
        pub direction: String,
        /// `mailchimp`, `mpluskassa` or `ferry`.
        pub system: String,
        /// `customers`, `products`, `categories`, `stock`, `orders` or `integration`.
        pub flow: String,
        /// The entity of the message type (`customer`, `order`, ...).
        pub entity: String,
        /// `<entity>.<verb>`.
        pub message_type: String,
        /// The routing key.
        pub routing_key: String,
        /// SKU, e-mail, order number, ... (may be personal data).
        pub record_key: Option<String>,
        /// `observed`, `sent`, `succeeded`, `failed` or `parked`.
        pub status: String,
        /// The failure code (`auth`, `unavailable`, ...).
        pub error_code: Option<String>,
        /// What went wrong.
        pub error: Option<String>,
        /// What came from the source system (observed events).
        pub source_data: Option<Json>,
        /// What was sent to the target system (commands).
        pub sent_data: Option<Json>,
        /// What the target answered (replies).
        pub result_data: Option<Json>,
        /// W3C trace id.
        pub trace_id: Option<String>,
        /// The saga or sync run.
        pub correlation_id: Uuid,
        /// The message that caused this one.
        pub causation_id: Option<Uuid>,
        /// When the message says it happened.
        pub occurred_at: DateTimeUtc,
        /// When the notifier stored it.
        pub recorded_at: DateTimeUtc,
        /// When a command's reply arrived.
        pub completed_at: Option<DateTimeUtc>,
        /// Command until reply, in milliseconds.
        pub duration_ms: Option<i64>,
        /// `occurred_at` in whole minutes since the Unix epoch (for time buckets on any database).
        pub minute: i64,
        /// `,h1,h2,`: truncated SHA-256 of every e-mail address in the message (for erasure).
        pub email_hashes: String,
        /// True once personal data was erased from the row.
        pub redacted: bool,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Alerts: one row per problem (deduplicated by `dedup_key` while open).
pub mod alert_row {
    use sea_orm::entity::prelude::*;

    /// One alert.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifier_alerts")]
    pub struct Model {
        /// Alert id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// What makes two raises the same problem.
        pub dedup_key: String,
        /// The rule that raised it.
        pub rule: String,
        /// `critical`, `error` or `warning`.
        pub severity: String,
        /// The integration, when the problem belongs to one.
        pub integration_id: Option<String>,
        /// The external system involved.
        pub system: Option<String>,
        /// The record (masked when it is an e-mail address).
        pub record_key: Option<String>,
        /// For the shop owner: what broke, for which record, the one thing to do.
        pub summary: String,
        /// One line: what failed (technical).
        pub title: String,
        /// Details: why, where.
        pub detail: String,
        /// What to do.
        pub action: String,
        /// `open` or `resolved`.
        pub state: String,
        /// Raises merged into this alert.
        pub occurrences: i32,
        /// First raise.
        pub opened_at: DateTimeUtc,
        /// Latest raise.
        pub last_seen_at: DateTimeUtc,
        /// When it cleared.
        pub resolved_at: Option<DateTimeUtc>,
        /// Why it cleared.
        pub resolution: Option<String>,
        /// When channels were last told about it.
        pub last_notified_at: Option<DateTimeUtc>,
        /// Machine-readable context (queue, message id, counts).
        pub context: Json,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Alert notifications to send, persisted so that a restart loses none.
pub mod delivery_row {
    use sea_orm::entity::prelude::*;

    /// One notification of one alert to one channel.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifier_deliveries")]
    pub struct Model {
        /// Delivery id (UUID v7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The alert.
        pub alert_id: Uuid,
        /// The channel's configured name.
        pub channel: String,
        /// `firing`, `reminder` or `resolved`.
        pub event: String,
        /// `pending`, `sent` or `failed` (gave up).
        pub state: String,
        /// Attempts made.
        pub attempts: i32,
        /// When to try next.
        pub next_attempt_at: DateTimeUtc,
        /// The last error.
        pub last_error: Option<String>,
        /// When it was queued.
        pub created_at: DateTimeUtc,
        /// When the channel accepted it.
        pub sent_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    /// A notification of `event` of alert `alert_id` to `channel`, due at `now`.
    pub fn pending(alert_id: Uuid, channel: String, event: &str, now: DateTimeUtc) -> ActiveModel {
        use sea_orm::Set;
        ActiveModel {
            id: Set(Uuid::now_v7()),
            alert_id: Set(alert_id),
            channel: Set(channel),
            event: Set(event.to_owned()),
            state: Set("pending".to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            last_error: Set(None),
            created_at: Set(now),
            sent_at: Set(None),
        }
    }
}

/// Activity retention per integration (overrides the configured default).
pub mod retention_row {
    use sea_orm::entity::prelude::*;

    /// One integration's retention.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifier_retention")]
    pub struct Model {
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: String,
        /// Days activity rows are kept.
        pub days: i32,
        /// When it was set.
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The integrations the notifier heard of from the registry (`integration.changed`): their
/// names and states, so the dashboard and the alerts name them.
pub mod integration_row {
    use sea_orm::entity::prelude::*;

    /// One integration as the registry last announced it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifier_integrations")]
    pub struct Model {
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: String,
        /// Its name.
        pub name: String,
        /// `draft`, `live`, `paused`, ...
        pub state: String,
        /// The registry's revision of it (older announcements are ignored).
        pub revision: i64,
        /// When the notifier heard it.
        pub updated_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The integrations deleted (and erased): a recording of them is refused (see `erased`).
pub mod erased_row {
    use sea_orm::entity::prelude::*;

    /// One deleted integration.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifier_erased_integrations")]
    pub struct Model {
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: String,
        /// When its deletion was heard and its rows erased.
        pub erased_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The audit of GDPR erasures: who asked, when, how many rows; never the erased value.
pub mod erasure_row {
    use sea_orm::entity::prelude::*;

    /// One erasure.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifier_erasures")]
    pub struct Model {
        /// Erasure id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The token's name that asked for it.
        pub requested_by: String,
        /// When.
        pub erased_at: DateTimeUtc,
        /// Activity rows redacted.
        pub activity_rows: i64,
        /// Alerts redacted.
        pub alerts: i64,
        /// Parked messages redacted.
        pub parked_messages: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Adds the tombstones of deleted integrations and the audit of erasures.
pub struct ErasedMigration;

impl MigrationName for ErasedMigration {
    fn name(&self) -> &str {
        "m20261206_000003_notifier_erased_integrations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ErasedMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(erased_row::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                schema
                    .create_table_from_entity(erasure_row::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS notifier_erased_integrations")
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS notifier_erasures")
            .await?;
        Ok(())
    }
}

/// Adds the integrations the registry announced (names and states).
pub struct DirectoryMigration;

impl MigrationName for DirectoryMigration {
    fn name(&self) -> &str {
        "m20261206_000001_notifier_integrations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for DirectoryMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(integration_row::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS notifier_integrations")
            .await?;
        Ok(())
    }
}

/// Adds the alerts' plain sentence for the shop owner (`summary`).
pub struct AlertSummaryMigration;

impl MigrationName for AlertSummaryMigration {
    fn name(&self) -> &str {
        "m20261206_000002_notifier_alert_summary"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AlertSummaryMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use sea_orm::sea_query::{ColumnDef, Table};
        if manager.has_column("notifier_alerts", "summary").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(alert_row::Entity)
                    .add_column(
                        ColumnDef::new(alert_row::Column::Summary)
                            .string()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use sea_orm::sea_query::Table;
        manager
            .alter_table(
                Table::alter()
                    .table(alert_row::Entity)
                    .drop_column(alert_row::Column::Summary)
                    .to_owned(),
            )
            .await
    }
}

/// Creates the notifier's tables.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000001_notifier_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(activity_row::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                schema
                    .create_table_from_entity(alert_row::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                schema
                    .create_table_from_entity(delivery_row::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                schema
                    .create_table_from_entity(retention_row::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        use activity_row::Column as A;
        let indexes = [
            Index::create()
                .name("notifier_activity_integration_time")
                .table(activity_row::Entity)
                .col(A::IntegrationId)
                .col(A::OccurredAt)
                .to_owned(),
            Index::create()
                .name("notifier_activity_time")
                .table(activity_row::Entity)
                .col(A::OccurredAt)
                .to_owned(),
            Index::create()
                .name("notifier_activity_message")
                .table(activity_row::Entity)
                .col(A::MessageId)
                .to_owned(),
            Index::create()
                .name("notifier_activity_causation")
                .table(activity_row::Entity)
                .col(A::CausationId)
                .to_owned(),
            Index::create()
                .name("notifier_activity_correlation")
                .table(activity_row::Entity)
                .col(A::CorrelationId)
                .to_owned(),
            Index::create()
                .name("notifier_activity_record")
                .table(activity_row::Entity)
                .col(A::RecordKey)
                .to_owned(),
            Index::create()
                .name("notifier_alerts_key_state")
                .table(alert_row::Entity)
                .col(alert_row::Column::DedupKey)
                .col(alert_row::Column::State)
                .to_owned(),
            Index::create()
                .name("notifier_deliveries_due")
                .table(delivery_row::Entity)
                .col(delivery_row::Column::State)
                .col(delivery_row::Column::NextAttemptAt)
                .to_owned(),
        ];
        for mut index in indexes {
            manager
                .create_index(index.if_not_exists().to_owned())
                .await?;
        }
        // At most one open alert per problem, even when replicas or concurrent handlers raise
        // it at the same moment (the loser's transaction fails and is retried, then merges).
        // Partial unique indexes read the same on PostgreSQL and SQLite.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS notifier_alerts_one_open \
                 ON notifier_alerts (dedup_key) WHERE state = 'open'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in [
            "notifier_retention",
            "notifier_deliveries",
            "notifier_alerts",
            "notifier_activity",
        ] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sea_orm::ConnectionTrait;
    use sea_orm_migration::{MigrationTrait, SchemaManager};

    use super::{AlertSummaryMigration, Migration};

    #[tokio::test]
    async fn the_summary_column_is_added_to_an_alerts_table_made_before_it() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let manager = SchemaManager::new(&db);
        Migration.up(&manager).await.unwrap();
        // The table as the first migration made it before alerts had a summary.
        db.execute_unprepared("ALTER TABLE notifier_alerts DROP COLUMN summary")
            .await
            .unwrap();
        db.execute_unprepared(
            "INSERT INTO notifier_alerts (id, dedup_key, rule, severity, title, detail, action, \
             state, occurrences, opened_at, last_seen_at, context) VALUES ('a', 'k', 'no_sync', \
             'warning', 't', 'd', 'x', 'open', 1, '2026-12-06T00:00:00Z', \
             '2026-12-06T00:00:00Z', '{}')",
        )
        .await
        .unwrap();
        assert!(
            !manager
                .has_column("notifier_alerts", "summary")
                .await
                .unwrap()
        );
        AlertSummaryMigration.up(&manager).await.unwrap();
        assert!(
            manager
                .has_column("notifier_alerts", "summary")
                .await
                .unwrap()
        );
        // Once more changes nothing (a fresh database has the column from the first migration).
        AlertSummaryMigration.up(&manager).await.unwrap();
        let row = db
            .query_one(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT summary FROM notifier_alerts",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<String>("", "summary").unwrap(), "");
    }
}
