//! Black-box tests of the admin server: a real listener on 127.0.0.1:0, called with reqwest.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use ferry_platform::admin::{
    AdminServer, ApiError, OperatorAccess, ReadAccess, ReadinessCheck, RunningAdminServer,
};
use ferry_platform::config::{AdminConfig, Scope, Secret, TokenConfig};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::OpenApi;

const READ_TOKEN: &str = "read-token-0123456789";
const OPERATOR_TOKEN: &str = "operator-token-0123456789";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct NewThing {
    name: String,
}

/// Lists things.
#[utoipa::path(get, path = "/things", responses((status = 200, description = "The things")))]
async fn list_things(ReadAccess(who): ReadAccess) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "things": ["a", "b"], "caller": who.name }))
}

/// Creates a thing.
#[utoipa::path(post, path = "/things", request_body = NewThing, responses((status = 201, description = "Created")))]
async fn create_thing(
    OperatorAccess(who): OperatorAccess,
    body: web::Json<NewThing>,
) -> Result<HttpResponse, ApiError> {
    if body.name == "taken" {
        return Err(ApiError::Conflict("thing `taken` exists".into()));
    }
    if body.name == "boom" {
        return Err(ApiError::internal("secret detail: password=hunter2"));
    }
    Ok(HttpResponse::Created().json(json!({ "name": body.name, "by": who.name })))
}

#[derive(OpenApi)]
#[openapi(paths(list_things, create_thing), components(schemas(NewThing)))]
struct ThingsApi;

struct Fixed(Result<(), String>);

#[async_trait::async_trait]
impl ReadinessCheck for Fixed {
    async fn check(&self) -> Result<(), String> {
        self.0.clone()
    }
}

struct Slow;

#[async_trait::async_trait]
impl ReadinessCheck for Slow {
    async fn check(&self) -> Result<(), String> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    }
}

fn admin_config() -> AdminConfig {
    AdminConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        tokens: vec![
            TokenConfig {
                name: "grafana".into(),
                token: Secret::new(READ_TOKEN),
                scope: Scope::Read,
                integrations: Vec::new(),
            },
            TokenConfig {
                name: "oncall".into(),
                token: Secret::new(OPERATOR_TOKEN),
                scope: Scope::Operator,
                integrations: Vec::new(),
            },
        ],
        ..AdminConfig::default()
    }
}

struct TestApp {
    server: RunningAdminServer,
    client: reqwest::Client,
}

impl TestApp {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.local_addr())
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }
}

fn spawn_with(checks: Vec<(&str, Arc<dyn ReadinessCheck>)>) -> TestApp {
    spawn_configured(checks, &admin_config())
}

fn spawn_configured(checks: Vec<(&str, Arc<dyn ReadinessCheck>)>, config: &AdminConfig) -> TestApp {
    let mut builder = AdminServer::builder("test-service", config)
        .readiness_timeout(Duration::from_millis(300))
        .workers(1)
        .api(
            |cfg| {
                cfg.route("/things", web::get().to(list_things))
                    .route("/things", web::post().to(create_thing));
            },
            ThingsApi::openapi(),
        );
    for (name, check) in checks {
        builder = builder.readiness(name, check);
    }
    let server = builder.bind().expect("admin server starts");
    TestApp {
        server,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
    }
}

fn spawn() -> TestApp {
    spawn_with(vec![("database", Arc::new(Fixed(Ok(()))))])
}

async fn json_body(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON body")
}

#[tokio::test]
async fn healthz_is_ok_without_token() {
    let app = spawn();
    assert_ne!(app.server.local_addr().port(), 0);
    let response = app.get("/healthz", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(response).await, json!({ "status": "ok" }));
}

#[tokio::test]
async fn readyz_is_200_when_every_check_passes() {
    let app = spawn_with(vec![
        ("database", Arc::new(Fixed(Ok(())))),
        ("bus", Arc::new(Fixed(Ok(())))),
    ]);
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json_body(response).await,
        json!({ "status": "ready", "checks": { "bus": "ok", "database": "ok" } })
    );
}

#[tokio::test]
async fn readyz_is_503_with_a_failing_or_slow_check() {
    let app = spawn_with(vec![
        ("database", Arc::new(Fixed(Ok(())))),
        (
            "bus",
            Arc::new(Fixed(Err("connection refused to amqp://x".into()))),
        ),
        ("slow", Arc::new(Slow)),
    ]);
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json_body(response).await;
    assert_eq!(
        body,
        json!({
            "status": "not_ready",
            "checks": { "bus": "failed", "database": "ok", "slow": "timeout" }
        })
    );
}

