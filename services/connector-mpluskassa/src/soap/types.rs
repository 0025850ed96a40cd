//! The records Ferry reads from MplusQAPI, made from the wire records of
//! [`ferry_mplusqapi`]: defaults filled in, text trimmed, dates in UTC, money in cents
//! (`xsd:long`) and quantities as exact decimals (unscaled long + decimalPlaces).

use chrono::{DateTime, Utc};
use ferry_mplusqapi::ops;
use ferry_mplusqapi::records as wire;
use ferry_mplusqapi::{SoapMplusDateTime, WireError};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

pub use ferry_mplusqapi::quantity::{from_wire as quantity, to_wire as quantity_to_wire};

/// A `SoapMplusDateTime` as UTC.
pub fn datetime(t: &SoapMplusDateTime) -> Result<DateTime<Utc>, WireError> {
    t.to_utc()
}

fn opt_datetime(t: Option<SoapMplusDateTime>) -> Result<Option<DateTime<Utc>>, WireError> {
    t.as_ref().map(datetime).transpose()
}

/// Trimmed text of an optional element, empty when absent.
fn string(v: Option<String>) -> String {
    match v {
        Some(v) if v.trim().len() == v.len() => v,
        Some(v) => v.trim().to_owned(),
        None => String::new(),
    }
}

/// A required element, or an error naming it.
fn required<T>(v: Option<T>, record: &str, name: &str) -> Result<T, WireError> {
    v.ok_or_else(|| WireError::Content(format!("<{record}> has no <{name}> element")))
}

/// `getApiVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiVersion {
    /// Major API version.
    pub major: i32,
    /// Minor API version.
    pub minor: i32,
    /// Revision.
    pub revision: i32,
}

impl ApiVersion {
    /// From `getApiVersionResponse`.
    pub fn from_wire(r: ops::GetApiVersionResponse) -> Result<Self, WireError> {
        let n = "getApiVersionResponse";
        Ok(Self {
            major: required(r.major_number, n, "majorNumber")?,
            minor: required(r.minor_number, n, "minorNumber")?,
            revision: required(r.revision_number, n, "revisionNumber")?,
        })
    }
}

/// `getCurrentSyncMarkers`: the highest marker of each entity type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct SyncMarkers {
    /// Articles (products).
    pub article: i64,
    /// Article groups.
    pub article_group: i64,
    /// Relations.
    pub relation: i64,
    /// Orders.
    pub order: i64,
    /// Invoices (sales).
    pub invoice: i64,
    /// Stock changes.
    pub stock_id: i64,
}

impl SyncMarkers {
    /// From `getCurrentSyncMarkersResponse`.
    pub fn from_wire(r: ops::GetCurrentSyncMarkersResponse) -> Self {
        Self {
            article: r.article_sync_marker,
            article_group: r.article_group_sync_marker.unwrap_or(0),
            relation: r.relation_sync_marker,
            order: r.order_sync_marker,
            invoice: r.invoice_sync_marker,
            stock_id: r.stock_id.unwrap_or(0),
        }
    }
}

/// A relation (customer): a person, or a company (`companyName`) with contact persons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relation {
    /// Relation number.
    pub relation_number: i64,
    /// Change marker.
    pub sync_marker: i64,
    /// Whether active (deleted relations turn inactive).
    pub active: bool,
    /// Name (the company name for companies).
    pub name: String,
    /// Street line.
    pub address: String,
    /// Postcode.
    pub zipcode: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: String,
    /// Delivery street line.
    pub delivery_address: String,
    /// Delivery postcode.
    pub delivery_zipcode: String,
    /// Delivery city.
    pub delivery_city: String,
    /// Delivery country.
    pub delivery_country: String,
    /// Contact person's name.
    pub contact: String,
    /// Phone.
    pub telephone: String,
    /// Mobile phone.
    pub mobile: String,
    /// E-mail address.
    pub email: String,
    /// VAT number.
    pub vat_number: String,
    /// Company name; empty for persons.
    pub company_name: String,
    /// Contact persons of a company.
    pub contacts: Vec<Relation>,
    /// Payment term in days.
    pub payment_within_days: Option<i32>,
    /// Last change.
    pub change_timestamp: Option<DateTime<Utc>>,
}

