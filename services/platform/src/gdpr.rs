//! Erasing a person in every service (GDPR).
//!
//! The notifier's `POST /api/v1/gdpr/erase` publishes one `ferry.person.erase-requested` per
//! integration ([`ferry_proto::messages::PersonEraseRequested`]). It names the person only by a
//! [`Fingerprint`]: the SHA-256 of the normalised e-mail address. A service finds its rows
//! about the person by hashing the addresses in them ([`Fingerprint::mentioned_in`]); the
//! address itself never travels and is never stored for the erase.
//!
//! Each service wraps its queue's handler in an [`ErasingHandler`]:
//!
//! - on the erase request it deletes the service's pending outbox messages about the person
//!   and runs the service's [`Eraser`] (sagas, resolutions, cross-references, ...), in one
//!   transaction, and writes an audit row in `ferry_erasures` (who, when, how many rows per
//!   table; the fingerprint, never the address). A repeated request is recognised by its
//!   audit row and changes nothing;
//! - every other delivery that mentions an erased person and occurred before the erase was
//!   requested (a message still queued, a retry, a replayed dead letter) is acknowledged
//!   without effect: the audit row is the tombstone.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_proto::messages::PersonEraseRequested;
use ferry_proto::{Envelope, IntegrationId, Message};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Index, OnConflict};
use sea_orm::{
    ActiveModelBehavior, DatabaseConnection, DatabaseTransaction, IntoActiveModel, Schema, Select,
    Set, TransactionTrait,
};
use sea_orm_migration::prelude::{MigrationName, MigrationTrait, SchemaManager};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::bus::store::outbox_row;
use crate::bus::{Delivery, Handler, Outcome};
use crate::coalesce::Coalescer;

/// A person as the erase knows them: SHA-256 (hex) of the trimmed, lower-cased e-mail address.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({}…)", &self.0[..12])
    }
}

impl Fingerprint {
    /// The fingerprint of an address.
    pub fn of_email(email: &ferry_proto::Email) -> Self {
        Self::of_address(email.as_str())
    }

    fn of_address(address: &str) -> Self {
        Self(hex::encode(Sha256::digest(
            address.trim().to_lowercase().as_bytes(),
        )))
    }

    /// Reads a fingerprint as the erase message carries it (64 hex digits).
    pub fn parse(hex: &str) -> Option<Self> {
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(hex.to_ascii_lowercase()))
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `text` holds the person's address (anywhere, in any case).
    pub fn mentioned_in(&self, text: &str) -> bool {
        addresses_in(text).any(|a| Self::of_address(a) == *self)
    }

    /// Whether any of `texts` holds the person's address.
    pub fn mentioned_in_any<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> bool {
        texts.into_iter().any(|t| self.mentioned_in(t))
    }
}

fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || "._%+-!#$&'*/=?^`{|}~".contains(c)
}

fn is_domain_char(c: char) -> bool {
    c.is_alphanumeric() || c == '.' || c == '-'
}

/// Every e-mail-like token of `text` (`local@domain`), as written; candidates, not validated.
pub fn addresses_in(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices('@').filter_map(move |(at, _)| {
        let start = text[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_local_char(*c))
            .last()
            .map(|(i, _)| i)?;
        let after = at + 1;
        let len: usize = text[after..]
            .chars()
            .take_while(|c| is_domain_char(*c))
            .map(char::len_utf8)
            .sum();
        let domain = text[after..after + len].trim_end_matches(['.', '-']);
        (!domain.is_empty()).then(|| &text[start..after + domain.len()])
    })
}

/// `text` with every address of the person replaced by `[erased]`.
pub fn redact(text: &str, person: &Fingerprint) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for address in addresses_in(text) {
        if Fingerprint::of_address(address) != *person {
            continue;
        }
        let at = address.as_ptr() as usize - text.as_ptr() as usize;
        if at < rest {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str("[erased]");
        rest = at + address.len();
    }
    out.push_str(&text[rest..]);
    out
}

