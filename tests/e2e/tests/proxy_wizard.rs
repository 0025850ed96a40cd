//! One entry point (issue 20): the five services as separate processes behind nginx,
//! configured from the route table the services check their own routes against
//! (`ferry_platform::routes::ROUTES`; the Kubernetes Ingress and HTTPRoute are generated from
//! the same table), and the dashboard's setup wizard driven to go-live in headless Chromium
//! through that single address, with the same steps as the embedded default's browser test
//! (`ferry_test_support::wizard`). The dashboard is the notifier's; the wizard's calls reach
//! the mapper (registry, dry run, go-live), both connectors (connection tests, reference
//! data) and the notifier through the proxy; the settings chosen (revenue accounts from the
//! installation's turnover groups, lifecycle off) are read back through the mapper's settings
//! API. Afterwards the integration is live in the registry, the MailChimp connector has
//! synced it, and no credential is in any log.

use anyhow::Context;
use ferry_e2e::proxy::ReverseProxy;
use ferry_e2e::{
    Cluster, ClusterOptions, Integration, MAILCHIMP_API_KEY, MPLUSKASSA_IDENT, MPLUSKASSA_SECRET,
    ServiceKind,
};
use ferry_test_support::webdriver::{Browser, artifact_dir};
use ferry_test_support::wizard::{WizardRun, set_up_integration};

#[tokio::test]
async fn the_setup_wizard_goes_live_through_the_reverse_proxy() -> anyhow::Result<()> {
    let mut options = ClusterOptions::new("proxy_wizard");
    options.set_up_integration = false;
    // Two notifiers behind the proxy: the dashboard is served by either.
    options.instances_of.insert(ServiceKind::Notifier, 2);
    let seed = options.seed.clone();
    let mut cluster = Cluster::start(options, Integration::for_seed(&seed)).await?;
    let proxy = ReverseProxy::start(&cluster).await?;

    // Only the table's prefixes are served; health and metrics stay on the admin ports.
    for path in [
        "/metrics",
        "/api/v1/openapi.json",
        "/readyz",
        "/api/v1/integrationsx",
    ] {
        let status = cluster
            .http
            .get(format!("{}{path}", proxy.base))
            .send()
            .await?
            .status();
        assert_eq!(status, 404, "{path} must not be routed");
    }

    let mailchimp_url = cluster.sandbox.mailchimp_api();
    let mpluskassa_endpoint = cluster.sandbox.mpluskassa_endpoint();
    let browser = Browser::start().await;
    set_up_integration(
        &browser,
        &WizardRun {
            base: &proxy.base,
            token: &cluster.operator_token,
            name: "Proxy shop",
            mailchimp_url: &mailchimp_url,
            mailchimp_api_key: MAILCHIMP_API_KEY,
            store_id: "proxy-store",
            mpluskassa_endpoint: &mpluskassa_endpoint,
            mpluskassa_ident: MPLUSKASSA_IDENT,
            mpluskassa_secret: MPLUSKASSA_SECRET,
            shots: artifact_dir("proxy-wizard"),
        },
    )
    .await;
    browser.close().await;

    // The registry (read through the proxy, as the dashboard does) has it live.
    let list: serde_json::Value = cluster
        .http
        .get(format!("{}/api/v1/integrations", proxy.base))
        .bearer_auth(&cluster.read_token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let text = list.to_string();
    assert!(
        !text.contains(MAILCHIMP_API_KEY) && !text.contains(MPLUSKASSA_SECRET),
        "{text}"
    );
    let integration = list
        .as_array()
        .context("a list")?
        .iter()
        .find(|i| i["name"] == "Proxy shop")
        .context("the wizard's integration")?
        .clone();
    assert_eq!(integration["state"], "live", "{integration}");
    assert_eq!(integration["mailchimp"]["store_id"], "proxy-store");
    let id = integration["id"].as_str().context("an id")?.to_owned();

    // The connectors took it up at go-live: the MailChimp connector syncs it.
    cluster.wait_mailchimp_synced_for(&id).await?;

    // The wizard's calls to the mapper and both connectors went through the one address.
    let access = std::fs::read_to_string(cluster.log_dir().join("nginx/access.log"))?;
    assert!(
        access.contains("/api/v1/mpluskassa/integrations/")
            && access.contains("/api/v1/mailchimp/connection-test")
            && access.contains("/go-live"),
        "the wizard's calls went through the proxy"
    );
    for secret in [MAILCHIMP_API_KEY, MPLUSKASSA_SECRET] {
        assert!(
            cluster.logs_containing(secret).is_empty(),
            "a credential reached a log"
        );
    }
    let crashed = cluster.crashed();
    assert!(crashed.is_empty(), "{crashed:?}");
    drop(proxy);
    Ok(())
}
