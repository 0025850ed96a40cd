//! Erasing a person (`POST /api/v1/gdpr/erase`): every activity row, alert and parked message
//! mentioning the address loses it, and the erase is audited (who, when, how many rows; never
//! the address). Then every service is told, one `ferry.person.erase-requested` per integration
//! carrying only the address's SHA-256 ([`ferry_platform::gdpr`]): each erases its own rows.
//! The notifier's tombstones (`ferry_erasures`) are written first, so that a message about the
//! person consumed during the erase is dropped rather than recorded again.

use std::sync::Arc;

use chrono::Utc;
use ferry_platform::bus::parking::{ParkedFilter, ParkingLot};
use ferry_platform::bus::{Bus, BusMessage};
use ferry_platform::gdpr::{self as platform_gdpr, ErasedRows, Fingerprint};
use ferry_proto::messages::PersonEraseRequested;
use ferry_proto::{Envelope, IntegrationId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, Set, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use crate::activity::{self, EraseReport, redact_text};
use crate::store::{alert_row, delivery_row, erasure_row, integration_row};

const ERASED: &str = "[erased]";

/// Erases `email` everywhere on behalf of `by`: tombstones first (one per integration: those
/// the registry announced and not deleted, and those `configured` in files), then the
/// notifier's rows, then one erase request per integration on the bus.
pub async fn erase_everywhere(
    db: &DatabaseConnection,
    bus: &Arc<dyn Bus>,
    lot: Option<&ParkingLot>,
    configured: &[String],
    email: &ferry_proto::Email,
    by: &str,
) -> Result<EraseReport, DbErr> {
    let request = PersonEraseRequested {
        erase_id: Uuid::now_v7(),
        fingerprint: Fingerprint::of_email(email).as_str().to_owned(),
        requested_by: by.to_owned(),
        requested_at: Utc::now(),
    };
    let announced = integration_row::Entity::find()
        .filter(integration_row::Column::State.ne("deleted"))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.integration_id);
    let integrations: std::collections::BTreeSet<IntegrationId> = announced
        .chain(configured.iter().cloned())
        .filter_map(|id| IntegrationId::parse(&id).ok())
        .collect();
    // The tombstones first, then the activity log's redaction. A recording reads the
    // tombstones inside its own transaction (`consume`), so a message that passed the check at
    // delivery is dropped there. On PostgreSQL both steps run in one transaction holding every
    // integration's lock exclusively: a recording in flight commits first (the redaction then
    // sees its rows), a later one waits and finds the tombstones. SQLite serialises writers by
    // itself: a recording commits before the tombstones (and is redacted) or after them (and
    // finds them), so there the steps commit one by one and no transaction holds the only
    // writer's lock across the redaction's reads.
    let redacted = if db.get_database_backend() == DbBackend::Postgres {
        let txn = db.begin().await?;
        for integration in &integrations {
            crate::erased::lock_for_person_erase(&txn, &integration.to_string()).await?;
        }
        record_tombstones(&txn, &integrations, &request).await?;
        let redacted = activity::erase_email(&txn, email).await?;
        txn.commit().await?;
        redacted
    } else {
        record_tombstones(db, &integrations, &request).await?;
        activity::erase_email(db, email).await?
    };
    let mut report = erase_person(db, lot, email, by, redacted).await?;
    for integration in &integrations {
        let envelope = Envelope::new(*integration, request.clone());
        let message = BusMessage::from_envelope(&envelope)
            .map_err(|e| DbErr::Custom(format!("cannot encode the erase request: {e}")))?;
        bus.publish(message).await.map_err(|e| {
            DbErr::Custom(format!(
                "the erase request for integration {integration} could not be published: {e}"
            ))
        })?;
        report.integrations_notified += 1;
    }
    tracing::info!(
        by,
        erase_id = %request.erase_id,
        integrations = report.integrations_notified,
        "erase requested from every service"
    );
    Ok(report)
}

/// The notifier's tombstone of `request` in each of `integrations`.
async fn record_tombstones<C: ConnectionTrait>(
    conn: &C,
    integrations: &std::collections::BTreeSet<IntegrationId>,
    request: &PersonEraseRequested,
) -> Result<(), DbErr> {
    for integration in integrations {
        platform_gdpr::record(
            conn,
            crate::SERVICE,
            *integration,
            request,
            &ErasedRows::new(),
        )
        .await?;
    }
    Ok(())
}

