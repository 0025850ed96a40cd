//! Layered configuration shared by every service.
//!
//! Layers, later ones winning:
//!
//! 1. built-in defaults (`Default` impls plus `#[serde(default)]`, and the per-service
//!    `service_name` / admin port from [`default_admin_port`]),
//! 2. an optional TOML file (the caller's `--config`, else the `FERRY_CONFIG` variable),
//! 3. environment variables prefixed `FERRY_`, with `__` separating nesting levels:
//!    `FERRY_BUS__URL=amqp://…` sets `bus.url`, `FERRY_ADMIN__LISTEN=0.0.0.0:9103` sets
//!    `admin.listen`. Values are parsed like TOML values, so lists can be given inline:
//!    `FERRY_ADMIN__TOKENS='[{name="ops",token="…",scope="operator"}]'`.
//!
//! After extraction the whole configuration is validated ([`Validate`]) and every problem is
//! reported at once, each with its key path (`bus.url: must start with amqp:// or amqps://`),
//! before anything is built from it.
//!
//! A service embeds [`CommonConfig`] with `#[serde(flatten)]`, so its keys stay at the top
//! level:
//!
//! ```
//! use ferry_platform::config::{self, CommonConfig, Validate, ValidationErrors};
//! use serde::Deserialize;
//!
//! #[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
//! #[serde(default)]
//! struct MapperConfig {
//!     #[serde(flatten)]
//!     common: CommonConfig,
//!     batch_size: u32,
//! }
//!
//! impl Validate for MapperConfig {
//!     fn validate(&self, errors: &mut ValidationErrors) {
//!         self.common.validate(errors);
//!         if self.batch_size == 0 {
//!             errors.push("batch_size", "must be at least 1");
//!         }
//!     }
//! }
//!
//! # fn main() {
//! let result = config::load::<MapperConfig>("mapper", None);
//! // batch_size defaults to 0 here, so validation reports it with its path.
//! assert!(result.unwrap_err().to_string().contains("batch_size: must be at least 1"));
//! # }
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use schemars::JsonSchema;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// Environment variable naming the configuration file when the caller passes none.
pub const CONFIG_FILE_ENV: &str = "FERRY_CONFIG";
/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "FERRY_";
/// Separator of nesting levels in environment variable names (`FERRY_BUS__URL`).
pub const ENV_SEPARATOR: &str = "__";

/// Minimum length of an admin API token.
pub const MIN_TOKEN_LEN: usize = 16;

mod keys;

pub use keys::{KeySource, NON_CONFIG_ENV, NON_CONFIG_ENV_PREFIXES, UnknownKey, is_non_config_env};

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An explicitly named configuration file does not exist.
    #[error("configuration file {} does not exist", .0.display())]
    FileNotFound(PathBuf),
    /// A layer could not be read or a value has the wrong type (figment names the key).
    #[error("cannot read configuration: {0}")]
    Parse(#[source] Box<figment::Error>),
    /// The values were read but some are invalid; every problem is listed.
    #[error("invalid configuration:\n{0}")]
    Invalid(ValidationErrors),
    /// Keys were given (file or `FERRY_*` environment) that the service does not read; each
    /// is listed with the nearest known key.
    #[error("unknown configuration keys:\n{}", list(.0))]
    UnknownKeys(Vec<UnknownKey>),
}

