//! Layered configuration: defaults -> file -> environment, and validation.

// `figment::Jail` closures must return `figment::Result`, whose error is large.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::path::Path;

use ferry_platform::config::{
    self, BusKind, CommonConfig, ConfigError, KeySource, LogFormat, Scope, Secret, UnknownKey,
    Validate, ValidationErrors,
};
use figment::Jail;
use schemars::JsonSchema;
use serde::Deserialize;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a socket address")
}

fn invalid(result: Result<CommonConfig, ConfigError>) -> ValidationErrors {
    match result {
        Err(ConfigError::Invalid(errors)) => errors,
        other => panic!("expected validation errors, got {other:?}"),
    }
}

#[test]
fn defaults_load_without_file_or_environment() {
    Jail::expect_with(|_jail| {
        let config: CommonConfig = config::load("mapper", None).expect("defaults are valid");
        assert_eq!(config.service_name, "mapper");
        assert_eq!(config.admin.listen, addr("127.0.0.1:9103"));
        assert!(config.admin.tokens.is_empty());
        assert_eq!(config.bus.kind, BusKind::InProcess);
        assert_eq!(config.bus.prefix, "");
        assert_eq!(config.bus.prefetch, 128);
        assert_eq!(config.bus.max_attempts, 8);
        assert_eq!(config.bus.retry_base_ms, 500);
        assert_eq!(config.bus.retry_max_ms, 60_000);
        assert_eq!(config.bus.publish_timeout_ms, 30_000);
        assert!(config.database.url.expose().starts_with("sqlite:"));
        assert_eq!(config.database.schema, None);
        assert_eq!(config.telemetry.format, LogFormat::Pretty);
        assert_eq!(config.telemetry.filter, "info");

        let other: CommonConfig = config::load("notifier", None).expect("defaults are valid");
        assert_eq!(other.admin.listen, addr("127.0.0.1:9105"));
        Ok(())
    });
}

#[test]
fn file_overrides_defaults() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "ferry.toml",
            r#"
            [admin]
            listen = "0.0.0.0:8080"
            tokens = [
                { name = "grafana", token = "read-token-0123456789", scope = "read" },
                { name = "oncall", token = "operator-token-0123456789", scope = "operator" },
            ]

            [bus]
            kind = "rabbitmq"
            url = "amqp://ferry:s3cret@rabbitmq:5672/%2f"
            prefetch = 10

            [database]
            url = "postgres://ferry:s3cret@db:5432/ferry"
            schema = "ferry"

            [telemetry]
            format = "json"
            filter = "info,ferry_mapper=debug"
            "#,
        )?;
        let config: CommonConfig =
            config::load("mapper", Some(Path::new("ferry.toml"))).expect("valid file");
        assert_eq!(config.admin.listen, addr("0.0.0.0:8080"));
        assert_eq!(config.admin.tokens.len(), 2);
        assert_eq!(config.admin.tokens[1].scope, Scope::Operator);
        assert_eq!(config.bus.kind, BusKind::RabbitMq);
        assert_eq!(
            config.bus.url.expose(),
            "amqp://ferry:s3cret@rabbitmq:5672/%2f"
        );
        assert_eq!(config.bus.prefetch, 10);
        // Untouched keys keep their defaults.
        assert_eq!(config.bus.max_attempts, 8);
        assert_eq!(config.database.schema.as_deref(), Some("ferry"));
        assert_eq!(config.telemetry.format, LogFormat::Json);
        assert_eq!(config.service_name, "mapper");
        Ok(())
    });
}

#[test]
fn environment_overrides_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "ferry.toml",
            r#"
            [bus]
            kind = "rabbitmq"
            url = "amqp://file@rabbitmq/%2f"
            prefetch = 10
            "#,
        )?;
        jail.set_env("FERRY_BUS__PREFETCH", "64");
        jail.set_env("FERRY_BUS__URL", "amqps://env:pw@broker:5671/ferry");
        jail.set_env("FERRY_ADMIN__LISTEN", "127.0.0.1:0");
        jail.set_env(
            "FERRY_ADMIN__TOKENS",
            r#"[{name="ci", token="ci-token-0123456789abc", scope="operator"}]"#,
        );
        jail.set_env("FERRY_SERVICE_NAME", "mapper-eu");
        let config: CommonConfig =
            config::load("mapper", Some(Path::new("ferry.toml"))).expect("valid layers");
        assert_eq!(config.bus.prefetch, 64);
        assert_eq!(config.bus.url.expose(), "amqps://env:pw@broker:5671/ferry");
        assert_eq!(config.bus.kind, BusKind::RabbitMq, "file value kept");
        assert_eq!(config.admin.listen, addr("127.0.0.1:0"));
        assert_eq!(config.admin.tokens[0].name, "ci");
        assert_eq!(config.service_name, "mapper-eu");
        Ok(())
    });
}

