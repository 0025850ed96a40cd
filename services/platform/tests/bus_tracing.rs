//! One trace across the bus: a message published inside a span is handled inside a span of
//! the same trace, on the other side of the bus (W3C trace context in the message headers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ferry_platform::bus::inproc::InProcessBus;
use ferry_platform::bus::{
    Binding, Bus, BusMessage, Delivery, Outcome, Subscription, with_current_trace,
};
use ferry_platform::telemetry;
use ferry_proto::messages::CustomerFind;
use ferry_proto::{Email, Envelope, IntegrationId, System};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;

fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_runs_in_the_publishers_trace() {
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let bus = InProcessBus::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handler = move |_d: Delivery| {
        // Inside the handler: the current span's trace.
        let (traceparent, _) = telemetry::inject_current();
        let _ = tx.send(traceparent);
        async { Outcome::Ack }
    };
    let sub = bus
        .subscribe(
            Subscription::new(
                "traced",
                vec![Binding::commands("mpluskassa.customer.find")],
            ),
            Arc::new(handler),
        )
        .await
        .unwrap();

    let span = tracing::info_span!("sync run");
    let published = {
        let _entered = span.enter();
        let envelope = with_current_trace(Envelope::new(
            IntegrationId::new(),
            CustomerFind {
                target: System::Mpluskassa,
                email: Email::parse("someone@example.com").unwrap(),
            },
        ));
        envelope
            .trace
            .traceparent_str()
            .map(str::to_owned)
            .zip(Some(BusMessage::from_envelope(&envelope).unwrap()))
    };
    let (publisher_traceparent, message) = published.expect("the envelope carries the trace");
    assert_eq!(
        message.header("traceparent"),
        Some(publisher_traceparent.as_str())
    );
    bus.publish(message).await.unwrap();

    let handler_traceparent = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap()
        .expect("the handler runs in a traced span");
    assert_eq!(
        trace_id(&handler_traceparent),
        trace_id(&publisher_traceparent)
    );
    assert_ne!(
        handler_traceparent, publisher_traceparent,
        "a child span, not the same span"
    );
    sub.stop(Duration::from_secs(1)).await;
}
