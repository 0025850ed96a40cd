//! The setup wizard in a real browser (headless Chromium through chromedriver), against the
//! real `ferry run` with its sandboxes: an operator logs in, tests a MailChimp key and picks
//! the audience and a new store, tests the MplusKASSA credentials, saves the draft (both saved
//! connections tested through the connectors), picks branch, employee, payment method and VAT
//! codes from the installation's reference data, sets flows and settings, runs the dry run and
//! goes live. The credentials never come back: not in the page, not in the API, not in the
//! logs. A screenshot of every step is kept under `target/test-artifacts/ferry-wizard/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::webdriver::{Browser, artifact_dir};
use support::{Ferry, temp_dir};

#[tokio::test]
async fn an_operator_sets_up_an_integration_with_the_wizard() {
    let dir = temp_dir();
    // No demo integration: the registry starts empty.
    let ferry = Ferry::start_with(&dir, &[("FERRY_SANDBOX__DEMO_INTEGRATION", "false")]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let status = ferry.get_json(&http, "/api/v1/status").await;
    let mailchimp_url = status["sandbox_mailchimp"].as_str().unwrap().to_owned();
    let mpluskassa_url = status["sandbox_mpluskassa"].as_str().unwrap().to_owned();
    let api_key = ferry_sandbox::mailchimp::DEFAULT_API_KEY;
    let secret = ferry_sandbox::DEFAULT_MPLUSKASSA_SECRET;

    let shots = artifact_dir("ferry-wizard");
    let browser = Browser::start().await;
    browser
        .goto(&format!("{}/dashboard/#setup", ferry.base))
        .await;
    browser
        .wait_for(
            "the login form",
            "return !document.querySelector('#login').hidden",
        )
        .await;
    browser.type_into("#token", &ferry.token()).await;
    browser.click("#login-button").await;
    browser
        .wait_for(
            "the empty registry",
            "return document.querySelector('#integrations tbody').innerText.includes('No integration')",
        )
        .await;

    // 1. MailChimp: a wrong key is refused, the right one lists audiences and stores.
    browser.type_into("#w-name", "Wizard shop").await;
    browser
        .type_into("#w-mc-key", "ffffffffffffffffffffffffffffffff-us1")
        .await;
    browser.type_into("#w-mc-base", &mailchimp_url).await;
    browser.click("#w-mc-test").await;
    browser
        .wait_for(
            "the refusal",
            "return document.querySelector('#w-mc-result').textContent.startsWith('Refused')",
        )
        .await;
    browser.type_into("#w-mc-key", api_key).await;
    browser.click("#w-mc-test").await;
    browser
        .wait_for(
            "the audiences",
            "return document.querySelectorAll('#w-mc-audience option').length > 0",
        )
        .await;
    browser
        .run(
            "const s = document.querySelector('#w-mc-store'); s.value = ''; s.dispatchEvent(new Event('change'));",
            json!([]),
        )
        .await;
    browser.type_into("#w-mc-store-id", "wizard-store").await;
    browser.screenshot(&shots.join("01-mailchimp.png")).await;
    browser.click("#w-mc-next").await;

    // 2. MplusKASSA, then the draft is saved and both saved connections are tested.
    browser.type_into("#w-mk-endpoint", &mpluskassa_url).await;
    browser
        .type_into("#w-mk-ident", ferry_sandbox::DEFAULT_MPLUSKASSA_IDENT)
        .await;
    browser.type_into("#w-mk-secret", secret).await;
    browser.click("#w-mk-test").await;
    browser
        .wait_for(
            "the MplusKASSA verdict",
            "return document.querySelector('#w-mk-result').textContent.includes('employee 999999 exists')",
        )
        .await;
    browser.screenshot(&shots.join("02-mpluskassa.png")).await;
    browser.click("#w-mk-next").await;

    // 3. Orders: offered from the installation's reference data.
    browser
        .wait_for(
            "the reference data",
            "return !document.querySelector('#step-orders').hidden && document.querySelectorAll('#w-vat .vat-code').length > 0",
        )
        .await;
    let employee = browser
        .run(
            "return document.querySelector('#w-employee').value",
            json!([]),
        )
        .await;
    assert_eq!(employee, "999999", "the default employee is preselected");
    browser
        .run(
            "document.querySelector('#w-payments .payment-target').selectedIndex = 0",
            json!([]),
        )
        .await;
    browser.screenshot(&shots.join("03-orders.png")).await;
    browser.click("#w-orders-next").await;

    // 4. Flows and settings (defaults, stock from the physical figure).
    browser
        .wait_for(
            "the flows",
            "return document.querySelectorAll('#w-flows .flow-on').length === 5",
        )
        .await;
    browser
        .run(
            "document.querySelector('#w-stock-calc').value = 'physical'",
            json!([]),
        )
        .await;
    browser.screenshot(&shots.join("04-settings.png")).await;
    browser.click("#w-settings-save").await;

    // 5. The dry run: every enabled flow maps its sample.
    browser
        .wait_for(
            "the dry run step",
            "return !document.querySelector('#step-dry-run').hidden",
        )
        .await;
    browser.click("#w-dry-run").await;
    let outcomes = browser
        .wait_for(
            "the dry run",
            "const rows = [...document.querySelectorAll('#w-dry tbody tr')];
             return rows.length === 5 ? rows.map(r => r.dataset.outcome) : null",
        )
        .await;
    browser.screenshot(&shots.join("05-dry-run.png")).await;
    assert!(
        outcomes
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o == "mapped" || o == "skipped"),
        "{outcomes}"
    );
    browser.click("#w-dry-next").await;

    // 6. Go live.
    browser.click("#w-go-live").await;
    browser
        .wait_for(
            "the live integration",
            "return document.querySelector('#setup-status').textContent.includes('is live')
                && document.querySelector('#integrations tr[data-state=live]') !== null",
        )
        .await;
    browser.screenshot(&shots.join("06-live.png")).await;
    let page = browser
        .run("return document.documentElement.outerHTML", json!([]))
        .await;
    let page = page.as_str().unwrap();
    assert!(!page.contains(api_key), "the API key stays out of the page");
    assert!(!page.contains(secret), "the secret stays out of the page");

    // The registry has it live with the chosen settings; no credential comes back.
    let list = ferry.get_json(&http, "/api/v1/integrations").await;
    let text = list.to_string();
    assert!(!text.contains(api_key) && !text.contains(secret), "{text}");
    let integration = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "Wizard shop")
        .expect("the integration")
        .clone();
    assert_eq!(integration["state"], "live");
    assert_eq!(integration["mailchimp"]["store_id"], "wizard-store");
    let id = integration["id"].as_str().unwrap();
    let settings = ferry
        .get_json(&http, &format!("/api/v1/integrations/{id}/settings"))
        .await;
    assert_eq!(settings["document"]["stock"]["calculation"], "physical");
    assert_eq!(settings["document"]["orders"]["employee_number"], 999999);
    assert!(
        !settings["document"]["orders"]["vat_codes"]["entries"]
            .as_object()
            .unwrap()
            .is_empty(),
        "VAT codes from the reference data: {settings}"
    );
    browser.close().await;

    let (status, logs) = ferry.terminate();
    assert!(status.success(), "clean exit: {status:?}");
    assert!(
        !logs.contains(api_key),
        "the API key never reaches the logs"
    );
    assert!(!logs.contains(secret), "the secret never reaches the logs");
    let _ = std::fs::remove_dir_all(&dir);
}
