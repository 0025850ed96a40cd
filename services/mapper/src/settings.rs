//! The settings of one integration: which flows run in which direction, and the answers to
//! the settings questions (employee number, default debtor, stock calculation, product
//! overwrite, SKU rule, branch/workplace, payment and tax maps).
//!
//! Settings are stored versioned per integration id (see [`crate::store`]); an integration
//! without stored settings runs with [`Settings::default`].
//!
//! | setting | default | effect |
//! | --- | --- | --- |
//! | `flows.customers` | on, MailChimp -> MplusKASSA | `customer.observed` -> `<target>.customer.upsert` |
//! | `flows.products` | on, MplusKASSA -> MailChimp | `product.observed` -> `<target>.product.upsert` |
//! | `flows.categories` | on, MplusKASSA -> MailChimp | `category.observed` -> `<target>.category.upsert` |
//! | `flows.stock` | on, MplusKASSA -> MailChimp | `stock.observed` -> `<target>.stock.set` |
//! | `flows.orders` | on, MailChimp -> MplusKASSA | `order.observed` -> `<target>.order.mapped` |
//! | `orders.employee_number` | 999999 | employee on MplusKASSA orders |
//! | `orders.default_debtor` | off | on: every order is booked on `relation_id` |
//! | `orders.branch_number`, `orders.workplace_number` | none | branch/workplace of MplusKASSA orders |
//! | `orders.payment_methods`, `orders.payment_terms` | empty (codes pass through) | value maps source code -> target code; an MplusKASSA payment term is a number of days (the relation's `paymentWithinDays`) |
//! | `orders.vat_codes` | empty | country (`NL`) or country and rate (`NL:9`) -> VAT code; required for MplusKASSA |
//! | `orders.lifecycle` | `true` | cancellations and refunds in the source reach the order in the target (MailChimp `financial_status`; MplusKASSA `cancelOrder`, refused for a delivered order); off, only creation is carried |
//! | `orders.source_types` | `both` | MplusKASSA as source: `orders`, `invoices` (till and back-office sales) or `both`; an order that became an invoice is one sale |
//! | `orders.revenue_accounts` | empty (none sent) | country (or `NL:9`) -> revenue account: a ledger account number; MplusKASSA books the line through the turnover group whose `accountNumber` it is (none matching: the order fails with a mapping error listing the installation's accounts) |
//! | `stock.calculation` | `available_minus_reserved` | stock on hand not promised to an open order (physical minus reserved); or `physical` (on hand), `available` (what the source reports as available to sell) |
//! | `stock.buffer` | `0` | subtracted after the calculation; the result never drops below 0 |
//! | `stock.manage_stock` | on | whether the target tracks stock for the product |
//! | `products.overwrite_existing` | on | off: updates keep the target's product information |
//! | `products.price` | `as_source` | or `including_tax`, `excluding_tax` (converted with the tax rate) |
//! | `products.sku_rule` | `reject` | SKUs to MailChimp: digits only; `value_map` or `expression` map others |
//! | `customers.audience.enabled` | off | on: customers written to MailChimp (MplusKASSA relations with an e-mail) also become audience members with merge fields `FNAME`, `LNAME`, `ADDRESS` |
//! | `customers.audience.status` | `transactional` | status of a new member without consent: `transactional` or `pending` (double opt-in); with consent `subscribed`, never without; an existing member's status is never changed |

use std::collections::BTreeMap;

use ferry_proto::messages::{AudienceStatus, Direction, Flow};
use ferry_proto::model::EmployeeNumber;
use ferry_proto::{CountryCode, ExternalId, TaxRate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::expr;
use crate::validation::FieldError;

/// All settings of one integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The flows: on/off and direction.
    pub flows: FlowSettings,
    /// Order settings.
    pub orders: OrderSettings,
    /// Stock settings.
    pub stock: StockSettings,
    /// Product settings.
    pub products: ProductSettings,
    /// Customer settings.
    pub customers: CustomerSettings,
}

/// Customer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct CustomerSettings {
    /// MplusKASSA relations in MailChimp's audience.
    pub audience: AudienceSettings,
}

