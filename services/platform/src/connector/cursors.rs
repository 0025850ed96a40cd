//! The kit's cursor tables, one schema and one naming for every connector (a `system` column
//! tells whose row it is, as in [`super::store`]):
//!
//! | table | key | holds |
//! | --- | --- | --- |
//! | `connector_cursors` | system, integration, resource | where reading the resource stands: a watermark time (MailChimp: records changed since then are read next) and/or a marker (MplusKASSA: the highest sync marker or `stockId` whose records are committed), the records and parked records of every run so far, when the last complete read ended and when the row moved |
//! | `connector_runs` | system, integration, resource | the running or last run over the resource: state, mode (`full`, `incremental`, `reconcile`), records published, parked and skipped, total when known, positions (start, committed, target), times, error and recent samples, so that any replica serves its [`progress`](super::progress) |
//!
//! A cursor moves inside the transaction that commits the page it passed (the kit's
//! [`ingest`](super::ingest) pipeline), and so does a run's progress. [`Cursors`] reads and
//! writes both for one connector's system; [`run_row::Model::run`] turns a stored run into the
//! progress every connector serves.

use chrono::{DateTime, Utc};
use ferry_proto::{IntegrationId, System};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{QueryOrder, Schema};
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};

use super::progress::{Run, Sample, Samples, SyncState};
use super::tables::{create_tables, drop_tables, replace_all};

/// `connector_cursors`.
pub mod cursor_row {
    use super::*;

    /// Where reading one resource of one integration stands.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_cursors")]
    pub struct Model {
        /// The connector's system (`mailchimp`, `mpluskassa`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub system: String,
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// The connector's resource (`orders`, `article_groups`, ...).
        #[sea_orm(primary_key, auto_increment = false)]
        pub resource: String,
        /// Records changed since this instant are read next (`None`: never read completely).
        pub watermark: Option<DateTime<Utc>>,
        /// The highest marker whose records are committed (0: read from the start).
        pub marker: i64,
        /// Records committed (published) by every run so far.
        pub records: i64,
        /// Records parked as invalid by every run so far.
        pub parked: i64,
        /// When the last complete read ended.
        pub polled_at: Option<DateTime<Utc>>,
        /// When the row was last written.
        pub updated_at: DateTime<Utc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `connector_runs`.
pub mod run_row {
    use super::*;

    /// The running or last run over one resource of one integration.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_runs")]
    pub struct Model {
        /// The connector's system.
        #[sea_orm(primary_key, auto_increment = false)]
        pub system: String,
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// The connector's resource.
        #[sea_orm(primary_key, auto_increment = false)]
        pub resource: String,
        /// `idle`, `running`, `done` or `failed` ([`SyncState`]).
        pub state: String,
        /// `full` (from the start), `incremental` (a poll) or `reconcile` (a periodic full
        /// read).
        pub mode: String,
        /// Records published.
        pub published: i64,
        /// Records parked as invalid.
        pub parked: i64,
        /// Records read and left alone (unchanged, inactive, deleted, Ferry's own).
        pub skipped: i64,
        /// Records to read, when the API says (MailChimp's `total_items`).
        pub total: Option<i64>,
        /// The cursor's marker when the run started.
        pub start_position: i64,
        /// The marker committed so far.
        pub position: i64,
        /// The marker to reach (MplusKASSA: the installation's when the run started); `None`
        /// when the run is measured in records of a known `total`.
        pub target: Option<i64>,
        /// When it started.
        pub started_at: Option<DateTime<Utc>>,
        /// When it ended.
        pub finished_at: Option<DateTime<Utc>>,
        /// Why it failed.
        #[sea_orm(column_type = "Text", nullable)]
        pub last_error: Option<String>,
        /// Recent samples ([`Samples`] as JSON): the rate and time left.
        #[sea_orm(nullable)]
        pub samples: Option<Json>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// Records read so far: published, parked or skipped.
        pub fn done(&self) -> u64 {
            [self.published, self.parked, self.skipped]
                .into_iter()
                .map(count)
                .sum()
        }

        /// Where the run is on its axis: markers passed since its start when it has a target,
        /// else records read.
        fn axis(&self) -> u64 {
            match self.target {
                Some(_) => count(self.position.saturating_sub(self.start_position)),
                None => self.done(),
            }
        }

        /// Adds a sample of the run as it is now (after a page's counts and position).
        pub fn sample(&mut self, at: DateTime<Utc>) {
            let mut samples = Samples::from_json(self.samples.as_ref());
            samples.record(Sample {
                at,
                done: self.done(),
                position: self.axis(),
            });
            self.samples = Some(samples.to_json());
        }

        /// Ends the run at `at`: done, or failed with `error`.
        pub fn finish(&mut self, error: Option<String>, at: DateTime<Utc>) {
            self.state = match error {
                None => SyncState::Done,
                Some(_) => SyncState::Failed,
            }
            .as_str()
            .to_owned();
            self.finished_at = Some(at);
            self.last_error = error;
        }

