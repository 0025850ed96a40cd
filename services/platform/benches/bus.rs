//! Bus benchmark: messages/s and p50/p99 round-trip latency (publish with confirm -> consume ->
//! ack) over RabbitMQ and over the in-process bus, beside a bare lapin loop doing the same work
//! in the same run.
//!
//! `cargo bench -p ferry-platform --bench bus` (RabbitMQ at FERRY_TEST_AMQP_URL or the local
//! default). FERRY_BENCH_MESSAGES (default 20000) and FERRY_BENCH_CONCURRENCY (default 64)
//! change the load.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::rabbit::{RabbitBus, RabbitConfig};
use ferry_platform::bus::{Binding, Bus, BusMessage, Delivery, Exchange, Outcome, Subscription};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio::sync::{Semaphore, mpsc};

struct Report {
    name: &'static str,
    messages: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Report {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(index).copied().unwrap_or_default() as f64 / 1000.0
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn amqp_url() -> String {
    std::env::var("FERRY_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// Body: the send time in microseconds since `origin`, padded to a realistic envelope size.
fn body(origin: Instant) -> Vec<u8> {
    let mut body = format!("{:020}", origin.elapsed().as_micros()).into_bytes();
    body.resize(600, b' ');
    body
}

fn latency_us(origin: Instant, body: &[u8]) -> u64 {
    let sent: u64 = std::str::from_utf8(&body[..20])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    (origin.elapsed().as_micros() as u64).saturating_sub(sent)
}

async fn run_ferry_bus(
    name: &'static str,
    bus: Arc<dyn Bus>,
    messages: usize,
    concurrency: usize,
) -> Report {
    let origin = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = move |d: Delivery| {
        let _ = tx.send(latency_us(origin, &d.message.body));
        async { Outcome::Ack }
    };
    let subscription =
        Subscription::new("bench", vec![Binding::events("bench.message")]).prefetch(256);
    let sub = bus
        .subscribe(subscription, Arc::new(handler))
        .await
        .unwrap();

    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(concurrency));
    for _ in 0..messages {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let bus = bus.clone();
        tokio::spawn(async move {
            let message = BusMessage::new(
                Exchange::Events,
                "bench.message",
                uuid::Uuid::now_v7(),
                Bytes::from(body(origin)),
            );
            bus.publish(message).await.expect("publish");
            drop(permit);
        });
    }
    let mut latencies_us = Vec::with_capacity(messages);
    while latencies_us.len() < messages {
        latencies_us.push(rx.recv().await.unwrap());
    }
    let elapsed = started.elapsed();
    sub.stop(Duration::from_secs(5)).await;
    Report {
        name,
        messages,
        elapsed,
        latencies_us,
    }
}

/// The same work written directly against lapin: confirm-mode publishing with the same
/// concurrency, a durable quorum queue, persistent messages, manual acks, prefetch 256.
async fn run_bare_lapin(messages: usize, concurrency: usize) -> Report {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let publisher = connection.create_channel().await.unwrap();
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let consumer_channel = connection.create_channel().await.unwrap();
    let queue = format!("bench-bare-{}", uuid::Uuid::new_v4().simple());
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    publisher
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await
        .unwrap();
    consumer_channel
        .basic_qos(256, BasicQosOptions::default())
        .await
        .unwrap();
    let mut consumer = consumer_channel
        .basic_consume(
            queue.as_str().into(),
            "bare".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let origin = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(delivery)) = consumer.next().await {
            let latency = latency_us(origin, &delivery.data);
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .unwrap();
            if tx.send(latency).is_err() {
                break;
            }
        }
    });

    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(concurrency));
    for _ in 0..messages {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let publisher = publisher.clone();
        let queue = queue.clone();
        tokio::spawn(async move {
            let confirm = publisher
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &body(origin),
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await
                .unwrap()
                .await
                .unwrap();
            assert!(confirm.is_ack());
            drop(permit);
        });
    }
    let mut latencies_us = Vec::with_capacity(messages);
    while latencies_us.len() < messages {
        latencies_us.push(rx.recv().await.unwrap());
    }
    let elapsed = started.elapsed();
    publisher
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    let _ = connection.close(200, "bench done".into()).await;
    Report {
        name: "bare lapin (reference)",
        messages,
        elapsed,
        latencies_us,
    }
}

fn main() {
    let messages = env_usize("FERRY_BENCH_MESSAGES", 20_000);
    let concurrency = env_usize("FERRY_BENCH_CONCURRENCY", 64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!(
            "bus benchmark: {messages} messages of 600 bytes, {concurrency} publishes in flight, prefetch 256"
        );
        // Warm-up so connection set-up is not measured.
        let _ = run_bare_lapin(messages / 20 + 1, concurrency).await;

        let bare = run_bare_lapin(messages, concurrency).await;

        let prefix = format!("bench-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let rabbit = RabbitBus::connect(
            RabbitConfig::new(amqp_url()).prefix(prefix),
            Duration::from_secs(20),
        )
        .await
        .expect("RabbitMQ");
        let over_rabbit =
            run_ferry_bus("ferry bus, RabbitMQ", Arc::new(rabbit.clone()), messages, concurrency)
                .await;
        let _ = rabbit.delete_declared_queues().await;
        rabbit.shutdown(Duration::from_secs(2)).await;

        let inproc = run_ferry_bus(
            "ferry bus, in-process",
            Arc::new(InProcessBus::new()),
            messages,
            concurrency,
        )
        .await;

        println!();
        println!(
            "| {:<24} | {:>8} | {:>10} | {:>8} | {:>8} | {:>14} |",
            "bus", "messages", "msg/s", "p50 ms", "p99 ms", "vs bare lapin"
        );
        println!("|{:-<26}|{:->10}|{:->12}|{:->10}|{:->10}|{:->16}|", "", "", "", "", "", "");
        for report in [&bare, &over_rabbit, &inproc] {
            println!(
                "| {:<24} | {:>8} | {:>10.0} | {:>8.2} | {:>8.2} | {:>13.2}x |",
                report.name,
                report.messages,
                report.rate(),
                report.percentile(0.50),
                report.percentile(0.99),
                report.rate() / bare.rate()
            );
        }
    });
}
