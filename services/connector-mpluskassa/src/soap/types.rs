//! The records Ferry reads from MplusQAPI, decoded from response elements. Money stays in
//! cents (`xsd:long`) and quantities become exact decimals (unscaled long + decimalPlaces).

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::xml::{Node, XmlError};

/// `SoapMplusDateTime` as UTC (wall clock + `timezone` offset in minutes).
pub fn datetime(node: &Node) -> Result<DateTime<Utc>, XmlError> {
    let n = |name: &str| node.required_num::<i32>(name);
    let (year, mon, day) = (n("year")?, n("mon")?, n("day")?);
    let (hour, min, sec) = (n("hour")?, n("min")?, n("sec")?);
    let offset_minutes = node.num::<i32>("timezone")?.unwrap_or(0);
    let bad = || XmlError::Content(format!("<{}> is not a valid date and time", node.name));
    let offset = FixedOffset::east_opt(offset_minutes.saturating_mul(60)).ok_or_else(bad)?;
    let date = NaiveDate::from_ymd_opt(
        year,
        u32::try_from(mon).map_err(|_| bad())?,
        u32::try_from(day).map_err(|_| bad())?,
    )
    .ok_or_else(bad)?;
    let time = date
        .and_hms_opt(
            u32::try_from(hour).map_err(|_| bad())?,
            u32::try_from(min).map_err(|_| bad())?,
            u32::try_from(sec).map_err(|_| bad())?,
        )
        .ok_or_else(bad)?;
    let local = offset.from_local_datetime(&time).single().ok_or_else(bad)?;
    Ok(local.with_timezone(&Utc))
}

fn opt_datetime(node: &Node, name: &str) -> Result<Option<DateTime<Utc>>, XmlError> {
    node.child(name).map(datetime).transpose()
}

/// An exact quantity from an unscaled value and its decimal places.
pub fn quantity(value: i64, decimal_places: u32) -> Result<Decimal, XmlError> {
    Decimal::try_from_i128_with_scale(i128::from(value), decimal_places)
        .map(|d| d.normalize())
        .map_err(|_| {
            XmlError::Content(format!(
                "quantity {value} with {decimal_places} decimal places"
            ))
        })
}

/// A quantity as `(unscaled value, decimalPlaces)` for the wire.
pub fn quantity_to_wire(q: Decimal) -> Option<(i64, u32)> {
    let q = q.normalize();
    let scale = q.scale();
    i64::try_from(q.mantissa()).ok().map(|m| (m, scale))
}

