//! Ferry-internal messages about integrations (tenants).

use super::impl_message;
use crate::routing::System;
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

/// Event: an integration was created, changed state or changed its flows. The
/// integration id is the envelope's. Carries no credentials or settings values.
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
        }
    }

    /// The enabled flows.
    pub fn enabled_flows(&self) -> impl Iterator<Item = &FlowSetting> {
        self.flows.iter().filter(|f| f.enabled)
    }
}
