//! The MailChimp simulator's operations over real HTTP, with every request and response body
//! validated against the OpenAPI spec's schemas.

mod support;

use serde_json::{Value, json};
use support::{LIST, OTHER_KEY, STORE, TOKEN, assert_problem, spec, start};

fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(s.to_lowercase().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_and_auth() {
    let sb = start().await;
    let r = sb.get("/ping").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"health_status": "Everything's Chimpy!"}));
    spec().assert_valid("API_health_status", &r.json);
    assert_eq!(sb.req_as(OTHER_KEY, "GET", "/ping", None).await.status, 200);

    let url = sb.url("/ping");
    let missing = support::into_resp(sb.client.get(&url).send().await.expect("send")).await;
    assert_problem(&missing, 401, "API Key Missing");
    let invalid = sb
        .req_as("ffffffffffffffffffffffffffffffff-us1", "GET", "/ping", None)
        .await;
    assert_problem(&invalid, 401, "API Key Invalid");
    let wrong_dc = sb
        .req_as(
            "0123456789abcdef0123456789abcdef-us19",
            "GET",
            "/ping",
            None,
        )
        .await;
    assert_problem(&wrong_dc, 403, "Wrong Datacenter");
    let bearer = sb
        .client
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("send");
    assert_eq!(bearer.status(), 200);
    let bad_bearer = support::into_resp(
        sb.client
            .get(&url)
            .bearer_auth("nope")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_problem(&bad_bearer, 401, "API Key Invalid");

    let root = sb.get("/").await;
    assert_eq!(root.status, 200);
    spec().assert_valid("API_Root", &root.json);
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn not_found_method_and_parse_errors() {
    let sb = start().await;
    assert_problem(&sb.get("/nope").await, 404, "Resource Not Found");
    assert_problem(
        &sb.get("/lists/doesnotexist").await,
        404,
        "Resource Not Found",
    );
    assert_problem(
        &sb.get(&format!("/ecommerce/stores/{STORE}/products/nope"))
            .await,
        404,
        "Resource Not Found",
    );
    let r = sb.req("DELETE", "/ping", None).await;
    assert_problem(&r, 405, "Method Not Allowed");
    assert_eq!(
        r.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET")
    );
    let raw = sb
        .client
        .post(sb.url(&format!("/ecommerce/stores/{STORE}/customers")))
        .basic_auth("x", Some(support::KEY))
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_problem(&support::into_resp(raw).await, 400, "JSON Parse Error");
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_and_members() {
    let sb = start().await;
    let s = spec();
    let lists = sb.get("/lists").await;
    assert_eq!(lists.status, 200);
    s.assert_valid("Subscriber_Lists", &lists.json);
    assert_eq!(lists.json["lists"][0]["id"], LIST);
    s.assert_valid(
        "Subscriber_List",
        &sb.get(&format!("/lists/{LIST}")).await.json,
    );

    // Collection: spec defect, items are List_Members.
    let members = sb.get(&format!("/lists/{LIST}/members?count=1000")).await;
    assert_eq!(members.status, 200);
    s.assert_valid_with(&s.collection_of("members", "List_Members"), &members.json);
    let total = members.json["total_items"].as_u64().expect("total");
    assert!(total > 50);
    assert_eq!(
        members.json["members"].as_array().map(Vec::len),
        Some(total as usize)
    );

    // POST a member.
    let new = json!({
        "email_address": "Nieuw.Lid@Example.NL", "status": "subscribed",
        "merge_fields": {"FNAME": "Nieuw", "LNAME": "Lid", "COMPANY": "Lid & Co",
            "ADDRESS": {"addr1": "Damrak 1", "city": "Amsterdam", "zip": "1012 LG", "country": "NL"}},
    });
    s.assert_valid("Add_List_Members_1", &new);
    let r = sb
        .req("POST", &format!("/lists/{LIST}/members"), Some(new.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.assert_valid("List_Members", &r.json);
    let hash = md5_hex("nieuw.lid@example.nl");
    assert_eq!(r.json["id"], hash);
    assert_eq!(r.json["merge_fields"]["COMPANY"], "Lid & Co");
    // Duplicate.
    let dup = sb
        .req("POST", &format!("/lists/{LIST}/members"), Some(new))
        .await;
    assert_problem(&dup, 400, "Member Exists");
    // Required fields.
    let missing = sb
        .req(
            "POST",
            &format!("/lists/{LIST}/members"),
            Some(json!({"email_address": "a@b.nl"})),
        )
        .await;
    assert_problem(&missing, 400, "Invalid Resource");
    assert_eq!(
        missing.json["errors"][0]["message"],
        "Required fields were not provided: status"
    );
    let fake = sb
        .req(
            "POST",
            &format!("/lists/{LIST}/members"),
            Some(json!({"email_address": "nope", "status": "subscribed"})),
        )
        .await;
    assert_problem(&fake, 400, "Invalid Resource");
    let bad_merge = sb
        .req("POST", &format!("/lists/{LIST}/members"), Some(json!({"email_address": "m@x.nl", "status": "subscribed", "merge_fields": {"NOPE": "x"}})))
        .await;
    assert_problem(&bad_merge, 400, "Invalid Resource");

    // GET one by hash.
    let one = sb.get(&format!("/lists/{LIST}/members/{hash}")).await;
    assert_eq!(one.status, 200);
    s.assert_valid("List_Members", &one.json);

    // PUT upsert: create, then update.
    let put = json!({"email_address": "upsert@example.be", "status_if_new": "subscribed", "merge_fields": {"FNAME": "Up"}});
    s.assert_valid("Add_List_Members_2", &put);
    let uh = md5_hex("upsert@example.be");
    let r = sb
        .req("PUT", &format!("/lists/{LIST}/members/{uh}"), Some(put))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.assert_valid("List_Members", &r.json);
    let changed_at = r.json["last_changed"]
        .as_str()
        .expect("last_changed")
        .to_owned();
    let r = sb
        .req("PUT", &format!("/lists/{LIST}/members/{uh}"), Some(json!({"email_address": "upsert@example.be", "status_if_new": "pending", "merge_fields": {"LNAME": "Sert"}})))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json["status"], "subscribed",
        "status_if_new only applies to new members"
    );
    assert_eq!(r.json["merge_fields"]["FNAME"], "Up");
    assert_eq!(r.json["merge_fields"]["LNAME"], "Sert");
    let missing = sb
        .req(
            "PUT",
            &format!("/lists/{LIST}/members/{uh}"),
            Some(json!({"email_address": "upsert@example.be"})),
        )
        .await;
    assert_problem(&missing, 400, "Invalid Resource");

    // PATCH.
    let patch = json!({"status": "unsubscribed"});
    s.assert_valid("Add_List_Members_3", &patch);
    let r = sb
        .req("PATCH", &format!("/lists/{LIST}/members/{uh}"), Some(patch))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "unsubscribed");

    // since_last_changed only returns what changed since.
    let since = sb
        .get(&format!(
            "/lists/{LIST}/members?since_last_changed={}&count=1000",
            changed_at.replace('+', "%2B")
        ))
        .await;
    assert_eq!(since.status, 200);
    let emails: Vec<&str> = since.json["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["email_address"].as_str())
        .collect();
    // Only this test's members changed since then (second resolution: the POSTed one may
    // share the second); none of the seed's.
    assert!(emails.contains(&"upsert@example.be"), "{emails:?}");
    assert!(
        emails
            .iter()
            .all(|e| ["upsert@example.be", "Nieuw.Lid@Example.NL"].contains(e)),
        "{emails:?}"
    );
    assert_eq!(
        since.json["total_items"].as_u64(),
        Some(emails.len() as u64)
    );
    // Status filter.
    let unsub = sb
        .get(&format!(
            "/lists/{LIST}/members?status=unsubscribed&count=1000"
        ))
        .await;
    assert!(
        unsub.json["members"]
            .as_array()
            .expect("members")
            .iter()
            .all(|m| m["status"] == "unsubscribed")
    );

    // DELETE.
    assert_eq!(
        sb.req("DELETE", &format!("/lists/{LIST}/members/{uh}"), None)
            .await
            .status,
        204
    );
    assert_problem(
        &sb.get(&format!("/lists/{LIST}/members/{uh}")).await,
        404,
        "Resource Not Found",
    );
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pagination_and_fields() {
    let sb = start().await;
    let base = format!("/ecommerce/stores/{STORE}/customers");
    let first = sb.get(&base).await;
    assert_eq!(
        first.json["customers"].as_array().map(Vec::len),
        Some(10),
        "count defaults to 10"
    );
    let total = first.json["total_items"].as_u64().expect("total") as usize;
    let mut seen = Vec::new();
    let mut offset = 0;
    while offset < total {
        let page = sb.get(&format!("{base}?count=7&offset={offset}")).await;
        assert_eq!(page.json["total_items"].as_u64(), Some(total as u64));
        for c in page.json["customers"].as_array().expect("customers") {
            seen.push(c["id"].as_str().expect("id").to_owned());
        }
        offset += 7;
    }
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), total);
    assert_eq!(seen.len(), total);
    let capped = sb.get(&format!("{base}?count=5000")).await;
    assert_eq!(
        capped.json["customers"].as_array().map(Vec::len),
        Some(total.min(1000))
    );
    let bad = sb.get(&format!("{base}?count=many")).await;
    assert_problem(&bad, 400, "Invalid Resource");

    let f = sb
        .get(&format!(
            "{base}?fields=customers.id,customers.address.city,total_items&count=2"
        ))
        .await;
    assert_eq!(f.status, 200);
    let keys: Vec<&String> = f.json.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["customers", "total_items"]);
    let c0 = f.json["customers"][0].as_object().expect("customer");
    assert_eq!(c0.len(), 2);
    assert_eq!(c0["address"].as_object().map(|a| a.len()), Some(1));
    let e = sb
        .get(&format!(
            "{base}?exclude_fields=_links,customers.address,customers._links"
        ))
        .await;
    assert!(e.json.get("_links").is_none());
    assert!(e.json["customers"][0].get("address").is_none());
    assert!(e.json["customers"][0].get("email_address").is_some());
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stores_crud() {
    let sb = start().await;
    let s = spec();
    s.assert_valid("E_commerce_Stores", &sb.get("/ecommerce/stores").await.json);
    let body = json!({"id": "store-2", "list_id": LIST, "name": "Second", "currency_code": "EUR", "domain": "two.example"});
    s.assert_valid("E_commerce_Store_1", &body);
    let r = sb
        .req("POST", "/ecommerce/stores", Some(body.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.assert_valid("E_commerce_Store", &r.json);
    assert_problem(
        &sb.req("POST", "/ecommerce/stores", Some(body)).await,
        400,
        "Bad Request",
    );
    let missing = sb
        .req(
            "POST",
            "/ecommerce/stores",
            Some(json!({"id": "s3", "name": "x"})),
        )
        .await;
    assert_problem(&missing, 400, "Invalid Resource");
    assert_eq!(
        missing.json["errors"][0]["message"],
        "Required fields were not provided: list_id, currency_code"
    );
    let patch = json!({"name": "Renamed", "is_syncing": true});
    s.assert_valid("E_commerce_Store_2", &patch);
    let r = sb
        .req("PATCH", "/ecommerce/stores/store-2", Some(patch))
        .await;
    assert_eq!(r.json["name"], "Renamed");
    assert_eq!(r.json["is_syncing"], true);
    s.assert_valid("E_commerce_Store", &r.json);
    assert_eq!(
        sb.req("DELETE", "/ecommerce/stores/store-2", None)
            .await
            .status,
        204
    );
    assert_problem(
        &sb.get("/ecommerce/stores/store-2").await,
        404,
        "Resource Not Found",
    );
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn customers() {
    let sb = start().await;
    let s = spec();
    let base = format!("/ecommerce/stores/{STORE}/customers");
    s.assert_valid(
        "Customers",
        &sb.get(&format!("{base}?count=1000")).await.json,
    );
    let body = json!({"id": "c-9001", "email_address": "klant@example.nl", "opt_in_status": true,
        "company": "Klant B.V.", "first_name": "Kees", "last_name": "Klant",
        "address": {"address1": "Kalverstraat 1", "city": "Amsterdam", "postal_code": "1012 NX", "country_code": "NL"}});
    s.assert_valid("E_commerce_Customer_3", &body);
    let r = sb.req("POST", &base, Some(body.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.assert_valid("E_commerce_Customer", &r.json);
    assert_eq!(r.json["orders_count"], 0);
    let created = r.json["created_at"]
        .as_str()
        .expect("created_at")
        .to_owned();
    assert!(created.ends_with("+00:00"));
    // The customer is on the audience now.
    assert_eq!(
        sb.get(&format!(
            "/lists/{LIST}/members/{}",
            md5_hex("klant@example.nl")
        ))
        .await
        .json["status"],
        "subscribed"
    );
    // Duplicate id, and the same e-mail under another id.
    assert_problem(
        &sb.req("POST", &base, Some(body.clone())).await,
        400,
        "Bad Request",
    );
    let mut other = body.clone();
    other["id"] = json!("c-9002");
    let r = sb.req("POST", &base, Some(other)).await;
    assert_problem(&r, 400, "Bad Request");
    // Missing fields, too long id.
    let r = sb.req("POST", &base, Some(json!({"id": "x"}))).await;
    assert_problem(&r, 400, "Invalid Resource");
    assert_eq!(
        r.json["errors"][0]["message"],
        "Required fields were not provided: email_address, opt_in_status"
    );
    let r = sb.req("POST", &base, Some(json!({"id": "x".repeat(51), "email_address": "long@example.nl", "opt_in_status": false}))).await;
    assert_problem(&r, 400, "Invalid Resource");
    // Wrong type.
    let r = sb
        .req(
            "POST",
            &base,
            Some(json!({"id": "t", "email_address": "t@example.nl", "opt_in_status": "yes"})),
        )
        .await;
    assert_problem(&r, 400, "Invalid Resource");
    assert_eq!(r.json["errors"][0]["field"], "opt_in_status");
    // Filter by e-mail.
    let f = sb
        .get(&format!("{base}?email_address=KLANT@example.nl"))
        .await;
    assert_eq!(f.json["total_items"], 1);
    assert_eq!(f.json["customers"][0]["id"], "c-9001");
    // PUT upsert: update (e-mail unchanged) and create; numeric id accepted (newer API).
    let put = json!({"id": "c-9001", "email_address": "klant@example.nl", "opt_in_status": false, "first_name": "Kees-Jan"});
    s.assert_valid("E_commerce_Customer_4", &put);
    let r = sb.req("PUT", &format!("{base}/c-9001"), Some(put)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["first_name"], "Kees-Jan");
    let r = sb
        .req(
            "PUT",
            &format!("{base}/777"),
            Some(json!({"id": 777, "email_address": "numeric@example.de", "opt_in_status": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["id"], "777");
    s.assert_valid("E_commerce_Customer", &r.json);
    let r = sb.req("PUT", &format!("{base}/c-9001"), Some(json!({"id": "c-9001", "email_address": "changed@example.nl", "opt_in_status": false}))).await;
    assert_problem(&r, 400, "Invalid Resource");
    // PATCH. E-commerce customers have no changed-since filter: MailChimp ignores
    // `since_updated_at` / `since_created_at` there (see tests/mailchimp_scale.rs).
    let patch = json!({"company": "Klant Holding B.V."});
    s.assert_valid("E_commerce_Customer_2", &patch);
    let r = sb
        .req("PATCH", &format!("{base}/c-9001"), Some(patch))
        .await;
    assert_eq!(r.json["company"], "Klant Holding B.V.");
    let all = sb.get(&format!("{base}?count=1000")).await;
    let since = sb
        .get(&format!(
            "{base}?since_updated_at={}&count=1000",
            created.replace('+', "%2B")
        ))
        .await;
    assert_eq!(since.json["total_items"], all.json["total_items"]);
    let mut ids: Vec<&str> = since.json["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    ids.sort();
    assert!(ids.contains(&"777") && ids.contains(&"c-9001"));
    assert!(ids.len() > 2, "the filter is not applied");
    let since_c = sb
        .get(&format!(
            "{base}?since_created_at=2100-01-01T00:00:00%2B00:00"
        ))
        .await;
    assert_eq!(since_c.json["total_items"], all.json["total_items"]);
    assert_eq!(
        sb.req("DELETE", &format!("{base}/777"), None).await.status,
        204
    );
    assert_problem(
        &sb.get(&format!("{base}/777")).await,
        404,
        "Resource Not Found",
    );
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn products_and_variants() {
    let sb = start().await;
    let s = spec();
    let base = format!("/ecommerce/stores/{STORE}/products");
    s.assert_valid(
        "Products",
        &sb.get(&format!("{base}?count=1000")).await.json,
    );
    let body = json!({"id": "2001", "title": "Wool Socks", "type": "Sokken", "vendor": "Noordwind",
        "variants": [{"id": "200101", "title": "Wool Socks - 39-42", "sku": "200101", "price": 12.95, "inventory_quantity": 4}]});
    s.assert_valid("E_commerce_Product_1", &body);
    let r = sb.req("POST", &base, Some(body.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.assert_valid("E_commerce_Product", &r.json);
    let dup = sb.req("POST", &base, Some(body)).await;
    assert_problem(&dup, 400, "Bad Request");
    assert!(
        dup.json["detail"]
            .as_str()
            .expect("detail")
            .contains("A product with the provided ID already exists in the account.")
    );
    let r = sb
        .req(
            "POST",
            &base,
            Some(json!({"id": "2002", "title": "No variants"})),
        )
        .await;
    assert_problem(&r, 400, "Invalid Resource");
    assert_eq!(
        r.json["errors"][0]["message"],
        "Required fields were not provided: variants"
    );

    // PUT upsert (newer API): only id required; string money accepted.
    let r = sb.req("PUT", &format!("{base}/2003"), Some(json!({"id": "2003", "title": "Gift Box", "variants": [{"id": "200301", "title": "Gift Box", "price": "19.50"}]}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.assert_valid("E_commerce_Product", &r.json);
    assert_eq!(r.json["variants"][0]["price"], 19.5);
    let r = sb
        .req(
            "PUT",
            &format!("{base}/2003"),
            Some(json!({"id": "2003", "description": "Now with ribbon"})),
        )
        .await;
    assert_eq!(r.json["title"], "Gift Box");
    assert_eq!(r.json["description"], "Now with ribbon");

    // Variants.
    let vbase = format!("{base}/2001/variants");
    let v = json!({"id": "200102", "title": "Wool Socks - 43-46", "sku": "200102", "price": 12.95, "inventory_quantity": 0});
    s.assert_valid("E_commerce_Product_Variant_1", &v);
    let r = sb.req("POST", &vbase, Some(v.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.assert_valid("E_commerce_Product_Variant", &r.json);
    assert_problem(&sb.req("POST", &vbase, Some(v)).await, 400, "Bad Request");
    let list = sb.get(&vbase).await;
    s.assert_valid("Ecommerce_Product_Variants", &list.json);
    assert_eq!(list.json["total_items"], 2);
    let stock = json!({"inventory_quantity": 17});
    s.assert_valid("E_commerce_Product_Variant_2", &stock);
    let r = sb
        .req("PATCH", &format!("{vbase}/200102"), Some(stock))
        .await;
    assert_eq!(r.json["inventory_quantity"], 17);
    let r = sb
        .req(
            "PUT",
            &format!("{vbase}/200103"),
            Some(json!({"id": "200103", "title": "Wool Socks - 47-50"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = sb
        .req(
            "PUT",
            &format!("{base}/9999/variants/1"),
            Some(json!({"id": "1", "title": "x"})),
        )
        .await;
    assert_problem(&r, 400, "Bad Request");
    assert_eq!(r.json["detail"], "The parent product must already exist.");
    assert_eq!(
        sb.get(&format!("{base}/2001")).await.json["variants"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        sb.req("DELETE", &format!("{vbase}/200103"), None)
            .await
            .status,
        204
    );
    let patch = json!({"title": "Wool Socks Deluxe"});
    s.assert_valid("E_commerce_Product_2", &patch);
    let r = sb.req("PATCH", &format!("{base}/2001"), Some(patch)).await;
    assert_eq!(r.json["title"], "Wool Socks Deluxe");
    assert_eq!(
        sb.req("DELETE", &format!("{base}/2001"), None).await.status,
        204
    );
    assert_problem(
        &sb.get(&format!("{vbase}/200101")).await,
        404,
        "Resource Not Found",
    );
    sb.handle.stop().await;
}

/// Issue 18, item 4: like the real API, a product shows at most 50 variants inline; the
/// variants endpoint pages all of them with `count` (default 10) and `offset`; a PUT of an
/// existing product without `id` is refused.
#[tokio::test(flavor = "multi_thread")]
async fn large_products_page_their_variants() {
    let sb = start().await;
    let base = format!("/ecommerce/stores/{STORE}/products");
    let variants: Vec<_> = (0..120)
        .map(|i| json!({"id": format!("7{i:03}"), "title": format!("Shirt - {i}"), "sku": format!("7{i:03}")}))
        .collect();
    let r = sb
        .req(
            "PUT",
            &format!("{base}/7"),
            Some(json!({"id": "7", "title": "Shirt", "variants": variants})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["variants"].as_array().map(Vec::len), Some(50));
    let inline = sb.get(&format!("{base}/7")).await.json;
    assert_eq!(inline["variants"].as_array().map(Vec::len), Some(50));
    let vbase = format!("{base}/7/variants");
    let first = sb.get(&vbase).await.json;
    assert_eq!(first["total_items"], 120);
    assert_eq!(first["variants"].as_array().map(Vec::len), Some(10));
    let mut ids = Vec::new();
    for offset in [0, 50, 100] {
        let page = sb
            .get(&format!("{vbase}?count=50&offset={offset}"))
            .await
            .json;
        for v in page["variants"].as_array().expect("variants") {
            ids.push(v["id"].as_str().expect("id").to_owned());
        }
    }
    assert_eq!(ids.len(), 120);
    assert_eq!(ids[119], "7119");
    let r = sb
        .req(
            "PUT",
            &format!("{base}/7"),
            Some(json!({"variants": [{"id": "7999", "title": "Shirt - new"}]})),
        )
        .await;
    assert_problem(&r, 400, "Invalid Resource");
    assert_eq!(
        sb.get(&vbase).await.json["total_items"],
        120,
        "a refused PUT changed nothing"
    );
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_and_lines() {
    let sb = start().await;
    let s = spec();
    let base = format!("/ecommerce/stores/{STORE}/orders");
    s.assert_valid(
        "Orders_1",
        &sb.get(&format!("{base}?count=1000")).await.json,
    );
    let order = json!({
        "id": "WS-999001",
        "customer": {"id": "c-new", "email_address": "besteller@example.be", "opt_in_status": false, "first_name": "Bea"},
        "currency_code": "EUR", "order_total": 54.90, "financial_status": "paid", "campaign_id": "",
        "processed_at_foreign": "2024-05-01T10:00:00+02:00", "updated_at_foreign": "2024-05-01T10:05:00+02:00",
        "billing_address": {"name": "Bea", "address1": "Meir 1", "city": "Antwerpen", "postal_code": "2000", "country_code": "BE"},
        "lines": [{"id": "1", "product_id": "1001", "product_variant_id": "100101", "quantity": 2, "price": 24.95}],
    });
    s.assert_valid("E_commerce_Order_1", &order);
    let r = sb.req("POST", &base, Some(order.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.assert_valid("E_commerce_Order", &r.json);
    assert_eq!(r.json["processed_at_foreign"], "2024-05-01T08:00:00+00:00");
    assert_eq!(r.json["customer"]["email_address"], "besteller@example.be");
    assert_eq!(r.json["customer"]["orders_count"], 1);
    assert_eq!(r.json["lines"][0]["product_title"], "Organic T-shirt Basic");
    assert_problem(
        &sb.req("POST", &base, Some(order.clone())).await,
        400,
        "Bad Request",
    );

    let mut unknown = order.clone();
    unknown["id"] = json!("WS-999002");
    unknown["lines"][0]["product_id"] = json!("424242");
    let r = sb.req("POST", &base, Some(unknown)).await;
    assert_problem(&r, 400, "Bad Request");
    assert_eq!(
        r.json["detail"],
        "A product with the provided ID does not exist in the account for this list."
    );
    let mut empty = order.clone();
    empty["id"] = json!("WS-999003");
    empty["lines"] = json!([]);
    assert_problem(
        &sb.req("POST", &base, Some(empty)).await,
        404,
        "Resource Not Found",
    );
    let mut long = order.clone();
    long["id"] = json!("WS-999004");
    long["customer"]["id"] = json!("c".repeat(51));
    assert_problem(
        &sb.req("POST", &base, Some(long)).await,
        404,
        "Resource Not Found",
    );
    let r = sb
        .req(
            "POST",
            &base,
            Some(json!({"id": "x", "customer": {"id": "c-new"}})),
        )
        .await;
    assert_problem(&r, 400, "Invalid Resource");
    assert_eq!(
        r.json["errors"][0]["message"],
        "Required fields were not provided: currency_code, order_total, lines"
    );
    // Newer API: string money, numeric ids, cart_id, inline product.
    let newer = json!({"id": 999005, "customer": {"id": "c-new"}, "currency_code": "EUR", "order_total": "10.00", "cart_id": "cart-1",
        "lines": [{"id": 1, "product_id": "inline-1", "product_variant_id": "inline-1", "quantity": 1, "price": "10.00", "product": {"title": "Inline"}}]});
    let r = sb.req("POST", &base, Some(newer)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["id"], "999005");
    assert_eq!(r.json["order_total"], 10.0);
    s.assert_valid("E_commerce_Order", &r.json);

    // PATCH and lines.
    let patch = json!({"financial_status": "refunded"});
    s.assert_valid("E_commerce_Order_2", &patch);
    let r = sb
        .req("PATCH", &format!("{base}/WS-999001"), Some(patch))
        .await;
    assert_eq!(r.json["financial_status"], "refunded");
    let lines = sb.get(&format!("{base}/WS-999001/lines")).await;
    s.assert_valid("Order_Lines", &lines.json);
    let line = json!({"id": "2", "product_id": "1002", "product_variant_id": "100201", "quantity": 1, "price": 39.95});
    s.assert_valid("E_commerce_Order_Line_Item_1", &line);
    let r = sb
        .req("POST", &format!("{base}/WS-999001/lines"), Some(line))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.assert_valid("E_commerce_Order_Line_Item", &r.json);
    let lp = json!({"quantity": 3});
    s.assert_valid("E_commerce_Order_Line_Item_2", &lp);
    assert_eq!(
        sb.req("PATCH", &format!("{base}/WS-999001/lines/2"), Some(lp))
            .await
            .json["quantity"],
        3
    );
    let bad_line = sb
        .req("POST", &format!("{base}/WS-999001/lines"), Some(json!({"id": "3", "product_id": "1002", "product_variant_id": "nope", "quantity": 1, "price": 1})))
        .await;
    assert_problem(&bad_line, 400, "Bad Request");
    assert_eq!(
        sb.req("DELETE", &format!("{base}/WS-999001/lines/2"), None)
            .await
            .status,
        204
    );
    // Filters.
    let by_customer = sb.get(&format!("{base}?customer_id=c-new")).await;
    assert_eq!(by_customer.json["total_items"], 2);
    assert_eq!(
        sb.req("DELETE", &format!("{base}/WS-999001"), None)
            .await
            .status,
        204
    );
    assert_problem(
        &sb.get(&format!("{base}/WS-999001")).await,
        404,
        "Resource Not Found",
    );
    sb.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_run_against_the_same_state() {
    let sb = start().await;
    let s = spec();
    let ops = json!({"operations": [
        {"method": "PUT", "path": format!("/ecommerce/stores/{STORE}/customers/b-1"), "operation_id": "one",
         "body": json!({"id": "b-1", "email_address": "batch1@example.nl", "opt_in_status": false}).to_string()},
        {"method": "PATCH", "path": format!("/ecommerce/stores/{STORE}/products/1001/variants/100101"), "operation_id": "stock",
         "body": json!({"inventory_quantity": 99}).to_string()},
        {"method": "GET", "path": format!("/ecommerce/stores/{STORE}/customers"), "params": {"count": 1}, "operation_id": "read"},
        {"method": "GET", "path": "/lists/nope", "operation_id": "missing"},
    ]});
    s.assert_valid("postBatches_request", &ops);
    let r = sb.req("POST", "/batches", Some(ops)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.assert_valid("Batch", &r.json);
    assert_eq!(r.json["total_operations"], 4);
    let id = r.json["id"].as_str().expect("id").to_owned();
    let mut statuses = vec![r.json["status"].as_str().expect("status").to_owned()];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let done = loop {
        let b = sb.get(&format!("/batches/{id}")).await;
        s.assert_valid("Batch", &b.json);
        let st = b.json["status"].as_str().expect("status").to_owned();
        if statuses.last() != Some(&st) {
            statuses.push(st.clone());
        }
        if st == "finished" {
            break b.json;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "batch did not finish: {statuses:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    assert_eq!(statuses.first().map(String::as_str), Some("pending"));
    assert_eq!(done["finished_operations"], 4);
    assert_eq!(done["errored_operations"], 1);
    s.assert_valid("Batch_Operations", &sb.get("/batches").await.json);
    // The operations changed the state.
    assert_eq!(
        sb.get(&format!("/ecommerce/stores/{STORE}/customers/b-1"))
            .await
            .status,
        200
    );
    assert_eq!(
        sb.get(&format!(
            "/ecommerce/stores/{STORE}/products/1001/variants/100101"
        ))
        .await
        .json["inventory_quantity"],
        99
    );
    // The results archive.
    let url = done["response_body_url"].as_str().expect("url");
    let gz = sb
        .client
        .get(url)
        .send()
        .await
        .expect("archive")
        .bytes()
        .await
        .expect("bytes");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    let mut results: Vec<Value> = Vec::new();
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("entry");
        let part: Vec<Value> = serde_json::from_reader(entry).expect("results JSON");
        results.extend(part);
    }
    assert_eq!(results.len(), 4);
    let by_op = |op: &str| {
        results
            .iter()
            .find(|r| r["operation_id"] == op)
            .expect("result")
            .clone()
    };
    assert_eq!(by_op("one")["status_code"], 200);
    assert_eq!(by_op("missing")["status_code"], 404);
    let read: Value =
        serde_json::from_str(by_op("read")["response"].as_str().expect("response")).expect("json");
    assert_eq!(read["customers"].as_array().map(Vec::len), Some(1));
    // Validation of the batch request itself.
    let r = sb
        .req(
            "POST",
            "/batches",
            Some(json!({"operations": [{"path": "/ping"}]})),
        )
        .await;
    assert_problem(&r, 400, "Invalid Resource");
    sb.handle.stop().await;
}
