//! The service's OpenAPI document, served at `/api/v1/openapi.json` (read scope).
//!
//! It holds the scaffold's own endpoints, the service's documents nested under `/api/v1`,
//! the security scheme `bearer`, and on every `/api/v1` operation a `bearer` security
//! requirement plus `x-required-scope` (`read` or `operator`), and the answers the scaffold
//! gives whatever the handler: 401, 403 and 429 always, 400 when the operation takes
//! parameters or a body, 404 when its path names a record.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
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

/// Names of component schemas that two of `docs` (or one of them and the scaffold) define
/// differently. Merged into one document, the later definition would silently replace the
/// earlier, and the document would describe one service's answers with another's schema.
pub fn schema_conflicts(docs: &[OpenApiDoc]) -> Vec<String> {
    let scaffold = ScaffoldApi::openapi();
    let mut seen = std::collections::BTreeMap::new();
    let mut conflicts = std::collections::BTreeSet::new();
    for doc in std::iter::once(&scaffold).chain(docs) {
        let Some(components) = &doc.components else {
            continue;
        };
        for (name, schema) in &components.schemas {
            match seen.get(name) {
                Some(earlier) if *earlier != schema => {
                    conflicts.insert(name.clone());
                }
                Some(_) => {}
                None => {
                    seen.insert(name, schema);
                }
            }
        }
    }
    conflicts.into_iter().collect()
}

/// Marks every operation of `item` as requiring the bearer scheme and its scope, and
/// documents the answers the scaffold gives whatever the handler.
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
        // What the scaffold answers for any operation, whatever its handler: the token
        // check, and the extractors' refusals of a malformed path, query or body (400), and
        // a path naming no record (404; every handler with a path parameter looks it up).
        let mut answers = vec![
            ("401", "No valid bearer token"),
            ("403", "The token's scope is insufficient"),
            (
                "429",
                "Too many failed authentications from this address (Retry-After)",
            ),
        ];
        let parameters = operation.parameters.as_deref().unwrap_or_default();
        if !parameters.is_empty() || operation.request_body.is_some() {
            answers.push((
                "400",
                "invalid_request: a malformed path, query or body; `message` says which",
            ));
        }
        if parameters
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Path))
        {
            answers.push(("404", "not_found: no record with this id"));
        }
        let responses = &mut operation.responses.responses;
        for (status, description) in answers {
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

#[cfg(test)]
mod tests {
    use super::*;

    mod things {
        //! A service whose `Thing` is not the other service's.
        #![allow(dead_code)]

        /// A thing.
        #[derive(utoipa::ToSchema)]
        pub struct Thing {
            /// Its name.
            pub name: String,
        }

        /// Lists things.
        #[utoipa::path(get, path = "/things", responses((status = 200, body = [Thing])))]
        pub async fn list() {}

        /// One thing.
        #[utoipa::path(get, path = "/things/{name}", params(("name" = String, Path)),
            responses((status = 200, body = Thing)))]
        pub async fn get() {}

        /// Creates a thing.
        #[utoipa::path(post, path = "/things", request_body = Thing,
            responses((status = 201, description = "Created")))]
        pub async fn create() {}

        #[derive(utoipa::OpenApi)]
        #[openapi(paths(list, get, create), components(schemas(Thing)))]
        pub struct Api;
    }

    mod other {
        //! Another service with a different `Thing`.
        #![allow(dead_code)]

        /// Another thing.
        #[derive(utoipa::ToSchema)]
        pub struct Thing {
            /// Its number.
            pub number: u32,
        }

        #[derive(utoipa::OpenApi)]
        #[openapi(components(schemas(Thing)))]
        pub struct Api;
    }

    fn statuses(doc: &OpenApiDoc, path: &str, method: &str) -> Vec<String> {
        let doc = serde_json::to_value(doc).expect("document");
        let responses = doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} in {doc}"));
        responses.keys().cloned().collect()
    }

    /// Found by scripts/api-fuzz.sh: the extractors' 400 and the 404 of a path naming no
    /// record were answered but not documented.
    #[test]
    fn the_scaffolds_own_answers_are_documented() {
        let doc = build("test", vec![things::Api::openapi()]);
        assert_eq!(
            statuses(&doc, "/api/v1/things", "get"),
            ["200", "401", "403", "429"],
            "no parameter, no body: nothing to refuse as malformed"
        );
        assert_eq!(
            statuses(&doc, "/api/v1/things", "post"),
            ["201", "400", "401", "403", "429"]
        );
        assert_eq!(
            statuses(&doc, "/api/v1/things/{name}", "get"),
            ["200", "400", "401", "403", "404", "429"]
        );
    }

    /// Found by scripts/api-fuzz.sh: both connectors named their schemas `IntegrationView`,
    /// and the merged document described one connector's answers with the other's schema.
    #[test]
    fn schemas_defined_differently_under_one_name_are_conflicts() {
        assert!(schema_conflicts(&[things::Api::openapi(), things::Api::openapi()]).is_empty());
        assert_eq!(
            schema_conflicts(&[things::Api::openapi(), other::Api::openapi()]),
            ["Thing"]
        );
    }
}
