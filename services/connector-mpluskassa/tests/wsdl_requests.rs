//! Every request the client writes is valid against the official WSDL's schema (namespace,
//! declared elements, sequence order, occurrences, simple types), checked with the sandbox's
//! independent schema checker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../sandbox/tests/mpluskassa_support/xsd.rs"]
#[allow(dead_code, clippy::all)]
mod xsd;

use ferry_connector_mpluskassa::soap::requests::{
    self as rq, AddressWrite, ArticleWrite, LineWrite, OrderWrite, Page, PaymentWrite,
    ProductQuery, ProductWrite, RelationWrite,
};
use ferry_mplusqapi::{Operation, envelope};
use rust_decimal::Decimal;

/// The request envelope of `op`.
fn env<O: Operation>(op: O) -> String {
    envelope::request(O::NAME, &op).expect("writes")
}

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
        payment_within_days: Some(30),
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
        ("getApiVersion", env(rq::get_api_version())),
        ("getCurrentSyncMarkers", env(rq::get_current_sync_markers())),
        ("getBranches", env(rq::get_branches())),
        ("getEmployees", env(rq::get_employees())),
        ("getEmployee", env(rq::get_employee(999_999))),
        ("getPaymentMethodsV2", env(rq::get_payment_methods_v2())),
        ("getVatGroupList", env(rq::get_vat_group_list())),
        ("getTurnoverGroups", env(rq::get_turnover_groups(true))),
        (
            "findRelationV2",
            env(rq::find_relation_v2_by_email("a@b.nl")),
        ),
        ("getRelation", env(rq::get_relation(20001))),
        ("getRelations", env(rq::get_relations(page))),
        (
            "createRelation",
            env(rq::create_relation(&RelationWrite {
                relation_number: None,
                ..relation()
            })),
        ),
        ("updateRelation", env(rq::update_relation(&relation()))),
        (
            "getProducts",
            env(rq::get_products(&ProductQuery {
                page: Some(page),
                ..ProductQuery::default()
            })),
        ),
        (
            "getProducts",
            env(rq::get_products(&ProductQuery {
                article_numbers: vec![10001, 10002],
                plu_numbers: vec!["100101".into(), "A&B".into()],
                include_all_articles: true,
                product_numbers: vec![1001],
                ..ProductQuery::default()
            })),
        ),
        (
            "createProduct",
            env(rq::create_product(&ProductWrite {
                product_number: None,
                ..product()
            })),
        ),
        ("updateProduct", env(rq::update_product(&product()))),
        ("getArticleGroups", env(rq::get_article_groups(None))),
        ("getArticleGroups", env(rq::get_article_groups(Some(page)))),
        (
            "newArticleGroup",
            env(rq::new_article_group(0, "Shirts", "Shirts")),
        ),
        (
            "updateArticleGroup",
            env(rq::update_article_group(11, "Shirts", "Shirts", 0)),
        ),
        ("getStock", env(rq::get_stock(1, &[], Some(12)))),
        ("getStock", env(rq::get_stock(1, &[10001, 10002], None))),
        (
            "setStock",
            env(
                rq::set_stock(1, 10001, Decimal::new(1250, 2), Some(999_999), "Ferry")
                    .expect("fits"),
            ),
        ),
        ("findOrder", env(rq::find_order("WEB-1001"))),
        ("getOrders", env(rq::get_orders(page))),
        ("getInvoices", env(rq::get_invoices(page))),
        (
            "getInvoice",
            env(rq::get_invoice("00000000-0000-4000-8000-000000000001")),
        ),
        (
            "createOrderV3",
            env(rq::create_order_v3(
                &order(),
                "ferry:key",
                &[PaymentWrite {
                    method: "IDEAL".into(),
                    amount: 3743,
                }],
            )),
        ),
        (
            "createOrderV3",
            env(rq::create_order_v3(
                &OrderWrite {
                    delivery_address: None,
                    invoice_address: None,
                    ..order()
                },
                "k",
                &[],
            )),
        ),
    ];
    let mut problems = Vec::new();
    for (op, body) in &requests {
        let errors = schema.check_message(body, op);
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
    let swapped = env(rq::get_relations(page)).replace(
        "<syncMarker>101</syncMarker><syncMarkerLimit>500</syncMarkerLimit>",
        "<syncMarkerLimit>500</syncMarkerLimit><syncMarker>101</syncMarker>",
    );
    assert_ne!(swapped, env(rq::get_relations(page)));
    assert!(!schema.check_message(&swapped, "getRelations").is_empty());
    let typed = env(rq::get_relation(1)).replace(">1<", ">one<");
    assert!(!schema.check_message(&typed, "getRelation").is_empty());
}

#[test]
fn response_element_names_come_from_the_wsdl_message_table() {
    let schema = xsd::Schema::load(WSDL).expect("the WSDL's schema loads");
    // 24 + getInvoices (till sales) + getInvoice and cancelOrder (order lifecycle).
    assert_eq!(ferry_mplusqapi::ops::OPERATIONS.len(), 27);
    for &(op, expected) in ferry_mplusqapi::ops::OPERATIONS {
        let (input, output) = schema
            .operation(op)
            .unwrap_or_else(|| panic!("{op} in the WSDL"));
        assert_eq!(input, op);
        assert_eq!(output, expected, "response element of {op}");
    }
}