#[test]
fn file_named_by_ferry_config_is_used_when_no_path_is_given() {
    Jail::expect_with(|jail| {
        jail.create_file("from-env.toml", "[bus]\nprefix = \"from-env\"\n")?;
        jail.set_env("FERRY_CONFIG", "from-env.toml");
        let config: CommonConfig = config::load("mapper", None).expect("valid file");
        assert_eq!(config.bus.prefix, "from-env");
        Ok(())
    });
}

#[test]
fn a_named_file_that_does_not_exist_is_an_error() {
    Jail::expect_with(|_jail| {
        let result: Result<CommonConfig, _> = config::load("mapper", Some(Path::new("nope.toml")));
        assert!(
            matches!(result, Err(ConfigError::FileNotFound(_))),
            "{result:?}"
        );
        Ok(())
    });
}

#[test]
fn numeric_secrets_from_the_environment_stay_strings() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "FERRY_ADMIN__TOKENS",
            r#"[{name="digits", token=12345678901234567, scope="read"}]"#,
        );
        let config: CommonConfig = config::load("mapper", None).expect("valid");
        assert_eq!(config.admin.tokens[0].token.expose(), "12345678901234567");
        Ok(())
    });
}

#[test]
fn wrong_types_name_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("FERRY_BUS__PREFETCH", "lots");
        let result: Result<CommonConfig, _> = config::load("mapper", None);
        let Err(ConfigError::Parse(e)) = result else {
            panic!("expected a parse error, got {result:?}");
        };
        let message = e.to_string().to_lowercase();
        assert!(message.contains("bus.prefetch"), "{message}");
        Ok(())
    });
}

#[test]
fn every_invalid_value_is_reported_with_its_path() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "ferry.toml",
            r#"
            service_name = " "
            [admin]
            tokens = [
                { name = "short", token = "tooshort", scope = "read" },
                { name = "short", token = "long-enough-but-dup", scope = "operator" },
                { name = "dup", token = "long-enough-but-dup", scope = "read" },
            ]
            [bus]
            kind = "rabbitmq"
            url = "http://rabbitmq:5672"
            prefix = "has space"
            prefetch = 0
            max_attempts = 0
            retry_base_ms = 1000
            retry_max_ms = 10
            [database]
            url = "mysql://db/ferry"
            max_connections = 0
            schema = "Bad-Name"
            [telemetry]
            filter = "info,[=bad"
            "#,
        )?;
        let errors = invalid(config::load("mapper", Some(Path::new("ferry.toml"))));
        let rendered: Vec<String> = errors.problems().iter().map(|p| p.to_string()).collect();
        for expected in [
            "service_name: must not be empty",
            "admin.tokens[0].token: must be at least 16 characters",
            "admin.tokens[1].name: is used by another token",
            "admin.tokens[2].token: is the same as another token's",
            "bus.url: must start with amqp:// or amqps://",
            "bus.prefix: may only contain",
            "bus.prefetch: must be at least 1",
            "bus.max_attempts: must be at least 1",
            "bus.retry_max_ms: must not be smaller than retry_base_ms",
            "database.url: must start with postgres://, postgresql:// or sqlite:",
            "database.max_connections: must be at least 1",
            "database.schema: must be 1-63 lowercase",
            "telemetry.filter: is not a valid filter",
        ] {
            assert!(
                rendered.iter().any(|r| r.starts_with(expected)),
                "missing {expected:?} in {rendered:#?}"
            );
        }
        assert_eq!(rendered.len(), 13, "{rendered:#?}");
        Ok(())
    });
}

#[test]
fn schema_is_refused_with_sqlite() {
    Jail::expect_with(|jail| {
        jail.set_env("FERRY_DATABASE__SCHEMA", "tenant_a");
        let errors = invalid(config::load("mapper", None));
        assert_eq!(
            errors.to_string(),
            "  database.schema: is only supported with PostgreSQL"
        );
        Ok(())
    });
}