fn places(node: &Node, name: &str) -> Result<u32, XmlError> {
    Ok(node.num::<u32>(name)?.unwrap_or(0))
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
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        Ok(Self {
            major: node.required_num("majorNumber")?,
            minor: node.required_num("minorNumber")?,
            revision: node.required_num("revisionNumber")?,
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
    /// Stock changes.
    pub stock_id: i64,
}

impl SyncMarkers {
    /// From `getCurrentSyncMarkersResponse`.
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        Ok(Self {
            article: node.num("articleSyncMarker")?.unwrap_or(0),
            article_group: node.num("articleGroupSyncMarker")?.unwrap_or(0),
            relation: node.num("relationSyncMarker")?.unwrap_or(0),
            order: node.num("orderSyncMarker")?.unwrap_or(0),
            stock_id: node.num("stockId")?.unwrap_or(0),
        })
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
    /// Last change.
    pub change_timestamp: Option<DateTime<Utc>>,
}

impl Relation {
    /// From a `tns:Relation` element.
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        let contacts = match node.child("contactList") {
            Some(list) => list
                .all("relation")
                .map(Relation::decode)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(Self {
            relation_number: node.num("relationNumber")?.unwrap_or(0),
            sync_marker: node.num("syncMarker")?.unwrap_or(0),
            active: node.bool("active")?.unwrap_or(true),
            name: node.string("name"),
            address: node.string("address"),
            zipcode: node.string("zipcode"),
            city: node.string("city"),
            country: node.string("country"),
            delivery_address: node.string("deliveryAddress"),
            delivery_zipcode: node.string("deliveryZipcode"),
            delivery_city: node.string("deliveryCity"),
            delivery_country: node.string("deliveryCountry"),
            contact: node.string("contact"),
            telephone: node.string("telephone"),
            mobile: node.string("mobile"),
            email: node.string("email"),
            vat_number: node.string("vatNumber"),
            company_name: node.string("companyName"),
            contacts,
            change_timestamp: opt_datetime(node, "changeTimestamp")?,
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
    /// From a `tns:Article` element.
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        Ok(Self {
            article_number: node.required_num("articleNumber")?,
            plu_number: node.string("pluNumber"),
            sync_marker: node.num("syncMarker")?.unwrap_or(0),
            active: node.bool("active")?.unwrap_or(true),
            description: node.string("description"),
            colour: node.string("colour"),
            size: node.string("size"),
            barcode: node.string("barcode"),
            brand_name: node.string("brandName"),
            extra_text: node.string("extraText"),
            turnover_group: node.num("turnoverGroup")?.unwrap_or(0),
            vat_code: node.num("vatCode")?.unwrap_or(0),
            vat_percentage: node.num("vatPercentage")?.unwrap_or(0),
            price_incl: node.num("priceIncl")?.unwrap_or(0),
            price_excl: node.num("priceExcl")?.unwrap_or(0),
            webshop: node.bool("webshop")?.unwrap_or(false),
            stock_article: node.bool("stockArticle")?.unwrap_or(false),
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
    /// From a `tns:Product` element.
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        let articles = match node.child("articleList") {
            Some(list) => list
                .all("article")
                .map(Article::decode)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(Self {
            product_number: node.num("productNumber")?.unwrap_or(0),
            sync_marker: node.num("syncMarker")?.unwrap_or(0),
            description: node.string("description"),
            extra_text: node.string("extraText"),
            articles,
            group_numbers: node.nums("groupNumbers")?,
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
    pub fn decode_list(
        list: &Node,
        parent: i32,
        out: &mut Vec<ArticleGroup>,
    ) -> Result<(), XmlError> {
        for g in list.all("articleGroups") {
            let group = ArticleGroup {
                group_number: g.required_num("groupNumber")?,
                parent,
                sync_marker: g.num("syncMarker")?.unwrap_or(0),
                name: g.string("name"),
                text: g.string("text"),
                is_deleted: g.bool("isDeleted")?.unwrap_or(false),
            };
            let number = group.group_number;
            out.push(group);
            if let Some(sub) = g.child("subGroupList") {
                Self::decode_list(sub, number, out)?;
            }
        }
        Ok(())
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
    /// Free stock (on hand, not yet delivered).
    pub free: Decimal,
    /// Reserved by open orders.
    pub reserved: Decimal,
    /// Incoming (ordered from suppliers).
    pub incoming: Decimal,
    /// Last change.
    pub change_timestamp: Option<DateTime<Utc>>,
}

impl ArticleStock {
    /// From a `tns:ArticleStock` element.
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        Ok(Self {
            branch_number: node.num("branchNumber")?.unwrap_or(0),
            article_number: node.required_num("articleNumber")?,
            stock_id: node.num("stockId")?.unwrap_or(0),
            free: quantity(
                node.num("amountFree")?.unwrap_or(0),
                places(node, "decimalPlacesFree")?,
            )?,
            reserved: quantity(
                node.num("amountReserved")?.unwrap_or(0),
                places(node, "decimalPlacesReserved")?,
            )?,
            incoming: quantity(
                node.num("amountIncoming")?.unwrap_or(0),
                places(node, "decimalPlacesIncoming")?,
            )?,
            change_timestamp: opt_datetime(node, "changeTimestamp")?,
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
    fn decode(node: &Node) -> Self {
        Self {
            name: node.string("name"),
            contact: node.string("contact"),
            address: node.string("address"),
            zipcode: node.string("zipcode"),
            city: node.string("city"),
            country: node.string("country"),
            company_name: node.string("companyName"),
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
    /// Reference.
    pub reference: String,
    /// Delivery address.
    pub delivery_address: Option<OrderAddress>,
    /// Invoice address.
    pub invoice_address: Option<OrderAddress>,
    /// Lines.
    pub lines: Vec<OrderLine>,
}

impl Order {
    /// From a `tns:Order` element.
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        let mut lines = Vec::new();
        for l in node
            .child("lineList")
            .into_iter()
            .flat_map(|l| l.all("line"))
        {
            let data = l.child("data");
            let get_i64 = |name: &str| -> Result<Option<i64>, XmlError> {
                data.map(|d| d.num::<i64>(name))
                    .transpose()
                    .map(Option::flatten)
            };
            let get_i32 = |name: &str| -> Result<Option<i32>, XmlError> {
                data.map(|d| d.num::<i32>(name))
                    .transpose()
                    .map(Option::flatten)
            };
            let quantity_places = data
                .map(|d| places(d, "decimalPlaces"))
                .transpose()?
                .unwrap_or(0);
            lines.push(OrderLine {
                article_number: l.required_num("articleNumber")?,
                plu_number: l.string("pluNumber"),
                text: l.string("text"),
                quantity: quantity(get_i64("quantity")?.unwrap_or(1), quantity_places)?,
                price: get_i64("price")?.unwrap_or(0),
                price_excl: get_i64("priceExcl")?,
                vat_code: get_i32("vatCode")?.unwrap_or(0),
                vat_percentage: get_i64("vatPercentage")?.unwrap_or(0),
                turnover_group: get_i32("turnoverGroup")?.unwrap_or(0),
                discount_amount: get_i64("discountAmount")?,
            });
        }
        Ok(Self {
            order_id: node.string("orderId"),
            ext_order_id: node.string("extOrderId"),
            sync_marker: node.num("syncMarker")?.unwrap_or(0),
            order_type: node.string("orderType"),
            entry_branch_number: node.num("entryBranchNumber")?.unwrap_or(0),
            employee_number: node.num("employeeNumber")?.unwrap_or(0),
            relation_number: node.num("relationNumber")?.unwrap_or(0),
            entry_timestamp: opt_datetime(node, "entryTimestamp")?,
            total_incl: node.num("totalInclAmount")?.unwrap_or(0),
            total_excl: node.num("totalExclAmount")?.unwrap_or(0),
            vat_method: node.string("vatMethod"),
            payment_method: node.string("paymentMethod"),
            cancel_state: node.string("cancelState"),
            reference: node.string("reference"),
            delivery_address: node.child("deliveryAddress").map(OrderAddress::decode),
            invoice_address: node.child("invoiceAddress").map(OrderAddress::decode),
            lines,
        })
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
    /// From a `tns:Branch` element.
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        let workplaces = node
            .child("workplaces")
            .into_iter()
            .flat_map(|w| w.all("workplace"))
            .map(|w| {
                Ok(Workplace {
                    number: w.required_num("workplaceNumber")?,
                    name: w.string("workplaceName"),
                })
            })
            .collect::<Result<_, XmlError>>()?;
        Ok(Self {
            number: node.required_num("branchNumber")?,
            name: node.string("branchName"),
            country_iso3: node.string("countryIso3"),
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
    /// From a `tns:Employee` element.
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        Ok(Self {
            number: node.required_num("employeeNumber")?,
            name: node.string("name"),
            active: node.bool("active")?.unwrap_or(true),
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
    /// From a `tns:PaymentMethod` element.
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        Ok(Self {
            method: node.string("method"),
            description: node.string("description"),
            kind: node.string("type"),
            active: node.bool("active")?.unwrap_or(true),
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
    /// From a `tns:VatGroup` element; `percent` is filled in by [`VatScale::apply`].
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        let raw: i64 = node.required_num("vatPercentage")?;
        Ok(Self {
            vat_code: node.required_num("vatCode")?,
            vat_percentage: raw,
            percent: Decimal::from(raw),
            country_iso3: node.string("countryIso3"),
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
    /// From a `tns:TurnoverGroup` element.
    pub fn decode(node: &Node) -> Result<Self, XmlError> {
        Ok(Self {
            number: node.required_num("turnoverGroup")?,
            name: node.string("turnoverGroupName"),
            account_number: node.num("accountNumber")?,
            default_vat_code: node.num("defaultVatCode")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::xml::parse;

    #[test]
    fn dates_are_wall_clock_plus_offset() {
        let node = parse("<t><sec>5</sec><min>30</min><hour>10</hour><day>24</day><mon>11</mon><year>2026</year><isdst>false</isdst><timezone>60</timezone></t>").expect("xml");
        let ts = datetime(&node).expect("valid");
        assert_eq!(ts.to_rfc3339(), "2026-11-24T09:30:05+00:00");
        let bad = parse("<t><sec>5</sec><min>30</min><hour>10</hour><day>31</day><mon>2</mon><year>2026</year><timezone>0</timezone></t>").expect("xml");
        assert!(datetime(&bad).is_err());
    }

    #[test]
    fn quantities_are_exact() {
        assert_eq!(quantity(530, 3).expect("q").to_string(), "0.53");
        assert_eq!(quantity(2, 0).expect("q").to_string(), "2");
        assert_eq!(quantity_to_wire(Decimal::new(1500, 3)), Some((15, 1)));
        assert_eq!(quantity_to_wire(Decimal::from(3)), Some((3, 0)));
    }

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
