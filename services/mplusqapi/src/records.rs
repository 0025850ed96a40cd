//! The WSDL's complex types that Ferry and the sandbox exchange, field order = the WSDL's
//! sequence order. Elements the WSDL marks optional are `Option`s; so are a few it requires
//! but a reader must not trust (a missing `articleNumber` is the caller's error to report).
//! Lists keep the WSDL's wrapper elements (`contactList` holds `relation`s).

use serde::{Deserialize, Serialize};

use crate::Cents;
use crate::date::{SoapMplusDate, SoapMplusDateTime};

/// `tns:RelationList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationList {
    /// Relations.
    #[serde(default)]
    pub relation: Vec<Relation>,
}

/// `tns:Relation`: a customer, or a company (`companyName`) with contact persons.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Relation {
    /// Relation number (server-assigned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_number: Option<i64>,
    /// External id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_relation_id: Option<String>,
    /// Change marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Created at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_timestamp: Option<SoapMplusDateTime>,
    /// Last change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Active (deleted relations turn inactive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Name (the company name for companies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Street line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Postcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zipcode: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Delivery street line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_address: Option<String>,
    /// Delivery postcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_zipcode: Option<String>,
    /// Delivery city.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_city: Option<String>,
    /// Delivery country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_country: Option<String>,
    /// Contact person's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telephone: Option<String>,
    /// Mobile phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Website.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Birth date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<SoapMplusDate>,
    /// Relation code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_code: Option<String>,
    /// Payment term in days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_within_days: Option<i32>,
    /// VAT number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_number: Option<String>,
    /// Chamber of commerce number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commerce_number: Option<String>,
    /// Extra text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_text: Option<String>,
    /// `VAT-METHOD-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_vat_method: Option<String>,
    /// Contact persons of a company.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_list: Option<RelationList>,
    /// Company name; absent or empty for persons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
}

/// `tns:ArticleList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleList {
    /// Articles.
    #[serde(default)]
    pub article: Vec<Article>,
}

/// `tns:Article`: one sellable item (one size/colour of a product).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Article {
    /// Article number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_number: Option<i64>,
    /// External id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_article_id: Option<String>,
    /// PLU number (a SKU-like code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plu_number: Option<String>,
    /// Change marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Last change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Created at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_timestamp: Option<SoapMplusDateTime>,
    /// Active (deleted articles turn inactive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Colour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colour: Option<String>,
    /// Size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Invoice text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_text: Option<String>,
    /// Receipt text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_text: Option<String>,
    /// Barcode (EAN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    /// Brand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand_name: Option<String>,
    /// Extra text (long description).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_text: Option<String>,
    /// Turnover group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turnover_group: Option<i32>,
    /// VAT code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_code: Option<i32>,
    /// VAT percentage as the installation writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_percentage: Option<i64>,
    /// Purchase price, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_price: Option<Cents>,
    /// Price including VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_incl: Option<Cents>,
    /// Price excluding VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_excl: Option<Cents>,
    /// Sold in the webshop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webshop: Option<bool>,
    /// Whether stock is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_article: Option<bool>,
}

/// `tns:ProductList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductList {
    /// Products.
    #[serde(default)]
    pub product: Vec<Product>,
}

/// `tns:Product`: a group of articles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Product {
    /// Product number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_number: Option<i64>,
    /// Change marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Extra text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_text: Option<String>,
    /// Its articles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_list: Option<ArticleList>,
    /// Article groups (categories) it belongs to.
    pub group_numbers: Vec<i32>,
}

/// `tns:NumberList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberList {
    /// Numbers.
    #[serde(default)]
    pub number: Vec<i64>,
}

/// `tns:ArticleGroupList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArticleGroupList {
    /// Groups (the WSDL names each element `articleGroups`).
    #[serde(default)]
    pub article_groups: Vec<ArticleGroup>,
}

