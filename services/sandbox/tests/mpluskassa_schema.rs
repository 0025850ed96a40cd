//! Every operation the MplusKASSA simulator implements, called over real HTTP with requests
//! that are valid against the WSDL's schema, answering responses that are valid against it
//! (element names, namespaces, sequence order, required elements, simple types, enums).
//! Also: the checker itself catches invalid messages (so these tests can fail).

mod mpluskassa_support;

use ferry_sandbox::mpluskassa::MplusState;
use mpluskassa_support::{El, el, envelope, num, schema, spawn, spawn_shared_seed, texts, xsd};

fn errors_of(op_element: &str, inner: &str) -> Vec<String> {
    let msg = envelope(op_element, inner);
    schema().check_message(&msg, op_element)
}

#[test]
fn checker_accepts_a_valid_message() {
    assert_eq!(
        errors_of("getRelation", &el("relationNumber", 5)),
        Vec::<String>::new()
    );
    assert_eq!(
        errors_of(
            "getRelations",
            &format!(
                "<m:request>{}{}{}</m:request>",
                el("relationNumbers", 1),
                el("relationNumbers", 2),
                el("syncMarker", 3)
            )
        ),
        Vec::<String>::new()
    );
}

#[test]
fn checker_rejects_invalid_messages() {
    let cases = [
        (
            "getRelation",
            "".to_owned(),
            "missing required element relationNumber",
        ),
        (
            "getRelation",
            el("relationNumber", "abc"),
            "not a valid xsd:long",
        ),
        (
            "getRelation",
            el("relationNumber", 99_999_999_999_999_999_999_u128),
            "not a valid xsd:long",
        ),
        (
            "getRelation",
            format!("{}{}", el("relationNumber", 1), el("relationNumber", 2)),
            "out of sequence order or too many",
        ),
        (
            "getRelation",
            format!("{}{}", el("relationNumber", 1), el("bogus", 2)),
            "not declared",
        ),
        (
            "getRelation",
            "<relationNumber>1</relationNumber>".to_owned(),
            "namespace",
        ),
        (
            "getRelations",
            format!(
                "<m:request>{}{}</m:request>",
                el("syncMarker", 3),
                el("relationNumbers", 1)
            ),
            "out of sequence order",
        ),
        (
            "findRelationV2",
            format!(
                "<m:request><m:relation/>{}</m:request>",
                el("exactMatch", "yes")
            ),
            "xsd:boolean",
        ),
        (
            "getRelation",
            format!("{}text", el("relationNumber", 1)),
            "text",
        ),
    ];
    for (op, inner, expected) in cases {
        let errors = errors_of(op, &inner);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{op} {inner}: expected `{expected}` in {errors:?}"
        );
    }
    // Enumerations and the response side.
    let bad = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><ns:GetRelationResponse xmlns:ns="urn:mplusqapi"><ns:result>GET-RELATION-RESULT-MAYBE</ns:result><ns:relation/></ns:GetRelationResponse></s:Body></s:Envelope>"#;
    let errors = schema().check_message(bad, "GetRelationResponse");
    assert!(
        errors.iter().any(|e| e.contains("enumeration")),
        "{errors:?}"
    );
    let missing = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><ns:GetRelationResponse xmlns:ns="urn:mplusqapi"><ns:result>GET-RELATION-RESULT-OK</ns:result></ns:GetRelationResponse></s:Body></s:Envelope>"#;
    let errors = schema().check_message(missing, "GetRelationResponse");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("missing required element relation")),
        "{errors:?}"
    );
    let errors = schema().check_message(missing, "FindRelationResponse");
    assert!(!errors.is_empty());
}

#[test]
fn the_message_table_has_the_irregular_names() {
    let s = schema();
    assert_eq!(
        s.operation("findOrder"),
        Some(("findOrder", "GetOrderResponse"))
    );
    assert_eq!(
        s.operation("getApiVersion"),
        Some(("getApiVersion", "getApiVersionResponse"))
    );
    assert_eq!(
        s.operation("getPaymentMethodsV2"),
        Some(("getPaymentMethodsV2", "GetPaymentMethodsResponse"))
    );
    assert_eq!(
        s.operation("getStockHistoryV2"),
        Some(("getStockHistoryV2", "GetStockHistoryResponse"))
    );
    assert!(s.operation_names().count() > 300);
    for op in MplusState::operations() {
        assert!(s.operation(op).is_some(), "{op} is not a WSDL operation");
    }
}

