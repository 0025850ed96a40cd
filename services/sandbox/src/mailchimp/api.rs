//! The API proper, independent of HTTP: [`dispatch`] routes one request (method, path under
//! `/3.0`, query, body) to its handler over the locked state. The HTTP layer and `/batches`
//! both call it, so a batch operation behaves exactly like the same call made directly.

use chrono::{DateTime, Utc};

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::query::{Params, fmt_time, parse_time};
use super::state::McState;
use super::{batches, ecommerce, lists};

/// One request as the API sees it.
pub struct Req<'a> {
    pub method: &'a str,
    /// Path below `/3.0`, e.g. `/lists/abc/members`.
    pub path: &'a str,
    pub params: &'a Params,
    pub body: &'a [u8],
}

/// A successful answer: status and JSON body (`None`: 204 without body).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply {
            status: 200,
            body: Some(body),
        }
    }
    pub fn no_content() -> Self {
        Reply {
            status: 204,
            body: None,
        }
    }
}

pub type ApiResult = Result<Reply, ApiError>;

/// Request context.
pub struct Ctx {
    pub now: DateTime<Utc>,
    /// Base URL of this listener (`http://127.0.0.1:PORT`), for batch result URLs.
    pub base_url: String,
    /// Whether this request runs inside a batch (no nested batches).
    pub in_batch: bool,
}

/// The resources, by path shape.
enum Route {
    Root,
    Ping,
    Lists,
    List(String),
    Members(String),
    Member(String, String),
    Webhooks(String),
    Webhook(String, String),
    Stores,
    Store(String),
    Customers(String),
    Customer(String, String),
    Products(String),
    Product(String, String),
    Variants(String, String),
    Variant(String, String, String),
    Orders(String),
    Order(String, String),
    Lines(String, String),
    Line(String, String, String),
    Batches,
    Batch(String),
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(Ok(b)) = s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn route(path: &str) -> Option<Route> {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let o = |x: &str| x.to_owned();
    Some(match s.as_slice() {
        [] => Route::Root,
        ["ping"] => Route::Ping,
        ["lists"] => Route::Lists,
        ["lists", l] => Route::List(o(l)),
        ["lists", l, "members"] => Route::Members(o(l)),
        ["lists", l, "members", h] => Route::Member(o(l), o(h)),
        ["lists", l, "webhooks"] => Route::Webhooks(o(l)),
        ["lists", l, "webhooks", w] => Route::Webhook(o(l), o(w)),
        ["ecommerce", "stores"] => Route::Stores,
        ["ecommerce", "stores", st] => Route::Store(o(st)),
        ["ecommerce", "stores", st, "customers"] => Route::Customers(o(st)),
        ["ecommerce", "stores", st, "customers", c] => Route::Customer(o(st), o(c)),
        ["ecommerce", "stores", st, "products"] => Route::Products(o(st)),
        ["ecommerce", "stores", st, "products", p] => Route::Product(o(st), o(p)),
        ["ecommerce", "stores", st, "products", p, "variants"] => Route::Variants(o(st), o(p)),
        ["ecommerce", "stores", st, "products", p, "variants", v] => {
            Route::Variant(o(st), o(p), o(v))
        }
        ["ecommerce", "stores", st, "orders"] => Route::Orders(o(st)),
        ["ecommerce", "stores", st, "orders", or] => Route::Order(o(st), o(or)),
        ["ecommerce", "stores", st, "orders", or, "lines"] => Route::Lines(o(st), o(or)),
        ["ecommerce", "stores", st, "orders", or, "lines", l] => Route::Line(o(st), o(or), o(l)),
        ["batches"] => Route::Batches,
        ["batches", b] => Route::Batch(o(b)),
        _ => return None,
    })
}

/// The reference spec's path of an e-commerce route.
fn ecommerce_template(r: &Route) -> Option<&'static str> {
    Some(match r {
        Route::Stores => "/ecommerce/stores",
        Route::Store(_) => "/ecommerce/stores/{store_id}",
        Route::Customers(_) => "/ecommerce/stores/{store_id}/customers",
        Route::Customer(..) => "/ecommerce/stores/{store_id}/customers/{customer_id}",
        Route::Products(_) => "/ecommerce/stores/{store_id}/products",
        Route::Product(..) => "/ecommerce/stores/{store_id}/products/{product_id}",
        Route::Variants(..) => "/ecommerce/stores/{store_id}/products/{product_id}/variants",
        Route::Variant(..) => {
            "/ecommerce/stores/{store_id}/products/{product_id}/variants/{variant_id}"
        }
        Route::Orders(_) => "/ecommerce/stores/{store_id}/orders",
        Route::Order(..) => "/ecommerce/stores/{store_id}/orders/{order_id}",
        Route::Lines(..) => "/ecommerce/stores/{store_id}/orders/{order_id}/lines",
        Route::Line(..) => "/ecommerce/stores/{store_id}/orders/{order_id}/lines/{line_id}",
        _ => return None,
    })
}

