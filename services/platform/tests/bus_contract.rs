//! The bus contract: every test here runs against the in-process bus and against RabbitMQ, so
//! the embedded default and production behave the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferry_platform::bus::inbox::Inbox;
use ferry_platform::bus::outbox::Outbox;
use ferry_platform::bus::{
    Binding, BusError, DeadLetter, Delivery, Handler, Outcome, RetryPolicy, Subscription, queues,
};
use ferry_platform::connector::ingest::Backlog;
use sea_orm::{ConnectionTrait, TransactionTrait};
use support::{Db, Kind, TestBus, collect, command, event, next, nothing_more, recorder};

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::InProcess).await;
                }
            )*
        }
        mod in_process_durable {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::InProcessDurable).await;
                }
            )*
        }
        mod rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::Rabbit).await;
                }
            )*
        }
    };
}

contract!(
    routes_by_exchange_and_topic_pattern,
    unroutable_command_is_an_error_but_an_unheard_event_is_not,
    a_command_sent_before_its_service_ever_started_waits_for_it,
    an_event_sent_before_its_consumer_ever_started_waits_for_it,
    retry_redelivers_with_the_next_attempt_number,
    consumer_crash_redelivers_unacknowledged_messages,
    retries_then_dead_letters_after_max_attempts,
    dead_letter_outcome_parks_at_once_and_replay_brings_it_back,
    handler_panic_is_retried_not_fatal,
    duplicate_delivery_is_absorbed_by_the_inbox,
    competing_consumers_share_a_queue_without_double_delivery,
    prefetch_bounds_deliveries_in_flight,
    graceful_shutdown_drains_in_flight_work,
    oversized_message_is_refused,
    outbox_publishes_only_what_committed,
    headers_and_body_survive_the_trip,
    queue_depth_counts_waiting_messages,
    a_bulk_page_waits_while_the_pipeline_is_busy,
);

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
    }
}

async fn routes_by_exchange_and_topic_pattern(kind: Kind) {
    let t = TestBus::new(kind).await;
    let (h1, mut customers) = recorder(|_| Outcome::Ack);
    let (h2, mut observed) = recorder(|_| Outcome::Ack);
    let (h3, mut mplus_commands) = recorder(|_| Outcome::Ack);
    let s1 = t
        .bus
        .subscribe(
            Subscription::new("customers", vec![Binding::events("mailchimp.customer.*")]),
            h1,
        )
        .await
        .unwrap();
    let s2 = t
        .bus
        .subscribe(
            Subscription::new("observed", vec![Binding::events("#.observed")]),
            h2,
        )
        .await
        .unwrap();
    let s3 = t
        .bus
        .subscribe(
            Subscription::new("mplus", vec![Binding::commands("mpluskassa.#")]),
            h3,
        )
        .await
        .unwrap();

    t.bus
        .publish(event("mailchimp.customer.observed", "a"))
        .await
        .unwrap();
    t.bus
        .publish(event("mailchimp.product.observed", "b"))
        .await
        .unwrap();
    t.bus
        .publish(event("mailchimp.customer.upserted", "c"))
        .await
        .unwrap();
    t.bus
        .publish(command("mpluskassa.order.create", "d"))
        .await
        .unwrap();
    // Same routing key on the events exchange does not reach a commands binding.
    t.bus
        .publish(event("mpluskassa.order.create", "e"))
        .await
        .unwrap();

    let bodies = |ds: Vec<Delivery>| -> BTreeSet<String> {
        ds.into_iter()
            .map(|d| String::from_utf8(d.message.body.to_vec()).unwrap())
            .collect()
    };
    assert_eq!(
        bodies(collect(&mut customers, 2, 10).await),
        ["a", "c"].map(String::from).into()
    );
    assert_eq!(
        bodies(collect(&mut observed, 2, 10).await),
        ["a", "b"].map(String::from).into()
    );
    assert_eq!(
        bodies(collect(&mut mplus_commands, 1, 10).await),
        ["d"].map(String::from).into()
    );
    nothing_more(&mut customers, 300).await;
    nothing_more(&mut observed, 0).await;
    nothing_more(&mut mplus_commands, 0).await;
    for s in [s1, s2, s3] {
        s.stop(Duration::from_secs(2)).await;
    }
    t.cleanup().await;
}

