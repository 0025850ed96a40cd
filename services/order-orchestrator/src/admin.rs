//! Admin API of the order orchestrator (under `/api/v1`, bearer token; see the OpenAPI
//! document).
//!
//! | route | scope | what |
//! | --- | --- | --- |
//! | `GET /sagas` | read | list sagas, newest first; filter by state, integration, target, order |
//! | `GET /sagas/{id}` | read | one saga with its full timeline |
//! | `POST /sagas/{id}/retry` | operator | try the current step again now |
//! | `POST /sagas/{id}/skip` | operator | mark done without creating the order |
//! | `POST /sagas/{id}/cancel` | operator | abandon it |

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use ferry_platform::admin::{ApiError, OperatorAccess, ReadAccess};
use ferry_proto::messages::FailureInfo;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::actors::SagaActors;
use crate::engine::{EngineError, Input, Outcome};
use crate::saga::{CustomerSource, OperatorAction, SagaState, Step, Wait};
use crate::store::{event_row, saga_row};

/// A saga without its timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SagaSummary {
    /// Saga id (the correlation id of its commands).
    pub id: Uuid,
    /// Integration.
    pub integration_id: Uuid,
    /// Target system (`mpluskassa` or `mailchimp`).
    pub target: String,
    /// Order number from the source.
    pub external_id: String,
    /// Overall state.
    pub state: SagaState,
    /// Current step.
    pub step: Step,
    /// What it waits for.
    pub wait: Wait,
    /// Failed attempts at the current step.
    pub attempt: u32,
    /// When its next timer is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// SKUs missing in the target (parked sagas).
    pub missing_skus: Vec<String>,
    /// The last failure.
    #[schema(value_type = Option<Object>)]
    pub last_error: Option<FailureInfo>,
    /// How it ended, or why it is parked.
    pub outcome: Option<String>,
    /// The customer id the order is booked on.
    pub customer_id: Option<String>,
    /// Where that id comes from: looked up by this saga, or reused from a recent
    /// resolution of the same customer data.
    pub customer_source: CustomerSource,
    /// The order's id in the target.
    pub target_order_id: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One entry of a saga's timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimelineEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What happened: `received`, `started`, `command_sent`, `reply`, `reply_ignored`,
    /// `timeout`, `retry_scheduled`, `waiting_for_customer`, `customer_lock_acquired`,
    /// `customer_reused`, `customer_reuse_invalidated`, `default_debtor`, `parked`, `still_missing`, `recheck`, `resumed`, `failed`,
    /// `completed`, `skipped`, `cancelled`, `operator_*`, `duplicate_order_event`.
    pub kind: String,
    /// At which step.
    pub step: String,
    /// The command or reply concerned.
    pub message_id: Option<Uuid>,
    /// Its type.
    pub message_type: Option<String>,
    /// Details (e-mail addresses masked).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A saga with its timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SagaDetail {
    /// The saga.
    #[serde(flatten)]
    pub saga: SagaSummary,
    /// Every step, oldest first.
    pub timeline: Vec<TimelineEvent>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this state (`queued`, `running`, `waiting_products`, `failed`, `completed`,
    /// `skipped`, `cancelled`).
    state: Option<String>,
    /// Only this integration.
    integration_id: Option<Uuid>,
    /// Only this target system.
    target: Option<String>,
    /// Only this order number.
    external_id: Option<String>,
    /// Page size, 1 to 500 (default 100).
    limit: Option<u64>,
    /// Sagas to skip.
    offset: Option<u64>,
}

/// Lists sagas, newest first.
#[utoipa::path(
    get,
    path = "/sagas",
    tag = "order sagas",
    params(ListQuery),
    responses((status = 200, description = "Sagas", body = [SagaSummary]),
               (status = 400, description = "An unknown state"))
)]
async fn list(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let mut select = saga_row::Entity::find().order_by_desc(saga_row::Column::Id);
    if let Some(state) = &query.state {
        let state = SagaState::parse(state).ok_or_else(|| {
            ApiError::invalid(format!(
                "state {state:?} is unknown; use one of {}",
                SagaState::ALL.map(SagaState::as_str).join(", ")
            ))
        })?;
        select = select.filter(saga_row::Column::State.eq(state.as_str()));
    }
    if let Some(integration) = query.integration_id {
        select = select.filter(saga_row::Column::IntegrationId.eq(integration));
    }
    if let Some(target) = &query.target {
        select = select.filter(saga_row::Column::Target.eq(target.as_str()));
    }
    if let Some(external_id) = &query.external_id {
        select = select.filter(saga_row::Column::ExternalId.eq(external_id.as_str()));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 500"));
    }
    let rows = select
        .limit(limit)
        .offset(ferry_platform::db::page_offset(query.offset))
        .all(state.actors.engine().db())
        .await
        .map_err(ApiError::internal)?;
    let sagas: Vec<SagaSummary> = rows.iter().map(summary).collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(sagas))
}

