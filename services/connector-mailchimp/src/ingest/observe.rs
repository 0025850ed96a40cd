//! The conversion side of a sync: each record read in full becomes events and
//! cross-references (a new version), a recheck command (invalid: parked with its reason) or
//! nothing (unchanged); the message id of one version of one record.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ferry_platform::bus::{BusMessage, with_new_trace};
use ferry_platform::connector::Xref;
use ferry_platform::connector::ingest;
use ferry_proto::messages::{CustomerObserved, OrderObserved, ProductObserved, StockObserved};
use ferry_proto::{Envelope, IntegrationId, Message, MessageId, System};
use sea_orm::DbErr;
use serde_json::Value;
use uuid::Uuid;

use super::{IngestError, Ingester, RecordRecheck, SyncReport};
use crate::integrations::Integration;
use crate::records::{self, Rejected};
use crate::resource::Resource;
use crate::store::{XREFS, XrefKind};

/// Events and cross-references decided for a batch of records (the kit's page), and what
/// the sync reports of it.
pub(super) struct Batch {
    pub(super) page: ingest::Batch,
    pub(super) report: SyncReport,
}

impl Ingester {
    /// Decides, for each record, whether to publish it (and what), park it or skip it.
    pub(super) async fn decide(
        &self,
        integration: &Integration,
        resource: Resource,
        records: &[Value],
        force: bool,
        run: Uuid,
    ) -> Result<Batch, IngestError> {
        let kind = resource.xref_kind();
        let ids: Vec<String> = records.iter().map(|r| record_id(resource, r)).collect();
        let known = XREFS
            .by_ids(&self.db, integration.id(), kind.as_str(), &ids)
            .await?;
        let variant_skus = if resource == Resource::Orders {
            self.variant_skus(integration, records).await?
        } else {
            HashMap::new()
        };
        let mut batch = Batch {
            page: self.pipeline.batch(integration.id(), run),
            report: SyncReport::default(),
        };
        for (raw, id) in records.iter().zip(ids) {
            batch.report.read += 1;
            let fingerprint = records::fingerprint(raw);
            let unchanged = known
                .get(&id)
                .is_some_and(|x| x.fingerprint.as_deref() == Some(fingerprint.as_str()));
            if unchanged && !force {
                batch.report.unchanged += 1;
                continue;
            }
            match self.observe(integration, resource, raw, &id, &variant_skus, run, force) {
                Ok((messages, xrefs)) => {
                    batch.page.events.extend(messages);
                    batch.page.xrefs.extend(xrefs);
                    batch.report.published += 1;
                }
                Err(ObserveError::Rejected(rejected)) => {
                    tracing::warn!(resource = resource.as_str(), id = %id, reason = %rejected.reason, "MailChimp record is invalid; parking it");
                    let recheck = RecordRecheck {
                        target: System::Mailchimp,
                        resource,
                        mailchimp_id: id.clone(),
                        reason: Some(rejected.to_string()),
                        raw: raw.clone(),
                    };
                    let rid = (!force).then(|| {
                        version_id(
                            integration.id(),
                            resource,
                            &id,
                            &fingerprint,
                            records::changed_at(raw),
                            "recheck",
                        )
                    });
                    batch.page.events.push(message(stamp(
                        Envelope::new(integration.id(), recheck),
                        run,
                        rid,
                    ))?);
                    batch.page.xrefs.push(Xref {
                        kind: kind.as_str(),
                        external_id: id,
                        canonical_key: None,
                        fingerprint: Some(fingerprint),
                    });
                    batch.report.rejected += 1;
                }
                Err(ObserveError::Encode(e)) => return Err(IngestError::Encode(e)),
            }
        }
        Ok(batch)
    }

    /// SKUs of the variants named by the order lines of `orders`, where known.
    pub(super) async fn variant_skus(
        &self,
        integration: &Integration,
        orders: &[Value],
    ) -> Result<HashMap<String, String>, DbErr> {
        let mut keys = Vec::new();
        for o in orders {
            for l in o
                .get("lines")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let p = records::text(l, "product_id").unwrap_or_default();
                let v = records::text(l, "product_variant_id").unwrap_or_default();
                keys.push(format!("{p}/{v}"));
            }
        }
        let found = XREFS
            .by_ids(
                &self.db,
                integration.id(),
                XrefKind::Variant.as_str(),
                &keys,
            )
            .await?;
        Ok(found
            .into_values()
            .filter_map(|x| {
                let variant = x.external_id.split_once('/')?.1.to_owned();
                Some((variant, x.canonical_key?))
            })
            .collect())
    }

    /// The events and cross-references of one valid record.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn observe(
        &self,
        integration: &Integration,
        resource: Resource,
        raw: &Value,
        id: &str,
        variant_skus: &HashMap<String, String>,
        run: Uuid,
        fresh: bool,
    ) -> Result<(Vec<BusMessage>, Vec<Xref>), ObserveError> {
        let iid = integration.id();
        let c = &integration.connection;
        let version = records::fingerprint(raw);
        // One version of one record is one message id (unless a full sync republishes on
        // purpose): a second replica, a crash between commit and cursor, or a webhook racing a
        // poll publish the same id, which every consumer's inbox absorbs.
        let at = records::changed_at(raw);
        let envelope = |payload_key: &str| -> Option<MessageId> {
            (!fresh).then(|| version_id(iid, resource, id, &version, at, payload_key))
        };
        let kind = resource.xref_kind();
        // The record's own cross-reference: its MailChimp id to its canonical key.
        let own = |key: String| Xref {
            kind: kind.as_str(),
            external_id: id.to_owned(),
            canonical_key: Some(key),
            fingerprint: Some(version.clone()),
        };
        let mut messages = Vec::new();
        let mut xrefs = Vec::new();
        match resource {
            Resource::Members | Resource::Customers => {
                let customer = if resource == Resource::Members {
                    records::member(raw, &c.company_merge_field)?
                } else {
                    records::customer(raw)?
                };
                xrefs.push(own(customer.email.to_string()));
                let event = CustomerObserved {
                    source: System::Mailchimp,
                    customer,
                    raw: raw.clone(),
                };
                messages.push(observed(iid, event, run, envelope(""))?);
            }
            Resource::Products => {
                let product = records::product(raw, c.currency)?;
                xrefs.push(own(product.sku.to_string()));
                for (vid, sku) in records::variant_keys(raw) {
                    xrefs.push(Xref {
                        kind: XrefKind::Variant.as_str(),
                        external_id: format!("{id}/{vid}"),
                        canonical_key: Some(sku),
                        fingerprint: None,
                    });
                }
                if c.publish_stock {
                    for stock in records::stock_levels(raw, Utc::now()) {
                        let key = format!("stock:{}", stock.sku);
                        let event = StockObserved {
                            source: System::Mailchimp,
                            stock,
                            raw: raw.clone(),
                        };
                        messages.push(observed(iid, event, run, envelope(&key))?);
                    }
                }
                let event = ProductObserved {
                    source: System::Mailchimp,
                    product,
                    raw: raw.clone(),
                };
                messages.push(observed(iid, event, run, envelope(""))?);
            }
            Resource::Orders => {
                let order = records::order(raw, c.currency, variant_skus)?;
                xrefs.push(own(order.external_id.to_string()));
                let event = OrderObserved {
                    source: System::Mailchimp,
                    order,
                    raw: raw.clone(),
                };
                messages.push(observed(iid, event, run, envelope(""))?);
            }
        }
        Ok((messages, xrefs))
    }
}

