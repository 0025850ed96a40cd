//! E-commerce stores and their customers, products (+ variants) and orders (+ lines).
//!
//! **Query parameters.** Each read honours exactly the parameters the reference spec
//! (`marketing-openapi-3.0.81.json`) defines for its path ([`QUERY_PARAMS`]); any other
//! parameter, such as a `since_updated_at` changed-since filter that only list members have
//! (`since_last_changed`), is ignored, as MailChimp ignores parameters an operation does not
//! define. `count` above 1,000 is served as 1,000.
//!
//! **Order.** Collections list their records in creation order, oldest first, and an update
//! does not move a record (deleting one shifts the later ones forward by one). MailChimp
//! documents no order for e-commerce collections and offers no sort parameter there; a
//! reader must not assume more than a stable order between consecutive pages.

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::api::{ApiResult, Ctx, Reply, T, check, page_of};
use super::error::ApiError;
use super::lists::ensure_member;
use super::query::Params;
use super::state::{
    CustomerStats, McState, Order, Product, Rec, Store, customer_json, customer_json_with,
    line_json, order_json, order_json_with, product_json, store_json, variant_json,
};

/// Query parameters of the e-commerce reads, by the reference spec's path.
pub const QUERY_PARAMS: &[(&str, &[&str])] = &[
    ("/ecommerce/stores", PAGED),
    ("/ecommerce/stores/{store_id}", ONE),
    (
        "/ecommerce/stores/{store_id}/customers",
        &[
            "fields",
            "exclude_fields",
            "count",
            "offset",
            "email_address",
        ],
    ),
    ("/ecommerce/stores/{store_id}/customers/{customer_id}", ONE),
    ("/ecommerce/stores/{store_id}/products", PAGED),
    ("/ecommerce/stores/{store_id}/products/{product_id}", ONE),
    (
        "/ecommerce/stores/{store_id}/products/{product_id}/variants",
        PAGED,
    ),
    (
        "/ecommerce/stores/{store_id}/products/{product_id}/variants/{variant_id}",
        ONE,
    ),
    (
        "/ecommerce/stores/{store_id}/orders",
        &[
            "fields",
            "exclude_fields",
            "count",
            "offset",
            "customer_id",
            "has_outreach",
            "campaign_id",
            "outreach_id",
        ],
    ),
    ("/ecommerce/stores/{store_id}/orders/{order_id}", ONE),
    (
        "/ecommerce/stores/{store_id}/orders/{order_id}/lines",
        PAGED,
    ),
    (
        "/ecommerce/stores/{store_id}/orders/{order_id}/lines/{line_id}",
        ONE,
    ),
];
const PAGED: &[&str] = &["fields", "exclude_fields", "count", "offset"];
const ONE: &[&str] = &["fields", "exclude_fields"];

/// The query parameters honoured on a spec path ([`QUERY_PARAMS`]).
pub fn query_params(template: &str) -> Option<&'static [&'static str]> {
    QUERY_PARAMS
        .iter()
        .find(|(t, _)| *t == template)
        .map(|(_, names)| *names)
}

fn store<'a>(st: &'a McState, id: &str) -> Result<&'a Store, ApiError> {
    st.stores.get(id).ok_or_else(ApiError::not_found)
}
fn store_mut<'a>(st: &'a mut McState, id: &str) -> Result<&'a mut Store, ApiError> {
    st.stores.get_mut(id).ok_or_else(ApiError::not_found)
}

fn exists(what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "The resource submitted could not be validated. A {what} with the provided ID already exists in the account."
    ))
}

fn too_long(field: &str, v: &Map<String, Value>, max: usize) -> Result<(), ApiError> {
    match v.get(field).and_then(Value::as_str) {
        Some(s) if s.chars().count() > max => Err(ApiError::invalid_field(
            field,
            format!("This value is too long. It should have {max} characters or less."),
        )),
        _ => Ok(()),
    }
}

// ---- stores ------------------------------------------------------------------------------

