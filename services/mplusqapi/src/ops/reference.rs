//! Reference data: version, sync markers, branches, employees, payment methods, VAT and turnover groups.

use serde::{Deserialize, Serialize};

use crate::records::{
    BranchList, Employee, EmployeeList, PaymentMethodList, TurnoverGroupList, VatGroup,
};

/// `getApiVersion`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetApiVersion {}

/// `getApiVersionResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetApiVersionResponse {
    /// Major API version.
    pub major_number: Option<i32>,
    /// Minor API version.
    pub minor_number: Option<i32>,
    /// Revision.
    pub revision_number: Option<i32>,
    /// Debug build.
    pub in_debug_mode: bool,
}

/// `getCurrentSyncMarkers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetCurrentSyncMarkers {}

/// `getCurrentSyncMarkersResponse`: the highest marker of each entity type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetCurrentSyncMarkersResponse {
    /// Articles.
    pub article_sync_marker: i64,
    /// Article groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_group_sync_marker: Option<i64>,
    /// Relations.
    pub relation_sync_marker: i64,
    /// Employees.
    pub employee_sync_marker: i64,
    /// Invoices.
    pub invoice_sync_marker: i64,
    /// Receipts.
    pub receipt_sync_marker: i64,
    /// Orders.
    pub order_sync_marker: i64,
    /// Proposals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal_sync_marker: Option<i64>,
    /// Stock changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_id: Option<i64>,
}

/// `getBranches`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBranches {}

/// `getBranchesResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetBranchesResponse {
    /// The branches.
    pub branches: BranchList,
}

/// `getEmployees`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetEmployees {
    /// Filter (absent: all).
    pub request: GetEmployeesRequest,
}

/// `tns:getEmployeesRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetEmployeesRequest {
    /// These employees.
    pub employee_numbers: Vec<i64>,
    /// Changed from this marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker: Option<i64>,
    /// Most records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_marker_limit: Option<i32>,
}

/// `GetEmployeesResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetEmployeesResponse {
    /// The employees.
    pub employee_list: EmployeeList,
}

/// `getEmployee`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetEmployee {
    /// The employee.
    pub employee_number: i64,
}

/// `GetEmployeeResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetEmployeeResponse {
    /// `GET-EMPLOYEE-RESULT-*`.
    pub result: String,
    /// The employee when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee: Option<Employee>,
}

/// `getPaymentMethodsV2`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetPaymentMethodsV2 {
    /// Filter (empty: all).
    pub request: GetPaymentMethodsRequest,
}

/// `GetPaymentMethodsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetPaymentMethodsResponse {
    /// The payment methods.
    pub payment_method_list: PaymentMethodList,
}

/// `getVatGroupList`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetVatGroupList {}

/// `getVatGroupListResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetVatGroupListResponse {
    /// The VAT groups.
    pub vat_group: Vec<VatGroup>,
}

/// `getTurnoverGroups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTurnoverGroups {
    /// Filter.
    pub request: GetTurnoverGroupsRequest,
}

/// `tns:GetTurnoverGroupsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetTurnoverGroupsRequest {
    /// Only active groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_active: Option<bool>,
}

/// `GetTurnoverGroupsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetTurnoverGroupsResponse {
    /// The turnover groups.
    pub turnover_group_list: TurnoverGroupList,
}

/// `tns:GetPaymentMethodsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetPaymentMethodsRequest {
    /// Only the methods booked on this account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_number: Option<i32>,
    /// Only methods of these `PAYMENT-METHOD-TYPE-*`s (none: every type).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub payment_method_types: Vec<String>,
}