async fn unroutable_command_is_an_error_but_an_unheard_event_is_not(kind: Kind) {
    let t = TestBus::new(kind).await;
    let error = t
        .bus
        .publish(command("nobody.listens.here", "x"))
        .await
        .expect_err("a command nobody receives must fail");
    assert!(matches!(error, BusError::Unroutable { .. }), "{error}");
    t.bus
        .publish(event("nobody.listens.here", "x"))
        .await
        .unwrap();
    t.cleanup().await;
}

/// On a fresh deployment a command may be published before the service that executes it
/// has ever started, while a catch-all listener (the notifier's `#`) already routes it: the
/// command must wait in the owner's queue, not only reach the listener.
async fn a_command_sent_before_its_service_ever_started_waits_for_it(kind: Kind) {
    let t = TestBus::new(kind).await;
    let (watch, mut watched) = recorder(|_| Outcome::Ack);
    let watcher = t
        .bus
        .subscribe(
            Subscription::new("watcher", vec![Binding::commands("#")]),
            watch,
        )
        .await
        .unwrap();
    t.bus
        .publish(command("mpluskassa.order.create", "early"))
        .await
        .unwrap();
    assert_eq!(collect(&mut watched, 1, 10).await.len(), 1);

    let (execute, mut executed) = recorder(|_| Outcome::Ack);
    let owner = t
        .bus
        .subscribe(
            Subscription::new(
                queues::CONNECTOR_MPLUSKASSA,
                queues::bindings(queues::CONNECTOR_MPLUSKASSA),
            ),
            execute,
        )
        .await
        .unwrap();
    let got = collect(&mut executed, 1, 10).await;
    assert_eq!(got.len(), 1, "the early command reached its service");
    assert_eq!(&got[0].message.body[..], b"early");
    for s in [watcher, owner] {
        s.stop(Duration::from_secs(2)).await;
    }
    t.cleanup().await;
}

/// The same for a record: an observed customer published before the mapper ever started
/// waits in the mapper's queue.
async fn an_event_sent_before_its_consumer_ever_started_waits_for_it(kind: Kind) {
    let t = TestBus::new(kind).await;
    t.bus
        .publish(event("mailchimp.customer.observed", "early"))
        .await
        .unwrap();
    let (handler, mut received) = recorder(|_| Outcome::Ack);
    let mapper = t
        .bus
        .subscribe(
            Subscription::new(queues::MAPPER, queues::bindings(queues::MAPPER)),
            handler,
        )
        .await
        .unwrap();
    let got = collect(&mut received, 1, 10).await;
    assert_eq!(got.len(), 1, "the early record reached the mapper");
    assert_eq!(&got[0].message.body[..], b"early");
    mapper.stop(Duration::from_secs(2)).await;
    t.cleanup().await;
}