const STORE_FIELDS: &[(&str, T)] = &[
    ("id", T::Id),
    ("list_id", T::Str),
    ("name", T::Str),
    ("platform", T::Str),
    ("domain", T::Str),
    ("is_syncing", T::Bool),
    ("email_address", T::Str),
    ("currency_code", T::Str),
    ("money_format", T::Str),
    ("primary_locale", T::Str),
    ("timezone", T::Str),
    ("phone", T::Str),
    ("address", T::Addr),
];

pub fn get_stores(st: &McState, p: &Params) -> ApiResult {
    page_of(
        "stores",
        st.stores.values().collect(),
        store_json,
        p,
        json!({}),
    )
}

pub fn post_store(st: &mut McState, ctx: &Ctx, body: Map<String, Value>) -> ApiResult {
    let data = check(
        &body,
        STORE_FIELDS,
        &["id", "list_id", "name", "currency_code"],
    )?;
    let id = data["id"].as_str().unwrap_or_default().to_owned();
    if st.stores.contains_key(&id) {
        return Err(exists("store"));
    }
    let list_id = data["list_id"].as_str().unwrap_or_default();
    if !st.lists.contains_key(list_id) {
        return Err(ApiError::invalid_field(
            "list_id",
            "The list_id provided does not exist.",
        ));
    }
    if data["currency_code"].as_str().is_some_and(|c| c.len() != 3) {
        return Err(ApiError::invalid_field(
            "currency_code",
            "This value is not a valid currency code.",
        ));
    }
    let s = Store {
        rec: Rec::new(data, ctx.now),
        customers: IndexMap::new(),
        products: IndexMap::new(),
        orders: IndexMap::new(),
    };
    let v = store_json(&s);
    st.stores.insert(id, s);
    Ok(Reply::ok(v))
}

pub fn get_store(st: &McState, id: &str) -> ApiResult {
    Ok(Reply::ok(store_json(store(st, id)?)))
}

pub fn patch_store(st: &mut McState, ctx: &Ctx, id: &str, body: Map<String, Value>) -> ApiResult {
    let mut data = check(&body, STORE_FIELDS, &[])?;
    // `id` and `list_id` cannot be changed.
    data.remove("id");
    data.remove("list_id");
    let s = store_mut(st, id)?;
    s.rec.data.extend(data);
    s.rec.updated_at = ctx.now;
    Ok(Reply::ok(store_json(s)))
}

pub fn delete_store(st: &mut McState, id: &str) -> ApiResult {
    st.stores.shift_remove(id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::no_content())
}

// ---- customers ---------------------------------------------------------------------------

const CUSTOMER_FIELDS: &[(&str, T)] = &[
    ("id", T::Id),
    ("email_address", T::Str),
    ("opt_in_status", T::Bool),
    ("company", T::Str),
    ("first_name", T::Str),
    ("last_name", T::Str),
    ("address", T::Addr),
    ("sms_phone_number", T::Str),
];

pub fn get_customers(st: &McState, store_id: &str, p: &Params) -> ApiResult {
    let s = store(st, store_id)?;
    let email = p.get("email_address").map(str::to_lowercase);
    let items = s
        .customers
        .values()
        .filter(|c| {
            email
                .as_deref()
                .is_none_or(|e| c.str("email_address").to_lowercase() == e)
        })
        .collect();
    let stats = if p.keeps("customers.orders_count") || p.keeps("customers.total_spent") {
        CustomerStats::of(s)
    } else {
        CustomerStats::default()
    };
    page_of(
        "customers",
        items,
        |c| customer_json_with(c, &stats),
        p,
        json!({"store_id": store_id}),
    )
}

pub fn get_customer(st: &McState, store_id: &str, id: &str) -> ApiResult {
    let s = store(st, store_id)?;
    let c = s.customers.get(id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(customer_json(s, c)))
}

fn email_taken(s: &Store, email: &str, except_id: &str) -> bool {
    s.customers
        .values()
        .any(|c| c.str("id") != except_id && c.str("email_address").eq_ignore_ascii_case(email))
}

