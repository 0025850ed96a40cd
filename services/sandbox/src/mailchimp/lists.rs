//! Audiences (`/lists`), members (`/lists/{id}/members`) and list webhooks, including the
//! webhook events member changes produce.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::api::{ApiResult, Ctx, Reply, T, check, collection};
use super::error::ApiError;
use super::query::Params;
use super::state::{
    Delivery, List, McState, Member, Webhook, default_merge_fields, list_json, member_json,
    subscriber_hash, webhook_json,
};

const STATUSES: &[&str] = &[
    "subscribed",
    "unsubscribed",
    "cleaned",
    "pending",
    "transactional",
];

fn list<'a>(st: &'a McState, id: &str) -> Result<&'a List, ApiError> {
    st.lists.get(id).ok_or_else(ApiError::not_found)
}

fn list_mut<'a>(st: &'a mut McState, id: &str) -> Result<&'a mut List, ApiError> {
    st.lists.get_mut(id).ok_or_else(ApiError::not_found)
}

pub fn get_lists(st: &McState, p: &Params) -> ApiResult {
    let items = st.lists.values().map(list_json).collect();
    let total = st.lists.len();
    collection(
        "lists",
        items,
        p,
        json!({"constraints": {"may_create": true, "max_instances": 100, "current_total_instances": total}}),
    )
}

const LIST_FIELDS: &[(&str, T)] = &[
    ("name", T::Str),
    ("contact", T::Addr),
    ("permission_reminder", T::Str),
    ("use_archive_bar", T::Bool),
    ("campaign_defaults", T::Addr),
    ("notify_on_subscribe", T::Str),
    ("notify_on_unsubscribe", T::Str),
    ("email_type_option", T::Bool),
    ("double_optin", T::Bool),
    ("marketing_permissions", T::Bool),
    ("visibility", T::Enum(&["pub", "prv"])),
];

pub fn create_list(st: &mut McState, ctx: &Ctx, body: Map<String, Value>) -> ApiResult {
    let data = check(
        &body,
        LIST_FIELDS,
        &[
            "name",
            "contact",
            "permission_reminder",
            "campaign_defaults",
            "email_type_option",
        ],
    )?;
    let web_id = st.next_web_id();
    let id = format!("{:010x}", 0x00a1_b2c3_0000_u64 + web_id)[..10].to_owned();
    let l = List {
        id: id.clone(),
        web_id,
        data,
        merge_fields: default_merge_fields(),
        date_created: ctx.now,
        members: Default::default(),
        webhooks: Default::default(),
    };
    let v = list_json(&l);
    st.lists.insert(id, l);
    Ok(Reply::ok(v))
}

pub fn get_list(st: &McState, id: &str) -> ApiResult {
    Ok(Reply::ok(list_json(list(st, id)?)))
}

pub fn patch_list(st: &mut McState, id: &str, body: Map<String, Value>) -> ApiResult {
    let data = check(&body, LIST_FIELDS, &[])?;
    let l = list_mut(st, id)?;
    l.data.extend(data);
    Ok(Reply::ok(list_json(l)))
}

pub fn delete_list(st: &mut McState, id: &str) -> ApiResult {
    st.lists.shift_remove(id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::no_content())
}

/// A member key in a path: the subscriber hash, or (accepted by MailChimp too) the e-mail.
fn member_key(h: &str) -> String {
    if h.contains('@') {
        subscriber_hash(h)
    } else {
        h.to_lowercase()
    }
}