fn list(keys: &[UnknownKey]) -> String {
    keys.iter()
        .map(|key| format!("  {key}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A configuration that can check itself.
///
/// Implementations push every problem they find (never stop at the first) with the full key
/// path, so an operator can fix a configuration in one go.
pub trait Validate {
    /// Adds a problem to `errors` for every invalid value.
    fn validate(&self, errors: &mut ValidationErrors);
}

/// Loads and validates the configuration of `service`.
///
/// `file` is the caller's `--config` path; when `None`, the path in `FERRY_CONFIG` is used if
/// that variable is set. A named file that does not exist is an error. Environment variables
/// `FERRY_*` override the file (see the module documentation). A key the service does not
/// read (per `T`'s JSON Schema) is refused, except the variables of [`NON_CONFIG_ENV`].
#[tracing::instrument(level = "debug")]
pub fn load<T>(service: &str, file: Option<&Path>) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Validate + JsonSchema,
{
    let env_file = std::env::var_os(CONFIG_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let file = file.map(Path::to_path_buf).or(env_file);
    load_figment(figment(service, file.as_deref())?)
}

/// The layered [`Figment`] of `service` (defaults, `file`, environment) without extraction, for
/// callers that want to add a layer of their own before calling [`load_figment`].
pub fn figment(service: &str, file: Option<&Path>) -> Result<Figment, ConfigError> {
    let mut figment = Figment::new()
        .merge(Serialized::default("service_name", service))
        .merge(Serialized::default(
            "admin.listen",
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), default_admin_port(service)),
        ));
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ConfigError::FileNotFound(path.to_path_buf()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    let env = Env::prefixed(ENV_PREFIX)
        .split(ENV_SEPARATOR)
        // FERRY_CONFIG names the file, FERRY_CREDENTIALS_KEY is read by the keyring, the test
        // harnesses have their own: none is a configuration key.
        .filter(|key| !is_non_config_env(&format!("{ENV_PREFIX}{key}")));
    Ok(figment.merge(env))
}

/// Refuses keys `T` does not read, extracts `T` from `figment` and validates it.
pub fn load_figment<T>(figment: Figment) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Validate + JsonSchema,
{
    let schema = schemars::schema_for!(T);
    let unknown = keys::unknown_keys(&figment, schema.as_value());
    if !unknown.is_empty() {
        return Err(ConfigError::UnknownKeys(unknown));
    }
    let config: T = match figment.extract() {
        Ok(config) => config,
        Err(e) => {
            // Through `#[serde(flatten)]`, errors in the common sections lose their key path;
            // extracting those sections alone names the key.
            let e = figment.extract::<CommonConfig>().err().unwrap_or(e);
            return Err(ConfigError::Parse(Box::new(e)));
        }
    };
    let mut errors = ValidationErrors::default();
    config.validate(&mut errors);
    errors.into_result()?;
    Ok(config)
}

/// Default admin port of each service, so that all of them can run side by side on one host.
/// Unknown names get 9100, like the all-in-one `ferry` binary.
pub fn default_admin_port(service: &str) -> u16 {
    match service {
        "connector-mailchimp" => 9101,
        "connector-mpluskassa" => 9102,
        "mapper" => 9103,
        "order-orchestrator" => 9104,
        "notifier" => 9105,
        _ => 9100,
    }
}

// ---------------------------------------------------------------------------------------
// Validation errors
// ---------------------------------------------------------------------------------------

/// One invalid value: its key path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path, e.g. `admin.tokens[0].token`.
    pub path: String,
    /// What is wrong, e.g. `must be at least 16 characters`.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found while validating a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    problems: Vec<Problem>,
}

impl ValidationErrors {
    /// Records that the value at `path` is invalid.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// The problems found so far, in the order found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// `Ok(())` when empty, else [`ConfigError::Invalid`] with every problem.
    pub fn into_result(self) -> Result<(), ConfigError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(self))
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {problem}")?;
        }
        Ok(())
    }
}

/// Joins a key path prefix and a key (`join("bus", "url") == "bus.url"`).
fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

// ---------------------------------------------------------------------------------------
// Secret
// ---------------------------------------------------------------------------------------

/// A string that must never be logged: passwords, tokens, URLs with credentials.
///
/// `Debug` and `Display` print `***`; the value is only reachable through
/// [`Secret::expose`]. It deserializes from a string (or a number, since environment values
/// like `FERRY_X=12345` arrive as numbers) and deliberately does not implement `Serialize`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": ["string", "integer"], "writeOnly": true })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;

        impl Visitor<'_> for SecretVisitor {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
        }

        deserializer.deserialize_any(SecretVisitor)
    }
}

// ---------------------------------------------------------------------------------------
// Common sections
// ---------------------------------------------------------------------------------------

/// The sections every service embeds (with `#[serde(flatten)]`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CommonConfig {
    /// Name of the service; defaults to the name passed to [`load`]. Used in logs, traces
    /// (`service.name`) and the OpenAPI title.
    pub service_name: String,
    /// Admin HTTP server.
    pub admin: AdminConfig,
    /// Message bus.
    pub bus: BusConfig,
    /// Database.
    pub database: DatabaseConfig,
    /// Logs and traces.
    pub telemetry: TelemetryConfig,
    /// Seconds in-flight work may take to finish after SIGTERM (`FERRY_DRAIN_SECONDS`); each
    /// service has its own default ([`CommonConfig::drain`]). Keep the orchestrator's
    /// termination grace period above it.
    pub drain_seconds: Option<u64>,
}