/// Creates a customer from checked data (id, email_address, opt_in_status present).
fn insert_customer(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    data: Map<String, Value>,
) -> Result<Value, ApiError> {
    too_long("id", &data, 50)?;
    let id = data["id"].as_str().unwrap_or_default().to_owned();
    let email = data["email_address"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !email.contains('@') {
        return Err(ApiError::invalid_field(
            "email_address",
            "This value is not a valid email address.",
        ));
    }
    let s = store(st, store_id)?;
    if email_taken(s, &email, &id) {
        return Err(ApiError::bad_request(format!(
            "The resource submitted could not be validated. A customer with the email address {email} already exists in this store."
        )));
    }
    let list_id = s.rec.str("list_id").to_owned();
    let opt_in = data
        .get("opt_in_status")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let first = data
        .get("first_name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let last = data
        .get("last_name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let s = store_mut(st, store_id)?;
    s.customers.insert(id.clone(), Rec::new(data, ctx.now));
    let v = customer_json(s, &s.customers[&id]);
    ensure_member(
        st,
        ctx,
        &list_id,
        &email,
        opt_in,
        first.as_deref(),
        last.as_deref(),
    );
    Ok(v)
}

pub fn post_customer(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    store(st, store_id)?;
    let data = check(
        &body,
        CUSTOMER_FIELDS,
        &["id", "email_address", "opt_in_status"],
    )?;
    if store(st, store_id)?
        .customers
        .contains_key(data["id"].as_str().unwrap_or_default())
    {
        return Err(exists("customer"));
    }
    insert_customer(st, ctx, store_id, data).map(Reply::ok)
}

fn update_customer(
    s: &mut Store,
    ctx: &Ctx,
    id: &str,
    mut data: Map<String, Value>,
) -> Result<Value, ApiError> {
    data.remove("id");
    let c = s.customers.get_mut(id).ok_or_else(ApiError::not_found)?;
    if let Some(e) = data.remove("email_address")
        && !e
            .as_str()
            .unwrap_or_default()
            .eq_ignore_ascii_case(c.str("email_address"))
    {
        return Err(ApiError::invalid_field(
            "email_address",
            "The email address of a customer cannot be changed.",
        ));
    }
    c.data.extend(data);
    c.updated_at = ctx.now;
    Ok(customer_json(s, &s.customers[id]))
}

pub fn put_customer(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    store(st, store_id)?;
    let mut data = check(
        &body,
        CUSTOMER_FIELDS,
        &["id", "email_address", "opt_in_status"],
    )?;
    data.insert("id".into(), json!(id));
    if store(st, store_id)?.customers.contains_key(id) {
        update_customer(store_mut(st, store_id)?, ctx, id, data).map(Reply::ok)
    } else {
        insert_customer(st, ctx, store_id, data).map(Reply::ok)
    }
}

pub fn patch_customer(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    let mut data = check(&body, CUSTOMER_FIELDS, &[])?;
    // PATCH cannot change the e-mail; MailChimp ignores it.
    data.remove("email_address");
    update_customer(store_mut(st, store_id)?, ctx, id, data).map(Reply::ok)
}

pub fn delete_customer(st: &mut McState, store_id: &str, id: &str) -> ApiResult {
    store_mut(st, store_id)?
        .customers
        .shift_remove(id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::no_content())
}

// ---- products and variants ----------------------------------------------------------------

const PRODUCT_FIELDS: &[(&str, T)] = &[
    ("id", T::Id),
    ("title", T::Str),
    ("handle", T::Str),
    ("url", T::Str),
    ("description", T::Str),
    ("type", T::Str),
    ("vendor", T::Str),
    ("image_url", T::Str),
    ("variants", T::Arr),
    ("images", T::Arr),
    ("published_at_foreign", T::Time),
];

const VARIANT_FIELDS: &[(&str, T)] = &[
    ("id", T::Id),
    ("title", T::Str),
    ("url", T::Str),
    ("sku", T::Str),
    ("price", T::Money),
    ("inventory_quantity", T::Int),
    ("image_url", T::Str),
    ("backorders", T::Str),
    ("visibility", T::Str),
];

/// Checks the `variants` array of a product body; `require` demands id and title of each.
fn variants_of(
    data: &Map<String, Value>,
    require: &[&str],
) -> Result<Vec<Map<String, Value>>, ApiError> {
    let Some(Value::Array(items)) = data.get("variants") else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(m) => check(m, VARIANT_FIELDS, require).map_err(|mut e| {
                for fe in &mut e.errors {
                    fe.field = if fe.field.is_empty() {
                        format!("variants.item:{i}")
                    } else {
                        format!("variants.item:{i}.{}", fe.field)
                    };
                }
                e
            }),
            _ => Err(ApiError::invalid_field(
                &format!("variants.item:{i}"),
                "Schema describes object",
            )),
        })
        .collect()
}

fn product_data(mut data: Map<String, Value>) -> Map<String, Value> {
    data.remove("variants");
    data
}

pub fn get_products(st: &McState, store_id: &str, p: &Params) -> ApiResult {
    let s = store(st, store_id)?;
    page_of(
        "products",
        s.products.values().collect(),
        |pr| product_json(s, pr),
        p,
        json!({"store_id": store_id}),
    )
}

pub fn get_product(st: &McState, store_id: &str, id: &str) -> ApiResult {
    let s = store(st, store_id)?;
    Ok(Reply::ok(product_json(
        s,
        s.products.get(id).ok_or_else(ApiError::not_found)?,
    )))
}

fn new_product(ctx: &Ctx, data: Map<String, Value>, variants: Vec<Map<String, Value>>) -> Product {
    let mut vs = IndexMap::new();
    for v in variants {
        let id = v["id"].as_str().unwrap_or_default().to_owned();
        vs.insert(id, Rec::new(v, ctx.now));
    }
    Product {
        rec: Rec::new(product_data(data), ctx.now),
        variants: vs,
    }
}

pub fn post_product(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    store(st, store_id)?;
    let data = check(&body, PRODUCT_FIELDS, &["id", "title", "variants"])?;
    let variants = variants_of(&data, &["id", "title"])?;
    if variants.is_empty() {
        return Err(ApiError::invalid_field(
            "variants",
            "At least one variant is required.",
        ));
    }
    let id = data["id"].as_str().unwrap_or_default().to_owned();
    let s = store_mut(st, store_id)?;
    if s.products.contains_key(&id) {
        return Err(exists("product"));
    }
    s.products
        .insert(id.clone(), new_product(ctx, data, variants));
    Ok(Reply::ok(product_json(s, &s.products[&id])))
}

/// Updates a product's fields and upserts the variants given (by id).
fn update_product(
    p: &mut Product,
    ctx: &Ctx,
    data: Map<String, Value>,
    variants: Vec<Map<String, Value>>,
) {
    let mut fields = product_data(data);
    fields.remove("id");
    p.rec.data.extend(fields);
    for v in variants {
        let Some(vid) = v.get("id").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        match p.variants.get_mut(&vid) {
            Some(existing) => {
                existing.data.extend(v);
                existing.updated_at = ctx.now;
            }
            None => {
                p.variants.insert(vid, Rec::new(v, ctx.now));
            }
        }
    }
    p.rec.updated_at = ctx.now;
}

/// PUT (newer API): upsert; only `id` is required. A new product without variants gets one
/// variant with the product's id and title.
pub fn put_product(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    store(st, store_id)?;
    let mut data = check(&body, PRODUCT_FIELDS, &["id"])?;
    data.insert("id".into(), json!(id));
    let s = store_mut(st, store_id)?;
    if let Some(p) = s.products.get_mut(id) {
        let variants = variants_of(&data, &["id"])?;
        update_product(p, ctx, data, variants);
    } else {
        let mut variants = variants_of(&data, &["id", "title"])?;
        let title = data
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if variants.is_empty() {
            let mut v = Map::new();
            v.insert("id".into(), json!(id));
            v.insert("title".into(), json!(title));
            variants.push(v);
        }
        data.entry("title").or_insert(json!(title));
        s.products
            .insert(id.to_owned(), new_product(ctx, data, variants));
    }
    Ok(Reply::ok(product_json(s, &s.products[id])))
}

pub fn patch_product(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    let data = check(&body, PRODUCT_FIELDS, &[])?;
    let variants = variants_of(&data, &[])?;
    let s = store_mut(st, store_id)?;
    let p = s.products.get_mut(id).ok_or_else(ApiError::not_found)?;
    update_product(p, ctx, data, variants);
    Ok(Reply::ok(product_json(s, &s.products[id])))
}

pub fn delete_product(st: &mut McState, store_id: &str, id: &str) -> ApiResult {
    store_mut(st, store_id)?
        .products
        .shift_remove(id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::no_content())
}

fn product_mut<'a>(
    st: &'a mut McState,
    store_id: &str,
    id: &str,
) -> Result<&'a mut Product, ApiError> {
    store_mut(st, store_id)?
        .products
        .get_mut(id)
        .ok_or_else(ApiError::not_found)
}

