//! The requests Ferry writes: what it manages of a record (`RelationWrite`, `ProductWrite`,
//! `OrderWrite`, ...) and one function per operation that builds the wire request of
//! [`ferry_mplusqapi::ops`]. Empty strings are left out (an absent element leaves the field
//! alone on update).
//!
//! | file | requests |
//! | --- | --- |
//! | `installation.rs` | API version, sync markers, branches, employees, payment methods, VAT and turnover groups |
//! | `relation.rs` | relations |
//! | `product.rs` | products and their articles, article groups |
//! | `stock.rs` | stock |
//! | `sale.rs` | orders and invoices |

mod installation;
mod product;
mod relation;
mod sale;
mod stock;

pub use installation::{
    get_api_version, get_branches, get_current_sync_markers, get_employee, get_employees,
    get_payment_methods_v2, get_turnover_groups, get_vat_group_list,
};
pub use product::{
    ArticleWrite, ProductQuery, ProductWrite, create_product, get_article_groups, get_products,
    new_article_group, update_article_group, update_product,
};
pub use relation::{
    RelationWrite, create_relation, find_relation_v2_by_email, get_relation, get_relations,
    update_relation,
};
pub use sale::{
    AddressWrite, LineWrite, ORDERS_BY_EXT_IDS_MAX, OrderWrite, PaymentWrite, cancel_order,
    create_order_v3, find_order, get_invoice, get_invoices, get_orders,
    get_orders_by_ext_order_ids,
};
pub use stock::{get_stock, set_stock};

/// `Some` of a non-empty string.
fn text(v: &Option<String>) -> Option<String> {
    v.as_deref().filter(|v| !v.is_empty()).map(str::to_owned)
}

/// A page by sync marker: records with a marker `>= from`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// First marker wanted (inclusive).
    pub from: i64,
    /// Most records.
    pub limit: u32,
}
impl Page {
    fn limit(self) -> i32 {
        i32::try_from(self.limit).unwrap_or(i32::MAX)
    }
}
