//! The default mappings: what each flow does before (and without) user mappings.
//!
//! | flow | source -> target document | default mapping |
//! | --- | --- | --- |
//! | customers | `Customer` -> `Customer` | all fields as they are (e-mail, names, phone, billing and shipping address, opt-in, source ref); a company keeps its name and VAT number and gets a contact person, filled from the customer's first/last name and phone when the source named none; a person stays a personal debtor |
//! | products | `Product` -> `Product` | title, SKU, short and long description, price (incl. or excl. tax per `products.price`, converted with the tax rate and rounded to the currency's minor unit), tax rate, EAN/GTIN, currency, category, attributes, properties, quantity; variants likewise; images do not exist in the model (ignored by design). To MailChimp ([`for_mailchimp`]): variant attributes appended to the variant title (`Shirt - M / red`), the `brand` property as `vendor`; the GTIN is not sent (MailChimp has no field for it). To MplusKASSA: attributes `colour`/`size` into the article's `colour`/`size`, the GTIN into `barcode` (the connector) |
//! | categories | `Category` -> `Category` | key, name, parent |
//! | stock | `StockLevel` -> `{sku, quantity, manage_stock}` | quantity per `stock.calculation` (default physical minus reserved; `physical`; `available`) minus `stock.buffer`, never below 0; `manage_stock` from the settings |
//! | orders | `Order` -> `TargetOrder` | the order as it is (number, type, customer, lines with SKU, quantity, price, billing and shipping address: street, house number, postcode, city, country, totals, currency, notes); for MplusKASSA: employee number, branch and workplace, payment method and term through their value maps, per line the VAT code and revenue account of the order's country (shipping address, else billing address, else the customer's addresses); customer plan: the default debtor when enabled, else upsert of the order's customer (mapped like the customers flow) |
//!
//! Checks that depend on the final document (SKUs to MailChimp digits only, VAT codes on
//! MplusKASSA orders) run after the user mappings, in [`crate::mapper`].

use ferry_proto::model::{
    Address, Category, ContactPerson, Customer, CustomerKind, CustomerPlan, LineCodes, Order,
    OrderStatus, Product, ProductKind, StockLevel, TargetOrder,
};
use ferry_proto::{CountryCode, ExternalId, Money, Name, Quantity, Sku, System, TaxRate};
use rust_decimal::{Decimal, RoundingStrategy};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{MappingError, MappingErrorKind};
use crate::settings::{PriceMode, Settings, StockCalculation, ValueMap, lookup_country};

/// A default-mapped document and the problems found on the way. These problems are void
/// when a user mapping writes the field they name.
#[derive(Debug, Clone)]
pub struct Defaulted<T> {
    /// The document.
    pub doc: T,
    /// Problems, each naming its field.
    pub errors: Vec<MappingError>,
}

/// The target document of the stock flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StockDoc {
    /// The SKU.
    pub sku: Sku,
    /// The quantity to set.
    pub quantity: Quantity,
    /// Whether the target manages stock for the product.
    pub manage_stock: bool,
}

/// Customers: the record as it is; a company gets its contact person.
pub fn customer(c: &Customer) -> Customer {
    let mut out = c.clone();
    if let CustomerKind::Company { contact, .. } = &mut out.kind
        && *contact == ContactPerson::default()
    {
        contact.first_name = c.first_name.clone();
        contact.last_name = c.last_name.clone();
        contact.phone = c.phone.clone();
    }
    out
}

/// Categories: as they are.
pub fn category(c: &Category) -> Category {
    c.clone()
}

/// Stock: the configured calculation ([`StockCalculation`]), minus the buffer, at least 0.
pub fn stock(level: &StockLevel, settings: &Settings) -> StockDoc {
    let s = &settings.stock;
    let base = match s.calculation {
        StockCalculation::AvailableMinusReserved => {
            level.physical.value().checked_sub(level.reserved.value())
        }
        StockCalculation::Physical => Some(level.physical.value()),
        StockCalculation::Available => Some(level.available.value()),
    };
    let quantity = base
        .and_then(|b| b.checked_sub(s.buffer))
        .unwrap_or(Decimal::ZERO)
        .max(Decimal::ZERO);
    StockDoc {
        sku: level.sku.clone(),
        quantity: Quantity::new(quantity).unwrap_or(Quantity::ZERO),
        manage_stock: s.manage_stock,
    }
}

