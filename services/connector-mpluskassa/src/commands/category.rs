//! `category.upsert`: article groups by the source's category key.

use ferry_platform::connector::{CommandError, Cx, Done, Executed};
use ferry_proto::System;
use ferry_proto::messages::{CategoryUpsert, CategoryUpserted, ErrorCode, FailureInfo};

use super::external_id;
use crate::integrations::Integration;
use crate::store::kind;

pub(super) async fn category_upsert(
    cx: &Cx<'_, Integration>,
    cmd: &CategoryUpsert,
) -> Executed<CategoryUpserted> {
    let integration = &**cx.integration;
    let c = &cmd.category;
    let tree = integration.client.article_group_tree().await?;
    // Category keys belong to the source system: a key is never read as a group number. The
    // group of a key is the one recorded for it (if it still exists).
    let recorded = async |key: &str| -> Result<Option<i32>, CommandError> {
        Ok(cx
            .xref(kind::CATEGORY, key)
            .await?
            .and_then(|g| g.parse::<i32>().ok())
            .filter(|g| tree.iter().any(|t| t.group_number == *g && !t.is_deleted)))
    };
    let parent = match &c.parent {
        None => 0,
        Some(key) => match recorded(key.as_str()).await? {
            Some(n) => n,
            None => {
                return Err(CommandError::Transient(
                    FailureInfo::new(
                        ErrorCode::NotFound,
                        format!(
                            "the parent category {key} of category {} is not in MplusKASSA yet",
                            c.key
                        ),
                    )
                    .with_retryable(true),
                ));
            }
        },
    };
    // Else a group with the same name under the same parent, so a creation whose answer was
    // lost is found instead of repeated.
    let existing = match recorded(c.key.as_str()).await? {
        Some(n) => Some(n),
        None => tree
            .iter()
            .find(|g| {
                !g.is_deleted && g.parent == parent && g.name.eq_ignore_ascii_case(c.name.as_str())
            })
            .map(|g| g.group_number),
    };
    let (number, created) = match existing {
        Some(n) => {
            integration
                .client
                .update_article_group(n, c.name.as_str(), parent)
                .await?;
            (n, false)
        }
        None => (
            integration
                .client
                .new_article_group(parent, c.name.as_str())
                .await?,
            true,
        ),
    };
    Ok(Done::new(CategoryUpserted {
        target: System::Mpluskassa,
        key: c.key.clone(),
        target_id: external_id(number)?,
        created,
    })
    .xref(kind::CATEGORY, c.key.as_str(), number.to_string()))
}
