//! `customer.upsert` and `customer.find`: e-commerce customers by e-mail, and (with the
//! integration's `audience_members`, off by default) audience members too.
//!
//! **Customers to the audience.** With `audience_members` set, a customer is first upserted
//! as a member of the store's audience (`PUT /lists/{list_id}/members/{subscriber_hash}`),
//! then as the store's customer (so a new member gets Ferry's status, not the one MailChimp
//! gives customers it adds itself). Consent-safe: a new member is `subscribed` only with the
//! customer's consent (`opted_in`), else the configured status (`transactional` by default,
//! or `pending`: MailChimp asks by e-mail); an existing member's status is never changed
//! (`status_if_new` only), so an unsubscribed member stays unsubscribed. Merge fields:
//! `FNAME`, `LNAME` (a company's contact person when the customer has no name of its own) and
//! `ADDRESS` (billing, else shipping address).

use ferry_mailchimp_wire::{self as wire, MergeValue};
use ferry_platform::connector::{CommandError, Cx, Executed, Xref};
use ferry_proto::messages::AudienceStatus;
use ferry_proto::messages::{CustomerFind, CustomerFound, CustomerUpsert, CustomerUpserted};
use ferry_proto::model::{Customer, CustomerKind};
use ferry_proto::{Email, System};

use super::{address, effect, external_id};
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

/// The body of `PUT customers/{id}` for customer `c`.
pub(super) fn customer_body(id: &str, c: &Customer) -> wire::Customer {
    wire::Customer {
        id: Some(id.to_owned()),
        email_address: Some(c.email.as_str().to_owned()),
        opt_in_status: Some(c.opted_in.unwrap_or(false)),
        first_name: c.first_name.as_ref().map(|n| n.as_str().to_owned()),
        last_name: c.last_name.as_ref().map(|n| n.as_str().to_owned()),
        company: match &c.kind {
            CustomerKind::Company { company_name, .. } => Some(company_name.as_str().to_owned()),
            CustomerKind::Person => None,
        },
        address: c
            .billing_address
            .as_ref()
            .or(c.shipping_address.as_ref())
            .map(address),
        ..wire::Customer::default()
    }
}

/// The body of `PUT /lists/{list_id}/members/{hash}` for customer `c`: consent-safe
/// `status_if_new` (see the module docs) and the merge fields FNAME, LNAME and ADDRESS.
pub(super) fn member_body(c: &Customer, without_consent: AudienceStatus) -> wire::Member {
    let status = if c.opted_in == Some(true) {
        "subscribed"
    } else {
        without_consent.as_str()
    };
    let contact = match &c.kind {
        CustomerKind::Company { contact, .. } => Some(contact),
        CustomerKind::Person => None,
    };
    let mut merges = wire::MergeFields::default();
    let first = c
        .first_name
        .as_ref()
        .or(contact.and_then(|p| p.first_name.as_ref()));
    let last = c
        .last_name
        .as_ref()
        .or(contact.and_then(|p| p.last_name.as_ref()));
    if let Some(n) = first {
        merges.insert("FNAME", MergeValue::Text(n.as_str().to_owned()));
    }
    if let Some(n) = last {
        merges.insert("LNAME", MergeValue::Text(n.as_str().to_owned()));
    }
    if let Some(a) = c.billing_address.as_ref().or(c.shipping_address.as_ref()) {
        let line = address(a);
        merges.insert(
            "ADDRESS",
            MergeValue::Address(wire::MergeAddress {
                addr1: line.address1,
                addr2: Some(String::new()),
                city: line.city,
                state: line.province,
                zip: line.postal_code,
                country: line.country_code,
            }),
        );
    }
    wire::Member {
        email_address: Some(c.email.as_str().to_owned()),
        status_if_new: Some(status.to_owned()),
        merge_fields: (!merges.is_empty()).then_some(merges),
        ..wire::Member::default()
    }
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
    if let Some(status) = integration.connection.audience_members {
        let path = format!(
            "{}/members/{}",
            integration.list_path(),
            subscriber_hash(email.as_str())
        );
        integration
            .client
            .put("members.put", &path, &member_body(customer, status))
            .await?;
    }
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
            .put("customers.put", &path, &customer_body(&id, customer))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn member_json(c: &Customer, without_consent: AudienceStatus) -> Value {
        serde_json::to_value(member_body(c, without_consent)).expect("member body")
    }

    fn customer(opted_in: Option<bool>) -> Customer {
        serde_json::from_value(json!({
            "email": "jan@example.nl", "kind": {"type": "person"},
            "first_name": "Jan", "last_name": "Jansen", "opted_in": opted_in,
            "billing_address": {"street": "Dorpsstraat", "house_number": "12", "house_number_suffix": "a",
                                "postcode": "1234 AB", "city": "Ons Dorp", "country": "NL"}
        }))
        .expect("customer")
    }

    #[test]
    fn a_member_is_subscribed_only_with_consent() {
        use AudienceStatus::{Pending, Transactional};
        let cases = [
            (None, Transactional, "transactional"),
            (Some(false), Transactional, "transactional"),
            (None, Pending, "pending"),
            (Some(false), Pending, "pending"),
            (Some(true), Transactional, "subscribed"),
            (Some(true), Pending, "subscribed"),
        ];
        for (opted_in, configured, expected) in cases {
            let body = member_json(&customer(opted_in), configured);
            assert_eq!(
                body["status_if_new"], expected,
                "{opted_in:?} {configured:?}"
            );
            assert!(
                body.get("status").is_none(),
                "an existing member keeps its status"
            );
        }
    }

    #[test]
    fn a_member_gets_name_and_address_merge_fields() {
        let body = member_json(&customer(None), AudienceStatus::Transactional);
        assert_eq!(body["email_address"], "jan@example.nl");
        assert_eq!(
            body["merge_fields"],
            json!({"FNAME": "Jan", "LNAME": "Jansen", "ADDRESS": {
                "addr1": "Dorpsstraat 12a", "addr2": "", "city": "Ons Dorp", "state": "",
                "zip": "1234 AB", "country": "NL"}})
        );
        let company: Customer = serde_json::from_value(json!({
            "email": "inkoop@example.nl",
            "kind": {"type": "company", "company_name": "Lampen BV",
                     "contact": {"first_name": "Piet", "last_name": "Bakker"}}
        }))
        .expect("company");
        let body = member_json(&company, AudienceStatus::Transactional);
        assert_eq!(
            body["merge_fields"],
            json!({"FNAME": "Piet", "LNAME": "Bakker"})
        );
        let bare: Customer =
            serde_json::from_value(json!({"email": "x@example.nl", "kind": {"type": "person"}}))
                .expect("bare");
        assert!(
            member_json(&bare, AudienceStatus::Transactional)
                .get("merge_fields")
                .is_none()
        );
    }
}
