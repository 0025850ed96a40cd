//! The dashboard's setup wizard driven in headless Chromium, step by step, as an operator
//! does it, wherever the dashboard is served: the embedded `ferry run`
//! (`services/ferry/tests/wizard_browser.rs`) and the five services behind a reverse proxy
//! (`tests/e2e/tests/proxy_wizard.rs`) run the same steps.
//!
//! An operator logs in, tests a wrong then the right MailChimp key and picks the audience and
//! a new store, tests the MplusKASSA credentials, saves the draft (both saved connections
//! tested through the connectors), picks branch, employee, payment method, VAT codes and
//! revenue accounts from the installation's reference data (the revenue accounts offered are
//! exactly those of the sandbox installation's turnover groups, each row preselected by its
//! VAT code; one row is changed), sets flows and settings (stock from the physical figure,
//! cancellations and refunds not carried), runs the dry run and goes live. The settings
//! document the mapper's settings API then holds has the revenue accounts and the lifecycle
//! switch as chosen. The credentials never appear in the page. A screenshot of every step
//! goes to `shots`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};

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
    let revenue = choose_revenue_accounts(browser, run).await;
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
    let lifecycle = browser
        .run(
            "return document.querySelector('#w-lifecycle').checked",
            json!([]),
        )
        .await;
    assert_eq!(
        lifecycle, true,
        "the checkbox shows the document's orders.lifecycle (on by default)"
    );
    browser.click("#w-lifecycle").await;
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

    // The mapper's settings API has what the wizard showed and the operator chose.
    let orders = saved_settings(run).await["document"]["orders"].clone();
    assert_eq!(
        orders["revenue_accounts"], revenue,
        "the revenue accounts as chosen: {orders}"
    );
    assert_eq!(
        orders["lifecycle"], false,
        "cancellations and refunds switched off: {orders}"
    );
}

/// A turnover group of the sandbox installation, with the values as the page shows them.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TurnoverGroup {
    number: i64,
    name: String,
    /// The revenue account it books to.
    account: String,
    /// Its default VAT code.
    vat_code: String,
}

