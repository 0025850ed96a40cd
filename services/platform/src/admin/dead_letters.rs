//! Admin API of the parking lot: list, inspect, replay and discard dead-lettered messages.
//!
//! | route | scope |
//! | --- | --- |
//! | `GET /api/v1/dead-letters` | read |
//! | `GET /api/v1/dead-letters/{queue}/{message_id}` | read |
//! | `POST /api/v1/dead-letters/{queue}/{message_id}/replay` | operator |
//! | `DELETE /api/v1/dead-letters/{queue}/{message_id}` | operator |

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use uuid::Uuid;

use super::{ApiError, OperatorAccess, ReadAccess};
use crate::bus::parking::{ParkedFilter, ParkedMessage, ParkedSummary, ParkingError, ParkingLot};

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this queue (e.g. `mapper`).
    queue: Option<String>,
    /// Only this integration.
    integration_id: Option<String>,
    /// Also list messages already replayed.
    #[serde(default)]
    include_replayed: bool,
    /// Page size, 1 to 500 (default 100).
    limit: Option<u64>,
    /// Messages to skip.
    offset: Option<u64>,
}

/// Lists parked messages, newest first.
#[utoipa::path(
    get,
    path = "/dead-letters",
    tag = "dead letters",
    params(ListQuery),
    responses((status = 200, description = "Parked messages", body = [ParkedSummary]))
)]
async fn list(
    _who: ReadAccess,
    lot: web::Data<ParkingLot>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let filter = ParkedFilter {
        queue: query.queue,
        integration_id: query.integration_id,
        include_replayed: query.include_replayed,
        limit: query.limit.unwrap_or(100),
        offset: query.offset.unwrap_or(0),
    };
    let parked = lot.list(&filter).await.map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(parked))
}

/// One parked message with its headers and body.
#[utoipa::path(
    get,
    path = "/dead-letters/{queue}/{message_id}",
    tag = "dead letters",
    params(("queue" = String, Path, description = "Queue it was parked from"),
           ("message_id" = Uuid, Path, description = "Message id")),
    responses((status = 200, body = ParkedMessage), (status = 404, description = "No such parked message"))
)]
async fn get(
    _who: ReadAccess,
    lot: web::Data<ParkingLot>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (queue, message_id) = path.into_inner();
    match lot
        .get(&queue, message_id)
        .await
        .map_err(ApiError::internal)?
    {
        Some(parked) => Ok(HttpResponse::Ok().json(parked)),
        None => Err(not_found(&queue, message_id)),
    }
}

/// Sends a parked message back to its queue, as a first attempt.
#[utoipa::path(
    post,
    path = "/dead-letters/{queue}/{message_id}/replay",
    tag = "dead letters",
    params(("queue" = String, Path, description = "Queue it was parked from"),
           ("message_id" = Uuid, Path, description = "Message id")),
    responses((status = 202, description = "Replayed"), (status = 404, description = "No such parked message"),
               (status = 503, description = "The bus could not take it; try again"))
)]
async fn replay(
    OperatorAccess(who): OperatorAccess,
    lot: web::Data<ParkingLot>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (queue, message_id) = path.into_inner();
    tracing::info!(by = %who.name, queue, %message_id, "replay of a parked message requested");
    match lot.replay(&queue, message_id).await {
        Ok(true) => Ok(HttpResponse::Accepted().finish()),
        Ok(false) => Err(not_found(&queue, message_id)),
        Err(ParkingError::Bus(error)) => Err(ApiError::Unavailable(error.to_string())),
        Err(error) => Err(ApiError::internal(error)),
    }
}

/// Forgets a parked message for good.
#[utoipa::path(
    delete,
    path = "/dead-letters/{queue}/{message_id}",
    tag = "dead letters",
    params(("queue" = String, Path, description = "Queue it was parked from"),
           ("message_id" = Uuid, Path, description = "Message id")),
    responses((status = 204, description = "Discarded"), (status = 404, description = "No such parked message"))
)]
async fn discard(
    OperatorAccess(who): OperatorAccess,
    lot: web::Data<ParkingLot>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (queue, message_id) = path.into_inner();
    tracing::info!(by = %who.name, queue, %message_id, "parked message discarded");
    if lot
        .discard(&queue, message_id)
        .await
        .map_err(ApiError::internal)?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(not_found(&queue, message_id))
    }
}

fn not_found(queue: &str, message_id: Uuid) -> ApiError {
    ApiError::not_found(format!("no parked message {message_id} from queue {queue}"))
}

/// The OpenAPI description of these routes.
#[derive(OpenApi)]
#[openapi(
    paths(list, get, replay, discard),
    components(schemas(ParkedSummary, ParkedMessage))
)]
pub struct DeadLetterApi;

/// Mounts the routes (relative to `/api/v1`); pass with [`DeadLetterApi`] to
/// `AdminServerBuilder::api`.
pub fn configure(cfg: &mut web::ServiceConfig, lot: ParkingLot) {
    cfg.app_data(web::Data::new(lot))
        .route("/dead-letters", web::get().to(list))
        .route("/dead-letters/{queue}/{message_id}", web::get().to(get))
        .route(
            "/dead-letters/{queue}/{message_id}",
            web::delete().to(discard),
        )
        .route(
            "/dead-letters/{queue}/{message_id}/replay",
            web::post().to(replay),
        );
}