/// Whether customers written to MailChimp (MplusKASSA relations with an e-mail address) also
/// become audience members, and the status of a new member without consent. Off by default:
/// MailChimp then adds e-commerce customers to the audience itself, as `transactional`
/// members without address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AudienceSettings {
    /// On: every customer written to MailChimp is also upserted as an audience member, with
    /// the merge fields `FNAME`, `LNAME` and `ADDRESS`.
    pub enabled: bool,
    /// Status of a new member who has not consented: `transactional` (default) or `pending`
    /// (MailChimp asks for consent by e-mail). With consent: `subscribed`; never without.
    /// An existing member's status is never changed.
    #[schema(value_type = String, example = "transactional")]
    pub status: AudienceStatus,
}

impl AudienceSettings {
    /// What the registry publishes to the MailChimp connector: the status, when enabled.
    pub fn published(&self) -> Option<AudienceStatus> {
        self.enabled.then_some(self.status)
    }
}

/// One flow's switch and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowSwitch {
    /// Whether the flow runs.
    pub enabled: bool,
    /// `mailchimp_to_mpluskassa` or `mpluskassa_to_mailchimp`.
    #[schema(value_type = String, example = "mailchimp_to_mpluskassa")]
    pub direction: Direction,
}

impl FlowSwitch {
    const fn on(direction: Direction) -> Self {
        Self {
            enabled: true,
            direction,
        }
    }
}

/// The five flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FlowSettings {
    /// Customers (default MailChimp -> MplusKASSA).
    pub customers: FlowSwitch,
    /// Products (default MplusKASSA -> MailChimp).
    pub products: FlowSwitch,
    /// Categories (default with the products: MplusKASSA -> MailChimp).
    pub categories: FlowSwitch,
    /// Stock (default MplusKASSA -> MailChimp: from the point of sale to the shop).
    pub stock: FlowSwitch,
    /// Orders (default MailChimp -> MplusKASSA).
    pub orders: FlowSwitch,
}

impl Default for FlowSettings {
    fn default() -> Self {
        Self {
            customers: FlowSwitch::on(Direction::MailchimpToMpluskassa),
            products: FlowSwitch::on(Direction::MpluskassaToMailchimp),
            categories: FlowSwitch::on(Direction::MpluskassaToMailchimp),
            stock: FlowSwitch::on(Direction::MpluskassaToMailchimp),
            orders: FlowSwitch::on(Direction::MailchimpToMpluskassa),
        }
    }
}

impl FlowSettings {
    /// The switch of `flow`.
    pub fn get(&self, flow: Flow) -> FlowSwitch {
        match flow {
            Flow::Customers => self.customers,
            Flow::Products => self.products,
            Flow::Categories => self.categories,
            Flow::Stock => self.stock,
            Flow::Orders => self.orders,
        }
    }
}

/// A lookup table: source value -> target value, with an optional fallback.
///
/// Lookup: the entry for the value; else `default` when set; else an `unmapped_value` error.
/// A map with no entries and no default is "not configured": values pass through unchanged
/// (and for VAT codes, which MplusKASSA requires, that is a `missing_vat_code` error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ValueMap {
    /// Source value -> target value.
    pub entries: BTreeMap<String, String>,
    /// Used for values without an entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

impl ValueMap {
    /// Whether the map has neither entries nor a default.
    pub fn is_unconfigured(&self) -> bool {
        self.entries.is_empty() && self.default.is_none()
    }

    /// The target value of `key` (entry, then default).
    pub fn lookup(&self, key: &str) -> Option<&str> {
        self.entries
            .get(key)
            .or(self.default.as_ref())
            .map(String::as_str)
    }

    /// A map from pairs (tests and examples).
    pub fn of<const N: usize>(pairs: [(&str, &str); N]) -> Self {
        Self {
            entries: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            default: None,
        }
    }

    fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        for (k, v) in &self.entries {
            if k.trim().is_empty() {
                errors.push(FieldError::at(
                    format!("{at}.entries"),
                    "keys must not be empty",
                ));
            }
            if v.trim().is_empty() {
                errors.push(FieldError::at(
                    format!("{at}.entries.{k}"),
                    "values must not be empty",
                ));
            }
        }
        if self.default.as_deref().is_some_and(|d| d.trim().is_empty()) {
            errors.push(FieldError::at(format!("{at}.default"), "must not be empty"));
        }
    }
}

/// Booking every order on one configured customer instead of per-customer debtors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultDebtor {
    /// On/off.
    pub enabled: bool,
    /// The debtor's relation number in the target (required when enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_id: Option<String>,
}