pub fn get_members(st: &McState, list_id: &str, p: &Params) -> ApiResult {
    let l = list(st, list_id)?;
    let since = p.time("since_last_changed")?;
    let before = p.time("before_last_changed")?;
    let since_opt = p.time("since_timestamp_opt")?;
    let status = p.get("status");
    if let Some(s) = status
        && !STATUSES.contains(&s)
    {
        return Err(ApiError::invalid_field(
            "status",
            format!("Value must be one of: {}", STATUSES.join(", ")),
        ));
    }
    let items = l
        .members
        .values()
        .filter(|m| status.is_none_or(|s| m.status == s))
        .filter(|m| since.is_none_or(|t| m.last_changed >= t))
        .filter(|m| before.is_none_or(|t| m.last_changed < t))
        .filter(|m| since_opt.is_none_or(|t| m.timestamp_opt.is_some_and(|o| o >= t)))
        .filter(|m| p.get("email_type").is_none_or(|e| m.email_type == e))
        .filter(|m| {
            p.get("unique_email_id")
                .is_none_or(|u| m.unique_email_id == u)
        })
        .map(|m| member_json(list_id, m))
        .collect();
    collection("members", items, p, json!({"list_id": list_id}))
}

pub fn get_member(st: &McState, list_id: &str, h: &str) -> ApiResult {
    let l = list(st, list_id)?;
    let m = l
        .members
        .get(&member_key(h))
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(member_json(list_id, m)))
}

const MEMBER_FIELDS: &[(&str, T)] = &[
    ("email_address", T::Str),
    ("email_type", T::Enum(&["html", "text"])),
    ("status", T::Enum(STATUSES)),
    ("status_if_new", T::Enum(STATUSES)),
    ("merge_fields", T::Obj),
    ("interests", T::Obj),
    ("language", T::Str),
    ("vip", T::Bool),
    ("ip_signup", T::Str),
    ("timestamp_signup", T::Time),
    ("ip_opt", T::Str),
    ("timestamp_opt", T::Time),
    ("tags", T::Arr),
    ("location", T::Obj),
    ("marketing_permissions", T::Arr),
];

fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(char::is_whitespace)
}

fn fake_email(e: &str) -> ApiError {
    ApiError::invalid_field(
        "email_address",
        format!("{e} looks fake or invalid, please enter a real email address."),
    )
}

/// Validates merge fields against the audience's tags.
fn merges(l: &List, data: &Map<String, Value>) -> Result<Option<Map<String, Value>>, ApiError> {
    let Some(Value::Object(m)) = data.get("merge_fields") else {
        return Ok(None);
    };
    let mut out = Map::new();
    for (tag, v) in m {
        let Some(field) = l
            .merge_fields
            .iter()
            .find(|f| f.tag.eq_ignore_ascii_case(tag))
        else {
            return Err(ApiError::invalid_field(
                &format!("merge_fields.{tag}"),
                format!(
                    "Your merge fields were invalid: {tag} is not a merge field of this audience."
                ),
            ));
        };
        let ok = match (field.kind.as_str(), v) {
            ("address", Value::Object(a)) => ["addr1", "city", "zip"].iter().all(|k| {
                a.get(*k)
                    .is_some_and(|x| x.as_str().is_some_and(|s| !s.is_empty()))
            }),
            ("address", Value::String(_)) => true,
            (_, Value::String(_) | Value::Number(_)) => true,
            _ => false,
        };
        if !ok {
            return Err(ApiError::invalid_field(
                &format!("merge_fields.{tag}"),
                format!(
                    "Your merge fields were invalid: {} has an invalid value.",
                    field.tag
                ),
            ));
        }
        out.insert(field.tag.clone(), v.clone());
    }
    Ok(Some(out))
}

fn new_member(st: &mut McState, ctx: &Ctx, email: &str, status: &str) -> Member {
    let hash = subscriber_hash(email);
    let web_id = st.next_web_id();
    Member {
        unique_email_id: hash[..10].to_owned(),
        id: hash,
        email_address: email.to_owned(),
        web_id,
        email_type: "html".into(),
        status: status.into(),
        merge_fields: Map::new(),
        interests: Map::new(),
        language: String::new(),
        vip: false,
        ip_signup: String::new(),
        timestamp_signup: None,
        ip_opt: String::new(),
        timestamp_opt: (status == "subscribed").then_some(ctx.now),
        last_changed: ctx.now,
        source: "API - Generic".into(),
        tags: Vec::new(),
    }
}

