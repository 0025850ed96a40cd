//! The dashboard's setup wizard driven in headless Chromium, step by step, as an operator
//! does it, wherever the dashboard is served: the embedded `ferry run`
//! (`services/ferry/tests/wizard_browser.rs`) and the five services behind a reverse proxy
//! (`tests/e2e/tests/proxy_wizard.rs`) run the same steps.
//!
//! An operator logs in, tests a wrong then the right MailChimp key and picks the audience and
//! a new store, tests the MplusKASSA credentials, saves the draft (both saved connections
//! tested through the connectors), picks branch, employee, payment method and VAT codes from
//! the installation's reference data, sets flows and settings (stock from the physical
//! figure), runs the dry run and goes live. The credentials never appear in the page. A
//! screenshot of every step goes to `shots`.

use std::path::PathBuf;

use serde_json::json;

use crate::webdriver::Browser;

/// Where the dashboard is and what the operator types.
#[derive(Debug, Clone)]
pub struct WizardRun<'a> {
    /// The address serving `/dashboard/` and the APIs it calls.
    pub base: &'a str,
    /// An operator-scope admin token.
    pub token: &'a str,
    /// The integration's name.
    pub name: &'a str,
    /// The MailChimp API base URL (`…/3.0`).
    pub mailchimp_url: &'a str,
    /// A MailChimp API key the account accepts.
    pub mailchimp_api_key: &'a str,
    /// The new store's id.
    pub store_id: &'a str,
    /// The MplusKASSA endpoint.
    pub mpluskassa_endpoint: &'a str,
    /// MplusKASSA credentials.
    pub mpluskassa_ident: &'a str,
    /// See `mpluskassa_ident`.
    pub mpluskassa_secret: &'a str,
    /// Directory of the screenshots.
    pub shots: PathBuf,
}

/// Drives the wizard from the login to a live integration (the registry is empty before).
pub async fn set_up_integration(browser: &Browser, run: &WizardRun<'_>) {
    browser
        .goto(&format!("{}/dashboard/#setup", run.base))
        .await;
    browser
        .wait_for(
            "the login form",
            "return !document.querySelector('#login').hidden",
        )
        .await;
    browser.type_into("#token", run.token).await;
    browser.click("#login-button").await;
    browser
        .wait_for(
            "the empty registry",
            "return document.querySelector('#integrations tbody').innerText.includes('No integration')",
        )
        .await;

    // 1. MailChimp: a wrong key is refused, the right one lists audiences and stores.
    browser.type_into("#w-name", run.name).await;
    browser
        .type_into("#w-mc-key", "ffffffffffffffffffffffffffffffff-us1")
        .await;
    browser.type_into("#w-mc-base", run.mailchimp_url).await;
    browser.click("#w-mc-test").await;
    browser
        .wait_for(
            "the refusal",
            "return document.querySelector('#w-mc-result').textContent.startsWith('Refused')",
        )
        .await;
    browser.type_into("#w-mc-key", run.mailchimp_api_key).await;
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
    browser.type_into("#w-mc-store-id", run.store_id).await;
    browser
        .screenshot(&run.shots.join("01-mailchimp.png"))
        .await;
    browser.click("#w-mc-next").await;

    // 2. MplusKASSA, then the draft is saved and both saved connections are tested.
    browser
        .type_into("#w-mk-endpoint", run.mpluskassa_endpoint)
        .await;
    browser.type_into("#w-mk-ident", run.mpluskassa_ident).await;
    browser
        .type_into("#w-mk-secret", run.mpluskassa_secret)
        .await;
    browser.click("#w-mk-test").await;
    browser
        .wait_for(
            "the MplusKASSA verdict",
            "return document.querySelector('#w-mk-result').textContent.includes('employee 999999 exists')",
        )
        .await;
    browser
        .screenshot(&run.shots.join("02-mpluskassa.png"))
        .await;
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
    browser.screenshot(&run.shots.join("03-orders.png")).await;
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
    browser.screenshot(&run.shots.join("04-settings.png")).await;
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
    browser.screenshot(&run.shots.join("05-dry-run.png")).await;
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
    browser.screenshot(&run.shots.join("06-live.png")).await;
    let page = browser
        .run("return document.documentElement.outerHTML", json!([]))
        .await;
    let page = page.as_str().unwrap();
    assert!(
        !page.contains(run.mailchimp_api_key),
        "the API key stays out of the page"
    );
    assert!(
        !page.contains(run.mpluskassa_secret),
        "the secret stays out of the page"
    );
}
