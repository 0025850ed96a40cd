//! Products (groups of articles: one article per size/colour); their article groups are in
//! `groups`.

use std::collections::BTreeSet;

use super::{Ctx, page};
use crate::mpluskassa::model::{Article, MplusDateTime, Product};
use crate::mpluskassa::parse;
use crate::mpluskassa::render;
use crate::mpluskassa::store::Store;
use crate::mpluskassa::xml::{XmlError, XmlWriter};
use ferry_mplusqapi::ops;
use ferry_mplusqapi::records as wire;

fn ts_key(ts: &MplusDateTime) -> i64 {
    let minutes = ((i64::from(ts.year) * 12 + i64::from(ts.mon)) * 31 + i64::from(ts.day)) * 1440
        + i64::from(ts.hour) * 60
        + i64::from(ts.min)
        - i64::from(ts.timezone);
    minutes * 60 + i64::from(ts.sec)
}

pub fn get_products(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::GetProducts>()?.request;
    let filters = cx
        .request::<ops::Request<ops::GetProductsFilters>>()?
        .request;
    let article_numbers = req.article_numbers;
    let group_numbers = filters.group_numbers;
    let product_numbers = req.product_numbers;
    let plus: Vec<&str> = req
        .plu_numbers
        .text
        .iter()
        .map(|t| t.text.as_str())
        .collect();
    let only_webshop = filters.only_webshop.unwrap_or(false);
    let only_active = filters.only_active.unwrap_or(false);
    let include_all = req
        .include_all_articles_of_selected_products
        .unwrap_or(false);
    let changed_since = filters.changed_since_timestamp.map(|t| ts_key(&t));
    let article_filter = !article_numbers.is_empty() || !plus.is_empty();
    let mut selected: Vec<(i64, (&Product, Vec<&Article>))> = Vec::new();
    for p in cx.store.products.values() {
        if !product_numbers.is_empty() && !product_numbers.contains(&p.product_number) {
            continue;
        }
        if !group_numbers.is_empty() && !p.group_numbers.iter().any(|g| group_numbers.contains(g)) {
            continue;
        }
        let visible = |a: &&Article| (!only_active || a.active) && (!only_webshop || a.webshop);
        let matching: Vec<&Article> = p
            .articles
            .iter()
            .filter(visible)
            .filter(|a| {
                !article_filter
                    || article_numbers.contains(&a.article_number)
                    || plus.contains(&a.plu_number.as_str())
            })
            .filter(|a| {
                changed_since
                    .is_none_or(|since| a.change_timestamp.is_some_and(|t| ts_key(&t) >= since))
            })
            .collect();
        if matching.is_empty() {
            continue;
        }
        let articles = if include_all {
            p.articles.iter().filter(visible).collect()
        } else {
            matching
        };
        selected.push((p.sync_marker, (p, articles)));
    }
    let selected = page(selected.into_iter(), req.sync_marker, req.sync_marker_limit);
    cx.w.elem("productList", |w| {
        for (p, articles) in selected {
            render::product(w, p, &articles);
        }
    });
    Ok(())
}

/// Checks an article against the installation; `Err(message)` makes the call FAILED.
fn check_article(store: &Store, a: &Article, own_product: Option<i64>) -> Result<(), String> {
    if a.description.trim().is_empty() {
        return Err(format!("Article {} has no description.", a.article_number));
    }
    if store.turnover_group(a.turnover_group).is_none() {
        return Err(format!("Turnover group {} not found.", a.turnover_group));
    }
    if a.vat_code != 0 && store.vat_group(a.vat_code).is_none() {
        return Err(format!("VAT code {} not found.", a.vat_code));
    }
    if !a.plu_number.is_empty() {
        let clash = store.products.values().any(|p| {
            p.articles.iter().any(|o| {
                o.plu_number == a.plu_number
                    && !(Some(p.product_number) == own_product
                        && o.article_number == a.article_number)
            })
        });
        if clash {
            return Err(format!("PLU number {} is already in use.", a.plu_number));
        }
    }
    Ok(())
}

fn check_groups(store: &Store, groups: &[i32]) -> Result<(), String> {
    match groups
        .iter()
        .find(|g| !store.article_groups.contains_key(g))
    {
        Some(g) => Err(format!("Article group {g} not found.")),
        None => Ok(()),
    }
}