impl CommonConfig {
    /// The drain: `drain_seconds` when set, else the service's `default`.
    pub fn drain(&self, default: std::time::Duration) -> std::time::Duration {
        self.drain_seconds
            .map_or(default, std::time::Duration::from_secs)
    }
}

impl Validate for CommonConfig {
    fn validate(&self, errors: &mut ValidationErrors) {
        if self.service_name.trim().is_empty() {
            errors.push("service_name", "must not be empty");
        }
        self.admin.validate_at("admin", errors);
        self.bus.validate_at("bus", errors);
        self.database.validate_at("database", errors);
        self.telemetry.validate_at("telemetry", errors);
        if let Some(seconds) = self.drain_seconds
            && !(1..=600).contains(&seconds)
        {
            errors.push("drain_seconds", "must be between 1 and 600");
        }
    }
}

/// Admin HTTP server (`/healthz`, `/readyz`, `/metrics`, `/api/v1`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default)]
pub struct AdminConfig {
    /// Address to listen on. Defaults to `127.0.0.1:<service port>` (see
    /// [`default_admin_port`]); containers set `0.0.0.0:<port>`. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Bearer tokens accepted under `/api/v1`. With none, the admin API refuses every call
    /// (health, readiness and metrics still work).
    pub tokens: Vec<TokenConfig>,
    /// Largest request body the admin server reads (JSON or raw, webhooks included), in
    /// bytes; a bigger one is refused with 413 before it is read whole. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Failed authentications (missing or unknown bearer token) one client address may make
    /// per minute under `/api/v1`; beyond, its calls are refused with 429 and `Retry-After`
    /// until the minute is over, valid token or not (guessing tokens stays slow). 0 turns
    /// the limit off. Default 20. Behind a reverse proxy every client shares its address.
    pub auth_failures_per_minute: u32,
    /// Serve HTTPS with this certificate and key (PEM files) instead of plain HTTP: for admin
    /// calls that cross a network not trusted (operators, the mapper's saved-connection test
    /// reaching the connectors: `[mapper.registry] admin_ca_file` trusts the certificate).
    /// Absent: plain HTTP (behind a mesh or an Ingress that terminates TLS).
    pub tls: Option<AdminTls>,
}

/// The admin server's certificate chain and private key ([`AdminConfig::tls`]).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct AdminTls {
    /// PEM file with the certificate chain (the server's certificate first).
    pub cert_file: std::path::PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: std::path::PathBuf,
}

/// Default of [`AdminConfig::auth_failures_per_minute`].
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 20;

/// Default of [`AdminConfig::max_body_bytes`]: 1 MiB.
pub const DEFAULT_MAX_ADMIN_BODY_BYTES: usize = 1024 * 1024;

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9100),
            tokens: Vec::new(),
            max_body_bytes: DEFAULT_MAX_ADMIN_BODY_BYTES,
            auth_failures_per_minute: DEFAULT_AUTH_FAILURES_PER_MINUTE,
            tls: None,
        }
    }
}

impl AdminConfig {
    /// Validates this section, reporting paths under `prefix`.
    pub fn validate_at(&self, prefix: &str, errors: &mut ValidationErrors) {
        if !(1024..=64 * 1024 * 1024).contains(&self.max_body_bytes) {
            errors.push(
                join(prefix, "max_body_bytes"),
                "must be between 1024 (1 KiB) and 67108864 (64 MiB)",
            );
        }
        if let Some(tls) = &self.tls {
            for (field, path) in [("cert_file", &tls.cert_file), ("key_file", &tls.key_file)] {
                if !path.is_file() {
                    errors.push(
                        join(prefix, &format!("tls.{field}")),
                        format!("{} is not a readable file", path.display()),
                    );
                }
            }
        }
        for (i, token) in self.tokens.iter().enumerate() {
            let at = join(prefix, &format!("tokens[{i}]"));
            if token.name.trim().is_empty() {
                errors.push(join(&at, "name"), "must not be empty");
            } else if self.tokens[..i].iter().any(|t| t.name == token.name) {
                errors.push(join(&at, "name"), "is used by another token");
            }
            if token.token.expose().chars().count() < MIN_TOKEN_LEN {
                errors.push(
                    join(&at, "token"),
                    format!("must be at least {MIN_TOKEN_LEN} characters"),
                );
            } else if self.tokens[..i].iter().any(|t| t.token == token.token) {
                errors.push(join(&at, "token"), "is the same as another token's");
            }
            if token.token.expose().chars().any(char::is_whitespace) {
                errors.push(join(&at, "token"), "must not contain whitespace");
            }
            for (j, id) in token.integrations.iter().enumerate() {
                if uuid::Uuid::parse_str(id.trim()).is_err() {
                    errors.push(
                        join(&at, &format!("integrations[{j}]")),
                        "must be an integration id (UUID)",
                    );
                }
            }
        }
    }
}