fn order_xml(ext: &str, relation: i64, employee: i64, lines: &[(i64, i64)]) -> String {
    let lines: String = lines
        .iter()
        .map(|(article, qty)| {
            format!(
                "<m:line>{}<m:data>{}{}</m:data></m:line>",
                el("articleNumber", article),
                el("quantity", qty),
                el("decimalPlaces", 0)
            )
        })
        .collect();
    format!(
        "<m:order>{}{}{}{}{}{}<m:deliveryAddress>{}{}{}{}{}</m:deliveryAddress>{}{}{}{}<m:lineList>{lines}</m:lineList></m:order>",
        el("orderId", ""),
        el("extOrderId", ext),
        el("orderType", "ORDER-TYPE-SALES-ORDER"),
        el("entryBranchNumber", 1),
        el("employeeNumber", employee),
        el("relationNumber", relation),
        el("name", "Jan Jansen"),
        el("address", "Dorpsstraat 1"),
        el("zipcode", "1234 AB"),
        el("city", "Amsterdam"),
        el("country", "NL"),
        el("financialBranchNumber", 1),
        el("workplaceNumber", 1),
        el("reference", "webshop order"),
        el("vatMethod", "VAT-METHOD-INCLUSIVE"),
    )
}

fn relation_xml(inner: &str) -> String {
    format!("<m:relation>{inner}</m:relation>")
}

