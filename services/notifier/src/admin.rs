//! The notifier's admin API (under `/api/v1`; every route needs a token, `read` for `GET`,
//! `operator` otherwise). Read-only tokens see e-mail addresses masked; operator tokens see
//! the records as they were.
//!
//! | route | scope | what |
//! | --- | --- | --- |
//! | `GET /activity` | read | the activity log, filtered and paginated |
//! | `GET /activity/stats` | read | counts per flow and status over time |
//! | `GET /activity/series` | read | records per flow and status, failures, latency p50/p95 per bucket (24 h hourly, 1 h per minute) |
//! | `GET /charts/{chart}` | read | the same drawn as SVG: `records.svg`, `failures.svg`, `latency.svg`, `sparkline.svg` |
//! | `GET /activity/{id}` | read | one row with source/sent/result data and its saga timeline |
//! | `GET /activity/{id}/story` | read | the record's whole story: source, mapped, every command and answer, final state, trace |
//! | `POST /activity/purge` | operator | purge past retention now |
//! | `GET /integration-health` | read | integrations (named, every known one) and the health of their flows |
//! | `GET /integration-freshness` | read | per integration: last change seen, last delivered, oldest undelivered change, parked; queue depths |
//! | `GET /integration-directory` | read | every known integration: name, state, registry or configured |
//! | `GET /alerts` | read | alerts (open by default) |
//! | `GET /alerts/{id}` | read | one alert with its notifications |
//! | `POST /alerts/{id}/resolve` | operator | resolve an alert by hand |
//! | `POST /gdpr/erase` | operator | erase an e-mail address from the log and the parking lot |
//! | `GET /retention` | read | retention default and per-integration overrides |
//! | `PUT /retention/{integration_id}` | operator | set an integration's retention |

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::Utc;
use ferry_platform::admin::{ApiError, OperatorAccess, ReadAccess, Scope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::Notifier;
use crate::activity::{
    self, ActivityDetail, ActivityItem, ActivityPage, ActivityQuery, EraseReport, FlowHealth,
    IntegrationHealth, StatPoint, Stats, StatsQuery, Visibility,
};
use crate::alerts::{self, AlertQuery, AlertView, DeliveryView};
use crate::charts::{
    self,
    series::{self, FlowSeries, Span, TimeSeries, Window},
};
use crate::directory::KnownIntegration;
use crate::freshness::{Freshness, IntegrationFreshness, QueueDepth, SystemFlowTime};
use crate::store::alert_row;
use crate::story::{self, RecordStory, StoryMessage, StoryStep};

fn visibility(who: &ReadAccess) -> Visibility {
    if who.0.scope == Scope::Operator {
        Visibility::Full
    } else {
        Visibility::Masked
    }
}

fn db_error(error: sea_orm::DbErr) -> ApiError {
    ApiError::internal(error)
}

/// The activity log, newest first.
#[utoipa::path(get, path = "/activity", tag = "activity", params(ActivityQuery),
    responses((status = 200, body = ActivityPage), (status = 400, description = "Invalid filter")))]
async fn list_activity(
    who: ReadAccess,
    notifier: web::Data<Notifier>,
    query: web::Query<ActivityQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = activity::list(notifier.db(), &query, visibility(&who))
        .await
        .map_err(db_error)?;
    Ok(HttpResponse::Ok().json(page))
}

/// Counts per flow and status over time (for charts).
#[utoipa::path(get, path = "/activity/stats", tag = "activity", params(StatsQuery),
    responses((status = 200, body = Stats)))]
async fn activity_stats(
    _who: ReadAccess,
    notifier: web::Data<Notifier>,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let stats = activity::stats(notifier.db(), &query)
        .await
        .map_err(db_error)?;
    Ok(HttpResponse::Ok().json(stats))
}