/// One admin API bearer token.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct TokenConfig {
    /// Who holds the token (logged on use, e.g. `grafana`, `oncall`).
    pub name: String,
    /// The token itself; at least [`MIN_TOKEN_LEN`] characters.
    pub token: Secret,
    /// What the token may do.
    pub scope: Scope,
    /// The integrations (ids) the token may see and act on; empty: all. A limited token may
    /// only call routes that name an integration, in the path (`…/integrations/{id}/…`) or
    /// as `?integration_id=`, and only its own.
    #[serde(default)]
    pub integrations: Vec<String>,
}

/// What an admin token may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read-only calls (`GET`, `HEAD`) whose answers carry no personal data and no payloads:
    /// every field that may (payloads, raw records, e-mail addresses, names, addresses,
    /// phone numbers, keys) is masked. For dashboards such as Grafana.
    #[serde(rename = "read_masked")]
    ReadMasked,
    /// Read-only calls (`GET`, `HEAD`).
    Read,
    /// Everything `read` may do, plus mutating calls (replay, purge, configuration changes).
    Operator,
}

impl Scope {
    /// Whether a token of this scope may do what needs `required` (`read_masked` may read,
    /// with its answers masked).
    pub fn allows(self, required: Scope) -> bool {
        match (self, required) {
            (Scope::ReadMasked, Scope::Read) => true,
            _ => self >= required,
        }
    }

    /// The scope's name as written in configuration (`read_masked`, `read`, `operator`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadMasked => "read_masked",
            Scope::Read => "read",
            Scope::Operator => "operator",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which bus implementation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
pub enum BusKind {
    /// The in-process bus (embedded default; all services in one process).
    #[default]
    #[serde(rename = "in_process", alias = "in-process", alias = "inprocess")]
    InProcess,
    /// RabbitMQ at `bus.url`.
    #[serde(rename = "rabbitmq", alias = "rabbit_mq", alias = "amqp")]
    RabbitMq,
}

/// Message bus settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default)]
pub struct BusConfig {
    /// `in_process` (default) or `rabbitmq`.
    pub kind: BusKind,
    /// AMQP URL (`amqp://user:password@host:5672/vhost`); only used by `rabbitmq`.
    pub url: Secret,
    /// Prefix of every exchange and queue name, so that deployments (and tests) sharing a
    /// broker do not see each other's messages. Letters, digits, `.`, `_` and `-`.
    pub prefix: String,
    /// Unacknowledged deliveries per consumer.
    pub prefetch: u16,
    /// Deliveries of one message before it is dead-lettered.
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds; doubled per attempt.
    pub retry_base_ms: u64,
    /// Upper bound of the retry delay, in milliseconds.
    pub retry_max_ms: u64,
    /// How long a publish may wait for the broker's confirmation, in milliseconds.
    pub publish_timeout_ms: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            kind: BusKind::InProcess,
            url: Secret::new("amqp://127.0.0.1:5672/%2f"),
            prefix: String::new(),
            prefetch: 128,
            max_attempts: 8,
            retry_base_ms: 500,
            retry_max_ms: 60_000,
            publish_timeout_ms: 30_000,
        }
    }
}

impl BusConfig {
    /// [`retry_base_ms`](Self::retry_base_ms) as a duration.
    pub fn retry_base(&self) -> Duration {
        Duration::from_millis(self.retry_base_ms)
    }

    /// [`retry_max_ms`](Self::retry_max_ms) as a duration.
    pub fn retry_max(&self) -> Duration {
        Duration::from_millis(self.retry_max_ms)
    }

    /// [`publish_timeout_ms`](Self::publish_timeout_ms) as a duration.
    pub fn publish_timeout(&self) -> Duration {
        Duration::from_millis(self.publish_timeout_ms)
    }

