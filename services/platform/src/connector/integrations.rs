//! [`Integrations`]: the integrations a connector serves, and which of them are live.
//!
//! A connector serves the integrations of its configuration (`[[integrations]]`, read through
//! a [`ConnectionSource`], always live) and those of the integration registry
//! ([`crate::registry`]), which also pauses and resumes them. A served integration is the
//! connector's own type (its connection settings, its API client, its caches); this set holds
//! them by id and knows which are live. Only live ones are polled and get their commands
//! executed; a draft or paused one keeps its client and cursors, so changes made meanwhile
//! are read once it is live again.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use ferry_proto::IntegrationId;

use crate::registry::InactiveSet;

/// One integration as a connector serves it.
pub trait Served: Send + Sync + 'static {
    /// The integration's id.
    fn id(&self) -> IntegrationId;
}

/// A connection as a connector's configuration lists it (`[[integrations]]`).
pub trait FromConfig<T>: Sized {
    /// The connection of one configured integration (already validated).
    fn from_config(config: &T) -> Result<Self, crate::service::ServiceError>;
}

/// Where a connector's connections `C` come from.
#[async_trait]
pub trait ConnectionSource<C>: Send + Sync {
    /// Every connection to serve now.
    async fn connections(&self) -> Result<Vec<C>, crate::service::ServiceError>;
}

/// The connections listed in the configuration.
pub struct ConfigSource<T>(pub Vec<T>);

#[async_trait]
impl<T, C> ConnectionSource<C> for ConfigSource<T>
where
    T: Send + Sync,
    C: FromConfig<T> + Send,
{
    async fn connections(&self) -> Result<Vec<C>, crate::service::ServiceError> {
        self.0.iter().map(C::from_config).collect()
    }
}

/// The integrations a connector serves (each an `I`), and which of them are live.
pub struct Integrations<I> {
    served: RwLock<HashMap<IntegrationId, Arc<I>>>,
    /// Served but not live (draft or paused in the registry).
    inactive: InactiveSet,
}

impl<I> Default for Integrations<I> {
    fn default() -> Self {
        Self {
            served: RwLock::default(),
            inactive: InactiveSet::default(),
        }
    }
}

impl<I: Served> Integrations<I> {
    /// Starts (or goes on) serving `integration`, replacing the one with its id.
    pub fn insert(&self, integration: Arc<I>) {
        self.write().insert(integration.id(), integration);
    }

    /// Stops serving an integration and forgets whether it was live.
    pub fn stop_serving(&self, id: IntegrationId) {
        self.write().remove(&id);
        self.set_active(id, true);
    }

    /// The integration, if served.
    pub fn get(&self, id: IntegrationId) -> Option<Arc<I>> {
        self.read().get(&id).cloned()
    }

    /// Marks an integration live (`true`: polled, commands executed) or not (draft, paused:
    /// not polled, commands deferred).
    pub fn set_active(&self, id: IntegrationId, active: bool) {
        self.inactive.set_live(id, active);
    }

    /// Whether an integration is live (one never marked is: those of the configuration).
    pub fn is_active(&self, id: IntegrationId) -> bool {
        self.inactive.is_live(id)
    }

    /// Every live integration (the ones to poll), by id.
    pub fn active(&self) -> Vec<Arc<I>> {
        let mut all = self.all();
        all.retain(|i| self.is_active(i.id()));
        all
    }

    /// The ids of the live integrations, in order.
    pub fn active_ids(&self) -> Vec<IntegrationId> {
        self.active().iter().map(|i| i.id()).collect()
    }

    /// Every integration served, by id.
    pub fn all(&self) -> Vec<Arc<I>> {
        let mut all: Vec<_> = self.read().values().cloned().collect();
        all.sort_by_key(|i| i.id());
        all
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<IntegrationId, Arc<I>>> {
        self.served.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<IntegrationId, Arc<I>>> {
        self.served.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    struct Shop(IntegrationId);

    impl Served for Shop {
        fn id(&self) -> IntegrationId {
            self.0
        }
    }

    impl FromConfig<u32> for IntegrationId {
        fn from_config(config: &u32) -> Result<Self, crate::service::ServiceError> {
            if *config == 0 {
                return Err("no integration 0".into());
            }
            Ok(IntegrationId::new())
        }
    }

    #[test]
    fn paused_integrations_are_served_but_not_active_until_resumed_or_stopped() {
        let set = Integrations::default();
        let (a, b) = (IntegrationId::new(), IntegrationId::new());
        set.insert(Arc::new(Shop(b)));
        set.insert(Arc::new(Shop(a)));
        let mut ids = vec![a, b];
        ids.sort();
        let all: Vec<_> = set.all().iter().map(|i| i.id()).collect();
        assert_eq!(all, ids);
        assert_eq!(set.active_ids(), ids);

        set.set_active(a, false);
        assert!(!set.is_active(a));
        assert!(set.get(a).is_some());
        assert_eq!(set.active_ids(), vec![b]);
        assert_eq!(set.all().len(), 2);

        // Stopped: no longer served, and live again if served anew.
        set.stop_serving(a);
        assert!(set.get(a).is_none());
        assert!(set.is_active(a));
        assert_eq!(set.all().len(), 1);
        set.set_active(b, false);
        set.set_active(b, true);
        assert_eq!(set.active_ids(), vec![b]);
    }

    #[tokio::test]
    async fn the_configuration_source_converts_each_entry_or_fails() {
        let ok: Vec<IntegrationId> = ConfigSource(vec![1u32, 2]).connections().await.unwrap();
        assert_eq!(ok.len(), 2);
        let bad: Result<Vec<IntegrationId>, crate::service::ServiceError> =
            ConfigSource(vec![1u32, 0]).connections().await;
        assert!(bad.is_err());
    }
}
