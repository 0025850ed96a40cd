//! Bearer-token authentication of `/api/v1`.
//!
//! Every request under `/api/v1` passes the `require_token` middleware: a token from
//! [`AdminConfig::tokens`](crate::config::AdminConfig) must be presented as
//! `Authorization: Bearer <token>`. `GET`, `HEAD` and `OPTIONS` need the `read` scope, every
//! other method the `operator` scope. Missing or unknown tokens get `401` with
//! `WWW-Authenticate: Bearer`; a valid token with too small a scope gets `403`.
//!
//! Handlers can take [`ReadAccess`] or [`OperatorAccess`] to learn who called (for audit
//! logs) and to demand a scope explicitly.
//!
//! Failed authentications are counted per client address and minute: beyond
//! `admin.auth_failures_per_minute`, the address gets `429` with `Retry-After` until its
//! minute is over, whatever it presents (tokens cannot be guessed at speed).

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use subtle::ConstantTimeEq;

use super::audit::{AuditRecord, AuditTrail};
use super::errors::ApiError;
use crate::config::{Scope, Secret, TokenConfig};

/// Who called: the name and scope of the token presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's configured name.
    pub name: String,
    /// The token's scope.
    pub scope: Scope,
    /// The integrations the token is limited to (lower-case ids); empty: all.
    pub integrations: Arc<Vec<String>>,
}

impl Principal {
    /// Whether the token may see and act on `integration` (an id as written in a path or
    /// query).
    pub fn may_use(&self, integration: &str) -> bool {
        self.integrations.is_empty()
            || self
                .integrations
                .iter()
                .any(|i| i.eq_ignore_ascii_case(integration.trim()))
    }
}

#[derive(Debug)]
struct Token {
    name: String,
    secret: Secret,
    scope: Scope,
    integrations: Arc<Vec<String>>,
}

/// The configured tokens and the failed-authentication counts, shared by all workers.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    tokens: Arc<Vec<Token>>,
    failures: Arc<FailedAuthentications>,
}

/// How long one window of failed authentications of an address lasts.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Addresses remembered at most; beyond, windows that are over are forgotten first.
const MAX_ADDRESSES: usize = 10_000;