impl Relation {
    /// From a `tns:Relation`.
    pub fn from_wire(r: wire::Relation) -> Result<Self, WireError> {
        let contacts = r
            .contact_list
            .map(|l| l.relation.into_iter().map(Relation::from_wire).collect())
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            relation_number: r.relation_number.unwrap_or(0),
            sync_marker: r.sync_marker.unwrap_or(0),
            active: r.active.unwrap_or(true),
            name: string(r.name),
            address: string(r.address),
            zipcode: string(r.zipcode),
            city: string(r.city),
            country: string(r.country),
            delivery_address: string(r.delivery_address),
            delivery_zipcode: string(r.delivery_zipcode),
            delivery_city: string(r.delivery_city),
            delivery_country: string(r.delivery_country),
            contact: string(r.contact),
            telephone: string(r.telephone),
            mobile: string(r.mobile),
            email: string(r.email),
            vat_number: string(r.vat_number),
            company_name: string(r.company_name),
            contacts,
            payment_within_days: r.payment_within_days,
            change_timestamp: opt_datetime(r.change_timestamp)?,
        })
    }

    /// Whether this relation is a company (it has a company name).
    pub fn is_company(&self) -> bool {
        !self.company_name.trim().is_empty()
    }
}

/// An article: one sellable item (one size/colour of a product).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Article {
    /// Article number.
    pub article_number: i64,
    /// PLU number (a SKU-like code).
    pub plu_number: String,
    /// Change marker.
    pub sync_marker: i64,
    /// Active (deleted articles turn inactive).
    pub active: bool,
    /// Description.
    pub description: String,
    /// Colour.
    pub colour: String,
    /// Size.
    pub size: String,
    /// Barcode (EAN).
    pub barcode: String,
    /// Brand.
    pub brand_name: String,
    /// Extra text.
    pub extra_text: String,
    /// Turnover group.
    pub turnover_group: i32,
    /// VAT code.
    pub vat_code: i32,
    /// VAT percentage as the installation writes it (see `Scale` of the VAT groups).
    pub vat_percentage: i64,
    /// Price including VAT, cents.
    pub price_incl: i64,
    /// Price excluding VAT, cents.
    pub price_excl: i64,
    /// Sold in the webshop.
    pub webshop: bool,
    /// Whether stock is kept.
    pub stock_article: bool,
}

impl Article {
    /// From a `tns:Article`.
    pub fn from_wire(a: wire::Article) -> Result<Self, WireError> {
        Ok(Self {
            article_number: required(a.article_number, "article", "articleNumber")?,
            plu_number: string(a.plu_number),
            sync_marker: a.sync_marker.unwrap_or(0),
            active: a.active.unwrap_or(true),
            description: string(a.description),
            colour: string(a.colour),
            size: string(a.size),
            barcode: string(a.barcode),
            brand_name: string(a.brand_name),
            extra_text: string(a.extra_text),
            turnover_group: a.turnover_group.unwrap_or(0),
            vat_code: a.vat_code.unwrap_or(0),
            vat_percentage: a.vat_percentage.unwrap_or(0),
            price_incl: a.price_incl.unwrap_or(0),
            price_excl: a.price_excl.unwrap_or(0),
            webshop: a.webshop.unwrap_or(false),
            stock_article: a.stock_article.unwrap_or(false),
        })
    }
}

/// A product: a group of articles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Product {
    /// Product number.
    pub product_number: i64,
    /// Change marker.
    pub sync_marker: i64,
    /// Description.
    pub description: String,
    /// Extra text (long description).
    pub extra_text: String,
    /// Its articles.
    pub articles: Vec<Article>,
    /// Article groups (categories) it belongs to.
    pub group_numbers: Vec<i32>,
}

impl Product {
    /// From a `tns:Product`.
    pub fn from_wire(p: wire::Product) -> Result<Self, WireError> {
        let articles = p
            .article_list
            .map(|l| l.article.into_iter().map(Article::from_wire).collect())
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            product_number: p.product_number.unwrap_or(0),
            sync_marker: p.sync_marker.unwrap_or(0),
            description: string(p.description),
            extra_text: string(p.extra_text),
            articles,
            group_numbers: p.group_numbers,
        })
    }
}

