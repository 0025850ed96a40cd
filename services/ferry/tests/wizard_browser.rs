//! The setup wizard in a real browser (headless Chromium through chromedriver), against the
//! real `ferry run` with its sandboxes, driven by `ferry_test_support::wizard` (the steps the
//! five services behind a reverse proxy get too, `tests/e2e/tests/proxy_wizard.rs`): an
//! operator logs in, tests a MailChimp key and picks the audience and a new store, tests the
//! MplusKASSA credentials, saves the draft, picks branch, employee, payment method, VAT codes
//! and revenue accounts from the installation's reference data (the accounts offered checked
//! against the sandbox's turnover groups), sets flows and settings (cancellations and refunds
//! off), runs the dry run and goes live; the settings API then holds what was chosen. The credentials never come back: not in the page, not in the API, not in the
//! logs. A screenshot of every step is kept under `target/test-artifacts/ferry-wizard/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ferry_test_support::wizard::{WizardRun, set_up_integration};
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

    let browser = Browser::start().await;
    let token = ferry.token();
    set_up_integration(
        &browser,
        &WizardRun {
            base: &ferry.base,
            token: &token,
            name: "Wizard shop",
            mailchimp_url: &mailchimp_url,
            mailchimp_api_key: api_key,
            store_id: "wizard-store",
            mpluskassa_endpoint: &mpluskassa_url,
            mpluskassa_ident: ferry_sandbox::DEFAULT_MPLUSKASSA_IDENT,
            mpluskassa_secret: secret,
            shots: artifact_dir("ferry-wizard"),
        },
    )
    .await;

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
