//! The alert rules: which message or which state of the activity log raises or resolves which
//! alert, and what the alert tells the person on call to do.
//!
//! | rule | raised by | resolved by |
//! | --- | --- | --- |
//! | `parked` / `dead_letter` | a message parked (after its retries / at once) | its replay or discard |
//! | `saga_failed` | a failed command of an order, a `products.verified` with missing SKUs, a saga failure event | `order.created`, `order.status-set` (or `order.found` with a hit) in the same saga |
//! | `sync_failed` | a failed command of another flow (not transient, not auth) | a success reply for the same record |
//! | `auth_failed` | `command.failed` with code `auth` | any success reply from that system |
//! | `api_unreachable` | `unavailable`/`timeout` failures from one system for `unreachable_minutes` without a success | a success reply from that system |
//! | `error_rate` | failed share of replies over `error_rate_window_minutes` above the threshold | the share back at or below it |
//! | `no_sync` | no success reply for `no_sync_hours` (integrations that synced before) | a success reply |

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ferry_platform::bus::parking::{ParkedSummary, ParkingLot};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;

use crate::alerts::{AlertBook, AlertSpec, Rule, Severity};
use crate::classify::{self, Observation, Status};
use crate::config::RulesConfig;
use crate::plain;
use crate::store::activity_row;

fn short_hash(value: &str) -> String {
    classify::email_hash(value)[..16].to_owned()
}

fn record_part(obs: &Observation) -> String {
    obs.record_key
        .as_deref()
        .map(short_hash)
        .unwrap_or_else(|| format!("corr-{}", obs.envelope.correlation_id))
}

/// The key of a record's failure alert.
fn failure_key(obs: &Observation) -> String {
    let integration = obs.envelope.integration_id;
    if obs.flow == "orders" {
        format!("failed:{integration}:saga:{}", obs.envelope.correlation_id)
    } else {
        format!(
            "failed:{integration}:{}:{}:{}",
            obs.system,
            obs.flow,
            record_part(obs)
        )
    }
}

fn what_to_do(code: &str, system: &str) -> String {
    match code {
        "auth" => format!(
            "The {system} API refused Ferry's credentials. Check (or renew) the {system} API key of this integration in its settings; then replay the parked messages from the dashboard."
        ),
        "mapping" => "The record cannot be mapped for the target (e.g. a non-numeric SKU for MailChimp). Fix the record in the source system or add a mapping rule in the datamapper, then replay it from the dashboard.".to_owned(),
        "validation" => "The record is incomplete or invalid. Complete the named fields in the source system; the next change syncs it again (or replay it from the dashboard).".to_owned(),
        "not_found" => format!(
            "Something the record refers to does not exist in {system} (e.g. products by SKU). Create it there (or sync it first), then replay from the dashboard."
        ),
        "conflict" => format!(
            "{system} already holds a conflicting record (a duplicate?). Resolve it in {system}, then replay from the dashboard."
        ),
        "remote_rejected" => format!(
            "{system} rejected the request; its reason is in the activity detail. Fix the data in the source system, then replay from the dashboard."
        ),
        "internal" => "An unexpected error in Ferry. Report it with the trace id from the activity log; replay once fixed.".to_owned(),
        _ => "Open the record's activity in the dashboard for the exact error, fix its cause, then replay it.".to_owned(),
    }
}

fn link(book: &AlertBook, obs_corr: Option<uuid::Uuid>) -> String {
    match (book.dashboard_url(), obs_corr) {
        (Some(url), Some(corr)) => format!(" Dashboard: {url}#activity?correlation_id={corr}"),
        (Some(url), None) => format!(" Dashboard: {url}"),
        _ => String::new(),
    }
}

/// The rules driven by one message, evaluated in the transaction that records it.
pub async fn on_message<C: ConnectionTrait>(
    book: &AlertBook,
    conn: &C,
    obs: &Observation,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    on_messages(book, conn, &[obs], now).await
}

