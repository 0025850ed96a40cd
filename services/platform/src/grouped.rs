//! Work done in groups by one task: requests that arrive while a group runs form the next one
//! (at most `max`), so idle a request runs at once and under load the groups grow by
//! themselves. Used for group commits ([`crate::bus::group_commit`], the orchestrator's saga
//! inputs): one transaction per group instead of one per request.
//!
//! [`each_alone_on_failure`] is the failure rule those share: a group that fails is run again
//! request by request, so one bad request fails only itself.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

/// A handle on the task running groups of `I`, answering an `O` each.
pub struct Grouped<I, O> {
    requests: mpsc::UnboundedSender<(I, oneshot::Sender<O>)>,
}

impl<I, O> Clone for Grouped<I, O> {
    fn clone(&self) -> Self {
        Self {
            requests: self.requests.clone(),
        }
    }
}

impl<I, O> std::fmt::Debug for Grouped<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouped").finish_non_exhaustive()
    }
}

impl<I: Send + 'static, O: Send + 'static> Grouped<I, O> {
    /// Starts the task: `run` takes a group (at most `max` requests, in arrival order) and
    /// answers one `O` per request, in order. The task ends when the last handle is dropped.
    pub fn spawn<F, Fut>(max: usize, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<O>> + Send,
    {
        let (requests, mut queue) = mpsc::unbounded_channel::<(I, oneshot::Sender<O>)>();
        let max = max.max(1);
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(max);
            while queue.recv_many(&mut group, max).await > 0 {
                let (inputs, waiters): (Vec<I>, Vec<_>) = group.drain(..).unzip();
                let answers = run(inputs).await;
                for (waiter, answer) in waiters.into_iter().zip(answers) {
                    let _ = waiter.send(answer);
                }
            }
        });
        Self { requests }
    }

    /// Runs `input` in the next group; `None` when the task has stopped.
    pub async fn run(&self, input: I) -> Option<O> {
        let (answer, answered) = oneshot::channel();
        self.requests.send((input, answer)).ok()?;
        answered.await.ok()
    }
}

/// Runs `items` as one group with `run`; when that fails, each item alone, so a failing item
/// fails only itself. One result per item, in order.
pub async fn each_alone_on_failure<'a, I, T, E, F, Fut>(items: &'a [I], run: F) -> Vec<Result<T, E>>
where
    F: Fn(&'a [I]) -> Fut,
    Fut: Future<Output = Result<Vec<T>, E>>,
    E: std::fmt::Display,
{
    match run(items).await {
        Ok(done) => done.into_iter().map(Ok).collect(),
        Err(e) if items.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::debug!(error = %e, items = items.len(), "a group failed; running its items one by one");
            let mut results = Vec::with_capacity(items.len());
            for item in items {
                results.push(
                    run(std::slice::from_ref(item))
                        .await
                        .map(|mut one| one.remove(0)),
                );
            }
            results
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_group_runs_its_items_alone() {
        let run = |items: &[i32]| {
            let items = items.to_vec();
            async move {
                if items.contains(&3) && items.len() > 1 {
                    return Err("a group with 3".to_owned());
                }
                if items == [3] {
                    return Err("3 alone".to_owned());
                }
                Ok(items.iter().map(|i| i * 10).collect::<Vec<_>>())
            }
        };
        assert_eq!(
            each_alone_on_failure(&[1, 2], run).await,
            vec![Ok(10), Ok(20)]
        );
        assert_eq!(
            each_alone_on_failure(&[1, 3, 4], run).await,
            vec![Ok(10), Err("3 alone".to_owned()), Ok(40)]
        );
    }

    #[tokio::test]
    async fn requests_arriving_together_share_a_group() {
        let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let grouped = Grouped::spawn(4, move |group: Vec<u32>| {
            seen.lock().expect("sizes").push(group.len());
            async move { group.into_iter().map(|i| i + 1).collect::<Vec<_>>() }
        });
        let answers = futures::future::join_all((0..10).map(|i| grouped.run(i))).await;
        assert_eq!(answers, (1..=10).map(Some).collect::<Vec<_>>());
        let sizes = sizes.lock().expect("sizes").clone();
        assert_eq!(sizes.iter().sum::<usize>(), 10);
        assert!(sizes.iter().all(|s| *s <= 4), "{sizes:?}");
        assert!(sizes.len() < 10, "some requests shared a group: {sizes:?}");
    }
}
