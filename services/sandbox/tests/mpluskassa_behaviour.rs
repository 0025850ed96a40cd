//! Behaviour of the MplusKASSA simulator over real HTTP: authentication, the WSDL, SOAP
//! faults, idempotent order creation, order validation, sync marker paging, stock
//! reservations and fault injection through the control endpoints.

mod mpluskassa_support;

use std::collections::BTreeSet;

use mpluskassa_support::{El, Sim, el, envelope, num, schema, spawn, xsd};

fn order(
    ext: &str,
    relation: i64,
    employee: i64,
    branch: i32,
    workplace: Option<i32>,
    lines: &[(i64, i64, i32)],
) -> String {
    let lines: String = lines
        .iter()
        .map(|(article, qty, dp)| {
            format!(
                "<m:line>{}<m:data>{}{}</m:data></m:line>",
                el("articleNumber", article),
                el("quantity", qty),
                el("decimalPlaces", dp)
            )
        })
        .collect();
    format!(
        "<m:order>{}{}{}{}{}{}<m:lineList>{lines}</m:lineList></m:order>",
        el("orderId", ""),
        el("extOrderId", ext),
        el("entryBranchNumber", branch),
        el("employeeNumber", employee),
        el("relationNumber", relation),
        workplace
            .map(|w| el("workplaceNumber", w))
            .unwrap_or_default(),
    )
}

fn v3(key: &str, order: &str) -> String {
    format!(
        "<m:request>{}{order}</m:request>",
        el("idempotencyKey", key)
    )
}

async fn order_count(sim: &Sim) -> usize {
    let orders = sim
        .call(
            "getOrders",
            "<m:request><m:articlePluNumbers/><m:articleBarcodes/></m:request>",
        )
        .await;
    orders
        .get("orderList")
        .map_or(0, |l| l.all("order").count())
}

#[tokio::test]
async fn credentials_are_required() {
    let sim = spawn().await;
    let body = envelope("getApiVersion", "");
    for url in [
        sim.base.clone(),
        format!("{}?ident={}", sim.base, sim.settings.ident),
        format!("{}?ident={}&secret=wrong", sim.base, sim.settings.ident),
        format!("{}?ident=other&secret={}", sim.base, sim.settings.secret),
    ] {
        let reply = sim.post_raw(&url, body.clone(), None).await;
        assert_eq!(reply.status, 500, "{url}");
        let (code, message) = reply.fault().expect("a SOAP fault");
        assert_eq!(code, "SOAP-ENV:Client");
        assert!(message.contains("Authentication"), "{message}");
    }
    let ok = sim.post_raw(&sim.url(), body, None).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn the_wsdl_points_at_the_sandbox() {
    let sim = spawn().await;
    let resp = sim
        .http
        .get(format!("{}?wsdl", sim.base))
        .send()
        .await
        .expect("GET ?wsdl");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/xml"))
    );
    let wsdl = resp.text().await.expect("body");
    let root = xsd::parse(&wsdl).expect("the served WSDL is well-formed");
    let service = root
        .get("service")
        .and_then(|s| s.get("port"))
        .and_then(|p| p.get("address"))
        .expect("soap:address");
    assert_eq!(service.attr("location"), Some(sim.base.as_str()));
    assert!(!wsdl.contains("18083"));
    // Apart from the address it is the official document.
    let official = std::fs::read_to_string(mpluskassa_support::WSDL_PATH).expect("WSDL");
    assert_eq!(
        wsdl.len() + "http://127.0.0.1:18083/".len(),
        official.trim_start_matches('\u{feff}').len() + sim.base.len()
    );
    // GET without ?wsdl is not the SOAP endpoint.
    let get = sim.http.get(&sim.base).send().await.expect("GET /");
    assert_eq!(get.status().as_u16(), 405);
}