/// The alert a failure reply raises (credentials refused, or a record's sync or an order's
/// saga failed); transient failures raise none here.
async fn on_failure<C: ConnectionTrait>(
    book: &AlertBook,
    conn: &C,
    obs: &Observation,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let env = &obs.envelope;
    let integration = env.integration_id.to_string();
    let record = obs.masked_key();
    let record_text = record
        .as_deref()
        .map(|r| format!(" for record {r}"))
        .unwrap_or_default();
    if obs.status != Status::Failed {
        return Ok(());
    }
    let Some(failure) = &obs.failure else {
        return Ok(());
    };
    let code = failure.code.as_str();
    let message = classify::mask_text(&failure.message);
    let context = json!({
        "message_id": env.message_id.to_string(),
        "message_type": env.message_type,
        "routing_key": obs.routing_key,
        "correlation_id": env.correlation_id.to_string(),
        "error_code": code,
        "trace_id": env.trace.traceparent.as_ref().map(|t| t.trace_id().to_owned()),
    });
    if code == "auth" {
        book.raise(
            conn,
            AlertSpec {
                dedup_key: format!("auth:{integration}:{}", obs.system),
                rule: Rule::AuthFailed,
                severity: Severity::Critical,
                integration_id: Some(integration.clone()),
                system: Some(obs.system.clone()),
                record_key: record.clone(),
                summary: plain::auth(&obs.system),
                title: format!("{} refused Ferry's credentials", obs.system),
                detail: format!(
                    "{} failed{record_text}: {message}.{}",
                    command_of(obs),
                    link(book, Some(env.correlation_id))
                ),
                action: what_to_do(code, &obs.system),
                context,
            },
            now,
        )
        .await?;
        return Ok(());
    }
    if matches!(code, "unavailable" | "timeout" | "rate_limited") {
        // Transient: retried by the bus; `api_unreachable` and `error_rate` watch them.
        return Ok(());
    }
    let saga = obs.flow == "orders";
    let title = if saga {
        format!("Order saga failed at {}{record_text}", command_of(obs))
    } else {
        format!(
            "{} could not be synced to {}{record_text}",
            obs.flow, obs.system
        )
    };
    book.raise(
        conn,
        AlertSpec {
            dedup_key: failure_key(obs),
            rule: if saga {
                Rule::SagaFailed
            } else {
                Rule::SyncFailed
            },
            severity: if saga {
                Severity::Error
            } else {
                Severity::Warning
            },
            integration_id: Some(integration.clone()),
            system: Some(obs.system.clone()),
            record_key: record.clone(),
            summary: plain::failed(&obs.flow, &obs.system, record.as_deref(), code, &message),
            title,
            detail: format!(
                "{} failed with code {code}: {message}.{}",
                command_of(obs),
                link(book, Some(env.correlation_id))
            ),
            action: what_to_do(code, &obs.system),
            context,
        },
        now,
    )
    .await?;
    Ok(())
}

/// The alerts a success resolves, by dedup key, and the resolution to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolves {
    /// Dedup keys of the alerts resolved (those open).
    pub keys: Vec<String>,
    /// Why (`"<message type> succeeded"`).
    pub resolution: String,
}

/// What a succeeded reply (an inbound message) resolves: the integration's credential,
/// reachability and no-sync alerts of its system, and the failure alert of its record
/// (for an order saga, only once the saga is done). `None` for anything else.
pub fn resolves_of(obs: &Observation) -> Option<Resolves> {
    if obs.status != Status::Succeeded || obs.direction != "in" {
        return None;
    }
    let env = &obs.envelope;
    let integration = env.integration_id.to_string();
    let mut keys = vec![
        format!("auth:{integration}:{}", obs.system),
        format!("unreachable:{integration}:{}", obs.system),
        format!("no_sync:{integration}"),
    ];
    let saga_done = match env.message_type.as_str() {
        "order.created" | "order.status-set" => true,
        "order.found" => env.payload.get("found").is_some_and(|f| !f.is_null()),
        _ => false,
    };
    if obs.flow != "orders" || saga_done {
        keys.push(failure_key(obs));
    }
    Some(Resolves {
        keys,
        resolution: format!("{} succeeded", env.message_type),
    })
}