pub fn get_variants(st: &McState, store_id: &str, product_id: &str, p: &Params) -> ApiResult {
    let s = store(st, store_id)?;
    let pr = s.products.get(product_id).ok_or_else(ApiError::not_found)?;
    page_of(
        "variants",
        pr.variants.values().collect(),
        variant_json,
        p,
        json!({"store_id": store_id, "product_id": product_id}),
    )
}

pub fn get_variant(st: &McState, store_id: &str, product_id: &str, id: &str) -> ApiResult {
    let s = store(st, store_id)?;
    let pr = s.products.get(product_id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(variant_json(
        pr.variants.get(id).ok_or_else(ApiError::not_found)?,
    )))
}

pub fn post_variant(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    product_id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    let data = check(&body, VARIANT_FIELDS, &["id", "title"])?;
    let p = product_mut(st, store_id, product_id)?;
    let id = data["id"].as_str().unwrap_or_default().to_owned();
    if p.variants.contains_key(&id) {
        return Err(exists("product variant"));
    }
    p.variants.insert(id.clone(), Rec::new(data, ctx.now));
    p.rec.updated_at = ctx.now;
    Ok(Reply::ok(variant_json(&p.variants[&id])))
}

pub fn put_variant(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    product_id: &str,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    let s = store_mut(st, store_id)?;
    let Some(p) = s.products.get_mut(product_id) else {
        return Err(ApiError::bad_request(
            "The parent product must already exist.",
        ));
    };
    let required: &[&str] = if p.variants.contains_key(id) {
        &["id"]
    } else {
        &["id", "title"]
    };
    let mut data = check(&body, VARIANT_FIELDS, required)?;
    data.insert("id".into(), json!(id));
    match p.variants.get_mut(id) {
        Some(v) => {
            v.data.extend(data);
            v.updated_at = ctx.now;
        }
        None => {
            p.variants.insert(id.to_owned(), Rec::new(data, ctx.now));
        }
    }
    p.rec.updated_at = ctx.now;
    Ok(Reply::ok(variant_json(&p.variants[id])))
}