#[tokio::test]
async fn malformed_and_unknown_requests_are_soap_faults() {
    let sim = spawn().await;
    let cases = [
        (
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><m:getApiVersion xmlns:m=\"urn:mplusqapi\"></soapenv:Body>",
            "SOAP-ENV:Client",
        ),
        ("not xml at all", "SOAP-ENV:Client"),
        ("<root/>", "SOAP-ENV:Client"),
        (
            "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body/></e:Envelope>",
            "SOAP-ENV:VersionMismatch",
        ),
        (
            "<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\"><e:Body><getApiVersion/></e:Body></e:Envelope>",
            "SOAP-ENV:Client",
        ),
    ];
    for (body, code) in cases {
        let reply = sim.post_raw(&sim.url(), body.to_owned(), None).await;
        assert_eq!(reply.status, 500, "{body}");
        assert_eq!(
            reply.fault().map(|f| f.0),
            Some(code.to_owned()),
            "{body}: {}",
            reply.body
        );
    }
    // A type error in a request is a Client fault, like gSOAP's validation errors.
    let reply = sim
        .call_unchecked("getRelation", &el("relationNumber", "twelve"))
        .await;
    assert_eq!(
        reply.fault().map(|f| f.0),
        Some("SOAP-ENV:Client".to_owned())
    );
    // Not an MplusQAPI operation at all.
    let reply = sim.call_unchecked("doesNotExist", "").await;
    assert!(
        reply
            .fault()
            .is_some_and(|(c, m)| c == "SOAP-ENV:Client" && m.contains("not implemented"))
    );
    // In the WSDL, but not simulated.
    let reply = sim.call_unchecked("getInterbranchShipments", "").await;
    assert!(
        reply
            .fault()
            .is_some_and(|(c, m)| c == "SOAP-ENV:Server" && m.contains("not simulated"))
    );
    // A SOAPAction naming another operation.
    let reply = sim
        .post_raw(&sim.url(), envelope("getApiVersion", ""), Some("getOrders"))
        .await;
    assert_eq!(reply.status, 500);
    // Any prefix (here the default namespace) and a quoted empty SOAPAction are fine.
    let plain = r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><getEmployee xmlns="urn:mplusqapi"><employeeNumber>999999</employeeNumber></getEmployee></Body></Envelope>"#;
    let reply = sim
        .post_raw(&sim.url(), plain.to_owned(), Some("\"\""))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.element().text_at("result"),
        Some("GET-EMPLOYEE-RESULT-OK")
    );
    assert!(
        schema()
            .check_message(&reply.body, "GetEmployeeResponse")
            .is_empty()
    );
}

#[tokio::test]
async fn create_order_v3_replays_by_idempotency_key() {
    let sim = spawn().await;
    let before = order_count(&sim).await;
    let request = v3(
        "canonical-order-7",
        &order("WS-7", 1, 999_999, 1, None, &[(1001, 2, 0)]),
    );
    let first = sim.call("createOrderV3", &request).await;
    assert_eq!(
        first.text_at("idempotencyResult"),
        Some("IDEMPOTENCY-RESULT-ORIGINAL-RESPONSE")
    );
    assert_eq!(first.text_at("result"), Some("CREATE-ORDER-RESULT-OK"));
    let second = sim.call("createOrderV3", &request).await;
    assert_eq!(
        second.text_at("idempotencyResult"),
        Some("IDEMPOTENCY-RESULT-REPLAY-RESPONSE")
    );
    assert_eq!(second.text_at("result"), Some("CREATE-ORDER-RESULT-OK"));
    assert_eq!(
        second.text_at("info/orderId"),
        first.text_at("info/orderId")
    );
    assert_eq!(
        second.text_at("order/syncMarker"),
        first.text_at("order/syncMarker")
    );
    assert_eq!(
        order_count(&sim).await,
        before + 1,
        "a replay creates no second order"
    );
    // A new key for the same extOrderId: refused, extOrderIds are unique.
    let dup = sim
        .call(
            "createOrderV3",
            &v3(
                "another-key",
                &order("WS-7", 1, 999_999, 1, None, &[(1001, 1, 0)]),
            ),
        )
        .await;
    assert_eq!(
        dup.text_at("idempotencyResult"),
        Some("IDEMPOTENCY-RESULT-ORIGINAL-RESPONSE")
    );
    assert_eq!(
        dup.text_at("result"),
        Some("CREATE-ORDER-RESULT-EXT-ORDER-ID-ALREADY-EXISTS")
    );
    assert!(
        dup.text_at("errorMessage")
            .is_some_and(|m| m.contains("WS-7"))
    );
    let v1 = sim
        .call(
            "createOrder",
            &order("WS-7", 1, 999_999, 1, None, &[(1001, 1, 0)]),
        )
        .await;
    assert_eq!(
        v1.text_at("result"),
        Some("CREATE-ORDER-RESULT-EXT-ORDER-ID-ALREADY-EXISTS")
    );
    assert_eq!(order_count(&sim).await, before + 1);
}