    /// Validates this section, reporting paths under `prefix`.
    pub fn validate_at(&self, prefix: &str, errors: &mut ValidationErrors) {
        if self.kind == BusKind::RabbitMq {
            let url = self.url.expose();
            if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                errors.push(join(prefix, "url"), "must start with amqp:// or amqps://");
            }
        }
        if !self
            .prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            errors.push(
                join(prefix, "prefix"),
                "may only contain ASCII letters, digits, '.', '_' and '-'",
            );
        }
        if self.prefetch == 0 {
            errors.push(join(prefix, "prefetch"), "must be at least 1");
        }
        if self.max_attempts == 0 {
            errors.push(join(prefix, "max_attempts"), "must be at least 1");
        }
        if self.retry_base_ms == 0 {
            errors.push(join(prefix, "retry_base_ms"), "must be at least 1");
        }
        if self.retry_max_ms < self.retry_base_ms {
            errors.push(
                join(prefix, "retry_max_ms"),
                "must not be smaller than retry_base_ms",
            );
        }
        if self.publish_timeout_ms == 0 {
            errors.push(join(prefix, "publish_timeout_ms"), "must be at least 1");
        }
    }
}

/// Database engine, derived from the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `sqlite:`.
    Sqlite,
}

/// Database settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:5432/db` or `sqlite://path/file.db?mode=rwc`.
    pub url: Secret,
    /// Size of the connection pool.
    pub max_connections: u32,
    /// PostgreSQL schema to use (`search_path`), created if missing. Isolates tests and lets
    /// several deployments share one database. Lowercase letters, digits and `_`, not starting
    /// with a digit.
    pub schema: Option<String>,
    /// Whether the service applies its migrations when it starts (default: yes, as the
    /// embedded default needs). On Kubernetes the migration Job runs `<service> migrate`
    /// before a rollout and the Deployments set it to `false`: a replica then only checks that
    /// the schema is the one it knows and refuses to start otherwise.
    pub migrate_at_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("sqlite://ferry.db?mode=rwc"),
            max_connections: 10,
            schema: None,
            migrate_at_start: true,
        }
    }
}

impl DatabaseConfig {
    /// The engine named by the URL scheme, if it is a supported one.
    pub fn kind(&self) -> Option<DatabaseKind> {
        let url = self.url.expose();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(DatabaseKind::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(DatabaseKind::Sqlite)
        } else {
            None
        }
    }

    /// Validates this section, reporting paths under `prefix`.
    pub fn validate_at(&self, prefix: &str, errors: &mut ValidationErrors) {
        let kind = self.kind();
        if kind.is_none() {
            errors.push(
                join(prefix, "url"),
                "must start with postgres://, postgresql:// or sqlite:",
            );
        }
        if self.max_connections == 0 {
            errors.push(join(prefix, "max_connections"), "must be at least 1");
        }
        if let Some(schema) = &self.schema {
            if !is_sql_identifier(schema) {
                errors.push(
                    join(prefix, "schema"),
                    "must be 1-63 lowercase ASCII letters, digits or '_', not starting with a digit",
                );
            }
            if kind == Some(DatabaseKind::Sqlite) {
                errors.push(join(prefix, "schema"), "is only supported with PostgreSQL");
            }
        }
    }
}

/// Whether `s` is a plain lowercase SQL identifier (safe to quote and to use unquoted).
pub(crate) fn is_sql_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured when writing to a terminal (local development).
    #[default]
    Pretty,
    /// One JSON object per line (production).
    Json,
}

/// Logs and traces. OTLP export is switched on by the standard
/// `OTEL_EXPORTER_OTLP_ENDPOINT` variable (see [`crate::telemetry`]).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TelemetryConfig {
    /// `pretty` (default) or `json`.
    pub format: LogFormat,
    /// `tracing` filter directives, e.g. `info,ferry_mapper=debug`; `RUST_LOG` overrides it.
    pub filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info".to_owned(),
        }
    }
}

impl TelemetryConfig {
    /// Validates this section, reporting paths under `prefix`.
    pub fn validate_at(&self, prefix: &str, errors: &mut ValidationErrors) {
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.filter) {
            errors.push(
                join(prefix, "filter"),
                format!("is not a valid filter: {e}"),
            );
        }
    }
}