/// `tns:ArticleGroup` (webshop category) with its sub groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArticleGroup {
    /// Group number.
    pub group_number: Option<i32>,
    /// Change marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Name.
    pub name: String,
    /// Text.
    pub text: String,
    /// Sub groups.
    pub sub_group_list: ArticleGroupList,
    /// Sort order.
    pub sort_order: i32,
    /// Products in the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_numbers: Option<NumberList>,
    /// Articles in the group (when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_numbers: Option<NumberList>,
    /// Deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_deleted: Option<bool>,
}

/// `tns:ArticleStock`: stock of one article in one branch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArticleStock {
    /// Branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_number: Option<i32>,
    /// Article.
    pub article_number: Option<i64>,
    /// Last change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_timestamp: Option<SoapMplusDateTime>,
    /// Marker of the last change.
    pub stock_id: i64,
    /// Free stock, unscaled.
    pub amount_free: i64,
    /// Decimal places of `amount_free`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_places_free: Option<u32>,
    /// Reserved by open orders, unscaled.
    pub amount_reserved: i64,
    /// Decimal places of `amount_reserved`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_places_reserved: Option<u32>,
    /// Incoming (ordered from suppliers), unscaled.
    pub amount_incoming: i64,
    /// Decimal places of `amount_incoming`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_places_incoming: Option<u32>,
    /// A day-stock article.
    pub is_day_stock_article: bool,
}

/// `tns:Address` of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Address {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Street line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Postcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zipcode: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Company.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
}

/// `tns:OrderVatGroupList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderVatGroupList {
    /// VAT totals.
    #[serde(default)]
    pub vat_group: Vec<OrderVatGroup>,
}

/// One VAT total of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderVatGroup {
    /// VAT code.
    pub vat_code: i32,
    /// Percentage as the installation writes it.
    pub vat_percentage: i64,
    /// Amount the VAT is over, cents.
    pub excl_amount: Cents,
    /// VAT, cents.
    pub vat_amount: Cents,
}

/// `tns:YearNumber`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct YearNumber {
    /// Year.
    pub year: i32,
    /// Number in the year.
    pub number: i64,
}

/// `tns:OrderLineList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineList {
    /// Lines.
    #[serde(default)]
    pub line: Vec<OrderLine>,
}

/// `tns:OrderLine`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderLine {
    /// Line id (server generated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_id: Option<String>,
    /// Employee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<i64>,
    /// Article.
    pub article_number: Option<i64>,
    /// PLU number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plu_number: Option<String>,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Quantities and amounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<LineData>,
}

/// `tns:LineData`: quantity (unscaled + places) and money in cents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LineData {
    /// Quantity, unscaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    /// Decimal places of `quantity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_places: Option<u32>,
    /// Unit price including VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Cents>,
    /// Unit price excluding VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_excl: Option<Cents>,
    /// Turnover group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turnover_group: Option<i32>,
    /// VAT code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_code: Option<i32>,
    /// VAT percentage as the installation writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_percentage: Option<i64>,
    /// `DISCOUNT-TYPE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_type: Option<String>,
    /// Discount percentage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_percentage: Option<i32>,
    /// Discount, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_amount: Option<Cents>,
    /// Line total including VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_incl_amount: Option<Cents>,
    /// Line total excluding VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_excl_amount: Option<Cents>,
}

/// `tns:PaymentList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentList {
    /// Payments.
    #[serde(default)]
    pub payment: Vec<Payment>,
}

/// `tns:Payment`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Payment {
    /// Payment id (server generated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// Payment method code.
    pub method: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Amount, cents.
    pub amount: Cents,
    /// `PAYMENT-METHOD-TYPE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method_type: Option<String>,
}

/// `tns:OrderList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderList {
    /// Orders.
    #[serde(default)]
    pub order: Vec<Order>,
}