#[tokio::test]
async fn invalid_orders_fail_with_a_reason() {
    let sim = spawn().await;
    let before = order_count(&sim).await;
    let cases = [
        (
            order("X-1", 1, 999_999, 1, None, &[(424_242, 1, 0)]),
            "CREATE-ORDER-RESULT-FAILED",
            "Article 424242",
        ),
        (
            order("X-2", 1, 123_456, 1, None, &[(1001, 1, 0)]),
            "CREATE-ORDER-RESULT-FAILED",
            "Employee 123456",
        ),
        (
            order("X-3", 0, 999_999, 1, None, &[(1001, 1, 0)]),
            "CREATE-ORDER-RESULT-FAILED",
            "relation",
        ),
        (
            order("X-4", 777, 999_999, 1, None, &[(1001, 1, 0)]),
            "CREATE-ORDER-RESULT-FAILED",
            "Relation 777",
        ),
        (
            order("X-5", 1, 999_999, 2, None, &[(1001, 1, 0)]),
            "CREATE-ORDER-RESULT-FAILED",
            "workplaceNumber",
        ),
        (
            order("X-6", 1, 999_999, 2, Some(9), &[(1001, 1, 0)]),
            "CREATE-ORDER-RESULT-FAILED",
            "Workplace 9",
        ),
        (
            order("X-7", 1, 999_999, 9, Some(1), &[(1001, 1, 0)]),
            "CREATE-ORDER-RESULT-FAILED",
            "Branch 9",
        ),
        (
            order("X-8", 1, 999_999, 1, None, &[]),
            "CREATE-ORDER-RESULT-FAILED",
            "at least one line",
        ),
    ];
    for (i, (o, result, message)) in cases.iter().enumerate() {
        let reply = sim.call("createOrderV3", &v3(&format!("k{i}"), o)).await;
        assert_eq!(reply.text_at("result"), Some(*result), "case {i}");
        assert!(
            reply
                .text_at("errorMessage")
                .is_some_and(|m| m.contains(message)),
            "case {i}: {:?}",
            reply.text_at("errorMessage")
        );
        assert_eq!(reply.text_at("info/orderId"), Some(""));
        let v1 = sim.call("createOrder", o).await;
        assert_eq!(v1.text_at("result"), Some(*result), "createOrder case {i}");
    }
    let payment = format!(
        "<m:request>{}{}<m:paymentList><m:payment>{}{}</m:payment></m:paymentList></m:request>",
        el("idempotencyKey", "pay"),
        order("X-9", 1, 999_999, 1, None, &[(1001, 1, 0)]),
        el("method", "BITCOIN"),
        el("amount", 1995),
    );
    let reply = sim.call("createOrderV3", &payment).await;
    assert_eq!(
        reply.text_at("result"),
        Some("CREATE-ORDER-RESULT-PAYMENT-FAILED")
    );
    assert_eq!(reply.text_at("payResult"), Some("PAY-ORDER-RESULT-FAILED"));
    assert_eq!(
        order_count(&sim).await,
        before,
        "no failed order was stored"
    );
    let ok = sim
        .call(
            "createOrderV3",
            &v3(
                "ok",
                &order("X-10", 1, 999_999, 2, Some(2), &[(1001, 1, 0)]),
            ),
        )
        .await;
    assert_eq!(ok.text_at("result"), Some("CREATE-ORDER-RESULT-OK"));
}