/// One activity row with what came from the source, what was sent, what the target answered,
/// and every row of its saga or sync run.
#[utoipa::path(get, path = "/activity/{id}", tag = "activity",
    params(("id" = Uuid, Path, description = "Row id")),
    responses((status = 200, body = ActivityDetail), (status = 404, description = "No such row")))]
async fn get_activity(
    who: ReadAccess,
    notifier: web::Data<Notifier>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match activity::detail(notifier.db(), id, visibility(&who))
        .await
        .map_err(db_error)?
    {
        Some(detail) => Ok(HttpResponse::Ok().json(detail)),
        None => Err(ApiError::not_found(format!("no activity row {id}"))),
    }
}

/// The span and scope of a series or chart.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ChartQuery {
    /// `24h` (hourly buckets, default) or `1h` (per minute).
    window: Option<String>,
    /// Only this integration.
    integration_id: Option<String>,
    /// `records.svg`: only this flow.
    flow: Option<String>,
    /// The reader's time zone for the time labels, minutes east of UTC (default 0).
    tz_offset_minutes: Option<i64>,
}

impl ChartQuery {
    fn window(&self) -> Result<Window, ApiError> {
        let span = Span::parse(self.window.as_deref())
            .ok_or_else(|| ApiError::InvalidRequest("window: must be 24h or 1h".into()))?;
        Ok(Window::ending_at(span, Utc::now()))
    }
}

/// Records per flow and status, failures and latency (p50/p95 from the change in the source
/// until the target confirmed it) per bucket: hourly over 24 hours or per minute over the
/// last hour.
#[utoipa::path(get, path = "/activity/series", tag = "activity", params(ChartQuery),
    responses((status = 200, body = TimeSeries), (status = 400, description = "Invalid window")))]
async fn activity_series(
    _who: ReadAccess,
    notifier: web::Data<Notifier>,
    query: web::Query<ChartQuery>,
) -> Result<HttpResponse, ApiError> {
    let window = query.window()?;
    let series = series::load(notifier.db(), window, query.integration_id.as_deref())
        .await
        .map_err(db_error)?;
    Ok(HttpResponse::Ok().json(series))
}

/// A chart as SVG: `records.svg` (per status, of one `flow` or all), `failures.svg` (per
/// flow), `latency.svg` (p50 and p95) or `sparkline.svg` (an integration's trend).
#[utoipa::path(get, path = "/charts/{chart}", tag = "activity",
    params(("chart" = String, Path, description = "records.svg, failures.svg, latency.svg or sparkline.svg"), ChartQuery),
    responses((status = 200, description = "The chart", content_type = "image/svg+xml", body = String),
              (status = 400, description = "Invalid window"), (status = 404, description = "No such chart")))]
async fn chart(
    _who: ReadAccess,
    notifier: web::Data<Notifier>,
    name: web::Path<String>,
    query: web::Query<ChartQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    if !charts::CHARTS.contains(&name.as_str()) {
        return Err(ApiError::not_found(format!(
            "no chart {name}; charts: {}",
            charts::CHARTS.join(", ")
        )));
    }
    let window = query.window()?;
    let integration = query.integration_id.as_deref();
    let data = series::load(notifier.db(), window, integration)
        .await
        .map_err(db_error)?;
    let offset = query.tz_offset_minutes.unwrap_or(0);
    let svg = match name.as_str() {
        "records.svg" => charts::records(&data, &window, query.flow.as_deref(), offset),
        "failures.svg" => charts::failures(&data, &window, offset),
        "latency.svg" => charts::latency(&data, &window, offset),
        _ => {
            let label = match integration {
                Some(id) => notifier
                    .directory()
                    .label(notifier.db(), id)
                    .await
                    .map_err(db_error)?,
                None => "every integration".to_owned(),
            };
            charts::sparkline(&data, &window, &format!("{label}: records and failures"))
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .insert_header((actix_web::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            actix_web::http::header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(svg))
}

/// One record's whole story: the activity row's saga or sync run from the change in the source
/// (as it came) through the mapping (as mapped) and every command with the target's answer to
/// its final state, with the trace id and its link in the tracing UI (`trace_url`).
#[utoipa::path(get, path = "/activity/{id}/story", tag = "activity",
    params(("id" = Uuid, Path, description = "Any activity row of the record")),
    responses((status = 200, body = RecordStory), (status = 404, description = "No such row")))]
async fn record_story(
    who: ReadAccess,
    notifier: web::Data<Notifier>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match story::of_row(
        notifier.db(),
        id,
        visibility(&who),
        notifier.config().trace_url.as_deref(),
    )
    .await
    .map_err(db_error)?
    {
        Some(story) => Ok(HttpResponse::Ok().json(story)),
        None => Err(ApiError::not_found(format!("no activity row {id}"))),
    }
}

/// What a purge removed.
#[derive(Debug, Serialize, ToSchema)]
struct Purged {
    /// Rows deleted.
    removed: u64,
}

/// Deletes activity older than each integration's retention, now.
#[utoipa::path(post, path = "/activity/purge", tag = "activity",
    responses((status = 200, body = Purged)))]
