//! The dashboard in a real browser (headless Chromium through chromedriver): log in, see the
//! integrations and charts, see and filter the activity, open a record (source vs sent data),
//! replay a parked message, see the alerts. A screenshot of each page is kept under
//! `target/test-artifacts/notifier-dashboard/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use ferry_platform::bus::{Binding, Delivery, Outcome, Subscription, queues};
use ferry_proto::messages::{ErrorCode, ProductObserved};
use serde_json::json;
use support::webdriver::{Browser, artifact_dir};
use support::*;

#[tokio::test]
async fn an_operator_uses_the_dashboard() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let integration = integration();
    // One integration configured in the files (named by the configuration), one from the
    // registry (named by its announcement), which has no activity yet.
    let mut config = config();
    config
        .integrations
        .push(ferry_notifier::config::ConfiguredIntegration {
            id: integration.to_string(),
            name: "Corner shop".into(),
        });
    config.trace_url = Some("http://traces.example.test/trace/{trace_id}".into());
    let h = Harness::start(&world, config).await;
    let registered = support::integration();
    let mut announced = ferry_proto::messages::IntegrationChanged::new(
        ferry_proto::messages::IntegrationState::Live,
        vec![],
        3,
    );
    announced.name = Some("Harbour bikes".into());
    publish(
        &world.bus,
        &ferry_proto::Envelope::new(registered, announced),
    )
    .await;
    // A change seen five minutes ago that nothing was sent for yet.
    publish(
        &world.bus,
        &at(
            customer_observed(integration, "waiting@example.com"),
            chrono::Utc::now() - chrono::Duration::minutes(5),
        ),
    )
    .await;
    let email = "marie.curie@example.com";
    // A day of history: one customer every hour, each reaching the target a little later.
    let now = chrono::Utc::now();
    for hours_ago in 1..=20i64 {
        let seen = now - chrono::Duration::hours(hours_ago);
        let address = format!("history{hours_ago}@example.com");
        let observed = at(customer_observed(integration, &address), seen);
        let upsert = at(
            customer_upsert(&observed, &address),
            seen + chrono::Duration::milliseconds(300),
        );
        let done = at(
            customer_upserted(&upsert, &address),
            seen + chrono::Duration::milliseconds(800 + 450 * (hours_ago % 6)),
        );
        publish(&world.bus, &observed).await;
        publish(&world.bus, &upsert).await;
        publish(&world.bus, &done).await;
    }

    // A customer synced, a product that cannot be mapped, and a message the mapper parks.
    let mut observed = customer_observed(integration, email);
    observed.trace = ferry_proto::TraceContext::parse(
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        None,
    )
    .unwrap();
    let upsert = customer_upsert(&observed, email);
    publish(&world.bus, &observed).await;
    publish(&world.bus, &upsert).await;
    publish(&world.bus, &customer_upserted(&upsert, email)).await;
    let upsert_product = product_upsert(integration, "ABC-9");
    publish(&world.bus, &upsert_product).await;
    publish(
        &world.bus,
        &failed(
            &upsert_product,
            ErrorCode::Mapping,
            "SKU ABC-9 is not numeric",
        ),
    )
    .await;
    // The mapper's queue also holds the customer observed above (kept for the mapper since
    // it was published): only the product is refused.
    let mapper = |delivery: Delivery| async move {
        if delivery.message.routing_key.ends_with("product.observed") {
            Outcome::DeadLetter("product 4711: no price in the source record".into())
        } else {
            Outcome::Ack
        }
    };
    let consumer = world
        .bus
        .subscribe(
            Subscription::new(queues::MAPPER, vec![Binding::events("*.product.observed")]),
            Arc::new(mapper),
        )
        .await
        .unwrap();
    let parked = ferry_proto::Envelope::new(
        integration,
        ProductObserved {
            source: ferry_proto::System::Mpluskassa,
            product: product("4711"),
            raw: json!({"articleNumber": 4711}),
        },
    );
    publish(&world.bus, &parked).await;
    eventually("two open alerts", 20, || async {
        (h.get("/alerts").await.as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    consumer.stop(Duration::from_secs(2)).await;

    let shots = artifact_dir("notifier-dashboard");
    let browser = Browser::start().await;
    browser.goto(&format!("{}/dashboard/", h.base)).await;
    browser
        .wait_for(
            "the login form",
            "return !document.querySelector('#login').hidden",
        )
        .await;
    browser.screenshot(&shots.join("01-login.png")).await;

    // A wrong token is refused; the right one opens the overview.
    browser.type_into("#token", "not-the-token-0000000").await;
    browser.click("#login-button").await;
    browser
        .wait_for(
            "the refusal",
            "return document.querySelector('#login-error').textContent.includes('refused')",
        )
        .await;
    browser.type_into("#token", OPERATOR).await;
    browser.click("#login-button").await;
    browser
        .wait_for(
            "the integration in the overview",
            &format!("return document.querySelector('#health tr[data-integration=\"{integration}\"]') !== null"),
        )
        .await;
    let names = browser
        .wait_for(
            "both integrations by name",
            "const names = [...document.querySelectorAll('#health .integration-name')].map(e => e.textContent);
             return names.length === 2 ? names : null",
        )
        .await;
    assert_eq!(names, json!(["Corner shop", "Harbour bikes"]));
    assert_eq!(
        browser
            .run(
                &format!("return document.querySelector('#health tr[data-integration=\"{integration}\"] .integration-name').title"),
                json!([])
            )
            .await,
        integration.to_string(),
        "the id on hover"
    );
    browser.assert_fits_phone("the overview").await;
    // The charts the notifier drew (failures, latency, one per flow) and a trend per integration.
    let charts = browser
        .wait_for(
            "the charts drawn",
            "const imgs = [...document.querySelectorAll('#charts figure img')];
             return imgs.length >= 4 && imgs.every(i => i.complete && i.naturalWidth > 400)
                ? [...document.querySelectorAll('#charts figure')].map(f => f.dataset.chart + ':' + (f.dataset.flow || ''))
                : null",
        )
        .await;
    assert_eq!(
        charts,
        json!([
            "failures.svg:",
            "latency.svg:",
            "records.svg:customers",
            "records.svg:products"
        ])
    );
    browser
        .wait_for(
            "a sparkline per integration",
            "const imgs = [...document.querySelectorAll('#health .trend img.sparkline')];
             return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0)",
        )
        .await;
    let totals = browser
        .run(
            "return document.querySelector('#totals').textContent",
            json!([]),
        )
        .await;
    let totals = totals.as_str().unwrap();
    assert!(
        totals.starts_with("In the last 24 hours: ")
            && totals.contains(" 21 delivered, 2 failed or parked, 0 awaiting an answer"),
        "{totals}"
    );
    let stored = browser
        .run(
            "return sessionStorage.getItem('ferry-admin-token')",
            json!([]),
        )
        .await;
    assert_eq!(stored, OPERATOR);
    // How far behind: the change waiting for five minutes, the parked message, the queues.
    let behind = browser
        .wait_for(
            "freshness and backlog",
            &format!("const row = document.querySelector('#freshness tr[data-integration=\"{integration}\"]');
             return row && document.querySelector('#queues').textContent.includes('mapper')
                ? [row.querySelector('.oldest').textContent, row.querySelector('.parked').textContent, row.cells[1].textContent] : null"),
        )
        .await;
    assert_eq!(behind[0], "5 min ago (1 change waiting)", "{behind}");
    assert_eq!(behind[1], "1 parked", "{behind}");
    assert!(
        behind[2].as_str().unwrap().contains("MailChimp customers:"),
        "{behind}"
    );
    browser
        .assert_fits_phone_shot(
            "the overview with charts",
            &shots.join("phone-02-overview.png"),
        )
        .await;
    browser.screenshot(&shots.join("02-overview.png")).await;
    // The last hour, per minute.
    browser.click(".toggle button[data-window='1h']").await;
    browser
        .wait_for(
            "the last hour",
            "return document.querySelector('#totals').textContent.startsWith('In the last hour')
                && [...document.querySelectorAll('#charts figure img')].every(i => i.complete && i.naturalWidth > 400)",
        )
        .await;
    browser
        .screenshot(&shots.join("02b-overview-last-hour.png"))
        .await;

    // The activity log, then filtered on failures.
    browser.click("#nav a[data-view=activity]").await;
    browser
        .wait_for(
            "activity rows",
            "return document.querySelectorAll('#activity-table tbody tr').length >= 6",
        )
        .await;
    let shown = browser
        .run(
            "return [...document.querySelectorAll('#activity-table tbody .integration')].map(e => e.textContent)",
            json!([]),
        )
        .await;
    let shown = shown.as_array().unwrap();
    assert!(
        shown
            .iter()
            .all(|n| n == "Corner shop" || n == "Harbour bikes")
            && shown.iter().filter(|n| *n == "Corner shop").count() >= 6,
        "{shown:?}"
    );
    assert_eq!(
        browser
            .run(
                "return [...document.querySelector('#f-integration').options].map(o => o.textContent)",
                json!([])
            )
            .await,
        json!(["any", "Corner shop", "Harbour bikes"]),
        "the integration filter offers names"
    );
    browser.assert_fits_phone("the activity log").await;
    browser.screenshot(&shots.join("03-activity.png")).await;
    browser
        .run(
            "document.querySelector('#f-status').value = 'failed'",
            json!([]),
        )
        .await;
    browser.click("#apply-filters").await;
    let statuses = browser
        .wait_for(
            "only failed rows",
            "const s = [...document.querySelectorAll('#activity-table tbody tr .status')].map(e => e.textContent);
             return s.length > 0 && s.every(x => x === 'failed') ? s : null",
        )
        .await;
    assert_eq!(
        statuses.as_array().unwrap().len(),
        2,
        "the failed reply and its command"
    );
    browser
        .screenshot(&shots.join("04-activity-failed.png"))
        .await;

    // One record: what came from MailChimp next to what was sent to MplusKASSA.
    browser.click("#clear-filters").await;
    browser.type_into("#f-key", email).await;
    browser.click("#apply-filters").await;
    browser
        .wait_for(
            "the customer's rows",
            "return document.querySelector('#activity-summary').textContent.startsWith('1–3 of 3')",
        )
        .await;
    browser.click("#activity-table tbody tr[data-id]").await;
    browser
        .wait_for(
            "source and sent data",
            &format!(
                "return document.querySelector('#source-data').textContent.includes('merge_fields')
                    && document.querySelector('#sent-data').textContent.includes('{email}')
                    && document.querySelectorAll('#timeline tbody tr').length === 3"
            ),
        )
        .await;
    browser.screenshot(&shots.join("05-record.png")).await;

    // The record's whole story: from MailChimp, as mapped, the command and its answer, the
    // final state, the trace linked to the tracing UI.
    browser.click("#detail-story").await;
    let steps = browser
        .wait_for(
            "the story",
            "const s = [...document.querySelectorAll('#story-steps > li')].map(li => li.dataset.step);
             return !document.querySelector('#story').hidden && s.length >= 4 ? s : null",
        )
        .await;
    assert_eq!(steps, json!(["source", "mapped", "command", "final"]));
    let story = browser
        .run(
            "return document.querySelector('#story').innerText",
            json!([]),
        )
        .await;
    let story = story.as_str().unwrap();
    assert!(story.contains("As it came from MailChimp"), "{story}");
    assert!(story.contains("merge_fields"), "{story}");
    assert!(story.contains("customer.upsert to MplusKASSA"), "{story}");
    assert!(story.contains("rel-17"), "the answer: {story}");
    assert!(
        story.contains(&format!(
            "Customer {email} came from MailChimp and reached MplusKASSA"
        )),
        "{story}"
    );
    assert_eq!(
        browser
            .run(
                "return document.querySelector('#story-meta a').href",
                json!([])
            )
            .await,
        "http://traces.example.test/trace/4bf92f3577b34da6a3ce929d0e0e4736"
    );
    browser
        .assert_fits_phone_shot("a record's story", &shots.join("phone-05b-story.png"))
        .await;
    browser.screenshot(&shots.join("05b-story.png")).await;

    // Find records by the beginning of an e-mail address, an SKU.
    browser.click("#nav a[data-view=record]").await;
    browser.type_into("#record-q", "marie.cu").await;
    browser.click("#record-find").await;
    let found = browser
        .wait_for(
            "the customer found by a prefix",
            "const r = [...document.querySelectorAll('#record-results tbody tr .record')].map(e => e.textContent);
             return r.length ? r : null",
        )
        .await;
    assert_eq!(found, json!([email]));
    browser.assert_fits_phone("the record search").await;
    browser.screenshot(&shots.join("05c-find-record.png")).await;
    browser.type_into("#record-q", "ABC").await;
    browser.click("#record-find").await;
    browser
        .wait_for(
            "the product found by its SKU's beginning",
            "const r = [...document.querySelectorAll('#record-results tbody tr .record')].map(e => e.textContent);
             return r.length === 1 && r[0] === 'ABC-9'",
        )
        .await;

    // The parked message, replayed with its button.
    browser.click("#nav a[data-view=dead-letters]").await;
    let selector = format!("button.replay[data-id=\"{}\"]", parked.message_id);
    browser
        .wait_for(
            "the parked message",
            &format!("return document.querySelector('{selector}') !== null"),
        )
        .await;
    browser.screenshot(&shots.join("06-dead-letters.png")).await;
    browser.click(&selector).await;
    browser
        .wait_for(
            "the replay confirmation",
            "return document.querySelector('#dead-status').textContent.startsWith('Replayed')",
        )
        .await;
    let replayed = h.get("/dead-letters?include_replayed=true").await;
    assert!(replayed[0]["replayed_at"].is_string(), "{replayed}");
    browser.screenshot(&shots.join("07-replayed.png")).await;

    // The alerts, with what failed and what to do.
    browser.click("#nav a[data-view=alerts]").await;
    let text = browser
        .wait_for(
            "both alerts",
            "const rows = document.querySelectorAll('#alerts tbody tr[data-rule]');
             return rows.length === 2 ? document.querySelector('#alerts').innerText : null",
        )
        .await;
    let text = text.as_str().unwrap();
    // What a shop owner reads at once: what broke, for which product, the one thing to do.
    assert!(
        text.contains(
            "Corner shop: Product ABC-9 could not be sent to MailChimp: SKU ABC-9 is not numeric."
        ),
        "{text}"
    );
    assert!(text.contains("add a mapping rule"), "{text}");
    assert!(
        text.contains("Corner shop: A change of product 4711 from MplusKASSA is on hold: product 4711: no price in the source record."),
        "{text}"
    );
    assert!(
        !text.contains("dead-lettered at once"),
        "the technical layer starts folded: {text}"
    );
    // The technical layer underneath, unfolded.
    browser
        .run(
            "document.querySelectorAll('#alerts details.technical').forEach(d => d.open = true)",
            json!([]),
        )
        .await;
    let technical = browser
        .run(
            "return document.querySelector('#alerts').innerText",
            json!([]),
        )
        .await;
    let technical = technical.as_str().unwrap();
    assert!(technical.contains("dead-lettered at once"), "{technical}");
    assert!(technical.contains("What to do:"), "{technical}");
    browser
        .screenshot(&shots.join("08b-alert-technical.png"))
        .await;
    browser
        .run(
            "document.querySelectorAll('#alerts details.technical').forEach(d => d.open = false)",
            json!([]),
        )
        .await;
    assert_eq!(
        browser
            .run(
                "return document.querySelector('#alert-count').textContent",
                json!([])
            )
            .await,
        "2"
    );
    assert!(text.contains("Corner shop"), "{text}");
    browser
        .assert_fits_phone_shot("the alerts", &shots.join("phone-08-alerts.png"))
        .await;
    browser.screenshot(&shots.join("08-alerts.png")).await;

    // The set-up page lists every running integration, the configured one too.
    browser.click("#nav a[data-view=setup]").await;
    let listed = browser
        .wait_for(
            "both integrations on the set-up page",
            "const rows = [...document.querySelectorAll('#integrations tbody tr[data-id]')];
             return rows.length === 2 ? rows.map(r => [r.cells[0].textContent, r.dataset.state, r.dataset.origin]) : null",
        )
        .await;
    assert_eq!(
        listed,
        json!([
            ["Corner shop", "live", "configured"],
            ["Harbour bikes", "live", "registry"]
        ])
    );
    browser.assert_fits_phone("the set-up page").await;
    browser.screenshot(&shots.join("09-setup.png")).await;

    // Logging out forgets the token.
    browser.click("#logout").await;
    browser
        .wait_for(
            "the login form again",
            "return !document.querySelector('#login').hidden && sessionStorage.length === 0",
        )
        .await;

    browser.close().await;
    h.stop().await;
    world.cleanup().await;
}
