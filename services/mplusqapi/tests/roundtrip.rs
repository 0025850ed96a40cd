//! Every request and response type of this crate, written, checked against the official
//! WSDL's schema (with the sandbox's independent checker), and read back equal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../sandbox/tests/mpluskassa_support/xsd.rs"]
#[allow(dead_code, clippy::all)]
mod xsd;

use ferry_mplusqapi::ops::*;
use ferry_mplusqapi::records::*;
use ferry_mplusqapi::{Limits, Operation, SoapMplusDate, SoapMplusDateTime, envelope};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

const WSDL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../specs/mpluskassa/mplusqapi.wsdl"
);

fn schema() -> xsd::Schema {
    xsd::Schema::load(WSDL).expect("the WSDL's schema loads")
}

fn ts() -> SoapMplusDateTime {
    SoapMplusDateTime {
        sec: 5,
        min: 30,
        hour: 10,
        day: 24,
        mon: 11,
        year: 2026,
        isdst: false,
        timezone: 60,
    }
}

fn relation() -> Relation {
    Relation {
        relation_number: Some(20001),
        ext_relation_id: Some("WEB-1".into()),
        sync_marker: Some(7),
        create_timestamp: Some(ts()),
        change_timestamp: Some(ts()),
        active: Some(true),
        name: Some("Bakkerij & Zn <BV>".into()),
        address: Some("Dorpsstraat 12a".into()),
        zipcode: Some("1234 AB".into()),
        city: Some("Ons Dorp".into()),
        country: Some("NL".into()),
        email: Some("inkoop@bakkerij.nl".into()),
        birth_date: Some(SoapMplusDate {
            day: 1,
            mon: 2,
            year: 1990,
        }),
        payment_within_days: Some(14),
        default_vat_method: Some("VAT-METHOD-INCLUSIVE".into()),
        contact_list: Some(RelationList {
            relation: vec![Relation {
                relation_number: Some(20002),
                name: Some("Els Bakker".into()),
                ..Relation::default()
            }],
        }),
        company_name: Some("Bakkerij BV".into()),
        ..Relation::default()
    }
}

fn article(n: i64) -> Article {
    Article {
        article_number: Some(n),
        plu_number: Some(format!("{n}")),
        sync_marker: Some(3),
        change_timestamp: Some(ts()),
        active: Some(true),
        description: Some("Shirt S".into()),
        colour: Some("White".into()),
        size: Some("S".into()),
        barcode: Some("8712345100018".into()),
        turnover_group: Some(10),
        vat_code: Some(1),
        vat_percentage: Some(2100),
        price_incl: Some(2495),
        price_excl: Some(2062),
        webshop: Some(true),
        stock_article: Some(true),
        ..Article::default()
    }
}

fn product() -> Product {
    Product {
        product_number: Some(1001),
        sync_marker: Some(4),
        description: Some("Shirt".into()),
        extra_text: Some("<p>Long</p>".into()),
        article_list: Some(ArticleList {
            article: vec![article(10001), article(10002)],
        }),
        group_numbers: vec![11, 12],
    }
}

/// A sale made from an order (`order()`), paid in cash.
fn invoice() -> Invoice {
    let o = order();
    Invoice {
        invoice_id: Some("INV-1".into()),
        ext_invoice_id: None,
        order_ids: Some(IdList {
            id: vec![o.order_id.clone()],
        }),
        ext_order_ids: Some(IdList {
            id: vec!["WEB-1001".into()],
        }),
        sync_marker: Some(4),
        invoice_number: Some(YearNumber {
            year: 2026,
            number: 12,
        }),
        invoice_type: Some("INVOICE-TYPE-INVOICE".into()),
        employee_number: Some(999_999),
        entry_timestamp: Some(ts()),
        relation_number: o.relation_number,
        relation_name: o.relation_name,
        delivery_address: o.delivery_address,
        invoice_address: o.invoice_address,
        financial_date: o.financial_date,
        financial_branch_number: Some(1),
        workplace_number: Some(1),
        entry_branch_number: Some(1),
        reference: Some("till".into()),
        total_incl_amount: o.total_incl_amount,
        total_excl_amount: o.total_excl_amount,
        vat_method: o.vat_method,
        paid_amount: o.total_incl_amount,
        state: Some("INVOICE-STATE-PAID".into()),
        line_list: o.line_list,
        payment_list: Some(PaymentList {
            payment: vec![payment("CASH", 4990)],
        }),
        credited_invoice_id: None,
    }
}