const GET: &[&str] = &["GET"];
const GET_POST: &[&str] = &["GET", "POST"];
const ONE: &[&str] = &["GET", "PATCH", "DELETE"];
const ONE_PUT: &[&str] = &["GET", "PUT", "PATCH", "DELETE"];
const GET_DELETE: &[&str] = &["GET", "DELETE"];

fn allowed(r: &Route) -> &'static [&'static str] {
    match r {
        Route::Root | Route::Ping => GET,
        Route::Lists
        | Route::Members(_)
        | Route::Webhooks(_)
        | Route::Stores
        | Route::Customers(_)
        | Route::Products(_)
        | Route::Variants(..)
        | Route::Orders(_)
        | Route::Lines(..)
        | Route::Batches => GET_POST,
        Route::List(_)
        | Route::Webhook(..)
        | Route::Store(_)
        | Route::Order(..)
        | Route::Line(..) => ONE,
        Route::Member(..) | Route::Customer(..) | Route::Product(..) | Route::Variant(..) => {
            ONE_PUT
        }
        Route::Batch(_) => GET_DELETE,
    }
}

/// Routes and runs one request; applies `fields` / `exclude_fields` to the answer.
pub fn dispatch(st: &mut McState, ctx: &Ctx, req: &Req<'_>) -> ApiResult {
    let Some(r) = route(req.path) else {
        return Err(ApiError::not_found());
    };
    let m = req.method.to_ascii_uppercase();
    if !allowed(&r).contains(&m.as_str()) {
        return Err(ApiError::method_not_allowed(allowed(&r).to_vec()));
    }
    // An e-commerce read honours exactly the query parameters the reference defines for it
    // and ignores any other (no changed-since filter there), like MailChimp.
    let scoped = ecommerce_template(&r)
        .filter(|_| m == "GET")
        .and_then(ecommerce::query_params)
        .map(|names| req.params.only(names));
    let p = scoped.as_ref().unwrap_or(req.params);
    let mut reply = match (m.as_str(), r) {
        ("GET", Route::Root) => Ok(Reply::ok(root(st))),
        ("GET", Route::Ping) => Ok(Reply::ok(json!({"health_status": "Everything's Chimpy!"}))),
        ("GET", Route::Lists) => lists::get_lists(st, p),
        ("POST", Route::Lists) => lists::create_list(st, ctx, body(req)?),
        ("GET", Route::List(l)) => lists::get_list(st, &l),
        ("PATCH", Route::List(l)) => lists::patch_list(st, &l, body(req)?),
        ("DELETE", Route::List(l)) => lists::delete_list(st, &l),
        ("GET", Route::Members(l)) => lists::get_members(st, &l, p),
        ("POST", Route::Members(l)) => lists::post_member(st, ctx, &l, body(req)?),
        ("GET", Route::Member(l, h)) => lists::get_member(st, &l, &h),
        ("PUT", Route::Member(l, h)) => lists::put_member(st, ctx, &l, &h, body(req)?),
        ("PATCH", Route::Member(l, h)) => lists::patch_member(st, ctx, &l, &h, body(req)?),
        ("DELETE", Route::Member(l, h)) => lists::delete_member(st, ctx, &l, &h),
        ("GET", Route::Webhooks(l)) => lists::get_webhooks(st, &l),
        ("POST", Route::Webhooks(l)) => lists::post_webhook(st, &l, body(req)?),
        ("GET", Route::Webhook(l, w)) => lists::get_webhook(st, &l, &w),
        ("PATCH", Route::Webhook(l, w)) => lists::patch_webhook(st, &l, &w, body(req)?),
        ("DELETE", Route::Webhook(l, w)) => lists::delete_webhook(st, &l, &w),
        ("GET", Route::Stores) => ecommerce::get_stores(st, p),
        ("POST", Route::Stores) => ecommerce::post_store(st, ctx, body(req)?),
        ("GET", Route::Store(s)) => ecommerce::get_store(st, &s),
        ("PATCH", Route::Store(s)) => ecommerce::patch_store(st, ctx, &s, body(req)?),
        ("DELETE", Route::Store(s)) => ecommerce::delete_store(st, &s),
        ("GET", Route::Customers(s)) => ecommerce::get_customers(st, &s, p),
        ("POST", Route::Customers(s)) => ecommerce::post_customer(st, ctx, &s, body(req)?),
        ("GET", Route::Customer(s, c)) => ecommerce::get_customer(st, &s, &c),
        ("PUT", Route::Customer(s, c)) => ecommerce::put_customer(st, ctx, &s, &c, body(req)?),
        ("PATCH", Route::Customer(s, c)) => ecommerce::patch_customer(st, ctx, &s, &c, body(req)?),
        ("DELETE", Route::Customer(s, c)) => ecommerce::delete_customer(st, &s, &c),
        ("GET", Route::Products(s)) => ecommerce::get_products(st, &s, p),
        ("POST", Route::Products(s)) => ecommerce::post_product(st, ctx, &s, body(req)?),
        ("GET", Route::Product(s, pr)) => ecommerce::get_product(st, &s, &pr),
        ("PUT", Route::Product(s, pr)) => ecommerce::put_product(st, ctx, &s, &pr, body(req)?),
        ("PATCH", Route::Product(s, pr)) => ecommerce::patch_product(st, ctx, &s, &pr, body(req)?),
        ("DELETE", Route::Product(s, pr)) => ecommerce::delete_product(st, &s, &pr),
        ("GET", Route::Variants(s, pr)) => ecommerce::get_variants(st, &s, &pr, p),
        ("POST", Route::Variants(s, pr)) => ecommerce::post_variant(st, ctx, &s, &pr, body(req)?),
        ("GET", Route::Variant(s, pr, v)) => ecommerce::get_variant(st, &s, &pr, &v),
        ("PUT", Route::Variant(s, pr, v)) => {
            ecommerce::put_variant(st, ctx, &s, &pr, &v, body(req)?)
        }
        ("PATCH", Route::Variant(s, pr, v)) => {
            ecommerce::patch_variant(st, ctx, &s, &pr, &v, body(req)?)
        }
        ("DELETE", Route::Variant(s, pr, v)) => ecommerce::delete_variant(st, ctx, &s, &pr, &v),
        ("GET", Route::Orders(s)) => ecommerce::get_orders(st, &s, p),
        ("POST", Route::Orders(s)) => ecommerce::post_order(st, ctx, &s, body(req)?),
        ("GET", Route::Order(s, o)) => ecommerce::get_order(st, &s, &o),
        ("PATCH", Route::Order(s, o)) => ecommerce::patch_order(st, ctx, &s, &o, body(req)?),
        ("DELETE", Route::Order(s, o)) => ecommerce::delete_order(st, &s, &o),
        ("GET", Route::Lines(s, o)) => ecommerce::get_lines(st, &s, &o, p),
        ("POST", Route::Lines(s, o)) => ecommerce::post_line(st, ctx, &s, &o, body(req)?),
        ("GET", Route::Line(s, o, l)) => ecommerce::get_line(st, &s, &o, &l),
        ("PATCH", Route::Line(s, o, l)) => ecommerce::patch_line(st, ctx, &s, &o, &l, body(req)?),
        ("DELETE", Route::Line(s, o, l)) => ecommerce::delete_line(st, ctx, &s, &o, &l),
        ("GET", Route::Batches) => batches::get_batches(st, ctx, p),
        ("POST", Route::Batches) => batches::post_batch(st, ctx, body(req)?),
        ("GET", Route::Batch(b)) => batches::get_batch(st, ctx, &b),
        ("DELETE", Route::Batch(b)) => batches::delete_batch(st, &b),
        (_, r) => Err(ApiError::method_not_allowed(allowed(&r).to_vec())),
    }?;
    if let Some(b) = reply.body.as_mut() {
        super::query::filter_fields(b, p);
    }
    Ok(reply)
}

