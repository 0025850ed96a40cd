//! Reference data and housekeeping: version, sync markers, branches, employees, payment
//! methods, VAT groups, turnover groups.

use super::{Ctx, page};
use crate::mpluskassa::render;
use crate::mpluskassa::xml::XmlError;
use ferry_mplusqapi::ops as wire;

/// The MplusQAPI version this sandbox answers as (the WSDL is API 67.x).
pub const API_VERSION: (i32, i32, i32) = (67, 0, 0);

pub fn get_api_version(cx: Ctx<'_>) -> Result<(), XmlError> {
    let w = cx.w;
    let now = cx.store.now();
    w.leaf("majorNumber", API_VERSION.0);
    w.leaf("minorNumber", API_VERSION.1);
    w.leaf("revisionNumber", API_VERSION.2);
    w.date("serverDate", &now.date());
    w.datetime("serverDateTime", &now);
    w.leaf("inDebugMode", false);
    w.leaf("isSlaveApi", false);
    w.leaf("serviceVersionDisplayString", "ferry-sandbox");
    Ok(())
}

pub fn get_current_sync_markers(cx: Ctx<'_>) -> Result<(), XmlError> {
    let m = &cx.store.markers;
    let w = cx.w;
    w.leaf("articleSyncMarker", m.article);
    w.leaf("articleGroupSyncMarker", m.article_group);
    w.leaf("relationSyncMarker", m.relation);
    w.leaf("employeeSyncMarker", m.employee);
    w.leaf("invoiceSyncMarker", m.invoice);
    w.leaf("receiptSyncMarker", 0);
    w.leaf("orderSyncMarker", m.order);
    w.leaf("stockId", m.stock_id);
    Ok(())
}

pub fn get_branches(cx: Ctx<'_>) -> Result<(), XmlError> {
    let w = cx.w;
    w.elem("branches", |w| {
        for b in &cx.store.branches {
            render::branch(w, b);
        }
    });
    Ok(())
}

pub fn get_employees(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<wire::GetEmployees>()?.request;
    let numbers = req.employee_numbers;
    let selected = page(
        cx.store
            .employees
            .values()
            .filter(|e| numbers.is_empty() || numbers.contains(&e.number))
            .map(|e| (e.sync_marker, e)),
        req.sync_marker,
        req.sync_marker_limit,
    );
    cx.w.elem("employeeList", |w| {
        for e in selected {
            render::employee(w, e);
        }
    });
    Ok(())
}

pub fn get_employee(cx: Ctx<'_>) -> Result<(), XmlError> {
    let number = cx.request::<wire::GetEmployee>()?.employee_number;
    match cx.store.employees.get(&number) {
        Some(e) => {
            cx.w.leaf("result", "GET-EMPLOYEE-RESULT-OK");
            render::employee(cx.w, e);
        }
        None => cx.w.leaf("result", "GET-EMPLOYEE-RESULT-NOT-FOUND"),
    }
    Ok(())
}

pub fn get_payment_methods_v2(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<wire::GetPaymentMethodsV2>()?.request;
    let account = req.account_number;
    let types: Vec<String> = req
        .payment_method_types
        .iter()
        .map(|t| t.trim().to_owned())
        .collect();
    cx.w.elem("paymentMethodList", |w| {
        for p in &cx.store.payment_methods {
            if account.is_some_and(|a| p.account_number != Some(a)) {
                continue;
            }
            if !types.is_empty() && !types.contains(&p.method_type) {
                continue;
            }
            render::payment_method(w, p);
        }
    });
    Ok(())
}

pub fn get_vat_group_list(cx: Ctx<'_>) -> Result<(), XmlError> {
    for v in &cx.store.vat_groups {
        render::vat_group(cx.w, v);
    }
    Ok(())
}

pub fn get_turnover_groups(cx: Ctx<'_>) -> Result<(), XmlError> {
    let only_active = cx
        .request::<wire::GetTurnoverGroups>()?
        .request
        .only_active
        .unwrap_or(false);
    cx.w.elem("turnoverGroupList", |w| {
        for t in cx
            .store
            .turnover_groups
            .iter()
            .filter(|t| t.active || !only_active)
        {
            render::turnover_group(w, t);
        }
    });
    Ok(())
}
