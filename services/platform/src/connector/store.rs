//! The kit's tables, one schema and one naming for every connector (a `system` column tells
//! whose row it is, so the embedded default keeps every connector in one SQLite file):
//!
//! | table | key | holds |
//! | --- | --- | --- |
//! | `connector_xrefs` | system, integration, kind, external id | a record of the connector's system (`external_id`) and its canonical key (e-mail, SKU, external order id, category key), with the fingerprint of the version last published or written |
//! | `connector_leases` | system, integration, key | who executes a command on a record now (`customer:a@b.nl`), until when |
//!
//! A canonical key may map to several external ids (two MailChimp customers with one e-mail):
//! [`Xrefs::by_key`] answers the one written last.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_proto::{IntegrationId, System};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{QueryOrder, Schema, Set};
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};

/// `connector_xrefs`.
pub mod xref_row {
    use super::*;

    /// One record of the connector's system and its canonical key.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_xrefs")]
    pub struct Model {
        /// The connector's system (`mailchimp`, `mpluskassa`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub system: String,
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// The connector's kind of record (`customer`, `article`, `order`, ...).
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        /// The record's id in the connector's system.
        #[sea_orm(primary_key, auto_increment = false)]
        pub external_id: String,
        /// The canonical key; `None` for a record that could not be parsed.
        pub canonical_key: Option<String>,
        /// The version last published or written (own writes are not observed again).
        pub fingerprint: Option<String>,
        /// When the row changed.
        pub updated_at: DateTime<Utc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A conflict on a cross-reference's key (system, integration, kind, external id).
fn xref_key() -> OnConflict {
    OnConflict::columns([
        xref_row::Column::System,
        xref_row::Column::IntegrationId,
        xref_row::Column::Kind,
        xref_row::Column::ExternalId,
    ])
}

/// `connector_leases`.
pub mod lease_row {
    use super::*;

    /// One held lease.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_leases")]
    pub struct Model {
        /// The connector's system.
        #[sea_orm(primary_key, auto_increment = false)]
        pub system: String,
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: Uuid,
        /// The record (`customer:a@b.nl`, `order:web-1`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// Who holds it.
        pub holder: Uuid,
        /// When the lease ends if it is not released (a crashed holder).
        pub expires_at: DateTime<Utc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One cross-reference to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xref {
    /// The connector's kind of record.
    pub kind: &'static str,
    /// The record's id in the connector's system.
    pub external_id: String,
    /// The canonical key.
    pub canonical_key: Option<String>,
    /// The version published or written; `None` keeps the stored one (a command learnt the
    /// key, not a version).
    pub fingerprint: Option<String>,
}

impl Xref {
    /// `key` is the record `external_id` (no version).
    pub fn new(kind: &'static str, key: impl Into<String>, external_id: impl Into<String>) -> Self {
        Self {
            kind,
            external_id: external_id.into(),
            canonical_key: Some(key.into()),
            fingerprint: None,
        }
    }

    /// The same with the version written.
    pub fn with_fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self
    }
}

/// The cross-references of one connector's system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Xrefs {
    system: System,
}

impl Xrefs {
    /// The cross-references of `system`.
    pub const fn new(system: System) -> Self {
        Self { system }
    }

    fn scope(&self, integration: IntegrationId, kind: &str) -> sea_orm::Select<xref_row::Entity> {
        xref_row::Entity::find()
            .filter(xref_row::Column::System.eq(self.system.as_str()))
            .filter(xref_row::Column::IntegrationId.eq(integration.as_uuid()))
            .filter(xref_row::Column::Kind.eq(kind))
    }

    /// The record of a canonical key (the one written last when several share it).
    pub async fn by_key<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        kind: &str,
        key: &str,
    ) -> Result<Option<xref_row::Model>, DbErr> {
        self.scope(integration, kind)
            .filter(xref_row::Column::CanonicalKey.eq(key))
            .order_by_desc(xref_row::Column::UpdatedAt)
            .one(db)
            .await
    }

