//! Relations, products and article groups, each [`Paged`] (listed by sync marker): every
//! record converted to its canonical event, skipped (inactive, deleted) or parked.

use std::collections::HashMap;

use async_trait::async_trait;
use ferry_platform::connector::Xref;
use ferry_platform::connector::ingest::Batch;
use ferry_proto::System;
use ferry_proto::messages::{CategoryObserved, CustomerObserved, ProductObserved};

use super::IngestError;
use super::pass::{Paged, observe_or_park, park};
use crate::client::{Listed, MplusError};
use crate::convert;
use crate::integrations::Integration;
use crate::soap::Element;
use crate::soap::requests::{Page, ProductQuery};
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
impl Paged for Relations<'_> {
    type Record = mk::Relation;
    const ENTITY: &'static str = "customer";
    const KEY: &'static str = "relationNumber";

    async fn list(&self, page: Page) -> Result<Vec<Listed<mk::Relation>>, MplusError> {
        self.integration.client.relations(page).await
    }

    async fn convert(
        &mut self,
        r: mk::Relation,
        node: Element,
        batch: &mut Batch,
    ) -> Result<(), IngestError> {
        if !r.active {
            batch.skip();
            return Ok(());
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
impl Paged for Products<'_> {
    type Record = mk::Product;
    const ENTITY: &'static str = "product";
    const KEY: &'static str = "productNumber";

    async fn list(&self, page: Page) -> Result<Vec<Listed<mk::Product>>, MplusError> {
        let query = ProductQuery {
            page: Some(page),
            ..ProductQuery::default()
        };
        self.integration.client.products(&query).await
    }

    async fn convert(
        &mut self,
        p: mk::Product,
        node: Element,
        batch: &mut Batch,
    ) -> Result<(), IngestError> {
        let settings = &self.integration.settings;
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
impl Paged for Groups<'_> {
    type Record = mk::ArticleGroup;
    const ENTITY: &'static str = "category";
    const KEY: &'static str = "groupNumber";

    async fn list(&self, page: Page) -> Result<Vec<Listed<mk::ArticleGroup>>, MplusError> {
        self.integration.client.article_group_changes(page).await
    }

    async fn convert(
        &mut self,
        mut g: mk::ArticleGroup,
        node: Element,
        batch: &mut Batch,
    ) -> Result<(), IngestError> {
        if g.is_deleted {
            batch.skip();
            return Ok(());
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
        Ok(())
    }
}