#[tokio::test]
async fn money_is_cents_and_quantities_have_decimal_places() {
    let sim = spawn().await;
    // 1.5 mugs at 8.95 = 13.43 (13.425 rounded half up); 2 books at 24.50 with 9 % VAT.
    let reply = sim
        .call(
            "createOrderV3",
            &v3(
                "dp",
                &order(
                    "DP-1",
                    1,
                    999_999,
                    1,
                    None,
                    &[(3001, 1500, 3), (2001, 2, 0)],
                ),
            ),
        )
        .await;
    assert_eq!(reply.text_at("result"), Some("CREATE-ORDER-RESULT-OK"));
    let o = reply.get("order").expect("order");
    assert_eq!(num(o, "totalInclAmount"), 1343 + 4900);
    let lines: Vec<&El> = o.get("lineList").expect("lines").all("line").collect();
    assert_eq!(
        (
            num(lines[0], "data/quantity"),
            num(lines[0], "data/decimalPlaces")
        ),
        (15, 1)
    );
    assert_eq!(num(lines[1], "data/vatPercentage"), 900);
    assert_eq!(num(lines[1], "data/totalExclAmount"), 4495);
    let vat: Vec<&El> = o
        .get("vatGroupList")
        .expect("vat")
        .all("vatGroup")
        .collect();
    assert_eq!(vat.len(), 2);
    assert!(o.get("financialDate").and_then(|d| d.get("year")).is_some());
    // Prices excluding VAT are derived (21 %: 19.95 incl = 16.49 excl).
    let products = sim
        .call(
            "getProducts",
            &format!(
                "<m:request>{}<m:pluNumbers/></m:request>",
                el("articleNumbers", 1001)
            ),
        )
        .await;
    let a = products
        .get("productList")
        .and_then(|l| l.get("product"))
        .and_then(|p| p.get("articleList"))
        .and_then(|l| l.get("article"))
        .expect("article");
    assert_eq!(
        (
            num(a, "priceIncl"),
            num(a, "priceExcl"),
            num(a, "vatPercentage")
        ),
        (1995, 1649, 2100)
    );
}

async fn stock_of(sim: &Sim, branch: i32, article: i64) -> (i64, i64, i64) {
    let s = sim
        .call(
            "getStock",
            &format!(
                "<m:request>{}<m:articleNumbers>{}</m:articleNumbers></m:request>",
                el("branchNumber", branch),
                el("articleNumbers", article)
            ),
        )
        .await;
    let level = s.get("articleStocks").expect("articleStocks");
    let scaled = |v: &str, dp: &str| {
        num(level, v) * 10_i64.pow(3 - u32::try_from(num(level, dp)).expect("dp"))
    };
    (
        scaled("amountFree", "decimalPlacesFree"),
        scaled("amountReserved", "decimalPlacesReserved"),
        num(level, "stockId"),
    )
}

