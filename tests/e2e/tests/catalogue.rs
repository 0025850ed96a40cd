//! Whole catalogues end to end (issue 18, item 4): the sandbox and the five services as
//! separate processes on RabbitMQ and PostgreSQL, a product of 120 variants both ways, with
//! "overwrite existing" off.
//!
//! - MplusKASSA -> MailChimp: a product of 120 articles (colour, size, barcode) becomes one
//!   MailChimp product with 120 variants (50 inline, the rest on the variants endpoint), each
//!   titled with its attributes (the default mapping). Two articles added later arrive as two
//!   new variants, while the description enriched in MailChimp stays (overwrite off).
//! - MailChimp -> MplusKASSA: a MailChimp product of 120 variants (read past the 50 inline)
//!   becomes one MplusKASSA product with 120 articles; a variant added later in MailChimp
//!   becomes a new article of it, the product's description kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, ensure};
use ferry_connector_mpluskassa::soap::requests::{ArticleWrite, ProductWrite};
use ferry_e2e::{Cluster, ClusterOptions, Integration, ServiceKind, System, eventually, mc_store};
use ferry_sandbox::seed::{Seed, ean13};
use reqwest::Method;
use serde_json::{Value, json};

/// Long enough for a flow of a large product on the loaded 2-core machine.
const FLOW_TIMEOUT: Duration = Duration::from_secs(120);

const COLOURS: [&str; 4] = ["red", "blue", "green", "black"];

/// Article `i` of the test shirt: PLU `881{i:04}`, a colour and a size, a barcode.
fn article(i: u64) -> ArticleWrite {
    ArticleWrite {
        article_number: None,
        plu_number: Some(format!("881{i:04}")),
        active: Some(true),
        description: Some("E2E Shirt".to_owned()),
        colour: Some(COLOURS[(i % 4) as usize].to_owned()),
        size: Some(format!("{}", 30 + i / 4)),
        barcode: Some(ean13(871_999_000_000 + i)),
        extra_text: None,
        turnover_group: Some(10),
        vat_code: Some(1),
        price_incl: Some(2995),
        price_excl: None,
        webshop: Some(true),
        stock_article: Some(true),
    }
}

/// Waits until MailChimp's product `id` has `n` variants; answers it with all its variants
/// by id (the sandbox's state).
async fn until_mc_variants(
    cluster: &Cluster,
    store_id: &str,
    id: &str,
    n: usize,
) -> anyhow::Result<Value> {
    eventually(
        &format!("{n} variants of product {id} in MailChimp"),
        FLOW_TIMEOUT,
        || async {
            let mc = cluster.sandbox.state(System::Mailchimp).await?;
            let p = mc_store(&mc, store_id)["products"][id].clone();
            let found = p["variants"].as_object().map_or(0, serde_json::Map::len);
            ensure!(found == n, "{found} variants in MailChimp");
            Ok(p)
        },
    )
    .await
}

