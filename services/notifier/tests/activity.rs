//! The activity log over the bus and the admin API: events and commands recorded on both
//! buses, replies completing their commands, filters, record detail, masking for read-only
//! tokens, duplicates absorbed, retention purge and erasure by e-mail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{Duration as ChronoDuration, Utc};
use ferry_platform::bus::BusMessage;
use reqwest::Method;
use serde_json::json;
use support::*;

async fn saga_is_one_timeline(bus: BusKind, db: DbKind) {
    let world = World::new(bus, db).await;
    let h = Harness::start(&world, config()).await;
    let integration = integration();
    let email = "jan.jansen@example.com";

    let observed = customer_observed(integration, email);
    let upsert = customer_upsert(&observed, email);
    let upserted = customer_upserted(&upsert, email);
    publish(&world.bus, &observed).await;
    publish(&world.bus, &upsert).await;
    publish(&world.bus, &upserted).await;
    // A redelivered duplicate has no second row.
    publish(&world.bus, &observed).await;

    let corr = observed.correlation_id;
    let page = eventually("three rows of the saga", 20, || async {
        let page = h.get(&format!("/activity?correlation_id={corr}")).await;
        let command_done = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "command" && r["status"] == "succeeded");
        (page["total"] == 3 && command_done).then_some(page)
    })
    .await;
    let items = page["items"].as_array().unwrap();
    let command = items.iter().find(|r| r["kind"] == "command").unwrap();
    assert_eq!(command["direction"], "out");
    assert_eq!(command["system"], "mpluskassa");
    assert_eq!(command["flow"], "customers");
    assert_eq!(command["routing_key"], "mpluskassa.customer.upsert");
    assert_eq!(command["record_key"], email);
    assert!(command["duration_ms"].as_i64().is_some(), "{command}");
    let event = items
        .iter()
        .find(|r| r["message_type"] == "customer.observed")
        .unwrap();
    assert_eq!(event["status"], "observed");
    assert_eq!(event["direction"], "in");

    // Filters: by key (any spelling of the address), status, flow, time range.
    let by_key = h.get("/activity?key=Jan.Jansen@Example.com").await;
    assert_eq!(by_key["total"], 3);
    let by_status = h
        .get(&format!(
            "/activity?integration_id={integration}&status=observed"
        ))
        .await;
    assert_eq!(by_status["total"], 1);
    let by_flow = h
        .get(&format!(
            "/activity?integration_id={integration}&flow=products"
        ))
        .await;
    assert_eq!(by_flow["total"], 0);
    let future = (Utc::now() + ChronoDuration::hours(1)).to_rfc3339();
    let later = h
        .get(&format!(
            "/activity?integration_id={integration}&from={}",
            urlencode(&future)
        ))
        .await;
    assert_eq!(later["total"], 0);
    let paged = h
        .get(&format!(
            "/activity?integration_id={integration}&limit=2&offset=2"
        ))
        .await;
    assert_eq!(paged["items"].as_array().unwrap().len(), 1);

    // Detail: what came from the source, what was sent, what came back, and the timeline.
    let id = command["id"].as_str().unwrap();
    let detail = h.get(&format!("/activity/{id}")).await;
    assert_eq!(detail["sent_data"]["customer"]["email"], email);
    assert!(detail["source_data"].is_null());
    assert_eq!(detail["timeline"].as_array().unwrap().len(), 3);
    let source_id = event["id"].as_str().unwrap();
    let source = h.get(&format!("/activity/{source_id}")).await;
    assert_eq!(source["source_data"]["raw"]["merge_fields"]["FNAME"], "Jan");

    // Read-only tokens see the address masked, everywhere.
    let (status, masked) = h
        .call(Method::GET, READER, &format!("/activity/{source_id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(masked["record_key"], "j***@example.com");
    assert!(!masked.to_string().contains(email), "{masked}");
    // Without a token: nothing.
    let (status, _) = h
        .call(Method::GET, "wrong-token-0123456789", "/activity", None)
        .await;
    assert_eq!(status, 401);

    h.stop().await;
    world.cleanup().await;
}

fn urlencode(value: &str) -> String {
    value.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn saga_is_one_timeline_on_the_in_process_bus() {
    saga_is_one_timeline(BusKind::InProcess, DbKind::Sqlite).await;
}

#[tokio::test]
async fn saga_is_one_timeline_on_rabbitmq_and_postgres() {
    saga_is_one_timeline(BusKind::Rabbit, DbKind::Postgres).await;
}

#[tokio::test]
async fn stats_and_health_count_per_flow_and_status() {
    let world = World::new(BusKind::InProcess, DbKind::Postgres).await;
    let h = Harness::start(&world, config()).await;
    let integration = integration();
    let upsert = product_upsert(integration, "1001");
    publish(&world.bus, &upsert).await;
    publish(
        &world.bus,
        &failed(
            &upsert,
            ferry_proto::messages::ErrorCode::Mapping,
            "SKU 1001 ok",
        ),
    )
    .await;
    publish(&world.bus, &product_upserted(integration, "1002")).await;
    eventually("3 rows", 20, || async {
        (h.get(&format!("/activity?integration_id={integration}"))
            .await["total"]
            == 3)
            .then_some(())
    })
    .await;
    // The command row is completed as failed by its reply (whichever was recorded first).
    let count = |stats: &serde_json::Value, status: &str| {
        stats["points"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["flow"] == "products" && p["status"] == status)
            .map(|p| p["count"].as_i64().unwrap())
            .sum::<i64>()
    };
    let stats = eventually("the command completed as failed", 20, || async {
        let stats = h
            .get(&format!(
                "/activity/stats?integration_id={integration}&bucket_minutes=60"
            ))
            .await;
        (count(&stats, "failed") == 2).then_some(stats)
    })
    .await;
    assert_eq!(count(&stats, "succeeded"), 1, "{stats}");
    assert_eq!(count(&stats, "sent"), 0, "{stats}");
    let health = h.get("/integration-health").await;
    let mine = health
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["integration_id"] == integration.to_string())
        .cloned()
        .unwrap();
    assert_eq!(mine["flows"][0]["flow"], "products");
    h.stop().await;
    world.cleanup().await;
}

/// A burst is recorded in batches (one transaction for the messages waiting together): every
/// message once, and every command completed by its reply, whether the reply came first,
/// in the same batch, or in another.
async fn a_burst_is_recorded_whole(db: DbKind) {
    let world = World::new(BusKind::InProcess, db).await;
    let h = Harness::start(&world, config()).await;
    let integration = integration();
    let n = 150;
    let mut messages = Vec::new();
    for i in 0..n {
        let email = format!("burst{i}@example.com");
        let upsert = customer_upsert(&customer_observed(integration, &email), &email);
        let done = customer_upserted(&upsert, &email);
        let upsert = BusMessage::from_envelope(&upsert).unwrap();
        let done = BusMessage::from_envelope(&done).unwrap();
        // Every third reply is published before its command.
        if i % 3 == 0 {
            messages.extend([done, upsert]);
        } else {
            messages.extend([upsert, done]);
        }
    }
    let publishers: Vec<_> = messages
        .chunks(50)
        .map(|chunk| {
            let bus = world.bus.clone();
            let chunk = chunk.to_vec();
            tokio::spawn(async move {
                for message in chunk {
                    bus.publish(message).await.unwrap();
                }
            })
        })
        .collect();
    for p in publishers {
        p.await.unwrap();
    }
    let count = |stats: &serde_json::Value, status: &str| {
        stats["points"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["flow"] == "customers" && p["status"] == status)
            .map(|p| p["count"].as_i64().unwrap())
            .sum::<i64>()
    };
    let stats = eventually("every command completed by its reply", 60, || async {
        let stats = h
            .get(&format!(
                "/activity/stats?integration_id={integration}&bucket_minutes=60"
            ))
            .await;
        (count(&stats, "succeeded") == 2 * n).then_some(stats)
    })
    .await;
    assert_eq!(count(&stats, "sent"), 0, "{stats}");
    let listed = h
        .get(&format!("/activity?integration_id={integration}&limit=1"))
        .await;
    assert_eq!(listed["total"], 2 * n, "each message recorded once");
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn a_burst_is_recorded_whole_on_sqlite() {
    a_burst_is_recorded_whole(DbKind::Sqlite).await;
}

#[tokio::test]
async fn a_burst_is_recorded_whole_on_postgres() {
    a_burst_is_recorded_whole(DbKind::Postgres).await;
}

#[tokio::test]
async fn retention_purges_old_rows_per_integration() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let h = Harness::start(&world, config()).await;
    let (short, default) = (integration(), integration());
    let now = Utc::now();
    // Rows 10 days old for both integrations, and fresh ones.
    for integration in [short, default] {
        publish(
            &world.bus,
            &at(
                product_upserted(integration, "1"),
                now - ChronoDuration::days(10),
            ),
        )
        .await;
        publish(
            &world.bus,
            &at(
                product_upserted(integration, "2"),
                now - ChronoDuration::days(40),
            ),
        )
        .await;
        publish(&world.bus, &product_upserted(integration, "3")).await;
    }
    eventually("6 rows", 20, || async {
        (h.get("/activity").await["total"] == 6).then_some(())
    })
    .await;
    let (status, _) = h
        .call(
            Method::PUT,
            OPERATOR,
            &format!("/retention/{short}"),
            Some(json!({"days": 7})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = h
        .call(
            Method::PUT,
            READER,
            &format!("/retention/{short}"),
            Some(json!({"days": 7})),
        )
        .await;
    assert_eq!(status, 403, "read tokens cannot change retention");
    let retention = h.get("/retention").await;
    assert_eq!(retention["default_days"], 30);
    assert_eq!(retention["overrides"][short.to_string()], 7);

    let (status, purged) = h.post("/activity/purge", json!({})).await;
    assert_eq!(status, 200);
    // short: 10- and 40-day-old rows; default (30 days): the 40-day-old row.
    assert_eq!(purged["removed"], 3, "{purged}");
    assert_eq!(
        h.get(&format!("/activity?integration_id={short}")).await["total"],
        1
    );
    assert_eq!(
        h.get(&format!("/activity?integration_id={default}")).await["total"],
        2
    );
    // Purging again removes nothing more.
    assert_eq!(h.notifier.purge_at(Utc::now()).await.unwrap(), 0);
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn erase_by_email_redacts_every_row_mentioning_it() {
    let world = World::new(BusKind::InProcess, DbKind::Postgres).await;
    let h = Harness::start(&world, config()).await;
    let integration = integration();
    let erased = "piet@example.com";
    let kept = "klaas@example.com";
    let observed = customer_observed(integration, erased);
    let upsert = customer_upsert(&observed, erased);
    let refused = failed(
        &upsert,
        ferry_proto::messages::ErrorCode::Validation,
        "customer piet@example.com has no name",
    );
    publish(&world.bus, &observed).await;
    publish(&world.bus, &upsert).await;
    publish(&world.bus, &refused).await;
    publish(&world.bus, &customer_observed(integration, kept)).await;
    eventually("4 rows", 20, || async {
        (h.get(&format!("/activity?integration_id={integration}"))
            .await["total"]
            == 4)
            .then_some(())
    })
    .await;

    let (status, _) = h
        .call(
            Method::POST,
            READER,
            "/gdpr/erase",
            Some(json!({"email": erased})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, report) = h
        .post("/gdpr/erase", json!({"email": "Piet@Example.com"}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["activity_rows_redacted"], 3, "{report}");

    let all = h
        .get(&format!("/activity?integration_id={integration}"))
        .await;
    let text = all.to_string();
    assert!(!text.contains(erased), "{text}");
    assert!(text.contains(kept));
    for item in all["items"].as_array().unwrap() {
        let detail = h
            .get(&format!("/activity/{}", item["id"].as_str().unwrap()))
            .await;
        assert!(!detail.to_string().contains(erased), "{detail}");
        if item["redacted"] == true {
            assert!(detail["source_data"].is_null() && detail["sent_data"].is_null());
        }
    }
    assert_eq!(h.get(&format!("/activity?key={erased}")).await["total"], 0);
    let (status, _) = h
        .post("/gdpr/erase", json!({"email": "not-an-address"}))
        .await;
    assert_eq!(status, 400);
    h.stop().await;
    world.cleanup().await;
}

/// Found by scripts/api-fuzz.sh: an offset above `i64::MAX` panicked the database binder and
/// the admin worker dropped the connection. Such an offset skips every row: an empty page.
async fn an_offset_past_every_row_reads_an_empty_page(db: DbKind) {
    let world = World::new(BusKind::InProcess, db).await;
    let h = Harness::start(&world, config()).await;
    let offset = u64::MAX;
    let page = h.get(&format!("/activity?offset={offset}")).await;
    assert_eq!(page["items"], json!([]), "{page}");
    for list in ["alerts", "dead-letters"] {
        assert_eq!(h.get(&format!("/{list}?offset={offset}")).await, json!([]));
    }
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn an_offset_past_every_row_reads_an_empty_page_on_sqlite() {
    an_offset_past_every_row_reads_an_empty_page(DbKind::Sqlite).await;
}

#[tokio::test]
async fn an_offset_past_every_row_reads_an_empty_page_on_postgres() {
    an_offset_past_every_row_reads_an_empty_page(DbKind::Postgres).await;
}

#[tokio::test]
async fn openapi_lists_every_route_and_the_dashboard_needs_no_token() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let h = Harness::start(&world, config()).await;
    let doc = h.get("/openapi.json").await;
    for path in [
        "/api/v1/activity",
        "/api/v1/activity/stats",
        "/api/v1/activity/{id}",
        "/api/v1/activity/purge",
        "/api/v1/integration-health",
        "/api/v1/integration-directory",
        "/api/v1/integration-freshness",
        "/api/v1/activity/{id}/story",
        "/api/v1/activity/series",
        "/api/v1/charts/{chart}",
        "/api/v1/alerts",
        "/api/v1/alerts/{id}",
        "/api/v1/alerts/{id}/resolve",
        "/api/v1/gdpr/erase",
        "/api/v1/retention",
        "/api/v1/retention/{integration_id}",
        "/api/v1/dead-letters",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    let page = h
        .http
        .get(format!("{}/dashboard/", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(page.text().await.unwrap().contains("Admin token"));
    let script = h
        .http
        .get(format!("{}/dashboard/app.js", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn a_deleted_integration_leaves_no_activity_and_no_open_alert() {
    use ferry_proto::messages::{ErrorCode, IntegrationChanged, IntegrationState};
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let h = Harness::start(&world, config()).await;
    let (gone, kept) = (integration(), integration());
    let upsert = product_upsert(gone, "1001");
    publish(&world.bus, &failed(&upsert, ErrorCode::Auth, "401")).await;
    publish(&world.bus, &product_upserted(kept, "1")).await;
    eventually("rows and the alert", 20, || async {
        let rows = h.get("/activity").await["total"] == 2;
        let alert = h.alerts("open", "auth_failed").await.len() == 1;
        (rows && alert).then_some(())
    })
    .await;
    let deleted = ferry_proto::Envelope::new(
        gone,
        IntegrationChanged::new(IntegrationState::Deleted, vec![], 7),
    );
    publish(&world.bus, &deleted).await;
    eventually("the integration forgotten", 20, || async {
        let rows = h.get(&format!("/activity?integration_id={gone}")).await["total"] == 0;
        let alerts = h.alerts("open", "auth_failed").await.is_empty();
        (rows && alerts).then_some(())
    })
    .await;
    assert_eq!(
        h.get(&format!("/activity?integration_id={kept}")).await["total"],
        1
    );
    let resolved = h.alerts("resolved", "auth_failed").await;
    assert_eq!(resolved[0]["resolution"], "the integration was deleted");
    h.stop().await;
    world.cleanup().await;
}

/// Issue 19, finding 7: deliveries run concurrently and in no set order, so events of an
/// integration can be recorded with or after its deletion. None of them may outlive the erase:
/// not a late event, not an older announcement (the directory), not an alert, and not one of
/// many events racing the deletion.
async fn a_deleted_integration_stays_deleted(db: DbKind) {
    use ferry_notifier::store::integration_row;
    use ferry_platform::bus::inbox::Inbox;
    use ferry_proto::messages::{ErrorCode, IntegrationChanged, IntegrationState};
    use sea_orm::EntityTrait;
    let world = World::new(BusKind::InProcess, db).await;
    let h = Harness::start(&world, config()).await;
    let inbox = Inbox::new("notifier");
    let all_recorded = |ids: Vec<uuid::Uuid>| {
        let (inbox, db) = (inbox.clone(), world.db.clone());
        async move {
            for id in ids {
                if !inbox.contains(&db, id).await.unwrap() {
                    return None;
                }
            }
            Some(())
        }
    };

    // Events racing the deletion: published at the same time, handled concurrently.
    let racing = integration();
    let mut ids = Vec::new();
    for round in 0..40 {
        let event = product_upserted(racing, &format!("{}", 2000 + round));
        ids.push(event.message_id.as_uuid());
        publish(&world.bus, &event).await;
        if round == 20 {
            let deleted = ferry_proto::Envelope::new(
                racing,
                IntegrationChanged::new(IntegrationState::Deleted, vec![], 3),
            );
            ids.push(deleted.message_id.as_uuid());
            publish(&world.bus, &deleted).await;
        }
    }
    eventually("every racing event handled", 30, || {
        all_recorded(ids.clone())
    })
    .await;
    assert_eq!(
        h.get(&format!("/activity?integration_id={racing}")).await["total"],
        0,
        "an event that raced the deletion outlived the erase"
    );

    // Events arriving after the deletion was handled.
    let gone = integration();
    let deleted = ferry_proto::Envelope::new(
        gone,
        IntegrationChanged::new(IntegrationState::Deleted, vec![], 7),
    );
    publish(&world.bus, &deleted).await;
    eventually("the deletion handled", 20, || {
        all_recorded(vec![deleted.message_id.as_uuid()])
    })
    .await;
    let mut older = IntegrationChanged::new(IntegrationState::Draft, vec![], 6);
    older.name = Some("Older announcement".to_owned());
    let older = ferry_proto::Envelope::new(gone, older);
    let late = product_upserted(gone, "1001");
    let upsert = product_upsert(gone, "1002");
    let refused = failed(&upsert, ErrorCode::Auth, "401");
    for id in [&older.message_id, &late.message_id, &refused.message_id] {
        ids.push(id.as_uuid());
    }
    publish(&world.bus, &older).await;
    publish(&world.bus, &late).await;
    publish(&world.bus, &refused).await;
    eventually("the late events handled", 20, || all_recorded(ids.clone())).await;
    assert_eq!(
        h.get(&format!("/activity?integration_id={gone}")).await["total"],
        0,
        "a late event of a deleted integration was recorded"
    );
    assert!(h.alerts("open", "auth_failed").await.is_empty());
    let known = integration_row::Entity::find_by_id(gone.to_string())
        .one(&world.db)
        .await
        .unwrap();
    assert!(
        known.is_none(),
        "an older announcement revived a deleted integration"
    );
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn a_deleted_integration_stays_deleted_on_sqlite() {
    a_deleted_integration_stays_deleted(DbKind::Sqlite).await;
}

#[tokio::test]
async fn a_deleted_integration_stays_deleted_on_postgres() {
    a_deleted_integration_stays_deleted(DbKind::Postgres).await;
}

/// Integrations are named by the registry's announcements (newest revision wins, a deletion
/// forgets them) and by the configuration; alerts and the health list use the names.
#[tokio::test]
async fn integrations_are_named_by_the_registry_and_the_configuration() {
    use ferry_proto::messages::{ErrorCode, IntegrationChanged, IntegrationState};
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let configured = integration();
    let mut config = config();
    config
        .integrations
        .push(ferry_notifier::config::ConfiguredIntegration {
            id: configured.to_string(),
            name: "Demo shop".into(),
        });
    let h = Harness::start(&world, config).await;
    let registered = integration();
    let announce = |state, revision, name: &str| {
        let mut change = IntegrationChanged::new(state, vec![], revision);
        change.name = Some(name.to_owned());
        ferry_proto::Envelope::new(registered, change)
    };
    publish(
        &world.bus,
        &announce(IntegrationState::Live, 2, "Harbour bikes"),
    )
    .await;
    // A stale announcement (older revision, delivered late) changes nothing.
    publish(
        &world.bus,
        &announce(IntegrationState::Draft, 1, "Old name"),
    )
    .await;
    let known = eventually("both integrations", 20, || async {
        let known = h.get("/integration-directory").await;
        (known.as_array().unwrap().len() == 2
            && h.get(&format!("/activity?integration_id={registered}"))
                .await["total"]
                == 2)
            .then_some(known)
    })
    .await;
    assert_eq!(known[0]["name"], "Demo shop");
    assert_eq!(known[0]["origin"], "configured");
    assert_eq!(known[0]["state"], "live");
    assert_eq!(known[1]["name"], "Harbour bikes");
    assert_eq!(known[1]["origin"], "registry");
    assert_eq!(known[1]["state"], "live");

    // The health list holds both (the registry's without activity of records), by name.
    let health = h.get("/integration-health").await;
    let names: Vec<_> = health
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Demo shop"), json!("Harbour bikes")]);
    assert_eq!(health[1]["health"], "idle", "{health}");

    // An alert names the integration; its id stays in the detail.
    let upsert = product_upsert(configured, "123");
    publish(&world.bus, &upsert).await;
    publish(
        &world.bus,
        &failed(&upsert, ErrorCode::Validation, "no price"),
    )
    .await;
    let alert = eventually("the alert", 20, || async {
        h.get("/alerts").await.as_array().unwrap().first().cloned()
    })
    .await;
    assert!(
        alert["title"].as_str().unwrap().ends_with("(Demo shop)"),
        "{alert}"
    );
    assert!(
        alert["detail"]
            .as_str()
            .unwrap()
            .contains(&configured.to_string()),
        "{alert}"
    );

    // Deleted: forgotten.
    publish(
        &world.bus,
        &announce(IntegrationState::Deleted, 3, "Harbour bikes"),
    )
    .await;
    eventually("the deletion", 20, || async {
        (h.get("/integration-directory")
            .await
            .as_array()
            .unwrap()
            .len()
            == 1)
            .then_some(())
    })
    .await;
    h.stop().await;
    world.cleanup().await;
}

/// The series count records per flow and status in the right buckets, failures, and the
/// latency from the observed change to the confirmed command; the charts draw them as SVG;
/// every route needs a token.
async fn series_and_charts(db: DbKind) {
    use ferry_proto::messages::ErrorCode;
    let world = World::new(BusKind::InProcess, db).await;
    let h = Harness::start(&world, config()).await;
    let integration = integration();
    let now = Utc::now();
    // Two customers two and three hours ago, reaching the target after 1 s and 3 s.
    for (hours, ms) in [(2, 1_000), (3, 3_000)] {
        let seen = now - ChronoDuration::hours(hours);
        let email = format!("c{hours}@example.com");
        let observed = at(customer_observed(integration, &email), seen);
        let upsert = at(
            customer_upsert(&observed, &email),
            seen + ChronoDuration::milliseconds(200),
        );
        let done = at(
            customer_upserted(&upsert, &email),
            seen + ChronoDuration::milliseconds(ms),
        );
        publish(&world.bus, &observed).await;
        publish(&world.bus, &upsert).await;
        publish(&world.bus, &done).await;
    }
    // A product failing now.
    let upsert = product_upsert(integration, "77");
    publish(&world.bus, &upsert).await;
    publish(
        &world.bus,
        &failed(&upsert, ErrorCode::Validation, "no price"),
    )
    .await;

    // Until both replies are recorded (the series reads counts, then latencies).
    let total = |v: &serde_json::Value| -> i64 {
        v.as_array()
            .map(|a| a.iter().filter_map(|x| x.as_i64()).sum())
            .unwrap_or(0)
    };
    let series = eventually("the series", 20, || async {
        let s = h
            .get(&format!("/activity/series?integration_id={integration}"))
            .await;
        let succeeded = s["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| total(&f["statuses"]["succeeded"]))
            .sum::<i64>();
        (total(&s["latency_samples"]) == 2 && succeeded == 2 && total(&s["failures"]) == 1)
            .then_some(s)
    })
    .await;
    assert_eq!(series["span"], "24h");
    assert_eq!(series["bucket_minutes"], 60);
    assert_eq!(series["buckets"].as_array().unwrap().len(), 24);
    let flow = |name: &str| {
        series["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["flow"] == name)
            .cloned()
            .unwrap()
    };
    let customers = flow("customers");
    // The current hour is bucket 23: the customers are in 21 and 20 (or one later when the
    // hour turned in between), each counted once observed and once succeeded (the reply is
    // counted on its command).
    let observed: Vec<i64> = customers["statuses"]["observed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(observed.iter().sum::<i64>(), 2, "{customers}");
    assert_eq!(observed[23], 0);
    assert_eq!(
        customers["statuses"]["succeeded"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .sum::<i64>(),
        2,
        "{customers}"
    );
    assert!(customers["statuses"].get("failed").is_none());
    assert_eq!(total(&flow("products")["statuses"]["failed"]), 1);
    let p95: Vec<i64> = series["latency_p95_ms"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_i64())
        .collect();
    let mut p95 = p95;
    p95.sort_unstable();
    assert_eq!(p95, vec![1_000, 3_000]);

    // The last hour per minute holds only the product.
    let hour = h.get("/activity/series?window=1h").await;
    assert_eq!(hour["buckets"].as_array().unwrap().len(), 60);
    assert_eq!(
        hour["failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .sum::<i64>(),
        1
    );
    let (status, body) = h
        .call(Method::GET, OPERATOR, "/activity/series?window=7d", None)
        .await;
    assert_eq!(status, 400, "{body}");

    // The charts, as SVG, behind the token.
    for chart in [
        "records.svg?flow=customers",
        "failures.svg",
        "latency.svg",
        "sparkline.svg",
    ] {
        let url = format!(
            "{}/api/v1/charts/{chart}{}integration_id={integration}&tz_offset_minutes=60",
            h.base,
            if chart.contains('?') { "&" } else { "?" }
        );
        let anonymous = h.http.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{chart}");
        let response = h.http.get(&url).bearer_auth(READER).send().await.unwrap();
        assert_eq!(response.status(), 200, "{chart}");
        assert_eq!(response.headers()["content-type"], "image/svg+xml");
        let svg = response.text().await.unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        match chart {
            "latency.svg" => assert!(
                svg.contains(">p95: 3000 ms</title>") || svg.contains("p95: 3000 ms"),
                "{svg}"
            ),
            "failures.svg" => assert!(svg.contains("products: 1</title>"), "{svg}"),
            "sparkline.svg" => assert!(svg.contains("<path"), "{svg}"),
            _ => assert!(svg.contains("succeeded: 1</title>"), "{svg}"),
        }
    }
    let (status, _) = h.call(Method::GET, READER, "/charts/pie.svg", None).await;
    assert_eq!(status, 404);
    for path in ["/activity/series", "/integration-directory"] {
        let anonymous = h
            .http
            .get(format!("{}/api/v1{path}", h.base))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
    }
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn series_and_charts_on_sqlite() {
    series_and_charts(DbKind::Sqlite).await;
}

#[tokio::test]
async fn series_and_charts_on_postgres() {
    series_and_charts(DbKind::Postgres).await;
}

/// Prefix search by SKU, order number or e-mail address; read-only tokens never find e-mail
/// addresses by a prefix (only typed in full), so they cannot discover them letter by letter.
#[tokio::test]
async fn records_are_found_by_a_prefix_without_leaking_addresses() {
    let world = World::new(BusKind::InProcess, DbKind::Sqlite).await;
    let h = Harness::start(&world, config()).await;
    let integration = integration();
    let email = "jan.jansen@example.com";
    let observed = customer_observed(integration, email);
    publish(&world.bus, &observed).await;
    publish(&world.bus, &product_upsert(integration, "871234")).await;
    publish(&world.bus, &product_upsert(integration, "87_99")).await;
    eventually("three rows", 20, || async {
        (h.get("/activity").await["total"] == 3).then_some(())
    })
    .await;
    let keys = |page: serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["record_key"].as_str().unwrap().to_owned())
            .collect()
    };
    let reader = |path: String| {
        let h = &h;
        async move { h.call(Method::GET, READER, &path, None).await.1 }
    };
    // An operator finds the address by its beginning; the SKU by its digits.
    assert_eq!(keys(h.get("/activity?key_prefix=jan.j").await), vec![email]);
    assert_eq!(
        keys(h.get("/activity?key_prefix=JAN.JANSEN@").await),
        vec![email]
    );
    assert_eq!(
        keys(h.get("/activity?key_prefix=8712").await),
        vec!["871234"]
    );
    // `_` is a character, not a wildcard.
    assert_eq!(keys(h.get("/activity?key_prefix=87_").await), vec!["87_99"]);
    // A reader: SKUs yes, addresses not by a prefix, and exactly only masked.
    assert_eq!(
        keys(reader("/activity?key_prefix=8712".into()).await),
        vec!["871234"]
    );
    assert_eq!(reader("/activity?key_prefix=jan".into()).await["total"], 0);
    assert_eq!(reader("/activity?key_prefix=j".into()).await["total"], 0);
    let exact = reader(format!("/activity?key={email}")).await;
    assert_eq!(keys(exact), vec!["j***@example.com"]);
    // The story of the customer, for a reader: masked too.
    let id = h.get("/activity?key_prefix=jan").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let story = reader(format!("/activity/{id}/story")).await;
    assert_eq!(story["record_key"], "j***@example.com");
    assert_eq!(story["final_status"], "observed");
    assert!(!story.to_string().contains(email), "{story}");
    let story = h.get(&format!("/activity/{id}/story")).await;
    assert_eq!(story["source"]["data"]["raw"]["email_address"], email);
    h.stop().await;
    world.cleanup().await;
}

/// Freshness and backlog: the last change seen and delivered per system and flow, the oldest
/// change not delivered, parked messages, and the queues' depth.
async fn freshness_and_backlog(db: DbKind) {
    use ferry_proto::messages::ErrorCode;
    let world = World::new(BusKind::InProcess, db).await;
    let h = Harness::start(&world, config()).await;
    let integration = integration();
    let now = Utc::now();
    // Delivered ten minutes ago.
    let seen = now - ChronoDuration::minutes(10);
    let observed = at(customer_observed(integration, "a@example.com"), seen);
    let upsert = at(customer_upsert(&observed, "a@example.com"), seen);
    publish(&world.bus, &observed).await;
    publish(&world.bus, &upsert).await;
    publish(
        &world.bus,
        &at(
            customer_upserted(&upsert, "a@example.com"),
            seen + ChronoDuration::seconds(1),
        ),
    )
    .await;
    // Waiting: seen 7 and 3 minutes ago, nothing sent yet.
    for (minutes, email) in [(7, "b@example.com"), (3, "c@example.com")] {
        publish(
            &world.bus,
            &at(
                customer_observed(integration, email),
                now - ChronoDuration::minutes(minutes),
            ),
        )
        .await;
    }
    // Failed: not waiting any more (it needs a person, and an alert says so).
    let failing = customer_observed(integration, "d@example.com");
    let command = customer_upsert(&failing, "d@example.com");
    publish(&world.bus, &failing).await;
    publish(&world.bus, &command).await;
    publish(
        &world.bus,
        &failed(&command, ErrorCode::Validation, "no name"),
    )
    .await;

    // Until every message is recorded (b, c and d's failure included).
    let failed_recorded =
        || async { h.get("/activity?status=failed&flow=customers").await["total"] == 2 };
    let f = eventually("the freshness", 20, || async {
        let f = h.get("/integration-freshness").await;
        let done = f["integrations"][0]["undelivered"] == 2
            && f["integrations"][0]["last_delivered"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            && failed_recorded().await;
        done.then_some(f)
    })
    .await;
    let i = &f["integrations"][0];
    assert_eq!(i["integration_id"], integration.to_string());
    let oldest: chrono::DateTime<Utc> =
        serde_json::from_value(i["oldest_undelivered_at"].clone()).unwrap();
    assert!(
        (oldest - (now - ChronoDuration::minutes(7)))
            .num_seconds()
            .abs()
            <= 1,
        "{i}"
    );
    assert_eq!(i["last_seen"][0]["system"], "mailchimp", "{f}");
    assert_eq!(i["last_seen"][0]["flow"], "customers");
    assert_eq!(i["last_delivered"][0]["system"], "mpluskassa");
    let delivered: chrono::DateTime<Utc> =
        serde_json::from_value(i["last_delivered"][0]["at"].clone()).unwrap();
    assert!(
        (delivered - (seen + ChronoDuration::seconds(1)))
            .num_seconds()
            .abs()
            <= 1,
        "{i}"
    );
    assert_eq!(i["parked"], 0);
    let queues: Vec<_> = f["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queue"].as_str().unwrap().to_owned())
        .collect();
    assert!(queues.contains(&"mapper".to_owned()), "{f}");
    let notifier = f["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "notifier")
        .unwrap();
    assert!(notifier["waiting"].as_u64().is_some(), "{f}");
    let anonymous = h
        .http
        .get(format!("{}/api/v1/integration-freshness", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    h.stop().await;
    world.cleanup().await;
}

#[tokio::test]
async fn freshness_and_backlog_on_sqlite() {
    freshness_and_backlog(DbKind::Sqlite).await;
}

#[tokio::test]
async fn freshness_and_backlog_on_postgres() {
    freshness_and_backlog(DbKind::Postgres).await;
}
