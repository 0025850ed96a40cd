//! The requests Ferry writes: what it manages of a record (`RelationWrite`, `ProductWrite`,
//! `OrderWrite`, ...) and one function per operation that builds the wire request of
//! [`ferry_mplusqapi::ops`]. Empty strings are left out (an absent element leaves the field
//! alone on update).

use ferry_mplusqapi::ops::{self, Text, TextList};
use ferry_mplusqapi::quantity;
use ferry_mplusqapi::records as wire;
use rust_decimal::Decimal;

/// `Some` of a non-empty string.
fn text(v: &Option<String>) -> Option<String> {
    v.as_deref().filter(|v| !v.is_empty()).map(str::to_owned)
}

/// `getApiVersion`.
pub fn get_api_version() -> ops::GetApiVersion {
    ops::GetApiVersion {}
}

/// `getCurrentSyncMarkers`.
pub fn get_current_sync_markers() -> ops::GetCurrentSyncMarkers {
    ops::GetCurrentSyncMarkers {}
}

/// `getBranches`.
pub fn get_branches() -> ops::GetBranches {
    ops::GetBranches {}
}

/// `getEmployees` (all).
pub fn get_employees() -> ops::GetEmployees {
    ops::GetEmployees::default()
}

/// `getEmployee`.
pub fn get_employee(number: i64) -> ops::GetEmployee {
    ops::GetEmployee {
        employee_number: number,
    }
}

/// `getPaymentMethodsV2` (all).
pub fn get_payment_methods_v2() -> ops::GetPaymentMethodsV2 {
    ops::GetPaymentMethodsV2::default()
}

/// `getVatGroupList`.
pub fn get_vat_group_list() -> ops::GetVatGroupList {
    ops::GetVatGroupList {}
}

/// `getTurnoverGroups`.
pub fn get_turnover_groups(only_active: bool) -> ops::GetTurnoverGroups {
    ops::GetTurnoverGroups {
        request: ops::GetTurnoverGroupsRequest {
            only_active: Some(only_active),
        },
    }
}

/// A page by sync marker: records with a marker `>= from`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// First marker wanted (inclusive).
    pub from: i64,
    /// Most records.
    pub limit: u32,
}
impl Page {
    fn limit(self) -> i32 {
        i32::try_from(self.limit).unwrap_or(i32::MAX)
    }
}

/// `findRelationV2` with an exact e-mail match.
pub fn find_relation_v2_by_email(email: &str) -> ops::FindRelationV2 {
    ops::FindRelationV2 {
        request: ops::FindRelationV2Request {
            relation: wire::Relation {
                email: Some(email.to_owned()),
                ..wire::Relation::default()
            },
            exact_match: Some(true),
        },
    }
}

/// `getRelation`.
pub fn get_relation(number: i64) -> ops::GetRelation {
    ops::GetRelation {
        relation_number: number,
    }
}

/// `getRelations` for a sync-marker page.
pub fn get_relations(page: Page) -> ops::GetRelations {
    ops::GetRelations {
        request: Some(ops::GetRelationsRequest {
            relation_numbers: Vec::new(),
            sync_marker: Some(page.from),
            sync_marker_limit: Some(page.limit()),
        }),
    }
}

/// A relation as Ferry writes it: only the fields it manages. Absent fields are left alone
/// by `updateRelation`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationWrite {
    /// Set for updates (and for contacts that exist already).
    pub relation_number: Option<i64>,
    /// Name (company name for companies).
    pub name: String,
    /// Street line.
    pub address: Option<String>,
    /// Postcode.
    pub zipcode: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// Delivery street line.
    pub delivery_address: Option<String>,
    /// Delivery postcode.
    pub delivery_zipcode: Option<String>,
    /// Delivery city.
    pub delivery_city: Option<String>,
    /// Delivery country.
    pub delivery_country: Option<String>,
    /// Contact person's name.
    pub contact: Option<String>,
    /// Phone.
    pub telephone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// VAT number.
    pub vat_number: Option<String>,
    /// Contact persons (companies); `None` leaves them alone.
    pub contacts: Option<Vec<RelationWrite>>,
    /// Company name.
    pub company_name: Option<String>,
    /// Payment term in days (`paymentWithinDays`); `None` leaves it alone.
    pub payment_within_days: Option<i32>,
}

