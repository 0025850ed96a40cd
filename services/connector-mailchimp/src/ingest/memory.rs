//! What the poll owner remembers of one integration between its polls (the kit's
//! [`PollMemory`]), so that an idle poll reads nothing from the database and writes only now
//! and then.
//!
//! | remembered | filled | kept current by |
//! | --- | --- | --- |
//! | the cursors and reconciliation times | read at the first poll of a lease | every sync's end |
//! | each scanned resource's seen versions (`mailchimp_seen`), all of them | read at the first scan of the resource under a lease | every page committed |
//!
//! A seen version is kept as two 64-bit digests, of the record id and of its `updated_at`
//! (~20 bytes a record with the map's overhead: ~2 MiB for a store of 100,000 records). Two ids
//! sharing a digest would have one record read for the other's version; at 2^-64 a pair, and
//! with the hourly reconciliation reading every record in full anyway, that is accepted.
//!
//! **Idle polls write rarely.** A poll that found nothing and failed nowhere stores its
//! cursors and runs only when the last store is [`STORE_IDLE_EVERY`] old. Until then the
//! stored watermark lags behind the remembered one: a replica taking the integration over
//! starts from the stored one and reads again what changed since (the content fingerprints
//! publish nothing twice); `GET .../cursors` shows a last poll up to that old.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ferry_platform::connector::cursors::cursor_row;
use ferry_proto::IntegrationId;
use sea_orm::{DatabaseConnection, DbErr};

use crate::resource::Resource;
use crate::store;

pub use ferry_platform::connector::poll::PollMemory;

/// How often an idle poll stores its cursors and runs.
pub const STORE_IDLE_EVERY: Duration = Duration::from_secs(30);

/// One integration's memory between polls (see the module).
#[derive(Debug, Default)]
pub struct Remembered {
    /// The cursors and reconciliation times, as last stored or read.
    starts: Option<Starts>,
    /// Per scanned resource, the versions seen (`None` until read).
    seen: HashMap<Resource, Seen>,
    /// When the ends were last stored under this memory.
    stored_at: Option<Instant>,
}

/// Where the syncs of an integration start: its cursors and when each resource was last
/// reconciled.
#[derive(Debug, Clone, Default)]
pub(super) struct Starts {
    pub cursors: Vec<cursor_row::Model>,
    pub reconciled: HashMap<String, DateTime<Utc>>,
}

impl Starts {
    /// The cursor of `resource`, if any.
    pub fn cursor(&self, resource: Resource) -> Option<cursor_row::Model> {
        self.cursors
            .iter()
            .find(|c| c.resource == resource.as_str())
            .cloned()
    }

    /// When `resource` was last reconciled.
    pub fn reconciled(&self, resource: Resource) -> Option<DateTime<Utc>> {
        self.reconciled.get(resource.as_str()).copied()
    }

    /// Reads them.
    pub async fn read(db: &DatabaseConnection, integration: IntegrationId) -> Result<Self, DbErr> {
        let (cursors, reconciled) = tokio::try_join!(
            store::CURSORS.all(db, integration),
            store::reconciled(db, integration)
        )?;
        Ok(Self {
            cursors,
            reconciled,
        })
    }
}

impl Remembered {
    /// Where the syncs start: remembered, or read (and then remembered).
    pub(super) async fn starts(
        memory: Option<&mut Self>,
        db: &DatabaseConnection,
        integration: IntegrationId,
    ) -> Result<Starts, DbErr> {
        match memory {
            Some(Self {
                starts: Some(starts),
                ..
            }) => Ok(starts.clone()),
            Some(memory) => {
                let starts = Starts::read(db, integration).await?;
                memory.starts = Some(starts.clone());
                Ok(starts)
            }
            None => Starts::read(db, integration).await,
        }
    }

    /// A sync of `resource` ended at `cursor` (stored, or about to be, with the poll's ends);
    /// `reconciled`: it was a full-record pass, ended then.
    pub(super) fn ended(&mut self, cursor: &cursor_row::Model, reconciled: Option<DateTime<Utc>>) {
        let Some(starts) = &mut self.starts else {
            return;
        };
        match starts
            .cursors
            .iter_mut()
            .find(|c| c.resource == cursor.resource)
        {
            Some(c) => *c = cursor.clone(),
            None => starts.cursors.push(cursor.clone()),
        }
        if let Some(at) = reconciled {
            starts.reconciled.insert(cursor.resource.clone(), at);
        }
    }