/// Products: as they are, with the price converted per `products.price`; to MailChimp also
/// the attributes into variant titles and the brand as vendor ([`for_mailchimp`]).
pub fn product(p: &Product, target: System, settings: &Settings) -> Defaulted<Product> {
    let mut errors = Vec::new();
    let mut out = p.clone();
    if target == System::Mailchimp {
        for_mailchimp(&mut out);
    }
    let want_incl = match settings.products.price {
        PriceMode::AsSource => None,
        PriceMode::IncludingTax => Some(true),
        PriceMode::ExcludingTax => Some(false),
    };
    if let Some(want_incl) = want_incl
        && p.price_includes_tax != want_incl
    {
        match convert_price(&p.price, p.tax_rate.as_ref(), want_incl) {
            Ok(price) => out.price = price,
            Err(message) => {
                errors.push(MappingError::new(
                    MappingErrorKind::PriceConversion,
                    "price",
                    message,
                ));
            }
        }
        if let ProductKind::Configurable { variants } = &mut out.kind {
            for (i, v) in variants.iter_mut().enumerate() {
                let Some(price) = &v.price else { continue };
                match convert_price(price, p.tax_rate.as_ref(), want_incl) {
                    Ok(converted) => v.price = Some(converted),
                    Err(message) => errors.push(MappingError::new(
                        MappingErrorKind::PriceConversion,
                        format!("kind.variants[{i}].price"),
                        message,
                    )),
                }
            }
        }
        out.price_includes_tax = want_incl;
    }
    Defaulted { doc: out, errors }
}

/// What MailChimp cannot hold as it is, put where its API has a field (MailChimp's variant
/// has only `title`, `sku`, `price`, `inventory_quantity` and presentation fields; its product
/// `title`, `description`, `type`, `vendor`, `handle`, `url`):
///
/// - a variant's attributes (size, colour, options) are appended to its title (the product's
///   title when it has none): `Shirt` with size `M` and colour `red` becomes
///   `Shirt - M / red`, attributes in their order, each value once and only when the title
///   does not already contain it (case-insensitive); a variant without attributes keeps its
///   title. A simple product is its own single variant, titled with the product's title:
///   its attributes reach MailChimp only through a user mapping.
/// - the `brand` property (MplusKASSA's brand name) becomes the `vendor` property, which the
///   connector sends as the product's `vendor`, unless a `vendor` is already there.
/// - EAN/GTIN: MailChimp has no barcode field (its variant `sku` is the SKU Ferry matches
///   on), so the GTIN stays in the canonical product and is not sent.
pub fn for_mailchimp(p: &mut Product) {
    if let ProductKind::Configurable { variants } = &mut p.kind {
        for v in variants {
            let base = v.title.as_ref().unwrap_or(&p.title).as_str();
            let titled = titled(base, v.attributes.iter().map(|a| a.value.as_str()));
            if let Some(title) = titled.and_then(|t| Name::parse(&t).ok()) {
                v.title = Some(title);
            }
        }
    }
    if !p.properties.contains_key("vendor")
        && let Some(brand) = p.properties.get("brand").filter(|b| !b.trim().is_empty())
    {
        p.properties.insert("vendor".to_owned(), brand.clone());
    }
}

