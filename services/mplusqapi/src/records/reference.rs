//! Reference data: branches and workplaces, employees, payment methods, VAT and turnover groups.

use serde::{Deserialize, Serialize};

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