        /// The run as the kit's progress sees it: records read of the total (known once the
        /// first page is read: a running run's 0 is unknown); percent and time left along the
        /// records, or along the markers from the start position to the target.
        pub fn run(&self) -> Run {
            let state = SyncState::parse(&self.state);
            let done = self.done();
            let total = self
                .total
                .and_then(|t| u64::try_from(t).ok())
                .filter(|&t| t > 0 || state != SyncState::Running);
            let position_total = match self.target {
                Some(target) => Some(count(target.saturating_sub(self.start_position))),
                None => total,
            };
            Run {
                state,
                mode: Some(self.mode.clone()),
                done,
                total,
                position: self.axis(),
                position_total,
                started_at: self.started_at,
                finished_at: self.finished_at,
                last_error: self.last_error.clone(),
                samples: Samples::from_json(self.samples.as_ref()),
            }
        }
    }

    fn count(n: i64) -> u64 {
        u64::try_from(n).unwrap_or(0)
    }
}

/// Rows written per statement at most (SQLite bounds a statement's parameters).
pub const ROWS_PER_STATEMENT: usize = 100;

/// The cursors and runs of one connector's system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursors {
    system: System,
}

impl Cursors {
    /// The cursors of `system`.
    pub const fn new(system: System) -> Self {
        Self { system }
    }

    /// The cursor of a resource that never moved (not stored).
    pub fn unmoved(&self, integration: IntegrationId, resource: &str) -> cursor_row::Model {
        cursor_row::Model {
            system: self.system.as_str().to_owned(),
            integration_id: integration.as_uuid(),
            resource: resource.to_owned(),
            watermark: None,
            marker: 0,
            records: 0,
            parked: 0,
            polled_at: None,
            updated_at: Utc::now(),
        }
    }

    /// A run of `mode` starting at `at` from marker `start` (0 for a run measured in records)
    /// towards `target` (not stored).
    pub fn start_run(
        &self,
        integration: IntegrationId,
        resource: &str,
        mode: &str,
        at: DateTime<Utc>,
        start: i64,
        target: Option<i64>,
    ) -> run_row::Model {
        run_row::Model {
            system: self.system.as_str().to_owned(),
            integration_id: integration.as_uuid(),
            resource: resource.to_owned(),
            state: SyncState::Running.as_str().to_owned(),
            mode: mode.to_owned(),
            published: 0,
            parked: 0,
            skipped: 0,
            total: None,
            start_position: start,
            position: start,
            target,
            started_at: Some(at),
            finished_at: None,
            last_error: None,
            samples: Some(Samples::started(at).to_json()),
        }
    }

    /// The cursor of a resource (`None`: it never moved).
    pub async fn get<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        resource: &str,
    ) -> Result<Option<cursor_row::Model>, DbErr> {
        cursor_row::Entity::find_by_id(self.key(integration, resource))
            .one(db)
            .await
    }

