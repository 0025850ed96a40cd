//! The connector kit's cursors and runs: a marker only moves forward and its totals add up in
//! one statement, a reset reads everything again, several resources are written at once, a
//! run left running is mended, and each system sees only its own rows (one SQLite file holds
//! every connector's).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use ferry_platform::connector::Cursors;
use ferry_platform::db::testing;
use ferry_proto::{IntegrationId, System};
use sea_orm::DatabaseConnection;

mod support;

async fn database(postgres: bool) -> (testing::TestDatabase, DatabaseConnection) {
    support::kit_database(postgres).await
}

const MPLUS: Cursors = Cursors::new(System::Mpluskassa);
const MAILCHIMP: Cursors = Cursors::new(System::Mailchimp);

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

async fn cursors_and_runs(postgres: bool) {
    let (_test, db) = database(postgres).await;
    let i = IntegrationId::new();

    // A marker cursor: forward only, totals added.
    assert_eq!(MPLUS.marker(&db, i, "relations").await.unwrap(), 0);
    MPLUS.advance(&db, i, "relations", 50, 10, 1).await.unwrap();
    MPLUS.advance(&db, i, "relations", 40, 5, 0).await.unwrap();
    let c = MPLUS.get(&db, i, "relations").await.unwrap().unwrap();
    assert_eq!((c.marker, c.records, c.parked), (50, 15, 1));
    MPLUS.advance(&db, i, "relations", 90, 2, 2).await.unwrap();
    assert_eq!(MPLUS.marker(&db, i, "relations").await.unwrap(), 90);
    MPLUS.advance(&db, i, "stock", 7, 1, 0).await.unwrap();
    // A reset: read everything again; the totals stay.
    MPLUS.reset(&db, i, &["relations"]).await.unwrap();
    let c = MPLUS.get(&db, i, "relations").await.unwrap().unwrap();
    assert_eq!((c.marker, c.records, c.parked), (0, 17, 3));
    assert_eq!(MPLUS.marker(&db, i, "stock").await.unwrap(), 7);

    // Watermark cursors, several written in one statement; another system's rows apart.
    let mut members = MAILCHIMP.unmoved(i, "members");
    members.watermark = Some(t(0));
    let mut orders = MAILCHIMP.unmoved(i, "orders");
    orders.watermark = Some(t(5));
    orders.polled_at = Some(t(6));
    MAILCHIMP
        .put(&db, &[orders.clone(), members.clone()])
        .await
        .unwrap();
    let all = MAILCHIMP.all(&db, i).await.unwrap();
    let names: Vec<_> = all.iter().map(|c| c.resource.as_str()).collect();
    assert_eq!(names, ["members", "orders"]);
    assert_eq!(
        (all[1].watermark, all[1].polled_at),
        (Some(t(5)), Some(t(6)))
    );
    assert_eq!(MPLUS.all(&db, i).await.unwrap().len(), 2);

    // Runs: written whole; a run left running is mended by a run that found nothing, a
    // finished one is not.
    let mut run = MPLUS.start_run(i, "relations", "full", t(0), 100, Some(300));
    run.position = 200;
    run.published = 4;
    run.skipped = 1;
    run.sample(t(2));
    MPLUS.put_runs(&db, &[run.clone()]).await.unwrap();
    let stored = MPLUS.run(&db, i, "relations").await.unwrap().unwrap();
    assert_eq!(stored, run);
    let view = stored.run().view("relations", t(2));
    assert_eq!((view.done, view.percent), (5, Some(50.0)));
    let mut nothing = MPLUS.start_run(i, "relations", "incremental", t(9), 300, Some(300));
    nothing.finish(None, t(10));
    MPLUS.settle_run(&db, nothing.clone()).await.unwrap();
    let mended = MPLUS.run(&db, i, "relations").await.unwrap().unwrap();
    assert_eq!(
        (
            mended.state.as_str(),
            mended.mode.as_str(),
            mended.finished_at
        ),
        ("done", "full", Some(t(10)))
    );
    let mut later = nothing.clone();
    later.finished_at = Some(t(20));
    MPLUS.settle_run(&db, later).await.unwrap();
    assert_eq!(MPLUS.run(&db, i, "relations").await.unwrap(), Some(mended));
    // A resource without a run gets the one that found nothing.
    let stock = MPLUS.start_run(i, "stock", "incremental", t(9), 7, Some(7));
    MPLUS.settle_run(&db, stock.clone()).await.unwrap();
    assert_eq!(MPLUS.runs(&db, i).await.unwrap().len(), 2);

    // Forgetting an integration removes its cursors and runs, of its system only.
    MAILCHIMP
        .put_runs(
            &db,
            &[MAILCHIMP.start_run(i, "orders", "full", t(0), 0, None)],
        )
        .await
        .unwrap();
    MPLUS.forget(&db, i).await.unwrap();
    assert!(MPLUS.all(&db, i).await.unwrap().is_empty());
    assert!(MPLUS.runs(&db, i).await.unwrap().is_empty());
    assert_eq!(MAILCHIMP.all(&db, i).await.unwrap().len(), 2);
    assert_eq!(MAILCHIMP.runs(&db, i).await.unwrap().len(), 1);
}

#[tokio::test]
async fn cursors_and_runs_on_sqlite() {
    cursors_and_runs(false).await;
}

#[tokio::test]
async fn cursors_and_runs_on_postgres() {
    cursors_and_runs(true).await;
}