fn order() -> Order {
    let address = Address {
        name: Some("Anna de Vries".into()),
        address: Some("Dorpsstraat 12".into()),
        zipcode: Some("1234 AB".into()),
        city: Some("Ons Dorp".into()),
        country: Some("NL".into()),
        ..Address::default()
    };
    Order {
        order_id: "ORD-1".into(),
        ext_order_id: Some("WEB-1001".into()),
        sync_marker: Some(9),
        order_type: Some("ORDER-TYPE-SALES-ORDER".into()),
        entry_branch_number: Some(1),
        employee_number: Some(999_999),
        employee_name: Some("Super".into()),
        entry_timestamp: Some(ts()),
        relation_number: Some(20001),
        relation_name: Some("Anna".into()),
        delivery_address: Some(address.clone()),
        invoice_address: Some(address),
        financial_date: Some(ts().date()),
        financial_branch_number: Some(1),
        workplace_number: Some(1),
        reference: Some("WEB-1001".into()),
        total_incl_amount: Some(4990),
        total_excl_amount: Some(4124),
        vat_method: Some("VAT-METHOD-INCLUSIVE".into()),
        vat_group_list: Some(OrderVatGroupList {
            vat_group: vec![OrderVatGroup {
                vat_code: 1,
                vat_percentage: 2100,
                excl_amount: 4124,
                vat_amount: 866,
            }],
        }),
        payment_method: Some("IDEAL".into()),
        change_counter: Some(1),
        version_number: Some(1),
        prepaid_amount: Some(0),
        fully_paid: Some(false),
        delivery_state: Some("ORDER-DELIVERY-STATE-NOTHING".into()),
        cancel_state: Some("ORDER-CANCEL-STATE-NOTHING".into()),
        complete_state: Some("ORDER-COMPLETE-STATE-NOTHING".into()),
        order_number: Some(YearNumber {
            year: 2026,
            number: 12,
        }),
        order_barcode: Some("2026000012".into()),
        line_list: Some(OrderLineList {
            line: vec![OrderLine {
                line_id: Some("L1".into()),
                employee_number: Some(999_999),
                article_number: Some(10001),
                plu_number: Some("10001".into()),
                text: Some("Shirt S".into()),
                data: Some(LineData {
                    quantity: Some(15),
                    decimal_places: Some(1),
                    price: Some(2495),
                    price_excl: Some(2062),
                    turnover_group: Some(10),
                    vat_code: Some(1),
                    vat_percentage: Some(2100),
                    discount_type: Some("DISCOUNT-TYPE-EXTERNAL-DISCOUNT".into()),
                    discount_amount: Some(100),
                    total_incl_amount: Some(3643),
                    total_excl_amount: Some(3011),
                    ..LineData::default()
                }),
            }],
        }),
        payment_list: Some(PaymentList {
            payment: vec![Payment {
                payment_id: Some("P1".into()),
                method: "IDEAL".into(),
                description: Some("iDEAL".into()),
                amount: 4990,
                payment_method_type: Some("PAYMENT-METHOD-TYPE-EFT".into()),
            }],
        }),
    }
}

/// Writes `value` as element `name`, checks it against the schema, reads it back.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    schema: &xsd::Schema,
    name: &str,
    value: &T,
) -> Vec<String> {
    let text = envelope::request(name, value).expect("writes");
    let mut problems: Vec<String> = schema
        .check_message(&text, name)
        .into_iter()
        .map(|e| format!("{name}: {e}\n  {text}"))
        .collect();
    match envelope::open(&text, name, &Limits::default()) {
        Ok(body) => match body.decode::<T>() {
            Ok(back) if &back == value => {}
            Ok(back) => problems.push(format!("{name}: read back {back:?}")),
            Err(e) => problems.push(format!("{name}: {e}")),
        },
        Err(e) => problems.push(format!("{name}: {e}")),
    }
    problems
}

fn request<O: Operation + DeserializeOwned + PartialEq + Debug>(
    schema: &xsd::Schema,
    op: &O,
) -> Vec<String> {
    round_trip(schema, O::NAME, op)
}

