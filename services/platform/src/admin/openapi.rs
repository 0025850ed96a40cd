//! The service's OpenAPI document, served at `/api/v1/openapi.json` (read scope).
//!
//! It holds the scaffold's own endpoints, the service's documents nested under `/api/v1`,
//! the security scheme `bearer`, and on every `/api/v1` operation a `bearer` security
//! requirement plus `x-required-scope` (`read` or `operator`).

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, OpenApi as OpenApiDoc};

use super::errors::{ApiError, ErrorBody, ErrorCode, ErrorType};
use super::health::{CheckStatus, HealthBody, ReadinessBody};
use crate::config::Scope;

/// Prefix of every authenticated admin route.
pub const API_PREFIX: &str = "/api/v1";
/// Name of the security scheme in the document.
pub const SECURITY_SCHEME: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    paths(super::health::healthz, super::health::readyz, super::health::metrics, openapi_json, super::audit::audit),
    components(schemas(ErrorBody, ErrorCode, ErrorType, HealthBody, ReadinessBody, CheckStatus, super::audit::AuditRecord)),
    tags(
        (name = "health", description = "Liveness, readiness and metrics (no token)"),
        (name = "admin", description = "Admin API (bearer token)")
    )
)]
struct ScaffoldApi;

/// The served document.
pub(crate) struct Document(pub(crate) String);

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "admin",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
    )
)]
pub(crate) async fn openapi_json(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// Builds the document of `service_name` from the scaffold's endpoints and the service's
/// documents (whose paths are relative to `/api/v1`).
pub fn build(service_name: &str, service_docs: Vec<OpenApiDoc>) -> OpenApiDoc {
    let mut doc = ScaffoldApi::openapi();
    doc.info.title = format!("Ferry {service_name} admin API");
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.info.description = Some(
        "Admin API of one Ferry service. Everything under /api/v1 needs \
         `Authorization: Bearer <token>`: GET needs the read scope, other methods the \
         operator scope. Errors are {message, code, type, link} objects."
            .to_owned(),
    );
    for service_doc in service_docs {
        doc = doc.nest(API_PREFIX, service_doc);
    }

    doc.components
        .get_or_insert_with(Components::default)
        .security_schemes
        .insert(
            SECURITY_SCHEME.to_owned(),
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    for (path, item) in doc.paths.paths.iter_mut() {
        if path.starts_with(API_PREFIX) {
            require_bearer(item);
        }
    }
    doc
}

/// Marks every operation of `item` as requiring the bearer scheme and its scope.
fn require_bearer(item: &mut PathItem) {
    let operations: [(&mut Option<Operation>, Scope); 8] = [
        (&mut item.get, Scope::Read),
        (&mut item.head, Scope::Read),
        (&mut item.options, Scope::Read),
        (&mut item.put, Scope::Operator),
        (&mut item.post, Scope::Operator),
        (&mut item.delete, Scope::Operator),
        (&mut item.patch, Scope::Operator),
        (&mut item.trace, Scope::Operator),
    ];
    for (operation, scope) in operations {
        let Some(operation) = operation else {
            continue;
        };
        operation.security = Some(vec![SecurityRequirement::new(
            SECURITY_SCHEME,
            Vec::<String>::new(),
        )]);
        operation
            .extensions
            .get_or_insert_with(Default::default)
            .insert("x-required-scope".to_owned(), scope.as_str().into());
        let responses = &mut operation.responses.responses;
        for (status, description) in [
            ("401", "No valid bearer token"),
            ("403", "The token's scope is insufficient"),
            (
                "429",
                "Too many failed authentications from this address (Retry-After)",
            ),
        ] {
            responses.entry(status.to_owned()).or_insert_with(|| {
                utoipa::openapi::ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build()
                    .into()
            });
        }
    }
}

/// Serializes `doc`, turning the (impossible) failure into an internal error.
pub(crate) fn render(doc: &OpenApiDoc) -> Result<String, ApiError> {
    doc.to_json().map_err(ApiError::internal)
}
