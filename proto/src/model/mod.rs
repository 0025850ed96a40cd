//! Canonical models: the system-neutral shape of customers, products, categories,
//! stock levels and orders that connectors produce and consume.

mod address;
mod category;
mod customer;
mod order;
mod product;
mod stock;
mod target_order;

pub use address::{Address, StreetParts, split_street_line};
pub use category::{Category, CategoryRef};
pub use customer::{ContactPerson, Customer, CustomerKind, SourceRef};
pub use order::{
    MAX_ORDER_LINES, Order, OrderError, OrderLine, OrderLines, OrderLinesError, OrderStatus,
    OrderTotals, OrderType,
};
pub use product::{Attribute, Product, ProductKind, Variant};
pub use stock::StockLevel;
pub use target_order::{CustomerPlan, EmployeeNumber, LineCodes, TargetOrder, TargetOrderError};
