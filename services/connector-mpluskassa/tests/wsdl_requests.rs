//! Every request the client writes is valid against the official WSDL's schema (namespace,
//! declared elements, sequence order, occurrences, simple types), checked with the sandbox's
//! independent schema checker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../sandbox/tests/mpluskassa_support/xsd.rs"]
#[allow(dead_code, clippy::all)]
mod xsd;

use ferry_connector_mpluskassa::soap::envelope;
use ferry_connector_mpluskassa::soap::requests::{
    self as rq, AddressWrite, ArticleWrite, LineWrite, OrderWrite, Page, PaymentWrite,
    ProductQuery, ProductWrite, RelationWrite,
};
use rust_decimal::Decimal;

const WSDL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../specs/mpluskassa/mplusqapi.wsdl"
);

fn relation() -> RelationWrite {
    RelationWrite {
        relation_number: Some(20001),
        name: "Bakkerij & Zn".into(),
        address: Some("Dorpsstraat 12a".into()),
        zipcode: Some("1234 AB".into()),
        city: Some("Ons Dorp".into()),
        country: Some("NL".into()),
        delivery_address: Some("Kade 1".into()),
        delivery_zipcode: Some("1000 AA".into()),
        delivery_city: Some("Amsterdam".into()),
        delivery_country: Some("NL".into()),
        contact: Some("Els Bakker".into()),
        telephone: Some("+31 20 123 4567".into()),
        email: Some("inkoop@bakkerij.nl".into()),
        vat_number: Some("NL851234567B01".into()),
        contacts: Some(vec![RelationWrite {
            relation_number: Some(20002),
            name: "Els Bakker".into(),
            email: Some("els@bakkerij.nl".into()),
            ..RelationWrite::default()
        }]),
        company_name: Some("Bakkerij BV".into()),
    }
}

fn product() -> ProductWrite {
    let article = |n: Option<i64>| ArticleWrite {
        article_number: n,
        plu_number: Some("700101".into()),
        active: Some(true),
        description: Some("Shirt S".into()),
        colour: Some("White".into()),
        size: Some("S".into()),
        barcode: Some("8712345100018".into()),
        extra_text: Some("Organic".into()),
        turnover_group: Some(10),
        vat_code: Some(1),
        price_incl: Some(2495),
        price_excl: None,
        webshop: Some(true),
        stock_article: Some(true),
    };
    ProductWrite {
        product_number: Some(1001),
        description: Some("Shirt".into()),
        extra_text: Some("<p>Long</p>".into()),
        articles: vec![article(Some(10001)), article(None)],
        group_numbers: Some(vec![11, 12]),
    }
}

fn order() -> OrderWrite {
    let address = AddressWrite {
        name: Some("Anna de Vries".into()),
        contact: None,
        address: Some("Dorpsstraat 12".into()),
        zipcode: Some("1234 AB".into()),
        city: Some("Ons Dorp".into()),
        country: Some("NL".into()),
        company_name: Some("Bakkerij BV".into()),
    };
    OrderWrite {
        ext_order_id: "WEB-1001".into(),
        entry_branch_number: Some(2),
        employee_number: 999_999,
        relation_number: 20001,
        delivery_address: Some(address.clone()),
        invoice_address: Some(address),
        workplace_number: Some(1),
        reference: Some("WEB-1001".into()),
        vat_method: "VAT-METHOD-INCLUSIVE",
        payment_method: Some("IDEAL".into()),
        lines: vec![LineWrite {
            article_number: 10001,
            plu_number: Some("100101".into()),
            text: Some("Shirt S".into()),
            quantity: 15,
            decimal_places: 1,
            price: Some(2495),
            price_excl: None,
            turnover_group: Some(10),
            vat_code: Some(1),
            discount_amount: Some(100),
        }],
    }
}