/// Order settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OrderSettings {
    /// Employee number on MplusKASSA orders (default 999999).
    pub employee_number: u32,
    /// Default debtor.
    pub default_debtor: DefaultDebtor,
    /// Branch of MplusKASSA orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_number: Option<u32>,
    /// Workplace of MplusKASSA orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workplace_number: Option<u32>,
    /// Payment method code in the source -> in the target.
    pub payment_methods: ValueMap,
    /// Payment term code in the source -> in the target.
    pub payment_terms: ValueMap,
    /// Country (`NL`) or country and tax rate (`NL:9`) -> VAT code in the target.
    pub vat_codes: ValueMap,
    /// Country (`NL`) or country and tax rate (`NL:9`) -> revenue account (ledger account
    /// number; the MplusKASSA connector books through the turnover group with that
    /// `accountNumber`).
    pub revenue_accounts: ValueMap,
    /// MplusKASSA as source: which sales are sent (orders, invoices or both).
    pub source_types: SourceTypes,
    /// Whether cancellations and refunds in the source reach the order in the target
    /// (default on); off, only the creation of orders is carried.
    pub lifecycle: bool,
}

/// Which MplusKASSA sales the order flow sends (`orders.source_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum SourceTypes {
    /// Orders only.
    Orders,
    /// Invoices only (till sales and invoiced orders).
    Invoices,
    /// Both: the default.
    #[default]
    Both,
}

impl SourceTypes {
    /// Whether a sale of this type is sent.
    pub fn sends(self, order_type: ferry_proto::model::OrderType) -> bool {
        use ferry_proto::model::OrderType;
        matches!(
            (self, order_type),
            (Self::Both, _)
                | (Self::Orders, OrderType::Order)
                | (Self::Invoices, OrderType::Invoice)
        )
    }
}

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            employee_number: EmployeeNumber::DEFAULT.0,
            default_debtor: DefaultDebtor::default(),
            branch_number: None,
            workplace_number: None,
            payment_methods: ValueMap::default(),
            payment_terms: ValueMap::default(),
            vat_codes: ValueMap::default(),
            revenue_accounts: ValueMap::default(),
            source_types: SourceTypes::default(),
            lifecycle: true,
        }
    }
}

/// Which stock figure is sent to the target, from the canonical `StockLevel` (physical = on
/// hand, reserved = held by open orders, available = what the source reports as available to
/// sell). Per source: MplusKASSA reports `amountFree` (on hand minus reservations) and
/// `amountReserved`, so physical = free + reserved, available = free; MailChimp reports one
/// `inventory_quantity`, so physical = available = that quantity and reserved = 0.
///
/// | calculation | figure | from MplusKASSA | from MailChimp |
/// | --- | --- | --- | --- |
/// | `available_minus_reserved` (default) | physical - reserved | `amountFree` | quantity |
/// | `physical` | physical | `amountFree + amountReserved` | quantity |
/// | `available` | available | `amountFree` | quantity |
///
/// The names are the settings contract: `available_minus_reserved` is MISSION's "available
/// stock minus committed sales (reservations)", what is on hand and not promised to an open
/// order, computed from the physical figure so that reservations are not subtracted twice
/// from a source (MplusKASSA) whose available figure already excludes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum StockCalculation {
    /// Stock on hand minus what open orders reserve (physical - reserved): the default.
    #[default]
    AvailableMinusReserved,
    /// Stock on hand, reservations included.
    Physical,
    /// Available to sell as the source reports it.
    Available,
}

/// Stock settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StockSettings {
    /// The figure sent.
    pub calculation: StockCalculation,
    /// A fixed buffer subtracted after the calculation (decimal string, >= 0).
    #[schema(value_type = String, example = "2")]
    pub buffer: Decimal,
    /// Whether the target manages (tracks) stock for the product.
    pub manage_stock: bool,
}

impl Default for StockSettings {
    fn default() -> Self {
        Self {
            calculation: StockCalculation::default(),
            buffer: Decimal::ZERO,
            manage_stock: true,
        }
    }
}

/// Which price the target gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum PriceMode {
    /// The source's price as it is (incl. or excl. tax, flagged).
    #[default]
    AsSource,
    /// Always including tax (converted with the product's tax rate when needed).
    IncludingTax,
    /// Always excluding tax (converted with the product's tax rate when needed).
    ExcludingTax,
}

