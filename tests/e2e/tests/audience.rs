//! Customers to the audience end to end (issue 18, item 6): the sandbox and the five services
//! as separate processes on RabbitMQ and PostgreSQL, customers MplusKASSA -> MailChimp with
//! `customers.audience` on.
//!
//! - Every MplusKASSA relation of the seed shop without an audience member becomes one, as
//!   `transactional` (no consent recorded in MplusKASSA), with FNAME, LNAME and ADDRESS.
//! - Members that exist keep their status (subscribed, pending) and get the address.
//! - A relation entered later at the shop becomes a `transactional` member.
//! - A member who unsubscribed in MailChimp stays unsubscribed when its relation changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, ensure};
use ferry_connector_mpluskassa::soap::requests::RelationWrite;
use ferry_e2e::{Cluster, ClusterOptions, Integration, System, eventually};
use ferry_sandbox::seed::Seed;
use reqwest::Method;
use serde_json::{Value, json};

/// Long enough for a flow on the loaded 2-core machine.
const FLOW_TIMEOUT: Duration = Duration::from_secs(90);

/// The audience members of the list, by lower-cased e-mail address.
async fn members(
    cluster: &Cluster,
    list_id: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, Value>> {
    let mc = cluster.sandbox.state(System::Mailchimp).await?;
    Ok(mc["lists"][list_id]["members"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, m)| {
            (
                m["email_address"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase(),
                m.clone(),
            )
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpluskassa_relations_become_audience_members_consent_safe() -> anyhow::Result<()> {
    let seed = Seed::default_shop();
    let mut integration = Integration::for_seed(&seed);
    integration.settings["flows"] = json!({
        "customers": {"enabled": true, "direction": "mpluskassa_to_mailchimp"}
    });
    integration.settings["customers"] = json!({"audience": {"enabled": true}});
    let cluster = Cluster::start(ClusterOptions::new("audience"), integration).await?;
    let list_id = seed.shop.list_id.clone();

    // The seed's relations: the new members transactional with their address, the existing
    // ones with their own status.
    let relations: Vec<_> = seed.customers.iter().filter(|c| c.in_mpluskassa).collect();
    let new: Vec<_> = relations
        .iter()
        .filter(|c| c.member_status.is_none())
        .collect();
    ensure!(new.len() >= 5, "the seed has relations without a member");
    let all = eventually(
        "every relation an audience member with its address",
        FLOW_TIMEOUT,
        || async {
            let all = members(&cluster, &list_id).await?;
            for c in &relations {
                let m = all.get(&c.email).context("a relation is no member yet")?;
                ensure!(
                    !m["merge_fields"]["ADDRESS"].is_null(),
                    "no address yet: {m}"
                );
            }
            Ok(all)
        },
    )
    .await?;
    for c in &relations {
        let m = &all[&c.email];
        let expected = c.member_status.map_or("transactional", |s| s.as_str());
        ensure!(
            m["status"] == expected,
            "{}: status {} (expected {expected})",
            c.email,
            m["status"]
        );
        let name = format!(
            "{} {}",
            m["merge_fields"]["FNAME"].as_str().unwrap_or_default(),
            m["merge_fields"]["LNAME"].as_str().unwrap_or_default()
        );
        ensure!(name == c.full_name(), "{}: name {name}", c.email);
        ensure!(
            m["merge_fields"]["ADDRESS"]["addr1"] == c.address.line1().as_str()
                && m["merge_fields"]["ADDRESS"]["zip"] == c.address.postcode.as_str()
                && m["merge_fields"]["ADDRESS"]["country"] == c.address.country_code.as_str(),
            "{}: address {}",
            c.email,
            m["merge_fields"]["ADDRESS"]
        );
    }

    // A relation entered at the shop later.
    let mk = cluster.sandbox.mpluskassa_client()?;
    mk.create_relation(&RelationWrite {
        name: "Fenna Visser".to_owned(),
        address: Some("Kerkstraat 5".to_owned()),
        zipcode: Some("1234 AB".to_owned()),
        city: Some("Ons Dorp".to_owned()),
        country: Some("NL".to_owned()),
        email: Some("fenna.visser@example.nl".to_owned()),
        ..RelationWrite::default()
    })
    .await?;
    let m = eventually("the new relation a member", FLOW_TIMEOUT, || async {
        members(&cluster, &list_id)
            .await?
            .remove("fenna.visser@example.nl")
            .context("not a member yet")
    })
    .await?;
    ensure!(m["status"] == "transactional", "{m}");
    ensure!(
        m["merge_fields"]["FNAME"] == "Fenna" && m["merge_fields"]["LNAME"] == "Visser",
        "{m}"
    );
    ensure!(
        m["merge_fields"]["ADDRESS"]["addr1"] == "Kerkstraat 5",
        "{m}"
    );

    // A subscriber unsubscribes in MailChimp; its relation then changes in MplusKASSA.
    let subscriber = relations
        .iter()
        .find(|c| c.member_status.is_some_and(|s| s.as_str() == "subscribed"))
        .context("a subscribed relation")?;
    let hash = all[&subscriber.email]["id"]
        .as_str()
        .context("member id")?
        .to_owned();
    cluster
        .sandbox
        .mailchimp(
            Method::PATCH,
            &format!("/lists/{list_id}/members/{hash}"),
            Some(&json!({"status": "unsubscribed"})),
        )
        .await?;
    mk.update_relation(&RelationWrite {
        relation_number: Some(i64::try_from(subscriber.relation_number)?),
        name: format!("{} Verhuisd", subscriber.first_name),
        address: Some("Nieuwe Weg 1".to_owned()),
        ..RelationWrite::default()
    })
    .await?;
    let m = eventually("the changed relation's member", FLOW_TIMEOUT, || async {
        let m = members(&cluster, &list_id)
            .await?
            .remove(&subscriber.email)
            .context("member gone")?;
        ensure!(
            m["merge_fields"]["ADDRESS"]["addr1"] == "Nieuwe Weg 1",
            "not updated yet: {}",
            m["merge_fields"]
        );
        Ok(m)
    })
    .await?;
    ensure!(
        m["status"] == "unsubscribed",
        "an unsubscribed member was resubscribed: {m}"
    );
    Ok(())
}