/// An article group (webshop category); `parent` is 0 at the top.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleGroup {
    /// Group number.
    pub group_number: i32,
    /// Parent group number (0: top level); known from the tree's nesting.
    pub parent: i32,
    /// Change marker.
    pub sync_marker: i64,
    /// Name.
    pub name: String,
    /// Text.
    pub text: String,
    /// Deleted.
    pub is_deleted: bool,
}

impl ArticleGroup {
    /// Flattens a `tns:ArticleGroupList` (nested `subGroupList`s) into groups with parents.
    pub fn flatten(
        list: wire::ArticleGroupList,
        parent: i32,
        out: &mut Vec<ArticleGroup>,
    ) -> Result<(), WireError> {
        for g in list.article_groups {
            let number = required(g.group_number, "articleGroups", "groupNumber")?;
            out.push(ArticleGroup {
                group_number: number,
                parent,
                sync_marker: g.sync_marker.unwrap_or(0),
                name: string(Some(g.name)),
                text: string(Some(g.text)),
                is_deleted: g.is_deleted.unwrap_or(false),
            });
            Self::flatten(g.sub_group_list, number, out)?;
        }
        Ok(())
    }

    /// One group of a page of changes (flat: its sub groups are not in such an answer).
    pub fn from_wire(g: wire::ArticleGroup) -> Result<Self, WireError> {
        Ok(ArticleGroup {
            group_number: required(g.group_number, "articleGroups", "groupNumber")?,
            parent: 0,
            sync_marker: g.sync_marker.unwrap_or(0),
            name: string(Some(g.name)),
            text: string(Some(g.text)),
            is_deleted: g.is_deleted.unwrap_or(false),
        })
    }
}

/// Stock of one article in one branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleStock {
    /// Branch.
    pub branch_number: i32,
    /// Article.
    pub article_number: i64,
    /// Marker of the last change.
    pub stock_id: i64,
    /// Free stock (`amountFree`): on hand minus what open orders reserve.
    pub free: Decimal,
    /// Reserved by undelivered open orders (`amountReserved`).
    pub reserved: Decimal,
    /// Incoming (ordered from suppliers).
    pub incoming: Decimal,
    /// Last change.
    pub change_timestamp: Option<DateTime<Utc>>,
}

impl ArticleStock {
    /// From a `tns:ArticleStock`.
    pub fn from_wire(s: wire::ArticleStock) -> Result<Self, WireError> {
        Ok(Self {
            branch_number: s.branch_number.unwrap_or(0),
            article_number: required(s.article_number, "articleStocks", "articleNumber")?,
            stock_id: s.stock_id,
            free: quantity(s.amount_free, s.decimal_places_free.unwrap_or(0))?,
            reserved: quantity(s.amount_reserved, s.decimal_places_reserved.unwrap_or(0))?,
            incoming: quantity(s.amount_incoming, s.decimal_places_incoming.unwrap_or(0))?,
            change_timestamp: opt_datetime(s.change_timestamp)?,
        })
    }
}

/// An order address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderAddress {
    /// Name.
    pub name: String,
    /// Contact.
    pub contact: String,
    /// Street line.
    pub address: String,
    /// Postcode.
    pub zipcode: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: String,
    /// Company.
    pub company_name: String,
}

impl OrderAddress {
    fn from_wire(a: wire::Address) -> Self {
        Self {
            name: string(a.name),
            contact: string(a.contact),
            address: string(a.address),
            zipcode: string(a.zipcode),
            city: string(a.city),
            country: string(a.country),
            company_name: string(a.company_name),
        }
    }
}

/// One order line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderLine {
    /// Article.
    pub article_number: i64,
    /// PLU number.
    pub plu_number: String,
    /// Text.
    pub text: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit price including VAT, cents.
    pub price: i64,
    /// Unit price excluding VAT, cents.
    pub price_excl: Option<i64>,
    /// VAT code.
    pub vat_code: i32,
    /// VAT percentage as written by the installation.
    pub vat_percentage: i64,
    /// Turnover group.
    pub turnover_group: i32,
    /// Discount, cents.
    pub discount_amount: Option<i64>,
}

