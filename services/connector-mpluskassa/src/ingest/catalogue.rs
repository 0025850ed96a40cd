//! Relations, products and article groups as the kit's [`Source`]s: listed by sync marker,
//! each record converted to its canonical event, skipped (inactive, deleted) or parked.

use std::collections::HashMap;

use async_trait::async_trait;
use ferry_platform::connector::Xref;
use ferry_platform::connector::ingest::{Batch, Listing, Source};
use ferry_proto::System;
use ferry_proto::messages::{CategoryObserved, CustomerObserved, ProductObserved};

use super::IngestError;
use super::pass::{listing, observe_or_park, page, park, readable};
use crate::client::Listed;
use crate::convert;
use crate::integrations::Integration;
use crate::soap::requests::ProductQuery;
use crate::soap::types::{self as mk, VatScale};
use crate::store::kind;

/// Relations as `customer.observed` (e-mail -> relation number learnt).
pub(super) struct Relations<'a> {
    integration: &'a Integration,
}

impl<'a> Relations<'a> {
    pub(super) fn new(integration: &'a Integration) -> Self {
        Self { integration }
    }
}

#[async_trait]
impl Source for Relations<'_> {
    type Record = Listed<mk::Relation>;
    type Error = IngestError;

    async fn list(&mut self, after: i64, limit: u32) -> Result<Listing<Self::Record>, IngestError> {
        let client = &self.integration.client;
        Ok(listing(client.relations(page(after, limit)).await?, limit))
    }

    async fn convert(
        &mut self,
        records: Vec<Self::Record>,
        batch: &mut Batch,
    ) -> Result<(), IngestError> {
        for (r, node) in readable(batch, "customer", ("relationNumber", "syncMarker"), records) {
            if !r.active {
                batch.skip();
                continue;
            }
            let number = r.relation_number.to_string();
            match convert::customer(&r) {
                Ok(customer) => {
                    let email = customer.email.to_string();
                    batch.xrefs.push(Xref::new(kind::RELATION, email, number));
                    batch.observe(CustomerObserved {
                        source: System::Mpluskassa,
                        customer,
                        raw: node.to_json(),
                    });
                }
                Err(why) => park(batch, "customer", number, r.sync_marker, why, &node),
            }
        }
        Ok(())
    }
}

/// Products (with their articles) as `product.observed` (SKU -> article number learnt).
pub(super) struct Products<'a> {
    integration: &'a Integration,
    scale: VatScale,
}

impl<'a> Products<'a> {
    /// Reads the installation's VAT scale once for the pass.
    pub(super) async fn new(integration: &'a Integration) -> Result<Self, IngestError> {
        let scale = integration.vat().await?.1;
        Ok(Self { integration, scale })
    }
}

#[async_trait]
impl Source for Products<'_> {
    type Record = Listed<mk::Product>;
    type Error = IngestError;

    async fn list(&mut self, after: i64, limit: u32) -> Result<Listing<Self::Record>, IngestError> {
        let query = ProductQuery {
            page: Some(page(after, limit)),
            ..ProductQuery::default()
        };
        Ok(listing(
            self.integration.client.products(&query).await?,
            limit,
        ))
    }

    async fn convert(
        &mut self,
        records: Vec<Self::Record>,
        batch: &mut Batch,
    ) -> Result<(), IngestError> {
        let settings = &self.integration.settings;
        for (p, node) in readable(batch, "product", ("productNumber", "syncMarker"), records) {
            match convert::product(&p, settings.sku_source, settings.currency, self.scale) {
                Ok(Some(product)) => {
                    for a in p.articles.iter().filter(|a| a.active) {
                        if let Ok(sku) = convert::article_sku(settings.sku_source, a) {
                            let number = a.article_number.to_string();
                            batch
                                .xrefs
                                .push(Xref::new(kind::ARTICLE, sku.to_string(), number));
                        }
                    }
                    batch.observe(ProductObserved {
                        source: System::Mpluskassa,
                        product,
                        raw: node.to_json(),
                    });
                }
                Ok(None) => batch.skip(),
                Err(why) => {
                    let number = p.product_number.to_string();
                    park(batch, "product", number, p.sync_marker, why, &node);
                }
            }
        }
        Ok(())
    }
}

/// Article groups as `category.observed`, each with its parent from the group tree.
pub(super) struct Groups<'a> {
    integration: &'a Integration,
    parents: HashMap<i32, i32>,
}

impl<'a> Groups<'a> {
    /// Reads the group tree once for the pass (changes do not carry the parent).
    pub(super) async fn new(integration: &'a Integration) -> Result<Self, IngestError> {
        let groups = integration.client.article_group_tree().await?;
        let parents = groups.iter().map(|g| (g.group_number, g.parent)).collect();
        Ok(Self {
            integration,
            parents,
        })
    }
}

#[async_trait]
impl Source for Groups<'_> {
    type Record = Listed<mk::ArticleGroup>;
    type Error = IngestError;

    async fn list(&mut self, after: i64, limit: u32) -> Result<Listing<Self::Record>, IngestError> {
        let client = &self.integration.client;
        Ok(listing(
            client.article_group_changes(page(after, limit)).await?,
            limit,
        ))
    }

    async fn convert(
        &mut self,
        records: Vec<Self::Record>,
        batch: &mut Batch,
    ) -> Result<(), IngestError> {
        for (mut g, node) in readable(batch, "category", ("groupNumber", "syncMarker"), records) {
            if g.is_deleted {
                batch.skip();
                continue;
            }
            g.parent = self.parents.get(&g.group_number).copied().unwrap_or(0);
            let key = g.group_number.to_string();
            let at = ("category", key.as_str(), g.sync_marker);
            observe_or_park(batch, at, &node, convert::category(&g), |category, raw| {
                CategoryObserved {
                    source: System::Mpluskassa,
                    category,
                    raw,
                }
            });
        }
        Ok(())
    }
}
