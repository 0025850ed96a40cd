//! [`PollMemory`]: what a poll owner remembers of one integration between its polls, so an
//! idle poll reads nothing from the database.
//!
//! The owner of an integration's poll lease is the only writer of its change-detection state
//! (cursors, versions seen): polls and operators' syncs both run on it, under its fence
//! ([`super::PollScheduler::request`]). What it wrote, it can remember instead of reading it
//! back at every poll. That holds for one lease generation only: another replica may have
//! polled the integration between two of this replica's leases, so a poll under a new
//! generation starts with nothing remembered (and reads, then remembers, the stored state);
//! a sync outside any fenced poll (an operator's sync of an integration no replica polls)
//! forgets everything, since it is not the owner's.
//!
//! The memory lives beside the connector's integration (typically inside the mutex that
//! serializes its syncs), so it goes when the integration goes (deleted, GDPR erasure).

use super::lease::current_fence;

/// One integration's memory `T` between polls, valid for the lease generation it was built
/// under.
#[derive(Debug, Default)]
pub struct PollMemory<T> {
    generation: Option<i64>,
    value: T,
}

impl<T: Default> PollMemory<T> {
    /// The memory for the sync running on this task: what earlier polls of the same lease
    /// generation left; a fresh `T` under a new generation; `None` outside a fenced poll (and
    /// everything remembered is forgotten: someone other than a poll owner is writing).
    pub fn current(&mut self) -> Option<&mut T> {
        match current_fence().map(|fence| fence.generation()) {
            Some(generation) => {
                if self.generation != Some(generation) {
                    self.value = T::default();
                    self.generation = Some(generation);
                }
                Some(&mut self.value)
            }
            None => {
                self.forget();
                None
            }
        }
    }

    /// Forgets everything remembered.
    pub fn forget(&mut self) {
        self.generation = None;
        self.value = T::default();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::connector::poll::{PollLeases, with_fence};
    use ferry_proto::{IntegrationId, System};
    use uuid::Uuid;

    fn fence(generation: i64) -> crate::connector::poll::Fence {
        let leases = PollLeases::new(
            System::Mailchimp,
            Uuid::from_u128(7),
            std::time::Duration::from_secs(15),
        );
        leases.fence(
            IntegrationId::from_uuid(Uuid::from_u128(1)).unwrap(),
            generation,
        )
    }

    #[tokio::test]
    async fn kept_within_a_generation_forgotten_across_and_outside_polls() {
        let mut memory = PollMemory::<Vec<u32>>::default();
        with_fence(fence(1), async {
            memory.current().unwrap().push(1);
        })
        .await;
        with_fence(fence(1), async {
            assert_eq!(memory.current().unwrap(), &vec![1], "same lease: kept");
            memory.current().unwrap().push(2);
        })
        .await;
        with_fence(fence(2), async {
            assert!(memory.current().unwrap().is_empty(), "a new lease: afresh");
            memory.current().unwrap().push(3);
        })
        .await;
        assert!(memory.current().is_none(), "outside a poll: none");
        with_fence(fence(2), async {
            assert!(
                memory.current().unwrap().is_empty(),
                "a sync outside a poll wrote: forgotten"
            );
        })
        .await;
    }
}