    /// The marker of a resource's cursor (0 when it never moved).
    pub async fn marker<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        resource: &str,
    ) -> Result<i64, DbErr> {
        Ok(self
            .get(db, integration, resource)
            .await?
            .map_or(0, |c| c.marker))
    }

    /// Every cursor of an integration, by resource name.
    pub async fn all<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
    ) -> Result<Vec<cursor_row::Model>, DbErr> {
        cursor_row::Entity::find()
            .filter(cursor_row::Column::System.eq(self.system.as_str()))
            .filter(cursor_row::Column::IntegrationId.eq(integration.as_uuid()))
            .order_by_asc(cursor_row::Column::Resource)
            .all(db)
            .await
    }

    /// Writes cursors whole, in one statement (per [`ROWS_PER_STATEMENT`]).
    pub async fn put<C: ConnectionTrait>(
        &self,
        db: &C,
        cursors: &[cursor_row::Model],
    ) -> Result<(), DbErr> {
        for chunk in cursors.chunks(ROWS_PER_STATEMENT) {
            replace_all(db, chunk.iter().cloned().map(cursor_row::ActiveModel::from)).await?;
        }
        Ok(())
    }

    /// Advances a marker cursor past a committed page, in one statement: its marker to
    /// `marker` unless it is past it already, `records` and `parked` added to its totals.
    pub async fn advance<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        resource: &str,
        marker: i64,
        records: i64,
        parked: i64,
    ) -> Result<(), DbErr> {
        use cursor_row::Column as C;
        let row = cursor_row::Model {
            marker,
            records,
            parked,
            ..self.unmoved(integration, resource)
        };
        cursor_row::Entity::insert(cursor_row::ActiveModel::from(row))
            .on_conflict(
                OnConflict::columns([C::System, C::IntegrationId, C::Resource])
                    .value(
                        C::Marker,
                        Expr::cust(
                            "CASE WHEN connector_cursors.marker > excluded.marker \
                             THEN connector_cursors.marker ELSE excluded.marker END",
                        ),
                    )
                    .value(
                        C::Records,
                        Expr::cust("connector_cursors.records + excluded.records"),
                    )
                    .value(
                        C::Parked,
                        Expr::cust("connector_cursors.parked + excluded.parked"),
                    )
                    .update_column(C::UpdatedAt)
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        Ok(())
    }

    /// Sets the cursors of `resources` back to the start (no watermark, marker 0): their
    /// next runs read everything.
    pub async fn reset<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        resources: &[&str],
    ) -> Result<(), DbErr> {
        cursor_row::Entity::update_many()
            .col_expr(cursor_row::Column::Marker, Expr::value(0i64))
            .col_expr(
                cursor_row::Column::Watermark,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(cursor_row::Column::System.eq(self.system.as_str()))
            .filter(cursor_row::Column::IntegrationId.eq(integration.as_uuid()))
            .filter(cursor_row::Column::Resource.is_in(resources.iter().copied()))
            .exec(db)
            .await?;
        Ok(())
    }

    /// The running or last run over a resource.
    pub async fn run<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        resource: &str,
    ) -> Result<Option<run_row::Model>, DbErr> {
        run_row::Entity::find_by_id(self.key(integration, resource))
            .one(db)
            .await
    }

    /// The running or last run over every resource of an integration, by resource name.
    pub async fn runs<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
    ) -> Result<Vec<run_row::Model>, DbErr> {
        run_row::Entity::find()
            .filter(run_row::Column::System.eq(self.system.as_str()))
            .filter(run_row::Column::IntegrationId.eq(integration.as_uuid()))
            .order_by_asc(run_row::Column::Resource)
            .all(db)
            .await
    }

    /// Writes runs whole, in one statement (per [`ROWS_PER_STATEMENT`]).
    pub async fn put_runs<C: ConnectionTrait>(
        &self,
        db: &C,
        runs: &[run_row::Model],
    ) -> Result<(), DbErr> {
        for chunk in runs.chunks(ROWS_PER_STATEMENT) {
            replace_all(db, chunk.iter().cloned().map(run_row::ActiveModel::from)).await?;
        }
        Ok(())
    }

    /// After a run that found nothing (and stored nothing): a stored run left `running` (its
    /// end never stored: a crash, a write that failed) is marked done at `run.finished_at`,
    /// and a resource without a stored run gets `run` (so a resource that never had anything
    /// to read does not read as never synced). Any other stored run stays.
    pub async fn settle_run<C: ConnectionTrait>(
        &self,
        db: &C,
        run: run_row::Model,
    ) -> Result<(), DbErr> {
        use run_row::Column as C;
        run_row::Entity::update_many()
            .col_expr(C::State, Expr::value(SyncState::Done.as_str()))
            .col_expr(C::FinishedAt, Expr::value(run.finished_at))
            .filter(C::System.eq(run.system.as_str()))
            .filter(C::IntegrationId.eq(run.integration_id))
            .filter(C::Resource.eq(run.resource.as_str()))
            .filter(C::State.eq(SyncState::Running.as_str()))
            .exec(db)
            .await?;
        run_row::Entity::insert(run_row::ActiveModel::from(run))
            .on_conflict(
                OnConflict::columns([C::System, C::IntegrationId, C::Resource])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        Ok(())
    }

    /// Forgets an integration's cursors and runs (it was deleted).
    pub async fn forget<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
    ) -> Result<(), DbErr> {
        cursor_row::Entity::delete_many()
            .filter(cursor_row::Column::System.eq(self.system.as_str()))
            .filter(cursor_row::Column::IntegrationId.eq(integration.as_uuid()))
            .exec(db)
            .await?;
        run_row::Entity::delete_many()
            .filter(run_row::Column::System.eq(self.system.as_str()))
            .filter(run_row::Column::IntegrationId.eq(integration.as_uuid()))
            .exec(db)
            .await?;
        Ok(())
    }

    fn key(&self, integration: IntegrationId, resource: &str) -> (String, Uuid, String) {
        (
            self.system.as_str().to_owned(),
            integration.as_uuid(),
            resource.to_owned(),
        )
    }
}

/// Creates `connector_cursors` and `connector_runs` (idempotent: every connector of an
/// embedded process runs it).
pub struct CreateCursorTables;

impl MigrationName for CreateCursorTables {
    fn name(&self) -> &str {
        "m20261208_000001_connector_cursor_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCursorTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        create_tables(
            manager,
            [
                schema.create_table_from_entity(cursor_row::Entity),
                schema.create_table_from_entity(run_row::Entity),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["connector_runs", "connector_cursors"]).await
    }
}