/// The bus message of one observed event of sync run `run` (message id `id` when given).
fn observed<P: Message>(
    integration: IntegrationId,
    event: P,
    run: Uuid,
    id: Option<MessageId>,
) -> Result<BusMessage, ObserveError> {
    message(stamp(Envelope::new(integration, event), run, id))
}

/// Sets the correlation id and, when given, the message id.
pub(super) fn stamp<P: Message>(
    mut envelope: Envelope<P>,
    run: Uuid,
    id: Option<MessageId>,
) -> Envelope<P> {
    if let Some(id) = id {
        envelope.message_id = id;
    }
    envelope.with_correlation(run)
}

/// The message id of one version of one record: a UUID v7 whose time is when the record
/// changed (`at`) and whose other bits are a digest of integration, resource, record id,
/// version and `part`.
pub fn version_id(
    integration: IntegrationId,
    resource: Resource,
    id: &str,
    version: &str,
    at: Option<DateTime<Utc>>,
    part: &str,
) -> MessageId {
    use md5::{Digest, Md5};
    let millis = at
        .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
        .unwrap_or(0);
    let digest = Md5::digest(
        format!("{integration}|{}|{id}|{version}|{part}", resource.as_str()).as_bytes(),
    );
    let mut bits = [0u8; 10];
    bits.copy_from_slice(&digest[..10]);
    let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &bits).into_uuid();
    MessageId::from_uuid(uuid).unwrap_or_default()
}

/// The MailChimp id of a record (for a record without one: a digest of it, so it can still
/// be parked and found).
pub(super) fn record_id(resource: Resource, raw: &Value) -> String {
    let id = match resource {
        Resource::Members => records::text(raw, "id").map(str::to_owned),
        _ => records::id_of(raw),
    };
    id.unwrap_or_else(|| format!("no-id-{}", records::fingerprint(raw)))
}

/// Why a record was not observed: invalid (parked) or not encodable.
pub(crate) enum ObserveError {
    Rejected(Rejected),
    Encode(String),
}

impl From<Rejected> for ObserveError {
    fn from(r: Rejected) -> Self {
        Self::Rejected(r)
    }
}

impl From<ObserveError> for IngestError {
    fn from(e: ObserveError) -> Self {
        match e {
            ObserveError::Rejected(r) => IngestError::Encode(r.to_string()),
            ObserveError::Encode(e) => IngestError::Encode(e),
        }
    }
}

/// The bus form of an observed record's envelope, starting a trace of its own (linked to the
/// sync run's span).
pub(crate) fn message<P: Message>(envelope: Envelope<P>) -> Result<BusMessage, ObserveError> {
    BusMessage::from_envelope(&with_new_trace(envelope))
        .map_err(|e| ObserveError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_version_of_one_record_is_one_time_ordered_message_id() {
        let integration = IntegrationId::new();
        let t1 = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+00:00")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        let t2 = t1.map(|t| t + chrono::Duration::seconds(1));
        let id = |i: IntegrationId, r: Resource, rec: &str, v: &str, at| {
            version_id(i, r, rec, v, at, "")
        };
        let a = id(integration, Resource::Customers, "c1", "v1", t1);
        assert_eq!(a, id(integration, Resource::Customers, "c1", "v1", t1));
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert_ne!(a, id(integration, Resource::Customers, "c2", "v1", t1));
        assert_ne!(a, id(integration, Resource::Customers, "c1", "v2", t1));
        assert_ne!(a, id(integration, Resource::Members, "c1", "v1", t1));
        assert_ne!(
            a,
            id(IntegrationId::new(), Resource::Customers, "c1", "v1", t1)
        );
        assert!(
            id(integration, Resource::Customers, "c1", "v2", t2) > a,
            "newer versions sort later"
        );
    }
}
