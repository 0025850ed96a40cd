//! Polling sharded across replicas (issue 16, item 3), with separate processes and the real
//! PostgreSQL:
//!
//! - `poll_leases_survive_kill_minus_nine`: three replicas of the connector kit's poll
//!   scheduler (this test binary started again in replica mode) share twelve integrations and
//!   record every poll (replica, integration, start, end) in PostgreSQL. Two start, a third
//!   joins (the shares become 4/4/4), one is killed with `kill -9`: no integration goes
//!   unpolled for longer than two lease periods, and no two replicas' polls of one integration
//!   ever overlap.
//! - `three_mailchimp_connectors_share_ten_connections`: three MailChimp connector processes
//!   read one account at once (full syncs in small pages, 150 ms per request; polling off, so
//!   each replica runs the syncs it is asked for itself): the sandbox records at most 10
//!   requests in flight for the key and no 429 of the connection cap.
//! - `an_operators_sync_runs_on_the_poll_owner`: two polling MailChimp connector processes
//!   each asked for a full sync: both syncs run on the replica owning the integration's
//!   polling, one after the other in place of its polls, none on the other replica.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_e2e::{Cluster, ClusterOptions, Integration, ServiceKind, System, eventually};
use ferry_platform::connector::poll::{
    AdaptiveInterval, CreatePollRequests, CreatePollTables, PollError, PollScheduler, PollSettings,
    Poller,
};
use ferry_platform::db::{self, testing};
use ferry_proto::IntegrationId;
use ferry_sandbox::seed::Seed;
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, Statement};
use sea_orm_migration::prelude::{DynIden, MigrationTrait, MigratorTrait};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The lease of the replicas in the handover test.
const LEASE: Duration = Duration::from_secs(2);
/// Integrations in the handover test.
const INTEGRATIONS: usize = 12;
/// The variables of a replica process.
const REPLICA_ENV: &str = "FERRY_E2E_POLL_REPLICA";
const DB_URL_ENV: &str = "FERRY_E2E_POLL_DB_URL";
const DB_SCHEMA_ENV: &str = "FERRY_E2E_POLL_DB_SCHEMA";
const IDS_ENV: &str = "FERRY_E2E_POLL_IDS";

struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreatePollTables), Box::new(CreatePollRequests)]
    }

    fn migration_table_name() -> DynIden {
        db::service_migration_table("poll-e2e")
    }
}

/// Records each poll in `poll_spans` and its end in `poll_span_ends`, with client-side times
/// (one machine, one clock). The end is written even when the poll is stopped half-way, also
/// before its start row landed (two tables: the order of the writes does not matter).
struct Recorder {
    db: DatabaseConnection,
    replica: String,
    ids: Vec<IntegrationId>,
}

struct SpanEnd {
    db: DatabaseConnection,
    id: uuid::Uuid,
}

impl Drop for SpanEnd {
    fn drop(&mut self) {
        let (db, id, at) = (self.db.clone(), self.id, Utc::now());
        tokio::spawn(async move {
            let _ = db
                .execute(Statement::from_sql_and_values(
                    db.get_database_backend(),
                    "INSERT INTO poll_span_ends (id, ended_at) VALUES ($1, $2)",
                    [id.into(), at.into()],
                ))
                .await;
        });
    }
}

#[async_trait]
impl Poller for Recorder {
    fn integrations(&self) -> Vec<IntegrationId> {
        self.ids.clone()
    }

    async fn poll(&self, integration: IntegrationId) -> Result<u64, PollError> {
        let id = uuid::Uuid::new_v4();
        let started = Utc::now();
        let _end = SpanEnd {
            db: self.db.clone(),
            id,
        };
        self.db
            .execute(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                "INSERT INTO poll_spans (id, replica, integration, started_at) VALUES ($1, $2, $3, $4)",
                [
                    id.into(),
                    self.replica.clone().into(),
                    integration.as_uuid().into(),
                    started.into(),
                ],
            ))
            .await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
        Ok(0)
    }
}