async fn queue_depth_counts_waiting_messages(kind: Kind) {
    let t = TestBus::new(kind).await;
    let subscription = Subscription::new(queues::MAPPER, queues::bindings(queues::MAPPER));
    t.bus.declare(&subscription).await.unwrap();
    assert_eq!(t.bus.queue_depth(queues::MAPPER).await.unwrap(), Some(0));
    for body in ["one", "two"] {
        t.bus
            .publish(event("mailchimp.customer.observed", body))
            .await
            .unwrap();
    }
    // RabbitMQ counts a moment after the confirm.
    let mut depth = None;
    for _ in 0..50 {
        depth = t.bus.queue_depth(queues::MAPPER).await.unwrap();
        if depth == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(depth, Some(2));
    assert_eq!(t.bus.queue_depth("never-declared").await.unwrap(), None);
    // Consumed: none waits.
    let (handler, mut received) = recorder(|_| Outcome::Ack);
    let mapper = t.bus.subscribe(subscription, handler).await.unwrap();
    assert_eq!(collect(&mut received, 2, 10).await.len(), 2);
    mapper.stop(Duration::from_secs(2)).await;
    assert_eq!(t.bus.queue_depth(queues::MAPPER).await.unwrap(), Some(0));
    t.cleanup().await;
}

/// The connector kit's `Backlog`: a bulk page's turn comes only once fewer than `max`
/// messages wait in the pipeline's queues and the connector's outbox together.
async fn a_bulk_page_waits_while_the_pipeline_is_busy(kind: Kind) {
    let t = TestBus::new(kind).await;
    let (db, _guard) = support::database(match kind {
        Kind::InProcess | Kind::InProcessDurable => Db::Sqlite,
        Kind::Rabbit => Db::Postgres,
    })
    .await;
    let outbox = Outbox::new("tester");
    let backlog = Backlog::new(t.bus.clone(), 3);
    let subscription = Subscription::new(queues::MAPPER, queues::bindings(queues::MAPPER));
    t.bus.declare(&subscription).await.unwrap();
    for body in ["one", "two"] {
        t.bus
            .publish(event("mailchimp.customer.observed", body))
            .await
            .unwrap();
    }
    let txn = db.begin().await.unwrap();
    outbox
        .enqueue(&txn, &command("sys.thing.create", "unpublished"))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    // Two ready in the mapper's queue (RabbitMQ counts a moment after the confirm) and one in
    // the outbox: three ahead.
    let mut ahead = 0;
    for _ in 0..50 {
        ahead = backlog.ahead(&db, &outbox).await.unwrap();
        if ahead == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ahead, 3);
    let waiting = {
        let (backlog, db, outbox) = (backlog.clone(), db.clone(), outbox.clone());
        tokio::spawn(async move { backlog.room(&db, &outbox, "test").await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !waiting.is_finished(),
        "three ahead with a maximum of 3: the page waits"
    );
    // The mapper consumes its two: one is left ahead, the page goes.
    let (handler, mut received) = recorder(|_| Outcome::Ack);
    let mapper = t.bus.subscribe(subscription, handler).await.unwrap();
    assert_eq!(collect(&mut received, 2, 10).await.len(), 2);
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the page goes once the mapper consumed")
        .unwrap()
        .unwrap();
    // A maximum of 0 never waits.
    drop(
        Backlog::new(t.bus.clone(), 0)
            .room(&db, &outbox, "test")
            .await
            .unwrap(),
    );
    mapper.stop(Duration::from_secs(2)).await;
    t.cleanup().await;
}

async fn retry_redelivers_with_the_next_attempt_number(kind: Kind) {
    let t = TestBus::new(kind).await;
    let (handler, mut rx) = recorder(|d| {
        if d.attempt == 1 {
            Outcome::Retry("transient".into())
        } else {
            Outcome::Ack
        }
    });
    let sub = t
        .bus
        .subscribe(
            Subscription::new("retrying", vec![Binding::events("x.y.z")]).retry(fast_retry(5)),
            handler,
        )
        .await
        .unwrap();
    let sent = event("x.y.z", "payload");
    t.bus.publish(sent.clone()).await.unwrap();
    let first = next(&mut rx, 10).await;
    let second = next(&mut rx, 10).await;
    assert_eq!((first.attempt, second.attempt), (1, 2));
    assert_eq!(first.message.message_id, sent.message_id);
    assert_eq!(second.message.message_id, sent.message_id);
    assert_eq!(second.message.body, sent.body);
    nothing_more(&mut rx, 500).await;
    sub.stop(Duration::from_secs(2)).await;
    t.cleanup().await;
}

async fn consumer_crash_redelivers_unacknowledged_messages(kind: Kind) {
    let t = TestBus::new(kind).await;
    // The first consumer takes the message and "crashes" while handling it.
    let (stuck_tx, mut stuck_rx) = tokio::sync::mpsc::unbounded_channel();
    let stuck = move |d: Delivery| {
        let _ = stuck_tx.send(d);
        async move {
            std::future::pending::<()>().await;
            Outcome::Ack
        }
    };
    let subscription = Subscription::new("crashy", vec![Binding::events("crash.test")]);
    let first = t
        .bus
        .subscribe(subscription.clone(), Arc::new(stuck))
        .await
        .unwrap();
    let sent = event("crash.test", "important");
    t.bus.publish(sent.clone()).await.unwrap();
    let taken = next(&mut stuck_rx, 10).await;
    assert!(!taken.redelivered);
    first.abort().await;

    // A new consumer (a restarted process) gets it again, flagged as redelivered.
    let restarted = t.sibling().await;
    let (handler, mut rx) = recorder(|_| Outcome::Ack);
    let second = restarted
        .bus
        .subscribe(subscription, handler)
        .await
        .unwrap();
    let again = next(&mut rx, 15).await;
    assert_eq!(again.message.message_id, sent.message_id);
    assert!(again.redelivered, "a crash-redelivered message is flagged");
    nothing_more(&mut rx, 300).await;
    second.stop(Duration::from_secs(2)).await;
    if matches!(kind, Kind::Rabbit) {
        restarted.bus.shutdown(Duration::from_secs(1)).await;
    }
    t.cleanup().await;
}

async fn retries_then_dead_letters_after_max_attempts(kind: Kind) {
    let t = TestBus::new(kind).await;
    let (handler, mut rx) = recorder(|_| Outcome::Retry("API answered 503".into()));
    let sub = t
        .bus
        .subscribe(
            Subscription::new("failing", vec![Binding::events("always.fails")])
                .retry(fast_retry(3)),
            handler,
        )
        .await
        .unwrap();
    let sent = event("always.fails", "doomed");
    t.bus.publish(sent.clone()).await.unwrap();
    let attempts: Vec<u32> = collect(&mut rx, 3, 15)
        .await
        .iter()
        .map(|d| d.attempt)
        .collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    nothing_more(&mut rx, 600).await;

    let (dlq_handler, mut parked) = recorder(|_| Outcome::Ack);
    let dlq = t
        .bus
        .subscribe_dead_letters("failing", dlq_handler)
        .await
        .unwrap();
    let dead = DeadLetter::from_parked(next(&mut parked, 10).await.message, "failing");
    assert_eq!(dead.message.message_id, sent.message_id);
    assert_eq!(dead.queue, "failing");
    assert_eq!(dead.attempts, 3);
    assert!(
        dead.reason.contains("gave up after 3 attempts") && dead.reason.contains("503"),
        "reason says what happened: {}",
        dead.reason
    );
    assert_eq!(dead.message.routing_key, "always.fails");
    sub.stop(Duration::from_secs(2)).await;
    dlq.stop(Duration::from_secs(2)).await;
    t.cleanup().await;
}

async fn dead_letter_outcome_parks_at_once_and_replay_brings_it_back(kind: Kind) {
    let t = TestBus::new(kind).await;
    let replays = Arc::new(AtomicUsize::new(0));
    let seen = replays.clone();
    // Bad input is parked at once; after the operator fixed the cause, the replay succeeds.
    let (handler, mut rx) = recorder(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Outcome::DeadLetter("mapping error: SKU AB-12 is not numeric".into())
        } else {
            Outcome::Ack
        }
    });
    let sub = t
        .bus
        .subscribe(
            Subscription::new(
                "mapper",
                vec![Binding::events("mpluskassa.product.observed")],
            )
            .retry(fast_retry(5)),
            handler,
        )
        .await
        .unwrap();
    let sent = event("mpluskassa.product.observed", "{\"sku\":\"AB-12\"}");
    t.bus.publish(sent.clone()).await.unwrap();
    assert_eq!(next(&mut rx, 10).await.attempt, 1);
    nothing_more(&mut rx, 400).await;

    let (dlq_handler, mut parked) = recorder(|_| Outcome::Ack);
    let dlq = t
        .bus
        .subscribe_dead_letters("mapper", dlq_handler)
        .await
        .unwrap();
    let dead = DeadLetter::from_parked(next(&mut parked, 10).await.message, "mapper");
    assert_eq!(dead.attempts, 1, "parked without retries");
    assert!(dead.reason.contains("not numeric"));
    assert_eq!(dead.message.body, sent.body);

    t.bus.replay(&dead).await.unwrap();
    let replayed = next(&mut rx, 10).await;
    assert_eq!(replayed.message.message_id, sent.message_id);
    assert_eq!(
        replayed.attempt, 1,
        "a replay starts a fresh series of attempts"
    );
    assert_eq!(replayed.message.routing_key, "mpluskassa.product.observed");
    assert!(
        replayed
            .message
            .header(ferry_platform::bus::headers::DEAD_REASON)
            .is_none()
    );
    nothing_more(&mut parked, 400).await;
    sub.stop(Duration::from_secs(2)).await;
    dlq.stop(Duration::from_secs(2)).await;
    t.cleanup().await;
}

async fn handler_panic_is_retried_not_fatal(kind: Kind) {
    let t = TestBus::new(kind).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handler = move |d: Delivery| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let tx = tx.clone();
        async move {
            assert!(n > 0, "first attempt blows up");
            let _ = tx.send(d);
            Outcome::Ack
        }
    };
    let sub = t
        .bus
        .subscribe(
            Subscription::new("panicky", vec![Binding::events("p.q")]).retry(fast_retry(3)),
            Arc::new(handler),
        )
        .await
        .unwrap();
    t.bus.publish(event("p.q", "x")).await.unwrap();
    let d = next(&mut rx, 10).await;
    assert_eq!(d.attempt, 2);
    // The consumer still works afterwards.
    t.bus.publish(event("p.q", "y")).await.unwrap();
    assert_eq!(next(&mut rx, 10).await.attempt, 1);
    sub.stop(Duration::from_secs(2)).await;
    t.cleanup().await;
}

