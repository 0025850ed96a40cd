//! What an operator runs around a deployment, for every service binary: `check-config`
//! (unknown keys refused with the nearest known one), `migrate` (a Job before a rollout:
//! the services refuse an unmigrated schema until it ran; it migrates a fresh database, then
//! is idempotent) and `--ready-file` (the port a listener on port 0 got).

use std::process::{Command, Output};

use ferry_e2e::{ServiceKind, binary};
use ferry_platform::db::testing::postgres_schema;
use ferry_test_support::ready::{self, listener};

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

/// On Kubernetes the Deployments do not migrate (`FERRY_DATABASE__MIGRATE_AT_START=false`),
/// the Job does: on a schema without their migrations every service refuses to start, naming
/// the migrations and the command (`ferry-platform --test db` checks that the same check
/// passes once the Job migrated); `migrate` then migrates the fresh schema, and again
/// idempotently.
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
            ("FERRY_DATABASE__MIGRATE_AT_START", "false"),
            ("FERRY_BUS__KIND", "rabbitmq"),
            ("FERRY_ADMIN__LISTEN", "127.0.0.1:0"),
            (
                "FERRY_CREDENTIALS_KEY",
                "e2e:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
        ];
        // As a Deployment on Kubernetes, before the Job ran: refused, nothing changed.
        let refused = run(service, &[], &env);
        let out = text(&refused);
        assert!(
            !refused.status.success(),
            "{service} started on an unmigrated schema"
        );
        assert!(
            out.contains("the database schema is older than this build")
                && out.contains("m20261124_000001_bus_inbox_outbox")
                && out.contains("`migrate` command"),
            "{service}: {out}"
        );
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