/// An order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Order {
    /// Order id (server generated).
    pub order_id: String,
    /// External order id (unique).
    pub ext_order_id: String,
    /// Change marker.
    pub sync_marker: i64,
    /// `ORDER-TYPE-*`.
    pub order_type: String,
    /// Branch.
    pub entry_branch_number: i32,
    /// Employee.
    pub employee_number: i64,
    /// Relation.
    pub relation_number: i64,
    /// Entered at.
    pub entry_timestamp: Option<DateTime<Utc>>,
    /// Total including VAT, cents.
    pub total_incl: i64,
    /// Total excluding VAT, cents.
    pub total_excl: i64,
    /// `VAT-METHOD-*`.
    pub vat_method: String,
    /// Payment method code.
    pub payment_method: String,
    /// `ORDER-CANCEL-STATE-*`.
    pub cancel_state: String,
    /// `ORDER-DELIVERY-STATE-*` (empty when not reported).
    pub delivery_state: String,
    /// Reference.
    pub reference: String,
    /// Delivery address.
    pub delivery_address: Option<OrderAddress>,
    /// Invoice address.
    pub invoice_address: Option<OrderAddress>,
    /// Lines.
    pub lines: Vec<OrderLine>,
}

/// The lines of an order or invoice (`tns:LineList`).
fn lines_from_wire(list: Option<wire::OrderLineList>) -> Result<Vec<OrderLine>, WireError> {
    let mut lines = Vec::new();
    for l in list.map(|l| l.line).unwrap_or_default() {
        let data = l.data.unwrap_or_default();
        lines.push(OrderLine {
            article_number: required(l.article_number, "line", "articleNumber")?,
            plu_number: string(l.plu_number),
            text: string(l.text),
            quantity: quantity(data.quantity.unwrap_or(1), data.decimal_places.unwrap_or(0))?,
            price: data.price.unwrap_or(0),
            price_excl: data.price_excl,
            vat_code: data.vat_code.unwrap_or(0),
            vat_percentage: data.vat_percentage.unwrap_or(0),
            turnover_group: data.turnover_group.unwrap_or(0),
            discount_amount: data.discount_amount,
        });
    }
    Ok(lines)
}

impl Order {
    /// From a `tns:Order`.
    pub fn from_wire(o: wire::Order) -> Result<Self, WireError> {
        let lines = lines_from_wire(o.line_list)?;
        Ok(Self {
            order_id: string(Some(o.order_id)),
            ext_order_id: string(o.ext_order_id),
            sync_marker: o.sync_marker.unwrap_or(0),
            order_type: string(o.order_type),
            entry_branch_number: o.entry_branch_number.unwrap_or(0),
            employee_number: o.employee_number.unwrap_or(0),
            relation_number: o.relation_number.unwrap_or(0),
            entry_timestamp: opt_datetime(o.entry_timestamp)?,
            total_incl: o.total_incl_amount.unwrap_or(0),
            total_excl: o.total_excl_amount.unwrap_or(0),
            vat_method: string(o.vat_method),
            payment_method: string(o.payment_method),
            cancel_state: string(o.cancel_state),
            delivery_state: string(o.delivery_state),
            reference: string(o.reference),
            delivery_address: o.delivery_address.map(OrderAddress::from_wire),
            invoice_address: o.invoice_address.map(OrderAddress::from_wire),
            lines,
        })
    }
}

impl Order {
    /// Whether the order is cancelled as a whole (`ORDER-CANCEL-STATE-COMPLETE`).
    pub fn is_cancelled(&self) -> bool {
        self.cancel_state.trim() == "ORDER-CANCEL-STATE-COMPLETE"
    }

    /// Whether any of it was delivered (and so invoiced): a cancellation is refused then.
    pub fn is_delivered(&self) -> bool {
        matches!(
            self.delivery_state.trim(),
            "ORDER-DELIVERY-STATE-PARTIAL" | "ORDER-DELIVERY-STATE-COMPLETE"
        )
    }
}