/// `tns:Order`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Order {
    /// Order id (server generated; empty on creation).
    pub order_id: String,
    /// External order id (unique).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_order_id: Option<String>,
    /// Change marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// `ORDER-TYPE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_type: Option<String>,
    /// Branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_branch_number: Option<i32>,
    /// Employee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<i64>,
    /// Employee's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_name: Option<String>,
    /// Entered at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_timestamp: Option<SoapMplusDateTime>,
    /// Relation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_number: Option<i64>,
    /// Relation's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_name: Option<String>,
    /// Delivery address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_address: Option<Address>,
    /// Invoice address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_address: Option<Address>,
    /// Financial date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub financial_date: Option<SoapMplusDate>,
    /// Financial branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub financial_branch_number: Option<i32>,
    /// Workplace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workplace_number: Option<i32>,
    /// Reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Total including VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_incl_amount: Option<Cents>,
    /// Total excluding VAT, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_excl_amount: Option<Cents>,
    /// `VAT-METHOD-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_method: Option<String>,
    /// VAT totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_group_list: Option<OrderVatGroupList>,
    /// Payment method code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// Change counter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_counter: Option<i32>,
    /// Version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_number: Option<i32>,
    /// Prepaid, cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prepaid_amount: Option<Cents>,
    /// Fully paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fully_paid: Option<bool>,
    /// `ORDER-DELIVERY-STATE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_state: Option<String>,
    /// `ORDER-CANCEL-STATE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_state: Option<String>,
    /// `ORDER-COMPLETE-STATE-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_state: Option<String>,
    /// Year and number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_number: Option<YearNumber>,
    /// Barcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_barcode: Option<String>,
    /// Lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_list: Option<OrderLineList>,
    /// Payments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_list: Option<PaymentList>,
}

/// `tns:BranchList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchList {
    /// Branches.
    #[serde(default)]
    pub branch: Vec<Branch>,
}

/// `tns:Branch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Branch {
    /// Branch number.
    pub branch_number: Option<i32>,
    /// Name.
    pub branch_name: String,
    /// Abbreviation.
    pub abbreviation: String,
    /// External id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_branch_id: Option<String>,
    /// Workplaces (tills).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workplaces: Option<WorkplaceList>,
    /// Country code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<i32>,
    /// Country (ISO 3166-1 alpha-3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_iso3: Option<String>,
    /// Country name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
}

/// `tns:WorkplaceList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkplaceList {
    /// Workplaces.
    #[serde(default)]
    pub workplace: Vec<Workplace>,
}

/// `tns:Workplace`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Workplace {
    /// Workplace number.
    pub workplace_number: Option<i32>,
    /// Name.
    pub workplace_name: String,
    /// A mobile till.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_mobile: Option<bool>,
}

/// `tns:EmployeeList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmployeeList {
    /// Employees.
    #[serde(default)]
    pub employee: Vec<Employee>,
}

/// `tns:Employee`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Employee {
    /// Employee number (999999: the super user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<i64>,
    /// Change marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// `tns:PaymentMethodList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethodList {
    /// Payment methods.
    #[serde(default)]
    pub payment_method: Vec<PaymentMethod>,
}

/// `tns:PaymentMethod`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PaymentMethod {
    /// The code used in orders (`PIN`, `IDEAL`, ...).
    pub method: String,
    /// Description.
    pub description: String,
    /// Button text.
    pub button_text: String,
    /// Negative amounts allowed.
    pub allow_negative_amount: bool,
    /// Active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// `PAYMENT-METHOD-TYPE-*`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Account number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_number: Option<i32>,
}

/// `tns:VatGroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VatGroup {
    /// Country (ISO 3166-1 alpha-3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_iso3: Option<String>,
    /// VAT code.
    pub vat_code: Option<i32>,
    /// Percentage as the installation writes it (21 or 2100 for 21 %).
    pub vat_percentage: Option<i64>,
    /// Account number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_number: Option<i32>,
}

/// `tns:TurnoverGroupList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnoverGroupList {
    /// Turnover groups.
    #[serde(default)]
    pub turnover_group: Vec<TurnoverGroup>,
}

/// `tns:TurnoverGroup` (revenue account).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TurnoverGroup {
    /// `TURNOVER-GROUP-TYPE-*`.
    pub turnover_group_type: String,
    /// Turnover group number.
    pub turnover_group: Option<i32>,
    /// Name.
    pub turnover_group_name: String,
    /// Default revenue account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_account_number: Option<i32>,
    /// Revenue account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_number: Option<i32>,
    /// Default VAT code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_vat_code: Option<i32>,
}