fn response<O: Operation>(schema: &xsd::Schema, r: &O::Response) -> Vec<String>
where
    O::Response: PartialEq + Debug,
{
    round_trip(schema, O::RESPONSE, r)
}

#[test]
fn requests_are_schema_valid_and_read_back() {
    let s = schema();
    let mut p = Vec::new();
    p.extend(request(&s, &GetApiVersion {}));
    p.extend(request(&s, &GetCurrentSyncMarkers {}));
    p.extend(request(&s, &GetBranches {}));
    p.extend(request(&s, &GetEmployees::default()));
    p.extend(request(&s, &GetEmployee { employee_number: 9 }));
    p.extend(request(&s, &GetPaymentMethodsV2::default()));
    p.extend(request(&s, &GetVatGroupList {}));
    p.extend(request(
        &s,
        &GetTurnoverGroups {
            request: GetTurnoverGroupsRequest {
                only_active: Some(true),
            },
        },
    ));
    p.extend(request(
        &s,
        &FindRelationV2 {
            request: FindRelationV2Request {
                relation: Relation {
                    email: Some("a@b.nl".into()),
                    ..Relation::default()
                },
                exact_match: Some(true),
            },
        },
    ));
    p.extend(request(&s, &GetRelation { relation_number: 1 }));
    p.extend(request(
        &s,
        &GetRelations {
            request: Some(GetRelationsRequest {
                relation_numbers: vec![1, 2],
                sync_marker: Some(3),
                sync_marker_limit: Some(100),
            }),
        },
    ));
    let mut writable = relation();
    writable.sync_marker = None;
    writable.create_timestamp = None;
    writable.change_timestamp = None;
    p.extend(request(
        &s,
        &CreateRelation {
            relation: writable.clone(),
        },
    ));
    p.extend(request(&s, &UpdateRelation { relation: writable }));
    p.extend(request(
        &s,
        &GetProducts {
            request: GetProductsRequest {
                article_numbers: vec![1, 2],
                plu_numbers: TextList {
                    text: vec![Text { text: "A&B".into() }],
                },
                sync_marker: Some(1),
                sync_marker_limit: Some(10),
                include_all_articles_of_selected_products: Some(true),
                product_numbers: vec![5],
            },
        },
    ));
    p.extend(request(&s, &CreateProduct { product: product() }));
    p.extend(request(&s, &UpdateProduct { product: product() }));
    p.extend(request(&s, &GetArticleGroups::default()));
    p.extend(request(
        &s,
        &NewArticleGroup {
            request: NewArticleGroupRequest {
                parent_group_number: 0,
                name: "Shirts".into(),
                text: "Shirts".into(),
            },
        },
    ));
    p.extend(request(
        &s,
        &UpdateArticleGroup {
            request: UpdateArticleGroupRequest {
                group_number: 11,
                name: "Shirts".into(),
                text: "Shirts".into(),
                parent_group_number: 0,
            },
        },
    ));
    p.extend(request(
        &s,
        &GetStock {
            request: GetStockRequest {
                branch_number: 1,
                article_numbers: ArticleNumberList {
                    article_numbers: vec![10001, 10002],
                },
                stock_id: Some(12),
            },
        },
    ));
    p.extend(request(
        &s,
        &SetStock {
            request: SetStockRequest {
                branch_number: 1,
                article_number: 10001,
                amount: 1250,
                decimal_places: Some(2),
                employee_number: Some(999_999),
                reference: Some("Ferry".into()),
            },
        },
    ));
    p.extend(request(
        &s,
        &FindOrder {
            ext_order_id: "WEB-1".into(),
        },
    ));
    p.extend(request(
        &s,
        &GetOrders {
            request: GetOrdersRequest {
                sync_marker: Some(1),
                sync_marker_limit: Some(100),
                include_line_list: Some(true),
                ..GetOrdersRequest::default()
            },
        },
    ));
    p.extend(request(
        &s,
        &GetInvoices {
            request: GetInvoicesRequest {
                sync_marker: Some(1),
                sync_marker_limit: Some(100),
                include_line_list: Some(true),
                ..GetInvoicesRequest::default()
            },
        },
    ));
    let mut new_order = order();
    new_order.order_id = String::new();
    p.extend(request(
        &s,
        &CreateOrderV3 {
            request: CreateOrderV3Request {
                idempotency_key: "ferry:k".into(),
                order: new_order,
                payment_list: Some(PaymentList {
                    payment: vec![payment("IDEAL", 4990)],
                }),
            },
        },
    ));
    assert!(p.is_empty(), "{}", p.join("\n"));
}