async fn purge_activity(
    OperatorAccess(who): OperatorAccess,
    notifier: web::Data<Notifier>,
) -> Result<HttpResponse, ApiError> {
    let removed = notifier.purge_at(Utc::now()).await.map_err(db_error)?;
    tracing::info!(by = %who.name, removed, "activity purge requested");
    Ok(HttpResponse::Ok().json(Purged { removed }))
}

/// Every integration in the log and the health of its flows over the last 24 hours.
#[utoipa::path(get, path = "/integration-health", tag = "activity",
    responses((status = 200, body = [IntegrationHealth])))]
async fn integration_health(
    _who: ReadAccess,
    notifier: web::Data<Notifier>,
) -> Result<HttpResponse, ApiError> {
    let known = known_integrations(&notifier).await?;
    let health = activity::health(notifier.db(), &known, Utc::now())
        .await
        .map_err(db_error)?;
    Ok(HttpResponse::Ok().json(health))
}

async fn known_integrations(notifier: &Notifier) -> Result<Vec<KnownIntegration>, ApiError> {
    notifier
        .directory()
        .all(notifier.db())
        .await
        .map_err(db_error)
}

/// How far behind each integration is: the last change seen per source system and flow, the
/// last record confirmed per target system and flow, the oldest change not delivered yet, the
/// parked messages; and how many messages wait in each service's queue.
#[utoipa::path(get, path = "/integration-freshness", tag = "activity",
    responses((status = 200, body = Freshness)))]
async fn integration_freshness(
    _who: ReadAccess,
    notifier: web::Data<Notifier>,
) -> Result<HttpResponse, ApiError> {
    let freshness = notifier.freshness().await.map_err(db_error)?;
    Ok(HttpResponse::Ok().json(freshness))
}

/// Every integration the notifier knows by name: the registry's (as it last announced them)
/// and those configured in the services' files, with their states.
#[utoipa::path(get, path = "/integration-directory", tag = "activity",
    responses((status = 200, body = [KnownIntegration])))]
async fn integration_directory(
    _who: ReadAccess,
    notifier: web::Data<Notifier>,
) -> Result<HttpResponse, ApiError> {
    let known = known_integrations(&notifier).await?;
    Ok(HttpResponse::Ok().json(known))
}

/// Alerts, newest first (open ones unless `state` says otherwise).
#[utoipa::path(get, path = "/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = [AlertView])))]
async fn list_alerts(
    _who: ReadAccess,
    notifier: web::Data<Notifier>,
    query: web::Query<AlertQuery>,
) -> Result<HttpResponse, ApiError> {
    let list = alerts::list(notifier.db(), &query)
        .await
        .map_err(db_error)?;
    Ok(HttpResponse::Ok().json(list))
}

