//! Request bodies (the operation element inside the SOAP Body), written in the element order
//! of the WSDL's sequences. Each function returns the XML of one operation element.

use rust_decimal::Decimal;

use super::types::quantity_to_wire;
use super::xml::Writer;

/// The WSDL's response element of each operation Ferry calls (they follow no single rule).
pub mod response {
    /// `getApiVersion`.
    pub const GET_API_VERSION: &str = "getApiVersionResponse";
    /// `getCurrentSyncMarkers`.
    pub const GET_CURRENT_SYNC_MARKERS: &str = "getCurrentSyncMarkersResponse";
    /// `getBranches`.
    pub const GET_BRANCHES: &str = "getBranchesResponse";
    /// `getEmployees`.
    pub const GET_EMPLOYEES: &str = "GetEmployeesResponse";
    /// `getEmployee`.
    pub const GET_EMPLOYEE: &str = "GetEmployeeResponse";
    /// `getPaymentMethodsV2`.
    pub const GET_PAYMENT_METHODS_V2: &str = "GetPaymentMethodsResponse";
    /// `getVatGroupList`.
    pub const GET_VAT_GROUP_LIST: &str = "getVatGroupListResponse";
    /// `getTurnoverGroups`.
    pub const GET_TURNOVER_GROUPS: &str = "GetTurnoverGroupsResponse";
    /// `findRelationV2`.
    pub const FIND_RELATION_V2: &str = "FindRelationV2Response";
    /// `getRelation`.
    pub const GET_RELATION: &str = "GetRelationResponse";
    /// `getRelations`.
    pub const GET_RELATIONS: &str = "GetRelationsResponse";
    /// `createRelation`.
    pub const CREATE_RELATION: &str = "CreateRelationResponse";
    /// `updateRelation`.
    pub const UPDATE_RELATION: &str = "UpdateRelationResponse";
    /// `getProducts`.
    pub const GET_PRODUCTS: &str = "GetProductsResponse";
    /// `createProduct`.
    pub const CREATE_PRODUCT: &str = "CreateProductResponse";
    /// `updateProduct`.
    pub const UPDATE_PRODUCT: &str = "UpdateProductResponse";
    /// `getArticleGroups`.
    pub const GET_ARTICLE_GROUPS: &str = "GetArticleGroupsResponse";
    /// `newArticleGroup`.
    pub const NEW_ARTICLE_GROUP: &str = "NewArticleGroupResponse";
    /// `updateArticleGroup`.
    pub const UPDATE_ARTICLE_GROUP: &str = "UpdateArticleGroupResponse";
    /// `getStock`.
    pub const GET_STOCK: &str = "GetStockResponse";
    /// `setStock`.
    pub const SET_STOCK: &str = "SetStockResponse";
    /// `findOrder`.
    pub const FIND_ORDER: &str = "GetOrderResponse";
    /// `getOrders`.
    pub const GET_ORDERS: &str = "GetOrdersResponse";
    /// `createOrderV3`.
    pub const CREATE_ORDER_V3: &str = "CreateOrderV3Response";
}

fn op(name: &str, body: impl FnOnce(&mut Writer)) -> String {
    let mut w = Writer::new();
    w.elem(name, body);
    w.finish()
}

fn no_input(name: &str) -> String {
    let mut w = Writer::new();
    w.empty(name);
    w.finish()
}

/// `getApiVersion`.
pub fn get_api_version() -> String {
    no_input("getApiVersion")
}

/// `getCurrentSyncMarkers`.
pub fn get_current_sync_markers() -> String {
    no_input("getCurrentSyncMarkers")
}

/// `getBranches`.
pub fn get_branches() -> String {
    no_input("getBranches")
}

/// `getEmployees` (all).
pub fn get_employees() -> String {
    op("getEmployees", |w| w.empty("request"))
}

/// `getEmployee`.
pub fn get_employee(number: i64) -> String {
    op("getEmployee", |w| w.leaf("employeeNumber", number))
}

/// `getPaymentMethodsV2` (all).
pub fn get_payment_methods_v2() -> String {
    op("getPaymentMethodsV2", |w| w.empty("request"))
}

/// `getVatGroupList`.
pub fn get_vat_group_list() -> String {
    no_input("getVatGroupList")
}

/// `getTurnoverGroups`.
pub fn get_turnover_groups(only_active: bool) -> String {
    op("getTurnoverGroups", |w| {
        w.elem("request", |w| w.leaf("onlyActive", only_active))
    })
}

/// A page by sync marker: records with a marker `>= from`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// First marker wanted (inclusive).
    pub from: i64,
    /// Most records.
    pub limit: u32,
}

/// `findRelationV2` with an exact e-mail match.
pub fn find_relation_v2_by_email(email: &str) -> String {
    op("findRelationV2", |w| {
        w.elem("request", |w| {
            w.elem("relation", |w| w.leaf("email", email));
            w.leaf("exactMatch", true);
        })
    })
}