#[tokio::test]
async fn open_orders_reserve_stock() {
    let sim = spawn().await;
    let (free, reserved, id0) = stock_of(&sim, 1, 1002).await;
    assert_eq!((free, reserved), (10_000, 0));
    let created = sim
        .call(
            "createOrderV3",
            &v3(
                "r1",
                &order("R-1", 1, 999_999, 1, None, &[(1002, 3, 0), (1002, 500, 3)]),
            ),
        )
        .await;
    let order_id = created.text_at("info/orderId").expect("id").to_owned();
    let (free, reserved, id1) = stock_of(&sim, 1, 1002).await;
    assert_eq!(
        (free, reserved),
        (6_500, 3_500),
        "the reservation leaves the free stock"
    );
    assert!(id1 > id0, "the reservation changes the stockId");
    // Another branch is unaffected.
    assert_eq!(stock_of(&sim, 2, 1002).await.1, 0);
    let cancelled = sim.call("cancelOrder", &el("orderId", &order_id)).await;
    assert_eq!(cancelled.text_at("result"), Some("CANCEL-ORDER-RESULT-OK"));
    let (free, reserved, id2) = stock_of(&sim, 1, 1002).await;
    assert_eq!((free, reserved), (10_000, 0), "cancelled: released");
    assert!(id2 > id1);
    // Stock changes: absolute and relative, refusals by result enum.
    let req = |op_amount: &str, branch: i32, article: i64, amount: i64| {
        format!(
            "<m:request>{}{}{}</m:request>",
            el("branchNumber", branch),
            el("articleNumber", article),
            el(op_amount, amount)
        )
    };
    let r = sim.call("setStock", &req("amount", 1, 4001, 5)).await;
    assert_eq!(
        r.text_at("result"),
        Some("SET-STOCK-RESULT-NO-STOCK-ARTICLE")
    );
    let r = sim.call("setStock", &req("amount", 9, 1001, 5)).await;
    assert_eq!(
        r.text_at("result"),
        Some("SET-STOCK-RESULT-BRANCH-NOT-FOUND")
    );
    let r = sim
        .call("updateStock", &req("amountChanged", 1, 555, 5))
        .await;
    assert_eq!(
        r.text_at("result"),
        Some("UPDATE-STOCK-RESULT-ARTICLE-NOT-FOUND")
    );
    let r = sim.call("setStock", &req("amount", 1, 1002, 7)).await;
    let set_id = num(&r, "stockId");
    sim.call("updateStock", &req("amountChanged", 1, 1002, -2))
        .await;
    assert_eq!(stock_of(&sim, 1, 1002).await.0, 5_000);
    let history = sim
        .call(
            "getStockHistoryV2",
            &format!("<m:request>{}</m:request>", el("sinceStockId", set_id)),
        )
        .await;
    let changes: Vec<(i64, i64)> = history
        .all("articleStockHistory")
        .map(|h| (num(h, "articleNumber"), num(h, "amountChanged")))
        .collect();
    assert_eq!(changes, vec![(1002, -3), (1002, -2)]);
}

/// Pages through `op` from `from` with `limit`, returning the record numbers in page order.
/// `before` goes in front of the sync marker elements (sequence order).
async fn page_all(
    sim: &Sim,
    op: &str,
    (list, item, key): (&str, &str, &str),
    from: i64,
    limit: i32,
    before: &str,
) -> Vec<i64> {
    let mut marker = from;
    let mut seen = Vec::new();
    loop {
        let reply = sim
            .call(
                op,
                &format!(
                    "<m:request>{before}{}{}</m:request>",
                    el("syncMarker", marker),
                    el("syncMarkerLimit", limit)
                ),
            )
            .await;
        let items: Vec<&El> = reply
            .get(list)
            .map(|l| l.all(item).collect())
            .unwrap_or_default();
        if items.is_empty() {
            return seen;
        }
        assert!(items.len() <= usize::try_from(limit).expect("limit"));
        let markers: Vec<i64> = items.iter().map(|i| num(i, "syncMarker")).collect();
        assert!(
            markers.windows(2).all(|w| w[0] < w[1]),
            "ascending markers {markers:?}"
        );
        assert!(markers[0] >= marker, "inclusive lower bound");
        seen.extend(items.iter().map(|i| num(i, key)));
        marker = markers[markers.len() - 1] + 1;
    }
}

