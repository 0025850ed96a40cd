//! What an installation says of itself: its API version, its current sync markers, and its
//! reference data (branches and workplaces, employees, payment methods, VAT groups and
//! their scale, turnover groups).

use ferry_mplusqapi::WireError;
use ferry_mplusqapi::ops;
use ferry_mplusqapi::records as wire;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::{required, string};

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