/// `getRelation`.
pub fn get_relation(number: i64) -> String {
    op("getRelation", |w| w.leaf("relationNumber", number))
}

/// `getRelations` for a sync-marker page.
pub fn get_relations(page: Page) -> String {
    op("getRelations", |w| {
        w.elem("request", |w| {
            w.leaf("syncMarker", page.from);
            w.leaf("syncMarkerLimit", page.limit);
        })
    })
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
}

fn relation(w: &mut Writer, name: &str, r: &RelationWrite) {
    w.elem(name, |w| {
        w.opt("relationNumber", r.relation_number);
        w.leaf("active", true);
        w.leaf("name", &r.name);
        w.opt_str("address", r.address.as_deref());
        w.opt_str("zipcode", r.zipcode.as_deref());
        w.opt_str("city", r.city.as_deref());
        w.opt_str("country", r.country.as_deref());
        w.opt_str("deliveryAddress", r.delivery_address.as_deref());
        w.opt_str("deliveryZipcode", r.delivery_zipcode.as_deref());
        w.opt_str("deliveryCity", r.delivery_city.as_deref());
        w.opt_str("deliveryCountry", r.delivery_country.as_deref());
        w.opt_str("contact", r.contact.as_deref());
        w.opt_str("telephone", r.telephone.as_deref());
        w.opt_str("email", r.email.as_deref());
        w.opt_str("vatNumber", r.vat_number.as_deref());
        if let Some(contacts) = &r.contacts {
            w.elem("contactList", |w| {
                for c in contacts {
                    relation(w, "relation", c);
                }
            });
        }
        w.opt_str("companyName", r.company_name.as_deref());
    });
}

/// `createRelation`.
pub fn create_relation(r: &RelationWrite) -> String {
    op("createRelation", |w| relation(w, "relation", r))
}