#[tokio::test]
async fn every_operation_answers_schema_valid_responses() {
    let sim = spawn().await;

    // Housekeeping and reference data.
    let v = sim.call("getApiVersion", "").await;
    assert_eq!(num(&v, "majorNumber"), 67);
    let markers = sim.call("getCurrentSyncMarkers", "").await;
    assert!(num(&markers, "relationSyncMarker") > 0);
    let branches = sim.call("getBranches", "").await;
    assert_eq!(
        branches.get("branches").map(|b| b.all("branch").count()),
        Some(2)
    );
    let employees = sim.call("getEmployees", "<m:request/>").await;
    assert!(employees.get("employeeList").is_some_and(|l| {
        l.all("employee")
            .any(|e| e.text_at("employeeNumber") == Some("999999"))
    }));
    sim.call(
        "getEmployees",
        &format!(
            "<m:request>{}{}{}</m:request>",
            el("employeeNumbers", 999_999),
            el("syncMarker", 0),
            el("syncMarkerLimit", 10)
        ),
    )
    .await;
    let e = sim
        .call("getEmployee", &el("employeeNumber", 999_999))
        .await;
    assert_eq!(e.text_at("result"), Some("GET-EMPLOYEE-RESULT-OK"));
    let e = sim.call("getEmployee", &el("employeeNumber", 4242)).await;
    assert_eq!(e.text_at("result"), Some("GET-EMPLOYEE-RESULT-NOT-FOUND"));
    let pm = sim
        .call(
            "getPaymentMethodsV2",
            &format!(
                "<m:request>{}</m:request>",
                el("paymentMethodTypes", "PAYMENT-METHOD-TYPE-EFT")
            ),
        )
        .await;
    assert_eq!(
        pm.get("paymentMethodList")
            .map(|l| l.all("paymentMethod").count()),
        Some(1)
    );
    let vat = sim.call("getVatGroupList", "").await;
    assert_eq!(texts(&vat, "vatGroup").len(), 3);
    assert!(
        vat.all("vatGroup")
            .any(|g| g.text_at("vatPercentage") == Some("2100"))
    );
    let tg = sim
        .call(
            "getTurnoverGroups",
            &format!("<m:request>{}</m:request>", el("onlyActive", true)),
        )
        .await;
    assert!(
        tg.get("turnoverGroupList")
            .is_some_and(|l| l.all("turnoverGroup").count() == 4)
    );

    // Relations.
    let created = sim
        .call(
            "createRelation",
            &relation_xml(&format!(
                "{}{}{}{}{}{}{}{}<m:contactList>{}</m:contactList>{}",
                el("extRelationId", "mc-42"),
                el("active", true),
                el("name", "Ferry & Zonen B.V."),
                el("address", "Kade 1"),
                el("zipcode", "1000 AA"),
                el("city", "Amsterdam"),
                el("email", "info@ferry.example"),
                el("vatNumber", "NL0001B01"),
                relation_xml(&format!(
                    "{}{}",
                    el("name", "Els Ferry"),
                    el("email", "els@ferry.example")
                )),
                el("companyName", "Ferry & Zonen B.V."),
            )),
        )
        .await;
    assert_eq!(created.text_at("result"), Some("CREATE-RELATION-RESULT-OK"));
    let company = num(&created, "relationNumber");
    let person = sim
        .call(
            "createRelation",
            &relation_xml(&format!(
                "{}{}",
                el("name", "Piet Klant"),
                el("email", "Piet@Example.com")
            )),
        )
        .await;
    let person = num(&person, "relationNumber");
    let updated = sim
        .call(
            "updateRelation",
            &relation_xml(&format!(
                "{}{}{}",
                el("relationNumber", person),
                el("city", "Utrecht"),
                el("defaultVatMethod", "VAT-METHOD-INCLUSIVE")
            )),
        )
        .await;
    assert_eq!(updated.text_at("result"), Some("UPDATE-RELATION-RESULT-OK"));
    let missing = sim
        .call(
            "updateRelation",
            &relation_xml(&el("relationNumber", 987_654)),
        )
        .await;
    assert_eq!(
        missing.text_at("result"),
        Some("UPDATE-RELATION-RESULT-NOT-FOUND")
    );
    let got = sim
        .call("getRelation", &el("relationNumber", company))
        .await;
    assert_eq!(
        got.text_at("relation/contactList/relation/name"),
        Some("Els Ferry")
    );
    assert_eq!(got.text_at("relation/name"), Some("Ferry & Zonen B.V."));
    let got = sim
        .call("getRelation", &el("relationNumber", 987_654))
        .await;
    assert_eq!(got.text_at("result"), Some("GET-RELATION-RESULT-NOT-FOUND"));
    let found = sim
        .call("findRelation", &relation_xml(&el("email", "piet@EXAMPLE")))
        .await;
    assert_eq!(found.text_at("result"), Some("FIND-RELATION-RESULT-OK"));
    assert_eq!(num(&found, "relation/relationNumber"), person);
    let exact = sim
        .call(
            "findRelationV2",
            &format!(
                "<m:request>{}{}</m:request>",
                relation_xml(&el("email", "piet@example")),
                el("exactMatch", true)
            ),
        )
        .await;
    assert_eq!(
        exact.text_at("result"),
        Some("FIND-RELATION-RESULT-NOT-FOUND")
    );
    let exact = sim
        .call(
            "findRelationV2",
            &format!(
                "<m:request>{}{}</m:request>",
                relation_xml(&el("email", "piet@example.com")),
                el("exactMatch", 1)
            ),
        )
        .await;
    assert_eq!(num(&exact, "relation/relationNumber"), person);
    let all = sim
        .call(
            "getRelations",
            &format!(
                "<m:request>{}{}</m:request>",
                el("syncMarker", 1),
                el("syncMarkerLimit", 100)
            ),
        )
        .await;
    assert_eq!(
        all.get("relationList").map(|l| l.all("relation").count()),
        Some(4)
    );

    // Products and article groups.
    let group = sim
        .call(
            "newArticleGroup",
            &format!(
                "<m:request>{}{}{}</m:request>",
                el("parentGroupNumber", 10),
                el("name", "Truien"),
                el("text", "Warme truien")
            ),
        )
        .await;
    assert_eq!(group.text_at("result"), Some("NEW-ARTICLE-GROUP-RESULT-OK"));
    let group_number = num(&group, "groupNumber");
    let orphan = sim
        .call(
            "newArticleGroup",
            &format!(
                "<m:request>{}{}{}</m:request>",
                el("parentGroupNumber", 777),
                el("name", "x"),
                el("text", "x")
            ),
        )
        .await;
    assert_eq!(
        orphan.text_at("result"),
        Some("NEW-ARTICLE-GROUP-RESULT-PARENT-NOTFOUND")
    );
    let renamed = sim
        .call(
            "updateArticleGroup",
            &format!(
                "<m:request>{}{}{}</m:request>",
                el("groupNumber", group_number),
                el("name", "Truien & vesten"),
                el("sortOrder", 5)
            ),
        )
        .await;
    assert_eq!(
        renamed.text_at("result"),
        Some("SAVE-ARTICLE-GROUP-RESULT-OK")
    );
    let article = |plu: &str, size: &str| {
        format!(
            "<m:article>{}{}{}{}{}{}{}{}{}</m:article>",
            el("pluNumber", plu),
            el("active", true),
            el("description", format!("Trui {size}")),
            el("colour", "Rood"),
            el("size", size),
            el("turnoverGroup", 100),
            el("vatCode", 1),
            el("priceIncl", 4995),
            el("webshop", true),
        )
    };
    let product = sim
        .call(
            "createProduct",
            &format!(
                "<m:product>{}<m:articleList>{}{}</m:articleList>{}</m:product>",
                el("description", "Trui"),
                article("TRUI-R-M", "M"),
                article("TRUI-R-L", "L"),
                el("groupNumbers", group_number),
            ),
        )
        .await;
    assert_eq!(product.text_at("result"), Some("CREATE-PRODUCT-RESULT-OK"));
    let product_number = num(&product, "productNumber");
    let articles: Vec<i64> = texts(&product, "articleNumbers")
        .iter()
        .map(|t| t.parse().expect("number"))
        .collect();
    assert_eq!(articles.len(), 2);
    let updated = sim
        .call(
            "updateProduct",
            &format!(
                "<m:product>{}<m:articleList><m:article>{}{}</m:article>{}</m:articleList></m:product>",
                el("productNumber", product_number),
                el("articleNumber", articles[0]),
                el("priceIncl", 3995),
                article("TRUI-R-XL", "XL"),
            ),
        )
        .await;
    assert_eq!(updated.text_at("result"), Some("UPDATE-PRODUCT-RESULT-OK"));
    assert_eq!(
        texts(&updated, "existingArticleNumbers"),
        vec![articles[0].to_string()]
    );
    assert_eq!(texts(&updated, "newArticleNumbers").len(), 1);
    let added = sim
        .call(
            "addProductsToArticleGroup",
            &format!(
                "<m:request>{}<m:productNumbers>{}</m:productNumbers></m:request>",
                el("groupNumber", 20),
                el("number", product_number)
            ),
        )
        .await;
    assert_eq!(
        added.text_at("result"),
        Some("ADD-PRODUCTS-TO-ARTICLE-GROUP-RESULT-OK")
    );
    let products = sim
        .call(
            "getProducts",
            &format!(
                "<m:request>{}<m:pluNumbers><m:text>{}</m:text></m:pluNumbers>{}</m:request>",
                el("articleNumbers", 2001),
                el("text", "TRUI-R-XL"),
                el("includeAllArticlesOfSelectedProducts", true)
            ),
        )
        .await;
    let list = products.get("productList").expect("productList");
    assert_eq!(list.all("product").count(), 2);
    let trui = list
        .all("product")
        .find(|p| p.text_at("productNumber") == Some(&product_number.to_string()))
        .expect("trui");
    assert_eq!(
        trui.get("articleList").map(|l| l.all("article").count()),
        Some(3)
    );
    let groups = sim
        .call(
            "getArticleGroups",
            &format!(
                "<m:request>{}</m:request>",
                el("retrieveArticleNumbers", true)
            ),
        )
        .await;
    let top = groups.get("articleGroupList").expect("list");
    assert_eq!(top.all("articleGroups").count(), 3, "top-level groups");
    let changed = sim
        .call(
            "getArticleGroups",
            &format!(
                "<m:request>{}{}</m:request>",
                el("syncMarker", 1),
                el("syncMarkerLimit", 2)
            ),
        )
        .await;
    assert_eq!(
        changed
            .get("articleGroupList")
            .map(|l| l.all("articleGroups").count()),
        Some(2)
    );

    // Stock.
    let set = sim
        .call(
            "setStock",
            &format!(
                "<m:request>{}{}{}{}{}</m:request>",
                el("branchNumber", 1),
                el("articleNumber", articles[0]),
                el("amount", 12_500),
                el("decimalPlaces", 3),
                el("employeeNumber", 999_999)
            ),
        )
        .await;
    assert_eq!(set.text_at("result"), Some("SET-STOCK-RESULT-OK"));
    let up = sim
        .call(
            "updateStock",
            &format!(
                "<m:request>{}{}{}</m:request>",
                el("branchNumber", 1),
                el("articleNumber", articles[0]),
                el("amountChanged", -2)
            ),
        )
        .await;
    assert_eq!(up.text_at("result"), Some("UPDATE-STOCK-RESULT-OK"));
    let stock = sim
        .call(
            "getStock",
            &format!(
                "<m:request>{}<m:articleNumbers>{}{}</m:articleNumbers></m:request>",
                el("branchNumber", 1),
                el("articleNumbers", articles[0]),
                el("articleNumbers", 1001)
            ),
        )
        .await;
    let levels: Vec<&El> = stock.all("articleStocks").collect();
    assert_eq!(levels.len(), 2);
    assert_eq!(
        (
            num(levels[0], "amountFree"),
            num(levels[0], "decimalPlacesFree")
        ),
        (105, 1)
    );
    let history = sim
        .call(
            "getStockHistoryV2",
            &format!(
                "<m:request>{}{}{}</m:request>",
                el("branchNumbers", 1),
                el("sinceStockId", 1),
                el("sinceStockIdLimit", 1000)
            ),
        )
        .await;
    assert!(
        history
            .all("articleStockHistory")
            .any(|h| h.text_at("type") == Some("STOCK-HISTORY-TYPE-CORRECTION"))
    );
    assert!(
        history
            .all("articleStockHistory")
            .any(|h| h.text_at("amountChanged") == Some("-2"))
    );

    // Orders.
    let v1 = sim
        .call(
            "createOrder",
            &order_xml("WS-1", person, 999_999, &[(1001, 1)]),
        )
        .await;
    assert_eq!(v1.text_at("result"), Some("CREATE-ORDER-RESULT-OK"));
    let v1_id = v1.text_at("info/orderId").expect("orderId").to_owned();
    let v3 = sim
        .call(
            "createOrderV3",
            &format!(
                "<m:request>{}{}{}<m:paymentList><m:payment>{}{}</m:payment></m:paymentList></m:request>",
                el("idempotencyKey", "key-1"),
                order_xml("WS-2", company, 999_999, &[(articles[0], 2), (2001, 1)]),
                el("prepay", true),
                el("method", "IDEAL"),
                el("amount", 3995 * 2 + 2450),
            ),
        )
        .await;
    assert_eq!(
        v3.text_at("idempotencyResult"),
        Some("IDEMPOTENCY-RESULT-ORIGINAL-RESPONSE")
    );
    assert_eq!(v3.text_at("result"), Some("CREATE-ORDER-RESULT-OK"));
    assert_eq!(num(&v3, "order/totalInclAmount"), 3995 * 2 + 2450);
    assert_eq!(v3.text_at("order/fullyPaid"), Some("true"));
    let found = sim.call("findOrder", &el("extOrderId", "WS-2")).await;
    assert_eq!(found.text_at("result"), Some("GET-ORDER-RESULT-OK"));
    let none = sim.call("findOrder", &el("extOrderId", "WS-404")).await;
    assert_eq!(none.text_at("result"), Some("GET-ORDER-RESULT-NOT-FOUND"));
    let by_ext = sim
        .call(
            "getOrdersByExtOrderIds",
            &format!(
                "<m:request><m:extOrderIds>{}{}{}</m:extOrderIds></m:request>",
                el("id", "WS-1"),
                el("id", "WS-2"),
                el("id", "WS-404")
            ),
        )
        .await;
    assert_eq!(
        by_ext.get("orderList").map(|l| l.all("order").count()),
        Some(2)
    );
    let orders = sim
        .call(
            "getOrders",
            &format!(
                "<m:request>{}{}<m:articlePluNumbers/><m:articleBarcodes/></m:request>",
                el("syncMarker", 1),
                el("syncMarkerLimit", 10)
            ),
        )
        .await;
    assert_eq!(
        orders.get("orderList").map(|l| l.all("order").count()),
        Some(2)
    );
    let cancelled = sim.call("cancelOrder", &el("orderId", &v1_id)).await;
    assert_eq!(cancelled.text_at("result"), Some("CANCEL-ORDER-RESULT-OK"));
    let again = sim.call("cancelOrder", &el("orderId", &v1_id)).await;
    assert_eq!(
        again.text_at("result"),
        Some("CANCEL-ORDER-RESULT-ALREADY-CANCELLED")
    );
    let unknown = sim.call("cancelOrder", &el("orderId", "nope")).await;
    assert_eq!(
        unknown.text_at("result"),
        Some("CANCEL-ORDER-RESULT-NOT-FOUND")
    );

    // The other order is delivered and invoiced; the invoice names it.
    let ws2 = found
        .text_at("order/orderId")
        .expect("WS-2's id")
        .to_owned();
    let delivered = sim
        .call(
            "deliverOrder",
            &format!("<m:request>{}</m:request>", el("orderId", &ws2)),
        )
        .await;
    assert_eq!(delivered.text_at("result"), Some("DELIVER-ORDER-RESULT-OK"));
    let invoices = sim
        .call(
            "getInvoices",
            &format!(
                "<m:request>{}<m:articlePluNumbers/><m:articleBarcodes/></m:request>",
                el("syncMarker", 1)
            ),
        )
        .await;
    assert_eq!(
        invoices.text_at("invoiceList/invoice/extOrderIds/id"),
        Some("WS-2")
    );
    let invoice_id = invoices
        .text_at("invoiceList/invoice/invoiceId")
        .expect("the invoice's id")
        .to_owned();
    let one = sim.call("getInvoice", &el("invoiceId", &invoice_id)).await;
    assert_eq!(one.text_at("result"), Some("GET-INVOICE-RESULT-OK"));
    assert_eq!(one.text_at("invoice/invoiceId"), Some(invoice_id.as_str()));
    let none = sim
        .call("getInvoice", &el("invoiceId", "no-such-invoice"))
        .await;
    assert_eq!(none.text_at("result"), Some("GET-INVOICE-RESULT-NOT-FOUND"));

    // Every implemented operation went through the schema checks.
    let checked = sim.checked.lock().expect("lock").clone();
    let missing: Vec<&str> = MplusState::operations()
        .into_iter()
        .filter(|op| !checked.contains(*op))
        .collect();
    assert!(
        missing.is_empty(),
        "operations without a schema-checked call: {missing:?}"
    );
}