#[tokio::test]
async fn metrics_report_each_dependency_as_its_readiness_check_sees_it() {
    let app = spawn_with(vec![
        ("database", Arc::new(Fixed(Ok(())))),
        ("bus", Arc::new(Fixed(Err("connection refused".into())))),
        ("slow", Arc::new(Slow)),
    ]);
    let text = app.get("/metrics", None).await.text().await.expect("text");
    assert!(
        text.contains(r#"ferry_dependency_up{dependency="database"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ferry_dependency_up{dependency="bus"} 0"#),
        "{text}"
    );
    // A check that does not answer in time counts as down.
    assert!(
        text.contains(r#"ferry_dependency_up{dependency="slow"} 0"#),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_are_served_in_the_prometheus_text_format() {
    let app = spawn();
    ferry_platform::metrics::global().bus_retried("test-queue");
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("text");
    assert!(
        text.contains("# TYPE ferry_bus_publish_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains(r#"ferry_bus_messages_retried_total{queue="test-queue"} 1"#),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn openapi_requires_a_token_and_lists_the_security_scheme() {
    let app = spawn();

    let response = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");

    let response = app.get("/api/v1/openapi.json", Some(READ_TOKEN)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc = json_body(response).await;
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({ "type": "http", "scheme": "bearer" })
    );
    assert_eq!(doc["info"]["title"], "Ferry test-service admin API");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let item = item.as_object().expect("path item");
        for (method, operation) in item {
            if path.starts_with("/api/v1") {
                assert_eq!(
                    operation["security"],
                    json!([{ "bearer": [] }]),
                    "{method} {path}"
                );
                assert!(operation["responses"]["401"].is_object(), "{method} {path}");
            } else {
                assert!(operation.get("security").is_none(), "{method} {path}");
            }
        }
    }
    assert_eq!(
        doc["paths"]["/api/v1/things"]["get"]["x-required-scope"],
        "read"
    );
    assert_eq!(
        doc["paths"]["/api/v1/things"]["post"]["x-required-scope"],
        "operator"
    );
    assert!(doc["paths"]["/api/v1/openapi.json"]["get"].is_object());
    assert!(doc["paths"]["/healthz"]["get"].is_object());
    assert!(doc["components"]["schemas"]["NewThing"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[tokio::test]
async fn tokens_and_scopes_decide_401_403_or_success() {
    let app = spawn();

    // No token, unknown token, malformed header: 401 with a challenge.
    for token in [None, Some("not-a-configured-token")] {
        let response = app.get("/api/v1/things", token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(
            response
                .headers()
                .contains_key(reqwest::header::WWW_AUTHENTICATE)
        );
        let body = json_body(response).await;
        assert_eq!(body["code"], "unauthorized");
        assert_eq!(body["type"], "auth");
    }
    let response = app
        .client
        .get(app.url("/api/v1/things"))
        .header(
            reqwest::header::AUTHORIZATION,
            format!("Basic {READ_TOKEN}"),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Read token: GET yes, POST no.
    let response = app.get("/api/v1/things", Some(READ_TOKEN)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(response).await["caller"], "grafana");
    let response = app
        .post("/api/v1/things", Some(READ_TOKEN), json!({ "name": "x" }))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = json_body(response).await;
    assert_eq!(body["code"], "forbidden");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("operator")
    );
    assert!(
        body["link"]
            .as_str()
            .unwrap_or_default()
            .ends_with("#error-forbidden")
    );

    // Operator token: both.
    let response = app.get("/api/v1/things", Some(OPERATOR_TOKEN)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .post(
            "/api/v1/things",
            Some(OPERATOR_TOKEN),
            json!({ "name": "x" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        json_body(response).await,
        json!({ "name": "x", "by": "oncall" })
    );
}

#[tokio::test]
async fn errors_use_the_error_table() {
    let app = spawn();

    let response = app
        .post(
            "/api/v1/things",
            Some(OPERATOR_TOKEN),
            json!({ "name": "taken" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body = json_body(response).await;
    assert_eq!(body["code"], "conflict");
    assert_eq!(body["type"], "invalid_request");
    assert_eq!(body["message"], "thing `taken` exists");

    let response = app
        .post(
            "/api/v1/things",
            Some(OPERATOR_TOKEN),
            json!({ "name": "boom" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = response.text().await.expect("text");
    assert!(!text.contains("hunter2"), "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["code"], "internal");
    assert_eq!(body["message"], "internal error");

    let response = app
        .post("/api/v1/things", Some(OPERATOR_TOKEN), json!({ "nom": 1 }))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(response).await["code"], "invalid_request");

    let response = app.get("/api/v1/nothing-here", Some(READ_TOKEN)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_body(response).await["code"], "not_found");

    // Unknown admin routes do not reveal themselves without a token.
    let response = app.get("/api/v1/nothing-here", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = app.get("/nothing-here", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_body(response).await["code"], "not_found");
}

#[tokio::test]
async fn request_bodies_over_the_limit_are_refused_with_413() {
    // The default: 1 MiB.
    let app = spawn();
    let big = json!({ "name": "x".repeat(1024 * 1024) });
    let response = app.post("/api/v1/things", Some(OPERATOR_TOKEN), big).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_body(response).await["code"], "payload_too_large");
    let response = app
        .post(
            "/api/v1/things",
            Some(OPERATOR_TOKEN),
            json!({ "name": "x".repeat(512 * 1024) }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // Configured lower.
    let config = AdminConfig {
        max_body_bytes: 2048,
        ..admin_config()
    };
    let app = spawn_configured(vec![], &config);
    let response = app
        .post(
            "/api/v1/things",
            Some(OPERATOR_TOKEN),
            json!({ "name": "x".repeat(4096) }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = app
        .post(
            "/api/v1/things",
            Some(OPERATOR_TOKEN),
            json!({ "name": "x".repeat(1024) }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let mut errors = ferry_platform::config::ValidationErrors::default();
    AdminConfig {
        max_body_bytes: 10,
        ..admin_config()
    }
    .validate_at("admin", &mut errors);
    assert!(
        format!("{errors:?}").contains("max_body_bytes"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn stop_shuts_the_server_down() {
    let app = spawn();
    let url = app.url("/healthz");
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    app.server.stop().await.expect("clean stop");
    let result = app.client.get(url).send().await;
    assert!(result.is_err(), "{result:?}");
}

#[tokio::test]
async fn public_routes_are_served_without_a_token_and_the_api_still_needs_one() {
    let server = AdminServer::builder("test-service", &admin_config())
        .workers(1)
        .api(
            |cfg| {
                cfg.route("/things", web::get().to(list_things));
            },
            ThingsApi::openapi(),
        )
        .public(|cfg| {
            cfg.route(
                "/dashboard/",
                web::get().to(|| async { HttpResponse::Ok().body("<html>page</html>") }),
            );
        })
        .bind()
        .expect("admin server starts");
    let app = TestApp {
        server,
        client: reqwest::Client::new(),
    };
    let page = app.get("/dashboard/", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.text().await.expect("body"), "<html>page</html>");
    assert_eq!(
        app.get("/api/v1/things", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/dashboard/other", None).await.status(),
        StatusCode::NOT_FOUND
    );
}

/// Issue 19, finding 6: guessing tokens is slow. After `auth_failures_per_minute` failed
/// authentications, the address gets 429 with `Retry-After` (the error table's
/// `rate_limited`), even with a valid token; health and metrics stay open.
#[tokio::test]
async fn failed_authentications_are_rate_limited() {
    let config = AdminConfig {
        auth_failures_per_minute: 5,
        ..admin_config()
    };
    let app = spawn_configured(vec![], &config);
    for attempt in 0..5 {
        let guess = format!("guess-{attempt}-0123456789abcdef");
        assert_eq!(
            app.get("/api/v1/things", Some(&guess)).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for token in [Some("guess-5-0123456789abcdef"), None, Some(READ_TOKEN)] {
        let limited = app.get("/api/v1/things", token).await;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = limited.headers()[reqwest::header::RETRY_AFTER]
            .to_str()
            .expect("header")
            .parse()
            .expect("seconds");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let body = json_body(limited).await;
        assert_eq!(body["code"], "rate_limited");
        assert!(
            body["link"]
                .as_str()
                .unwrap_or_default()
                .ends_with("#error-rate_limited")
        );
    }
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

/// Issue 19, finding 6: every state-changing call (allowed or refused) is in the audit trail
/// with the token's name, method, path and status, never its body; reads are not; the
/// trail needs the operator scope.
#[tokio::test]
async fn state_changing_calls_are_audited() {
    let app = spawn();
    let created = app
        .post(
            "/api/v1/things",
            Some(OPERATOR_TOKEN),
            json!({"name": "private-value-7"}),
        )
        .await
        .status();
    let refused = app
        .post("/api/v1/things", Some(READ_TOKEN), json!({"name": "x"}))
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let anonymous = app.post("/api/v1/things", None, json!({"name": "x"})).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/api/v1/things", Some(OPERATOR_TOKEN))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/audit", Some(READ_TOKEN)).await.status(),
        StatusCode::FORBIDDEN
    );
    let trail = json_body(app.get("/api/v1/audit", Some(OPERATOR_TOKEN)).await).await;
    let records = trail.as_array().expect("array");
    assert_eq!(records.len(), 3, "{trail}");
    assert_eq!(records[0]["token"], Value::Null);
    assert_eq!(records[0]["status"], 401);
    assert_eq!(records[1]["token"], "grafana");
    assert_eq!(records[1]["status"], 403);
    assert_eq!(records[2]["token"], "oncall");
    assert_eq!(records[2]["method"], "POST");
    assert_eq!(records[2]["path"], "/api/v1/things");
    assert_eq!(records[2]["status"], created.as_u16());
    assert!(!trail.to_string().contains("private-value-7"), "{trail}");
}

/// `[admin] tls`: the admin server speaks HTTPS with the configured certificate (a client
/// trusting it gets health and the bearer-token API; plain HTTP gets no answer), and a
/// missing file is a configuration error naming the field.
#[tokio::test]
async fn the_admin_server_serves_tls_when_configured() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("a self-signed certificate");
    let dir = std::env::temp_dir().join(format!("ferry-admin-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_file, key_file) = (dir.join("admin.crt"), dir.join("admin.key"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let config = AdminConfig {
        tls: Some(ferry_platform::config::AdminTls {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
        }),
        ..admin_config()
    };
    let mut errors = ferry_platform::config::ValidationErrors::default();
    config.validate_at("admin", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");

    let server = AdminServer::builder("test-service", &config)
        .workers(1)
        .api(
            |cfg| {
                cfg.route("/things", web::get().to(list_things));
            },
            ThingsApi::openapi(),
        )
        .bind()
        .expect("binds with TLS");
    let port = server.local_addr().port();
    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let health = trusted
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .expect("https");
    assert_eq!(health.status(), StatusCode::OK);
    let things = trusted
        .get(format!("https://localhost:{port}/api/v1/things"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(things.status(), StatusCode::OK);
    let plain = reqwest::Client::new()
        .get(format!("http://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()),
        "plain HTTP was served"
    );
    let untrusted = reqwest::Client::new()
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(
        untrusted.is_err(),
        "a client not trusting the certificate connected"
    );
    server.stop().await.unwrap();

    let missing = AdminConfig {
        tls: Some(ferry_platform::config::AdminTls {
            cert_file: dir.join("none.crt"),
            key_file,
        }),
        ..admin_config()
    };
    let mut errors = ferry_platform::config::ValidationErrors::default();
    missing.validate_at("admin", &mut errors);
    assert!(
        format!("{errors:?}").contains("tls.cert_file"),
        "{errors:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Records of an integration, with personal data (the shape of activity and dead letters).
#[utoipa::path(get, path = "/integrations/{id}/records",
    params(("id" = String, Path, description = "Integration")),
    responses((status = 200, description = "Records")))]
async fn integration_records(path: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "integration_id": path.into_inner(),
        "records": [{
            "id": "r1", "status": "failed", "flow": "orders",
            "payload": {"customer": {"email": "anna@example.org", "last_name": "Smit"}},
            "error": {"code": "validation", "message": "customer anna@example.org has no country"},
        }],
    }))
}

/// The same across integrations, filtered by `?integration_id=`.
#[utoipa::path(get, path = "/records",
    params(("integration_id" = Option<String>, Query, description = "Integration")),
    responses((status = 200, description = "Records")))]
async fn records() -> HttpResponse {
    HttpResponse::Ok().json(json!({"records": [{"id": "r1", "email": "anna@example.org"}]}))
}

#[derive(OpenApi)]
#[openapi(paths(integration_records, records))]
struct RecordsApi;

/// Issue 19, finding 6: a `read_masked` token reads answers without personal data (payloads,
/// e-mail addresses, names masked; ids, states and codes kept) and changes nothing; a token
/// limited to integrations reaches only routes naming its own (path or `?integration_id=`),
/// and the OpenAPI document.
#[tokio::test]
async fn masked_and_integration_limited_tokens() {
    const MASKED: &str = "grafana-masked-token-0123456789";
    const LIMITED: &str = "shop-a-team-token-0123456789";
    let (a, b) = (
        "5d0c3b1e-7d3a-4c36-9f4e-5b0c7d1e2a01",
        "8e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
    );
    let mut config = admin_config();
    config.tokens.push(TokenConfig {
        name: "grafana-masked".into(),
        token: Secret::new(MASKED),
        scope: Scope::ReadMasked,
        integrations: Vec::new(),
    });
    config.tokens.push(TokenConfig {
        name: "shop-a".into(),
        token: Secret::new(LIMITED),
        scope: Scope::Operator,
        integrations: vec![a.to_uppercase()],
    });
    let mut errors = ferry_platform::config::ValidationErrors::default();
    config.validate_at("admin", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    let server = AdminServer::builder("test-service", &config)
        .workers(1)
        .api(
            |cfg| {
                cfg.route(
                    "/integrations/{id}/records",
                    web::get().to(integration_records),
                )
                .route("/records", web::get().to(records))
                .route("/things", web::post().to(create_thing));
            },
            RecordsApi::openapi(),
        )
        .bind()
        .expect("binds");
    let base = format!("http://{}/api/v1", server.local_addr());
    let http = reqwest::Client::new();
    let get = |path: String, token: &'static str| {
        let request = http.get(format!("{base}{path}")).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };

    // Masked: the shape and the codes, no person.
    let masked = get(format!("/integrations/{a}/records"), MASKED).await;
    assert_eq!(masked.status(), StatusCode::OK);
    let body: Value = masked.json().await.unwrap();
    let text = body.to_string();
    assert!(!text.contains("anna@") && !text.contains("Smit"), "{text}");
    assert_eq!(body["records"][0]["payload"], "[masked]");
    assert_eq!(body["records"][0]["status"], "failed");
    assert_eq!(body["records"][0]["error"]["code"], "validation");
    assert_eq!(body["integration_id"], a);
    // The full read scope sees the data; the masked one cannot change anything.
    let full: Value = get(format!("/integrations/{a}/records"), READ_TOKEN)
        .await
        .json()
        .await
        .unwrap();
    assert!(full.to_string().contains("anna@example.org"));
    let post = http
        .post(format!("{base}/things"))
        .bearer_auth(MASKED)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::FORBIDDEN);
    // The OpenAPI document is not masked.
    let doc: Value = get("/openapi.json".into(), MASKED)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        doc["paths"].get("/api/v1/records").is_some() || doc["paths"].get("/records").is_some(),
        "{doc}"
    );

    // Limited to integration a (configured in upper case).
    assert_eq!(
        get(format!("/integrations/{a}/records"), LIMITED)
            .await
            .status(),
        StatusCode::OK
    );
    let other = get(format!("/integrations/{b}/records"), LIMITED).await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    let why: Value = other.json().await.unwrap();
    assert!(why["message"].as_str().unwrap().contains(b), "{why}");
    assert_eq!(
        get(format!("/records?integration_id={a}"), LIMITED)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        get(format!("/records?integration_id={b}"), LIMITED)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("/records".into(), LIMITED).await.status(),
        StatusCode::FORBIDDEN,
        "no integration named"
    );
    assert_eq!(
        get("/openapi.json".into(), LIMITED).await.status(),
        StatusCode::OK
    );
    // Unlimited tokens are not affected.
    assert_eq!(
        get("/records".into(), READ_TOKEN).await.status(),
        StatusCode::OK
    );

    let mut errors = ferry_platform::config::ValidationErrors::default();
    let mut bad = admin_config();
    bad.tokens[0].integrations = vec!["shop-a".into()];
    bad.validate_at("admin", &mut errors);
    assert!(
        format!("{errors:?}").contains("integrations[0]"),
        "{errors:?}"
    );
    server.stop().await.unwrap();
}

/// Found by the admin-API fuzzer: a NUL character in a query (`?status=%00`) reached
/// PostgreSQL, which refuses it, and the call answered 500. It is a malformed request: 400.
#[tokio::test]
async fn a_nul_character_in_the_query_or_path_is_a_bad_request() {
    let app = spawn();
    for path in ["/api/v1/things?status=a%00b", "/api/v1/things%00"] {
        let response = app.get(path, Some(READ_TOKEN)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body = json_body(response).await;
        assert_eq!(body["code"], "invalid_request", "{body}");
    }
    assert_eq!(
        app.get("/api/v1/things?status=ok", Some(READ_TOKEN))
            .await
            .status(),
        StatusCode::OK
    );
}
