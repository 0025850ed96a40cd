//! The HTTP route table: which service owns each public path prefix.
//!
//! The embedded `ferry` serves every route on one address; split into five services, a
//! reverse proxy (the Kubernetes Ingress, a Gateway API HTTPRoute, nginx in the tests) sends
//! each prefix to the service that owns it. This table is that mapping, once:
//!
//! - every standalone service refuses to start ([`check_openapi`], called by the admin server's
//!   `bind`) when one of its `/api/v1` routes is not routed to it by this table;
//! - `ferry routes` prints it as JSON; `k8s/base/routes.json` is that output, the Ingress and
//!   HTTPRoute in `k8s/base/` are checked against it by `scripts/validate-deploy.sh`.
//!
//! Prefixes match whole path segments (`/api/v1/integrations` matches
//! `/api/v1/integrations/x`, not `/api/v1/integration-health`), like the Ingress `Prefix`
//! path type and Gateway API `PathPrefix` matches.

use serde::Serialize;
use utoipa::openapi::OpenApi;

/// Whether a route needs an admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Under `/api/v1`: a bearer token (checked by the service).
    Api,
    /// Served without a token (the dashboard's assets, webhooks authenticated by their key).
    Public,
}

/// One prefix and the service that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Path prefix, whole segments, without a trailing slash.
    pub prefix: &'static str,
    /// The service (binary name) serving it.
    pub service: &'static str,
    /// Token or not.
    pub access: Access,
}

const fn api(prefix: &'static str, service: &'static str) -> Route {
    Route {
        prefix,
        service,
        access: Access::Api,
    }
}

const fn public(prefix: &'static str, service: &'static str) -> Route {
    Route {
        prefix,
        service,
        access: Access::Public,
    }
}

/// Every prefix a client (the dashboard, an operator, MailChimp's webhooks) may call through
/// the single entry point. Health, readiness and metrics stay on each service's admin port.
pub const ROUTES: &[Route] = &[
    api("/api/v1/mailchimp", "connector-mailchimp"),
    public("/webhooks/mailchimp", "connector-mailchimp"),
    api("/api/v1/mpluskassa", "connector-mpluskassa"),
    api("/api/v1/integrations", "mapper"),
    api("/api/v1/sagas", "order-orchestrator"),
    api("/api/v1/activity", "notifier"),
    api("/api/v1/alerts", "notifier"),
    api("/api/v1/charts", "notifier"),
    api("/api/v1/dead-letters", "notifier"),
    api("/api/v1/gdpr", "notifier"),
    api("/api/v1/integration-directory", "notifier"),
    api("/api/v1/integration-freshness", "notifier"),
    api("/api/v1/integration-health", "notifier"),
    api("/api/v1/retention", "notifier"),
    public("/dashboard", "notifier"),
];

/// The route whose prefix matches `path` (whole segments), if any.
pub fn owner(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|route| {
        path.strip_prefix(route.prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Whether `service` is one of the services of the table.
pub fn is_routed_service(service: &str) -> bool {
    ROUTES.iter().any(|route| route.service == service)
}

/// A route of a service that the table sends elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} of {service} is not routed to it by the route table (services/platform/src/routes.rs): {}", .routed_to.unwrap_or("no service"))]
pub struct Unrouted {
    /// The service.
    pub service: String,
    /// Its path.
    pub path: String,
    /// Where the table sends it instead.
    pub routed_to: Option<&'static str>,
}

/// Paths every admin server serves about itself (its OpenAPI document, its audit trail):
/// reached on each service's own admin port, not through the route table.
pub const PER_SERVICE_PATHS: [&str; 2] = ["/api/v1/openapi.json", "/api/v1/audit"];

/// Checks that every `/api/v1` path of `service`'s OpenAPI document is routed to it (the
/// [`PER_SERVICE_PATHS`] stay per service). Services outside the table (`ferry`, tests) are
/// not checked.
pub fn check_openapi(service: &str, doc: &OpenApi) -> Result<(), Unrouted> {
    if !is_routed_service(service) {
        return Ok(());
    }
    for path in doc.paths.paths.keys() {
        if !path.starts_with("/api/v1/") || PER_SERVICE_PATHS.contains(&path.as_str()) {
            continue;
        }
        let routed_to = owner(path).map(|route| route.service);
        if routed_to != Some(service) {
            return Err(Unrouted {
                service: service.to_owned(),
                path: path.clone(),
                routed_to,
            });
        }
    }
    Ok(())
}

/// The table as pretty JSON (what `ferry routes` prints and `k8s/base/routes.json` holds).
pub fn to_json() -> String {
    let mut json = serde_json::to_string_pretty(ROUTES).unwrap_or_default();
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert_eq!(
            owner("/api/v1/integrations/abc/settings").map(|r| r.service),
            Some("mapper")
        );
        assert_eq!(
            owner("/api/v1/integrations").map(|r| r.service),
            Some("mapper")
        );
        assert_eq!(
            owner("/api/v1/integration-health").map(|r| r.service),
            Some("notifier")
        );
        assert_eq!(
            owner("/api/v1/mpluskassa/integrations/1/reference-data").map(|r| r.service),
            Some("connector-mpluskassa")
        );
        assert_eq!(
            owner("/dashboard/app.js").map(|r| r.access),
            Some(Access::Public)
        );
        assert_eq!(owner("/api/v1/integrationsx"), None);
        assert_eq!(owner("/metrics"), None);
    }

    #[test]
    fn no_prefix_shadows_another() {
        for a in ROUTES {
            for b in ROUTES {
                if a != b {
                    assert!(
                        !(b.prefix.starts_with(a.prefix)
                            && b.prefix[a.prefix.len()..].starts_with('/')),
                        "{} shadows {}",
                        a.prefix,
                        b.prefix
                    );
                }
            }
        }
    }

    #[test]
    fn a_service_route_sent_elsewhere_is_refused() {
        let doc: OpenApi = serde_json::from_value(serde_json::json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/api/v1/sagas/{id}": {},
                "/api/v1/openapi.json": {},
                "/healthz": {}
            }
        }))
        .expect("a document");
        assert!(check_openapi("order-orchestrator", &doc).is_ok());
        assert!(check_openapi("ferry", &doc).is_ok());
        let err = check_openapi("mapper", &doc).expect_err("sagas belong to the orchestrator");
        assert_eq!(err.routed_to, Some("order-orchestrator"));
        assert!(err.to_string().contains("/api/v1/sagas/{id} of mapper"));
    }

    #[test]
    fn the_checked_in_table_is_this_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../k8s/base/routes.json");
        let stored = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            stored,
            to_json(),
            "k8s/base/routes.json is stale: regenerate it with `ferry routes > k8s/base/routes.json`"
        );
    }
}