    /// Whether an idle poll's ends need storing now (else they wait, see the module).
    pub(super) fn store_due(&self) -> bool {
        self.stored_at
            .is_none_or(|at| at.elapsed() >= STORE_IDLE_EVERY)
    }

    /// The ends were stored (`true`), or storing them failed (`false`: the next poll stores).
    pub(super) fn stored(&mut self, ok: bool) {
        self.stored_at = ok.then(Instant::now);
    }

    /// The versions seen of `resource`.
    pub(super) fn seen(&mut self, resource: Resource) -> &mut Seen {
        self.seen.entry(resource).or_default()
    }
}

/// The versions seen of one resource: every record's, once read.
#[derive(Debug, Default)]
pub struct Seen(Option<HashMap<u64, u64>>);

fn digest(text: &str) -> u64 {
    // SipHash with fixed keys: stable within the process, which is all a memory needs.
    let mut h = std::hash::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl Seen {
    /// Versions read from the database (`id -> version`), e.g. of one page's records.
    pub(super) fn of(versions: &HashMap<String, String>) -> Self {
        Self(Some(
            versions
                .iter()
                .map(|(id, v)| (digest(id), digest(v)))
                .collect(),
        ))
    }

    /// Reads them all when not read yet under this memory.
    pub(super) async fn load(
        &mut self,
        db: &DatabaseConnection,
        integration: IntegrationId,
        resource: Resource,
    ) -> Result<(), DbErr> {
        if self.0.is_some() {
            return Ok(());
        }
        let mut versions = HashMap::new();
        store::each_seen(db, integration, resource.as_str(), |id, version| {
            versions.insert(digest(id), digest(version));
        })
        .await?;
        self.0 = Some(versions);
        Ok(())
    }

    /// Whether `version` of record `id` is the one last read in full (`false` when not
    /// loaded).
    pub(super) fn is(&self, id: &str, version: &str) -> bool {
        self.0
            .as_ref()
            .and_then(|v| v.get(&digest(id)))
            .is_some_and(|seen| *seen == digest(version))
    }

    /// Records versions read in full and committed (nothing when not loaded: the stored
    /// ones are read when it is).
    pub(super) fn put(&mut self, versions: &[(String, String)]) {
        if let Some(seen) = &mut self.0 {
            seen.extend(versions.iter().map(|(id, v)| (digest(id), digest(v))));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seen_versions_compare_by_digest_and_only_once_loaded() {
        let mut seen = Seen::default();
        seen.put(&[("a".into(), "2026-01-01T00:00:00+00:00".into())]);
        assert!(!seen.is("a", "2026-01-01T00:00:00+00:00"), "not loaded");
        seen.0 = Some(HashMap::new());
        seen.put(&[("a".into(), "2026-01-01T00:00:00+00:00".into())]);
        assert!(seen.is("a", "2026-01-01T00:00:00+00:00"));
        assert!(!seen.is("a", "2026-01-01T00:00:01+00:00"));
        assert!(!seen.is("b", "2026-01-01T00:00:00+00:00"));
        seen.put(&[("a".into(), "2026-01-01T00:00:01+00:00".into())]);
        assert!(seen.is("a", "2026-01-01T00:00:01+00:00"));
    }

    #[test]
    fn ends_update_the_remembered_cursors() {
        let mut memory = Remembered::default();
        let mut cursor = store::CURSORS.unmoved(
            IntegrationId::from_uuid(uuid::Uuid::from_u128(1)).unwrap(),
            "orders",
        );
        memory.ended(&cursor, None);
        assert!(
            memory.starts.is_none(),
            "nothing remembered, nothing to update"
        );
        memory.starts = Some(Starts::default());
        memory.ended(&cursor, None);
        cursor.records = 5;
        let at = Utc::now();
        memory.ended(&cursor, Some(at));
        let starts = memory.starts.as_ref().unwrap();
        assert_eq!(starts.cursors.len(), 1);
        assert_eq!(starts.cursor(Resource::Orders).unwrap().records, 5);
        assert_eq!(starts.reconciled(Resource::Orders), Some(at));
        assert!(memory.store_due());
        memory.stored(true);
        assert!(!memory.store_due());
        memory.stored(false);
        assert!(memory.store_due());
    }
}
