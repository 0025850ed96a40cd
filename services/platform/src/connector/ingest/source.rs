//! [`Source`]: a connector's side of the pipeline for one resource read behind a position
//! cursor (a sync marker), and [`drain`], the loop that reads it page by page.

use async_trait::async_trait;

use super::batch::Batch;

/// One listed page.
#[derive(Debug)]
pub struct Listing<R> {
    /// The records to convert (a source may hold back the tail of a full page whose
    /// position it cannot know complete: it comes again on the next page).
    pub records: Vec<R>,
    /// How many records the API answered (a page shorter than the limit is the last).
    pub fetched: usize,
}

/// What [`drain`] committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Events committed.
    pub observed: u64,
    /// Records parked.
    pub parked: u64,
    /// Records skipped.
    pub skipped: u64,
    /// Pages committed.
    pub pages: u64,
}

impl Drained {
    /// Adds what one committed batch held.
    pub fn add(&mut self, batch: &Batch) {
        self.observed += batch.events.len() as u64;
        self.parked += batch.parked.len() as u64;
        self.skipped += batch.skipped;
        self.pages += 1;
    }
}

/// The connector's side of one resource: list the changes after a position, convert a page
/// to the canonical model (an event, a parked record or a skip each).
#[async_trait]
pub trait Source: Send {
    /// One record as listed (its wire form and its parse).
    type Record: Send;
    /// The connector's error.
    type Error: Send;

    /// At most `limit` records after position `after`, in position order.
    async fn list(&mut self, after: i64, limit: u32) -> Result<Listing<Self::Record>, Self::Error>;

    /// Converts `records` into `batch`, reaching the highest position among them.
    async fn convert(
        &mut self,
        records: Vec<Self::Record>,
        batch: &mut Batch,
    ) -> Result<(), Self::Error>;
}

/// Where a run keeps its cursor: a batch per page, and the commit of a page with the cursor
/// at its position (through [`super::Pipeline::open`]).
#[async_trait]
pub trait Checkpoint: Send {
    /// The connector's error.
    type Error: Send;

    /// An empty batch of the run.
    fn batch(&self) -> Batch;

    /// Commits `batch` with the cursor at its position; answers the cursor now stored.
    async fn commit(&mut self, batch: Batch) -> Result<i64, Self::Error>;
}

/// Reads `source` from position `cursor` until it has nothing newer: pages of `limit`, each
/// converted and committed through `checkpoint` before the next is listed. Stops after a
/// short page, an empty one, or one whose records do not pass the cursor.
pub async fn drain<S, C>(
    source: &mut S,
    checkpoint: &mut C,
    mut cursor: i64,
    limit: u32,
) -> Result<Drained, C::Error>
where
    S: Source<Error = C::Error>,
    C: Checkpoint,
{
    let mut drained = Drained::default();
    loop {
        let listing = source.list(cursor, limit).await?;
        let mut batch = checkpoint.batch();
        source.convert(listing.records, &mut batch).await?;
        if listing.fetched == 0 || batch.position <= cursor {
            break;
        }
        drained.add(&batch);
        cursor = checkpoint.commit(batch).await?;
        if listing.fetched < limit as usize {
            break;
        }
    }
    Ok(drained)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::ingest::{Parked, Scope};
    use ferry_proto::{IntegrationId, System};

    /// Positions 1..=n; every third parked; commits recorded.
    struct Numbers {
        n: i64,
        scope: Scope,
        committed: Vec<(i64, usize, usize)>,
        cursor: i64,
    }

    #[async_trait]
    impl Source for Numbers {
        type Record = i64;
        type Error = std::convert::Infallible;

        async fn list(&mut self, after: i64, limit: u32) -> Result<Listing<i64>, Self::Error> {
            let records: Vec<i64> = (after + 1..=self.n).take(limit as usize).collect();
            Ok(Listing {
                fetched: records.len(),
                records,
            })
        }

        async fn convert(
            &mut self,
            records: Vec<i64>,
            batch: &mut Batch,
        ) -> Result<(), Self::Error> {
            for r in records {
                batch.reach(r);
                if r % 3 == 0 {
                    batch.park(Parked::observed(
                        "number",
                        r.to_string(),
                        r,
                        "divisible by 3",
                        serde_json::json!(r),
                    ));
                } else {
                    batch.skip();
                }
            }
            Ok(())
        }
    }

    #[async_trait]
    impl Checkpoint for Numbers {
        type Error = std::convert::Infallible;

        fn batch(&self) -> Batch {
            Batch::new(self.scope)
        }

        async fn commit(&mut self, batch: Batch) -> Result<i64, Self::Error> {
            self.cursor = self.cursor.max(batch.position);
            self.committed
                .push((batch.position, batch.parked.len(), batch.skipped as usize));
            Ok(self.cursor)
        }
    }

    fn numbers(n: i64) -> Numbers {
        Numbers {
            n,
            scope: Scope {
                system: System::Mpluskassa,
                integration: IntegrationId::new(),
                run: uuid::Uuid::now_v7(),
                queue: crate::bus::queues::CONNECTOR_MPLUSKASSA,
            },
            committed: Vec::new(),
            cursor: 0,
        }
    }

    async fn drain_numbers(
        source: &mut Numbers,
        cursor: i64,
        limit: u32,
    ) -> Result<Drained, std::convert::Infallible> {
        let mut checkpoint = Numbers {
            committed: Vec::new(),
            ..numbers(0)
        };
        let drained = drain(source, &mut checkpoint, cursor, limit).await;
        source.committed = checkpoint.committed;
        drained
    }

    #[tokio::test]
    async fn drain_commits_page_by_page_until_a_short_page() {
        let mut source = numbers(10);
        let drained = drain_numbers(&mut source, 0, 4).await.expect("infallible");
        assert_eq!(source.committed, vec![(4, 1, 3), (8, 1, 3), (10, 1, 1)]);
        assert_eq!(
            drained,
            Drained {
                observed: 0,
                parked: 3,
                skipped: 7,
                pages: 3
            }
        );
    }

    #[tokio::test]
    async fn drain_from_the_end_commits_nothing() {
        let mut source = numbers(8);
        let drained = drain_numbers(&mut source, 8, 4).await.expect("infallible");
        assert!(source.committed.is_empty());
        assert_eq!(drained, Drained::default());
        // An exactly full last page is followed by an empty one.
        let drained = drain_numbers(&mut source, 0, 4).await.expect("infallible");
        assert_eq!(drained.pages, 2);
    }
}