pub fn patch_variant(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    product_id: &str,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    let mut data = check(&body, VARIANT_FIELDS, &[])?;
    data.remove("id");
    let p = product_mut(st, store_id, product_id)?;
    let v = p.variants.get_mut(id).ok_or_else(ApiError::not_found)?;
    v.data.extend(data);
    v.updated_at = ctx.now;
    p.rec.updated_at = ctx.now;
    Ok(Reply::ok(variant_json(&p.variants[id])))
}

pub fn delete_variant(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    product_id: &str,
    id: &str,
) -> ApiResult {
    let p = product_mut(st, store_id, product_id)?;
    if !p.variants.contains_key(id) {
        return Err(ApiError::not_found());
    }
    if p.variants.len() == 1 {
        return Err(ApiError::bad_request(
            "A product must have at least one variant.",
        ));
    }
    p.variants.shift_remove(id);
    p.rec.updated_at = ctx.now;
    Ok(Reply::no_content())
}

// ---- orders and lines --------------------------------------------------------------------

const ADDRESS: T = T::Addr;
const ORDER_FIELDS: &[(&str, T)] = &[
    ("id", T::Id),
    ("customer", T::Obj),
    ("campaign_id", T::Str),
    ("landing_site", T::Str),
    ("financial_status", T::Str),
    ("fulfillment_status", T::Str),
    ("currency_code", T::Str),
    ("order_total", T::Money),
    ("order_url", T::Str),
    ("discount_total", T::Money),
    ("tax_total", T::Money),
    ("shipping_total", T::Money),
    ("tracking_code", T::Enum(&["prec"])),
    ("processed_at_foreign", T::Time),
    ("cancelled_at_foreign", T::Time),
    ("updated_at_foreign", T::Time),
    ("shipping_address", ADDRESS),
    ("billing_address", ADDRESS),
    ("promos", T::Arr),
    ("lines", T::Arr),
    ("outreach", T::Obj),
    ("tracking_number", T::Str),
    ("tracking_carrier", T::Str),
    ("tracking_url", T::Str),
    ("cart_id", T::Str),
];