/// Applies writable fields to a member; returns the webhook events the change produces.
fn apply(
    l: &List,
    m: &mut Member,
    data: &Map<String, Value>,
    now: DateTime<Utc>,
    creating: bool,
) -> Result<Vec<Event>, ApiError> {
    let mut events = Vec::new();
    let merges = merges(l, data)?;
    if let Some(Value::String(t)) = data.get("email_type") {
        m.email_type = t.clone();
    }
    if let Some(Value::String(t)) = data.get("language") {
        m.language = t.clone();
    }
    if let Some(Value::Bool(b)) = data.get("vip") {
        m.vip = *b;
    }
    if let Some(Value::String(t)) = data.get("ip_signup") {
        m.ip_signup = t.clone();
    }
    if let Some(Value::String(t)) = data.get("ip_opt") {
        m.ip_opt = t.clone();
    }
    if let Some(t) = data
        .get("timestamp_signup")
        .and_then(Value::as_str)
        .and_then(super::query::parse_time)
    {
        m.timestamp_signup = Some(t);
    }
    if let Some(t) = data
        .get("timestamp_opt")
        .and_then(Value::as_str)
        .and_then(super::query::parse_time)
    {
        m.timestamp_opt = Some(t);
    }
    if let Some(Value::Object(i)) = data.get("interests") {
        m.interests.extend(i.clone());
    }
    if let Some(Value::Array(tags)) = data.get("tags") {
        for t in tags {
            let name = t.as_str().or_else(|| t.get("name").and_then(Value::as_str));
            if let Some(n) = name
                && !m.tags.iter().any(|x| x == n)
            {
                m.tags.push(n.to_owned());
            }
        }
    }
    if let Some(mf) = merges {
        let before = m.merge_fields.clone();
        m.merge_fields.extend(mf);
        if !creating && before != m.merge_fields {
            events.push(Event::Profile);
        }
    }
    if let Some(Value::String(s)) = data.get("status")
        && (creating || *s != m.status)
    {
        let old = std::mem::replace(&mut m.status, s.clone());
        match s.as_str() {
            "subscribed" => {
                m.timestamp_opt = Some(now);
                events.push(Event::Subscribe);
            }
            "unsubscribed" if !creating && old != *s => events.push(Event::Unsubscribe),
            "cleaned" if !creating => events.push(Event::Cleaned),
            _ => {}
        }
    }
    m.last_changed = now;
    Ok(events)
}

/// Webhook event types: the shared wire crate's (the names the connector reads).
pub use ferry_mailchimp_wire::WebhookEventType as Event;

fn flatten_merges(form: &mut Vec<(String, String)>, m: &Member) {
    form.push(("data[merges][EMAIL]".into(), m.email_address.clone()));
    for (tag, v) in &m.merge_fields {
        match v {
            Value::Object(a) => {
                for (k, x) in a {
                    let s = x
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| x.to_string());
                    form.push((format!("data[merges][{tag}][{k}]"), s));
                }
            }
            Value::String(s) => form.push((format!("data[merges][{tag}]"), s.clone())),
            other => form.push((format!("data[merges][{tag}]"), other.to_string())),
        }
    }
}

