//! What an installation is asked about itself: API version, sync markers, reference data.

use ferry_mplusqapi::ops;

/// `getApiVersion`.
pub fn get_api_version() -> ops::GetApiVersion {
    ops::GetApiVersion {}
}

/// `getCurrentSyncMarkers`.
pub fn get_current_sync_markers() -> ops::GetCurrentSyncMarkers {
    ops::GetCurrentSyncMarkers {}
}

/// `getBranches`.
pub fn get_branches() -> ops::GetBranches {
    ops::GetBranches {}
}

/// `getEmployees` (all).
pub fn get_employees() -> ops::GetEmployees {
    ops::GetEmployees::default()
}

/// `getEmployee`.
pub fn get_employee(number: i64) -> ops::GetEmployee {
    ops::GetEmployee {
        employee_number: number,
    }
}

/// `getPaymentMethodsV2` (all).
pub fn get_payment_methods_v2() -> ops::GetPaymentMethodsV2 {
    ops::GetPaymentMethodsV2::default()
}

/// `getVatGroupList`.
pub fn get_vat_group_list() -> ops::GetVatGroupList {
    ops::GetVatGroupList {}
}

/// `getTurnoverGroups`.
pub fn get_turnover_groups(only_active: bool) -> ops::GetTurnoverGroups {
    ops::GetTurnoverGroups {
        request: ops::GetTurnoverGroupsRequest {
            only_active: Some(only_active),
        },
    }
}