#[tokio::test]
async fn sync_marker_paging_returns_every_change_once() {
    let sim = spawn().await;
    let start = sim.call("getCurrentSyncMarkers", "").await;
    let relation_from = num(&start, "relationSyncMarker") + 1;
    let article_from = num(&start, "articleSyncMarker") + 1;
    let order_from = num(&start, "orderSyncMarker") + 1;
    let mut created = BTreeSet::new();
    for i in 0..23 {
        let r = sim
            .call(
                "createRelation",
                &format!(
                    "<m:relation>{}{}</m:relation>",
                    el("name", format!("Klant {i}")),
                    el("email", format!("k{i}@example.com"))
                ),
            )
            .await;
        created.insert(num(&r, "relationNumber"));
    }
    // Changes move a record to the end of the sequence; seeded relation 1 changes too.
    let mut changed: Vec<i64> = created.iter().copied().step_by(5).collect();
    changed.push(1);
    let mut last = 0;
    for n in &changed {
        let u = sim
            .call(
                "updateRelation",
                &format!(
                    "<m:relation>{}{}</m:relation>",
                    el("relationNumber", n),
                    el("city", "Delft")
                ),
            )
            .await;
        let m = num(&u, "syncMarker");
        assert!(m > last, "markers increase on every change");
        last = m;
    }
    let seen = page_all(
        &sim,
        "getRelations",
        ("relationList", "relation", "relationNumber"),
        relation_from,
        4,
        "",
    )
    .await;
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no record twice: {seen:?}");
    let mut expected = created.clone();
    expected.insert(1);
    assert_eq!(unique, expected);
    assert_eq!(
        &seen[seen.len() - changed.len()..],
        changed.as_slice(),
        "changed records come last, in change order"
    );
    let end = sim.call("getCurrentSyncMarkers", "").await;
    assert_eq!(num(&end, "relationSyncMarker"), last);

    // Products: 9 new, 2 updated.
    let mut products = BTreeSet::new();
    for i in 0..9 {
        let p = sim
            .call(
                "createProduct",
                &format!(
                    "<m:product>{}<m:articleList><m:article>{}{}{}</m:article></m:articleList></m:product>",
                    el("description", format!("Poster {i}")),
                    el("pluNumber", format!("POSTER-{i}")),
                    el("turnoverGroup", 300),
                    el("priceIncl", 995 + i),
                ),
            )
            .await;
        products.insert(num(&p, "productNumber"));
    }
    for p in [1, *products.iter().next().expect("one")] {
        let u = sim
            .call(
                "updateProduct",
                &format!(
                    "<m:product>{}{}</m:product>",
                    el("productNumber", p),
                    el("extraText", "updated")
                ),
            )
            .await;
        assert_eq!(u.text_at("result"), Some("UPDATE-PRODUCT-RESULT-OK"));
    }
    let seen = page_all(
        &sim,
        "getProducts",
        ("productList", "product", "productNumber"),
        article_from,
        2,
        "<m:pluNumbers/>",
    )
    .await;
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len());
    products.insert(1);
    assert_eq!(unique, products);

    // Orders: created and cancelled.
    let mut ids = BTreeSet::new();
    for i in 0..5 {
        let o = sim
            .call(
                "createOrderV3",
                &v3(
                    &format!("p{i}"),
                    &order(&format!("P-{i}"), 1, 999_999, 1, None, &[(1001, 1, 0)]),
                ),
            )
            .await;
        ids.insert(o.text_at("info/orderId").expect("id").to_owned());
    }
    let first = ids.iter().next().expect("one").clone();
    sim.call("cancelOrder", &el("orderId", &first)).await;
    let mut marker = order_from;
    let mut seen = Vec::new();
    loop {
        let reply = sim
            .call(
                "getOrders",
                &format!(
                    "<m:request>{}{}<m:articlePluNumbers/><m:articleBarcodes/>{}</m:request>",
                    el("syncMarker", marker),
                    el("syncMarkerLimit", 2),
                    el("includeLineList", false)
                ),
            )
            .await;
        let items: Vec<&El> = reply
            .get("orderList")
            .map(|l| l.all("order").collect())
            .unwrap_or_default();
        let Some(last) = items.last() else { break };
        assert!(
            items.iter().all(|o| o.get("lineList").is_none()),
            "includeLineList=false"
        );
        marker = num(last, "syncMarker") + 1;
        seen.extend(
            items
                .iter()
                .map(|o| o.text_at("orderId").expect("orderId").to_owned()),
        );
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(
        seen.last(),
        Some(&first),
        "the cancelled order changed last"
    );
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), ids);
}