fn root(st: &McState) -> Value {
    json!({
        "account_id": "f3rry5andb0x", "login_id": "1", "account_name": "Ferry Sandbox",
        "email": "sandbox@ferry.example", "first_name": "Ferry", "last_name": "Sandbox",
        "username": "ferry-sandbox", "avatar_url": "", "role": "owner",
        "member_since": "2024-01-01T00:00:00+00:00", "pricing_plan_type": "monthly",
        "first_payment": "2024-01-01T00:00:00+00:00", "account_timezone": "Europe/Amsterdam",
        "account_industry": "Retail", "pro_enabled": false, "last_login": "",
        "total_subscribers": st.lists.values().map(|l| l.members.len()).sum::<usize>(),
        "contact": {"company": "Ferry", "addr1": "", "addr2": "", "city": "Amsterdam", "state": "", "zip": "", "country": "NL"},
        "industry_stats": {"open_rate": 0, "bounce_rate": 0, "click_rate": 0},
        "_links": [],
    })
}

/// The JSON object body of a request (an empty body is `{}`).
pub fn body(req: &Req<'_>) -> Result<Map<String, Value>, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(req.body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ApiError::invalid_field(
            "",
            format!(
                "Schema describes object, {} found instead",
                type_name(&other)
            ),
        )),
        Err(_) => Err(ApiError::json_parse()),
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Field types for request validation.
#[derive(Clone, Copy)]
pub enum T {
    Str,
    /// String, or a number taken as its decimal string (newer API).
    Id,
    /// Number, or a string holding one (newer API).
    Money,
    Int,
    Bool,
    /// An object whose values are strings or numbers (addresses).
    Addr,
    Obj,
    Arr,
    /// An ISO 8601 date-time, normalised to `+00:00`.
    Time,
    Enum(&'static [&'static str]),
}

