//! `mailchimp.record.recheck`: this connector's command to itself for a record that was
//! invalid when polled, or named by a list webhook: read it again, publish it when valid and
//! new, park it with its reason when still invalid.

use std::collections::HashMap;

use ferry_proto::{Envelope, Message, MessageKind, System};
use schemars::JsonSchema;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::observe::ObserveError;
use super::{IngestError, Ingester};
use crate::client::{ClientError, segment};
use crate::integrations::Integration;
use crate::records::{self, Rejected};
use crate::resource::Resource;
use crate::store::XREFS;
use crate::variants;

/// Command to this connector itself: read a record again and publish it, or park it when it is
/// (still) invalid. Sent for invalid polled records and for list webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecordRecheck {
    /// Always `mailchimp`.
    pub target: System,
    /// Which collection.
    pub resource: Resource,
    /// The record's MailChimp id (a subscriber hash for members).
    pub mailchimp_id: String,
    /// Why it was not published, when it was found invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The record (or webhook data) as received.
    #[serde(default)]
    pub raw: Value,
}

impl Message for RecordRecheck {
    const MESSAGE_TYPE: &'static str = "record.recheck";
    const SCHEMA_VERSION: u16 = 1;
    const KIND: MessageKind = MessageKind::Command;

    fn system(&self) -> System {
        self.target
    }

    fn record_key(&self) -> Option<String> {
        Some(format!("{}/{}", self.resource.as_str(), self.mailchimp_id))
    }
}

/// What handling a [`RecordRecheck`] decided.
#[derive(Debug)]
pub enum RecheckOutcome {
    /// Published (or already published in this version).
    Done,
    /// The record no longer exists in MailChimp.
    Gone,
    /// Still invalid: park it with this reason.
    Invalid(Rejected),
}

impl Ingester {
    /// Reads the record a [`RecordRecheck`] names; `None` when it no longer exists.
    pub async fn fetch(
        &self,
        integration: &Integration,
        recheck: &RecordRecheck,
    ) -> Result<Option<Value>, ClientError> {
        let resource = recheck.resource;
        let id = &recheck.mailchimp_id;
        let path = match resource {
            Resource::Members => format!("{}/members/{}", integration.list_path(), segment(id)),
            _ => format!(
                "{}/{}/{}",
                integration.store_path(),
                resource.as_str(),
                segment(id)
            ),
        };
        let mut raw = integration
            .client
            .get_opt(resource.get_op(), &path, &[])
            .await?;
        if let (Resource::Products, Some(product)) = (resource, raw.as_mut()) {
            variants::complete(&integration.client, &integration.store_path(), product).await?;
        }
        Ok(raw)
    }

    /// Publishes the record `raw` read for a [`RecordRecheck`] if it is valid and this version
    /// was not published yet (webhooks and polls never publish one version twice). Writes on
    /// `txn` (which the caller commits); [`RecheckOutcome::Invalid`] when it cannot be parsed.
    pub async fn apply<C: ConnectionTrait>(
        &self,
        txn: &C,
        integration: &Integration,
        command: &Envelope<RecordRecheck>,
        raw: &Value,
    ) -> Result<RecheckOutcome, IngestError> {
        let resource = command.payload.resource;
        let id = &command.payload.mailchimp_id;
        let kind = resource.xref_kind();
        let known = XREFS
            .by_id(txn, integration.id(), kind.as_str(), id)
            .await?;
        let fingerprint = records::fingerprint(raw);
        if known.is_some_and(|x| {
            x.canonical_key.is_some() && x.fingerprint.as_deref() == Some(fingerprint.as_str())
        }) {
            return Ok(RecheckOutcome::Done);
        }
        let variant_skus = if resource == Resource::Orders {
            self.variant_skus(integration, std::slice::from_ref(raw))
                .await?
        } else {
            HashMap::new()
        };
        match self.observe(
            integration,
            resource,
            raw,
            id,
            &variant_skus,
            command.correlation_id,
            false,
        ) {
            Ok((messages, xrefs)) => {
                // Two rechecks of one record (a webhook per event of one change) may read the
                // same version at once: the one that records it publishes it.
                if !XREFS
                    .claim_version(txn, integration.id(), kind.as_str(), id, &fingerprint)
                    .await?
                {
                    return Ok(RecheckOutcome::Done);
                }
                XREFS.put(txn, integration.id(), &xrefs).await?;
                self.pipeline.outbox().enqueue_many(txn, &messages).await?;
                Ok(RecheckOutcome::Done)
            }
            Err(ObserveError::Rejected(rejected)) => Ok(RecheckOutcome::Invalid(rejected)),
            Err(ObserveError::Encode(e)) => Err(IngestError::Encode(e)),
        }
    }
}