/// `base - a / b` for the attribute values not yet in `base`; `None` when none is missing.
/// A value is in `base` when its words appear there in a row (case-insensitive), so size
/// `S` is in `Shirt size S` but not in `Shirts`.
fn titled<'a>(base: &str, values: impl Iterator<Item = &'a str>) -> Option<String> {
    fn words(s: &str) -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }
    let have = words(base);
    let mut missing: Vec<&str> = Vec::new();
    for value in values {
        let value = value.trim();
        let want = words(value);
        let present = !want.is_empty() && have.windows(want.len()).any(|w| w == want.as_slice());
        if want.is_empty() || present || missing.iter().any(|m| words(m) == want) {
            continue;
        }
        missing.push(value);
    }
    (!missing.is_empty()).then(|| format!("{base} - {}", missing.join(" / ")))
}

/// Converts a price between incl. and excl. tax, rounded to the currency's minor unit.
pub fn convert_price(
    price: &Money,
    rate: Option<&TaxRate>,
    to_incl: bool,
) -> Result<Money, String> {
    let rate = rate.ok_or_else(|| {
        format!(
            "the price must be converted to {} tax, but the product has no tax rate",
            if to_incl { "including" } else { "excluding" }
        )
    })?;
    let factor = Decimal::ONE + rate.fraction();
    let amount = if to_incl {
        price.amount().checked_mul(factor)
    } else {
        price.amount().checked_div(factor)
    }
    .ok_or_else(|| format!("the price {price} is out of range"))?;
    let rounded = amount.round_dp_with_strategy(
        price.currency().minor_unit_exponent(),
        RoundingStrategy::MidpointAwayFromZero,
    );
    Ok(Money::new(rounded, price.currency()))
}

/// The country that decides an order's VAT codes and revenue accounts: shipping address,
/// billing address, then the customer's shipping and billing address.
pub fn order_country(o: &Order) -> Option<CountryCode> {
    [
        &o.shipping_address,
        &o.billing_address,
        &o.customer.shipping_address,
        &o.customer.billing_address,
    ]
    .into_iter()
    .flatten()
    .map(|a: &Address| a.country)
    .next()
}

/// Orders: the target order with settings, codes and the customer plan. `Err` only when the
/// target order cannot be built at all.
pub fn order(
    o: &Order,
    target: System,
    settings: &Settings,
) -> Result<Defaulted<TargetOrder>, Vec<MappingError>> {
    let mut errors = Vec::new();
    if let Err(e) = o.check_currencies() {
        errors.push(MappingError::new(
            MappingErrorKind::InvalidResult,
            "order",
            e.to_string(),
        ));
    }
    let s = &settings.orders;
    let plan = if s.default_debtor.enabled {
        match s
            .default_debtor
            .relation_id
            .as_deref()
            .map(ExternalId::parse)
        {
            Some(Ok(relation_id)) => CustomerPlan::DefaultDebtor { relation_id },
            Some(Err(e)) => {
                errors.push(MappingError::new(
                    MappingErrorKind::Settings,
                    "customer_plan.relation_id",
                    e.to_string(),
                ));
                CustomerPlan::Upsert {
                    customer: Box::new(customer(&o.customer)),
                }
            }
            None => {
                errors.push(MappingError::new(
                    MappingErrorKind::Settings,
                    "customer_plan.relation_id",
                    "the default debtor is enabled without a relation id (settings orders.default_debtor)",
                ));
                CustomerPlan::Upsert {
                    customer: Box::new(customer(&o.customer)),
                }
            }
        }
    } else {
        CustomerPlan::Upsert {
            customer: Box::new(customer(&o.customer)),
        }
    };

    let to_mplus = target == System::Mpluskassa;
    let country = order_country(o);
    let line_codes: Vec<LineCodes> = o
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            if !to_mplus {
                return LineCodes::default();
            }
            let vat_code = country
                .as_ref()
                .and_then(|c| lookup_country(&s.vat_codes, c, line.tax_rate.as_ref()))
                .and_then(|code| ExternalId::parse(code).ok());
            let revenue_account = if s.revenue_accounts.is_unconfigured() {
                None
            } else {
                let found = country
                    .as_ref()
                    .and_then(|c| lookup_country(&s.revenue_accounts, c, line.tax_rate.as_ref()));
                match found.map(ExternalId::parse) {
                    Some(Ok(id)) => Some(id),
                    Some(Err(e)) => {
                        errors.push(MappingError::new(
                            MappingErrorKind::Settings,
                            format!("line_codes[{i}].revenue_account"),
                            e.to_string(),
                        ));
                        None
                    }
                    None => {
                        errors.push(MappingError::new(
                            MappingErrorKind::UnmappedValue,
                            format!("line_codes[{i}].revenue_account"),
                            format!(
                                "no revenue account for {} (settings orders.revenue_accounts)",
                                describe_country(country.as_ref(), line.tax_rate.as_ref())
                            ),
                        ));
                        None
                    }
                }
            };
            LineCodes {
                vat_code,
                revenue_account,
            }
        })
        .collect();

    let method = map_code(
        &s.payment_methods,
        o.payment_method.as_ref(),
        "payment_method_code",
        "payment method",
        "orders.payment_methods",
        &mut errors,
    );
    let term = map_code(
        &s.payment_terms,
        o.payment_term.as_ref(),
        "payment_term_code",
        "payment term",
        "orders.payment_terms",
        &mut errors,
    );

    let order = match TargetOrder::new(o.clone(), plan, line_codes) {
        Ok(t) => t,
        Err(e) => {
            // One code entry is built per line, so this does not happen; reported if it does.
            errors.push(MappingError::new(
                MappingErrorKind::InvalidResult,
                "line_codes",
                e.to_string(),
            ));
            return Err(errors);
        }
    };
    let mut order = order.with_payment_codes(method, term);
    if !s.lifecycle {
        order = order.with_status(OrderStatus::Open);
    }
    if to_mplus {
        order = order
            .with_employee_number(ferry_proto::model::EmployeeNumber(s.employee_number))
            .with_branch(s.branch_number, s.workplace_number);
    }
    Ok(Defaulted { doc: order, errors })
}

