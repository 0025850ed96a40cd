//! RabbitMQ is killed (`kill -9`) and started again in the middle of a publish burst, with a
//! consumer running: every message whose publish was confirmed is consumed afterwards, and
//! both publisher and consumer reconnect by themselves.
//!
//! The test runs its own broker node (own port, own data directory) so that killing it does not
//! disturb the tests that share the machine's broker. A node whose port another process took
//! before it bound it is started on another port, and never mistaken for started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_platform::bus::rabbit::testing::PrivateBroker;
use ferry_platform::bus::rabbit::{RabbitBus, RabbitConfig};
use ferry_platform::bus::{Binding, Bus, BusError, Delivery, Outcome, Subscription};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_confirmed_message_is_lost_when_the_broker_is_killed_during_a_burst() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let broker = PrivateBroker::start().expect("private RabbitMQ node starts");
    let config = RabbitConfig::new(broker.url())
        .publish_timeout(Duration::from_secs(60))
        .connection_name("broker-restart test");
    let bus = RabbitBus::connect(config, Duration::from_secs(30))
        .await
        .unwrap();

    let received: Arc<Mutex<Vec<Uuid>>> = Arc::default();
    let handler = {
        let received = received.clone();
        move |d: Delivery| {
            received.lock().unwrap().push(d.message.message_id);
            async { Outcome::Ack }
        }
    };
    let subscription = Subscription::new("burst", vec![Binding::events("burst.item")]).prefetch(50);
    let consumer = bus
        .subscribe(subscription, Arc::new(handler))
        .await
        .unwrap();

    // RabbitMQ's quorum queues keep their election state (term, vote) in a file that Ra syncs
    // every 5 s; a node killed within that window of a queue's creation can come back with the
    // queue stuck without a leader (seen with RabbitMQ 3.10: "leader not known" forever). That
    // is a broker fault outside any client's reach, and production queues are long-lived, so
    // the queue gets to settle before the burst starts.
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Publish a burst from 16 concurrent publishers; each publish is repeated until confirmed.
    let total = 3000usize;
    let confirmed: Arc<Mutex<BTreeSet<Uuid>>> = Arc::default();
    let failed_attempts = Arc::new(Mutex::new(0usize));
    let mut publishers = Vec::new();
    for worker in 0..16 {
        let (bus, confirmed, failed_attempts) =
            (bus.clone(), confirmed.clone(), failed_attempts.clone());
        publishers.push(tokio::spawn(async move {
            for i in (worker..total).step_by(16) {
                let message = support::event("burst.item", &i.to_string());
                loop {
                    match bus.publish(message.clone()).await {
                        Ok(()) => break,
                        Err(error) => {
                            assert!(
                                error.is_transient()
                                    || matches!(error, BusError::Unroutable { .. }),
                                "{error}"
                            );
                            *failed_attempts.lock().unwrap() += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                confirmed.lock().unwrap().insert(message.message_id);
            }
        }));
    }

    // Kill the broker once part of the burst is confirmed, then start it again.
    let deadline = Instant::now() + Duration::from_secs(60);
    while confirmed.lock().unwrap().len() < total / 4 {
        assert!(Instant::now() < deadline, "burst did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let confirmed_before_kill = confirmed.lock().unwrap().len();
    tokio::task::block_in_place(|| {
        broker.kill();
        std::thread::sleep(Duration::from_millis(500));
        broker.launch().expect("private RabbitMQ node starts again");
    });

    let progress = {
        let (confirmed, failed_attempts) = (confirmed.clone(), failed_attempts.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                println!(
                    "confirmed {}, failed attempts {}",
                    confirmed.lock().unwrap().len(),
                    failed_attempts.lock().unwrap()
                );
            }
        })
    };
    for publisher in publishers {
        tokio::time::timeout(Duration::from_secs(180), publisher)
            .await
            .expect("publishers finish after the broker is back")
            .unwrap();
    }
    progress.abort();
    let confirmed = confirmed.lock().unwrap().clone();
    assert_eq!(confirmed.len(), total);

    // Every confirmed message arrives (duplicates are allowed: the inbox absorbs them).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got: BTreeSet<Uuid> = received.lock().unwrap().iter().copied().collect();
        let missing = confirmed.difference(&got).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} confirmed messages never arrived"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deliveries = received.lock().unwrap().len();
    println!(
        "broker killed after {confirmed_before_kill} of {total} confirmed; publish attempts that failed and were repeated: {}; deliveries: {deliveries} ({} duplicates, 0 lost)",
        failed_attempts.lock().unwrap(),
        deliveries - total
    );
    consumer.stop(Duration::from_secs(2)).await;
    bus.shutdown(Duration::from_secs(2)).await;
}

/// The port a node was given is held by another process (as a test's service could take a
/// port picked free a moment before): the node does not boot there (`eaddrinuse`), is started
/// on another port, and its URL leads to the node, not to the holder.
#[tokio::test]
async fn a_node_whose_port_was_taken_starts_on_another() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    let broker = tokio::task::spawn_blocking(move || PrivateBroker::start_trying(taken))
        .await
        .unwrap()
        .expect("private RabbitMQ node starts on another port");
    assert_ne!(broker.port(), taken);
    let output = std::fs::read_to_string(broker.dir().join("server.log")).unwrap();
    assert!(output.contains("Starting broker... completed"), "{output}");
    let bus = RabbitBus::connect(RabbitConfig::new(broker.url()), Duration::from_secs(30)).await;
    assert!(bus.is_ok(), "the node answers AMQP at {}", broker.url());
    drop(holder);
}