/// The sandbox installation's turnover groups that book to an account (the active ones, as
/// `getTurnoverGroups` answers the connector), by number.
async fn installation_turnover_groups(run: &WizardRun<'_>) -> Vec<TurnoverGroup> {
    let url = format!(
        "{}/_sandbox/state",
        run.mpluskassa_endpoint.trim_end_matches('/')
    );
    let state: Value = reqwest::get(&url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .unwrap_or_else(|e| panic!("the MplusKASSA sandbox's state ({url}): {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("the MplusKASSA sandbox's state ({url}) as JSON: {e}"));
    let mut groups: Vec<_> = state["turnover_groups"]
        .as_array()
        .unwrap_or_else(|| panic!("turnover groups in the sandbox's state: {state}"))
        .iter()
        .filter(|g| g["active"] == true && g["account_number"].as_i64().is_some_and(|a| a != 0))
        .map(|g| TurnoverGroup {
            number: g["number"].as_i64().unwrap_or_default(),
            name: g["name"].as_str().unwrap_or_default().to_owned(),
            account: g["account_number"].to_string(),
            vat_code: g["default_vat_code"].to_string(),
        })
        .collect();
    groups.sort();
    groups
}

/// Step 3's revenue accounts: checks the table against the installation's turnover groups
/// (every VAT row has one, each offers every account once, labelled with its groups,
/// preselected with the account of the lowest-numbered group of the row's VAT code), picks
/// another account for the first row that has one, and returns the value map the settings
/// should then hold.
async fn choose_revenue_accounts(browser: &Browser, run: &WizardRun<'_>) -> Value {
    let groups = installation_turnover_groups(run).await;
    let mut named: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for g in &groups {
        named
            .entry(g.account.parse().unwrap_or_default())
            .or_default()
            .push(format!("{} {}", g.number, g.name));
    }
    assert!(
        named.len() > 1,
        "the sandbox offers a choice of revenue accounts: {groups:?}"
    );
    let accounts: Vec<String> = named.keys().map(i64::to_string).collect();
    let labels: Vec<String> = std::iter::once("none".to_owned())
        .chain(named.iter().map(|(account, names)| {
            let noun = if names.len() == 1 { "group" } else { "groups" };
            format!("{account} ({noun} {})", names.join(", "))
        }))
        .collect();
    let account_of = |vat: &str| {
        groups
            .iter()
            .find(|g| g.vat_code == vat)
            .map(|g| g.account.clone())
            .unwrap_or_default()
    };

    let table = browser
        .run(
            "const offered = (s) => [...s.options].map((o) => o.value).filter((v) => v);
             const other = document.querySelector('#w-revenue-default');
             return {
               vat_keys: [...document.querySelectorAll('#w-vat .vat-code')].map((s) => s.dataset.key),
               rows: [...document.querySelectorAll('#w-revenue .revenue-account')].map((s) => ({
                 key: s.dataset.key,
                 vat: document.querySelector(`#w-vat .vat-code[data-key='${s.dataset.key}']`).value,
                 account: s.value,
                 offered: offered(s),
               })),
               other: { vat: document.querySelector('#w-vat-default').value, account: other.value, offered: offered(other) },
               labels: [...other.options].map((o) => o.textContent),
               none_said: !document.querySelector('#w-revenue-none').hidden,
             }",
            json!([]),
        )
        .await;
    let rows = table["rows"].as_array().cloned().unwrap_or_default();
    let keys: Vec<&Value> = rows.iter().map(|r| &r["key"]).collect();
    let vat_keys: Vec<&Value> = table["vat_keys"]
        .as_array()
        .map(|k| k.iter().collect())
        .unwrap_or_default();
    assert_eq!(keys, vat_keys, "one revenue row per VAT row: {table}");
    assert_eq!(
        table["labels"],
        json!(labels),
        "the accounts offered: {table}"
    );
    assert_eq!(table["none_said"], false, "{table}");
    let mut entries = BTreeMap::new();
    for row in rows.iter().chain([&table["other"]]) {
        assert_eq!(row["offered"], json!(accounts), "{row}");
        let expected = account_of(row["vat"].as_str().unwrap_or_default());
        assert_eq!(
            row["account"],
            expected.as_str(),
            "preselected by the VAT code: {row}"
        );
        if let Some(key) = row["key"].as_str().filter(|_| !expected.is_empty()) {
            entries.insert(key.to_owned(), expected);
        }
    }
    assert!(!entries.is_empty(), "some rows are preselected: {table}");

    // The operator books the first row on another account, of a group of the same VAT code
    // where the installation has one.
    let first = &rows[0];
    let key = first["key"].as_str().unwrap_or_default().to_owned();
    let same_vat = groups
        .iter()
        .filter(|g| g.vat_code == first["vat"].as_str().unwrap_or_default())
        .map(|g| &g.account);
    let other = same_vat
        .chain(&accounts)
        .find(|a| first["account"] != a.as_str())
        .cloned()
        .unwrap_or_default();
    browser
        .run(
            "const s = document.querySelector(`#w-revenue .revenue-account[data-key='${arguments[0]}']`);
             s.value = arguments[1]; s.dispatchEvent(new Event('change'));",
            json!([key, other]),
        )
        .await;
    entries.insert(key, other);
    let mut map = json!({ "entries": entries });
    let fallback = table["other"]["account"].as_str().unwrap_or_default();
    if !fallback.is_empty() {
        map["default"] = json!(fallback);
    }
    map
}

/// The integration's settings document, read through the mapper's settings API (found by
/// its name in the registry).
async fn saved_settings(run: &WizardRun<'_>) -> Value {
    let http = reqwest::Client::new();
    let get = |path: String| {
        let request = http
            .get(format!("{}/api/v1{path}", run.base))
            .bearer_auth(run.token);
        async move {
            request
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .unwrap_or_else(|e| panic!("GET {path}: {e}"))
                .json::<Value>()
                .await
                .unwrap_or_else(|e| panic!("GET {path} as JSON: {e}"))
        }
    };
    let list = get("/integrations".to_owned()).await;
    let id = list
        .as_array()
        .and_then(|l| l.iter().find(|i| i["name"] == run.name))
        .and_then(|i| i["id"].as_str())
        .unwrap_or_else(|| panic!("{} in the registry: {list}", run.name))
        .to_owned();
    get(format!("/integrations/{id}/settings")).await
}