#[tokio::test]
async fn numbers_and_skus_are_unique() {
    let sim = spawn().await;
    let taken = sim
        .call(
            "createRelation",
            &format!(
                "<m:relation>{}{}</m:relation>",
                el("relationNumber", 1),
                el("name", "Dubbel")
            ),
        )
        .await;
    assert_eq!(
        taken.text_at("result"),
        Some("CREATE-RELATION-RESULT-FAILED-RELATION-NUMBER-ALREADY-TAKEN")
    );
    let nameless = sim
        .call(
            "createRelation",
            &format!("<m:relation>{}</m:relation>", el("email", "x@example.com")),
        )
        .await;
    assert_eq!(
        nameless.text_at("result"),
        Some("CREATE-RELATION-RESULT-FAILED")
    );
    let product = |number: &str, article: &str, plu: &str, turnover: i32| {
        format!(
            "<m:product>{number}{}<m:articleList><m:article>{article}{}{}</m:article></m:articleList></m:product>",
            el("description", "Test"),
            el("pluNumber", plu),
            el("turnoverGroup", turnover)
        )
    };
    let cases = [
        (
            product(&el("productNumber", 1), "", "NEW-1", 100),
            "CREATE-PRODUCT-RESULT-FAILED-PRODUCT-NUMBER-ALREADY-TAKEN",
        ),
        (
            product("", &el("articleNumber", 1001), "NEW-2", 100),
            "CREATE-PRODUCT-RESULT-FAILED-ARTICLE-NUMBER-ALREADY-TAKEN",
        ),
        (
            product("", "", "TSHIRT-Z-S", 100),
            "CREATE-PRODUCT-RESULT-FAILED",
        ),
        (
            product("", "", "NEW-3", 555),
            "CREATE-PRODUCT-RESULT-FAILED",
        ),
    ];
    for (p, result) in cases {
        let r = sim.call("createProduct", &p).await;
        assert_eq!(r.text_at("result"), Some(result), "{p}");
        assert!(r.text_at("errorMessage").is_some_and(|m| !m.is_empty()));
    }
    let moved = sim
        .call(
            "updateProduct",
            &format!(
                "<m:product>{}<m:articleList><m:article>{}</m:article></m:articleList></m:product>",
                el("productNumber", 2),
                el("articleNumber", 1001)
            ),
        )
        .await;
    assert_eq!(
        moved.text_at("result"),
        Some("UPDATE-PRODUCT-RESULT-FAILED-ARTICLE-NUMBER-ALREADY-TAKEN")
    );
    let missing = sim
        .call(
            "updateProduct",
            &format!("<m:product>{}</m:product>", el("productNumber", 999)),
        )
        .await;
    assert_eq!(
        missing.text_at("result"),
        Some("UPDATE-PRODUCT-RESULT-NOT-FOUND")
    );
}