/// The rules of a batch of messages, in order, with the resolves of consecutive successes
/// looked up together: one query for a batch without failures, the common case (rather
/// than one per success). A failure first settles the successes before it, so an alert a
/// later failure opens is never resolved by an earlier success.
pub async fn on_messages<C: ConnectionTrait>(
    book: &AlertBook,
    conn: &C,
    observations: &[&Observation],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut pending: Vec<(String, String)> = Vec::new();
    for &obs in observations {
        if let Some(resolves) = resolves_of(obs) {
            pending.extend(
                resolves
                    .keys
                    .into_iter()
                    .map(|k| (k, resolves.resolution.clone())),
            );
            continue;
        }
        if obs.status != Status::Failed {
            // Nothing else raises or resolves here (see `on_failure`).
            continue;
        }
        book.resolve_each(conn, &std::mem::take(&mut pending), now)
            .await?;
        on_failure(book, conn, obs, now).await?;
    }
    book.resolve_each(conn, &pending, now).await?;
    Ok(())
}

fn command_of(obs: &Observation) -> String {
    match obs
        .envelope
        .payload
        .get("command_type")
        .and_then(|c| c.as_str())
    {
        Some(command) => format!("{}.{command}", obs.system),
        None => obs.routing_key.clone(),
    }
}

/// A message was parked: mark its activity and raise its alert.
pub async fn on_parked<C: ConnectionTrait>(
    book: &AlertBook,
    conn: &C,
    parked: &ParkedSummary,
    record: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let permanent = parked.attempts <= 1;
    let integration = parked.integration_id.clone();
    let record_text = record
        .as_deref()
        .map(|r| format!(" for record {r}"))
        .unwrap_or_default();
    let reason = classify::mask_text(&parked.reason);
    let (rule, how) = if permanent {
        (
            Rule::DeadLetter,
            "dead-lettered at once (permanent error)".to_owned(),
        )
    } else {
        (
            Rule::Parked,
            format!("parked after {} attempts", parked.attempts),
        )
    };
    book.raise(
        conn,
        AlertSpec {
            dedup_key: format!("parked:{}:{}", parked.queue, parked.message_id),
            rule,
            severity: Severity::Error,
            integration_id: integration.clone(),
            system: parked.routing_key.split('.').next().map(str::to_owned),
            record_key: record.clone(),
            summary: plain::parked(&parked.routing_key, record.as_deref(), &reason),
            title: format!(
                "{} {how} by {}{record_text}",
                parked.routing_key, parked.queue
            ),
            detail: format!(
                "Message {} ({}) was {how} by the {} service: {reason}.{}",
                parked.message_id,
                parked.message_type.as_deref().unwrap_or(&parked.routing_key),
                parked.queue,
                link(book, None)
            ),
            action: "Open Dead letters in the dashboard, read the reason, fix its cause (data in the source system, a mapping, credentials), then replay the message, or discard it if it is obsolete.".to_owned(),
            context: json!({
                "queue": parked.queue,
                "message_id": parked.message_id.to_string(),
                "routing_key": parked.routing_key,
                "attempts": parked.attempts,
            }),
        },
        now,
    )
    .await?;
    Ok(())
}

/// The time-based rules, evaluated periodically (and by tests at a chosen `now`).
pub async fn evaluate<C: ConnectionTrait>(
    book: &AlertBook,
    conn: &C,
    lot: Option<&ParkingLot>,
    rules: &RulesConfig,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    unreachable(book, conn, rules, now).await?;
    error_rate(book, conn, rules, now).await?;
    no_sync(book, conn, rules, now).await?;
    if let Some(lot) = lot {
        parked_resolutions(book, conn, lot, now).await?;
    }
    Ok(())
}

