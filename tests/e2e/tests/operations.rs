//! What an operator runs around a deployment, for every service binary: `check-config`
//! (unknown keys refused with the nearest known one) and `migrate` (a Job before a rollout:
//! migrates a fresh database, then is idempotent; afterwards the service starts on it).

use std::process::{Command, Output};

use ferry_e2e::{ServiceKind, binary};
use ferry_platform::db::testing::postgres_schema;

/// Runs `service` with `args` and only the given `FERRY_*` variables.
fn run(service: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary(service).expect("service binaries are built"));
    command.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FERRY_") {
            command.env_remove(key);
        }
    }
    command
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "0")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn every_service_checks_its_configuration_and_names_the_nearest_key_of_a_typo() {
    for kind in ServiceKind::ALL {
        let service = kind.name();
        let ok = run(service, &["check-config"], &[]);
        assert!(ok.status.success(), "{service}: {}", text(&ok));
        assert!(
            text(&ok).contains(&format!("configuration of {service} is valid")),
            "{service}: {}",
            text(&ok)
        );

        let typo = run(
            service,
            &["check-config"],
            &[("FERRY_BUS__PREFECH", "4"), ("FERRY_CREDENTIALS_KEY", "x")],
        );
        assert!(!typo.status.success(), "{service} accepted a typo");
        assert!(
            text(&typo)
                .contains("unknown variable FERRY_BUS__PREFECH: did you mean FERRY_BUS__PREFETCH?"),
            "{service}: {}",
            text(&typo)
        );
    }
}

#[tokio::test]
async fn every_service_migrates_as_a_job_idempotently() {
    for kind in ServiceKind::ALL {
        let service = kind.name();
        let db = postgres_schema().await.expect("a PostgreSQL schema");
        let url = db.url.expose().to_owned();
        let schema = db.schema.clone().expect("a schema");
        let env = [
            ("FERRY_DATABASE__URL", url.as_str()),
            ("FERRY_DATABASE__SCHEMA", schema.as_str()),
        ];
        for attempt in ["fresh", "again"] {
            let migrated = run(service, &["migrate"], &env);
            assert!(
                migrated.status.success(),
                "{service} migrate ({attempt}): {}",
                text(&migrated)
            );
            assert!(
                text(&migrated).contains("migrations applied"),
                "{service}: {}",
                text(&migrated)
            );
        }
    }
}