impl RelationWrite {
    /// The wire relation (always active).
    pub fn to_wire(&self) -> wire::Relation {
        wire::Relation {
            relation_number: self.relation_number,
            active: Some(true),
            name: Some(self.name.clone()),
            address: text(&self.address),
            zipcode: text(&self.zipcode),
            city: text(&self.city),
            country: text(&self.country),
            delivery_address: text(&self.delivery_address),
            delivery_zipcode: text(&self.delivery_zipcode),
            delivery_city: text(&self.delivery_city),
            delivery_country: text(&self.delivery_country),
            contact: text(&self.contact),
            telephone: text(&self.telephone),
            email: text(&self.email),
            vat_number: text(&self.vat_number),
            contact_list: self.contacts.as_ref().map(|contacts| wire::RelationList {
                relation: contacts.iter().map(RelationWrite::to_wire).collect(),
            }),
            company_name: text(&self.company_name),
            payment_within_days: self.payment_within_days,
            ..wire::Relation::default()
        }
    }
}

/// `createRelation`.
pub fn create_relation(r: &RelationWrite) -> ops::CreateRelation {
    ops::CreateRelation {
        relation: r.to_wire(),
    }
}

/// `updateRelation` (`relation_number` must be set).
pub fn update_relation(r: &RelationWrite) -> ops::UpdateRelation {
    ops::UpdateRelation {
        relation: r.to_wire(),
    }
}

/// Which products `getProducts` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductQuery {
    /// Products with these articles.
    pub article_numbers: Vec<i64>,
    /// Products with articles of these PLU numbers.
    pub plu_numbers: Vec<String>,
    /// A sync-marker page.
    pub page: Option<Page>,
    /// Return every article of a selected product, not only the matching ones.
    pub include_all_articles: bool,
    /// These products.
    pub product_numbers: Vec<i64>,
}

/// `getProducts`.
pub fn get_products(q: &ProductQuery) -> ops::GetProducts {
    ops::GetProducts {
        request: ops::GetProductsRequest {
            article_numbers: q.article_numbers.clone(),
            plu_numbers: TextList {
                text: q
                    .plu_numbers
                    .iter()
                    .map(|p| Text { text: p.clone() })
                    .collect(),
            },
            sync_marker: q.page.map(|p| p.from),
            sync_marker_limit: q.page.map(Page::limit),
            include_all_articles_of_selected_products: q.include_all_articles.then_some(true),
            product_numbers: q.product_numbers.clone(),
        },
    }
}

/// An article as Ferry writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleWrite {
    /// Existing article (update) or a chosen number (create); `None`: numbered by the server.
    pub article_number: Option<i64>,
    /// PLU number.
    pub plu_number: Option<String>,
    /// Active.
    pub active: Option<bool>,
    /// Description.
    pub description: Option<String>,
    /// Colour.
    pub colour: Option<String>,
    /// Size.
    pub size: Option<String>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Extra text.
    pub extra_text: Option<String>,
    /// Turnover group.
    pub turnover_group: Option<i32>,
    /// VAT code.
    pub vat_code: Option<i32>,
    /// Price including VAT, cents.
    pub price_incl: Option<i64>,
    /// Price excluding VAT, cents.
    pub price_excl: Option<i64>,
    /// Webshop article.
    pub webshop: Option<bool>,
    /// Stock is kept.
    pub stock_article: Option<bool>,
}

impl ArticleWrite {
    fn to_wire(&self) -> wire::Article {
        wire::Article {
            article_number: self.article_number,
            plu_number: text(&self.plu_number),
            active: self.active,
            description: text(&self.description),
            colour: text(&self.colour),
            size: text(&self.size),
            barcode: text(&self.barcode),
            extra_text: text(&self.extra_text),
            turnover_group: self.turnover_group,
            vat_code: self.vat_code,
            price_incl: self.price_incl,
            price_excl: self.price_excl,
            webshop: self.webshop,
            stock_article: self.stock_article,
            ..wire::Article::default()
        }
    }
}

/// A product as Ferry writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductWrite {
    /// Existing product (update).
    pub product_number: Option<i64>,
    /// Description.
    pub description: Option<String>,
    /// Extra text.
    pub extra_text: Option<String>,
    /// Articles.
    pub articles: Vec<ArticleWrite>,
    /// Article groups; `None` leaves them alone.
    pub group_numbers: Option<Vec<i32>>,
}

impl ProductWrite {
    fn to_wire(&self) -> wire::Product {
        wire::Product {
            product_number: self.product_number,
            description: text(&self.description),
            extra_text: text(&self.extra_text),
            article_list: Some(wire::ArticleList {
                article: self.articles.iter().map(ArticleWrite::to_wire).collect(),
            }),
            group_numbers: self.group_numbers.clone().unwrap_or_default(),
            ..wire::Product::default()
        }
    }
}

/// `createProduct`.
pub fn create_product(p: &ProductWrite) -> ops::CreateProduct {
    ops::CreateProduct {
        product: p.to_wire(),
    }
}

