//! The catalogue: products read by query or page and written with their articles
//! (`ProductWrite`, `ArticleWrite`), and article groups.

use ferry_mplusqapi::ops::{self, Text, TextList};
use ferry_mplusqapi::records as wire;

use super::{Page, text};

/// Which products `getProducts` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductQuery {
    /// Products with these articles.
    pub article_numbers: Vec<i64>,
    /// Products with articles of these PLU numbers.
    pub plu_numbers: Vec<String>,
    /// A sync-marker page.
    pub page: Option<Page>,
    /// Return every article of a selected product, not only the matching ones.
    pub include_all_articles: bool,
    /// These products.
    pub product_numbers: Vec<i64>,
}

/// `getProducts`.
pub fn get_products(q: &ProductQuery) -> ops::GetProducts {
    ops::GetProducts {
        request: ops::GetProductsRequest {
            article_numbers: q.article_numbers.clone(),
            plu_numbers: TextList {
                text: q
                    .plu_numbers
                    .iter()
                    .map(|p| Text { text: p.clone() })
                    .collect(),
            },
            sync_marker: q.page.map(|p| p.from),
            sync_marker_limit: q.page.map(Page::limit),
            include_all_articles_of_selected_products: q.include_all_articles.then_some(true),
            product_numbers: q.product_numbers.clone(),
        },
    }
}

/// An article as Ferry writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleWrite {
    /// Existing article (update) or a chosen number (create); `None`: numbered by the server.
    pub article_number: Option<i64>,
    /// PLU number.
    pub plu_number: Option<String>,
    /// Active.
    pub active: Option<bool>,
    /// Description.
    pub description: Option<String>,
    /// Colour.
    pub colour: Option<String>,
    /// Size.
    pub size: Option<String>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Extra text.
    pub extra_text: Option<String>,
    /// Turnover group.
    pub turnover_group: Option<i32>,
    /// VAT code.
    pub vat_code: Option<i32>,
    /// Price including VAT, cents.
    pub price_incl: Option<i64>,
    /// Price excluding VAT, cents.
    pub price_excl: Option<i64>,
    /// Webshop article.
    pub webshop: Option<bool>,
    /// Stock is kept.
    pub stock_article: Option<bool>,
}

impl ArticleWrite {
    fn to_wire(&self) -> wire::Article {
        wire::Article {
            article_number: self.article_number,
            plu_number: text(&self.plu_number),
            active: self.active,
            description: text(&self.description),
            colour: text(&self.colour),
            size: text(&self.size),
            barcode: text(&self.barcode),
            extra_text: text(&self.extra_text),
            turnover_group: self.turnover_group,
            vat_code: self.vat_code,
            price_incl: self.price_incl,
            price_excl: self.price_excl,
            webshop: self.webshop,
            stock_article: self.stock_article,
            ..wire::Article::default()
        }
    }
}

/// A product as Ferry writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductWrite {
    /// Existing product (update).
    pub product_number: Option<i64>,
    /// Description.
    pub description: Option<String>,
    /// Extra text.
    pub extra_text: Option<String>,
    /// Articles.
    pub articles: Vec<ArticleWrite>,
    /// Article groups; `None` leaves them alone.
    pub group_numbers: Option<Vec<i32>>,
}

impl ProductWrite {
    fn to_wire(&self) -> wire::Product {
        wire::Product {
            product_number: self.product_number,
            description: text(&self.description),
            extra_text: text(&self.extra_text),
            article_list: Some(wire::ArticleList {
                article: self.articles.iter().map(ArticleWrite::to_wire).collect(),
            }),
            group_numbers: self.group_numbers.clone().unwrap_or_default(),
            ..wire::Product::default()
        }
    }
}

/// `createProduct`.
pub fn create_product(p: &ProductWrite) -> ops::CreateProduct {
    ops::CreateProduct {
        product: p.to_wire(),
    }
}

/// `updateProduct` (`product_number` must be set).
pub fn update_product(p: &ProductWrite) -> ops::UpdateProduct {
    ops::UpdateProduct {
        product: p.to_wire(),
    }
}

/// `getArticleGroups`: the tree (no page) or the changed groups of a page.
pub fn get_article_groups(page: Option<Page>) -> ops::GetArticleGroups {
    ops::GetArticleGroups {
        request: ops::GetArticleGroupsRequest {
            sync_marker: page.map(|p| p.from),
            sync_marker_limit: page.map(Page::limit),
            ..ops::GetArticleGroupsRequest::default()
        },
    }
}

/// `newArticleGroup`.
pub fn new_article_group(parent: i32, name: &str, text: &str) -> ops::NewArticleGroup {
    ops::NewArticleGroup {
        request: ops::NewArticleGroupRequest {
            parent_group_number: parent,
            name: name.to_owned(),
            text: text.to_owned(),
        },
    }
}

/// `updateArticleGroup`.
pub fn update_article_group(
    number: i32,
    name: &str,
    text: &str,
    parent: i32,
) -> ops::UpdateArticleGroup {
    ops::UpdateArticleGroup {
        request: ops::UpdateArticleGroupRequest {
            group_number: number,
            name: name.to_owned(),
            text: text.to_owned(),
            parent_group_number: parent,
        },
    }
}