/// The MplusKASSA product holding the article with PLU `plu`, if any.
async fn mk_product_of(cluster: &Cluster, plu: &str) -> anyhow::Result<Option<Value>> {
    let mk = cluster.sandbox.state(System::Mpluskassa).await?;
    Ok(mk["products"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, p)| p)
        .find(|p| {
            p["articles"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["plu_number"] == plu)
        })
        .cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_of_120_variants_both_ways() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let mut integration = Integration::for_seed(&seed);
    integration.settings["products"] = json!({"overwrite_existing": false});
    let mut settings = integration.settings.clone();
    let cluster = Cluster::start(ClusterOptions::new("catalogue"), integration).await?;
    let store_id = seed.shop.store_id.clone();
    let mk = cluster.sandbox.mpluskassa_client()?;

    // --- MplusKASSA -> MailChimp: 120 articles become 120 variants. ----------------------
    let (number, _) = mk
        .create_product(&ProductWrite {
            product_number: None,
            description: Some("E2E Shirt".to_owned()),
            extra_text: None,
            articles: (1..=120).map(article).collect(),
            group_numbers: None,
        })
        .await?;
    let id = number.to_string();
    let product = until_mc_variants(&cluster, &store_id, &id, 120).await?;
    let v = &product["variants"]["8810100"]["data"];
    ensure!(v["sku"] == "8810100", "variant past the 50th: {v}");
    ensure!(
        v["title"] == "E2E Shirt - red / 55",
        "attributes in the variant title: {v}"
    );
    // The API itself shows 50 inline and pages the rest.
    let inline = cluster
        .sandbox
        .mailchimp(
            Method::GET,
            &format!("/ecommerce/stores/{store_id}/products/{id}"),
            None,
        )
        .await?;
    ensure!(inline["variants"].as_array().map(Vec::len) == Some(50));

    // Overwrite off: enriched in MailChimp, grown in MplusKASSA.
    cluster
        .sandbox
        .mailchimp(
            Method::PATCH,
            &format!("/ecommerce/stores/{store_id}/products/{id}"),
            Some(&json!({"description": "Enriched in MailChimp"})),
        )
        .await?;
    mk.update_product(&ProductWrite {
        product_number: Some(number),
        description: None,
        extra_text: None,
        articles: (121..=122).map(article).collect(),
        group_numbers: None,
    })
    .await?;
    let product = until_mc_variants(&cluster, &store_id, &id, 122).await?;
    ensure!(
        product["rec"]["data"]["description"] == "Enriched in MailChimp",
        "overwrite off kept the description: {}",
        product["rec"]["data"]
    );
    ensure!(
        product["variants"]["8810122"]["data"]["title"] == "E2E Shirt - green / 60",
        "the new variant: {}",
        product["variants"]["8810122"]
    );

    // --- MailChimp -> MplusKASSA: 120 variants become 120 articles. ----------------------
    settings["flows"] =
        json!({"products": {"enabled": true, "direction": "mailchimp_to_mpluskassa"}});
    cluster
        .admin(
            Method::PUT,
            ServiceKind::Mapper,
            &format!("/api/v1/integrations/{}/settings", cluster.integration.id),
            Some(&json!({"document": settings, "comment": "products from MailChimp"})),
        )
        .await?;
    let variants: Vec<Value> = (1..=120)
        .map(|i| {
            let sku = format!("552{i:04}");
            json!({"id": sku, "sku": sku, "title": format!("E2E Cap {i}"), "price": 12.5})
        })
        .collect();
    cluster
        .sandbox
        .mailchimp(
            Method::PUT,
            &format!("/ecommerce/stores/{store_id}/products/5520"),
            Some(&json!({"id": "5520", "title": "E2E Cap", "variants": variants})),
        )
        .await?;
    let mk_cap = eventually(
        "the 120-article product in MplusKASSA",
        FLOW_TIMEOUT,
        || async {
            let p = mk_product_of(&cluster, "5520001")
                .await?
                .context("not in MplusKASSA yet")?;
            let n = p["articles"].as_array().map_or(0, Vec::len);
            ensure!(n == 120, "{n} articles in MplusKASSA");
            Ok(p)
        },
    )
    .await?;
    ensure!(
        mk_cap["articles"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["plu_number"] == "5520120" && a["description"] == "E2E Cap 120"),
        "the last variant, past the 50 inline: {mk_cap}"
    );

    // Overwrite off: a variant added in MailChimp is a new article; the product is kept.
    cluster
        .sandbox
        .mailchimp(
            Method::PUT,
            &format!("/ecommerce/stores/{store_id}/products/5520/variants/5520121"),
            Some(
                &json!({"id": "5520121", "sku": "5520121", "title": "E2E Cap 121", "price": 12.5}),
            ),
        )
        .await?;
    cluster
        .sandbox
        .mailchimp(
            Method::PATCH,
            &format!("/ecommerce/stores/{store_id}/products/5520"),
            Some(&json!({"title": "E2E Cap renamed in MailChimp"})),
        )
        .await?;
    let mk_cap = eventually("the new variant in MplusKASSA", FLOW_TIMEOUT, || async {
        let p = mk_product_of(&cluster, "5520121")
            .await?
            .context("not in MplusKASSA yet")?;
        Ok(p)
    })
    .await?;
    ensure!(
        mk_cap["articles"].as_array().map(Vec::len) == Some(121),
        "one product, 121 articles: {mk_cap}"
    );
    ensure!(
        mk_cap["description"] == "E2E Cap",
        "overwrite off kept the description: {}",
        mk_cap["description"]
    );
    Ok(())
}