/// `updateProduct` (`product_number` must be set).
pub fn update_product(p: &ProductWrite) -> ops::UpdateProduct {
    ops::UpdateProduct {
        product: p.to_wire(),
    }
}

/// `getArticleGroups`: the tree (no page) or the changed groups of a page.
pub fn get_article_groups(page: Option<Page>) -> ops::GetArticleGroups {
    ops::GetArticleGroups {
        request: ops::GetArticleGroupsRequest {
            sync_marker: page.map(|p| p.from),
            sync_marker_limit: page.map(Page::limit),
            ..ops::GetArticleGroupsRequest::default()
        },
    }
}

/// `newArticleGroup`.
pub fn new_article_group(parent: i32, name: &str, text: &str) -> ops::NewArticleGroup {
    ops::NewArticleGroup {
        request: ops::NewArticleGroupRequest {
            parent_group_number: parent,
            name: name.to_owned(),
            text: text.to_owned(),
        },
    }
}

/// `updateArticleGroup`.
pub fn update_article_group(
    number: i32,
    name: &str,
    text: &str,
    parent: i32,
) -> ops::UpdateArticleGroup {
    ops::UpdateArticleGroup {
        request: ops::UpdateArticleGroupRequest {
            group_number: number,
            name: name.to_owned(),
            text: text.to_owned(),
            parent_group_number: parent,
        },
    }
}

/// `getStock` of some articles (all stock articles when empty) changed since `stock_id`.
pub fn get_stock(
    branch: i32,
    article_numbers: &[i64],
    since_stock_id: Option<i64>,
) -> ops::GetStock {
    ops::GetStock {
        request: ops::GetStockRequest {
            branch_number: branch,
            article_numbers: ops::ArticleNumberList {
                article_numbers: article_numbers.to_vec(),
            },
            stock_id: since_stock_id,
        },
    }
}

/// `setStock` (absolute). `None` when the quantity does not fit the wire format.
pub fn set_stock(
    branch: i32,
    article_number: i64,
    amount: Decimal,
    employee: Option<i64>,
    reference: &str,
) -> Option<ops::SetStock> {
    let (value, places) = quantity::to_wire(amount)?;
    Some(ops::SetStock {
        request: ops::SetStockRequest {
            branch_number: branch,
            article_number,
            amount: value,
            decimal_places: Some(places),
            employee_number: employee,
            reference: (!reference.is_empty()).then(|| reference.to_owned()),
        },
    })
}

/// `findOrder` by external id.
pub fn find_order(ext_order_id: &str) -> ops::FindOrder {
    ops::FindOrder {
        ext_order_id: ext_order_id.to_owned(),
    }
}

/// `cancelOrder` of order `order_id` (MplusKASSA's own id).
pub fn cancel_order(order_id: &str) -> ops::CancelOrder {
    ops::CancelOrder {
        order_id: order_id.to_owned(),
    }
}

/// `getOrdersByExtOrderIds` for `ext_order_ids` (at most [`ORDERS_BY_EXT_IDS_MAX`]).
pub fn get_orders_by_ext_order_ids(ext_order_ids: &[String]) -> ops::GetOrdersByExtOrderIds {
    ops::GetOrdersByExtOrderIds {
        request: ops::GetOrdersByExtOrderIdsRequest {
            sync_marker: Some(0),
            sync_marker_limit: Some(ORDERS_BY_EXT_IDS_MAX as i32),
            ext_order_ids: Some(ops::IdList {
                id: ext_order_ids.to_vec(),
            }),
        },
    }
}

/// Most external ids one `getOrdersByExtOrderIds` asks for (and so its `syncMarkerLimit`:
/// an extOrderId is unique, so the answer never holds more orders than ids).
pub const ORDERS_BY_EXT_IDS_MAX: usize = 100;

/// `getOrders` for a sync-marker page.
pub fn get_orders(page: Page) -> ops::GetOrders {
    ops::GetOrders {
        request: ops::GetOrdersRequest {
            sync_marker: Some(page.from),
            sync_marker_limit: Some(page.limit()),
            article_plu_numbers: TextList::default(),
            article_barcodes: TextList::default(),
            include_line_list: Some(true),
        },
    }
}

/// `getInvoices`: one sync-marker page, with lines.
pub fn get_invoices(page: Page) -> ops::GetInvoices {
    ops::GetInvoices {
        request: ops::GetInvoicesRequest {
            sync_marker: Some(page.from),
            sync_marker_limit: Some(page.limit()),
            article_plu_numbers: TextList::default(),
            article_barcodes: TextList::default(),
            include_line_list: Some(true),
        },
    }
}