/// An alert with its notifications.
#[derive(Debug, Serialize, ToSchema)]
struct AlertDetail {
    /// The alert.
    #[serde(flatten)]
    alert: AlertView,
    /// Its notifications per channel.
    deliveries: Vec<DeliveryView>,
}

/// One alert with its notifications.
#[utoipa::path(get, path = "/alerts/{id}", tag = "alerts",
    params(("id" = Uuid, Path, description = "Alert id")),
    responses((status = 200, body = AlertDetail), (status = 404, description = "No such alert")))]
async fn get_alert(
    _who: ReadAccess,
    notifier: web::Data<Notifier>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    use sea_orm::EntityTrait;
    let id = id.into_inner();
    let Some(row) = alert_row::Entity::find_by_id(id)
        .one(notifier.db())
        .await
        .map_err(db_error)?
    else {
        return Err(ApiError::not_found(format!("no alert {id}")));
    };
    let deliveries = alerts::deliveries(notifier.db(), id)
        .await
        .map_err(db_error)?;
    Ok(HttpResponse::Ok().json(AlertDetail {
        alert: row.into(),
        deliveries,
    }))
}

/// Resolves an open alert by hand (the channels get the resolve notification).
#[utoipa::path(post, path = "/alerts/{id}/resolve", tag = "alerts",
    params(("id" = Uuid, Path, description = "Alert id")),
    responses((status = 200, body = AlertView), (status = 404, description = "No such alert"),
              (status = 409, description = "Already resolved")))]
async fn resolve_alert(
    OperatorAccess(who): OperatorAccess,
    notifier: web::Data<Notifier>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    use sea_orm::EntityTrait;
    let id = id.into_inner();
    let Some(row) = alert_row::Entity::find_by_id(id)
        .one(notifier.db())
        .await
        .map_err(db_error)?
    else {
        return Err(ApiError::not_found(format!("no alert {id}")));
    };
    if row.state != alerts::OPEN {
        return Err(ApiError::Conflict(format!(
            "alert {id} is already resolved"
        )));
    }
    notifier
        .book
        .resolve_alert(
            notifier.db(),
            row,
            &format!("resolved by {}", who.name),
            Utc::now(),
        )
        .await
        .map_err(db_error)?;
    notifier.dispatcher.wake();
    let row = alert_row::Entity::find_by_id(id)
        .one(notifier.db())
        .await
        .map_err(db_error)?
        .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))?;
    Ok(HttpResponse::Ok().json(AlertView::from(row)))
}

/// A GDPR erasure request.
#[derive(Debug, Deserialize, ToSchema)]
struct EraseRequest {
    /// The person's e-mail address.
    email: String,
}

/// Erases an e-mail address: every activity row mentioning it loses its data and key, every
/// alert about it its record and texts, every parked message mentioning it its payload (the
/// message stays as evidence of the failure); the erase is audited (who, when, how many).
#[utoipa::path(post, path = "/gdpr/erase", tag = "gdpr", request_body = EraseRequest,
    responses((status = 200, body = EraseReport), (status = 400, description = "Not an e-mail address")))]
async fn erase(
    OperatorAccess(who): OperatorAccess,
    notifier: web::Data<Notifier>,
    body: web::Json<EraseRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = ferry_proto::Email::parse(&body.email)
        .map_err(|e| ApiError::InvalidRequest(format!("email: {e}")))?;
    tracing::info!(by = %who.name, email = %email.masked(), "erasure requested");
    let report = notifier
        .erase_email(&email, &who.name)
        .await
        .map_err(db_error)?;
    Ok(HttpResponse::Ok().json(report))
}

/// Retention of the activity log.
#[derive(Debug, Serialize, ToSchema)]
struct Retention {
    /// Days, for integrations without an override.
    default_days: u32,
    /// Days per integration.
    overrides: BTreeMap<String, u32>,
}