#[test]
fn responses_are_schema_valid_and_read_back() {
    let s = schema();
    let mut p = Vec::new();
    p.extend(response::<GetApiVersion>(
        &s,
        &GetApiVersionResponse {
            major_number: Some(67),
            minor_number: Some(1),
            revision_number: Some(3),
            in_debug_mode: false,
        },
    ));
    p.extend(response::<GetCurrentSyncMarkers>(
        &s,
        &GetCurrentSyncMarkersResponse {
            article_sync_marker: 1,
            article_group_sync_marker: Some(2),
            relation_sync_marker: 3,
            employee_sync_marker: 4,
            invoice_sync_marker: 5,
            receipt_sync_marker: 6,
            order_sync_marker: 7,
            proposal_sync_marker: Some(8),
            stock_id: Some(9),
        },
    ));
    p.extend(response::<GetBranches>(
        &s,
        &GetBranchesResponse {
            branches: BranchList {
                branch: vec![Branch {
                    branch_number: Some(1),
                    branch_name: "Winkel".into(),
                    abbreviation: "W".into(),
                    ext_branch_id: None,
                    workplaces: Some(WorkplaceList {
                        workplace: vec![Workplace {
                            workplace_number: Some(1),
                            workplace_name: "Kassa 1".into(),
                            is_mobile: Some(false),
                        }],
                    }),
                    country_code: Some(528),
                    country_iso3: Some("NLD".into()),
                    country_name: Some("Nederland".into()),
                }],
            },
        },
    ));
    let employee = Employee {
        employee_number: Some(999_999),
        sync_marker: Some(1),
        name: Some("Super".into()),
        email: Some("s@x.nl".into()),
        active: Some(true),
    };
    p.extend(response::<GetEmployees>(
        &s,
        &GetEmployeesResponse {
            employee_list: EmployeeList {
                employee: vec![employee.clone()],
            },
        },
    ));
    p.extend(response::<GetEmployee>(
        &s,
        &GetEmployeeResponse {
            result: "GET-EMPLOYEE-RESULT-OK".into(),
            employee: Some(employee),
        },
    ));
    p.extend(response::<GetPaymentMethodsV2>(
        &s,
        &GetPaymentMethodsResponse {
            payment_method_list: PaymentMethodList {
                payment_method: vec![PaymentMethod {
                    method: "IDEAL".into(),
                    description: "iDEAL".into(),
                    button_text: "iDEAL".into(),
                    allow_negative_amount: true,
                    active: Some(true),
                    kind: Some("PAYMENT-METHOD-TYPE-EFT".into()),
                    account_number: Some(1100),
                }],
            },
        },
    ));
    p.extend(response::<GetVatGroupList>(
        &s,
        &GetVatGroupListResponse {
            vat_group: vec![VatGroup {
                country_iso3: Some("NLD".into()),
                vat_code: Some(1),
                vat_percentage: Some(2100),
                account_number: None,
            }],
        },
    ));
    p.extend(response::<GetTurnoverGroups>(
        &s,
        &GetTurnoverGroupsResponse {
            turnover_group_list: TurnoverGroupList {
                turnover_group: vec![TurnoverGroup {
                    turnover_group_type: "TURNOVER-GROUP-TYPE-TURNOVER".into(),
                    turnover_group: Some(10),
                    turnover_group_name: "Kleding".into(),
                    default_account_number: Some(8000),
                    account_number: Some(8000),
                    default_vat_code: Some(1),
                }],
            },
        },
    ));
    p.extend(response::<FindRelationV2>(
        &s,
        &FindRelationV2Response {
            result: "FIND-RELATION-RESULT-OK".into(),
            relation: Some(relation()),
        },
    ));
    p.extend(response::<GetRelation>(
        &s,
        &GetRelationResponse {
            result: "GET-RELATION-RESULT-OK".into(),
            relation: Some(relation()),
        },
    ));
    p.extend(response::<GetRelations>(
        &s,
        &GetRelationsResponse {
            relation_list: RelationList {
                relation: vec![relation(), Relation::default()],
            },
        },
    ));
    p.extend(response::<CreateRelation>(
        &s,
        &CreateRelationResponse {
            result: "CREATE-RELATION-RESULT-OK".into(),
            relation_number: Some(20003),
            change_timestamp: Some(ts()),
            sync_marker: Some(8),
            error_message: String::new(),
        },
    ));
    p.extend(response::<UpdateRelation>(
        &s,
        &UpdateRelationResponse {
            result: "UPDATE-RELATION-RESULT-OK".into(),
            error_message: String::new(),
            change_timestamp: Some(ts()),
            sync_marker: Some(9),
        },
    ));
    p.extend(response::<GetProducts>(
        &s,
        &GetProductsResponse {
            product_list: ProductList {
                product: vec![product()],
            },
        },
    ));
    p.extend(response::<CreateProduct>(
        &s,
        &CreateProductResponse {
            result: "CREATE-PRODUCT-RESULT-OK".into(),
            product_number: Some(1001),
            article_numbers: vec![10001, 10002],
            change_timestamp: Some(ts()),
            sync_marker: Some(4),
            error_message: String::new(),
        },
    ));
    p.extend(response::<UpdateProduct>(
        &s,
        &UpdateProductResponse {
            result: "UPDATE-PRODUCT-RESULT-OK".into(),
            existing_article_numbers: vec![10001],
            new_article_numbers: vec![10003],
            change_timestamp: None,
            sync_marker: Some(5),
            error_message: String::new(),
        },
    ));
    let leaf = ArticleGroup {
        group_number: Some(12),
        sync_marker: Some(2),
        name: "T-shirts".into(),
        text: "T-shirts".into(),
        sort_order: 1,
        product_numbers: Some(NumberList { number: vec![1001] }),
        is_deleted: Some(false),
        ..ArticleGroup::default()
    };
    p.extend(response::<GetArticleGroups>(
        &s,
        &GetArticleGroupsResponse {
            article_group_list: ArticleGroupList {
                article_groups: vec![ArticleGroup {
                    group_number: Some(11),
                    name: "Shirts".into(),
                    text: "Shirts".into(),
                    sub_group_list: ArticleGroupList {
                        article_groups: vec![leaf],
                    },
                    article_numbers: Some(NumberList::default()),
                    ..ArticleGroup::default()
                }],
            },
        },
    ));
    p.extend(response::<NewArticleGroup>(
        &s,
        &NewArticleGroupResponse {
            result: "NEW-ARTICLE-GROUP-RESULT-OK".into(),
            group_number: Some(13),
        },
    ));
    p.extend(response::<UpdateArticleGroup>(
        &s,
        &UpdateArticleGroupResponse {
            result: "SAVE-ARTICLE-GROUP-RESULT-OK".into(),
        },
    ));
    p.extend(response::<GetStock>(
        &s,
        &GetStockResponse {
            article_stocks: vec![ArticleStock {
                branch_number: Some(1),
                article_number: Some(10001),
                change_timestamp: Some(ts()),
                stock_id: 12,
                amount_free: 530,
                decimal_places_free: Some(3),
                amount_reserved: 2,
                decimal_places_reserved: Some(0),
                amount_incoming: 0,
                decimal_places_incoming: Some(0),
                is_day_stock_article: false,
            }],
        },
    ));
    p.extend(response::<SetStock>(
        &s,
        &SetStockResponse {
            result: "SET-STOCK-RESULT-OK".into(),
            stock_id: Some(13),
        },
    ));
    p.extend(response::<FindOrder>(
        &s,
        &GetOrderResponse {
            result: "GET-ORDER-RESULT-OK".into(),
            order: Some(order()),
        },
    ));
    p.extend(response::<GetOrders>(
        &s,
        &GetOrdersResponse {
            order_list: OrderList {
                order: vec![order()],
            },
        },
    ));
    p.extend(response::<GetInvoices>(
        &s,
        &GetInvoicesResponse {
            invoice_list: InvoiceList {
                invoice: vec![invoice()],
            },
        },
    ));
    p.extend(request(
        &s,
        &GetInvoice {
            invoice_id: "INV-1".into(),
        },
    ));
    p.extend(response::<GetInvoice>(
        &s,
        &GetInvoiceResponse {
            result: "GET-INVOICE-RESULT-OK".into(),
            invoice: Some(invoice()),
        },
    ));
    p.extend(response::<GetInvoice>(
        &s,
        &GetInvoiceResponse {
            result: "GET-INVOICE-RESULT-NOT-FOUND".into(),
            invoice: None,
        },
    ));
    p.extend(response::<CreateOrderV3>(
        &s,
        &CreateOrderV3Response {
            idempotency_result: Some("IDEMPOTENCY-RESULT-ORIGINAL-RESPONSE".into()),
            result: "CREATE-ORDER-RESULT-OK".into(),
            order: Some(order()),
            error_message: Some(String::new()),
            info: CreateOrderInfo {
                order_id: "ORD-1".into(),
                order_string: "2026000012".into(),
                order_queued: Some(false),
            },
            pay_result: Some("PAY-ORDER-RESULT-OK".into()),
        },
    ));
    assert!(p.is_empty(), "{}", p.join("\n"));
}