/// The shared seed shop, rendered through every read operation, is schema-valid too.
#[tokio::test]
async fn the_shared_seed_renders_valid_messages() {
    let sim = spawn_shared_seed().await;
    let products = sim
        .call("getProducts", "<m:request><m:pluNumbers/></m:request>")
        .await;
    let list = products.get("productList").expect("productList");
    assert!(list.all("product").count() >= 40, "products of the seed");
    let relations = sim.call("getRelations", "").await;
    assert!(
        relations
            .get("relationList")
            .is_some_and(|l| l.all("relation").count() > 5)
    );
    let orders = sim
        .call(
            "getOrders",
            "<m:request><m:articlePluNumbers/><m:articleBarcodes/></m:request>",
        )
        .await;
    assert!(
        orders
            .get("orderList")
            .is_some_and(|l| l.all("order").count() > 5)
    );
    sim.call("getArticleGroups", "<m:request/>").await;
    sim.call("getBranches", "").await;
    sim.call("getEmployee", &el("employeeNumber", 999_999))
        .await;
    sim.call(
        "getStock",
        &format!(
            "<m:request>{}<m:articleNumbers/></m:request>",
            el("branchNumber", 1)
        ),
    )
    .await;
    sim.call("getStockHistoryV2", "<m:request/>").await;
    sim.call("getTurnoverGroups", "<m:request/>").await;
    sim.call("getPaymentMethodsV2", "<m:request/>").await;
}

#[test]
fn the_served_wsdl_parses_as_a_schema_document() {
    // The parser used by the checker reads the real WSDL (BOM and all).
    let text = std::fs::read_to_string(mpluskassa_support::WSDL_PATH).expect("WSDL");
    let root = xsd::parse(&text).expect("well-formed");
    assert_eq!(root.name, "definitions");
}