/// Checks `body` against a field table: required fields first (all missing ones in one
/// error), then types. Returns only the known fields, normalised.
pub fn check(
    body: &Map<String, Value>,
    fields: &[(&str, T)],
    required: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|f| body.get(*f).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::missing_fields(&missing));
    }
    let mut out = Map::new();
    let mut errors = Vec::new();
    for (name, t) in fields {
        let Some(v) = body.get(*name) else { continue };
        if v.is_null() {
            continue;
        }
        let bad = |expected: &str| super::error::FieldError {
            field: (*name).to_owned(),
            message: format!(
                "Schema describes {expected}, {} found instead",
                type_name(v)
            ),
        };
        let norm = match (t, v) {
            (T::Str, Value::String(_)) => Ok(v.clone()),
            (T::Str, _) => Err(bad("string")),
            (T::Id, Value::String(_)) => Ok(v.clone()),
            (T::Id, Value::Number(n)) => Ok(Value::String(n.to_string())),
            (T::Id, _) => Err(bad("string")),
            (T::Money, Value::Number(_)) => Ok(v.clone()),
            (T::Money, Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(|f| json!(f))
                .ok_or_else(|| bad("number")),
            (T::Money, _) => Err(bad("number")),
            (T::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(v.clone()),
            (T::Int, Value::Number(n)) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                Ok(json!(n.as_f64().unwrap_or(0.0) as i64))
            }
            (T::Int, _) => Err(bad("integer")),
            (T::Bool, Value::Bool(_)) => Ok(v.clone()),
            (T::Bool, _) => Err(bad("boolean")),
            (T::Addr, Value::Object(m)) => {
                if m.values()
                    .all(|x| x.is_string() || x.is_number() || x.is_null())
                {
                    Ok(v.clone())
                } else {
                    Err(bad("object of strings"))
                }
            }
            (T::Obj, Value::Object(_)) => Ok(v.clone()),
            (T::Addr | T::Obj, _) => Err(bad("object")),
            (T::Arr, Value::Array(_)) => Ok(v.clone()),
            (T::Arr, _) => Err(bad("array")),
            (T::Time, Value::String(s)) if s.is_empty() => Ok(v.clone()),
            (T::Time, Value::String(s)) => {
                parse_time(s)
                    .map(|t| json!(fmt_time(&t)))
                    .ok_or_else(|| super::error::FieldError {
                        field: (*name).to_owned(),
                        message: "This value is not a valid date-time".into(),
                    })
            }
            (T::Time, _) => Err(bad("string")),
            (T::Enum(allowed), Value::String(s)) if allowed.contains(&s.as_str()) => Ok(v.clone()),
            (T::Enum(allowed), _) => Err(super::error::FieldError {
                field: (*name).to_owned(),
                message: format!("Value must be one of: {}", allowed.join(", ")),
            }),
        };
        match norm {
            Ok(n) => {
                out.insert((*name).to_owned(), n);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::invalid_resource(errors))
    }
}

/// `{<plural>: [...], total_items, _links}` plus extra keys, for one page.
pub fn collection(plural: &str, items: Vec<Value>, params: &Params, extra: Value) -> ApiResult {
    page_of(plural, items, |v| v, params, extra)
}

/// Like [`collection`], rendering only the records of the page asked for (a page of a large
/// collection costs the page, not the collection).
pub fn page_of<T>(
    plural: &str,
    items: Vec<T>,
    render: impl FnMut(T) -> Value,
    params: &Params,
    extra: Value,
) -> ApiResult {
    let (count, offset) = params.page()?;
    let total = items.len();
    let page: Vec<Value> = super::query::paginate(items, count, offset)
        .into_iter()
        .map(render)
        .collect();
    let mut v = json!({ plural: page, "total_items": total, "_links": [] });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    Ok(Reply::ok(v))
}
