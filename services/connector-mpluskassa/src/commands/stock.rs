//! `stock.set`: an absolute quantity for one article.

use ferry_platform::connector::{CommandError, Cx, Done, Executed};
use ferry_proto::System;
use ferry_proto::messages::{ErrorCode, StockSet, StockSetDone};

use super::{articles_by_sku, check_sku};
use crate::integrations::Integration;
use crate::soap::requests::{ArticleWrite, ProductWrite};
use crate::store::kind;

pub(super) async fn stock_set(cx: &Cx<'_, Integration>, cmd: &StockSet) -> Executed<StockSetDone> {
    let integration = &**cx.integration;
    check_sku(integration.settings.sku_source, &cmd.sku)?;
    let found = articles_by_sku(integration, std::slice::from_ref(&cmd.sku)).await?;
    let Some((product, article)) = found.get(cmd.sku.as_str()).cloned() else {
        return Err(CommandError::permanent(
            ErrorCode::NotFound,
            format!("SKU {} does not exist in MplusKASSA", cmd.sku),
        ));
    };
    let branch = integration.settings.branch;
    if cmd.manage_stock != article.stock_article {
        integration
            .client
            .update_product(&ProductWrite {
                product_number: Some(product),
                articles: vec![ArticleWrite {
                    article_number: Some(article.article_number),
                    stock_article: Some(cmd.manage_stock),
                    ..ArticleWrite::default()
                }],
                ..ProductWrite::default()
            })
            .await?;
    }
    if cmd.manage_stock {
        integration
            .client
            .set_stock(branch, article.article_number, cmd.quantity.value(), None)
            .await?;
    }
    Ok(Done::new(StockSetDone {
        target: System::Mpluskassa,
        sku: cmd.sku.clone(),
        quantity: cmd.quantity,
        managed: cmd.manage_stock,
    })
    .xref(
        kind::ARTICLE,
        cmd.sku.as_str(),
        article.article_number.to_string(),
    ))
}
