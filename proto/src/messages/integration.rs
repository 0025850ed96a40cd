//! Ferry-internal messages about integrations (tenants).

use super::impl_message;
use crate::routing::System;
use crate::types::CurrencyCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Lifecycle state of an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationState {
    /// Being set up; nothing syncs.
    Draft,
    /// Syncing.
    Live,
    /// Temporarily stopped by an operator.
    Paused,
    /// Removed; its data is to be erased.
    Deleted,
}

/// A data flow between the two systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Customers.
    Customers,
    /// Products (with variants).
    Products,
    /// Categories.
    Categories,
    /// Stock levels.
    Stock,
    /// Orders.
    Orders,
}

/// Which way a flow runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From MailChimp to MplusKASSA.
    MailchimpToMpluskassa,
    /// From MplusKASSA to MailChimp.
    MpluskassaToMailchimp,
}

impl Direction {
    /// The system records come from.
    pub fn source(self) -> System {
        match self {
            Self::MailchimpToMpluskassa => System::Mailchimp,
            Self::MpluskassaToMailchimp => System::Mpluskassa,
        }
    }

    /// The system records go to.
    pub fn target(self) -> System {
        match self {
            Self::MailchimpToMpluskassa => System::Mpluskassa,
            Self::MpluskassaToMailchimp => System::Mailchimp,
        }
    }
}

/// One flow's switch and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct FlowSetting {
    /// The flow.
    pub flow: Flow,
    /// Its direction.
    pub direction: Direction,
    /// Whether it runs.
    pub enabled: bool,
}

/// The status a MplusKASSA relation gets as a new audience member when it has not consented
/// to marketing e-mail (with consent: `subscribed`). Never `subscribed` without consent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AudienceStatus {
    /// A member who gets transactional e-mail only (MailChimp's status for e-commerce
    /// customers who did not opt in); the default.
    #[default]
    Transactional,
    /// Double opt-in: MailChimp sends a confirmation e-mail; subscribed once confirmed.
    Pending,
}

impl AudienceStatus {
    /// MailChimp's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transactional => "transactional",
            Self::Pending => "pending",
        }
    }
}

/// A MailChimp connection as the registry publishes it: settings in clear, the API key only
/// sealed (see `ferry_platform::secrets`, context `integration/<id>/mailchimp.api_key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MailchimpConnectionInfo {
    /// The API key, sealed (`v1.<kid>.<nonce>.<ciphertext>`); never the key itself.
    pub api_key_sealed: String,
    /// API base URL override (the sandbox); absent: the key's data center.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The audience (list) id.
    pub list_id: String,
    /// The e-commerce store id.
    pub store_id: String,
    /// The store's name (used when Ferry creates the store).
    pub store_name: String,
    /// The store's currency (ISO 4217).
    pub currency: CurrencyCode,
    /// Customers written to MailChimp also become audience members, new ones with this status
    /// when they have not consented (the mapper's `customers.audience`); absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_members: Option<AudienceStatus>,
}

/// An MplusKASSA connection as the registry publishes it: settings in clear, the secret only
/// sealed (context `integration/<id>/mpluskassa.secret`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MpluskassaConnectionInfo {
    /// The SOAP endpoint.
    pub endpoint: String,
    /// The API ident.
    pub ident: String,
    /// The API secret, sealed; never the secret itself.
    pub secret_sealed: String,
    /// Branch for stock and orders.
    pub branch: i32,
    /// Workplace for orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workplace: Option<i32>,
}

/// Event: an integration was created, changed (state, flows or connections) or deleted
/// (state [`IntegrationState::Deleted`]: its credentials are gone and every service erases
/// its data). The integration id is the envelope's. Credentials travel only sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationChanged {
    /// Always [`System::Ferry`].
    pub system: System,
    /// The new state.
    pub state: IntegrationState,
    /// The flows and their directions.
    pub flows: Vec<FlowSetting>,
    /// Revision of the integration's configuration, increasing with every change, so
    /// consumers can ignore stale notifications.
    pub revision: u64,
    /// The integration's name (absent on deletion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The MailChimp connection (absent on deletion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailchimp: Option<MailchimpConnectionInfo>,
    /// The MplusKASSA connection (absent on deletion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpluskassa: Option<MpluskassaConnectionInfo>,
}
impl_message!(
    IntegrationChanged,
    "integration.changed",
    version = 1,
    Event,
    system = system,
    key = |_m| None
);

impl IntegrationChanged {
    /// A change notification (system Ferry).
    pub fn new(state: IntegrationState, flows: Vec<FlowSetting>, revision: u64) -> Self {
        Self {
            system: System::Ferry,
            state,
            flows,
            revision,
            name: None,
            mailchimp: None,
            mpluskassa: None,
        }
    }

    /// The enabled flows.
    pub fn enabled_flows(&self) -> impl Iterator<Item = &FlowSetting> {
        self.flows.iter().filter(|f| f.enabled)
    }
}
