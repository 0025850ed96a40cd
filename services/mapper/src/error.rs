//! Mapping errors: what could not be mapped, where (the field of the target document), and
//! why. A record with mapping errors is parked, never sent half-mapped and never "repaired"
//! silently.

use std::fmt;

use ferry_proto::IntegrationId;
use ferry_proto::messages::Flow;
use serde::Serialize;
use utoipa::ToSchema;

/// The kind of a mapping error (stable, snake_case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MappingErrorKind {
    /// A SKU for MailChimp is not digits only (and no configured rule made it so).
    NonNumericSku,
    /// An order line's country has no VAT code in the settings.
    MissingVatCode,
    /// A field the target requires has no value.
    MissingValue,
    /// A value has no entry in its value map (payment method, payment term, ...).
    UnmappedValue,
    /// A price cannot be converted between incl. and excl. tax (no tax rate, overflow).
    PriceConversion,
    /// A user mapping's expression failed while running.
    ExpressionFailed,
    /// A user mapping produced a value the target field does not accept.
    InvalidResult,
    /// The settings do not allow this record (e.g. default debtor on without a relation id).
    Settings,
}

impl MappingErrorKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NonNumericSku => "non_numeric_sku",
            Self::MissingVatCode => "missing_vat_code",
            Self::MissingValue => "missing_value",
            Self::UnmappedValue => "unmapped_value",
            Self::PriceConversion => "price_conversion",
            Self::ExpressionFailed => "expression_failed",
            Self::InvalidResult => "invalid_result",
            Self::Settings => "settings",
        }
    }
}

/// One thing that could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MappingError {
    /// What kind of problem.
    pub kind: MappingErrorKind,
    /// The field of the target document, e.g. `kind.variants[3].sku` or
    /// `line_codes[0].vat_code`.
    pub field: String,
    /// Why, in words (personal data masked).
    pub message: String,
}

impl MappingError {
    /// An error of `kind` at `field`.
    pub fn new(
        kind: MappingErrorKind,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.field,
            self.kind.as_str(),
            self.message
        )
    }
}

/// All errors of one record, with what names the record: the reason a message is parked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingFailure {
    /// The integration.
    pub integration: IntegrationId,
    /// The flow.
    pub flow: Flow,
    /// The record's key (SKU, order number, masked e-mail).
    pub record_key: String,
    /// Every problem found (at least one).
    pub errors: Vec<MappingError>,
}

impl fmt::Display for MappingFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mapping failed for integration {}, {} record {}: ",
            self.integration,
            flow_name(self.flow),
            self.record_key
        )?;
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MappingFailure {}

/// The snake_case name of a flow (`customers`, `products`, ...).
pub fn flow_name(flow: Flow) -> &'static str {
    match flow {
        Flow::Customers => "customers",
        Flow::Products => "products",
        Flow::Categories => "categories",
        Flow::Stock => "stock",
        Flow::Orders => "orders",
    }
}