#[test]
fn debug_output_never_contains_secrets() {
    Jail::expect_with(|jail| {
        jail.set_env("FERRY_BUS__KIND", "rabbitmq");
        jail.set_env(
            "FERRY_BUS__URL",
            "amqp://ferry:bus-password-42@rabbitmq/%2f",
        );
        jail.set_env(
            "FERRY_DATABASE__URL",
            "postgres://ferry:db-password-42@db/ferry",
        );
        jail.set_env(
            "FERRY_ADMIN__TOKENS",
            r#"[{name="ops", token="token-value-0123456789", scope="operator"}]"#,
        );
        let config: CommonConfig = config::load("mapper", None).expect("valid");
        for rendered in [format!("{config:?}"), format!("{config:#?}")] {
            for secret in [
                "bus-password-42",
                "db-password-42",
                "token-value-0123456789",
            ] {
                assert!(!rendered.contains(secret), "{secret} leaked: {rendered}");
            }
            assert!(rendered.contains("***"));
        }
        assert_eq!(Secret::new("x").to_string(), "***");

        // Errors do not print secrets either.
        jail.set_env("FERRY_BUS__URL", "http://ferry:bus-password-42@rabbitmq");
        let result: Result<CommonConfig, _> = config::load("mapper", None);
        let message = format!(
            "{result:?} {}",
            result
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        );
        assert!(!message.contains("bus-password-42"), "{message}");
        Ok(())
    });
}

/// A service's configuration: the common sections flattened plus its own.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
struct ServiceConfig {
    #[serde(flatten)]
    common: CommonConfig,
    sync: SyncConfig,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(default)]
struct SyncConfig {
    interval_secs: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self { interval_secs: 60 }
    }
}

impl Validate for ServiceConfig {
    fn validate(&self, errors: &mut ValidationErrors) {
        self.common.validate(errors);
        if self.sync.interval_secs == 0 {
            errors.push("sync.interval_secs", "must be at least 1");
        }
    }
}

#[test]
fn services_embed_the_common_sections() {
    Jail::expect_with(|jail| {
        jail.set_env("FERRY_SYNC__INTERVAL_SECS", "15");
        jail.set_env("FERRY_BUS__PREFIX", "svc");
        let config: ServiceConfig = config::load("connector-mailchimp", None).expect("valid");
        assert_eq!(config.sync.interval_secs, 15);
        assert_eq!(config.common.bus.prefix, "svc");
        assert_eq!(config.common.service_name, "connector-mailchimp");
        assert_eq!(config.common.admin.listen, addr("127.0.0.1:9101"));

        jail.set_env("FERRY_SYNC__INTERVAL_SECS", "0");
        jail.set_env("FERRY_BUS__PREFETCH", "0");
        let result: Result<ServiceConfig, _> = config::load("connector-mailchimp", None);
        let Err(ConfigError::Invalid(errors)) = result else {
            panic!("expected validation errors, got {result:?}");
        };
        assert_eq!(
            errors.to_string(),
            "  bus.prefetch: must be at least 1\n  sync.interval_secs: must be at least 1"
        );

        jail.set_env("FERRY_BUS__PREFETCH", "lots");
        let result: Result<ServiceConfig, _> = config::load("connector-mailchimp", None);
        let Err(ConfigError::Parse(e)) = result else {
            panic!("expected a parse error, got {result:?}");
        };
        // The key is named even through `#[serde(flatten)]`.
        let message = e.to_string().to_lowercase();
        assert!(message.contains("bus.prefetch"), "{message}");
        Ok(())
    });
}

fn unknown<T: std::fmt::Debug>(result: Result<T, ConfigError>) -> Vec<UnknownKey> {
    match result {
        Err(ConfigError::UnknownKeys(keys)) => keys,
        other => panic!("expected unknown keys, got {other:?}"),
    }
}

#[test]
fn a_misspelt_variable_is_refused_naming_the_nearest_known_one() {
    Jail::expect_with(|jail| {
        jail.set_env("FERRY_BUS__PREFECH", "4");
        let keys = unknown(config::load::<CommonConfig>("mapper", None));
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].path, "bus.prefech");
        assert_eq!(keys[0].source, KeySource::Environment);
        assert_eq!(keys[0].suggestion.as_deref(), Some("bus.prefetch"));
        assert_eq!(
            keys[0].to_string(),
            "unknown variable FERRY_BUS__PREFECH: did you mean FERRY_BUS__PREFETCH?"
        );
        Ok(())
    });
}