#[test]
fn every_request_is_valid_against_the_wsdl() {
    let schema = xsd::Schema::load(WSDL).expect("the WSDL's schema loads");
    let page = Page {
        from: 101,
        limit: 500,
    };
    let requests: Vec<(&str, String)> = vec![
        ("getApiVersion", rq::get_api_version()),
        ("getCurrentSyncMarkers", rq::get_current_sync_markers()),
        ("getBranches", rq::get_branches()),
        ("getEmployees", rq::get_employees()),
        ("getEmployee", rq::get_employee(999_999)),
        ("getPaymentMethodsV2", rq::get_payment_methods_v2()),
        ("getVatGroupList", rq::get_vat_group_list()),
        ("getTurnoverGroups", rq::get_turnover_groups(true)),
        ("findRelationV2", rq::find_relation_v2_by_email("a@b.nl")),
        ("getRelation", rq::get_relation(20001)),
        ("getRelations", rq::get_relations(page)),
        (
            "createRelation",
            rq::create_relation(&RelationWrite {
                relation_number: None,
                ..relation()
            }),
        ),
        ("updateRelation", rq::update_relation(&relation())),
        (
            "getProducts",
            rq::get_products(&ProductQuery {
                page: Some(page),
                ..ProductQuery::default()
            }),
        ),
        (
            "getProducts",
            rq::get_products(&ProductQuery {
                article_numbers: vec![10001, 10002],
                plu_numbers: vec!["100101".into(), "A&B".into()],
                include_all_articles: true,
                product_numbers: vec![1001],
                ..ProductQuery::default()
            }),
        ),
        (
            "createProduct",
            rq::create_product(&ProductWrite {
                product_number: None,
                ..product()
            }),
        ),
        ("updateProduct", rq::update_product(&product())),
        ("getArticleGroups", rq::get_article_groups(None)),
        ("getArticleGroups", rq::get_article_groups(Some(page))),
        (
            "newArticleGroup",
            rq::new_article_group(0, "Shirts", "Shirts"),
        ),
        (
            "updateArticleGroup",
            rq::update_article_group(11, "Shirts", "Shirts", 0),
        ),
        ("getStock", rq::get_stock(1, &[], Some(12))),
        ("getStock", rq::get_stock(1, &[10001, 10002], None)),
        (
            "setStock",
            rq::set_stock(1, 10001, Decimal::new(1250, 2), Some(999_999), "Ferry").expect("fits"),
        ),
        ("findOrder", rq::find_order("WEB-1001")),
        ("getOrders", rq::get_orders(page)),
        (
            "createOrderV3",
            rq::create_order_v3(
                &order(),
                "ferry:key",
                &[PaymentWrite {
                    method: "IDEAL".into(),
                    amount: 3743,
                }],
            ),
        ),
        (
            "createOrderV3",
            rq::create_order_v3(
                &OrderWrite {
                    delivery_address: None,
                    invoice_address: None,
                    ..order()
                },
                "k",
                &[],
            ),
        ),
    ];
    let mut problems = Vec::new();
    for (op, body) in &requests {
        let errors = schema.check_message(&envelope::wrap(body), op);
        if !errors.is_empty() {
            problems.push(format!("{op}: {errors:?}\n  {body}"));
        }
    }
    assert!(
        problems.is_empty(),
        "requests not valid against the WSDL:\n{}",
        problems.join("\n")
    );

    // The checker does refuse what the WSDL does not allow (order, names, types).
    let swapped = rq::get_relations(page).replace(
        "<m:syncMarker>101</m:syncMarker><m:syncMarkerLimit>500</m:syncMarkerLimit>",
        "<m:syncMarkerLimit>500</m:syncMarkerLimit><m:syncMarker>101</m:syncMarker>",
    );
    assert!(
        !schema
            .check_message(&envelope::wrap(&swapped), "getRelations")
            .is_empty()
    );
    let typed = rq::get_relation(1).replace(">1<", ">one<");
    assert!(
        !schema
            .check_message(&envelope::wrap(&typed), "getRelation")
            .is_empty()
    );
}

#[test]
fn response_element_names_come_from_the_wsdl_message_table() {
    let schema = xsd::Schema::load(WSDL).expect("the WSDL's schema loads");
    use rq::response as r;
    for (op, expected) in [
        ("getApiVersion", r::GET_API_VERSION),
        ("getCurrentSyncMarkers", r::GET_CURRENT_SYNC_MARKERS),
        ("getBranches", r::GET_BRANCHES),
        ("getEmployees", r::GET_EMPLOYEES),
        ("getEmployee", r::GET_EMPLOYEE),
        ("getPaymentMethodsV2", r::GET_PAYMENT_METHODS_V2),
        ("getVatGroupList", r::GET_VAT_GROUP_LIST),
        ("getTurnoverGroups", r::GET_TURNOVER_GROUPS),
        ("findRelationV2", r::FIND_RELATION_V2),
        ("getRelation", r::GET_RELATION),
        ("getRelations", r::GET_RELATIONS),
        ("createRelation", r::CREATE_RELATION),
        ("updateRelation", r::UPDATE_RELATION),
        ("getProducts", r::GET_PRODUCTS),
        ("createProduct", r::CREATE_PRODUCT),
        ("updateProduct", r::UPDATE_PRODUCT),
        ("getArticleGroups", r::GET_ARTICLE_GROUPS),
        ("newArticleGroup", r::NEW_ARTICLE_GROUP),
        ("updateArticleGroup", r::UPDATE_ARTICLE_GROUP),
        ("getStock", r::GET_STOCK),
        ("setStock", r::SET_STOCK),
        ("findOrder", r::FIND_ORDER),
        ("getOrders", r::GET_ORDERS),
        ("createOrderV3", r::CREATE_ORDER_V3),
    ] {
        let (input, output) = schema
            .operation(op)
            .unwrap_or_else(|| panic!("{op} in the WSDL"));
        assert_eq!(input, op);
        assert_eq!(output, expected, "response element of {op}");
    }
}
