//! Stock levels as `stock.observed`: read since the last `stockId` in one call (not paged),
//! each level with the SKU of its article.

use std::collections::{HashMap, HashSet};

use ferry_proto::messages::StockObserved;
use ferry_proto::{Sku, System};

use super::pass::{EntityPass, observe_or_park, park, readable};
use super::{EntityReport, Ingest, IngestError};
use crate::client::Listed;
use crate::config::SkuSource;
use crate::convert;
use crate::integrations::Integration;
use crate::soap::requests::ProductQuery;
use crate::soap::types as mk;
use crate::store::{SyncEntity, XREFS, kind};

impl Ingest {
    /// Reads the stock changed after `cursor` and commits it as one page.
    pub(super) async fn sync_stock(
        &self,
        integration: &Integration,
        cursor: i64,
    ) -> Result<EntityReport, IngestError> {
        let settings = &integration.settings;
        let since = (cursor > 0).then_some(cursor + 1);
        let records = integration
            .client
            .stock(settings.branch, &[], since)
            .await?;
        if records.is_empty() {
            return Ok(EntityReport::default());
        }
        let pass = EntityPass::new(self, integration, SyncEntity::Stock, cursor);
        let mut batch = ferry_platform::connector::ingest::Checkpoint::batch(&pass);
        batch.reach(cursor);
        let skus = self.article_skus(integration, &records).await?;
        for (s, node) in readable(&mut batch, "stock", ("articleNumber", "stockId"), records) {
            let article = s.article_number.to_string();
            let Some(sku) = skus.get(&s.article_number).cloned() else {
                let why = format!("stock of article {article}: the article has no usable SKU");
                park(&mut batch, "stock", article, s.stock_id, why, &node);
                continue;
            };
            let at = ("stock", article.as_str(), s.stock_id);
            observe_or_park(
                &mut batch,
                at,
                &node,
                convert::stock(&s, sku),
                |stock, raw| StockObserved {
                    source: System::Mpluskassa,
                    stock,
                    raw,
                },
            );
        }
        if batch.position <= cursor && batch.is_empty() {
            return Ok(EntityReport::default());
        }
        pass.commit_page(&batch).await?;
        let mut report = EntityReport::default();
        report.add(&batch);
        Ok(report)
    }

    /// SKUs of the articles in a stock answer: from the cross-references the product pass
    /// recorded, else from `getProducts`.
    async fn article_skus(
        &self,
        integration: &Integration,
        records: &[Listed<mk::ArticleStock>],
    ) -> Result<HashMap<i64, Sku>, IngestError> {
        let numbers: HashSet<i64> = records
            .iter()
            .filter_map(|r| r.record.as_ref().ok().map(|s| s.article_number))
            .collect();
        let mut out = HashMap::new();
        if integration.settings.sku_source == SkuSource::ArticleNumber {
            for n in numbers {
                if let Ok(sku) = Sku::parse(&n.to_string()) {
                    out.insert(n, sku);
                }
            }
            return Ok(out);
        }
        let mut unknown = Vec::new();
        for n in numbers {
            match XREFS
                .by_id(self.db(), integration.id(), kind::ARTICLE, &n.to_string())
                .await?
                .and_then(|x| x.canonical_key)
            {
                Some(sku) => {
                    if let Ok(sku) = Sku::parse(&sku) {
                        out.insert(n, sku);
                    }
                }
                None => unknown.push(n),
            }
        }
        for chunk in unknown.chunks(500) {
            let query = ProductQuery {
                article_numbers: chunk.to_vec(),
                ..ProductQuery::default()
            };
            for (p, _) in integration
                .client
                .products(&query)
                .await?
                .into_iter()
                .filter_map(Listed::ok)
            {
                for a in p.articles {
                    if let Ok(sku) = convert::article_sku(SkuSource::PluNumber, &a) {
                        out.insert(a.article_number, sku);
                    }
                }
            }
        }
        Ok(out)
    }
}