const LINE_FIELDS: &[(&str, T)] = &[
    ("id", T::Id),
    ("product_id", T::Id),
    ("product_variant_id", T::Id),
    ("quantity", T::Int),
    ("price", T::Money),
    ("discount", T::Money),
    ("product", T::Obj),
];

const LINE_REQUIRED: &[&str] = &[
    "id",
    "product_id",
    "product_variant_id",
    "quantity",
    "price",
];

fn not_in_store(what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "A {what} with the provided ID does not exist in the account for this list."
    ))
}

/// Checks one line and that its product and variant exist (an inline `product`, newer API,
/// is created when missing).
fn check_line(
    s: &mut Store,
    ctx: &Ctx,
    m: &Map<String, Value>,
    required: &[&str],
    field: &str,
) -> Result<Map<String, Value>, ApiError> {
    let mut line = check(m, LINE_FIELDS, required).map_err(|mut e| {
        for fe in &mut e.errors {
            fe.field = format!(
                "{field}{}",
                if fe.field.is_empty() {
                    String::new()
                } else {
                    format!(".{}", fe.field)
                }
            );
        }
        e
    })?;
    if let Some(Value::Object(inline)) = line.remove("product") {
        let pid = line
            .get("product_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !pid.is_empty() && !s.products.contains_key(&pid) {
            let mut data = check(&inline, PRODUCT_FIELDS, &[])?;
            let title = data
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or(&pid)
                .to_owned();
            data.insert("id".into(), json!(pid));
            data.insert("title".into(), json!(title));
            let mut variants = variants_of(&data, &["id"])?;
            if variants.is_empty() {
                let vid = line
                    .get("product_variant_id")
                    .and_then(Value::as_str)
                    .unwrap_or(&pid)
                    .to_owned();
                let mut v = Map::new();
                v.insert("id".into(), json!(vid));
                v.insert("title".into(), json!(title));
                variants.push(v);
            }
            s.products.insert(pid, new_product(ctx, data, variants));
        }
    }
    if let Some(pid) = line.get("product_id").and_then(Value::as_str) {
        let Some(p) = s.products.get(pid) else {
            return Err(not_in_store("product"));
        };
        if let Some(vid) = line.get("product_variant_id").and_then(Value::as_str)
            && !p.variants.contains_key(vid)
        {
            return Err(not_in_store("product variant"));
        }
    }
    Ok(line)
}