/// Replica mode: runs when this binary is started by the handover test with `REPLICA_ENV`
/// set (until killed); passes at once otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_replica_process() {
    let Ok(replica) = std::env::var(REPLICA_ENV) else {
        return;
    };
    let config = ferry_platform::config::DatabaseConfig {
        url: ferry_platform::config::Secret::new(std::env::var(DB_URL_ENV).unwrap()),
        max_connections: 5,
        schema: Some(std::env::var(DB_SCHEMA_ENV).unwrap()),
        ..Default::default()
    };
    let db = db::connect(&config).await.unwrap();
    let ids = std::env::var(IDS_ENV)
        .unwrap()
        .split(',')
        .map(|s| IntegrationId::parse(s).unwrap())
        .collect();
    let poller = Arc::new(Recorder {
        db: db.clone(),
        replica,
        ids,
    });
    let settings = PollSettings {
        lease: LEASE,
        concurrency: 4,
        interval: AdaptiveInterval {
            busy: Duration::from_millis(100),
            idle_max: Duration::from_millis(300),
        },
    };
    let scheduler = PollScheduler::new(db, ferry_proto::System::Mailchimp, poller, settings);
    scheduler.spawn(CancellationToken::new()).await.unwrap();
}

fn start_replica(
    name: &str,
    test: &testing::TestDatabase,
    ids: &[IntegrationId],
) -> anyhow::Result<Child> {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    Command::new(std::env::current_exe()?)
        .args(["--exact", "poll_replica_process", "--nocapture"])
        .env(REPLICA_ENV, name)
        .env(DB_URL_ENV, test.config().url.expose())
        .env(
            DB_SCHEMA_ENV,
            test.config().schema.clone().unwrap_or_default(),
        )
        .env(IDS_ENV, ids.join(","))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start a replica process")
}

#[derive(Debug, Clone, FromQueryResult)]
struct Span {
    replica: String,
    integration: uuid::Uuid,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, FromQueryResult)]
struct Share {
    n: i64,
}

/// Live leases per owner, largest first.
async fn shares(db: &DatabaseConnection) -> anyhow::Result<Vec<i64>> {
    let rows = Share::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        "SELECT count(*) AS n FROM connector_poll_leases \
         WHERE expires_at > now() AND owner <> '00000000-0000-0000-0000-000000000000' GROUP BY owner",
    ))
    .all(db)
    .await?;
    let mut n: Vec<i64> = rows.iter().map(|r| r.n).collect();
    n.sort_unstable_by(|a, b| b.cmp(a));
    Ok(n)
}

