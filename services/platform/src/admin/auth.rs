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

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use subtle::ConstantTimeEq;

use super::errors::ApiError;
use crate::config::{Scope, Secret, TokenConfig};

/// Who called: the name and scope of the token presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's configured name.
    pub name: String,
    /// The token's scope.
    pub scope: Scope,
}

#[derive(Debug)]
struct Token {
    name: String,
    secret: Secret,
    scope: Scope,
}

/// The configured tokens, shared by all workers.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Arc<Vec<Token>>);

impl Tokens {
    /// Tokens from configuration.
    pub fn new(config: &[TokenConfig]) -> Self {
        Self(Arc::new(
            config
                .iter()
                .map(|t| Token {
                    name: t.name.clone(),
                    secret: t.token.clone(),
                    scope: t.scope,
                })
                .collect(),
        ))
    }

    /// The principal owning `presented`, if any. Every configured token is compared in
    /// constant time (only the length of a mismatching token can leak), and all of them are
    /// always compared.
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        let mut found = None;
        for token in self.0.iter() {
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
                });
            }
        }
        found
    }

    /// The principal of `req`'s `Authorization: Bearer` header.
    pub fn authenticate_request(&self, req: &HttpRequest) -> Result<Principal, ApiError> {
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
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let required = required_scope(req.method());
    match authorize(req.request(), required) {
        Ok(principal) => {
            tracing::debug!(token = %principal.name, method = %req.method(), path = req.path(), "admin call authorized");
        }
        Err(e) => {
            tracing::info!(method = %req.method(), path = req.path(), code = %e.code(), "admin call refused");
            return Err(e.into());
        }
    }
    next.call(req).await
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

    #[test]
    fn tokens_authenticate_by_value() {
        let tokens = Tokens::new(&[
            TokenConfig {
                name: "grafana".into(),
                token: Secret::new("read-token-0123456789"),
                scope: Scope::Read,
            },
            TokenConfig {
                name: "oncall".into(),
                token: Secret::new("operator-token-0123456789"),
                scope: Scope::Operator,
            },
        ]);
        let principal = tokens.authenticate("operator-token-0123456789");
        assert_eq!(principal.map(|p| p.name), Some("oncall".to_owned()));
        assert_eq!(tokens.authenticate("read-token-012345678"), None);
        assert_eq!(tokens.authenticate(""), None);
    }
}