/// Queues the webhook POSTs of member events (source `api`) in the state's outbox.
pub fn emit(
    st: &mut McState,
    list_id: &str,
    m: &Member,
    events: &[Event],
    old_email: Option<&str>,
    now: DateTime<Utc>,
) {
    let Some(l) = st.lists.get(list_id) else {
        return;
    };
    let fired_at = now.format("%Y-%m-%d %H:%M:%S").to_string();
    let mut out = Vec::new();
    for ev in events {
        for w in l.webhooks.values() {
            let on = |k: &str, map: &Map<String, Value>| {
                map.get(k).and_then(Value::as_bool).unwrap_or(false)
            };
            if !on(ev.as_str(), &w.events) || !on("api", &w.sources) {
                continue;
            }
            let mut form: Vec<(String, String)> = vec![
                ("type".into(), ev.as_str().into()),
                ("fired_at".into(), fired_at.clone()),
            ];
            let d = |k: &str| format!("data[{k}]");
            match ev {
                Event::Upemail => {
                    form.push((d("list_id"), list_id.into()));
                    form.push((d("new_id"), m.id.clone()));
                    form.push((d("new_email"), m.email_address.clone()));
                    form.push((d("old_email"), old_email.unwrap_or_default().into()));
                }
                Event::Cleaned => {
                    form.push((d("list_id"), list_id.into()));
                    form.push((d("campaign_id"), String::new()));
                    form.push((d("reason"), "hard".into()));
                    form.push((d("email"), m.email_address.clone()));
                }
                _ => {
                    if *ev == Event::Unsubscribe {
                        form.push((d("action"), "unsub".into()));
                        form.push((d("reason"), "manual".into()));
                    }
                    form.push((d("id"), m.id.clone()));
                    form.push((d("list_id"), list_id.into()));
                    form.push((d("email"), m.email_address.clone()));
                    form.push((d("email_type"), m.email_type.clone()));
                    flatten_merges(&mut form, m);
                    form.push((d("ip_opt"), m.ip_opt.clone()));
                    if *ev == Event::Subscribe {
                        form.push((d("ip_signup"), m.ip_signup.clone()));
                    }
                }
            }
            out.push(Delivery {
                url: w.url.clone(),
                event: ev.as_str().into(),
                form,
            });
        }
    }
    st.outbox.extend(out);
}