#[test]
fn a_key_under_the_wrong_section_suggests_the_full_path() {
    Jail::expect_with(|jail| {
        // `interval_secs` lives under `[sync]`.
        jail.set_env("FERRY_INTERVAL_SECS", "5");
        let result = config::load::<ServiceConfig>("connector-mailchimp", None);
        let message = result.expect_err("an unknown key").to_string();
        assert_eq!(
            message,
            "unknown configuration keys:\n  unknown variable FERRY_INTERVAL_SECS: did you mean \
             FERRY_SYNC__INTERVAL_SECS?"
        );
        Ok(())
    });
}

#[test]
fn unknown_file_keys_are_refused_with_the_file_named_and_all_listed_at_once() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "ferry.toml",
            r#"
            servce_name = "x"
            [bus]
            kind = "rabbitmq"
            urll = "amqp://localhost"
            [admin]
            tokens = [{ name = "ops", token = "operator-token-0123", scope = "operator", scop = "read" }]
            [telemetry.format]
            nested = 1
            "#,
        )?;
        let keys = unknown(config::load::<ServiceConfig>(
            "mapper",
            Some(Path::new("ferry.toml")),
        ));
        let paths: Vec<&str> = keys.iter().map(|k| k.path.as_str()).collect();
        assert_eq!(paths, ["admin.tokens.0.scop", "bus.urll", "servce_name"]);
        assert!(matches!(&keys[1].source, KeySource::File(f) if f.ends_with("ferry.toml")));
        assert_eq!(keys[0].suggestion.as_deref(), Some("admin.tokens.0.scope"));
        assert_eq!(keys[1].suggestion.as_deref(), Some("bus.url"));
        assert_eq!(keys[2].suggestion.as_deref(), Some("service_name"));
        assert!(
            keys[1]
                .to_string()
                .starts_with("unknown key `bus.urll` in ")
                && keys[1]
                    .to_string()
                    .ends_with("ferry.toml: did you mean `bus.url`?"),
            "{}",
            keys[1]
        );
        Ok(())
    });
}

#[test]
fn an_unknown_section_is_refused() {
    Jail::expect_with(|jail| {
        jail.set_env("FERRY_MAILCHIMP__POLL_INTERVAL_SECS", "1");
        jail.set_env("FERRY_MAILCHIMP__PAGE_SIZE", "1");
        let keys = unknown(config::load::<CommonConfig>("mapper", None));
        let paths: Vec<&str> = keys.iter().map(|k| k.path.as_str()).collect();
        // Each variable is named in full, not just the unknown section.
        assert_eq!(
            paths,
            ["mailchimp.page_size", "mailchimp.poll_interval_secs"]
        );
        Ok(())
    });
}

#[test]
fn variables_of_programs_harnesses_and_deployment_are_no_configuration_keys() {
    Jail::expect_with(|jail| {
        for name in config::NON_CONFIG_ENV {
            if *name != "FERRY_CONFIG" {
                jail.set_env(name, "set-by-someone-else");
            }
        }
        jail.set_env("FERRY_TEST_AMQP_URL", "amqp://127.0.0.1:5672/%2f");
        jail.set_env(
            "FERRY_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1/test",
        );
        jail.set_env("FERRY_BENCH_ORDERS", "100");
        jail.set_env("FERRY_E2E_LOG", "debug");
        // Real configuration keys still work next to them.
        jail.set_env("FERRY_BUS__PREFIX", "p");
        jail.set_env("FERRY_DRAIN_SECONDS", "20");
        let config: ServiceConfig = config::load("mapper", None).expect("no unknown key");
        assert_eq!(config.common.bus.prefix, "p");
        assert!(config::is_non_config_env("ferry_credentials_key"));
        assert!(!config::is_non_config_env("FERRY_BUS__URL"));
        Ok(())
    });
}

#[test]
fn values_inside_maps_and_secrets_are_not_keys() {
    Jail::expect_with(|jail| {
        // A table where a scalar is expected is a type error, not an unknown key.
        jail.set_env("FERRY_BUS__URL", "{ a = 1 }");
        let result = config::load::<CommonConfig>("mapper", None);
        assert!(matches!(result, Err(ConfigError::Parse(_))), "{result:?}");
        Ok(())
    });
}
