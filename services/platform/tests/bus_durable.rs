//! The durable in-process bus survives the death of its process: a run is killed (its whole
//! Tokio runtime dropped, every task with it) while one message is acknowledged, one waits in a
//! delay queue and one is in a handler; the next run on the same database delivers the two
//! unfinished ones again, and not the acknowledged one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::{Binding, Bus, Delivery, Outcome, RetryPolicy, Subscription};
use ferry_platform::db::testing;
use support::{BusTables, collect, event, recorder};
use uuid::Uuid;

fn subscription() -> Subscription {
    Subscription::new("orders", vec![Binding::events("shop.order.*")]).retry(RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(800),
        max_delay: Duration::from_secs(2),
    })
}

#[test]
fn unfinished_messages_are_delivered_again_after_the_process_died() {
    let database = testing::sqlite_temp();
    let config = database.config().clone();
    let (acked, delayed, in_flight) = (
        event("shop.order.acked", "a"),
        event("shop.order.delayed", "b"),
        event("shop.order.stuck", "c"),
    );

    // First run, on its own runtime, killed mid-work.
    {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let handled: Arc<Mutex<Vec<Uuid>>> = Arc::default();
        let (acked, delayed, in_flight) = (acked.clone(), delayed.clone(), in_flight.clone());
        let seen = handled.clone();
        runtime.block_on(async move {
            let db = ferry_platform::db::connect(&config).await.unwrap();
            ferry_platform::db::migrate::<BusTables>(&db).await.unwrap();
            let bus = InProcessBus::durable(db).await.unwrap();
            let handler = move |d: Delivery| {
                seen.lock().unwrap().push(d.message.message_id);
                let kind = d.message.routing_key.clone();
                async move {
                    match kind.as_str() {
                        "shop.order.acked" => Outcome::Ack,
                        "shop.order.delayed" => Outcome::Retry("API answered 503".into()),
                        _ => std::future::pending().await,
                    }
                }
            };
            let _sub = bus
                .subscribe(subscription(), Arc::new(handler))
                .await
                .unwrap();
            for message in [&acked, &delayed, &in_flight] {
                bus.publish(message.clone()).await.unwrap();
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while handled.lock().unwrap().len() < 3 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "first run handled all three"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Give the ack and the retry scheduling time to reach the journal.
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
        // The process dies: no shutdown, no drain, every task dropped where it stands.
        runtime.shutdown_background();
    }

    // Second run on the same database.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let db = ferry_platform::db::connect(database.config())
            .await
            .unwrap();
        let bus = InProcessBus::durable(db).await.unwrap();
        let (handler, mut rx) = recorder(|_| Outcome::Ack);
        let sub = bus.subscribe(subscription(), handler).await.unwrap();
        let got = collect(&mut rx, 2, 10).await;
        support::nothing_more(&mut rx, 300).await;
        let ids: Vec<Uuid> = got.iter().map(|d| d.message.message_id).collect();
        assert_eq!(got.len(), 2, "exactly the two unfinished messages: {ids:?}");
        assert!(ids.contains(&delayed.message_id));
        assert!(ids.contains(&in_flight.message_id));
        assert!(
            !ids.contains(&acked.message_id),
            "an acknowledged message is gone for good"
        );
        let retried = got
            .iter()
            .find(|d| d.message.message_id == delayed.message_id)
            .unwrap();
        assert_eq!(retried.attempt, 2, "the retry keeps its attempt number");
        assert!(got.iter().all(|d| d.redelivered));
        sub.stop(Duration::from_secs(1)).await;
        drop(database);
    });
}