pub fn post_member(
    st: &mut McState,
    ctx: &Ctx,
    list_id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    list(st, list_id)?;
    let data = check(&body, MEMBER_FIELDS, &["email_address", "status"])?;
    let email = data["email_address"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !valid_email(&email) {
        return Err(fake_email(&email));
    }
    let hash = subscriber_hash(&email);
    if list(st, list_id)?.members.contains_key(&hash) {
        return Err(ApiError::new(
            400,
            "Member Exists",
            format!("{email} is already a list member. Use PUT to insert or update list members."),
        ));
    }
    let status = data["status"].as_str().unwrap_or("subscribed").to_owned();
    let mut m = new_member(st, ctx, &email, &status);
    let events = apply(list(st, list_id)?, &mut m, &data, ctx.now, true)?;
    let v = member_json(list_id, &m);
    list_mut(st, list_id)?.members.insert(hash, m.clone());
    emit(st, list_id, &m, &events, None, ctx.now);
    Ok(Reply::ok(v))
}

/// Shared by PUT and PATCH on an existing member (e-mail changes included).
fn update_member(
    st: &mut McState,
    ctx: &Ctx,
    list_id: &str,
    key: &str,
    data: Map<String, Value>,
) -> ApiResult {
    let l = list(st, list_id)?;
    let mut m = l
        .members
        .get(key)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    let mut events = Vec::new();
    let mut old_email = None;
    if let Some(new_email) = data
        .get("email_address")
        .and_then(Value::as_str)
        .map(str::trim)
        && !new_email.eq_ignore_ascii_case(&m.email_address)
    {
        if !valid_email(new_email) {
            return Err(fake_email(new_email));
        }
        let new_hash = subscriber_hash(new_email);
        if l.members.contains_key(&new_hash) {
            return Err(ApiError::new(
                400,
                "Member Exists",
                format!(
                    "{new_email} is already a list member. Use PUT to insert or update list members."
                ),
            ));
        }
        old_email = Some(std::mem::replace(
            &mut m.email_address,
            new_email.to_owned(),
        ));
        m.id = new_hash;
        m.unique_email_id = m.id[..10].to_owned();
        events.push(Event::Upemail);
    }
    events.extend(apply(l, &mut m, &data, ctx.now, false)?);
    let v = member_json(list_id, &m);
    let members = &mut list_mut(st, list_id)?.members;
    if m.id != key {
        members.shift_remove(key);
    }
    members.insert(m.id.clone(), m.clone());
    emit(st, list_id, &m, &events, old_email.as_deref(), ctx.now);
    Ok(Reply::ok(v))
}

pub fn put_member(
    st: &mut McState,
    ctx: &Ctx,
    list_id: &str,
    h: &str,
    body: Map<String, Value>,
) -> ApiResult {
    list(st, list_id)?;
    let mut data = check(&body, MEMBER_FIELDS, &["email_address", "status_if_new"])?;
    let key = member_key(h);
    if list(st, list_id)?.members.contains_key(&key) {
        data.remove("status_if_new");
        return update_member(st, ctx, list_id, &key, data);
    }
    let email = data["email_address"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !valid_email(&email) {
        return Err(fake_email(&email));
    }
    if subscriber_hash(&email) != key {
        return Err(ApiError::invalid_field(
            "email_address",
            "The subscriber hash in the URL does not match the email address.",
        ));
    }
    if !data.contains_key("status") {
        let s = data["status_if_new"].clone();
        data.insert("status".into(), s);
    }
    let status = data["status"].as_str().unwrap_or("subscribed").to_owned();
    let mut m = new_member(st, ctx, &email, &status);
    let events = apply(list(st, list_id)?, &mut m, &data, ctx.now, true)?;
    let v = member_json(list_id, &m);
    list_mut(st, list_id)?.members.insert(key, m.clone());
    emit(st, list_id, &m, &events, None, ctx.now);
    Ok(Reply::ok(v))
}

pub fn patch_member(
    st: &mut McState,
    ctx: &Ctx,
    list_id: &str,
    h: &str,
    body: Map<String, Value>,
) -> ApiResult {
    list(st, list_id)?;
    let mut data = check(&body, MEMBER_FIELDS, &[])?;
    data.remove("status_if_new");
    if data.get("status").and_then(Value::as_str) == Some("transactional") {
        return Err(ApiError::invalid_field(
            "status",
            "Value must be one of: subscribed, unsubscribed, cleaned, pending",
        ));
    }
    update_member(st, ctx, list_id, &member_key(h), data)
}

pub fn delete_member(st: &mut McState, ctx: &Ctx, list_id: &str, h: &str) -> ApiResult {
    let key = member_key(h);
    let m = list_mut(st, list_id)?
        .members
        .shift_remove(&key)
        .ok_or_else(ApiError::not_found)?;
    if m.status == "subscribed" {
        emit(st, list_id, &m, &[Event::Unsubscribe], None, ctx.now);
        if let Some(last) = st.outbox.last_mut()
            && let Some(action) = last.form.iter_mut().find(|(k, _)| k == "data[action]")
        {
            action.1 = "delete".into();
        }
    }
    Ok(Reply::no_content())
}

// ---- webhooks --------------------------------------------------------------------------

const WEBHOOK_FIELDS: &[(&str, T)] = &[("url", T::Str), ("events", T::Obj), ("sources", T::Obj)];

fn bools(v: Option<&Value>, keys: &[&str], default: bool) -> Map<String, Value> {
    keys.iter()
        .map(|k| {
            let b = v
                .and_then(|o| o.get(*k))
                .and_then(Value::as_bool)
                .unwrap_or(default);
            ((*k).to_owned(), Value::Bool(b))
        })
        .collect()
}

const EVENT_KEYS: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "profile",
    "cleaned",
    "upemail",
    "campaign",
];
const SOURCE_KEYS: &[&str] = &["user", "admin", "api"];

fn valid_url(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://")) && u.len() > "https://x".len()
}

pub fn get_webhooks(st: &McState, list_id: &str) -> ApiResult {
    let l = list(st, list_id)?;
    let items: Vec<Value> = l
        .webhooks
        .values()
        .map(|w| webhook_json(list_id, w))
        .collect();
    let total = items.len();
    Ok(Reply::ok(
        json!({"webhooks": items, "list_id": list_id, "total_items": total, "_links": []}),
    ))
}

/// Registers a webhook. Events and sources not given default to enabled (so a webhook
/// registered with only a URL hears everything, API changes included).
pub fn post_webhook(st: &mut McState, list_id: &str, body: Map<String, Value>) -> ApiResult {
    list(st, list_id)?;
    let data = check(&body, WEBHOOK_FIELDS, &["url"])?;
    let url = data["url"].as_str().unwrap_or_default().to_owned();
    if !valid_url(&url) {
        return Err(ApiError::invalid_field(
            "url",
            "This value should be a valid URL.",
        ));
    }
    let l = list_mut(st, list_id)?;
    if l.webhooks.values().any(|w| w.url == url) {
        return Err(ApiError::bad_request(
            "The URL you entered is already registered as a webhook for this list.",
        ));
    }
    let id = format!(
        "{:010x}",
        0x5eb_0000u64 + l.webhooks.len() as u64 + l.web_id * 1000
    )[..10]
        .to_owned();
    let w = Webhook {
        id: id.clone(),
        url,
        events: bools(data.get("events"), EVENT_KEYS, true),
        sources: bools(data.get("sources"), SOURCE_KEYS, true),
    };
    let v = webhook_json(list_id, &w);
    l.webhooks.insert(id, w);
    Ok(Reply::ok(v))
}

pub fn get_webhook(st: &McState, list_id: &str, id: &str) -> ApiResult {
    let w = list(st, list_id)?
        .webhooks
        .get(id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(webhook_json(list_id, w)))
}

pub fn patch_webhook(
    st: &mut McState,
    list_id: &str,
    id: &str,
    body: Map<String, Value>,
) -> ApiResult {
    let data = check(&body, WEBHOOK_FIELDS, &[])?;
    let w = list_mut(st, list_id)?
        .webhooks
        .get_mut(id)
        .ok_or_else(ApiError::not_found)?;
    if let Some(u) = data.get("url").and_then(Value::as_str) {
        if !valid_url(u) {
            return Err(ApiError::invalid_field(
                "url",
                "This value should be a valid URL.",
            ));
        }
        w.url = u.to_owned();
    }
    if let Some(Value::Object(e)) = data.get("events") {
        for (k, v) in e {
            if EVENT_KEYS.contains(&k.as_str()) && v.is_boolean() {
                w.events.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(Value::Object(s)) = data.get("sources") {
        for (k, v) in s {
            if SOURCE_KEYS.contains(&k.as_str()) && v.is_boolean() {
                w.sources.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Reply::ok(webhook_json(list_id, w)))
}

pub fn delete_webhook(st: &mut McState, list_id: &str, id: &str) -> ApiResult {
    list_mut(st, list_id)?
        .webhooks
        .shift_remove(id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::no_content())
}

/// Makes sure an e-commerce customer's e-mail is on the store's audience (MailChimp adds
/// store customers to the audience: subscribed when opted in, else transactional).
pub fn ensure_member(
    st: &mut McState,
    ctx: &Ctx,
    list_id: &str,
    email: &str,
    opt_in: bool,
    first: Option<&str>,
    last: Option<&str>,
) {
    let hash = subscriber_hash(email);
    let Some(l) = st.lists.get(list_id) else {
        return;
    };
    if l.members.contains_key(&hash) {
        return;
    }
    let status = if opt_in {
        "subscribed"
    } else {
        "transactional"
    };
    let mut m = new_member(st, ctx, email, status);
    m.source = "E-commerce".into();
    if let Some(f) = first {
        m.merge_fields.insert("FNAME".into(), json!(f));
    }
    if let Some(l) = last {
        m.merge_fields.insert("LNAME".into(), json!(l));
    }
    if let Some(l) = st.lists.get_mut(list_id) {
        l.members.insert(hash, m.clone());
    }
    if opt_in {
        emit(st, list_id, &m, &[Event::Subscribe], None, ctx.now);
    }
}
