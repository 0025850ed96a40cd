//! The connector kit's cross-references and record leases: a version of a record is
//! claimed once, also when two readers of the same record (two webhook rechecks) claim it at
//! the same time; a record has one lease holder at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ferry_platform::connector::store::{LeaseRequest, Leases, Xref, Xrefs};
use ferry_platform::db::testing;
use ferry_proto::{IntegrationId, System};
use sea_orm::{DatabaseConnection, TransactionTrait};

mod support;

async fn database(postgres: bool) -> (testing::TestDatabase, DatabaseConnection) {
    support::kit_database(postgres).await
}

const XREFS: Xrefs = Xrefs::new(System::Mailchimp);

async fn a_version_is_claimed_once(postgres: bool) {
    let (_test, db) = database(postgres).await;
    let i = IntegrationId::new();
    let claim = |fp: &'static str| {
        let db = db.clone();
        async move {
            XREFS
                .claim_version(&db, i, "member", "abc", fp)
                .await
                .unwrap()
        }
    };
    assert!(claim("v1").await, "a new record's version");
    assert!(!claim("v1").await, "the same version again");
    assert!(claim("v2").await, "a new version");
    assert!(!claim("v2").await);
    assert!(
        XREFS
            .claim_version(&db, i, "member", "other", "v2")
            .await
            .unwrap(),
        "another record"
    );
    assert!(
        XREFS
            .claim_version(&db, IntegrationId::new(), "member", "abc", "v2")
            .await
            .unwrap(),
        "another integration"
    );
}

#[tokio::test]
async fn a_version_is_claimed_once_on_sqlite() {
    a_version_is_claimed_once(false).await;
}

#[tokio::test]
async fn a_version_is_claimed_once_on_postgres() {
    a_version_is_claimed_once(true).await;
}

/// Two transactions claim one version at once: the second waits for the first and, once that
/// commits, finds the version claimed (what made two webhook rechecks publish one member twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_of_one_version_have_one_winner_on_postgres() {
    let (_test, db) = database(true).await;
    let i = IntegrationId::new();
    let first = db.begin().await.unwrap();
    assert!(
        XREFS
            .claim_version(&first, i, "member", "abc", "v1")
            .await
            .unwrap()
    );
    let second = {
        let db = db.clone();
        tokio::spawn(async move {
            let txn = db.begin().await.unwrap();
            let won = XREFS
                .claim_version(&txn, i, "member", "abc", "v1")
                .await
                .unwrap();
            txn.commit().await.unwrap();
            won
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "the second claim waits for the first transaction"
    );
    first.commit().await.unwrap();
    assert!(
        !second.await.unwrap(),
        "the version was claimed by the first"
    );
}

const LEASES: Leases = Leases::new(System::Mailchimp);

/// Takes `keys` in one statement; answers which got their lease, in order, and the holders.
async fn take(
    db: &DatabaseConnection,
    i: IntegrationId,
    keys: &[&str],
    ttl: Duration,
) -> (Vec<bool>, Vec<uuid::Uuid>) {
    let requests: Vec<LeaseRequest> = keys
        .iter()
        .map(|key| LeaseRequest {
            integration: i,
            key: (*key).to_owned(),
            holder: uuid::Uuid::new_v4(),
        })
        .collect();
    let taken = LEASES.take_many(db, &requests, ttl).await.unwrap();
    (
        requests.iter().map(|r| taken.contains(&r.holder)).collect(),
        requests.iter().map(|r| r.holder).collect(),
    )
}

/// Record leases taken together: one holder per record, the first of two asking for one; a
/// held lease is busy until released; an expired one (a crashed holder) is taken over, and
/// its old holder's release leaves the new holder's lease alone.
async fn leases_taken_together_have_one_holder_per_record(postgres: bool) {
    let (_test, db) = database(postgres).await;
    let i = IntegrationId::new();
    let long = Duration::from_secs(60);
    let (got, holders) = take(&db, i, &["customer:a", "customer:a", "order:1"], long).await;
    assert_eq!(
        got,
        [true, false, true],
        "the first of two asking for one record"
    );
    assert_eq!(take(&db, i, &["customer:a"], long).await.0, [false], "held");
    assert_eq!(
        take(&db, IntegrationId::new(), &["customer:a"], long)
            .await
            .0,
        [true],
        "another integration's record"
    );
    LEASES.release_many(&db, &holders[..1]).await.unwrap();
    assert_eq!(
        take(&db, i, &["customer:a"], long).await.0,
        [true],
        "released"
    );

    let (got, crashed) = take(&db, i, &["product:7"], Duration::ZERO).await;
    assert_eq!(got, [true]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        take(&db, i, &["product:7"], long).await.0,
        [true],
        "taken over"
    );
    LEASES.release_many(&db, &crashed).await.unwrap();
    assert_eq!(
        take(&db, i, &["product:7"], long).await.0,
        [false],
        "the crashed holder's release leaves the new holder's lease"
    );
}

#[tokio::test]
async fn leases_taken_together_have_one_holder_per_record_on_sqlite() {
    leases_taken_together_have_one_holder_per_record(false).await;
}

#[tokio::test]
async fn leases_taken_together_have_one_holder_per_record_on_postgres() {
    leases_taken_together_have_one_holder_per_record(true).await;
}

/// Cross-references of several commands written in one statement (a group commit): two rows
/// of one record keep the later, and rows of several integrations land in their own.
async fn rows_of_a_group_are_written_in_one_go(postgres: bool) {
    let (_test, db) = database(postgres).await;
    let (a, b) = (IntegrationId::new(), IntegrationId::new());
    let first = Xref::new("customer", "a@example.com", "1001").with_fingerprint("v1");
    let later = Xref::new("customer", "a@example.com", "1001").with_fingerprint("v2");
    let other = Xref::new("order", "WEB-1", "5001");
    XREFS
        .put_many(&db, &[(a, &first), (b, &first), (a, &other), (a, &later)])
        .await
        .unwrap();
    let row = XREFS
        .by_id(&db, a, "customer", "1001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.fingerprint.as_deref(),
        Some("v2"),
        "the later row of a record"
    );
    let row = XREFS
        .by_id(&db, b, "customer", "1001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.fingerprint.as_deref(),
        Some("v1"),
        "the other integration's"
    );
    assert_eq!(
        XREFS
            .id_of(&db, a, "order", "WEB-1")
            .await
            .unwrap()
            .as_deref(),
        Some("5001")
    );
}

#[tokio::test]
async fn rows_of_a_group_are_written_in_one_go_on_sqlite() {
    rows_of_a_group_are_written_in_one_go(false).await;
}

#[tokio::test]
async fn rows_of_a_group_are_written_in_one_go_on_postgres() {
    rows_of_a_group_are_written_in_one_go(true).await;
}
