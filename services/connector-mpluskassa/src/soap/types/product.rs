//! The catalogue: articles, the products that group them, and article groups (webshop
//! categories).

use ferry_mplusqapi::WireError;
use ferry_mplusqapi::records as wire;

use super::{required, string};

/// An article: one sellable item (one size/colour of a product).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Article {
    /// Article number.
    pub article_number: i64,
    /// PLU number (a SKU-like code).
    pub plu_number: String,
    /// Change marker.
    pub sync_marker: i64,
    /// Active (deleted articles turn inactive).
    pub active: bool,
    /// Description.
    pub description: String,
    /// Colour.
    pub colour: String,
    /// Size.
    pub size: String,
    /// Barcode (EAN).
    pub barcode: String,
    /// Brand.
    pub brand_name: String,
    /// Extra text.
    pub extra_text: String,
    /// Turnover group.
    pub turnover_group: i32,
    /// VAT code.
    pub vat_code: i32,
    /// VAT percentage as the installation writes it (see `Scale` of the VAT groups).
    pub vat_percentage: i64,
    /// Price including VAT, cents.
    pub price_incl: i64,
    /// Price excluding VAT, cents.
    pub price_excl: i64,
    /// Sold in the webshop.
    pub webshop: bool,
    /// Whether stock is kept.
    pub stock_article: bool,
}

impl Article {
    /// From a `tns:Article`.
    pub fn from_wire(a: wire::Article) -> Result<Self, WireError> {
        Ok(Self {
            article_number: required(a.article_number, "article", "articleNumber")?,
            plu_number: string(a.plu_number),
            sync_marker: a.sync_marker.unwrap_or(0),
            active: a.active.unwrap_or(true),
            description: string(a.description),
            colour: string(a.colour),
            size: string(a.size),
            barcode: string(a.barcode),
            brand_name: string(a.brand_name),
            extra_text: string(a.extra_text),
            turnover_group: a.turnover_group.unwrap_or(0),
            vat_code: a.vat_code.unwrap_or(0),
            vat_percentage: a.vat_percentage.unwrap_or(0),
            price_incl: a.price_incl.unwrap_or(0),
            price_excl: a.price_excl.unwrap_or(0),
            webshop: a.webshop.unwrap_or(false),
            stock_article: a.stock_article.unwrap_or(false),
        })
    }
}

/// A product: a group of articles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Product {
    /// Product number.
    pub product_number: i64,
    /// Change marker.
    pub sync_marker: i64,
    /// Description.
    pub description: String,
    /// Extra text (long description).
    pub extra_text: String,
    /// Its articles.
    pub articles: Vec<Article>,
    /// Article groups (categories) it belongs to.
    pub group_numbers: Vec<i32>,
}

impl Product {
    /// From a `tns:Product`.
    pub fn from_wire(p: wire::Product) -> Result<Self, WireError> {
        let articles = p
            .article_list
            .map(|l| l.article.into_iter().map(Article::from_wire).collect())
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            product_number: p.product_number.unwrap_or(0),
            sync_marker: p.sync_marker.unwrap_or(0),
            description: string(p.description),
            extra_text: string(p.extra_text),
            articles,
            group_numbers: p.group_numbers,
        })
    }
}

/// An article group (webshop category); `parent` is 0 at the top.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleGroup {
    /// Group number.
    pub group_number: i32,
    /// Parent group number (0: top level); known from the tree's nesting.
    pub parent: i32,
    /// Change marker.
    pub sync_marker: i64,
    /// Name.
    pub name: String,
    /// Text.
    pub text: String,
    /// Deleted.
    pub is_deleted: bool,
}

impl ArticleGroup {
    /// Flattens a `tns:ArticleGroupList` (nested `subGroupList`s) into groups with parents.
    pub fn flatten(
        list: wire::ArticleGroupList,
        parent: i32,
        out: &mut Vec<ArticleGroup>,
    ) -> Result<(), WireError> {
        for g in list.article_groups {
            let number = required(g.group_number, "articleGroups", "groupNumber")?;
            out.push(ArticleGroup {
                group_number: number,
                parent,
                sync_marker: g.sync_marker.unwrap_or(0),
                name: string(Some(g.name)),
                text: string(Some(g.text)),
                is_deleted: g.is_deleted.unwrap_or(false),
            });
            Self::flatten(g.sub_group_list, number, out)?;
        }
        Ok(())
    }

    /// One group of a page of changes (flat: its sub groups are not in such an answer).
    pub fn from_wire(g: wire::ArticleGroup) -> Result<Self, WireError> {
        Ok(ArticleGroup {
            group_number: required(g.group_number, "articleGroups", "groupNumber")?,
            parent: 0,
            sync_marker: g.sync_marker.unwrap_or(0),
            name: string(Some(g.name)),
            text: string(Some(g.text)),
            is_deleted: g.is_deleted.unwrap_or(false),
        })
    }
}