#[test]
fn the_operation_table_is_the_wsdls() {
    let s = schema();
    for &(op, expected) in OPERATIONS.iter().chain(SANDBOX_OPERATIONS) {
        assert_eq!(s.operation(op), Some((op, expected)), "{op}");
    }
}

/// The operations only the sandbox answers (the connector does not call them), both ways.
#[test]
fn sandbox_only_operations_are_schema_valid_and_read_back() {
    let s = schema();
    let mut p = Vec::new();
    p.extend(request(
        &s,
        &FindRelation {
            relation: Some(Relation {
                name: Some("Bakkerij".into()),
                ..Relation::default()
            }),
        },
    ));
    p.extend(request(&s, &FindRelation { relation: None }));
    p.extend(response::<FindRelation>(
        &s,
        &FindRelationResponse {
            result: "FIND-RELATION-RESULT-OK".into(),
            relation: Some(relation()),
        },
    ));
    p.extend(request(
        &s,
        &UpdateStock {
            request: UpdateStockRequest {
                branch_number: 1,
                article_number: 2,
                amount_changed: -1500,
                decimal_places: Some(3),
                employee_number: Some(1),
                reference: Some("count".into()),
            },
        },
    ));
    p.extend(response::<UpdateStock>(
        &s,
        &UpdateStockResponse {
            result: "UPDATE-STOCK-RESULT-OK".into(),
            stock_id: Some(12),
        },
    ));
    p.extend(request(
        &s,
        &GetStockHistoryV2 {
            request: GetStockHistoryV2Request {
                branch_numbers: vec![1, 2],
                article_numbers: Some(ArticleNumberList {
                    article_numbers: vec![3],
                }),
                from_financial_date_time: Some(ts()),
                through_financial_date_time: Some(ts()),
                since_stock_id: Some(4),
                since_stock_id_limit: Some(100),
            },
        },
    ));
    p.extend(response::<GetStockHistoryV2>(
        &s,
        &GetStockHistoryResponse {
            article_stock_history: vec![ArticleStockHistory {
                stock_id: 5,
                timestamp: ts(),
                branch_number: Some(1),
                article_number: 3,
                amount_changed: -2,
                decimal_places: Some(0),
                kind: "STOCK-HISTORY-TYPE-CORRECTION".into(),
                order_id: None,
                before_correction_quantity: Some(10),
                before_correction_decimal_places: Some(0),
                after_correction_quantity: Some(8),
                after_correction_decimal_places: Some(0),
            }],
        },
    ));
    p.extend(request(
        &s,
        &AddProductsToArticleGroup {
            request: AddProductsToArticleGroupRequest {
                group_number: 3,
                position: Some(1),
                product_numbers: NumberList { number: vec![5, 6] },
            },
        },
    ));
    p.extend(response::<AddProductsToArticleGroup>(
        &s,
        &AddProductsToArticleGroupResponse {
            result: "ADD-PRODUCTS-TO-ARTICLE-GROUP-RESULT-OK".into(),
        },
    ));
    p.extend(request(
        &s,
        &GetOrdersByExtOrderIds {
            request: GetOrdersByExtOrderIdsRequest {
                sync_marker: Some(1),
                sync_marker_limit: Some(10),
                ext_order_ids: Some(IdList {
                    id: vec!["WEB-1".into(), "WEB-2".into()],
                }),
            },
        },
    ));
    p.extend(response::<GetOrdersByExtOrderIds>(
        &s,
        &GetOrdersByExtOrderIdsResponse {
            order_list: OrderList {
                order: vec![order()],
            },
        },
    ));
    let mut new_order = order();
    new_order.order_id = String::new();
    p.extend(request(
        &s,
        &CreateOrder {
            order: Some(new_order),
        },
    ));
    p.extend(response::<CreateOrder>(
        &s,
        &CreateOrderResponse {
            result: "CREATE-ORDER-RESULT-OK".into(),
            info: CreateOrderInfo {
                order_id: "O-1".into(),
                order_string: "2026-1".into(),
                order_queued: Some(false),
            },
            error_message: String::new(),
        },
    ));
    p.extend(request(
        &s,
        &CancelOrder {
            order_id: "O-1".into(),
        },
    ));
    p.extend(response::<CancelOrder>(
        &s,
        &CancelOrderResponse {
            result: "CANCEL-ORDER-RESULT-OK".into(),
            message: String::new(),
        },
    ));
    p.extend(request(
        &s,
        &DeliverOrder {
            request: DeliverOrderRequest {
                order_id: "O-1".into(),
                turnover_type: Some("DELIVER-ORDER-TURNOVER-TYPE-INVOICE".into()),
            },
        },
    ));
    p.extend(response::<DeliverOrder>(
        &s,
        &DeliverOrderResponse {
            result: "DELIVER-ORDER-RESULT-OK".into(),
            invoice_id: Some("I-1".into()),
            error_message: String::new(),
        },
    ));
    assert!(p.is_empty(), "{}", p.join("\n"));
}