pub fn get_orders(st: &McState, store_id: &str, p: &Params) -> ApiResult {
    let s = store(st, store_id)?;
    let has_outreach = match p.get("has_outreach") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(v) => {
            return Err(ApiError::invalid_field(
                "has_outreach",
                format!("Schema describes boolean, {v:?} found instead"),
            ));
        }
    };
    let outreach_id = |o: &Order| {
        o.rec
            .data
            .get("outreach")
            .and_then(|x| x.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (customer, campaign, outreach) = (
        p.get("customer_id"),
        p.get("campaign_id"),
        p.get("outreach_id"),
    );
    let filtered = customer.is_some() || campaign.is_some() || outreach.is_some();
    let items: Vec<&Order> = if filtered || has_outreach.is_some() {
        s.orders
            .values()
            .filter(|o| {
                customer.is_none_or(|c| {
                    o.rec
                        .data
                        .get("customer")
                        .and_then(|x| x.get("id"))
                        .and_then(Value::as_str)
                        == Some(c)
                })
            })
            .filter(|o| campaign.is_none_or(|c| o.rec.str("campaign_id") == c))
            .filter(|o| has_outreach.is_none_or(|h| outreach_id(o).is_some() == h))
            .filter(|o| outreach.is_none_or(|w| outreach_id(o).as_deref() == Some(w)))
            .collect()
    } else {
        s.orders.values().collect()
    };
    let stats = p.keeps("orders.customer").then(|| CustomerStats::of(s));
    let lines = p.keeps("orders.lines");
    page_of(
        "orders",
        items,
        |o| order_json_with(s, o, stats.as_ref(), lines),
        p,
        json!({"store_id": store_id}),
    )
}

pub fn get_order(st: &McState, store_id: &str, id: &str) -> ApiResult {
    let s = store(st, store_id)?;
    Ok(Reply::ok(order_json(
        s,
        s.orders.get(id).ok_or_else(ApiError::not_found)?,
    )))
}

pub fn post_order(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    store(st, store_id)?;
    let mut data = check(
        &body,
        ORDER_FIELDS,
        &["id", "customer", "currency_code", "order_total", "lines"],
    )?;
    let id = data["id"].as_str().unwrap_or_default().to_owned();
    let lines = match data.remove("lines") {
        Some(Value::Array(l)) if !l.is_empty() => l,
        // MailChimp answers an order without lines with 404.
        _ => return Err(ApiError::not_found()),
    };
    let customer = match data.get("customer") {
        Some(Value::Object(c)) => check(c, CUSTOMER_FIELDS, &["id"])?,
        _ => return Err(ApiError::missing_fields(&["customer"])),
    };
    let cid = customer["id"].as_str().unwrap_or_default().to_owned();
    if cid.chars().count() > 50 {
        return Err(ApiError::not_found());
    }
    if store(st, store_id)?.orders.contains_key(&id) {
        return Err(exists("order"));
    }
    // Lines first (no side effects on failure except inline products).
    let mut checked = IndexMap::new();
    {
        let s = store_mut(st, store_id)?;
        for (i, l) in lines.iter().enumerate() {
            let Value::Object(m) = l else {
                return Err(ApiError::invalid_field(
                    &format!("lines.item:{i}"),
                    "Schema describes object",
                ));
            };
            let line = check_line(s, ctx, m, LINE_REQUIRED, &format!("lines.item:{i}"))?;
            let lid = line["id"].as_str().unwrap_or_default().to_owned();
            checked.insert(lid, Rec::new(line, ctx.now));
        }
    }
    // The customer: existing, or created from the order's customer object.
    if !store(st, store_id)?.customers.contains_key(&cid) {
        let missing: Vec<&str> = ["email_address", "opt_in_status"]
            .into_iter()
            .filter(|f| !customer.contains_key(*f))
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::missing_fields(&missing));
        }
        insert_customer(st, ctx, store_id, customer)?;
    }
    data.insert("customer".into(), json!({"id": cid}));
    let s = store_mut(st, store_id)?;
    s.orders.insert(
        id.clone(),
        Order {
            rec: Rec::new(data, ctx.now),
            lines: checked,
        },
    );
    if let Some(c) = s.customers.get_mut(&cid) {
        c.updated_at = ctx.now;
    }
    Ok(Reply::ok(order_json(s, &s.orders[&id])))
}