/// The retention default and every per-integration override.
#[utoipa::path(get, path = "/retention", tag = "activity", responses((status = 200, body = Retention)))]
async fn get_retention(
    _who: ReadAccess,
    notifier: web::Data<Notifier>,
) -> Result<HttpResponse, ApiError> {
    let overrides = activity::retention_overrides(
        notifier.db(),
        &notifier.config().activity.retention_overrides,
    )
    .await
    .map_err(db_error)?;
    Ok(HttpResponse::Ok().json(Retention {
        default_days: notifier.config().activity.retention_days,
        overrides,
    }))
}

/// A retention setting.
#[derive(Debug, Deserialize, ToSchema)]
struct SetRetention {
    /// Days to keep this integration's activity, 1 to 3650.
    days: u32,
}

/// Sets one integration's activity retention.
#[utoipa::path(put, path = "/retention/{integration_id}", tag = "activity",
    params(("integration_id" = String, Path, description = "Integration id")),
    request_body = SetRetention,
    responses((status = 204, description = "Set"), (status = 400, description = "Invalid value")))]
async fn set_retention(
    OperatorAccess(who): OperatorAccess,
    notifier: web::Data<Notifier>,
    integration: web::Path<String>,
    body: web::Json<SetRetention>,
) -> Result<HttpResponse, ApiError> {
    let integration = integration.into_inner();
    if !(1..=3650).contains(&body.days) {
        return Err(ApiError::InvalidRequest(
            "days: must be between 1 and 3650".into(),
        ));
    }
    ferry_proto::IntegrationId::parse(&integration)
        .map_err(|e| ApiError::InvalidRequest(format!("integration_id: {e}")))?;
    activity::set_retention(notifier.db(), &integration, body.days)
        .await
        .map_err(db_error)?;
    tracing::info!(by = %who.name, integration, days = body.days, "activity retention set");
    Ok(HttpResponse::NoContent().finish())
}

/// The OpenAPI description of the notifier's routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_activity,
        activity_stats,
        activity_series,
        chart,
        get_activity,
        record_story,
        purge_activity,
        integration_health,
        integration_directory,
        integration_freshness,
        list_alerts,
        get_alert,
        resolve_alert,
        erase,
        get_retention,
        set_retention
    ),
    components(schemas(
        ActivityPage,
        ActivityItem,
        ActivityDetail,
        RecordStory,
        StoryStep,
        StoryMessage,
        Stats,
        StatPoint,
        TimeSeries,
        FlowSeries,
        IntegrationHealth,
        FlowHealth,
        KnownIntegration,
        Freshness,
        IntegrationFreshness,
        SystemFlowTime,
        QueueDepth,
        AlertView,
        AlertDetail,
        DeliveryView,
        EraseRequest,
        EraseReport,
        Retention,
        SetRetention,
        Purged
    ))
)]
pub struct NotifierApi;

/// Mounts the routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig, notifier: Notifier) {
    cfg.app_data(web::Data::new(notifier))
        .route("/activity", web::get().to(list_activity))
        .route("/activity/stats", web::get().to(activity_stats))
        .route("/activity/series", web::get().to(activity_series))
        .route("/charts/{chart}", web::get().to(chart))
        .route("/activity/purge", web::post().to(purge_activity))
        .route("/activity/{id}", web::get().to(get_activity))
        .route("/activity/{id}/story", web::get().to(record_story))
        .route("/integration-health", web::get().to(integration_health))
        .route(
            "/integration-directory",
            web::get().to(integration_directory),
        )
        .route(
            "/integration-freshness",
            web::get().to(integration_freshness),
        )
        .route("/alerts", web::get().to(list_alerts))
        .route("/alerts/{id}", web::get().to(get_alert))
        .route("/alerts/{id}/resolve", web::post().to(resolve_alert))
        .route("/gdpr/erase", web::post().to(erase))
        .route("/retention", web::get().to(get_retention))
        .route("/retention/{integration_id}", web::put().to(set_retention));
}