/// The filters the connector does not send are read, as another view, from the same
/// schema-valid `request` element as the operation's own type.
#[test]
fn filters_are_read_from_schema_valid_requests() {
    let s = schema();
    let mut p = Vec::new();
    let doc = |op: &str, request: &str| {
        envelope::wrap(&format!(
            "<{op} xmlns=\"urn:mplusqapi\"><request>{request}</request></{op}>"
        ))
    };
    let products = doc(
        "getProducts",
        "<groupNumbers>1</groupNumbers><groupNumbers>2</groupNumbers><pluNumbers/><onlyWebshop>true</onlyWebshop><changedSinceTimestamp><sec>5</sec><min>30</min><hour>10</hour><day>24</day><mon>11</mon><year>2026</year><isdst>false</isdst><timezone>60</timezone></changedSinceTimestamp>",
    );
    let stock = doc(
        "getStock",
        "<branchNumber>1</branchNumber><articleNumbers/><branchNumbers><branchNumber>2</branchNumber></branchNumbers>",
    );
    let orders = doc(
        "getOrders",
        "<fromFinancialDate><day>1</day><mon>2</mon><year>2026</year></fromFinancialDate><branchNumbers>1</branchNumbers><relationNumbers>7</relationNumbers><articlePluNumbers/><articleBarcodes/><orderTypeList><orderType>ORDER-TYPE-SALES-ORDER</orderType></orderTypeList><orderIds>O-1</orderIds>",
    );
    let group = doc(
        "updateArticleGroup",
        "<groupNumber>3</groupNumber><sortOrder>2</sortOrder>",
    );
    for (op, text) in [
        ("getProducts", &products),
        ("getStock", &stock),
        ("getOrders", &orders),
        ("updateArticleGroup", &group),
    ] {
        p.extend(
            s.check_message(text, op)
                .into_iter()
                .map(|e| format!("{op}: {e}")),
        );
    }
    let body = |text| envelope::open_request(text, &Limits::default()).expect("opens");
    let f: Request<GetProductsFilters> = body(&products).decode().expect("reads");
    assert_eq!(f.request.group_numbers, vec![1, 2]);
    assert_eq!(f.request.only_webshop, Some(true));
    assert_eq!(f.request.changed_since_timestamp, Some(ts()));
    let own: GetProducts = body(&products).decode().expect("reads");
    assert!(own.request.plu_numbers.text.is_empty());
    let f: Request<GetStockFilters> = body(&stock).decode().expect("reads");
    assert_eq!(
        f.request.branch_numbers.map(|b| b.branch_number),
        Some(vec![2])
    );
    let f: Request<GetOrdersFilters> = body(&orders).decode().expect("reads");
    assert_eq!(f.request.branch_numbers, vec![1]);
    assert_eq!(f.request.relation_numbers, vec![7]);
    assert_eq!(f.request.order_ids, vec!["O-1".to_owned()]);
    assert_eq!(
        f.request.order_type_list.map(|l| l.order_type),
        Some(vec!["ORDER-TYPE-SALES-ORDER".to_owned()])
    );
    let f: Request<ArticleGroupFields> = body(&group).decode().expect("reads");
    assert_eq!((f.request.sort_order, f.request.name), (Some(2), None));
    let own: UpdateArticleGroup = body(&group).decode().expect("reads");
    assert_eq!(own.request.group_number, 3);
    p.extend(request(
        &s,
        &GetPaymentMethodsV2 {
            request: GetPaymentMethodsRequest {
                account_number: Some(8000),
                payment_method_types: vec!["PAYMENT-METHOD-TYPE-EFT".into()],
            },
        },
    ));
    assert!(p.is_empty(), "{}", p.join("\n"));
}

