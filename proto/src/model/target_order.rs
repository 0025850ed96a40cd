//! The order as the mapper prepared it for the target system.

use super::{Customer, Order};
use crate::types::{ExternalId, Name};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An MplusKASSA employee number (mandatory on MplusKASSA orders; default 999999, the
/// installation's super user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct EmployeeNumber(pub u32);

impl EmployeeNumber {
    /// The default employee number, 999999.
    pub const DEFAULT: EmployeeNumber = EmployeeNumber(999_999);
}

impl Default for EmployeeNumber {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for EmployeeNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// How the order's customer is resolved in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum CustomerPlan {
    /// Look the customer up by e-mail and create or update it.
    Upsert {
        /// The customer as it should be in the target.
        customer: Box<Customer>,
    },
    /// Book the order on one configured default debtor.
    DefaultDebtor {
        /// The debtor's id (MplusKASSA relation number) in the target.
        relation_id: ExternalId,
    },
}

/// Target codes for one order line (same position as in [`Order::lines`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineCodes {
    /// VAT code in the target (default per country).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_code: Option<ExternalId>,
    /// Revenue (turnover) account or group in the target (per country).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_account: Option<ExternalId>,
}

/// Wire form of [`TargetOrder`], checked on the way in.
#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "TargetOrder")]
struct TargetOrderWire {
    order: Order,
    #[serde(default)]
    employee_number: Option<EmployeeNumber>,
    #[serde(default)]
    branch_number: Option<u32>,
    #[serde(default)]
    workplace_number: Option<u32>,
    #[serde(default)]
    payment_method_code: Option<Name>,
    #[serde(default)]
    payment_term_code: Option<Name>,
    line_codes: Vec<LineCodes>,
    customer_plan: CustomerPlan,
}

/// The mapped order: the canonical order plus the target's settings and codes.
///
/// Fields that only MplusKASSA needs are optional so the same type serves the
/// other direction; the MplusKASSA connector refuses an order without
/// `employee_number`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "TargetOrderWire")]
pub struct TargetOrder {
    order: Order,
    #[serde(skip_serializing_if = "Option::is_none")]
    employee_number: Option<EmployeeNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    branch_number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workplace_number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_method_code: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_term_code: Option<Name>,
    line_codes: Vec<LineCodes>,
    customer_plan: CustomerPlan,
}

/// A [`TargetOrder`] whose parts do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetOrderError {
    /// `line_codes` must have one entry per order line.
    #[error("order {order} has {lines} lines but {codes} line code entries")]
    LineCodesMismatch {
        /// The order's external id.
        order: String,
        /// Number of order lines.
        lines: usize,
        /// Number of line code entries.
        codes: usize,
    },
}

impl TryFrom<TargetOrderWire> for TargetOrder {
    type Error = TargetOrderError;
    fn try_from(w: TargetOrderWire) -> Result<Self, Self::Error> {
        let mut t = TargetOrder::new(w.order, w.customer_plan, w.line_codes)?;
        t.employee_number = w.employee_number;
        t.branch_number = w.branch_number;
        t.workplace_number = w.workplace_number;
        t.payment_method_code = w.payment_method_code;
        t.payment_term_code = w.payment_term_code;
        Ok(t)
    }
}

impl TargetOrder {
    /// A mapped order; `line_codes` must have one entry per order line.
    pub fn new(
        order: Order,
        customer_plan: CustomerPlan,
        line_codes: Vec<LineCodes>,
    ) -> Result<Self, TargetOrderError> {
        if line_codes.len() != order.lines.len() {
            return Err(TargetOrderError::LineCodesMismatch {
                order: order.external_id.to_string(),
                lines: order.lines.len(),
                codes: line_codes.len(),
            });
        }
        Ok(Self {
            order,
            employee_number: None,
            branch_number: None,
            workplace_number: None,
            payment_method_code: None,
            payment_term_code: None,
            line_codes,
            customer_plan,
        })
    }

    /// Sets the employee number.
    pub fn with_employee_number(mut self, n: EmployeeNumber) -> Self {
        self.employee_number = Some(n);
        self
    }

    /// Sets branch and workplace numbers.
    pub fn with_branch(mut self, branch: Option<u32>, workplace: Option<u32>) -> Self {
        self.branch_number = branch;
        self.workplace_number = workplace;
        self
    }

    /// Sets the target's payment method and payment term codes.
    pub fn with_payment_codes(mut self, method: Option<Name>, term: Option<Name>) -> Self {
        self.payment_method_code = method;
        self.payment_term_code = term;
        self
    }

    /// Sets the order's lifecycle status (a later event of the same order carried it).
    pub fn with_status(mut self, status: super::OrderStatus) -> Self {
        self.order.status = status;
        self
    }

    /// The canonical order.
    pub fn order(&self) -> &Order {
        &self.order
    }

    /// Employee number.
    pub fn employee_number(&self) -> Option<EmployeeNumber> {
        self.employee_number
    }

    /// Branch number.
    pub fn branch_number(&self) -> Option<u32> {
        self.branch_number
    }

    /// Workplace number.
    pub fn workplace_number(&self) -> Option<u32> {
        self.workplace_number
    }

    /// Payment method code in the target.
    pub fn payment_method_code(&self) -> Option<&Name> {
        self.payment_method_code.as_ref()
    }

    /// Payment term code in the target.
    pub fn payment_term_code(&self) -> Option<&Name> {
        self.payment_term_code.as_ref()
    }

    /// Codes per line, in line order.
    pub fn line_codes(&self) -> &[LineCodes] {
        &self.line_codes
    }

    /// Each order line with its codes.
    pub fn lines_with_codes(&self) -> impl Iterator<Item = (&super::OrderLine, &LineCodes)> {
        self.order.lines.iter().zip(self.line_codes.iter())
    }

    /// How the customer is resolved.
    pub fn customer_plan(&self) -> &CustomerPlan {
        &self.customer_plan
    }
}