pub fn patch_order(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    let mut data = check(&body, ORDER_FIELDS, &[])?;
    data.remove("id");
    data.remove("customer");
    let lines = data.remove("lines");
    let s = store_mut(st, store_id)?;
    if !s.orders.contains_key(id) {
        return Err(ApiError::not_found());
    }
    let mut upserts = Vec::new();
    if let Some(Value::Array(lines)) = lines {
        for (i, l) in lines.iter().enumerate() {
            let Value::Object(m) = l else { continue };
            let line = check_line(s, ctx, m, &["id"], &format!("lines.item:{i}"))?;
            upserts.push(line);
        }
    }
    let o = s.orders.get_mut(id).ok_or_else(ApiError::not_found)?;
    o.rec.data.extend(data);
    for line in upserts {
        let lid = line["id"].as_str().unwrap_or_default().to_owned();
        match o.lines.get_mut(&lid) {
            Some(x) => {
                x.data.extend(line);
                x.updated_at = ctx.now;
            }
            None => {
                o.lines.insert(lid, Rec::new(line, ctx.now));
            }
        }
    }
    o.rec.updated_at = ctx.now;
    Ok(Reply::ok(order_json(s, &s.orders[id])))
}

pub fn delete_order(st: &mut McState, store_id: &str, id: &str) -> ApiResult {
    store_mut(st, store_id)?
        .orders
        .shift_remove(id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::no_content())
}

pub fn get_lines(st: &McState, store_id: &str, order_id: &str, p: &Params) -> ApiResult {
    let s = store(st, store_id)?;
    let o = s.orders.get(order_id).ok_or_else(ApiError::not_found)?;
    page_of(
        "lines",
        o.lines.values().collect(),
        |l| line_json(s, l),
        p,
        json!({"store_id": store_id, "order_id": order_id}),
    )
}

pub fn get_line(st: &McState, store_id: &str, order_id: &str, id: &str) -> ApiResult {
    let s = store(st, store_id)?;
    let o = s.orders.get(order_id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(line_json(
        s,
        o.lines.get(id).ok_or_else(ApiError::not_found)?,
    )))
}

pub fn post_line(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    order_id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    let s = store_mut(st, store_id)?;
    if !s.orders.contains_key(order_id) {
        return Err(ApiError::not_found());
    }
    let line = check_line(s, ctx, &body, LINE_REQUIRED, "")?;
    let lid = line["id"].as_str().unwrap_or_default().to_owned();
    let o = s.orders.get_mut(order_id).ok_or_else(ApiError::not_found)?;
    if o.lines.contains_key(&lid) {
        return Err(exists("order line"));
    }
    o.lines.insert(lid.clone(), Rec::new(line, ctx.now));
    o.rec.updated_at = ctx.now;
    let l = s.orders[order_id].lines[&lid].clone();
    Ok(Reply::ok(line_json(s, &l)))
}

pub fn patch_line(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    order_id: &str,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    let s = store_mut(st, store_id)?;
    if !s
        .orders
        .get(order_id)
        .is_some_and(|o| o.lines.contains_key(id))
    {
        return Err(ApiError::not_found());
    }
    let mut line = check_line(s, ctx, &body, &[], "")?;
    line.remove("id");
    let o = s.orders.get_mut(order_id).ok_or_else(ApiError::not_found)?;
    let l = o.lines.get_mut(id).ok_or_else(ApiError::not_found)?;
    l.data.extend(line);
    l.updated_at = ctx.now;
    o.rec.updated_at = ctx.now;
    let l = s.orders[order_id].lines[id].clone();
    Ok(Reply::ok(line_json(s, &l)))
}

pub fn delete_line(
    st: &mut McState,
    ctx: &Ctx,
    store_id: &str,
    order_id: &str,
    id: &str,
) -> ApiResult {
    let o = store_mut(st, store_id)?
        .orders
        .get_mut(order_id)
        .ok_or_else(ApiError::not_found)?;
    o.lines.shift_remove(id).ok_or_else(ApiError::not_found)?;
    o.rec.updated_at = ctx.now;
    Ok(Reply::no_content())
}