/// How SKUs that are not digits only are handled on the way to MailChimp. Whatever the
/// rule, the result must be digits only, or the record is parked with `non_numeric_sku`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum SkuRule {
    /// A non-numeric SKU is a mapping error.
    #[default]
    Reject,
    /// Non-numeric SKUs are looked up in the user value map `map` (see the mappings).
    ValueMap {
        /// Name of the value map.
        map: String,
    },
    /// Non-numeric SKUs are the result of a CEL expression over `sku` (a string).
    Expression {
        /// E.g. `lookup(maps.skus, sku)` or `"9" + digits(sku)`.
        expr: String,
    },
}

/// Product settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProductSettings {
    /// Whether an update may overwrite existing product information in the target.
    pub overwrite_existing: bool,
    /// Which price the target gets.
    pub price: PriceMode,
    /// SKUs to MailChimp that are not digits only.
    pub sku_rule: SkuRule,
}

impl Default for ProductSettings {
    fn default() -> Self {
        Self {
            overwrite_existing: true,
            price: PriceMode::default(),
            sku_rule: SkuRule::default(),
        }
    }
}

impl Settings {
    /// Every problem of these settings, each with the path of the setting.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let o = &self.orders;
        if o.employee_number == 0 {
            errors.push(FieldError::at(
                "orders.employee_number",
                "must be a positive number",
            ));
        }
        match (&o.default_debtor.enabled, &o.default_debtor.relation_id) {
            (true, None) => errors.push(FieldError::at(
                "orders.default_debtor.relation_id",
                "is required when the default debtor is enabled",
            )),
            (_, Some(id)) => {
                if let Err(e) = ExternalId::parse(id) {
                    errors.push(FieldError::at(
                        "orders.default_debtor.relation_id",
                        e.to_string(),
                    ));
                }
            }
            _ => {}
        }
        o.payment_methods
            .validate("orders.payment_methods", &mut errors);
        o.payment_terms
            .validate("orders.payment_terms", &mut errors);
        for (name, map) in [
            ("vat_codes", &o.vat_codes),
            ("revenue_accounts", &o.revenue_accounts),
        ] {
            let at = format!("orders.{name}");
            map.validate(&at, &mut errors);
            for key in map.entries.keys() {
                match parse_country_key(key) {
                    Err(message) => {
                        errors.push(FieldError::at(format!("{at}.entries.{key}"), message));
                    }
                    Ok((country, rate)) => {
                        let canonical = country_key(&country, rate.as_ref());
                        if canonical != *key {
                            errors.push(FieldError::at(
                                format!("{at}.entries.{key}"),
                                format!("write the key as {canonical:?}"),
                            ));
                        }
                    }
                }
            }
        }
        if self.stock.buffer < Decimal::ZERO {
            errors.push(FieldError::at("stock.buffer", "must not be negative"));
        }
        match &self.products.sku_rule {
            SkuRule::Reject => {}
            SkuRule::ValueMap { map } => {
                if map.trim().is_empty() {
                    errors.push(FieldError::at(
                        "products.sku_rule.map",
                        "must name a value map",
                    ));
                }
            }
            SkuRule::Expression { expr } => {
                for e in expr::compile(expr).err().unwrap_or_default() {
                    errors.push(e.located("products.sku_rule.expr"));
                }
            }
        }
        errors
    }
}

/// Parses a key of the per-country maps: `NL` or `NL:9`.
pub fn parse_country_key(key: &str) -> Result<(CountryCode, Option<TaxRate>), String> {
    let (country, rate) = match key.split_once(':') {
        Some((c, r)) => (c, Some(r)),
        None => (key, None),
    };
    let country = CountryCode::parse(country).map_err(|e| e.to_string())?;
    let rate = rate
        .map(TaxRate::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok((country, rate))
}

/// The entry of a per-country map for `country` and `rate`: `CC:rate` first, then `CC`, then
/// the default.
pub fn lookup_country<'m>(
    map: &'m ValueMap,
    country: &CountryCode,
    rate: Option<&TaxRate>,
) -> Option<&'m str> {
    if let Some(rate) = rate
        && let Some(v) = map.entries.get(&country_key(country, Some(rate)))
    {
        return Some(v);
    }
    map.lookup(country.as_str())
}

/// The canonical key of a per-country map: `NL`, or `NL:9` with a rate.
pub fn country_key(country: &CountryCode, rate: Option<&TaxRate>) -> String {
    match rate {
        Some(rate) => format!("{}:{}", country.as_str(), rate.value().normalize()),
        None => country.as_str().to_owned(),
    }
}