/// Keeps group membership on both sides (product.groupNumbers and group.productNumbers).
fn link_groups(store: &mut Store, product: i64, groups: &[i32]) {
    let mut changed = Vec::new();
    for g in groups {
        if let Some(group) = store.article_groups.get_mut(g)
            && !group.product_numbers.contains(&product)
        {
            group.product_numbers.push(product);
            changed.push(*g);
        }
    }
    for g in changed {
        let marker = store.next_group_marker();
        if let Some(group) = store.article_groups.get_mut(&g) {
            group.sync_marker = marker;
        }
    }
}

/// Copies the product's own fields that were sent (`groupNumbers` is a repeated element:
/// none sent leaves the groups alone).
fn product_fields(from: &wire::Product, p: &mut Product) {
    if let Some(v) = &from.description {
        p.description.clone_from(v);
    }
    if let Some(v) = &from.extra_text {
        p.extra_text.clone_from(v);
    }
    if !from.group_numbers.is_empty() {
        p.group_numbers.clone_from(&from.group_numbers);
    }
}

/// The articles of a product as sent.
fn sent_articles(from: &wire::Product) -> impl Iterator<Item = &wire::Article> {
    from.article_list.iter().flat_map(|l| &l.article)
}

pub fn create_product(cx: Ctx<'_>) -> Result<(), XmlError> {
    let node = cx.request::<ops::CreateProduct>()?.product;
    let store = cx.store;
    let w = cx.w;
    let fail = |w: &mut XmlWriter, result: &str, message: &str| {
        w.leaf("result", result);
        w.leaf("productNumber", 0);
        w.leaf("errorMessage", message);
    };
    let requested = node.product_number.filter(|n| *n > 0);
    if let Some(n) = requested
        && store.products.contains_key(&n)
    {
        fail(
            w,
            "CREATE-PRODUCT-RESULT-FAILED-PRODUCT-NUMBER-ALREADY-TAKEN",
            &format!("Product number {n} is already taken."),
        );
        return Ok(());
    }
    let mut product = Product::default();
    product_fields(&node, &mut product);
    let mut articles = Vec::new();
    let mut seen = BTreeSet::new();
    for a in sent_articles(&node) {
        let number = a.article_number.filter(|n| *n > 0);
        if let Some(n) = number
            && (store.article(n).is_some() || !seen.insert(n))
        {
            fail(
                w,
                "CREATE-PRODUCT-RESULT-FAILED-ARTICLE-NUMBER-ALREADY-TAKEN",
                &format!("Article number {n} is already taken."),
            );
            return Ok(());
        }
        let mut article = Article {
            active: true,
            stock_article: true,
            ..Article::default()
        };
        let prices = parse::apply_article(a, &mut article);
        article.article_number = number.unwrap_or(0);
        if article.description.is_empty() {
            article.description = product.description.clone();
        }
        articles.push((article, prices));
    }
    if articles.is_empty() {
        fail(
            w,
            "CREATE-PRODUCT-RESULT-FAILED",
            "A product needs at least one article.",
        );
        return Ok(());
    }
    let plus: Vec<&str> = articles
        .iter()
        .map(|(a, _)| a.plu_number.as_str())
        .filter(|p| !p.is_empty())
        .collect();
    let unique: BTreeSet<&str> = plus.iter().copied().collect();
    if unique.len() != plus.len() {
        fail(
            w,
            "CREATE-PRODUCT-RESULT-FAILED",
            "PLU numbers within a product must differ.",
        );
        return Ok(());
    }
    if product.description.trim().is_empty() {
        product.description = articles[0].0.description.clone();
    }
    let checks = check_groups(store, &product.group_numbers).and_then(|()| {
        articles
            .iter()
            .try_for_each(|(a, _)| check_article(store, a, None))
    });
    if let Err(message) = checks {
        fail(w, "CREATE-PRODUCT-RESULT-FAILED", &message);
        return Ok(());
    }
    let now = store.now();
    let marker = store.next_article_marker();
    product.product_number = requested.unwrap_or_else(|| store.take_product_number());
    product.sync_marker = marker;
    for (mut a, prices) in articles {
        if a.article_number == 0 {
            a.article_number = store.take_article_number();
        }
        a.sync_marker = marker;
        a.create_timestamp = Some(now);
        a.change_timestamp = Some(now);
        store.complete_prices(&mut a, prices.incl, prices.excl);
        product.articles.push(a);
    }
    w.leaf("result", "CREATE-PRODUCT-RESULT-OK");
    w.leaf("productNumber", product.product_number);
    for a in &product.articles {
        w.leaf("articleNumbers", a.article_number);
    }
    w.datetime("changeTimestamp", &now);
    w.leaf("syncMarker", marker);
    w.leaf("errorMessage", "");
    let groups = product.group_numbers.clone();
    let number = product.product_number;
    store.products.insert(number, product);
    link_groups(store, number, &groups);
    Ok(())
}

