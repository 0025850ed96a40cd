//! `customer.upsert` and `customer.find`: relations by e-mail.

use ferry_platform::connector::{Cx, Done, Executed};
use ferry_proto::System;
use ferry_proto::messages::{CustomerFind, CustomerFound, CustomerUpsert, CustomerUpserted};

use super::external_id;
use crate::client::MplusError;
use crate::convert;
use crate::integrations::Integration;
use crate::soap::types as mk;
use crate::store::kind;

/// The relation of an e-mail address: the number known from a previous command, checked,
/// else `findRelationV2` with `exactMatch`.
pub(super) async fn find_relation(
    integration: &Integration,
    known: Option<i64>,
    email: &str,
) -> Result<Option<mk::Relation>, MplusError> {
    if let Some(n) = known
        && let Some(r) = integration.client.relation(n).await?
        && r.email.eq_ignore_ascii_case(email)
    {
        return Ok(Some(r));
    }
    integration.client.find_relation_by_email(email).await
}

pub(super) async fn customer_upsert(
    cx: &Cx<'_, Integration>,
    cmd: &CustomerUpsert,
) -> Executed<CustomerUpserted> {
    let integration = &**cx.integration;
    let email = cmd.customer.email.as_str();
    let known = match cmd
        .existing_id
        .as_ref()
        .and_then(|id| id.as_str().parse().ok())
    {
        Some(n) => Some(n),
        None => cx
            .xref(kind::RELATION, email)
            .await?
            .and_then(|n| n.parse().ok()),
    };
    let existing = find_relation(integration, known, email).await?;
    let (number, created) = match &existing {
        Some(r) => {
            let write = convert::relation_write(&cmd.customer, Some(r));
            if !convert::relation_unchanged(&write, r) {
                integration.client.update_relation(&write).await?;
            }
            (r.relation_number, false)
        }
        None => {
            let write = convert::relation_write(&cmd.customer, None);
            (integration.client.create_relation(&write).await?, true)
        }
    };
    let target_id = external_id(number)?;
    Ok(Done::new(CustomerUpserted {
        target: System::Mpluskassa,
        email: cmd.customer.email.clone(),
        target_id,
        created,
    })
    .xref(kind::RELATION, email, number.to_string()))
}

pub(super) async fn customer_find(
    cx: &Cx<'_, Integration>,
    cmd: &CustomerFind,
) -> Executed<CustomerFound> {
    let integration = &**cx.integration;
    let found = integration
        .client
        .find_relation_by_email(cmd.email.as_str())
        .await?;
    let mut done = Done::new(CustomerFound {
        target: System::Mpluskassa,
        email: cmd.email.clone(),
        found: found
            .as_ref()
            .map(|r| external_id(r.relation_number))
            .transpose()?,
    });
    if let Some(r) = found {
        done = done.xref(
            kind::RELATION,
            cmd.email.as_str(),
            r.relation_number.to_string(),
        );
    }
    Ok(done)
}
