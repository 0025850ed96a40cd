//! Crash recovery of the real binary on RabbitMQ and PostgreSQL: for every step boundary,
//! the orchestrator is started with `FERRY_ORCHESTRATOR_CRASH_AT=<point>`, killed with
//! SIGKILL when it reports reaching the point, and started again; the order must then be
//! created exactly once in the target, with exactly one customer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use ferry_order_orchestrator::crash::{CRASH_AT_ENV, MARKER};
use ferry_order_orchestrator::saga::SagaState;
use ferry_platform::bus::RetryPolicy;
use ferry_proto::System;
use support::{Kind, Plan, Responder, TestBus, mapped_order};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

macro_rules! crash_points {
    ($($name:ident => $point:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                killed_at($point).await;
            }
        )*
    };
}

crash_points!(
    killed_before_commit_of_order_find => "before_commit:order.find",
    killed_after_commit_of_order_find => "after_commit:order.find",
    killed_before_commit_of_customer_upsert => "before_commit:customer.upsert",
    killed_after_commit_of_customer_upsert => "after_commit:customer.upsert",
    killed_before_commit_of_products_verify => "before_commit:products.verify",
    killed_after_commit_of_products_verify => "after_commit:products.verify",
    killed_before_commit_of_order_create => "before_commit:order.create",
    killed_after_commit_of_order_create => "after_commit:order.create",
    killed_before_commit_of_completion => "before_commit:completed",
    killed_after_commit_of_completion => "after_commit:completed",
);

#[test]
fn every_crash_point_is_tested() {
    let source = include_str!("crash.rs");
    for point in ferry_order_orchestrator::crash::all_points() {
        assert!(
            source.contains(&format!("\"{point}\"")),
            "{point} is not tested"
        );
    }
}

struct Orchestrator {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

fn spawn(
    prefix: &str,
    db: &ferry_platform::config::DatabaseConfig,
    crash_at: Option<&str>,
) -> Orchestrator {
    let mut command = Command::new(env!("CARGO_BIN_EXE_order-orchestrator"));
    command
        .env("FERRY_BUS__KIND", "rabbitmq")
        .env("FERRY_BUS__URL", support::amqp_url())
        .env("FERRY_BUS__PREFIX", prefix)
        .env("FERRY_BUS__RETRY_BASE_MS", "50")
        .env("FERRY_DATABASE__URL", db.url.expose())
        .env("FERRY_DATABASE__SCHEMA", db.schema.clone().unwrap())
        .env("FERRY_ADMIN__LISTEN", "127.0.0.1:0")
        .env("FERRY_SAGA__STEP_TIMEOUT_MS", "1500")
        .env("FERRY_SAGA__LEASE_MS", "500")
        .env("FERRY_SAGA__SWEEP_INTERVAL_MS", "200")
        .env("FERRY_SAGA__RETRY_BASE_MS", "50")
        .env("FERRY_SAGA__RETRY_MAX_MS", "200")
        .env("FERRY_SAGA__CUSTOMER_LOCK_POLL_MS", "200")
        .env("FERRY_SAGA__ARBITERS", "2")
        .env_remove("FERRY_CONFIG")
        .env_remove(CRASH_AT_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(point) = crash_at {
        command.env(CRASH_AT_ENV, point);
    }
    let mut child = command
        .spawn()
        .expect("the order-orchestrator binary starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let _ = tx.send(line);
        }
    });
    Orchestrator { child, lines }
}

async fn killed_at(point: &str) {
    let bus = TestBus::new(Kind::Rabbit).await;
    let (db, guard) = support::database(Kind::Rabbit).await;
    let responder = Responder::start(bus.bus.clone(), System::Mpluskassa).await;
    responder.add_skus(&["1001"]);
    // The orchestrator's queue exists before the order event is published.
    bus.bus
        .declare(&ferry_order_orchestrator::consumer::subscription(
            32,
            RetryPolicy::default(),
        ))
        .await
        .unwrap();

    let mut first = spawn(&bus.prefix, guard.config(), Some(point));
    let integration = ferry_proto::IntegrationId::new();
    let envelope = ferry_proto::Envelope::new(
        integration,
        mapped_order(
            "ORD-CRASH",
            Plan::Company("crash@example.com"),
            &["1001"],
            System::Mpluskassa,
        ),
    );
    bus.bus
        .publish(ferry_platform::bus::BusMessage::from_envelope(&envelope).unwrap())
        .await
        .unwrap();

    // Wait for the crash point, then kill -9.
    let expected = format!("{MARKER} {point}");
    let mut log = Vec::new();
    let reached = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = first.lines.recv().await {
            let hit = line.contains(&expected);
            log.push(line);
            if hit {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(
        reached,
        "crash point {point} never reached; log:\n{}",
        log.join("\n")
    );
    first.child.start_kill().unwrap();
    let status = first.child.wait().await.unwrap();
    assert!(!status.success(), "killed");

    // Restart: the saga resumes and the order exists exactly once.
    let mut second = spawn(&bus.prefix, guard.config(), None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let state = saga_state(&db, "ORD-CRASH").await;
        if state == Some(SagaState::Completed) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let mut rest = Vec::new();
            while let Ok(line) = second.lines.try_recv() {
                rest.push(line);
            }
            panic!(
                "after a crash at {point} the saga is {state:?}; log:\n{}",
                rest.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give redelivered or resent messages a moment to (not) have a second effect.
    let settle = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < settle {
        assert!(responder.orders_created() <= 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        responder.orders_created(),
        1,
        "exactly one order after a crash at {point}"
    );
    assert_eq!(
        responder.customers_created(),
        1,
        "exactly one customer after a crash at {point}"
    );
    assert_eq!(saga_count(&db).await, 1);

    second.child.start_kill().unwrap();
    let _ = second.child.wait().await;
    responder.stop().await;
    bus.cleanup().await;
    drop(guard);
}

async fn saga_state(db: &sea_orm::DatabaseConnection, external_id: &str) -> Option<SagaState> {
    use ferry_order_orchestrator::store::saga_row;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let row = saga_row::Entity::find()
        .filter(saga_row::Column::ExternalId.eq(external_id))
        .one(db)
        .await
        .ok()??;
    SagaState::parse(&row.state)
}

async fn saga_count(db: &sea_orm::DatabaseConnection) -> u64 {
    use ferry_order_orchestrator::store::saga_row;
    use sea_orm::{EntityTrait, PaginatorTrait};
    saga_row::Entity::find().count(db).await.unwrap()
}