/// Erases `email` from the notifier's alerts and the parking lot, on behalf of `by`, and audits
/// the erase; `messages` are the activity rows redacted already (`activity::erase_email`).
pub async fn erase_person(
    db: &DatabaseConnection,
    lot: Option<&ParkingLot>,
    email: &ferry_proto::Email,
    by: &str,
    mut messages: Vec<Uuid>,
) -> Result<EraseReport, DbErr> {
    let mut report = EraseReport {
        activity_rows_redacted: messages.len() as u64,
        ..Default::default()
    };
    if let Some(lot) = lot {
        let parked = redact_parked(lot, email).await?;
        report.parked_messages_redacted = parked.len() as u64;
        messages.extend(parked);
    }
    report.alerts_redacted = redact_alerts(db, email, &messages).await?;
    erasure_row::ActiveModel {
        id: Set(Uuid::now_v7()),
        requested_by: Set(by.to_owned()),
        erased_at: Set(Utc::now()),
        activity_rows: Set(count(report.activity_rows_redacted)),
        alerts: Set(count(report.alerts_redacted)),
        parked_messages: Set(count(report.parked_messages_redacted)),
    }
    .insert(db)
    .await?;
    tracing::info!(
        by,
        rows = report.activity_rows_redacted,
        alerts = report.alerts_redacted,
        parked = report.parked_messages_redacted,
        "personal data erased"
    );
    Ok(report)
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Redacts every parked message mentioning `email`: its envelope stays (ids, type, integration,
/// correlation: the evidence of the failure), its payload is replaced and the address removed
/// from its reason. Returns the ids of the messages redacted.
async fn redact_parked(lot: &ParkingLot, email: &ferry_proto::Email) -> Result<Vec<Uuid>, DbErr> {
    const PAGE: u64 = 500;
    let needle = email.as_str();
    let mut redacted = Vec::new();
    let mut offset = 0;
    loop {
        let page = lot
            .list(&ParkedFilter {
                include_replayed: true,
                limit: PAGE,
                offset,
                ..Default::default()
            })
            .await?;
        for summary in &page {
            let Some(message) = lot.get(&summary.queue, summary.message_id).await? else {
                continue;
            };
            if !message.body.to_lowercase().contains(needle)
                && !summary.reason.to_lowercase().contains(needle)
            {
                continue;
            }
            let body = match serde_json::from_str::<Value>(&message.body) {
                Ok(Value::Object(mut envelope)) => {
                    envelope.insert(
                        "payload".to_owned(),
                        serde_json::json!({"erased": "personal data erased on request"}),
                    );
                    serde_json::to_vec(&Value::Object(envelope)).unwrap_or_default()
                }
                _ => Vec::new(),
            };
            let reason = redact_text(&summary.reason, needle).replace(&email.masked(), ERASED);
            if lot
                .redact(&summary.queue, summary.message_id, body, reason)
                .await?
            {
                redacted.push(summary.message_id);
            }
        }
        if (page.len() as u64) < PAGE {
            break;
        }
        offset += PAGE;
    }
    Ok(redacted)
}

/// Redacts every alert about one of `messages` or naming `email` (whole or masked): record,
/// sentence, title and detail.
async fn redact_alerts(
    db: &DatabaseConnection,
    email: &ferry_proto::Email,
    messages: &[Uuid],
) -> Result<u64, DbErr> {
    let needle = email.as_str();
    let masked = email.masked();
    let about: Vec<String> = messages.iter().map(Uuid::to_string).collect();
    let mut redacted = 0;
    for alert in alert_row::Entity::find().all(db).await? {
        let message = alert.context.get("message_id").and_then(Value::as_str);
        let names = |text: &str| {
            let lower = text.to_lowercase();
            lower.contains(needle) || text.contains(&masked)
        };
        let mentions = message.is_some_and(|m| about.iter().any(|a| a == m))
            || alert.record_key.as_deref().is_some_and(names)
            || names(&alert.summary)
            || names(&alert.title)
            || names(&alert.detail);
        if !mentions {
            continue;
        }
        let scrub = |text: &str| redact_text(text, needle).replace(&masked, ERASED);
        let mut active: alert_row::ActiveModel = alert.clone().into();
        if alert.record_key.is_some() {
            active.record_key = Set(Some(ERASED.to_owned()));
        }
        let key = alert.record_key.as_deref().unwrap_or(ERASED);
        let scrub_key = |text: &str| scrub(text).replace(key, ERASED);
        active.summary = Set(scrub_key(&alert.summary));
        active.title = Set(scrub_key(&alert.title));
        active.detail = Set(scrub_key(&alert.detail));
        active.update(db).await?;
        notify_erased(db, alert.id).await?;
        redacted += 1;
    }
    Ok(redacted)
}

/// Queues a follow-up notice (`erased`) to every channel that was sent a notification of
/// alert `alert`: the details it carried were erased on request, so whoever keeps them
/// (a ticket, a chat history, a mailbox) knows to remove them. Sent by the delivery loop like
/// any notification; the notice itself carries no personal data.
async fn notify_erased(db: &DatabaseConnection, alert: Uuid) -> Result<(), DbErr> {
    let sent = delivery_row::Entity::find()
        .filter(delivery_row::Column::AlertId.eq(alert))
        .filter(delivery_row::Column::State.eq("sent"))
        .filter(delivery_row::Column::Event.ne(ERASED_EVENT))
        .all(db)
        .await?;
    let mut channels: Vec<String> = sent.into_iter().map(|d| d.channel).collect();
    channels.sort();
    channels.dedup();
    let now = Utc::now();
    for channel in channels {
        delivery_row::pending(alert, channel, ERASED_EVENT, now)
            .insert(db)
            .await?;
    }
    Ok(())
}

/// The delivery event of the follow-up notice that an alert's details were erased.
pub const ERASED_EVENT: &str = "erased";