async fn wait_for_shares(db: &DatabaseConnection, want: &[i64], what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = shares(db).await?;
        if now == want {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{what}: shares {now:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_leases_survive_kill_minus_nine() -> anyhow::Result<()> {
    let test = testing::postgres_schema().await?;
    let db = db::connect(test.config()).await?;
    db::migrate::<Migrator>(&db).await?;
    db.execute_unprepared(
        "CREATE TABLE poll_spans (id UUID PRIMARY KEY, replica TEXT NOT NULL, \
         integration UUID NOT NULL, started_at TIMESTAMPTZ NOT NULL); \
         CREATE TABLE poll_span_ends (id UUID PRIMARY KEY, ended_at TIMESTAMPTZ NOT NULL)",
    )
    .await?;
    let ids: Vec<IntegrationId> = (0..INTEGRATIONS).map(|_| IntegrationId::new()).collect();
    let run_start = Utc::now();

    let mut a = start_replica("a", &test, &ids)?;
    let mut b = start_replica("b", &test, &ids)?;
    wait_for_shares(&db, &[6, 6], "two replicas").await?;
    // A third joins: the others hand over their surplus.
    let mut c = start_replica("c", &test, &ids)?;
    wait_for_shares(&db, &[4, 4, 4], "a replica joined").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // kill -9 one: its four integrations go to the others within two lease periods.
    a.kill()?;
    let killed_at = Utc::now();
    a.wait()?;
    wait_for_shares(&db, &[6, 6], "after kill -9").await?;
    let taken_over = Utc::now();
    let took = (taken_over - killed_at).to_std()?;
    ensure!(
        took <= LEASE * 2,
        "take-over after kill -9 took {took:?} (lease {LEASE:?})"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    for child in [&mut b, &mut c] {
        child.kill()?;
        child.wait()?;
    }
    let ended = Utc::now();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let spans = Span::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        "SELECT s.replica, s.integration, s.started_at, e.ended_at FROM poll_spans s \
         LEFT JOIN poll_span_ends e ON e.id = s.id ORDER BY s.started_at",
    ))
    .all(&db)
    .await?;
    ensure!(spans.len() > 100, "only {} polls recorded", spans.len());
    let mut by: BTreeMap<uuid::Uuid, Vec<Span>> = BTreeMap::new();
    for s in spans {
        by.entry(s.integration).or_default().push(s);
    }
    ensure!(by.len() == INTEGRATIONS, "{} integrations polled", by.len());
    let two_leases = chrono::Duration::from_std(LEASE * 2)?;
    for (id, spans) in &by {
        // Never two replicas at once: each poll ends before the next one starts.
        for w in spans.windows(2) {
            let end = w[0].ended_at.unwrap_or(if w[0].replica == "a" {
                killed_at
            } else {
                ended
            });
            ensure!(
                end <= w[1].started_at,
                "integration {id}: {} started at {} while {}'s poll (from {}) ran until {end}",
                w[1].replica,
                w[1].started_at,
                w[0].replica,
                w[0].started_at
            );
        }
        // Never unpolled for longer than two lease periods.
        let mut last = run_start.max(spans[0].started_at);
        for s in spans.iter().skip(1) {
            ensure!(
                s.started_at - last <= two_leases,
                "integration {id} unpolled from {last} to {} (by {})",
                s.started_at,
                s.replica
            );
            last = s.started_at;
        }
        ensure!(
            ended - last <= two_leases,
            "integration {id} unpolled at the end"
        );
    }
    eprintln!("poll handover: take-over after kill -9 in {took:?}; lease {LEASE:?}");
    Ok(())
}

/// The peak of requests in flight and the cap's refusals for the account's key.
fn connections(state: &Value) -> (u64, u64) {
    let all = state["connections"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let peak = all
        .values()
        .filter_map(|c| c["peak"].as_u64())
        .max()
        .unwrap_or(0);
    let refused = all.values().filter_map(|c| c["refused"].as_u64()).sum();
    (peak, refused)
}

/// `GET` of one MailChimp connector replica's progress of the cluster's integration.
async fn progress_on(
    http: &reqwest::Client,
    cluster: &Cluster,
    url: &str,
) -> anyhow::Result<Value> {
    let r = http
        .get(format!(
            "{url}/api/v1/mailchimp/integrations/{}/progress",
            cluster.integration.id
        ))
        .bearer_auth(&cluster.read_token)
        .send()
        .await?;
    ensure!(r.status().is_success(), "{url}: {}", r.status());
    Ok(r.json().await?)
}

/// Asks one MailChimp connector replica for a sync of the cluster's integration (202).
async fn sync_on(
    http: &reqwest::Client,
    cluster: &Cluster,
    url: &str,
    body: &Value,
) -> anyhow::Result<()> {
    let r = http
        .post(format!(
            "{url}/api/v1/mailchimp/integrations/{}/sync",
            cluster.integration.id
        ))
        .bearer_auth(&cluster.operator_token)
        .json(body)
        .send()
        .await?;
    ensure!(r.status().as_u16() == 202, "sync on {url}: {}", r.status());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_mailchimp_connectors_share_ten_connections() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let mut options = ClusterOptions::new("polling_connection_cap");
    options
        .instances_of
        .insert(ServiceKind::ConnectorMailchimp, 3);
    // Small pages: each full sync wants many requests at once. Without polling each replica
    // runs the syncs asked of it (with polling they would all go to the poll owner).
    options.own_toml.insert(
        ServiceKind::ConnectorMailchimp,
        "page_size = 5\npoll_enabled = false".into(),
    );
    // Without polling there is no initial sync to wait for: the integration is set up here.
    options.set_up_integration = false;
    let mut cluster = Cluster::start(options, Integration::for_seed(&seed)).await?;
    cluster.configure_integration().await?;
    cluster
        .sandbox
        .add_fault(
            System::Mailchimp,
            json!({"fault": {"kind": "latency", "ms": 150}}),
        )
        .await?;
    let http = reqwest::Client::new();
    let replicas = cluster.admin_urls(ServiceKind::ConnectorMailchimp);
    ensure!(
        replicas.len() == 3,
        "{} MailChimp connectors",
        replicas.len()
    );
    // Every replica has heard of the integration from the registry.
    for url in &replicas {
        eventually(
            "the integration served",
            Duration::from_secs(30),
            || async { progress_on(&http, &cluster, url).await.map(|_| ()) },
        )
        .await?;
    }
    // Every replica reads the whole account at once (3 x up to 10 pages in flight wanted).
    for round in 0..2 {
        for url in &replicas {
            sync_on(&http, &cluster, url, &json!({"mode": "full"})).await?;
        }
        eprintln!("connection cap: round {round} of full syncs started on 3 replicas");
        tokio::time::sleep(Duration::from_secs(8)).await;
    }
    // Quiet again: every replica's calls done.
    eventually("every replica idle", Duration::from_secs(120), || async {
        for url in &replicas {
            let stats: Value = http
                .get(format!(
                    "{url}/api/v1/mailchimp/integrations/{}/api-stats",
                    cluster.integration.id
                ))
                .bearer_auth(&cluster.read_token)
                .send()
                .await?
                .json()
                .await?;
            ensure!(
                stats["in_flight"].as_u64() == Some(0),
                "{url} busy: {stats}"
            );
        }
        Ok(())
    })
    .await?;
    cluster.sandbox.clear_faults(System::Mailchimp).await?;
    let state = cluster.sandbox.state(System::Mailchimp).await?;
    let (peak, refused) = connections(&state);
    eprintln!("connection cap: peak {peak} requests in flight for the key, {refused} refused");
    ensure!(peak <= 10, "peak {peak} requests in flight for one key");
    ensure!(
        refused == 0,
        "{refused} requests refused by the 10-connection cap"
    );
    ensure!(peak >= 6, "the replicas did not contend (peak {peak})");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_sync_runs_on_the_poll_owner() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let mut options = ClusterOptions::new("polling_sync_on_owner");
    options
        .instances_of
        .insert(ServiceKind::ConnectorMailchimp, 2);
    let cluster = Cluster::start(options, Integration::for_seed(&seed)).await?;
    cluster.wait_mailchimp_synced().await?;
    let http = reqwest::Client::new();
    let replicas = cluster.admin_urls(ServiceKind::ConnectorMailchimp);
    ensure!(
        replicas.len() == 2,
        "{} MailChimp connectors",
        replicas.len()
    );
    // Both replicas know the integration is live: the registry's change reaches one replica
    // through the shared queue, the other at its next registry refresh (a replica that does
    // not know it live runs an operator's sync itself).
    for url in &replicas {
        eventually(
            "the integration live on every replica",
            Duration::from_secs(30),
            || async {
                let progress = progress_on(&http, &cluster, url).await?;
                ensure!(progress["polled"] == true, "{url}: {progress}");
                Ok(())
            },
        )
        .await?;
    }
    for url in &replicas {
        let body = json!({"mode": "full", "resources": ["products"]});
        sync_on(&http, &cluster, url, &body).await?;
    }
    const SERVED: &str = "requested MailChimp sync running on the poll owner";
    eventually("both syncs served", Duration::from_secs(60), || async {
        let served = cluster.log_counts(ServiceKind::ConnectorMailchimp, SERVED);
        ensure!(
            served.iter().sum::<usize>() == 2,
            "served so far: {served:?}"
        );
        Ok(())
    })
    .await?;
    let served = cluster.log_counts(ServiceKind::ConnectorMailchimp, SERVED);
    let asked = cluster.log_counts(ServiceKind::ConnectorMailchimp, "MailChimp sync requested");
    eprintln!("sync on owner: asked {asked:?}, served {served:?}");
    ensure!(asked == [1, 1], "each replica took one call: {asked:?}");
    ensure!(
        served == [2, 0] || served == [0, 2],
        "both syncs on the poll owner: {served:?}"
    );
    Ok(())
}
