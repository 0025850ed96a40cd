//! The admin API over HTTP: settings and mappings (versioned, with history and conflicts),
//! validation with positions, preview round trips, auth, OpenAPI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use ferry_mapper::samples;
use ferry_platform::bus::outbox::Outbox;
use ferry_proto::IntegrationId;
use reqwest::{Client, StatusCode};
use serde_json::{Value as Json, json};
use support::{Harness, Kind, OPERATOR_TOKEN, READ_TOKEN};

async fn call(
    client: &Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Json>,
) -> (StatusCode, Json) {
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let body = resp.json::<Json>().await.unwrap_or(Json::Null);
    (status, body)
}

#[tokio::test]
async fn settings_are_versioned_with_history_and_conflicts() {
    let h = Harness::start(Kind::InProcess).await;
    let c = Client::new();
    let id = IntegrationId::new();
    let url = h.url(&format!("/integrations/{id}/settings"));
    use reqwest::Method;

    // Auth: none -> 401, read token may read, not write.
    assert_eq!(
        call(&c, Method::GET, url.clone(), None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, current) = call(&c, Method::GET, url.clone(), Some(READ_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(current["version"], 0, "never saved: the defaults");
    assert_eq!(current["document"]["orders"]["employee_number"], 999_999);
    let mut doc = current["document"].clone();
    doc["orders"]["employee_number"] = json!(12);
    doc["orders"]["vat_codes"] = json!({"entries": {"NL": "2"}});
    let body = json!({"document": doc, "expected_version": 0, "comment": "first"});
    assert_eq!(
        call(
            &c,
            Method::PUT,
            url.clone(),
            Some(READ_TOKEN),
            Some(body.clone())
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    let (status, saved) = call(
        &c,
        Method::PUT,
        url.clone(),
        Some(OPERATOR_TOKEN),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["changed_by"], "oncall");
    assert_eq!(saved["comment"], "first");
    assert_eq!(saved["document"]["orders"]["employee_number"], 12);

    // Based on an outdated version: conflict, nothing saved.
    let (status, err) = call(
        &c,
        Method::PUT,
        url.clone(),
        Some(OPERATOR_TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "conflict");

    doc["orders"]["employee_number"] = json!(13);
    let (status, saved) = call(
        &c,
        Method::PUT,
        url.clone(),
        Some(OPERATOR_TOKEN),
        Some(json!({"document": doc, "expected_version": 1})),
    )
    .await;
    assert_eq!(
        (status, saved["version"].clone()),
        (StatusCode::OK, json!(2))
    );

    let (status, history) = call(
        &c,
        Method::GET,
        format!("{url}/history"),
        Some(READ_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let versions: Vec<(i64, i64)> = history
        .as_array()
        .expect("list")
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().expect("v"),
                v["document"]["orders"]["employee_number"]
                    .as_i64()
                    .expect("n"),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [(2, 13), (1, 12)],
        "newest first, who/what/when kept"
    );
    assert!(history[0]["changed_at"].is_string());

    // Invalid settings: every problem with its path.
    doc["orders"]["employee_number"] = json!(0);
    doc["orders"]["vat_codes"] = json!({"entries": {"XX": "1"}});
    doc["products"]["sku_rule"] = json!({"mode": "expression", "expr": "digits(sku"});
    let (status, err) = call(
        &c,
        Method::PUT,
        url.clone(),
        Some(OPERATOR_TOKEN),
        Some(json!({"document": doc})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["code"], "invalid_request");
    let paths: Vec<&str> = err["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["path"].as_str().expect("path"))
        .collect();
    assert_eq!(
        paths,
        [
            "orders.employee_number",
            "orders.vat_codes.entries.XX",
            "products.sku_rule.expr"
        ],
        "{err}"
    );
    assert!(err["errors"][2]["column"].is_number(), "{err}");

    // Unknown keys and bad ids are refused.
    let (status, _) = call(
        &c,
        Method::PUT,
        url.clone(),
        Some(OPERATOR_TOKEN),
        Some(json!({"document": {"orderz": {}}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, err) = call(
        &c,
        Method::GET,
        h.url("/integrations/nope/settings"),
        Some(READ_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    h.stop().await;
}

#[tokio::test]
async fn mappings_are_validated_with_positions_and_versioned() {
    let h = Harness::start(Kind::InProcess).await;
    let c = Client::new();
    let id = IntegrationId::new();
    let url = h.url(&format!("/integrations/{id}/mappings"));
    use reqwest::Method;
    let bad = json!({"rules": {"products": [
        {"target": "title", "expr": "upper(source.product.title"},
        {"target": "kind.variants[*].titel", "expr": "item.sku"},
        {"target": "title", "expr": "1 +\n  sorce.x"}
    ]}});
    let (status, err) = call(
        &c,
        Method::PUT,
        url.clone(),
        Some(OPERATOR_TOKEN),
        Some(json!({"document": bad.clone()})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let errors = err["errors"].as_array().expect("errors");
    assert_eq!(errors[0]["path"], "rules.products[0].expr");
    assert_eq!(errors[0]["line"], 1);
    assert_eq!(errors[1]["path"], "rules.products[1].target");
    assert!(
        errors[1]["message"]
            .as_str()
            .expect("msg")
            .contains("titel")
    );
    assert_eq!(
        (errors[2]["line"].clone(), errors[2]["column"].clone()),
        (json!(2), json!(3))
    );

    let (status, verdict) = call(
        &c,
        Method::POST,
        format!("{url}/validate"),
        Some(OPERATOR_TOKEN),
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["errors"].as_array().expect("errors").len(), 3);

    let good = json!({"value_maps": {"skus": {"entries": {"SHIRT-XL": "100300"}}},
                      "rules": {"products": [{"target": "title", "expr": "upper(source.product.title)"}]}});
    let (status, saved) = call(
        &c,
        Method::PUT,
        url.clone(),
        Some(OPERATOR_TOKEN),
        Some(json!({"document": good.clone()})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["version"], 1);
    let (_, current) = call(&c, Method::GET, url.clone(), Some(READ_TOKEN), None).await;
    assert_eq!(
        current["document"]["rules"]["products"],
        good["rules"]["products"]
    );
    assert_eq!(current["document"]["value_maps"], good["value_maps"]);
    assert_eq!(
        current["document"]["rules"]["orders"],
        json!([]),
        "the other flows: no rules"
    );
    let (_, history) = call(
        &c,
        Method::GET,
        format!("{url}/history?limit=5"),
        Some(READ_TOKEN),
        None,
    )
    .await;
    assert_eq!(history.as_array().expect("list").len(), 1);
    let (status, _) = call(
        &c,
        Method::GET,
        format!("{url}/history?limit=0"),
        Some(READ_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Settings and mappings stay consistent: a SKU rule needs its value map, both ways.
    let settings_url = h.url(&format!("/integrations/{id}/settings"));
    let rule =
        json!({"document": {"products": {"sku_rule": {"mode": "value_map", "map": "nope"}}}});
    let (status, err) = call(
        &c,
        Method::PUT,
        settings_url.clone(),
        Some(OPERATOR_TOKEN),
        Some(rule),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["errors"][0]["path"], "products.sku_rule.map");
    let rule =
        json!({"document": {"products": {"sku_rule": {"mode": "value_map", "map": "skus"}}}});
    let (status, err) = call(
        &c,
        Method::PUT,
        settings_url,
        Some(OPERATOR_TOKEN),
        Some(rule),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{err}");
    let (status, err) = call(
        &c,
        Method::PUT,
        url.clone(),
        Some(OPERATOR_TOKEN),
        Some(json!({"document": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["errors"][0]["path"], "value_maps");
    h.stop().await;
}

#[tokio::test]
async fn preview_round_trips_send_nothing() {
    let h = Harness::start(Kind::InProcess).await;
    let c = Client::new();
    let id = IntegrationId::new();
    use reqwest::Method;
    let preview = h.url(&format!("/integrations/{id}/preview"));

    // Defaults: a non-numeric SKU fails with every error.
    let body = json!({"flow": "products", "record": samples::product_json("SHIRT-", 2)});
    let (status, result) = call(
        &c,
        Method::POST,
        preview.clone(),
        Some(OPERATOR_TOKEN),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["outcome"], "failed");
    let fields: Vec<&str> = result["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("f"))
        .collect();
    assert_eq!(
        fields,
        ["sku", "kind.variants[0].sku", "kind.variants[1].sku"]
    );
    assert!(
        result["errors"]
            .as_array()
            .expect("e")
            .iter()
            .all(|e| e["kind"] == "non_numeric_sku")
    );

    // The same record with unsaved settings and mappings: mapped.
    let mut with = body.clone();
    with["settings"] = json!({"products": {"sku_rule": {"mode": "expression", "expr": "'9' + digits(sku)"}, "overwrite_existing": false}});
    with["mappings"] = json!({"rules": {"products": [{"target": "title", "expr": "title(lower(source.product.title)) + ' (' + source.raw.supplier.name + ')'"}]}});
    let (status, result) = call(
        &c,
        Method::POST,
        preview.clone(),
        Some(OPERATOR_TOKEN),
        Some(with),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["outcome"], "mapped", "{result}");
    assert_eq!(result["routing_key"], "mailchimp.product.upsert");
    assert_eq!(result["message_type"], "product.upsert");
    assert_eq!(result["payload"]["overwrite_existing"], false);
    assert_eq!(result["payload"]["product"]["sku"], "9");
    assert_eq!(
        result["payload"]["product"]["kind"]["variants"][1]["sku"],
        "9001"
    );
    assert_eq!(
        result["payload"]["product"]["title"],
        "Organic Cotton Shirt (Textiel BV)"
    );

    // Stored mappings are used when none are given.
    let saved =
        json!({"document": {"rules": {"customers": [{"target": "phone", "expr": "null"}]}}});
    let (status, _) = call(
        &c,
        Method::PUT,
        h.url(&format!("/integrations/{id}/mappings")),
        Some(OPERATOR_TOKEN),
        Some(saved),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, result) = call(
        &c,
        Method::POST,
        preview.clone(),
        Some(OPERATOR_TOKEN),
        Some(json!({"flow": "customers", "record": samples::customer_json(false)})),
    )
    .await;
    assert_eq!(result["outcome"], "mapped", "{result}");
    assert_eq!(result["routing_key"], "mpluskassa.customer.upsert");
    assert!(
        result["payload"]["customer"].get("phone").is_none(),
        "{result}"
    );
    assert_eq!(
        result["payload"]["customer"]["email"],
        "els.devries@example.nl"
    );

    // Orders: the MplusKASSA order with its codes, or the missing VAT codes.
    let (_, result) = call(
        &c,
        Method::POST,
        preview.clone(),
        Some(OPERATOR_TOKEN),
        Some(
            json!({"flow": "orders", "record": samples::order_json(2, "NL", false),
        "settings": {"orders": {"vat_codes": {"entries": {"NL": "2"}}}}}),
        ),
    )
    .await;
    assert_eq!(result["outcome"], "mapped", "{result}");
    assert_eq!(result["payload"]["order"]["employee_number"], 999_999);
    assert_eq!(result["payload"]["order"]["line_codes"][1]["vat_code"], "2");
    let (_, result) = call(
        &c,
        Method::POST,
        preview.clone(),
        Some(OPERATOR_TOKEN),
        Some(json!({"flow": "orders", "record": samples::order_json(2, "NL", false)})),
    )
    .await;
    assert_eq!(result["outcome"], "failed");
    assert_eq!(result["errors"][0]["kind"], "missing_vat_code");

    // A switched-off flow is skipped, with the reason.
    let (_, result) = call(&c, Method::POST, preview.clone(), Some(OPERATOR_TOKEN), Some(json!({"flow": "stock", "record": samples::stock_json("1", "1", "0", "1"),
        "settings": {"flows": {"stock": {"enabled": false, "direction": "mpluskassa_to_mailchimp"}}}}))).await;
    assert_eq!(result["outcome"], "skipped");
    assert!(
        result["reason"]
            .as_str()
            .expect("reason")
            .contains("switched off")
    );

    // Bad input: 400, not a mapping result.
    let (status, err) = call(
        &c,
        Method::POST,
        preview.clone(),
        Some(OPERATOR_TOKEN),
        Some(json!({"flow": "products", "record": {"source": "mpluskassa"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, err) = call(
        &c,
        Method::POST,
        preview.clone(),
        Some(OPERATOR_TOKEN),
        Some(
            json!({"flow": "products", "record": samples::product_json("1", 0),
        "mappings": {"rules": {"products": [{"target": "nope", "expr": "1"}]}}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["errors"][0]["path"], "rules.products[0].target");
    assert_eq!(
        call(
            &c,
            Method::POST,
            preview.clone(),
            Some(READ_TOKEN),
            Some(body)
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    // Nothing was sent.
    assert_eq!(
        Outbox::new(ferry_mapper::SERVICE)
            .pending(&h.db)
            .await
            .expect("count"),
        0
    );
    h.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let h = Harness::start(Kind::InProcess).await;
    let (status, doc) = call(
        &Client::new(),
        reqwest::Method::GET,
        h.url("/openapi.json"),
        Some(READ_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/integrations/{integration_id}/settings",
        "/api/v1/integrations/{integration_id}/settings/history",
        "/api/v1/integrations/{integration_id}/mappings",
        "/api/v1/integrations/{integration_id}/mappings/history",
        "/api/v1/integrations/{integration_id}/mappings/validate",
        "/api/v1/integrations/{integration_id}/preview",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    assert!(doc["components"]["schemas"]["Settings"].is_object());
    h.stop().await;
}