#[tokio::test]
async fn faults_are_injected_per_operation() {
    let sim = spawn().await;
    let add = |rule: serde_json::Value| {
        let http = sim.http.clone();
        let url = format!("{}_sandbox/faults", sim.base);
        async move {
            let resp = http.post(url).json(&rule).send().await.expect("add rule");
            assert_eq!(resp.status().as_u16(), 200);
        }
    };
    add(serde_json::json!({"operation": "getProducts", "fault": {"kind": "soap_fault", "code": "Server", "message": "database unavailable"}, "next": 1})).await;
    let products = "<m:request><m:pluNumbers/></m:request>";
    let reply = sim.call_unchecked("getProducts", products).await;
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.fault(),
        Some((
            "SOAP-ENV:Server".to_owned(),
            "database unavailable".to_owned()
        ))
    );
    assert_eq!(
        sim.call_unchecked("getProducts", products).await.status,
        200,
        "the rule is spent"
    );
    // Other operations are not affected by an operation rule.
    add(serde_json::json!({"operation": "getProducts", "fault": {"kind": "server_error", "status": 503}, "next": 1})).await;
    assert_eq!(sim.call_unchecked("getApiVersion", "").await.status, 200);
    let reply = sim.call_unchecked("getProducts", products).await;
    assert_eq!(reply.status, 503);
    assert!(reply.fault().is_some());
    // A malformed response: the operation ran, the body is cut.
    add(serde_json::json!({"operation": "createRelation", "fault": {"kind": "malformed_body"}, "next": 1})).await;
    let reply = sim
        .call_unchecked(
            "createRelation",
            &format!("<m:relation>{}</m:relation>", el("name", "Half")),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(
        xsd::parse(&reply.body).is_err(),
        "truncated XML: {}",
        reply.body
    );
    let found = sim
        .call(
            "findRelationV2",
            &format!(
                "<m:request><m:relation>{}</m:relation>{}</m:request>",
                el("name", "Half"),
                el("exactMatch", true)
            ),
        )
        .await;
    assert_eq!(
        found.text_at("result"),
        Some("FIND-RELATION-RESULT-OK"),
        "the state changed anyway"
    );
    // A dropped connection.
    add(serde_json::json!({"operation": "getBranches", "fault": {"kind": "drop_connection"}, "next": 1})).await;
    // A fresh client: a pooled connection could make the client retry on another one.
    let dropped = reqwest::Client::new()
        .post(sim.url())
        .body(envelope("getBranches", ""))
        .send()
        .await;
    assert!(dropped.is_err(), "connection dropped");
    // The request log shows the faults.
    let log: serde_json::Value = sim
        .http
        .get(format!("{}_sandbox/requests", sim.base))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    let faults = log["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| !r["fault"].is_null())
        .count();
    assert_eq!(faults, 4);
}

#[tokio::test]
async fn control_endpoints_reset_to_the_shared_seed() {
    let sim = spawn().await;
    let created = sim
        .call(
            "createRelation",
            &format!("<m:relation>{}</m:relation>", el("name", "Tijdelijk")),
        )
        .await;
    let number = num(&created, "relationNumber");
    let resp = sim
        .http
        .post(format!("{}_sandbox/reset", sim.base))
        .send()
        .await
        .expect("reset");
    assert_eq!(resp.status().as_u16(), 204);
    let gone = sim.call("getRelation", &el("relationNumber", number)).await;
    assert_eq!(
        gone.text_at("result"),
        Some("GET-RELATION-RESULT-NOT-FOUND")
    );
    let employee = sim
        .call("getEmployee", &el("employeeNumber", 999_999))
        .await;
    assert_eq!(employee.text_at("result"), Some("GET-EMPLOYEE-RESULT-OK"));
    let state: serde_json::Value = sim
        .http
        .get(format!("{}_sandbox/state", sim.base))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert!(state["products"].as_object().is_some_and(|p| p.len() >= 40));
    let resp = sim
        .http
        .post(format!("{}_sandbox/reset?to=empty", sim.base))
        .send()
        .await
        .expect("reset");
    assert_eq!(resp.status().as_u16(), 204);
    let relations = sim.call("getRelations", "").await;
    assert_eq!(
        relations
            .get("relationList")
            .map(|l| l.all("relation").count()),
        Some(0)
    );
    assert_eq!(
        sim.call("getEmployee", &el("employeeNumber", 999_999))
            .await
            .text_at("result"),
        Some("GET-EMPLOYEE-RESULT-OK")
    );
}