/// An order address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressWrite {
    /// Name.
    pub name: Option<String>,
    /// Contact.
    pub contact: Option<String>,
    /// Street line.
    pub address: Option<String>,
    /// Postcode.
    pub zipcode: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Company.
    pub company_name: Option<String>,
}

impl AddressWrite {
    fn to_wire(&self) -> wire::Address {
        wire::Address {
            name: text(&self.name),
            contact: text(&self.contact),
            address: text(&self.address),
            zipcode: text(&self.zipcode),
            city: text(&self.city),
            country: text(&self.country),
            company_name: text(&self.company_name),
        }
    }
}

/// One order line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineWrite {
    /// Article (required).
    pub article_number: i64,
    /// PLU number.
    pub plu_number: Option<String>,
    /// Text.
    pub text: Option<String>,
    /// Quantity (unscaled).
    pub quantity: i64,
    /// Decimal places of `quantity`.
    pub decimal_places: u32,
    /// Unit price including VAT, cents.
    pub price: Option<i64>,
    /// Unit price excluding VAT, cents.
    pub price_excl: Option<i64>,
    /// Turnover group.
    pub turnover_group: Option<i32>,
    /// VAT code.
    pub vat_code: Option<i32>,
    /// Discount on the line, cents.
    pub discount_amount: Option<i64>,
}

impl LineWrite {
    fn to_wire(&self) -> wire::OrderLine {
        wire::OrderLine {
            article_number: Some(self.article_number),
            plu_number: text(&self.plu_number),
            text: text(&self.text),
            data: Some(wire::LineData {
                quantity: Some(self.quantity),
                decimal_places: Some(self.decimal_places),
                price: self.price,
                price_excl: self.price_excl,
                turnover_group: self.turnover_group,
                vat_code: self.vat_code,
                discount_type: self
                    .discount_amount
                    .map(|_| "DISCOUNT-TYPE-EXTERNAL-DISCOUNT".to_owned()),
                discount_amount: self.discount_amount,
                ..wire::LineData::default()
            }),
            ..wire::OrderLine::default()
        }
    }
}

/// An order as Ferry creates it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderWrite {
    /// External order id (unique in the installation).
    pub ext_order_id: String,
    /// Entry branch.
    pub entry_branch_number: Option<i32>,
    /// Employee (mandatory for Ferry).
    pub employee_number: i64,
    /// Relation (always required).
    pub relation_number: i64,
    /// Delivery address.
    pub delivery_address: Option<AddressWrite>,
    /// Invoice address.
    pub invoice_address: Option<AddressWrite>,
    /// Workplace (required when the branch is not the default).
    pub workplace_number: Option<i32>,
    /// Reference shown on the order.
    pub reference: Option<String>,
    /// `VAT-METHOD-INCLUSIVE` or `VAT-METHOD-EXCLUSIVE`.
    pub vat_method: &'static str,
    /// Payment method code.
    pub payment_method: Option<String>,
    /// Lines.
    pub lines: Vec<LineWrite>,
}

/// A payment with the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentWrite {
    /// Payment method code.
    pub method: String,
    /// Amount, cents.
    pub amount: i64,
}

/// `createOrderV3` with its idempotency key.
pub fn create_order_v3(
    o: &OrderWrite,
    idempotency_key: &str,
    payments: &[PaymentWrite],
) -> ops::CreateOrderV3 {
    let order = wire::Order {
        order_id: String::new(),
        ext_order_id: Some(o.ext_order_id.clone()),
        order_type: Some("ORDER-TYPE-SALES-ORDER".to_owned()),
        entry_branch_number: o.entry_branch_number,
        employee_number: Some(o.employee_number),
        relation_number: Some(o.relation_number),
        delivery_address: o.delivery_address.as_ref().map(AddressWrite::to_wire),
        invoice_address: o.invoice_address.as_ref().map(AddressWrite::to_wire),
        financial_branch_number: o.entry_branch_number,
        workplace_number: o.workplace_number,
        reference: text(&o.reference),
        vat_method: Some(o.vat_method.to_owned()),
        payment_method: text(&o.payment_method),
        line_list: Some(wire::OrderLineList {
            line: o.lines.iter().map(LineWrite::to_wire).collect(),
        }),
        ..wire::Order::default()
    };
    ops::CreateOrderV3 {
        request: ops::CreateOrderV3Request {
            idempotency_key: idempotency_key.to_owned(),
            order,
            payment_list: (!payments.is_empty()).then(|| wire::PaymentList {
                payment: payments
                    .iter()
                    .map(|p| ops::payment(&p.method, p.amount))
                    .collect(),
            }),
        },
    }
}