/// An invoice: a sale at the till or in the back office, or orders delivered and invoiced.
/// Its sale is read as an [`Order`] (`order_id` = the invoice id, `ext_order_id` = its
/// external id, `order_type` = its `INVOICE-TYPE-*`); `order_ids` / `ext_order_ids` name the
/// orders it invoices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invoice {
    /// The sale.
    pub sale: Order,
    /// The orders it invoices.
    pub order_ids: Vec<String>,
    /// Their external ids.
    pub ext_order_ids: Vec<String>,
    /// The invoice a credit invoice credits.
    pub credited_invoice_id: String,
}

impl Invoice {
    /// From a `tns:Invoice`.
    pub fn from_wire(i: wire::Invoice) -> Result<Self, WireError> {
        let ids = |l: Option<ferry_mplusqapi::ops::IdList>| {
            l.map(|l| l.id)
                .unwrap_or_default()
                .into_iter()
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .collect::<Vec<_>>()
        };
        let paid = i
            .payment_list
            .as_ref()
            .and_then(|p| p.payment.first())
            .map(|p| p.method.clone());
        Ok(Self {
            sale: Order {
                order_id: string(i.invoice_id),
                ext_order_id: string(i.ext_invoice_id),
                sync_marker: i.sync_marker.unwrap_or(0),
                order_type: string(i.invoice_type),
                entry_branch_number: i.entry_branch_number.unwrap_or(0),
                employee_number: i.employee_number.unwrap_or(0),
                relation_number: i.relation_number.unwrap_or(0),
                entry_timestamp: opt_datetime(i.entry_timestamp)?,
                total_incl: i.total_incl_amount.unwrap_or(0),
                total_excl: i.total_excl_amount.unwrap_or(0),
                vat_method: string(i.vat_method),
                payment_method: string(paid),
                cancel_state: String::new(),
                delivery_state: String::new(),
                reference: string(i.reference),
                delivery_address: i.delivery_address.map(OrderAddress::from_wire),
                invoice_address: i.invoice_address.map(OrderAddress::from_wire),
                lines: lines_from_wire(i.line_list)?,
            },
            order_ids: ids(i.order_ids),
            ext_order_ids: ids(i.ext_order_ids),
            credited_invoice_id: string(i.credited_invoice_id),
        })
    }

    /// The number the sale is known by across systems: the order it invoices (its external
    /// id, else its id), so an order that became an invoice stays one order; else the
    /// invoice's external id, else its id.
    pub fn sale_number(&self) -> &str {
        self.ext_order_ids
            .first()
            .or(self.order_ids.first())
            .map_or_else(|| crate::convert::order_number(&self.sale), String::as_str)
    }

    /// A credit of an earlier invoice (a refund), not a sale.
    pub fn is_credit(&self) -> bool {
        self.sale.order_type == ferry_mplusqapi::records::CREDIT_INVOICE
            || !self.credited_invoice_id.is_empty()
    }
}

/// A branch with its workplaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Branch {
    /// Branch number.
    pub number: i32,
    /// Name.
    pub name: String,
    /// Country (ISO 3166-1 alpha-3).
    pub country_iso3: String,
    /// Workplaces (tills) of the branch.
    pub workplaces: Vec<Workplace>,
}

/// A workplace (till) of a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Workplace {
    /// Workplace number.
    pub number: i32,
    /// Name.
    pub name: String,
}

impl Branch {
    /// From a `tns:Branch`.
    pub fn from_wire(b: wire::Branch) -> Result<Self, WireError> {
        let workplaces = b
            .workplaces
            .map(|w| w.workplace)
            .unwrap_or_default()
            .into_iter()
            .map(|w| {
                Ok(Workplace {
                    number: required(w.workplace_number, "workplace", "workplaceNumber")?,
                    name: string(Some(w.workplace_name)),
                })
            })
            .collect::<Result<_, WireError>>()?;
        Ok(Self {
            number: required(b.branch_number, "branch", "branchNumber")?,
            name: string(Some(b.branch_name)),
            country_iso3: string(b.country_iso3),
            workplaces,
        })
    }
}

/// An employee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Employee {
    /// Employee number (999999: the super user).
    pub number: i64,
    /// Name.
    pub name: String,
    /// Active.
    pub active: bool,
}