async fn unreachable<C: ConnectionTrait>(
    book: &AlertBook,
    conn: &C,
    rules: &RulesConfig,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use activity_row::Column as A;
    let minutes = i64::try_from(rules.unreachable_minutes).unwrap_or(i64::MAX / 60_000);
    let lookback = now - ChronoDuration::hours(24).max(ChronoDuration::minutes(minutes * 2));
    let pairs: Vec<(String, String)> = activity_row::Entity::find()
        .select_only()
        .column(A::IntegrationId)
        .column(A::System)
        .filter(A::Kind.eq("event"))
        .filter(A::ErrorCode.is_in(["unavailable", "timeout"]))
        .filter(A::OccurredAt.gte(lookback))
        .group_by(A::IntegrationId)
        .group_by(A::System)
        .into_tuple()
        .all(conn)
        .await?;
    for (integration, system) in pairs {
        let key = format!("unreachable:{integration}:{system}");
        let last_success: Option<DateTime<Utc>> = activity_row::Entity::find()
            .select_only()
            .column_as(A::OccurredAt.max(), "last")
            .filter(A::IntegrationId.eq(integration.as_str()))
            .filter(A::System.eq(system.as_str()))
            .filter(A::Kind.eq("event"))
            .filter(A::Direction.eq("in"))
            .filter(A::Status.eq("succeeded"))
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(conn)
            .await?
            .flatten();
        let mut streak = activity_row::Entity::find()
            .select_only()
            .column_as(A::OccurredAt.min(), "first")
            .column_as(Expr::col(A::Id).count(), "n")
            .filter(A::IntegrationId.eq(integration.as_str()))
            .filter(A::System.eq(system.as_str()))
            .filter(A::Kind.eq("event"))
            .filter(A::ErrorCode.is_in(["unavailable", "timeout"]));
        if let Some(success) = last_success {
            streak = streak.filter(A::OccurredAt.gt(success));
        }
        let (first, failures): (Option<DateTime<Utc>>, i64) =
            streak.into_tuple().one(conn).await?.unwrap_or((None, 0));
        match first {
            Some(first) if now - first >= ChronoDuration::minutes(minutes) => {
                book.raise(
                    conn,
                    AlertSpec {
                        dedup_key: key,
                        rule: Rule::ApiUnreachable,
                        severity: Severity::Critical,
                        integration_id: Some(integration.clone()),
                        system: Some(system.clone()),
                        record_key: None,
                        summary: plain::unreachable(&system, (now - first).num_minutes()),
                        title: format!(
                            "{system} unreachable for {} minutes",
                            (now - first).num_minutes()
                        ),
                        detail: format!(
                            "{failures} call(s) to {system} failed with unavailable/timeout since {first}, and none succeeded since.{}",
                            link(book, None)
                        ),
                        action: format!(
                            "Check that {system} is up (its status page) and reachable from Ferry (network, DNS, firewall, proxy). Ferry keeps retrying; this alert resolves by itself on the next successful call, and parked messages can be replayed from the dashboard."
                        ),
                        context: json!({"failures": failures, "since": first}),
                    },
                    now,
                )
                .await?;
            }
            Some(_) => {}
            None => {
                book.resolve(conn, &key, "calls succeed again", now).await?;
            }
        }
    }
    Ok(())
}