/// A handler with a real effect (a row per processed message) guarded by the inbox.
struct CountingHandler {
    db: sea_orm::DatabaseConnection,
    inbox: Inbox,
    done: tokio::sync::mpsc::UnboundedSender<uuid::Uuid>,
}

#[async_trait::async_trait]
impl Handler for CountingHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let id = delivery.message.message_id;
        let result: Result<(), sea_orm::DbErr> = async {
            let txn = self.db.begin().await?;
            if self.inbox.claim(&txn, id).await? {
                txn.execute_unprepared(&format!(
                    "INSERT INTO effects (message_id) VALUES ('{id}')"
                ))
                .await?;
            }
            txn.commit().await
        }
        .await;
        let _ = self.done.send(id);
        match result {
            Ok(()) => Outcome::Ack,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }
}

async fn duplicate_delivery_is_absorbed_by_the_inbox(kind: Kind) {
    let t = TestBus::new(kind).await;
    let (db, _guard) = support::database(match kind {
        Kind::InProcess | Kind::InProcessDurable => Db::Sqlite,
        Kind::Rabbit => Db::Postgres,
    })
    .await;
    db.execute_unprepared("CREATE TABLE effects (message_id TEXT NOT NULL)")
        .await
        .unwrap();
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let handler = CountingHandler {
        db: db.clone(),
        inbox: Inbox::new("effects"),
        done,
    };
    let sub = t
        .bus
        .subscribe(
            Subscription::new("effects", vec![Binding::events("order.placed")]),
            Arc::new(handler),
        )
        .await
        .unwrap();
    let message = event("order.placed", "order 1");
    // The same message three times (a retried publish, a redelivery), plus another one.
    for _ in 0..3 {
        t.bus.publish(message.clone()).await.unwrap();
    }
    t.bus
        .publish(event("order.placed", "order 2"))
        .await
        .unwrap();
    for _ in 0..4 {
        tokio::time::timeout(Duration::from_secs(10), finished.recv())
            .await
            .unwrap()
            .unwrap();
    }
    let rows = db
        .query_all(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT message_id FROM effects",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "one effect per distinct message");
    assert!(
        Inbox::new("effects")
            .contains(&db, message.message_id)
            .await
            .unwrap()
    );
    sub.stop(Duration::from_secs(2)).await;
    t.cleanup().await;
}

/// A batch claim takes the new ids in one statement and leaves out those processed before,
/// on both databases; another consumer's inbox is apart.
#[tokio::test]
async fn a_batch_claim_takes_only_new_ids() {
    for kind in [Db::Sqlite, Db::Postgres] {
        let (db, _guard) = support::database(kind).await;
        let inbox = Inbox::new("batch");
        let seen = uuid::Uuid::now_v7();
        let txn = db.begin().await.unwrap();
        assert!(inbox.claim(&txn, seen).await.unwrap());
        txn.commit().await.unwrap();

        let fresh: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
        let mut batch = vec![fresh[0], seen, fresh[1], fresh[2], fresh[1]];
        let txn = db.begin().await.unwrap();
        let claimed = inbox.claim_many(&txn, &batch).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(
            claimed,
            fresh.iter().copied().collect(),
            "{kind:?}: the new ids, once each"
        );
        batch.retain(|id| *id != seen);
        let txn = db.begin().await.unwrap();
        assert!(inbox.claim_many(&txn, &batch).await.unwrap().is_empty());
        let other = Inbox::new("another");
        assert_eq!(other.claim_many(&txn, &[seen]).await.unwrap().len(), 1);
        // Rolled back: nothing claimed.
        txn.rollback().await.unwrap();
        assert!(!other.contains(&db, seen).await.unwrap());
        assert!(inbox.claim_many(&db, &[]).await.unwrap().is_empty());
    }
}

async fn competing_consumers_share_a_queue_without_double_delivery(kind: Kind) {
    let t = TestBus::new(kind).await;
    let replica = t.sibling().await;
    let subscription = Subscription::new("shared", vec![Binding::events("work.item")]).prefetch(2);
    let (h1, mut rx1) = recorder(|_| Outcome::Ack);
    let (h2, mut rx2) = recorder(|_| Outcome::Ack);
    let s1 = t.bus.subscribe(subscription.clone(), h1).await.unwrap();
    let s2 = replica.bus.subscribe(subscription, h2).await.unwrap();
    let total = 40;
    let mut sent = BTreeSet::new();
    for i in 0..total {
        let m = event("work.item", &i.to_string());
        sent.insert(m.message_id);
        t.bus.publish(m).await.unwrap();
    }
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while got.len() < total && tokio::time::Instant::now() < deadline {
        tokio::select! {
            Some(d) = rx1.recv() => got.push(d.message.message_id),
            Some(d) = rx2.recv() => got.push(d.message.message_id),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    assert_eq!(got.len(), total, "every message handled");
    assert_eq!(
        got.iter().copied().collect::<BTreeSet<_>>(),
        sent,
        "each exactly once"
    );
    s1.stop(Duration::from_secs(2)).await;
    s2.stop(Duration::from_secs(2)).await;
    if matches!(kind, Kind::Rabbit) {
        replica.bus.shutdown(Duration::from_secs(1)).await;
    }
    t.cleanup().await;
}

async fn prefetch_bounds_deliveries_in_flight(kind: Kind) {
    let t = TestBus::new(kind).await;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handled = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (in_flight, peak, handled) = (in_flight.clone(), peak.clone(), handled.clone());
        move |_d: Delivery| {
            let (in_flight, peak, handled) = (in_flight.clone(), peak.clone(), handled.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                handled.fetch_add(1, Ordering::SeqCst);
                Outcome::Ack
            }
        }
    };
    let sub = t
        .bus
        .subscribe(
            Subscription::new("bounded", vec![Binding::events("load.item")]).prefetch(3),
            Arc::new(handler),
        )
        .await
        .unwrap();
    for i in 0..24 {
        t.bus
            .publish(event("load.item", &i.to_string()))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while handled.load(Ordering::SeqCst) < 24 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(handled.load(Ordering::SeqCst), 24);
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 3, "at most prefetch in flight, saw {peak}");
    assert!(peak >= 2, "deliveries are handled concurrently, saw {peak}");
    sub.stop(Duration::from_secs(2)).await;
    t.cleanup().await;
}

async fn graceful_shutdown_drains_in_flight_work(kind: Kind) {
    let t = TestBus::new(kind).await;
    let finished = Arc::new(AtomicUsize::new(0));
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let handler = {
        let finished = finished.clone();
        move |d: Delivery| {
            let finished = finished.clone();
            let _ = started_tx.send(d);
            async move {
                tokio::time::sleep(Duration::from_millis(400)).await;
                finished.fetch_add(1, Ordering::SeqCst);
                Outcome::Ack
            }
        }
    };
    let subscription = Subscription::new("draining", vec![Binding::events("slow.work")]);
    let _sub = t
        .bus
        .subscribe(subscription.clone(), Arc::new(handler))
        .await
        .unwrap();
    t.bus.publish(event("slow.work", "x")).await.unwrap();
    next(&mut started, 10).await;
    t.bus.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "in-flight work finished before shutdown returned"
    );
    assert!(matches!(
        t.bus.publish(event("slow.work", "late")).await,
        Err(BusError::ShuttingDown)
    ));
    if matches!(kind, Kind::Rabbit) {
        // It was acknowledged: a new consumer finds the queue empty.
        let after = t.sibling().await;
        let (handler, mut rx) = recorder(|_| Outcome::Ack);
        let sub = after.bus.subscribe(subscription, handler).await.unwrap();
        nothing_more(&mut rx, 800).await;
        sub.stop(Duration::from_secs(1)).await;
        after.cleanup().await;
    }
}

async fn oversized_message_is_refused(kind: Kind) {
    let t = TestBus::new(kind).await;
    let (handler, mut rx) = recorder(|_| Outcome::Ack);
    let sub = t
        .bus
        .subscribe(
            Subscription::new("big", vec![Binding::events("big.one")]),
            handler,
        )
        .await
        .unwrap();
    let huge = "x".repeat(ferry_platform::bus::DEFAULT_MAX_MESSAGE_BYTES + 1);
    let error = t.bus.publish(event("big.one", &huge)).await.unwrap_err();
    assert!(matches!(error, BusError::TooLarge { .. }), "{error}");
    assert!(!error.is_transient());
    nothing_more(&mut rx, 300).await;
    sub.stop(Duration::from_secs(1)).await;
    t.cleanup().await;
}

async fn outbox_publishes_only_what_committed(kind: Kind) {
    let t = TestBus::new(kind).await;
    let (db, _guard) = support::database(match kind {
        Kind::InProcess | Kind::InProcessDurable => Db::Sqlite,
        Kind::Rabbit => Db::Postgres,
    })
    .await;
    let (handler, mut rx) = recorder(|_| Outcome::Ack);
    let sub = t
        .bus
        .subscribe(
            Subscription::new("relayed", vec![Binding::commands("sys.thing.*")]),
            handler,
        )
        .await
        .unwrap();
    let outbox = Outbox::new("tester");
    let committed = command("sys.thing.create", "committed");
    let rolled_back = command("sys.thing.create", "rolled back");

    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &committed).await.unwrap();
    txn.commit().await.unwrap();
    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &rolled_back).await.unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(outbox.pending(&db).await.unwrap(), 1);

    let relay = outbox.relay(db.clone(), t.bus.clone());
    assert_eq!(relay.relay_once().await.unwrap(), 1);
    let got = next(&mut rx, 10).await;
    assert_eq!(got.message.message_id, committed.message_id);
    assert_eq!(got.message.body, committed.body);
    nothing_more(&mut rx, 300).await;
    assert_eq!(
        outbox.pending(&db).await.unwrap(),
        0,
        "confirmed rows are removed"
    );

    // An unroutable command stays in the outbox with its error, for the next pass.
    let stuck = command("nobody.hears.this", "stuck");
    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &stuck).await.unwrap();
    txn.commit().await.unwrap();
    assert!(relay.relay_once().await.is_err());
    assert_eq!(outbox.pending(&db).await.unwrap(), 1);
    sub.stop(Duration::from_secs(1)).await;
    t.cleanup().await;
}

