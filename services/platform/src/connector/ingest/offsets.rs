//! The pages of a counted collection read by offset (an API that answers a page and the
//! collection's total, such as MailChimp's `offset`/`count`/`total_items`): once the first
//! page told the total, [`pages`] fetches the rest concurrently, each page by a task of its
//! own (so fetching goes on while the caller commits earlier pages), at most `width` at once,
//! and yields them in the order of [`offsets`].
//!
//! **Newest first.** Where the API keeps its records in creation order (oldest first, an
//! update leaving a record in place), the records created since the last read are at the
//! end: [`Order::NewestFirst`] reads the last pages first, so a change detection that scans
//! a large collection finds new records one round trip after the first page, not after the
//! whole scan. It reads every page either way, so it misses nothing when the order is
//! another one; it only finds new records later then.

use std::future::Future;

use futures::StreamExt;
use futures::stream::BoxStream;

/// The order of the pages after the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By offset, ascending.
    Ascending,
    /// The last page first (the newest records, in a collection kept in creation order).
    NewestFirst,
}

/// The offsets of the pages of `size` after a first page of `first` records, in a collection
/// of `total`, in `order`. Nothing when the first page was empty.
pub fn offsets(first: u64, total: u64, size: u32, order: Order) -> Vec<u64> {
    if first == 0 || size == 0 {
        return Vec::new();
    }
    let mut offsets: Vec<u64> = (first..total).step_by(size as usize).collect();
    if order == Order::NewestFirst {
        offsets.reverse();
    }
    offsets
}

/// One fetched page: its offset and what the fetch answered (or why its task died).
pub type Fetched<P, E> = (u64, Result<Result<P, E>, tokio::task::JoinError>);

/// The pages at `offsets`, each fetched by `fetch(offset)` in a task of its own, at most
/// `width` at once, yielded in the order of `offsets`.
pub fn pages<P, E, F, Fut>(
    offsets: Vec<u64>,
    width: usize,
    fetch: F,
) -> BoxStream<'static, Fetched<P, E>>
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<P, E>> + Send + 'static,
    P: Send + 'static,
    E: Send + 'static,
{
    futures::stream::iter(offsets)
        .map(move |offset| {
            let task = tokio::spawn(fetch(offset));
            async move { (offset, task.await) }
        })
        .buffered(width.max(1))
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn offsets_cover_the_rest_of_the_collection_once() {
        assert_eq!(
            offsets(1000, 3500, 1000, Order::Ascending),
            vec![1000, 2000, 3000]
        );
        assert_eq!(
            offsets(1000, 3500, 1000, Order::NewestFirst),
            vec![3000, 2000, 1000]
        );
        assert!(offsets(1000, 1000, 1000, Order::NewestFirst).is_empty());
        assert!(offsets(0, 3500, 1000, Order::Ascending).is_empty());
        // A first page shorter than the page size (the API's own cap) continues where it
        // ended.
        assert_eq!(offsets(10, 25, 10, Order::Ascending), vec![10, 20]);
    }

    #[tokio::test]
    async fn pages_come_in_the_given_order_at_most_width_at_once() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (r, p) = (running.clone(), peak.clone());
        let got: Vec<u64> = pages(vec![40, 30, 20, 10, 0], 2, move |offset| {
            let (r, p) = (r.clone(), p.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                // Later offsets answer sooner: the order is still the given one.
                tokio::time::sleep(std::time::Duration::from_millis(offset / 2)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ()>(offset)
            }
        })
        .map(|(offset, page)| {
            assert_eq!(page.expect("task").expect("page"), offset);
            offset
        })
        .collect()
        .await;
        assert_eq!(got, vec![40, 30, 20, 10, 0]);
        assert!(
            peak.load(Ordering::SeqCst) <= 2,
            "never more than width at once"
        );
    }
}
