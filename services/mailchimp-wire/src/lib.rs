//! MailChimp's Marketing API v3 on the wire: the resources Ferry reads and writes, as serde
//! types shared by the connector (`ferry-connector-mailchimp`) and the sandbox
//! (`ferry-sandbox`).
//!
//! | module | what |
//! | --- | --- |
//! | [`ecommerce`] | store, customer, product with variants and images, order with lines, addresses |
//! | [`lists`] | list members with merge fields and tags |
//! | [`webhooks`] | list webhook registrations and delivered events |
//! | [`problem`] | the problem+json error body |
//! | [`lenient`] | reading as MailChimp sends: ids and amounts as strings or numbers, blank = absent |
//!
//! Field names and optionality follow the reference specification
//! (`specs/mailchimp/marketing-openapi-3.0.81.json` and its NOTES.md). Reading ignores unknown
//! fields and reads a field of an unexpected type as absent (the caller's conversion says
//! what is missing); writing leaves absent optional fields out.

pub mod ecommerce;
pub mod lenient;
pub mod lists;
pub mod problem;
pub mod webhooks;

pub use ecommerce::{
    Address, Customer, Image, Order, OrderAddress, OrderLine, Product, Store, Variant,
};
pub use lenient::{Amount, read};
pub use lists::{Member, MergeAddress, MergeFields, MergeValue, Tag};
pub use problem::{FieldError, Problem};
pub use webhooks::{
    ListWebhook, ListWebhooks, WebhookEvent, WebhookEventType, WebhookEvents, WebhookSources,
};