/// Describes a country and rate for messages: `BE` or `BE (rate 21%)`, or `the order (no country)`.
pub fn describe_country(country: Option<&CountryCode>, rate: Option<&TaxRate>) -> String {
    match (country, rate) {
        (Some(c), Some(r)) => format!("country {} at {}%", c.as_str(), r.value().normalize()),
        (Some(c), None) => format!("country {}", c.as_str()),
        (None, _) => "an order without a country (no shipping or billing address)".to_owned(),
    }
}

fn map_code(
    map: &ValueMap,
    code: Option<&Name>,
    field: &str,
    what: &str,
    setting: &str,
    errors: &mut Vec<MappingError>,
) -> Option<Name> {
    if map.is_unconfigured() {
        return code.cloned();
    }
    let mapped = match code {
        Some(code) => match map.lookup(code.as_str()) {
            Some(v) => v,
            None => {
                errors.push(MappingError::new(
                    MappingErrorKind::UnmappedValue,
                    field,
                    format!(
                        "{what} {:?} has no entry in settings {setting}",
                        code.as_str()
                    ),
                ));
                return None;
            }
        },
        None => map.default.as_deref()?,
    };
    match Name::parse(mapped) {
        Ok(n) => Some(n),
        Err(e) => {
            errors.push(MappingError::new(
                MappingErrorKind::Settings,
                field,
                e.to_string(),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::titled;

    #[test]
    fn attribute_values_join_the_title_once_and_only_when_missing() {
        let t = |base: &str, values: &[&str]| titled(base, values.iter().copied());
        assert_eq!(
            t("Shirt", &["M", "red"]).as_deref(),
            Some("Shirt - M / red")
        );
        assert_eq!(
            t("Shirt size S", &["S", "colour 0"]).as_deref(),
            Some("Shirt size S - colour 0")
        );
        assert_eq!(t("Shirts", &["S"]).as_deref(), Some("Shirts - S"));
        assert_eq!(t("Shirt Red M", &["m", "RED"]), None);
        assert_eq!(
            t("Shirt", &["red", "Red", " "]).as_deref(),
            Some("Shirt - red")
        );
        assert_eq!(t("Shirt", &[]), None);
    }
}