/// Failed authentications per client address in its current window.
#[derive(Debug, Default)]
struct FailedAuthentications {
    /// Failures allowed per window; 0: no limit.
    limit: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailedAuthentications {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(seconds left)` while `address` has used up its failures of this window.
    fn check(&self, address: IpAddr, now: Instant) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        match self.lock().get(&address) {
            Some((started, count))
                if *count >= self.limit && now.duration_since(*started) < FAILURE_WINDOW =>
            {
                let left = FAILURE_WINDOW.saturating_sub(now.duration_since(*started));
                Err(left.as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    fn failed(&self, address: IpAddr, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let mut windows = self.lock();
        if windows.len() >= MAX_ADDRESSES {
            windows.retain(|_, (started, _)| now.duration_since(*started) < FAILURE_WINDOW);
        }
        let window = windows.entry(address).or_insert((now, 0));
        if now.duration_since(window.0) >= FAILURE_WINDOW {
            *window = (now, 0);
        }
        window.1 = window.1.saturating_add(1);
        if window.1 == self.limit {
            tracing::warn!(%address, failures = window.1, "admin API: too many failed authentications; the address waits until its minute is over");
        }
    }
}

impl Tokens {
    /// Tokens from configuration (no limit on failed authentications).
    pub fn new(config: &[TokenConfig]) -> Self {
        Self {
            tokens: Arc::new(
                config
                    .iter()
                    .map(|t| Token {
                        name: t.name.clone(),
                        secret: t.token.clone(),
                        scope: t.scope,
                        integrations: Arc::new(
                            t.integrations
                                .iter()
                                .map(|i| i.trim().to_ascii_lowercase())
                                .collect(),
                        ),
                    })
                    .collect(),
            ),
            failures: Arc::default(),
        }
    }

    /// Limits failed authentications to `per_minute` per client address (0: no limit).
    pub fn with_failure_limit(self, per_minute: u32) -> Self {
        Self {
            failures: Arc::new(FailedAuthentications {
                limit: per_minute,
                windows: Mutex::default(),
            }),
            ..self
        }
    }

    /// The principal owning `presented`, if any. Every configured token is compared in
    /// constant time (only the length of a mismatching token can leak), and all of them are
    /// always compared.
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        let mut found = None;
        for token in self.tokens.iter() {
            let equal: bool = token
                .secret
                .expose()
                .as_bytes()
                .ct_eq(presented.as_bytes())
                .into();
            if equal && found.is_none() {
                found = Some(Principal {
                    name: token.name.clone(),
                    scope: token.scope,
                    integrations: token.integrations.clone(),
                });
            }
        }
        found
    }

    /// The principal of `req`'s `Authorization: Bearer` header; a failure counts against the
    /// client's address, and an address with too many failures is refused first.
    pub fn authenticate_request(&self, req: &HttpRequest) -> Result<Principal, ApiError> {
        let address = req.peer_addr().map(|a| a.ip());
        let now = Instant::now();
        if let Some(address) = address {
            self.failures
                .check(address, now)
                .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
        }
        let result = self.principal_of(req);
        if let (Err(_), Some(address)) = (&result, address) {
            self.failures.failed(address, now);
        }
        result
    }

    fn principal_of(&self, req: &HttpRequest) -> Result<Principal, ApiError> {
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("missing bearer token"))?;
        let value = value
            .to_str()
            .map_err(|_| ApiError::Unauthorized("invalid bearer token"))?;
        let token = bearer_token(value).ok_or(ApiError::Unauthorized("missing bearer token"))?;
        self.authenticate(token)
            .ok_or(ApiError::Unauthorized("invalid bearer token"))
    }
}

/// The token of an `Authorization` value `Bearer <token>` (scheme case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The scope a request method needs: `read` for safe methods, `operator` otherwise.
pub fn required_scope(method: &Method) -> Scope {
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        Scope::Read
    } else {
        Scope::Operator
    }
}

/// Authenticates `req` and checks its scope, remembering the [`Principal`] in the request
/// extensions.
fn authorize(req: &HttpRequest, required: Scope) -> Result<Principal, ApiError> {
    if let Some(principal) = req.extensions().get::<Principal>() {
        return check_scope(principal.clone(), required);
    }
    let tokens = req.app_data::<Tokens>().cloned().unwrap_or_default();
    let principal = tokens.authenticate_request(req)?;
    req.extensions_mut().insert(principal.clone());
    check_scope(principal, required)
}

fn check_scope(principal: Principal, required: Scope) -> Result<Principal, ApiError> {
    if principal.scope.allows(required) {
        Ok(principal)
    } else {
        Err(ApiError::Forbidden { required })
    }
}

/// Middleware of `/api/v1`: bearer token required, scope by method.
pub(crate) async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let required = required_scope(req.method());
    let audited = (required == Scope::Operator).then(|| {
        (
            req.app_data::<actix_web::web::Data<AuditTrail>>().cloned(),
            req.method().to_string(),
            req.path().to_owned(),
        )
    });
    let record = |token: Option<String>, status: u16| {
        if let Some((Some(trail), method, path)) = &audited {
            trail.record(AuditRecord {
                at: chrono::Utc::now(),
                token,
                method: method.clone(),
                path: path.clone(),
                status,
            });
        }
    };
    let principal = match authorize(req.request(), required)
        .and_then(|p| within_integrations(p, req.path(), req.query_string()))
    {
        Ok(principal) => {
            tracing::debug!(token = %principal.name, method = %req.method(), path = req.path(), "admin call authorized");
            principal
        }
        Err(e) => {
            tracing::info!(method = %req.method(), path = req.path(), code = %e.code(), "admin call refused");
            // A valid token with too small a scope is named; a failed authentication is not.
            let token = req
                .request()
                .extensions()
                .get::<Principal>()
                .map(|p| p.name.clone());
            record(token, e.code().status().as_u16());
            return Err(e.into());
        }
    };
    // A NUL character is no text any database stores (PostgreSQL refuses it): a path or
    // query carrying one is a malformed request, not a server error.
    if has_nul(req.path()) || has_nul(req.query_string()) {
        let e = ApiError::InvalidRequest(
            "the path or query holds a NUL character (%00), which no field accepts".into(),
        );
        record(Some(principal.name), e.code().status().as_u16());
        return Err(e.into());
    }
    let masked = principal.scope == Scope::ReadMasked && !req.path().ends_with("/openapi.json");
    let response = next.call(req).await;
    let status = match &response {
        Ok(response) => response.status().as_u16(),
        Err(error) => error.as_response_error().status_code().as_u16(),
    };
    record(Some(principal.name), status);
    let response = response?;
    if masked && is_json(&response) {
        masked_response(response).await
    } else {
        Ok(response.map_into_boxed_body())
    }
}

/// Whether a raw (percent-encoded) path or query holds a NUL character.
fn has_nul(raw: &str) -> bool {
    raw.contains('\0') || raw.to_ascii_lowercase().contains("%00")
}

/// Whether a response is JSON (what masking reads).
fn is_json<B>(response: &ServiceResponse<B>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The response with its JSON body masked ([`super::mask`]); a body that is not JSON after
/// all is withheld rather than passed unmasked.
async fn masked_response<B: MessageBody>(
    response: ServiceResponse<B>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body)
        .await
        .map_err(|_| ApiError::Internal("the answer could not be read for masking".into()))?;
    let masked = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut value) => {
            super::mask::mask(&mut value);
            serde_json::to_vec(&value).unwrap_or_default()
        }
        Err(_) => serde_json::to_vec(&serde_json::json!({"masked": super::mask::MASK}))
            .unwrap_or_default(),
    };
    let mut head = head;
    head.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(ServiceResponse::new(
        request,
        head.set_body(masked).map_into_boxed_body(),
    ))
}

/// Refuses a call of a token limited to integrations unless it names only its own: an id
/// after an `integrations` path segment, or `?integration_id=`. The OpenAPI document is open
/// to every token.
fn within_integrations(
    principal: Principal,
    path: &str,
    query: &str,
) -> Result<Principal, ApiError> {
    if principal.integrations.is_empty() || path.ends_with("/openapi.json") {
        return Ok(principal);
    }
    let segments: Vec<&str> = path.split('/').collect();
    let mut named: Vec<String> = segments
        .windows(2)
        .filter(|w| w[0] == "integrations" && uuid::Uuid::parse_str(w[1]).is_ok())
        .map(|w| w[1].to_owned())
        .collect();
    named.extend(
        url_params(query)
            .into_iter()
            .filter(|(k, _)| k == "integration_id")
            .map(|(_, v)| v),
    );
    if named.is_empty() {
        return Err(ApiError::OutsideIntegrations(format!(
            "token `{}` is limited to integrations {}: call a route that names one \
             (…/integrations/{{id}}/… or ?integration_id=)",
            principal.name,
            principal.integrations.join(", ")
        )));
    }
    if let Some(other) = named.iter().find(|i| !principal.may_use(i)) {
        return Err(ApiError::OutsideIntegrations(format!(
            "token `{}` may not use integration {other}",
            principal.name
        )));
    }
    Ok(principal)
}

/// The `key=value` pairs of a query string, percent-decoded.
fn url_params(query: &str) -> Vec<(String, String)> {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
        .map(|q| q.into_inner())
        .unwrap_or_default()
}

/// Extractor: the caller holds a token with at least the `read` scope.
#[derive(Debug, Clone)]
pub struct ReadAccess(pub Principal);

impl FromRequest for ReadAccess {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req, Scope::Read).map(ReadAccess))
    }
}

/// Extractor: the caller holds a token with the `operator` scope.
#[derive(Debug, Clone)]
pub struct OperatorAccess(pub Principal);

impl FromRequest for OperatorAccess {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req, Scope::Operator).map(OperatorAccess))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_values_are_parsed() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    /// Issue 19, finding 6: an address failing to authenticate more than the limit within a
    /// minute is refused (429 with the seconds left), even with a valid token; other
    /// addresses are not affected, and a new minute starts over.
    #[test]
    fn failed_authentications_are_limited_per_address() {
        let tokens = Tokens::new(&[TokenConfig {
            name: "ops".into(),
            token: Secret::new("operator-token-0123456789"),
            scope: Scope::Operator,
            integrations: Vec::new(),
        }])
        .with_failure_limit(3);
        let request = |token: &str, peer: &str| {
            actix_web::test::TestRequest::default()
                .peer_addr(peer.parse().unwrap_or_else(|e| panic!("{e}")))
                .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
                .to_http_request()
        };
        let attacker = "203.0.113.7:40000";
        for _ in 0..3 {
            assert!(matches!(
                tokens.authenticate_request(&request("guess-0123456789abcdef", attacker)),
                Err(ApiError::Unauthorized(_))
            ));
        }
        for token in ["guess-0123456789abcdef", "operator-token-0123456789"] {
            match tokens.authenticate_request(&request(token, attacker)) {
                Err(ApiError::RateLimited { retry_after_secs }) => {
                    assert!((1..=60).contains(&retry_after_secs), "{retry_after_secs}");
                }
                other => panic!("not limited: {other:?}"),
            }
        }
        assert!(
            tokens
                .authenticate_request(&request("operator-token-0123456789", "198.51.100.1:1"))
                .is_ok()
        );
        // A new window: the address may try again.
        let address: IpAddr = "203.0.113.7".parse().unwrap_or_else(|e| panic!("{e}"));
        let later = Instant::now() + FAILURE_WINDOW;
        assert_eq!(tokens.failures.check(address, later), Ok(()));
        tokens.failures.failed(address, later);
        assert_eq!(tokens.failures.check(address, later), Ok(()));
        // Off with 0.
        let open = Tokens::new(&[]).with_failure_limit(0);
        for _ in 0..100 {
            assert!(matches!(
                open.authenticate_request(&request("guess-0123456789abcdef", attacker)),
                Err(ApiError::Unauthorized(_))
            ));
        }
    }

    #[test]
    fn tokens_authenticate_by_value() {
        let tokens = Tokens::new(&[
            TokenConfig {
                name: "grafana".into(),
                token: Secret::new("read-token-0123456789"),
                scope: Scope::Read,
                integrations: Vec::new(),
            },
            TokenConfig {
                name: "oncall".into(),
                token: Secret::new("operator-token-0123456789"),
                scope: Scope::Operator,
                integrations: Vec::new(),
            },
        ]);
        let principal = tokens.authenticate("operator-token-0123456789");
        assert_eq!(principal.map(|p| p.name), Some("oncall".to_owned()));
        assert_eq!(tokens.authenticate("read-token-012345678"), None);
        assert_eq!(tokens.authenticate(""), None);
    }
}
