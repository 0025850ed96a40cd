//! Article groups: the webshop category tree, and the products in each group.

use super::{Ctx, page};
use crate::mpluskassa::model::ArticleGroup;
use crate::mpluskassa::render;
use crate::mpluskassa::store::Store;
use crate::mpluskassa::xml::XmlError;
use ferry_mplusqapi::ops;
use ferry_mplusqapi::records as wire;

fn group_articles(store: &Store, g: &ArticleGroup) -> Vec<i64> {
    g.product_numbers
        .iter()
        .filter_map(|p| store.products.get(p))
        .flat_map(|p| p.articles.iter().map(|a| a.article_number))
        .collect()
}

fn build_tree(store: &Store, g: &ArticleGroup, with_articles: bool) -> wire::ArticleGroup {
    let mut children: Vec<&ArticleGroup> = store
        .article_groups
        .values()
        .filter(|c| c.parent_group_number == g.group_number)
        .collect();
    children.sort_by_key(|c| (c.sort_order, c.group_number));
    let articles = with_articles.then(|| group_articles(store, g));
    let sub_groups = children
        .iter()
        .map(|c| build_tree(store, c, with_articles))
        .collect();
    render::article_group_wire(g, sub_groups, articles.as_deref())
}

/// Without `syncMarker`: the tree (top-level groups, optionally filtered, with nested
/// `subGroupList`s). With `syncMarker`: the changed groups as a flat page, by marker.
pub fn get_article_groups(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::GetArticleGroups>()?.request;
    let marker = req.sync_marker;
    let limit = req.sync_marker_limit;
    let filter = req.group_numbers;
    let with_articles = req.retrieve_article_numbers.unwrap_or(false);
    let store = &*cx.store;
    cx.w.elem("articleGroupList", |w| {
        if marker.is_some() {
            let changed = page(
                store.article_groups.values().map(|g| (g.sync_marker, g)),
                marker,
                limit,
            );
            for g in changed {
                let articles = with_articles.then(|| group_articles(store, g));
                let group = render::article_group_wire(g, Vec::new(), articles.as_deref());
                render::article_group(w, &group);
            }
        } else {
            let mut top: Vec<&ArticleGroup> = store
                .article_groups
                .values()
                .filter(|g| g.parent_group_number == 0 && !g.is_deleted)
                .filter(|g| filter.is_empty() || filter.contains(&g.group_number))
                .collect();
            top.sort_by_key(|g| (g.sort_order, g.group_number));
            for g in top {
                render::article_group(w, &build_tree(store, g, with_articles));
            }
        }
    });
    Ok(())
}

pub fn new_article_group(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::NewArticleGroup>()?.request;
    let sort_order = cx
        .request::<ops::Request<ops::ArticleGroupFields>>()?
        .request
        .sort_order;
    let (parent, name, text) = (req.parent_group_number, req.name, req.text);
    let store = cx.store;
    if parent != 0
        && store
            .article_groups
            .get(&parent)
            .is_none_or(|g| g.is_deleted)
    {
        cx.w.leaf("result", "NEW-ARTICLE-GROUP-RESULT-PARENT-NOTFOUND");
        cx.w.leaf("groupNumber", 0);
        return Ok(());
    }
    if name.trim().is_empty() {
        cx.w.leaf("result", "NEW-ARTICLE-GROUP-RESULT-FAILED");
        cx.w.leaf("groupNumber", 0);
        return Ok(());
    }
    let number = store.take_group_number();
    let sort_order = sort_order.unwrap_or_else(|| {
        store
            .article_groups
            .values()
            .filter(|g| g.parent_group_number == parent)
            .map(|g| g.sort_order + 1)
            .max()
            .unwrap_or(1)
    });
    let sync_marker = store.next_group_marker();
    store.article_groups.insert(
        number,
        ArticleGroup {
            group_number: number,
            parent_group_number: parent,
            sync_marker,
            name,
            text,
            sort_order,
            ..ArticleGroup::default()
        },
    );
    cx.w.leaf("result", "NEW-ARTICLE-GROUP-RESULT-OK");
    cx.w.leaf("groupNumber", number);
    Ok(())
}

pub fn update_article_group(cx: Ctx<'_>) -> Result<(), XmlError> {
    let number = cx
        .request::<ops::UpdateArticleGroup>()?
        .request
        .group_number;
    let req = cx
        .request::<ops::Request<ops::ArticleGroupFields>>()?
        .request;
    let parent = req.parent_group_number;
    let store = cx.store;
    let Some(mut group) = store
        .article_groups
        .get(&number)
        .filter(|g| !g.is_deleted)
        .cloned()
    else {
        cx.w.leaf("result", "SAVE-ARTICLE-GROUP-RESULT-NOT-FOUND");
        return Ok(());
    };
    if let Some(parent) = parent {
        // The new parent must exist and must not be the group itself or one of its descendants.
        let mut cursor = parent;
        let mut valid = parent == 0 || store.article_groups.contains_key(&parent);
        while valid && cursor != 0 {
            if cursor == number {
                valid = false;
            }
            cursor = store
                .article_groups
                .get(&cursor)
                .map(|g| g.parent_group_number)
                .unwrap_or(0);
        }
        if !valid {
            cx.w.leaf("result", "SAVE-ARTICLE-GROUP-RESULT-FAILED");
            return Ok(());
        }
        group.parent_group_number = parent;
    }
    if let Some(v) = req.name {
        group.name = v;
    }
    if let Some(v) = req.text {
        group.text = v;
    }
    if let Some(v) = req.sort_order {
        group.sort_order = v;
    }
    group.sync_marker = store.next_group_marker();
    store.article_groups.insert(number, group);
    cx.w.leaf("result", "SAVE-ARTICLE-GROUP-RESULT-OK");
    Ok(())
}

pub fn add_products_to_article_group(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::AddProductsToArticleGroup>()?.request;
    let number = req.group_number;
    let position = req.position;
    let products = req.product_numbers.number;
    let store = cx.store;
    if store
        .article_groups
        .get(&number)
        .is_none_or(|g| g.is_deleted)
    {
        cx.w.leaf("result", "ADD-PRODUCTS-TO-ARTICLE-GROUP-RESULT-NOT-FOUND");
        return Ok(());
    }
    if products.iter().any(|p| !store.products.contains_key(p)) {
        cx.w.leaf("result", "ADD-PRODUCTS-TO-ARTICLE-GROUP-RESULT-FAILED");
        return Ok(());
    }
    let marker = store.next_group_marker();
    if let Some(group) = store.article_groups.get_mut(&number) {
        let mut at = position
            .and_then(|p| usize::try_from(p).ok())
            .map_or(group.product_numbers.len(), |p| {
                p.min(group.product_numbers.len())
            });
        for p in &products {
            if !group.product_numbers.contains(p) {
                group.product_numbers.insert(at, *p);
                at += 1;
            }
        }
        group.sync_marker = marker;
    }
    let article_marker = store.next_article_marker();
    for p in &products {
        if let Some(product) = store.products.get_mut(p)
            && !product.group_numbers.contains(&number)
        {
            product.group_numbers.push(number);
            product.sync_marker = article_marker;
        }
    }
    cx.w.leaf("result", "ADD-PRODUCTS-TO-ARTICLE-GROUP-RESULT-OK");
    Ok(())
}