/// Every service binary told to listen on port 0 reports the port it got: `--ready-file`
/// names the file, which holds the process id and the admin address once it is bound; that
/// process listens there and its admin server answers there. Two of one service side by side
/// each get a port of their own. (Defaults: in-process bus, SQLite in the working directory.)
#[tokio::test]
async fn every_service_binary_reports_the_port_it_bound() {
    /// The processes, killed however the test ends.
    struct Started(Vec<(String, std::process::Child, std::path::PathBuf)>);
    impl Drop for Started {
        fn drop(&mut self) {
            for (_, child, _) in &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let root = ferry_test_support::unique_dir("ferry-e2e-ready-file");
    let mut started = Started(Vec::new());
    let kinds = ServiceKind::ALL.into_iter().chain([ServiceKind::Mapper]);
    for (i, kind) in kinds.enumerate() {
        let dir = root.join(format!("{i}-{}", kind.name()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let ready_file = dir.join("ready.json");
        let log = std::fs::File::create(dir.join("log")).expect("a log file");
        let mut command = Command::new(binary(kind.name()).expect("service binaries are built"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FERRY_") {
                command.env_remove(key);
            }
        }
        let child = command
            .arg("--ready-file")
            .arg(&ready_file)
            .current_dir(&dir)
            .env("FERRY_ADMIN__LISTEN", "127.0.0.1:0")
            .env(
                "FERRY_CREDENTIALS_KEY",
                "e2e:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            )
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().expect("the log file again"))
            .stderr(log)
            .spawn()
            .expect("the binary starts");
        started.0.push((kind.name().to_owned(), child, dir));
    }
    let http = reqwest::Client::new();
    let mut ports = std::collections::BTreeSet::new();
    for (service, child, dir) in &mut started.0 {
        let pid = child.id();
        let reported = ready::ReadyWait::new(
            &dir.join("ready.json"),
            pid,
            std::time::Duration::from_secs(60),
            || match child.try_wait() {
                Ok(None) => Ok(()),
                other => Err(format!(
                    "{service} ended ({other:?}): {}",
                    std::fs::read_to_string(dir.join("log")).unwrap_or_default()
                )),
            },
        )
        .wait()
        .await
        .expect("a ready file");
        assert_eq!(reported.pid, pid, "{service}");
        let admin = reported.addr(listener::ADMIN).expect("the admin listener");
        assert!(
            admin.ip().is_loopback() && admin.port() != 0,
            "{service}: {admin}"
        );
        let own = ready::listening_ports(pid).expect("its sockets in /proc");
        assert!(
            own.contains(&admin.port()),
            "{service}: {admin} not among {own:?}"
        );
        assert!(
            ports.insert(admin.port()),
            "{service}: {admin} reported twice"
        );
        let health = http
            .get(format!("http://{admin}/healthz"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(health.status(), 200, "{service} at {admin}");
    }
    drop(started);
    let _ = std::fs::remove_dir_all(root);
}

/// The rule that keeps a rollback possible: the previous release runs on the new schema, so a
/// migration's `up` only adds (tables, indexes, nullable or defaulted columns) and never
/// drops, renames or tightens what the previous release reads or writes. Checked in the
/// source of every migration (`impl MigrationTrait`), `down` excluded.
#[test]
fn migrations_stay_backward_compatible_for_one_release() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services");
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("tests") && !path.ends_with("target") {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let forbidden = [
        "drop_table(",
        "drop_column(",
        "rename_column(",
        "rename_table(",
        "modify_column(",
        "truncate_table(",
        "DROP TABLE",
        "DROP COLUMN",
        "RENAME ",
        "SET NOT NULL",
        "ALTER COLUMN",
    ];
    let mut problems = Vec::new();
    let mut migrations = 0;
    for file in files {
        let source = std::fs::read_to_string(&file).expect("readable");
        if !source.contains("impl MigrationTrait for") {
            continue;
        }
        migrations += 1;
        // Unit tests (at the end of a file, by convention) may shape an old schema by hand.
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        let up_code = without_down_fns(code);
        for token in forbidden {
            if up_code.contains(token) {
                problems.push(format!("{}: `{token}` in a migration", file.display()));
            }
        }
        for added in calls(&up_code, ".add_column(") {
            if added.contains(".not_null()") && !added.contains(".default(") {
                problems.push(format!(
                    "{}: a NOT NULL column without a default: {added}",
                    file.display()
                ));
            }
        }
        let upper = up_code.to_uppercase();
        for (at, _) in upper.match_indices("ADD COLUMN") {
            let statement: String = upper[at..]
                .chars()
                .take_while(|c| *c != ';' && *c != '"')
                .collect();
            if statement.contains("NOT NULL") && !statement.contains("DEFAULT") {
                problems.push(format!("{}: {statement}", file.display()));
            }
        }
    }
    assert!(
        migrations >= 6,
        "found only {migrations} files with migrations"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check catches what it must.
    let bad = "impl MigrationTrait for X { async fn up() { m.alter_table(Table::alter().add_column(ColumnDef::new(A).string().not_null()).drop_column(B)) } }";
    assert!(without_down_fns(bad).contains("drop_column("));
    assert!(
        calls(bad, ".add_column(")
            .iter()
            .any(|c| c.contains(".not_null()") && !c.contains(".default("))
    );
    let down_only = "async fn up() { create } async fn down() { m.drop_table(T) }";
    assert!(!without_down_fns(down_only).contains("drop_table("));
}

/// `source` without the bodies of `fn down` (undoing a migration may drop what it added).
fn without_down_fns(source: &str) -> String {
    let mut out = String::new();
    let mut rest = source;
    while let Some(at) = rest.find("fn down(") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(open) = after.find('{') else {
            return out;
        };
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The argument text of every `call` (up to its matching parenthesis).
fn calls(source: &str, call: &str) -> Vec<String> {
    source
        .match_indices(call)
        .map(|(at, _)| {
            let args = &source[at + call.len()..];
            let mut depth = 1usize;
            let end = args
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(args.len(), |(i, _)| i);
            args[..end].to_owned()
        })
        .collect()
}