/// `updateRelation` (`relation_number` must be set).
pub fn update_relation(r: &RelationWrite) -> String {
    op("updateRelation", |w| relation(w, "relation", r))
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
pub fn get_products(q: &ProductQuery) -> String {
    op("getProducts", |w| {
        w.elem("request", |w| {
            for n in &q.article_numbers {
                w.leaf("articleNumbers", n);
            }
            w.elem("pluNumbers", |w| {
                for p in &q.plu_numbers {
                    w.elem("text", |w| w.leaf("text", p));
                }
            });
            if let Some(page) = q.page {
                w.leaf("syncMarker", page.from);
                w.leaf("syncMarkerLimit", page.limit);
            }
            if q.include_all_articles {
                w.leaf("includeAllArticlesOfSelectedProducts", true);
            }
            for n in &q.product_numbers {
                w.leaf("productNumbers", n);
            }
        })
    })
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

fn article(w: &mut Writer, a: &ArticleWrite) {
    w.elem("article", |w| {
        w.opt("articleNumber", a.article_number);
        w.opt_str("pluNumber", a.plu_number.as_deref());
        w.opt("active", a.active);
        w.opt_str("description", a.description.as_deref());
        w.opt_str("colour", a.colour.as_deref());
        w.opt_str("size", a.size.as_deref());
        w.opt_str("barcode", a.barcode.as_deref());
        w.opt_str("extraText", a.extra_text.as_deref());
        w.opt("turnoverGroup", a.turnover_group);
        w.opt("vatCode", a.vat_code);
        w.opt("priceIncl", a.price_incl);
        w.opt("priceExcl", a.price_excl);
        w.opt("webshop", a.webshop);
        w.opt("stockArticle", a.stock_article);
    });
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

fn product(w: &mut Writer, p: &ProductWrite) {
    w.elem("product", |w| {
        w.opt("productNumber", p.product_number);
        w.opt_str("description", p.description.as_deref());
        w.opt_str("extraText", p.extra_text.as_deref());
        w.elem("articleList", |w| {
            for a in &p.articles {
                article(w, a);
            }
        });
        for g in p.group_numbers.iter().flatten() {
            w.leaf("groupNumbers", g);
        }
    });
}

/// `createProduct`.
pub fn create_product(p: &ProductWrite) -> String {
    op("createProduct", |w| product(w, p))
}

/// `updateProduct` (`product_number` must be set).
pub fn update_product(p: &ProductWrite) -> String {
    op("updateProduct", |w| product(w, p))
}

/// `getArticleGroups`: the tree (no page) or the changed groups of a page.
pub fn get_article_groups(page: Option<Page>) -> String {
    op("getArticleGroups", |w| {
        w.elem("request", |w| {
            if let Some(page) = page {
                w.leaf("syncMarker", page.from);
                w.leaf("syncMarkerLimit", page.limit);
            }
        })
    })
}

/// `newArticleGroup`.
pub fn new_article_group(parent: i32, name: &str, text: &str) -> String {
    op("newArticleGroup", |w| {
        w.elem("request", |w| {
            w.leaf("parentGroupNumber", parent);
            w.leaf("name", name);
            w.leaf("text", text);
        })
    })
}

/// `updateArticleGroup`.
pub fn update_article_group(number: i32, name: &str, text: &str, parent: i32) -> String {
    op("updateArticleGroup", |w| {
        w.elem("request", |w| {
            w.leaf("groupNumber", number);
            w.leaf("name", name);
            w.leaf("text", text);
            w.leaf("parentGroupNumber", parent);
        })
    })
}

/// `getStock` of some articles (all stock articles when empty) changed since `stock_id`.
pub fn get_stock(branch: i32, article_numbers: &[i64], since_stock_id: Option<i64>) -> String {
    op("getStock", |w| {
        w.elem("request", |w| {
            w.leaf("branchNumber", branch);
            w.elem("articleNumbers", |w| {
                for n in article_numbers {
                    w.leaf("articleNumbers", n);
                }
            });
            w.opt("stockId", since_stock_id);
        })
    })
}

/// `setStock` (absolute). `None` when the quantity does not fit the wire format.
pub fn set_stock(
    branch: i32,
    article_number: i64,
    amount: Decimal,
    employee: Option<i64>,
    reference: &str,
) -> Option<String> {
    let (value, places) = quantity_to_wire(amount)?;
    Some(op("setStock", |w| {
        w.elem("request", |w| {
            w.leaf("branchNumber", branch);
            w.leaf("articleNumber", article_number);
            w.leaf("amount", value);
            w.leaf("decimalPlaces", places);
            w.opt("employeeNumber", employee);
            w.opt_str("reference", Some(reference));
        })
    }))
}

/// `findOrder` by external id.
pub fn find_order(ext_order_id: &str) -> String {
    op("findOrder", |w| w.leaf("extOrderId", ext_order_id))
}

/// `getOrders` for a sync-marker page.
pub fn get_orders(page: Page) -> String {
    op("getOrders", |w| {
        w.elem("request", |w| {
            w.leaf("syncMarker", page.from);
            w.leaf("syncMarkerLimit", page.limit);
            w.elem("articlePluNumbers", |_| {});
            w.elem("articleBarcodes", |_| {});
            w.leaf("includeLineList", true);
        })
    })
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

fn address(w: &mut Writer, name: &str, a: &AddressWrite) {
    w.elem(name, |w| {
        w.opt_str("name", a.name.as_deref());
        w.opt_str("contact", a.contact.as_deref());
        w.opt_str("address", a.address.as_deref());
        w.opt_str("zipcode", a.zipcode.as_deref());
        w.opt_str("city", a.city.as_deref());
        w.opt_str("country", a.country.as_deref());
        w.opt_str("companyName", a.company_name.as_deref());
    });
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
pub fn create_order_v3(o: &OrderWrite, idempotency_key: &str, payments: &[PaymentWrite]) -> String {
    op("createOrderV3", |w| {
        w.elem("request", |w| {
            w.leaf("idempotencyKey", idempotency_key);
            w.elem("order", |w| {
                w.leaf("orderId", "");
                w.leaf("extOrderId", &o.ext_order_id);
                w.leaf("orderType", "ORDER-TYPE-SALES-ORDER");
                w.opt("entryBranchNumber", o.entry_branch_number);
                w.leaf("employeeNumber", o.employee_number);
                w.leaf("relationNumber", o.relation_number);
                if let Some(a) = &o.delivery_address {
                    address(w, "deliveryAddress", a);
                }
                if let Some(a) = &o.invoice_address {
                    address(w, "invoiceAddress", a);
                }
                w.opt("financialBranchNumber", o.entry_branch_number);
                w.opt("workplaceNumber", o.workplace_number);
                w.opt_str("reference", o.reference.as_deref());
                w.leaf("vatMethod", o.vat_method);
                w.opt_str("paymentMethod", o.payment_method.as_deref());
                w.elem("lineList", |w| {
                    for l in &o.lines {
                        w.elem("line", |w| {
                            w.leaf("articleNumber", l.article_number);
                            w.opt_str("pluNumber", l.plu_number.as_deref());
                            w.opt_str("text", l.text.as_deref());
                            w.elem("data", |w| {
                                w.leaf("quantity", l.quantity);
                                w.leaf("decimalPlaces", l.decimal_places);
                                w.opt("price", l.price);
                                w.opt("priceExcl", l.price_excl);
                                w.opt("turnoverGroup", l.turnover_group);
                                w.opt("vatCode", l.vat_code);
                                if l.discount_amount.is_some() {
                                    w.leaf("discountType", "DISCOUNT-TYPE-EXTERNAL-DISCOUNT");
                                }
                                w.opt("discountAmount", l.discount_amount);
                            });
                        });
                    }
                });
            });
            if !payments.is_empty() {
                w.elem("paymentList", |w| {
                    for p in payments {
                        w.elem("payment", |w| {
                            w.leaf("method", &p.method);
                            w.leaf("amount", p.amount);
                        });
                    }
                });
            }
        })
    })
}