async fn error_rate<C: ConnectionTrait>(
    book: &AlertBook,
    conn: &C,
    rules: &RulesConfig,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use activity_row::Column as A;
    let window = ChronoDuration::minutes(
        i64::try_from(rules.error_rate_window_minutes).unwrap_or(i64::MAX / 60_000),
    );
    let counts: Vec<(String, String, i64)> = activity_row::Entity::find()
        .select_only()
        .column(A::IntegrationId)
        .column(A::Status)
        .column_as(Expr::col(A::Id).count(), "n")
        .filter(A::Kind.eq("event"))
        .filter(A::Direction.eq("in"))
        .filter(A::Status.is_in(["succeeded", "failed"]))
        .filter(A::OccurredAt.gte(now - window))
        .filter(A::OccurredAt.lte(now))
        .group_by(A::IntegrationId)
        .group_by(A::Status)
        .into_tuple()
        .all(conn)
        .await?;
    let mut per: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for (integration, status, n) in counts {
        let entry = per.entry(integration).or_default();
        if status == "failed" {
            entry.1 += n;
        } else {
            entry.0 += n;
        }
    }
    // Integrations with an open error-rate alert but no replies in the window resolve too.
    for open in book.open_with_prefix(conn, "error_rate:").await? {
        if let Some(integration) = open.integration_id.clone() {
            per.entry(integration).or_default();
        }
    }
    for (integration, (ok, failed)) in per {
        let key = format!("error_rate:{integration}");
        let total = ok + failed;
        #[allow(clippy::cast_precision_loss)]
        let rate = if total > 0 {
            failed as f64 / total as f64
        } else {
            0.0
        };
        let min = i64::try_from(rules.error_rate_min_replies).unwrap_or(i64::MAX);
        if total >= min && rate > rules.error_rate_threshold {
            book.raise(
                conn,
                AlertSpec {
                    dedup_key: key,
                    rule: Rule::ErrorRate,
                    severity: Severity::Error,
                    integration_id: Some(integration.clone()),
                    system: None,
                    record_key: None,
                    summary: plain::error_rate(rate * 100.0, window.num_minutes()),
                    title: format!(
                        "{:.0}% of replies failed in the last {} minutes",
                        rate * 100.0,
                        window.num_minutes()
                    ),
                    detail: format!(
                        "{failed} of {total} replies failed (threshold {:.0}%).{}",
                        rules.error_rate_threshold * 100.0,
                        link(book, None)
                    ),
                    action: format!(
                        "Open the activity log filtered on integration {integration} and status failed to see which records fail and why; the most frequent error code points at the cause."
                    ),
                    context: json!({"failed": failed, "total": total, "rate": rate}),
                },
                now,
            )
            .await?;
        } else {
            book.resolve(conn, &key, "error rate back under the threshold", now)
                .await?;
        }
    }
    Ok(())
}

async fn no_sync<C: ConnectionTrait>(
    book: &AlertBook,
    conn: &C,
    rules: &RulesConfig,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use activity_row::Column as A;
    let hours = i64::try_from(rules.no_sync_hours).unwrap_or(i64::MAX / 3_600_000);
    let last: Vec<(String, Option<DateTime<Utc>>)> = activity_row::Entity::find()
        .select_only()
        .column(A::IntegrationId)
        .column_as(A::OccurredAt.max(), "last")
        .filter(A::Kind.eq("event"))
        .filter(A::Direction.eq("in"))
        .filter(A::Status.eq("succeeded"))
        .group_by(A::IntegrationId)
        .into_tuple()
        .all(conn)
        .await?;
    for (integration, last) in last {
        let Some(last) = last else { continue };
        let key = format!("no_sync:{integration}");
        if now - last >= ChronoDuration::hours(hours) {
            book.raise(
                conn,
                AlertSpec {
                    dedup_key: key,
                    rule: Rule::NoSync,
                    severity: Severity::Warning,
                    integration_id: Some(integration.clone()),
                    system: None,
                    record_key: None,
                    summary: plain::no_sync((now - last).num_hours()),
                    title: format!(
                        "No successful sync for {} hours",
                        (now - last).num_hours()
                    ),
                    detail: format!("The last successful reply was at {last}.{}", link(book, None)),
                    action: "Check that the integration is live and its flows are enabled, that both connectors run (their /readyz), and whether the source systems have changes at all; the connector logs tell why nothing is synced.".to_owned(),
                    context: json!({"last_success_at": last}),
                },
                now,
            )
            .await?;
        } else {
            book.resolve(conn, &key, "synced again", now).await?;
        }
    }
    Ok(())
}

async fn parked_resolutions<C: ConnectionTrait>(
    book: &AlertBook,
    conn: &C,
    lot: &ParkingLot,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for open in book.open_with_prefix(conn, "parked:").await? {
        let queue = open.context.get("queue").and_then(|q| q.as_str());
        let id = open
            .context
            .get("message_id")
            .and_then(|q| q.as_str())
            .and_then(|m| m.parse().ok());
        let (Some(queue), Some(id)) = (queue, id) else {
            continue;
        };
        let resolution = match lot.get(queue, id).await? {
            None => Some("discarded by an operator"),
            Some(parked) if parked.summary.replayed_at.is_some() => Some("replayed by an operator"),
            Some(_) => None,
        };
        if let Some(resolution) = resolution {
            book.resolve_alert(conn, open, resolution, now).await?;
        }
    }
    Ok(())
}