/// One saga with its full timeline.
#[utoipa::path(
    get,
    path = "/sagas/{id}",
    tag = "order sagas",
    params(("id" = Uuid, Path, description = "Saga id")),
    responses((status = 200, body = SagaDetail), (status = 404, description = "No such saga"))
)]
async fn get(
    _who: ReadAccess,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    Ok(HttpResponse::Ok().json(detail(state.actors.engine().db(), id).await?))
}

/// Loads one saga with its timeline.
pub async fn detail(db: &DatabaseConnection, id: Uuid) -> Result<SagaDetail, ApiError> {
    let row = saga_row::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no saga {id}")))?;
    let events = event_row::Entity::find()
        .filter(event_row::Column::SagaId.eq(id))
        .order_by_asc(event_row::Column::Id)
        .all(db)
        .await
        .map_err(ApiError::internal)?;
    Ok(SagaDetail {
        saga: summary(&row)?,
        timeline: events
            .into_iter()
            .map(|e| TimelineEvent {
                at: e.at,
                kind: e.kind,
                step: e.step,
                message_id: e.message_id,
                message_type: e.message_type,
                detail: e.detail,
            })
            .collect(),
    })
}

/// Tries the saga's current step again now (from `failed`, `waiting_products`, or a running
/// saga waiting for a reply or a retry).
#[utoipa::path(
    post,
    path = "/sagas/{id}/retry",
    tag = "order sagas",
    params(("id" = Uuid, Path, description = "Saga id")),
    responses((status = 200, body = SagaDetail), (status = 404, description = "No such saga"),
               (status = 409, description = "Not possible in the saga's state"))
)]
async fn retry(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    operate(
        &state.actors,
        id.into_inner(),
        OperatorAction::Retry,
        who.name,
    )
    .await
}

/// Marks the saga done without creating the order (it was entered by other means).
#[utoipa::path(
    post,
    path = "/sagas/{id}/skip",
    tag = "order sagas",
    params(("id" = Uuid, Path, description = "Saga id")),
    responses((status = 200, body = SagaDetail), (status = 404, description = "No such saga"),
               (status = 409, description = "The saga is finished already"))
)]
async fn skip(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    operate(
        &state.actors,
        id.into_inner(),
        OperatorAction::Skip,
        who.name,
    )
    .await
}

/// Abandons the saga; the order is not created.
#[utoipa::path(
    post,
    path = "/sagas/{id}/cancel",
    tag = "order sagas",
    params(("id" = Uuid, Path, description = "Saga id")),
    responses((status = 200, body = SagaDetail), (status = 404, description = "No such saga"),
               (status = 409, description = "The saga is finished already"))
)]
async fn cancel(
    OperatorAccess(who): OperatorAccess,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    operate(
        &state.actors,
        id.into_inner(),
        OperatorAction::Cancel,
        who.name,
    )
    .await
}

async fn operate(
    actors: &Arc<SagaActors>,
    id: Uuid,
    action: OperatorAction,
    who: String,
) -> Result<HttpResponse, ApiError> {
    let applied = actors
        .drive(id, Input::Operator { action, who })
        .await
        .map_err(|e| match e {
            EngineError::Db(_) | EngineError::Stopping => {
                ApiError::Unavailable("the saga database is unavailable; try again".into())
            }
            other => ApiError::internal(other),
        })?;
    match applied.outcome {
        Outcome::NotFound => Err(ApiError::not_found(format!("no saga {id}"))),
        Outcome::Refused(why) => Err(ApiError::Conflict(why)),
        _ => Ok(HttpResponse::Ok().json(detail(actors.engine().db(), id).await?)),
    }
}

fn summary(row: &saga_row::Model) -> Result<SagaSummary, ApiError> {
    let saga = crate::store::saga_from_row(row).map_err(ApiError::internal)?;
    Ok(SagaSummary {
        id: row.id,
        integration_id: row.integration_id,
        target: row.target.clone(),
        external_id: row.external_id.clone(),
        state: saga.state,
        step: saga.step,
        wait: saga.wait,
        attempt: saga.attempt,
        next_attempt_at: saga.next_attempt_at,
        missing_skus: saga
            .missing_skus
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        last_error: saga.last_error,
        outcome: saga.outcome,
        customer_id: row.customer_id.clone(),
        customer_source: saga.customer_source,
        target_order_id: row.target_order_id.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        finished_at: row.finished_at,
    })
}

/// The OpenAPI description of these routes.
#[derive(OpenApi)]
#[openapi(
    paths(list, get, retry, skip, cancel),
    components(schemas(
        SagaSummary,
        SagaDetail,
        TimelineEvent,
        SagaState,
        Step,
        Wait,
        CustomerSource
    ))
)]
pub struct SagaApi;

/// What the routes share.
#[derive(Debug)]
pub struct AdminState {
    /// The saga actors (and through them the engine and its database).
    pub actors: Arc<SagaActors>,
}

/// Mounts the routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AdminState>) {
    cfg.app_data(state)
        .route("/sagas", web::get().to(list))
        .route("/sagas/{id}", web::get().to(get))
        .route("/sagas/{id}/retry", web::post().to(retry))
        .route("/sagas/{id}/skip", web::post().to(skip))
        .route("/sagas/{id}/cancel", web::post().to(cancel));
}