/// What a service erases of a person beyond the platform's tables (its outbox).
#[async_trait]
pub trait Eraser: Send + Sync + 'static {
    /// Erases (deletes or redacts) every row of `integration` that mentions `person`, inside
    /// `txn`; returns the rows affected per table.
    async fn erase(
        &self,
        txn: &DatabaseTransaction,
        integration: IntegrationId,
        person: &Fingerprint,
    ) -> Result<ErasedRows, DbErr>;
}

/// Rows affected per table.
pub type ErasedRows = BTreeMap<&'static str, u64>;

/// For services whose only rows about people are the platform's (the mapper).
pub struct NothingElse;

#[async_trait]
impl Eraser for NothingElse {
    async fn erase(
        &self,
        _: &DatabaseTransaction,
        _: IntegrationId,
        _: &Fingerprint,
    ) -> Result<ErasedRows, DbErr> {
        Ok(ErasedRows::new())
    }
}

/// Deletes every row `select` finds whose texts (`texts`) mention `person`; returns how many.
/// Reads the candidates in Rust: the rows hold addresses, the erase only their fingerprint.
pub async fn delete_mentioning<E, F>(
    txn: &DatabaseTransaction,
    select: Select<E>,
    person: &Fingerprint,
    texts: F,
) -> Result<u64, DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
    F: Fn(&E::Model) -> Vec<String>,
{
    let mut deleted = 0;
    for row in select.all(txn).await? {
        if person.mentioned_in_any(texts(&row).iter().map(String::as_str)) {
            row.into_active_model().delete(txn).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// `ferry_erasures`: the audit of every erase per service and integration, and the tombstones
/// that drop messages about an erased person still queued.
pub mod erasure_row {
    use sea_orm::entity::prelude::*;

    /// One service's erase of one person in one integration.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ferry_erasures")]
    pub struct Model {
        /// The erase request.
        #[sea_orm(primary_key, auto_increment = false)]
        pub erase_id: Uuid,
        /// The service that erased.
        #[sea_orm(primary_key, auto_increment = false)]
        pub service: String,
        /// The integration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub integration_id: String,
        /// SHA-256 of the person's normalised address (never the address).
        pub fingerprint: String,
        /// Who asked.
        pub requested_by: String,
        /// When it was asked for (messages that occurred before are dropped).
        pub requested_at: DateTimeUtc,
        /// When this service erased.
        pub erased_at: DateTimeUtc,
        /// Rows erased in total.
        pub rows: i64,
        /// Rows erased per table (JSON object).
        pub tables: Json,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `ferry_erasures`. Include it in every service's migrator (idempotent: the embedded
/// default runs it once for all).
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000001_gdpr_erasures"
    }
}

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(
                schema
                    .create_table_from_entity(erasure_row::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ferry_erasures_integration")
                    .table(erasure_row::Entity)
                    .col(erasure_row::Column::IntegrationId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

/// Writes the audit row (and tombstone) of one erase; `false` when it was written before.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    service: &str,
    integration: IntegrationId,
    request: &PersonEraseRequested,
    tables: &ErasedRows,
) -> Result<bool, DbErr> {
    let rows: u64 = tables.values().sum();
    let row = erasure_row::ActiveModel {
        erase_id: Set(request.erase_id),
        service: Set(service.to_owned()),
        integration_id: Set(integration.to_string()),
        fingerprint: Set(request.fingerprint.clone()),
        requested_by: Set(request.requested_by.clone()),
        requested_at: Set(request.requested_at),
        erased_at: Set(Utc::now()),
        rows: Set(i64::try_from(rows).unwrap_or(i64::MAX)),
        tables: Set(serde_json::to_value(tables).unwrap_or(Value::Null)),
    };
    let inserted = erasure_row::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                erasure_row::Column::EraseId,
                erasure_row::Column::Service,
                erasure_row::Column::IntegrationId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(inserted == 1)
}

/// The erased people of one integration, with the latest time each erase was asked for.
pub type Tombstones = Vec<(Fingerprint, DateTime<Utc>)>;

/// The erased people of an integration ([`Tombstones`]).
pub async fn tombstones<C: ConnectionTrait>(
    conn: &C,
    integration: &str,
) -> Result<Tombstones, DbErr> {
    let mut found = tombstones_of_many(conn, &[integration.to_owned()]).await?;
    Ok(found.remove(integration).unwrap_or_default())
}

/// The [`Tombstones`] of several integrations in one query; integrations without any are
/// left out.
pub async fn tombstones_of_many<C: ConnectionTrait>(
    conn: &C,
    integrations: &[String],
) -> Result<HashMap<String, Tombstones>, DbErr> {
    let mut latest: BTreeMap<(String, String), DateTime<Utc>> = BTreeMap::new();
    for row in erasure_row::Entity::find()
        .filter(erasure_row::Column::IntegrationId.is_in(integrations.iter().cloned()))
        .all(conn)
        .await?
    {
        let at = latest
            .entry((row.integration_id, row.fingerprint))
            .or_insert(row.requested_at);
        *at = (*at).max(row.requested_at);
    }
    let mut by_integration: HashMap<String, Tombstones> = HashMap::new();
    for ((integration, fp), at) in latest {
        if let Some(person) = Fingerprint::parse(&fp) {
            by_integration
                .entry(integration)
                .or_default()
                .push((person, at));
        }
    }
    Ok(by_integration)
}

/// Whether a message with `body` that occurred at `occurred_at` mentions a person of
/// `erased` ([`tombstones`]) whose erase was asked for at or after that time.
pub fn about_an_erased_person(
    erased: &[(Fingerprint, DateTime<Utc>)],
    occurred_at: DateTime<Utc>,
    body: &str,
) -> bool {
    body.contains('@')
        && erased
            .iter()
            .any(|(person, at)| occurred_at <= *at && person.mentioned_in(body))
}

/// Integrations whose tombstones one shared read asks for at most.
const TOMBSTONE_READS_PER_QUERY: usize = 100;

/// A service's handler with the erase in front (see the module).
pub struct ErasingHandler {
    service: &'static str,
    db: DatabaseConnection,
    eraser: Arc<dyn Eraser>,
    inner: Arc<dyn Handler>,
    /// Whether deliveries are checked against the tombstones here (else `inner` does it).
    check_tombstones: bool,
    /// The tombstone reads of concurrent deliveries, one query per batch (see
    /// [`ErasingHandler::about_erased`]).
    reads: Coalescer<String, Arc<Tombstones>, Arc<DbErr>>,
}

impl ErasingHandler {
    /// `inner` behind the erase of `service` (its outbox `source` and audit name).
    pub fn new(
        service: &'static str,
        db: DatabaseConnection,
        eraser: Arc<dyn Eraser>,
        inner: Arc<dyn Handler>,
    ) -> Self {
        Self {
            service,
            db,
            eraser,
            inner,
            check_tombstones: true,
            reads: Coalescer::new(TOMBSTONE_READS_PER_QUERY),
        }
    }

    /// For an `inner` handler that reads the tombstones inside its own transaction (with
    /// [`about_an_erased_person`]): deliveries are no longer checked here first, which would
    /// read them a second time.
    pub fn tombstones_checked_by_inner(mut self) -> Self {
        self.check_tombstones = false;
        self
    }

    /// Erases the person of `request` in `integration`; returns the rows per table, or `None`
    /// when this service had done it before.
    pub async fn erase(
        &self,
        integration: IntegrationId,
        request: &PersonEraseRequested,
    ) -> Result<Option<ErasedRows>, DbErr> {
        let Some(person) = Fingerprint::parse(&request.fingerprint) else {
            return Ok(Some(ErasedRows::new()));
        };
        let txn = self.db.begin().await?;
        let done_before = erasure_row::Entity::find_by_id((
            request.erase_id,
            self.service.to_owned(),
            integration.to_string(),
        ))
        .one(&txn)
        .await?
        .is_some();
        if done_before {
            txn.commit().await?;
            return Ok(None);
        }
        let mut tables = self.eraser.erase(&txn, integration, &person).await?;
        let outbox = delete_mentioning(
            &txn,
            outbox_row::Entity::find().filter(outbox_row::Column::Source.eq(self.service)),
            &person,
            |row| vec![String::from_utf8_lossy(&row.body).into_owned()],
        )
        .await?;
        tables.insert("ferry_outbox", outbox);
        record(&txn, self.service, integration, request, &tables).await?;
        txn.commit().await?;
        Ok(Some(tables))
    }

    /// Whether `envelope` is about a person erased after it occurred.
    ///
    /// The tombstones are read for every such delivery, never cached: a cache could miss an
    /// erase another replica committed a moment ago. Concurrent deliveries share the read
    /// ([`Coalescer`]): a delivery joins a query that starts after it arrived, so it sees every
    /// erase committed before, exactly as a query of its own would, and under load one query
    /// answers the deliveries of many integrations.
    async fn about_erased(&self, body: &str, envelope: &Envelope<Value>) -> Result<bool, DbErr> {
        if !self.check_tombstones || !body.contains('@') {
            return Ok(false);
        }
        let erased = self
            .reads
            .load(
                envelope.integration_id.to_string(),
                |integrations| async move {
                    let found = tombstones_of_many(&self.db, &integrations)
                        .await
                        .map_err(Arc::new)?;
                    Ok(found
                        .into_iter()
                        .map(|(integration, erased)| (integration, Arc::new(erased)))
                        .collect())
                },
            )
            .await
            .map_err(|e| DbErr::Custom(e.to_string()))?;
        Ok(
            erased
                .is_some_and(|erased| about_an_erased_person(&erased, envelope.occurred_at, body)),
        )
    }
}

#[async_trait]
impl Handler for ErasingHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let body = String::from_utf8_lossy(&delivery.message.body);
        let Ok(envelope) = Envelope::<Value>::from_json_slice(&delivery.message.body) else {
            return self.inner.handle(delivery).await; // the service parks what it cannot read
        };
        if envelope.message_type == PersonEraseRequested::MESSAGE_TYPE {
            let request = match envelope.into_typed::<PersonEraseRequested>() {
                Ok(request) => request,
                Err(e) => return Outcome::DeadLetter(format!("unreadable erase request: {e}")),
            };
            return match self.erase(request.integration_id, &request.payload).await {
                Ok(Some(tables)) => {
                    tracing::info!(
                        service = self.service,
                        integration = %request.integration_id,
                        erase_id = %request.payload.erase_id,
                        by = %request.payload.requested_by,
                        rows = tables.values().sum::<u64>(),
                        ?tables,
                        "person erased"
                    );
                    Outcome::Ack
                }
                Ok(None) => Outcome::Ack,
                Err(e) => Outcome::Retry(format!("erase failed: {e}")),
            };
        }
        match self.about_erased(&body, &envelope).await {
            Ok(true) => {
                tracing::info!(
                    service = self.service,
                    integration = %envelope.integration_id,
                    message_id = %envelope.message_id,
                    message_type = %envelope.message_type,
                    "message about an erased person dropped"
                );
                Outcome::Ack
            }
            Ok(false) => self.inner.handle(delivery).await,
            Err(e) => Outcome::Retry(format!("cannot read the erase tombstones: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(address: &str) -> Fingerprint {
        Fingerprint::of_email(&ferry_proto::Email::parse(address).expect("address"))
    }

    #[test]
    fn finds_addresses_in_json_and_text() {
        let text = r#"{"email":"Jan.de-Vries+shop@Example.NL","note":"mail a@b.nl."}"#;
        let found: Vec<&str> = addresses_in(text).collect();
        assert_eq!(found, ["Jan.de-Vries+shop@Example.NL", "a@b.nl"]);
        assert!(fp("jan.de-vries+shop@example.nl").mentioned_in(text));
        assert!(!fp("jan@example.nl").mentioned_in(text));
        assert!(!fp("a@b.nl").mentioned_in("no address @ here"));
    }

    #[test]
    fn redacts_only_the_person() {
        let person = fp("a@b.nl");
        assert_eq!(
            redact("from A@B.nl to c@d.nl, again a@b.nl", &person),
            "from [erased] to c@d.nl, again [erased]"
        );
    }

    #[test]
    fn fingerprints_are_sha256_hex_of_the_normalised_address() {
        let person = fp(" Someone@Example.com ");
        assert_eq!(person.as_str().len(), 64);
        assert_eq!(Fingerprint::parse(person.as_str()), Some(person.clone()));
        assert_eq!(Fingerprint::parse("zz"), None);
        assert_eq!(person, fp("someone@example.com"));
    }
}
