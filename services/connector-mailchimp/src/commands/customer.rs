//! `customer.upsert` and `customer.find`: e-commerce customers by e-mail.

use ferry_platform::connector::{CommandError, Cx, Executed, Xref};
use ferry_proto::messages::{CustomerFind, CustomerFound, CustomerUpsert, CustomerUpserted};
use ferry_proto::model::{Customer, CustomerKind};
use ferry_proto::{Email, System};
use serde_json::{Map, Value, json};

use super::{address_json, effect, external_id};
use crate::client::{ClientError, segment, subscriber_hash};
use crate::integrations::Integration;
use crate::records;
use crate::store::XrefKind;

/// The id of the e-commerce customer with `email`, looked up in MailChimp.
async fn find_customer(
    integration: &Integration,
    email: &Email,
) -> Result<Option<String>, ClientError> {
    let page = integration
        .client
        .page(
            "customers.find",
            &format!("{}/customers", integration.store_path()),
            "customers",
            &[
                ("email_address", email.as_str().to_owned()),
                ("fields", "customers.id,total_items".into()),
            ],
            0,
            1,
        )
        .await?;
    Ok(page.items.first().and_then(records::id_of))
}

pub(super) fn customer_json(id: &str, c: &Customer) -> Value {
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    body.insert("email_address".into(), json!(c.email.as_str()));
    body.insert("opt_in_status".into(), json!(c.opted_in.unwrap_or(false)));
    if let Some(n) = &c.first_name {
        body.insert("first_name".into(), json!(n.as_str()));
    }
    if let Some(n) = &c.last_name {
        body.insert("last_name".into(), json!(n.as_str()));
    }
    if let CustomerKind::Company { company_name, .. } = &c.kind {
        body.insert("company".into(), json!(company_name.as_str()));
    }
    if let Some(a) = c.billing_address.as_ref().or(c.shipping_address.as_ref()) {
        body.insert("address".into(), address_json(a));
    }
    Value::Object(body)
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, email = %cmd.customer.email.masked()))]
pub(super) async fn customer_upsert(
    cx: &Cx<'_, Integration>,
    cmd: &CustomerUpsert,
) -> Executed<CustomerUpserted> {
    let integration = &**cx.integration;
    integration.ensure_store().await?;
    let customer = &cmd.customer;
    let email = &customer.email;
    let known = match &cmd.existing_id {
        Some(id) => Some(id.to_string()),
        None => find_customer(integration, email).await?,
    };
    let created = known.is_none();
    // A new customer's id: stable per e-mail, so a retried upsert hits the same record.
    let mut id = known.unwrap_or_else(|| subscriber_hash(email.as_str()));
    let mut attempt = 0;
    let saved = loop {
        let path = format!("{}/customers/{}", integration.store_path(), segment(&id));
        match integration
            .client
            .put("customers.put", &path, &customer_json(&id, customer))
            .await
        {
            Ok(saved) => break saved,
            // The e-mail belongs to another customer id (created meanwhile): use that one.
            Err(ClientError::Rejected {
                status: 400,
                ref detail,
                ..
            }) if attempt == 0 && detail.contains("already exists") => {
                attempt += 1;
                match find_customer(integration, email).await? {
                    Some(other) if other != id => id = other,
                    _ => {
                        return Err(CommandError::from(ClientError::Rejected {
                            op: "customers.put",
                            status: 400,
                            title: "Bad Request".into(),
                            detail: detail.clone(),
                            errors: Vec::new(),
                        }));
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    };
    let target_id = external_id(&id)?;
    effect(
        CustomerUpserted {
            target: System::Mailchimp,
            email: email.clone(),
            target_id,
            created,
        },
        vec![Xref {
            kind: XrefKind::Customer.as_str(),
            external_id: id,
            canonical_key: Some(email.to_string()),
            // Our own write is not observed again as a change.
            fingerprint: Some(records::fingerprint(&saved)),
        }],
    )
}

#[tracing::instrument(skip_all, fields(integration = %cx.integration_id, email = %cmd.email.masked()))]
pub(super) async fn customer_find(
    cx: &Cx<'_, Integration>,
    cmd: &CustomerFind,
) -> Executed<CustomerFound> {
    let integration = &**cx.integration;
    integration.ensure_store().await?;
    let found = find_customer(integration, &cmd.email).await?;
    let found = found.as_deref().map(external_id).transpose()?;
    effect(
        CustomerFound {
            target: System::Mailchimp,
            email: cmd.email.clone(),
            found,
        },
        Vec::new(),
    )
}