/// A request without an element the WSDL requires is refused, not read as a default: the
/// sandbox answers it with a fault, as the real API does.
#[test]
fn required_request_elements_are_required() {
    fn refused<T: DeserializeOwned + Debug>(xml: &str) {
        let read = envelope::decode::<T>(xml);
        assert!(read.is_err(), "{xml}: {read:?}");
    }
    refused::<GetRelation>("<getRelation/>");
    refused::<GetRelation>("<getRelation><relationNumber>twelve</relationNumber></getRelation>");
    refused::<GetEmployee>("<getEmployee/>");
    refused::<GetTurnoverGroups>("<getTurnoverGroups/>");
    refused::<FindRelationV2>("<findRelationV2><request/></findRelationV2>");
    refused::<GetStock>("<getStock><request><branchNumber>1</branchNumber></request></getStock>");
    refused::<SetStock>(
        "<setStock><request><branchNumber>1</branchNumber><articleNumber>2</articleNumber></request></setStock>",
    );
    refused::<UpdateStock>("<updateStock/>");
    refused::<GetProducts>("<getProducts/>");
    refused::<CreateProduct>("<createProduct/>");
    refused::<NewArticleGroup>(
        "<newArticleGroup><request><parentGroupNumber>0</parentGroupNumber></request></newArticleGroup>",
    );
    refused::<UpdateArticleGroup>("<updateArticleGroup><request/></updateArticleGroup>");
    refused::<AddProductsToArticleGroup>(
        "<addProductsToArticleGroup><request><groupNumber>1</groupNumber></request></addProductsToArticleGroup>",
    );
    refused::<FindOrder>("<findOrder/>");
    refused::<CancelOrder>("<cancelOrder/>");
    refused::<GetOrders>("<getOrders/>");
    refused::<GetInvoices>("<getInvoices><request/></getInvoices>");
    refused::<DeliverOrder>("<deliverOrder><request/></deliverOrder>");
    refused::<GetOrdersByExtOrderIds>("<getOrdersByExtOrderIds/>");
    refused::<CreateOrderV3>(
        "<createOrderV3><request><idempotencyKey>k</idempotencyKey></request></createOrderV3>",
    );
    refused::<Payment>("<payment><method>CASH</method></payment>");
    // Optional elements may be left out, and filters the connector does not send are read
    // from the same element.
    let xml = "<getStock><request><branchNumber>1</branchNumber><articleNumbers/><branchNumbers><branchNumber>2</branchNumber><branchNumber>3</branchNumber></branchNumbers></request></getStock>";
    let stock = envelope::decode::<GetStock>(xml).expect("reads");
    assert_eq!(stock.request.branch_number, 1);
    let filters = envelope::decode::<Request<GetStockFilters>>(xml).expect("reads");
    assert_eq!(
        filters.request.branch_numbers.map(|b| b.branch_number),
        Some(vec![2, 3])
    );
}