async fn headers_and_body_survive_the_trip(kind: Kind) {
    let t = TestBus::new(kind).await;
    let (handler, mut rx) = recorder(|_| Outcome::Ack);
    let sub = t
        .bus
        .subscribe(
            Subscription::new("faithful", vec![Binding::events("h.*")]),
            handler,
        )
        .await
        .unwrap();
    let body = "{\"name\":\"Zoë – 東京 \\u0000 ✓\"}";
    let sent = event("h.test", body)
        .with_header(
            ferry_platform::bus::headers::TRACEPARENT,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .with_header(
            ferry_platform::bus::headers::INTEGRATION_ID,
            "0192f0c1-0000-7000-8000-000000000001",
        );
    t.bus.publish(sent.clone()).await.unwrap();
    let got = next(&mut rx, 10).await;
    assert_eq!(got.message.body, sent.body);
    assert_eq!(got.message.routing_key, "h.test");
    assert_eq!(got.message.exchange, sent.exchange);
    for (name, value) in &sent.headers {
        assert_eq!(
            got.message.header(name),
            Some(value.as_str()),
            "header {name}"
        );
    }
    sub.stop(Duration::from_secs(1)).await;
    t.cleanup().await;
}

/// Rows an effect of the group-commit test writes: fails when told to, else nothing.
struct Refusing(bool);

#[async_trait::async_trait]
impl ferry_platform::bus::group_commit::Rows for Refusing {
    async fn write(&self, _: &sea_orm::DatabaseTransaction) -> Result<(), sea_orm::DbErr> {
        if self.0 {
            Err(sea_orm::DbErr::Custom("refused".to_owned()))
        } else {
            Ok(())
        }
    }
}

/// The group commit of concurrent effects, on both databases: each message id takes effect
/// once (a duplicate in the same group or a later one is answered `false`), an effect without
/// a claim commits, and one effect whose rows fail fails alone while the rest of its group
/// commits.
#[tokio::test]
async fn a_group_commit_takes_each_message_once_and_fails_only_the_bad_effect() {
    use ferry_platform::bus::group_commit::{Effect, GroupCommit};
    for kind in [Db::Sqlite, Db::Postgres] {
        let (db, _guard) = support::database(kind).await;
        let inbox = Inbox::new("grouped");
        let outbox = Outbox::new("grouped");
        let commits = GroupCommit::spawn(db.clone(), inbox.clone(), outbox.clone());
        let ids: Vec<uuid::Uuid> = (0..20).map(|_| uuid::Uuid::now_v7()).collect();
        let out = |i: usize| vec![event(&format!("grouped.out.{i}"), "{}")];
        // 20 messages, each delivered twice at once, plus a bad one and an unclaimed one.
        let mut effects: Vec<Effect> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            effects.push(Effect::claim(*id, out(i)));
            effects.push(Effect::claim(*id, out(i)));
        }
        let bad = uuid::Uuid::now_v7();
        effects.push(Effect::claim(bad, out(99)).with_rows(Arc::new(Refusing(true))));
        effects.push(Effect {
            claim: None,
            messages: out(100),
            rows: Some(Arc::new(Refusing(false))),
        });
        let answers = futures::future::join_all(effects.into_iter().map(|e| {
            let commits = commits.clone();
            async move { commits.commit(e).await }
        }))
        .await;
        let (pairs, rest) = answers.split_at(40);
        for pair in pairs.chunks(2) {
            let took: usize = pair.iter().map(|a| usize::from(*a.as_ref().unwrap())).sum();
            assert_eq!(took, 1, "{kind:?}: one of two deliveries takes effect");
        }
        assert!(rest[0].is_err(), "{kind:?}: the bad effect fails");
        assert!(
            matches!(rest[1], Ok(true)),
            "{kind:?}: the unclaimed one commits"
        );
        assert!(
            !inbox.contains(&db, bad).await.unwrap(),
            "{kind:?}: no claim of the bad one"
        );
        for id in &ids {
            assert!(inbox.contains(&db, *id).await.unwrap());
        }
        assert_eq!(
            outbox.pending(&db).await.unwrap(),
            21,
            "{kind:?}: 20 + the unclaimed one"
        );
        // Delivered again later: absorbed.
        assert!(!commits.commit(Effect::claim(ids[3], out(3))).await.unwrap());
        assert_eq!(outbox.pending(&db).await.unwrap(), 21);
    }
}