    /// The external id of a canonical key.
    pub async fn id_of<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        kind: &str,
        key: &str,
    ) -> Result<Option<String>, DbErr> {
        Ok(self
            .by_key(db, integration, kind, key)
            .await?
            .map(|r| r.external_id))
    }

    /// The record of an external id.
    pub async fn by_id<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        kind: &str,
        external_id: &str,
    ) -> Result<Option<xref_row::Model>, DbErr> {
        xref_row::Entity::find_by_id((
            self.system.as_str().to_owned(),
            integration.as_uuid(),
            kind.to_owned(),
            external_id.to_owned(),
        ))
        .one(db)
        .await
    }

    /// The records of `ids`, by external id.
    pub async fn by_ids<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        kind: &str,
        ids: &[String],
    ) -> Result<HashMap<String, xref_row::Model>, DbErr> {
        let mut out = HashMap::with_capacity(ids.len());
        // SQLite limits bound parameters per statement.
        for chunk in ids.chunks(500) {
            let rows = self
                .scope(integration, kind)
                .filter(xref_row::Column::ExternalId.is_in(chunk.iter().cloned()))
                .all(db)
                .await?;
            out.extend(rows.into_iter().map(|r| (r.external_id.clone(), r)));
        }
        Ok(out)
    }

    /// Inserts or updates cross-references; a row without a fingerprint keeps the stored one.
    pub async fn put<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        rows: &[Xref],
    ) -> Result<(), DbErr> {
        let rows: Vec<(IntegrationId, &Xref)> = rows.iter().map(|r| (integration, r)).collect();
        self.put_many(db, &rows).await
    }

    /// The same for rows of several integrations (the commands of a group commit). Of two rows
    /// of one record, the later is written (a statement may not write a row twice).
    pub async fn put_many<C: ConnectionTrait>(
        &self,
        db: &C,
        rows: &[(IntegrationId, &Xref)],
    ) -> Result<(), DbErr> {
        let mut versioned = Vec::new();
        let mut keys_only = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (integration, row) in rows.iter().rev() {
            let key = (
                row.fingerprint.is_some(),
                *integration,
                row.kind,
                row.external_id.as_str(),
            );
            if !seen.insert(key) {
                continue;
            }
            match row.fingerprint {
                Some(_) => versioned.push((*integration, *row)),
                None => keys_only.push((*integration, *row)),
            }
        }
        versioned.reverse();
        keys_only.reverse();
        self.write(db, &versioned, true).await?;
        self.write(db, &keys_only, false).await
    }

    /// Records `fingerprint` as the version of record `(kind, external_id)` unless that version
    /// is recorded already: true when this call recorded it (its caller publishes it), false
    /// when a concurrent reader of the same record did (a webhook's recheck, another recheck).
    /// One conditional upsert: on PostgreSQL a second claim of the same record waits for the
    /// first's transaction and then finds its version; SQLite writes one at a time.
    pub async fn claim_version<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
        kind: &str,
        external_id: &str,
        fingerprint: &str,
    ) -> Result<bool, DbErr> {
        let row = xref_row::ActiveModel {
            system: Set(self.system.as_str().to_owned()),
            integration_id: Set(integration.as_uuid()),
            kind: Set(kind.to_owned()),
            external_id: Set(external_id.to_owned()),
            canonical_key: Set(None),
            fingerprint: Set(Some(fingerprint.to_owned())),
            updated_at: Set(Utc::now()),
        };
        let claimed = xref_row::Entity::insert(row)
            .on_conflict(
                xref_key()
                    .update_columns([xref_row::Column::Fingerprint, xref_row::Column::UpdatedAt])
                    .action_and_where(Expr::cust(
                        "connector_xrefs.fingerprint IS NULL \
                     OR connector_xrefs.fingerprint <> excluded.fingerprint",
                    ))
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        Ok(claimed > 0)
    }

    async fn write<C: ConnectionTrait>(
        &self,
        db: &C,
        rows: &[(IntegrationId, &Xref)],
        with_fingerprint: bool,
    ) -> Result<(), DbErr> {
        let now = Utc::now();
        let mut columns = vec![xref_row::Column::CanonicalKey, xref_row::Column::UpdatedAt];
        if with_fingerprint {
            columns.push(xref_row::Column::Fingerprint);
        }
        for chunk in rows.chunks(500) {
            let models = chunk.iter().map(|(integration, r)| xref_row::ActiveModel {
                system: Set(self.system.as_str().to_owned()),
                integration_id: Set(integration.as_uuid()),
                kind: Set(r.kind.to_owned()),
                external_id: Set(r.external_id.clone()),
                canonical_key: Set(r.canonical_key.clone()),
                fingerprint: Set(r.fingerprint.clone()),
                updated_at: Set(now),
            });
            xref_row::Entity::insert_many(models)
                .on_conflict(xref_key().update_columns(columns.clone()).to_owned())
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }

    /// Forgets an integration's cross-references and leases (it was deleted).
    pub async fn forget<C: ConnectionTrait>(
        &self,
        db: &C,
        integration: IntegrationId,
    ) -> Result<(), DbErr> {
        xref_row::Entity::delete_many()
            .filter(xref_row::Column::System.eq(self.system.as_str()))
            .filter(xref_row::Column::IntegrationId.eq(integration.as_uuid()))
            .exec(db)
            .await?;
        lease_row::Entity::delete_many()
            .filter(lease_row::Column::System.eq(self.system.as_str()))
            .filter(lease_row::Column::IntegrationId.eq(integration.as_uuid()))
            .exec(db)
            .await?;
        Ok(())
    }

    /// Erases a person (GDPR) from the integration's cross-references and leases. A
    /// cross-reference whose canonical key holds the person's address keeps its external id
    /// and version fingerprint but loses the key: the change detection then still knows the
    /// record as seen and does not publish it again (unless it changes at the source), while
    /// nothing here names the person. One whose external id holds the address is deleted, and
    /// so is every lease on a record key holding it. Returns the rows (cross-references,
    /// leases) erased.
    pub async fn erase_person(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        integration: IntegrationId,
        person: &crate::gdpr::Fingerprint,
    ) -> Result<(u64, u64), DbErr> {
        let rows = xref_row::Entity::find()
            .filter(xref_row::Column::System.eq(self.system.as_str()))
            .filter(xref_row::Column::IntegrationId.eq(integration.as_uuid()))
            .filter(xref_row::Column::CanonicalKey.is_not_null())
            .all(txn)
            .await?;
        let mut xrefs = 0;
        for row in rows {
            if person.mentioned_in(&row.external_id) {
                xref_row::Entity::delete(xref_row::ActiveModel::from(row))
                    .exec(txn)
                    .await?;
                xrefs += 1;
            } else if row
                .canonical_key
                .as_deref()
                .is_some_and(|key| person.mentioned_in(key))
            {
                let mut active = xref_row::ActiveModel::from(row);
                active.canonical_key = Set(None);
                active.updated_at = Set(Utc::now());
                active.update(txn).await?;
                xrefs += 1;
            }
        }
        let leases = crate::gdpr::delete_mentioning(
            txn,
            lease_row::Entity::find()
                .filter(lease_row::Column::System.eq(self.system.as_str()))
                .filter(lease_row::Column::IntegrationId.eq(integration.as_uuid())),
            person,
            |row| vec![row.key.clone()],
        )
        .await?;
        Ok((xrefs, leases))
    }
}

/// A connector's erase of a person: its cross-references and leases (the platform erases its
/// outbox; cursors hold no personal data).
#[async_trait::async_trait]
impl crate::gdpr::Eraser for Xrefs {
    async fn erase(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        integration: IntegrationId,
        person: &crate::gdpr::Fingerprint,
    ) -> Result<crate::gdpr::ErasedRows, DbErr> {
        let (xrefs, leases) = self.erase_person(txn, integration, person).await?;
        Ok(crate::gdpr::ErasedRows::from([
            ("connector_xrefs", xrefs),
            ("connector_leases", leases),
        ]))
    }
}

/// One lease asked for: record `key` of `integration`, by `holder` (a fresh id per take).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRequest {
    /// The integration.
    pub integration: IntegrationId,
    /// The record (`customer:a@b.nl`).
    pub key: String,
    /// Who asks; the id to release it with.
    pub holder: Uuid,
}

