//! The simulated account: audiences with members and webhooks, e-commerce stores with
//! customers, products (+ variants) and orders (+ lines), and batches. Plain data behind one
//! lock (see [`super::Mailchimp`]); JSON rendering of each resource as the API returns it.

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use md5::{Digest, Md5};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::query::fmt_time;
use crate::seed::{MemberStatus, Seed};

/// Subscriber hash: MD5 of the lower-cased e-mail address, hex.
pub fn subscriber_hash(email: &str) -> String {
    let digest = Md5::digest(email.trim().to_lowercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A merge field of an audience.
#[derive(Debug, Clone, Serialize)]
pub struct MergeField {
    pub tag: String,
    pub name: String,
    /// text | address | phone | number ...
    pub kind: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub id: String,
    pub email_address: String,
    pub unique_email_id: String,
    pub web_id: u64,
    pub email_type: String,
    pub status: String,
    pub merge_fields: Map<String, Value>,
    pub interests: Map<String, Value>,
    pub language: String,
    pub vip: bool,
    pub ip_signup: String,
    pub timestamp_signup: Option<DateTime<Utc>>,
    pub ip_opt: String,
    pub timestamp_opt: Option<DateTime<Utc>>,
    pub last_changed: DateTime<Utc>,
    pub source: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Map<String, Value>,
    pub sources: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct List {
    pub id: String,
    pub web_id: u64,
    /// Writable settings (name, contact, permission_reminder, campaign_defaults, ...).
    pub data: Map<String, Value>,
    pub merge_fields: Vec<MergeField>,
    pub date_created: DateTime<Utc>,
    pub members: IndexMap<String, Member>,
    pub webhooks: IndexMap<String, Webhook>,
}

/// A record stored as its writable JSON fields plus server timestamps.
#[derive(Debug, Clone, Serialize)]
pub struct Rec {
    pub data: Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Rec {
    pub fn new(data: Map<String, Value>, now: DateTime<Utc>) -> Self {
        Rec {
            data,
            created_at: now,
            updated_at: now,
        }
    }
    pub fn str(&self, k: &str) -> &str {
        self.data.get(k).and_then(Value::as_str).unwrap_or("")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub rec: Rec,
    pub variants: IndexMap<String, Rec>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub rec: Rec,
    pub lines: IndexMap<String, Rec>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Store {
    pub rec: Rec,
    pub customers: IndexMap<String, Rec>,
    pub products: IndexMap<String, Product>,
    pub orders: IndexMap<String, Order>,
}

/// One operation of a batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchOp {
    pub method: String,
    pub path: String,
    pub params: Map<String, Value>,
    pub body: Option<String>,
    pub operation_id: Option<String>,
}

/// One operation's result, as in the results archive.
#[derive(Debug, Clone, Serialize)]
pub struct BatchResult {
    pub status_code: u16,
    pub operation_id: Option<String>,
    /// The response body as a JSON string.
    pub response: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub id: String,
    pub status: String,
    pub operations: Vec<BatchOp>,
    pub finished_operations: usize,
    pub errored_operations: usize,
    pub submitted_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub results: Vec<BatchResult>,
    /// The gzipped tar archive of the results, once finished.
    #[serde(skip)]
    pub archive: Option<Vec<u8>>,
}

/// A webhook POST waiting to be (or having been) delivered.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub url: String,
    pub event: String,
    pub form: Vec<(String, String)>,
}

/// A delivery attempt outcome, for the state dump.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryLog {
    pub url: String,
    pub event: String,
    pub attempts: u32,
    pub status: Option<u16>,
    pub delivered: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct McState {
    pub lists: IndexMap<String, List>,
    pub stores: IndexMap<String, Store>,
    pub batches: IndexMap<String, Batch>,
    pub deliveries: Vec<DeliveryLog>,
    /// Webhook POSTs produced by the last operations, drained by the server.
    #[serde(skip)]
    pub outbox: Vec<Delivery>,
    /// Batches submitted and not yet started, drained by the server.
    #[serde(skip)]
    pub batch_queue: Vec<String>,
    pub next_web_id: u64,
    pub next_batch: u64,
}

fn cents(c: i64) -> Value {
    // MailChimp money is a JSON number in major units.
    json!((c as f64) / 100.0)
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The default merge fields of an audience plus Ferry's COMPANY custom field.
pub fn default_merge_fields() -> Vec<MergeField> {
    [
        ("FNAME", "First Name", "text"),
        ("LNAME", "Last Name", "text"),
        ("ADDRESS", "Address", "address"),
        ("PHONE", "Phone Number", "phone"),
        ("COMPANY", "Company", "text"),
    ]
    .into_iter()
    .map(|(tag, name, kind)| MergeField {
        tag: tag.into(),
        name: name.into(),
        kind: kind.into(),
    })
    .collect()
}

impl McState {
    pub fn next_web_id(&mut self) -> u64 {
        self.next_web_id += 1;
        100_000 + self.next_web_id
    }

    /// The state of a seed (or an empty account: no audiences or stores at all).
    pub fn from_seed(seed: Option<&Seed>) -> McState {
        let mut st = McState::default();
        let Some(seed) = seed else {
            return st;
        };
        let shop = &seed.shop;
        let created = shop.created_at.with_timezone(&Utc);
        let mut list = List {
            id: shop.list_id.clone(),
            web_id: st.next_web_id(),
            data: obj(json!({
                "name": shop.list_name,
                "contact": {
                    "company": shop.name, "address1": shop.address.line1(), "address2": "",
                    "city": shop.address.city, "state": "", "zip": shop.address.postcode,
                    "country": shop.address.country_code, "phone": shop.phone,
                },
                "permission_reminder": "You signed up for our newsletter in our shop or webshop.",
                "use_archive_bar": false,
                "campaign_defaults": {"from_name": shop.name, "from_email": shop.email, "subject": "", "language": "nl"},
                "notify_on_subscribe": "", "notify_on_unsubscribe": "",
                "email_type_option": false, "visibility": "prv", "double_optin": false,
                "has_welcome": false, "marketing_permissions": false,
            })),
            merge_fields: default_merge_fields(),
            date_created: created,
            members: IndexMap::new(),
            webhooks: IndexMap::new(),
        };
        for c in &seed.customers {
            let Some(status) = c.member_status else {
                continue;
            };
            let hash = subscriber_hash(&c.email);
            let mut merges = obj(json!({
                "FNAME": c.first_name, "LNAME": c.last_name, "PHONE": c.phone,
                "ADDRESS": {
                    "addr1": c.address.line1(), "addr2": "", "city": c.address.city,
                    "state": "", "zip": c.address.postcode, "country": c.address.country_code,
                },
                "COMPANY": c.company.clone().unwrap_or_default(),
            }));
            merges.retain(|_, v| v != &Value::Null);
            let web_id = st.next_web_id();
            list.members.insert(
                hash.clone(),
                Member {
                    unique_email_id: hash[..10].to_owned(),
                    id: hash,
                    email_address: c.email.clone(),
                    web_id,
                    email_type: "html".into(),
                    status: status.as_str().into(),
                    merge_fields: merges,
                    interests: Map::new(),
                    language: "nl".into(),
                    vip: false,
                    ip_signup: String::new(),
                    timestamp_signup: Some(c.created_at.with_timezone(&Utc)),
                    ip_opt: "192.0.2.10".into(),
                    timestamp_opt: (status != MemberStatus::Pending)
                        .then(|| c.created_at.with_timezone(&Utc)),
                    last_changed: c.updated_at.with_timezone(&Utc),
                    source: "Import".into(),
                    tags: Vec::new(),
                },
            );
        }
        st.lists.insert(list.id.clone(), list);

        let mut store = Store {
            rec: Rec::new(
                obj(json!({
                    "id": shop.store_id, "list_id": shop.list_id, "name": shop.name,
                    "platform": "Ferry", "domain": shop.domain, "is_syncing": false,
                    "email_address": shop.email, "currency_code": shop.currency_code,
                    "money_format": "€", "primary_locale": "nl", "timezone": "Europe/Amsterdam",
                    "phone": shop.phone,
                    "address": {
                        "address1": shop.address.line1(), "address2": "", "city": shop.address.city,
                        "province": "", "province_code": "", "postal_code": shop.address.postcode,
                        "country": shop.address.country_name(), "country_code": shop.address.country_code,
                    },
                })),
                created,
            ),
            customers: IndexMap::new(),
            products: IndexMap::new(),
            orders: IndexMap::new(),
        };
        for c in seed.customers.iter().filter(|c| c.in_mailchimp_store) {
            let mut data = obj(json!({
                "id": c.mailchimp_id, "email_address": c.email,
                "opt_in_status": c.member_status == Some(MemberStatus::Subscribed),
                "first_name": c.first_name, "last_name": c.last_name,
                "address": {
                    "address1": c.address.line1(), "address2": "", "city": c.address.city,
                    "province": "", "province_code": "", "postal_code": c.address.postcode,
                    "country": c.address.country_name(), "country_code": c.address.country_code,
                },
            }));
            if let Some(company) = &c.company {
                data.insert("company".into(), json!(company));
            }
            store.customers.insert(
                c.mailchimp_id.clone(),
                Rec {
                    data,
                    created_at: c.created_at.with_timezone(&Utc),
                    updated_at: c.updated_at.with_timezone(&Utc),
                },
            );
        }
        let group_name = |n: u32| {
            seed.article_groups
                .iter()
                .find(|g| g.number == n)
                .map(|g| g.name.clone())
                .unwrap_or_default()
        };
        for p in seed.products.iter().filter(|p| p.in_mailchimp) {
            let id = p.mailchimp_id();
            let handle = p
                .title
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
            let url = format!("https://{}/products/{handle}", shop.domain);
            let mut variants = IndexMap::new();
            for v in &p.variants {
                variants.insert(
                    v.sku.clone(),
                    Rec {
                        data: obj(json!({
                            "id": v.sku, "title": v.title, "url": url, "sku": v.sku,
                            "price": cents(v.price_cents),
                            "inventory_quantity": seed.stock_free(&v.sku),
                            "image_url": "", "backorders": "false", "visibility": "visible",
                        })),
                        created_at: p.created_at.with_timezone(&Utc),
                        updated_at: p.updated_at.with_timezone(&Utc),
                    },
                );
            }
            store.products.insert(
                id.clone(),
                Product {
                    rec: Rec {
                        data: obj(json!({
                            "id": id, "title": p.title, "handle": handle, "url": url,
                            "description": p.description, "type": group_name(p.article_group),
                            "vendor": p.brand, "image_url": "",
                            "published_at_foreign": fmt_time(&p.created_at.with_timezone(&Utc)),
                        })),
                        created_at: p.created_at.with_timezone(&Utc),
                        updated_at: p.updated_at.with_timezone(&Utc),
                    },
                    variants,
                },
            );
        }
        for o in seed.orders.iter().filter(|o| o.in_mailchimp) {
            let Some(c) = seed.customer(&o.customer_email) else {
                continue;
            };
            let address = json!({
                "name": c.full_name(), "address1": c.address.line1(), "address2": "",
                "city": c.address.city, "province": "", "province_code": "",
                "postal_code": c.address.postcode, "country": c.address.country_name(),
                "country_code": c.address.country_code, "phone": c.phone,
                "company": c.company.clone().unwrap_or_default(),
            });
            let mut lines = IndexMap::new();
            let mut tax = 0i64;
            for (i, l) in o.lines.iter().enumerate() {
                let Some((p, v)) = seed.variant(&l.sku) else {
                    continue;
                };
                let pct = seed
                    .vat_groups
                    .iter()
                    .find(|g| g.code == p.vat_code)
                    .map_or(0, |g| i64::from(g.percentage));
                let gross = l.price_cents * i64::from(l.quantity);
                tax += gross * pct / (100 + pct);
                let line_id = format!("{}-{}", o.id, i + 1);
                lines.insert(
                    line_id.clone(),
                    Rec {
                        data: obj(json!({
                            "id": line_id, "product_id": p.mailchimp_id(), "product_variant_id": v.sku,
                            "quantity": l.quantity, "price": cents(l.price_cents), "discount": 0,
                        })),
                        created_at: o.created_at.with_timezone(&Utc),
                        updated_at: o.updated_at.with_timezone(&Utc),
                    },
                );
            }
            let mut data = obj(json!({
                "id": o.id, "customer": {"id": c.mailchimp_id},
                "financial_status": o.financial_status, "fulfillment_status": o.fulfillment_status,
                "currency_code": o.currency_code, "order_total": cents(o.total_cents()),
                "discount_total": 0, "tax_total": cents(tax), "shipping_total": cents(o.shipping_cents),
                "processed_at_foreign": fmt_time(&o.created_at.with_timezone(&Utc)),
                "updated_at_foreign": fmt_time(&o.updated_at.with_timezone(&Utc)),
                "shipping_address": address, "billing_address": address,
                "order_url": format!("https://{}/account/orders/{}", shop.domain, o.id),
                "campaign_id": "", "landing_site": "", "promos": [],
            }));
            if o.financial_status == "cancelled" {
                data.insert(
                    "cancelled_at_foreign".into(),
                    json!(fmt_time(&o.updated_at.with_timezone(&Utc))),
                );
            }
            store.orders.insert(
                o.id.clone(),
                Order {
                    rec: Rec {
                        data,
                        created_at: o.created_at.with_timezone(&Utc),
                        updated_at: o.updated_at.with_timezone(&Utc),
                    },
                    lines,
                },
            );
        }
        st.stores.insert(shop.store_id.clone(), store);
        st
    }
}

// ---- rendering -------------------------------------------------------------------------

fn links() -> Value {
    json!([])
}

pub fn list_json(l: &List) -> Value {
    let count = |s: &str| l.members.values().filter(|m| m.status == s).count();
    let mut v = Value::Object(l.data.clone());
    v["id"] = json!(l.id);
    v["web_id"] = json!(l.web_id);
    v["date_created"] = json!(fmt_time(&l.date_created));
    v["list_rating"] = json!(0);
    v["subscribe_url_short"] = json!(format!("http://eepurl.com/{}", &l.id[..l.id.len().min(6)]));
    v["subscribe_url_long"] = json!(format!("https://list-manage.com/subscribe?id={}", l.id));
    v["beamer_address"] = json!(format!("{}@inbound.mailchimp.com", l.id));
    v["modules"] = json!([]);
    v["stats"] = json!({
        "member_count": count("subscribed"),
        "total_contacts": l.members.len(),
        "unsubscribe_count": count("unsubscribed"),
        "cleaned_count": count("cleaned"),
        "member_count_since_send": count("subscribed"),
        "unsubscribe_count_since_send": 0, "cleaned_count_since_send": 0,
        "campaign_count": 0, "merge_field_count": l.merge_fields.len(),
        "avg_sub_rate": 0, "avg_unsub_rate": 0, "target_sub_rate": 0,
        "open_rate": 0, "click_rate": 0,
    });
    v["_links"] = links();
    v
}

pub fn member_json(list_id: &str, m: &Member) -> Value {
    let full_name = [
        m.merge_fields
            .get("FNAME")
            .and_then(Value::as_str)
            .unwrap_or(""),
        m.merge_fields
            .get("LNAME")
            .and_then(Value::as_str)
            .unwrap_or(""),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" ");
    json!({
        "id": m.id,
        "email_address": m.email_address,
        "unique_email_id": m.unique_email_id,
        "contact_id": m.id,
        "full_name": full_name,
        "web_id": m.web_id,
        "email_type": m.email_type,
        "status": m.status,
        "consents_to_one_to_one_messaging": true,
        "merge_fields": m.merge_fields,
        "interests": m.interests,
        "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
        "ip_signup": m.ip_signup,
        "timestamp_signup": m.timestamp_signup.as_ref().map(fmt_time).unwrap_or_default(),
        "ip_opt": m.ip_opt,
        "timestamp_opt": m.timestamp_opt.as_ref().map(fmt_time).unwrap_or_default(),
        "member_rating": 2,
        "last_changed": fmt_time(&m.last_changed),
        "language": m.language,
        "vip": m.vip,
        "email_client": "",
        "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0, "country_code": "", "timezone": ""},
        "source": m.source,
        "tags_count": m.tags.len(),
        "tags": m.tags.iter().enumerate().map(|(i, t)| json!({"id": i + 1, "name": t})).collect::<Vec<_>>(),
        "list_id": list_id,
        "_links": links(),
    })
}

pub fn webhook_json(list_id: &str, w: &Webhook) -> Value {
    json!({
        "id": w.id, "url": w.url, "events": w.events, "sources": w.sources,
        "list_id": list_id, "_links": links(),
    })
}

fn stamped(rec: &Rec) -> Value {
    let mut v = Value::Object(rec.data.clone());
    v["created_at"] = json!(fmt_time(&rec.created_at));
    v["updated_at"] = json!(fmt_time(&rec.updated_at));
    v["_links"] = links();
    v
}

pub fn store_json(s: &Store) -> Value {
    let mut v = stamped(&s.rec);
    v["list_is_active"] = json!(true);
    v["connected_site"] =
        json!({"site_foreign_id": s.rec.str("id"), "site_script": {"url": "", "fragment": ""}});
    v["automations"] = json!({
        "abandoned_cart": {"is_supported": false, "id": "", "status": "save"},
        "abandoned_browse": {"is_supported": false, "id": "", "status": "save"},
    });
    v
}

/// Every customer's `orders_count` and `total_spent` in one pass over a store's orders (for
/// rendering a page of customers or orders without rescanning the orders per record).
#[derive(Debug, Default)]
pub struct CustomerStats(std::collections::HashMap<String, (u64, f64)>);

impl CustomerStats {
    pub fn of(s: &Store) -> Self {
        let mut map: std::collections::HashMap<String, (u64, f64)> =
            std::collections::HashMap::new();
        for o in s.orders.values() {
            let Some(cid) = o
                .rec
                .data
                .get("customer")
                .and_then(|c| c.get("id"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let e = map.entry(cid.to_owned()).or_default();
            e.0 += 1;
            e.1 += o
                .rec
                .data
                .get("order_total")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
        }
        CustomerStats(map)
    }

    fn get(&self, id: &str) -> (u64, f64) {
        self.0.get(id).copied().unwrap_or((0, 0.0))
    }
}

/// A customer with its computed `orders_count` and `total_spent`.
pub fn customer_json(s: &Store, c: &Rec) -> Value {
    customer_json_with(c, &CustomerStats::of(s))
}

/// [`customer_json`] with the stats computed once for many records.
pub fn customer_json_with(c: &Rec, stats: &CustomerStats) -> Value {
    let (count, spent) = stats.get(c.str("id"));
    let mut v = stamped(c);
    v["orders_count"] = json!(count);
    v["total_spent"] = json!((spent * 100.0).round() / 100.0);
    v
}

pub fn variant_json(v: &Rec) -> Value {
    stamped(v)
}

pub fn product_json(s: &Store, p: &Product) -> Value {
    let mut v = Value::Object(p.rec.data.clone());
    v["currency_code"] = json!(s.rec.str("currency_code"));
    // At most 50 variants inline.
    v["variants"] = p.variants.values().take(50).map(variant_json).collect();
    if v.get("images").is_none() {
        v["images"] = json!([]);
    }
    v["created_at"] = json!(fmt_time(&p.rec.created_at));
    v["updated_at"] = json!(fmt_time(&p.rec.updated_at));
    v["_links"] = links();
    v
}

pub fn line_json(s: &Store, l: &Rec) -> Value {
    let mut v = Value::Object(l.data.clone());
    let product = s.products.get(l.str("product_id"));
    let variant = product.and_then(|p| p.variants.get(l.str("product_variant_id")));
    v["product_title"] = json!(product.map(|p| p.rec.str("title")).unwrap_or(""));
    v["product_variant_title"] = json!(variant.map(|v| v.str("title")).unwrap_or(""));
    v["image_url"] = json!(variant.map(|v| v.str("image_url")).unwrap_or(""));
    v["_links"] = links();
    v
}

pub fn order_json(s: &Store, o: &Order) -> Value {
    order_json_with(s, o, Some(&CustomerStats::of(s)), true)
}

/// [`order_json`] with the customer stats computed once for many records; `None` leaves the
/// embedded customer as stored (`{id}`), and `lines: false` leaves the lines out, for a
/// projection that does not ask for them.
pub fn order_json_with(s: &Store, o: &Order, stats: Option<&CustomerStats>, lines: bool) -> Value {
    let mut v = Value::Object(o.rec.data.clone());
    let cid = o
        .rec
        .data
        .get("customer")
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if let (Some(c), Some(stats)) = (s.customers.get(cid), stats) {
        v["customer"] = customer_json_with(c, stats);
    }
    v["store_id"] = json!(s.rec.str("id"));
    if lines {
        v["lines"] = o.lines.values().map(|l| line_json(s, l)).collect();
    }
    v["created_at"] = json!(fmt_time(&o.rec.created_at));
    v["updated_at"] = json!(fmt_time(&o.rec.updated_at));
    v["_links"] = links();
    v
}

pub fn batch_json(b: &Batch, results_base: &str) -> Value {
    json!({
        "id": b.id,
        "status": b.status,
        "total_operations": b.operations.len(),
        "finished_operations": b.finished_operations,
        "errored_operations": b.errored_operations,
        "submitted_at": fmt_time(&b.submitted_at),
        "completed_at": b.completed_at.as_ref().map(fmt_time).unwrap_or_default(),
        "response_body_url": if b.archive.is_some() { format!("{results_base}/batch-results/{}.tar.gz", b.id) } else { String::new() },
        "_links": links(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_md5_of_lowercase() {
        // md5("urist.mcvankab@freddiesjokes.com"), MailChimp's documentation example.
        assert_eq!(
            subscriber_hash("Urist.McVankab@freddiesjokes.com"),
            "62eeb292278cc15f5817cb78f7790b08"
        );
    }

    #[test]
    fn seed_loads() {
        let st = McState::from_seed(Some(&Seed::default_shop()));
        let store = st.stores.values().next().expect("store");
        assert!(store.products.len() > 40);
        assert!(!store.orders.is_empty());
        assert!(st.lists.values().next().expect("list").members.len() > 50);
    }
}