pub fn update_product(cx: Ctx<'_>) -> Result<(), XmlError> {
    let node = cx.request::<ops::UpdateProduct>()?.product;
    let store = cx.store;
    let w = cx.w;
    let fail = |w: &mut XmlWriter, result: &str, message: &str| {
        w.leaf("result", result);
        w.leaf("errorMessage", message);
    };
    let number = node.product_number.unwrap_or(0);
    let Some(existing) = store.products.get(&number) else {
        fail(
            w,
            "UPDATE-PRODUCT-RESULT-NOT-FOUND",
            &format!("Product {number} not found."),
        );
        return Ok(());
    };
    let mut product = existing.clone();
    product_fields(&node, &mut product);
    let mut existing_numbers = Vec::new();
    let mut new_articles = Vec::new();
    let mut touched = Vec::new();
    for a in sent_articles(&node) {
        match a.article_number.filter(|n| *n > 0) {
            Some(n) => match product.articles.iter_mut().find(|x| x.article_number == n) {
                Some(article) => {
                    let prices = parse::apply_article(a, article);
                    existing_numbers.push(n);
                    touched.push((n, prices));
                }
                None if store.article(n).is_some() => {
                    fail(
                        w,
                        "UPDATE-PRODUCT-RESULT-FAILED-ARTICLE-NUMBER-ALREADY-TAKEN",
                        &format!("Article number {n} belongs to another product."),
                    );
                    return Ok(());
                }
                None => {
                    let mut article = Article {
                        active: true,
                        stock_article: true,
                        ..Article::default()
                    };
                    let prices = parse::apply_article(a, &mut article);
                    article.article_number = n;
                    new_articles.push((article, prices));
                }
            },
            None => {
                let mut article = Article {
                    active: true,
                    stock_article: true,
                    ..Article::default()
                };
                let prices = parse::apply_article(a, &mut article);
                new_articles.push((article, prices));
            }
        }
    }
    for (a, _) in &mut new_articles {
        if a.description.is_empty() {
            a.description = product.description.clone();
        }
    }
    let all_plus: Vec<&str> = product
        .articles
        .iter()
        .chain(new_articles.iter().map(|(a, _)| a))
        .map(|a| a.plu_number.as_str())
        .filter(|p| !p.is_empty())
        .collect();
    if all_plus.iter().collect::<BTreeSet<_>>().len() != all_plus.len() {
        fail(
            w,
            "UPDATE-PRODUCT-RESULT-FAILED",
            "PLU numbers within a product must differ.",
        );
        return Ok(());
    }
    let checks = check_groups(store, &product.group_numbers).and_then(|()| {
        product
            .articles
            .iter()
            .filter(|a| touched.iter().any(|(n, _)| *n == a.article_number))
            .chain(new_articles.iter().map(|(a, _)| a))
            .try_for_each(|a| check_article(store, a, Some(number)))
    });
    if let Err(message) = checks {
        fail(w, "UPDATE-PRODUCT-RESULT-FAILED", &message);
        return Ok(());
    }
    let now = store.now();
    let marker = store.next_article_marker();
    product.sync_marker = marker;
    for (n, prices) in touched {
        if let Some(mut a) = product
            .articles
            .iter()
            .find(|a| a.article_number == n)
            .cloned()
        {
            store.complete_prices(&mut a, prices.incl, prices.excl);
            a.sync_marker = marker;
            a.change_timestamp = Some(now);
            if let Some(slot) = product.articles.iter_mut().find(|x| x.article_number == n) {
                *slot = a;
            }
        }
    }
    let mut new_numbers = Vec::new();
    for (mut a, prices) in new_articles {
        if a.article_number == 0 {
            a.article_number = store.take_article_number();
        }
        a.sync_marker = marker;
        a.create_timestamp = Some(now);
        a.change_timestamp = Some(now);
        store.complete_prices(&mut a, prices.incl, prices.excl);
        new_numbers.push(a.article_number);
        product.articles.push(a);
    }
    w.leaf("result", "UPDATE-PRODUCT-RESULT-OK");
    for n in &existing_numbers {
        w.leaf("existingArticleNumbers", n);
    }
    for n in &new_numbers {
        w.leaf("newArticleNumbers", n);
    }
    w.datetime("changeTimestamp", &now);
    w.leaf("syncMarker", marker);
    w.leaf("errorMessage", "");
    let groups = product.group_numbers.clone();
    store.products.insert(number, product);
    link_groups(store, number, &groups);
    Ok(())
}