/// Leases serializing commands on one record across replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leases {
    system: System,
}

impl Leases {
    /// The leases of `system`.
    pub const fn new(system: System) -> Self {
        Self { system }
    }

    /// Takes the leases of `requests` for `ttl`, each unless someone else holds an unexpired
    /// one (an expired one, a crashed holder's, is taken over); answers the holders that got
    /// theirs. One statement for them all: an insert whose conflicts update only an expired
    /// row. Of two requests for one record, the first is tried and the second is answered
    /// busy (a statement may not touch a row twice).
    pub async fn take_many<C: ConnectionTrait>(
        &self,
        db: &C,
        requests: &[LeaseRequest],
        ttl: Duration,
    ) -> Result<std::collections::HashSet<Uuid>, DbErr> {
        let now = Utc::now();
        let expires_at =
            now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60));
        let mut seen = std::collections::HashSet::new();
        let mut taken = std::collections::HashSet::new();
        // SQLite limits bound parameters per statement (5 per row).
        let tried: Vec<&LeaseRequest> = requests
            .iter()
            .filter(|r| seen.insert((r.integration, r.key.as_str())))
            .collect();
        for chunk in tried.chunks(150) {
            let mut insert = sea_orm::sea_query::Query::insert();
            insert
                .into_table(lease_row::Entity)
                .columns([
                    lease_row::Column::System,
                    lease_row::Column::IntegrationId,
                    lease_row::Column::Key,
                    lease_row::Column::Holder,
                    lease_row::Column::ExpiresAt,
                ])
                .on_conflict(
                    OnConflict::columns([
                        lease_row::Column::System,
                        lease_row::Column::IntegrationId,
                        lease_row::Column::Key,
                    ])
                    .update_columns([lease_row::Column::Holder, lease_row::Column::ExpiresAt])
                    .action_and_where(
                        Expr::col((lease_row::Entity, lease_row::Column::ExpiresAt)).lt(now),
                    )
                    .to_owned(),
                )
                .returning_col(lease_row::Column::Holder);
            for r in chunk {
                insert.values_panic([
                    self.system.as_str().into(),
                    r.integration.as_uuid().into(),
                    r.key.clone().into(),
                    r.holder.into(),
                    expires_at.into(),
                ]);
            }
            let backend = db.get_database_backend();
            for row in db.query_all(backend.build(&insert)).await? {
                taken.insert(row.try_get::<Uuid>("", "holder")?);
            }
        }
        Ok(taken)
    }

    /// Releases the leases `holders` took (one that expired and was taken over stays with
    /// its new holder). One statement.
    pub async fn release_many<C: ConnectionTrait>(
        &self,
        db: &C,
        holders: &[Uuid],
    ) -> Result<(), DbErr> {
        for chunk in holders.chunks(500) {
            lease_row::Entity::delete_many()
                .filter(lease_row::Column::System.eq(self.system.as_str()))
                .filter(lease_row::Column::Holder.is_in(chunk.iter().copied()))
                .exec(db)
                .await?;
        }
        Ok(())
    }
}

/// Creates the kit's tables (idempotent: every connector of an embedded process runs it).
pub struct CreateTables;

impl MigrationName for CreateTables {
    fn name(&self) -> &str {
        "m20261206_000001_connector_kit_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        super::tables::create_tables(
            manager,
            [
                schema.create_table_from_entity(xref_row::Entity),
                schema.create_table_from_entity(lease_row::Entity),
            ],
        )
        .await?;
        super::tables::create_index(
            manager,
            "connector_xrefs_canonical_key",
            xref_row::Entity,
            [
                xref_row::Column::System,
                xref_row::Column::IntegrationId,
                xref_row::Column::Kind,
                xref_row::Column::CanonicalKey,
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::tables::drop_tables(manager, &["connector_leases", "connector_xrefs"]).await
    }
}