impl Employee {
    /// From a `tns:Employee`.
    pub fn from_wire(e: wire::Employee) -> Result<Self, WireError> {
        Ok(Self {
            number: required(e.employee_number, "employee", "employeeNumber")?,
            name: string(e.name),
            active: e.active.unwrap_or(true),
        })
    }
}

/// A payment method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PaymentMethod {
    /// The code used in orders (`PIN`, `IDEAL`, ...).
    pub method: String,
    /// Description.
    pub description: String,
    /// `PAYMENT-METHOD-TYPE-*`.
    pub kind: String,
    /// Active.
    pub active: bool,
}

impl PaymentMethod {
    /// From a `tns:PaymentMethod`.
    pub fn from_wire(p: wire::PaymentMethod) -> Result<Self, WireError> {
        Ok(Self {
            method: string(Some(p.method)),
            description: string(Some(p.description)),
            kind: string(p.kind),
            active: p.active.unwrap_or(true),
        })
    }
}

/// A VAT group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VatGroup {
    /// VAT code.
    pub vat_code: i32,
    /// Percentage as the installation writes it (see [`VatScale`]).
    pub vat_percentage: i64,
    /// The percentage as a decimal (21 for 21 %), read with the installation's scale.
    #[schema(value_type = String)]
    pub percent: Decimal,
    /// Country (ISO 3166-1 alpha-3).
    pub country_iso3: String,
}

impl VatGroup {
    /// From a `tns:VatGroup`; `percent` is filled in by [`VatScale::apply`].
    pub fn from_wire(v: wire::VatGroup) -> Result<Self, WireError> {
        let raw = required(v.vat_percentage, "vatGroup", "vatPercentage")?;
        Ok(Self {
            vat_code: required(v.vat_code, "vatGroup", "vatCode")?,
            vat_percentage: raw,
            percent: Decimal::from(raw),
            country_iso3: string(v.country_iso3),
        })
    }
}

/// How an installation writes VAT percentages: the WSDL does not document the scale, so it is
/// read from the VAT groups: any percentage above 100 means hundredths of a percent (2100 =
/// 21 %); otherwise whole percents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VatScale {
    /// 21 = 21 %.
    Percent,
    /// 2100 = 21 %.
    Hundredths,
}

impl VatScale {
    /// The scale the groups reveal.
    pub fn detect(groups: &[VatGroup]) -> Self {
        if groups.iter().any(|g| g.vat_percentage > 100) {
            Self::Hundredths
        } else {
            Self::Percent
        }
    }

    /// A raw percentage as a decimal percent.
    pub fn percent(self, raw: i64) -> Decimal {
        match self {
            Self::Percent => Decimal::from(raw),
            Self::Hundredths => Decimal::new(raw, 2).normalize(),
        }
    }

    /// Fills in [`VatGroup::percent`].
    pub fn apply(self, groups: &mut [VatGroup]) {
        for g in groups {
            g.percent = self.percent(g.vat_percentage);
        }
    }
}

/// A turnover group (revenue account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TurnoverGroup {
    /// Turnover group number.
    pub number: i32,
    /// Name.
    pub name: String,
    /// Revenue account number.
    pub account_number: Option<i32>,
    /// Default VAT code.
    pub default_vat_code: Option<i32>,
}

impl TurnoverGroup {
    /// From a `tns:TurnoverGroup`.
    pub fn from_wire(t: wire::TurnoverGroup) -> Result<Self, WireError> {
        Ok(Self {
            number: required(t.turnover_group, "turnoverGroup", "turnoverGroup")?,
            name: string(Some(t.turnover_group_name)),
            account_number: t.account_number,
            default_vat_code: t.default_vat_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vat_scale_is_read_from_the_groups() {
        let group = |p| VatGroup {
            vat_code: 1,
            vat_percentage: p,
            percent: Decimal::ZERO,
            country_iso3: "NLD".into(),
        };
        let mut groups = vec![group(2100), group(900), group(0)];
        let scale = VatScale::detect(&groups);
        assert_eq!(scale, VatScale::Hundredths);
        scale.apply(&mut groups);
        assert_eq!(groups[1].percent.to_string(), "9");
        assert_eq!(VatScale::detect(&[group(21), group(9)]), VatScale::Percent);
    }
}
