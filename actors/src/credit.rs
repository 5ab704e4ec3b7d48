//! Credit-based backpressure (design §2): the fetcher takes one batch credit and the batch's
//! XDR bytes (as decoded, not as compressed) in byte credits before it reads on; both return
//! when the archive has taken the batch into its buffer (itself bounded by the rotation
//! policy) or the batch is dropped (a rewind discards in-flight batches). Mailboxes are
//! unbounded, so this is what keeps memory flat however slow the archive is: a slow archive
//! stops taking batches and the fetcher waits.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Byte credits are counted in KiB so the largest budget fits a semaphore's permit count.
const BYTES_PER_UNIT: usize = 1024;

#[derive(Debug, Clone)]
pub struct Credits {
    batches: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    max_batches: usize,
    max_units: u32,
}

impl Credits {
    pub fn new(max_in_flight_batches: usize, max_in_flight_bytes: usize) -> Self {
        let max_units = (max_in_flight_bytes / BYTES_PER_UNIT).clamp(1, u32::MAX as usize) as u32;
        Credits {
            batches: Arc::new(Semaphore::new(max_in_flight_batches)),
            bytes: Arc::new(Semaphore::new(max_units as usize)),
            max_batches: max_in_flight_batches,
            max_units,
        }
    }

    /// Waits for a batch credit.
    pub async fn batch(&self) -> BatchCredit {
        let permit = self.batches.clone().acquire_owned().await.expect("credit semaphores are never closed");
        BatchCredit { batch: permit }
    }

    /// Waits for `bytes` of byte credit (a batch larger than the whole budget takes all of it,
    /// so it still goes through, alone).
    pub async fn bytes(&self, batch: BatchCredit, bytes: usize) -> Credit {
        let units = (bytes.div_ceil(BYTES_PER_UNIT) as u32).clamp(1, self.max_units);
        let bytes =
            self.bytes.clone().acquire_many_owned(units).await.expect("credit semaphores are never closed");
        Credit { _batch: batch.batch, _bytes: bytes, units }
    }

    /// Batches currently in flight.
    pub fn batches_in_flight(&self) -> usize {
        self.max_batches - self.batches.available_permits()
    }

    /// Bytes currently in flight.
    pub fn bytes_in_flight(&self) -> usize {
        (self.max_units as usize - self.bytes.available_permits()) * BYTES_PER_UNIT
    }
}

/// A batch credit taken before reading, waiting for its byte credit.
pub struct BatchCredit {
    batch: OwnedSemaphorePermit,
}

/// The credit of one batch in flight. Dropping it returns the credit.
pub struct Credit {
    _batch: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
    units: u32,
}

impl std::fmt::Debug for Credit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credit({} KiB)", self.units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn credits_bound_batches_and_bytes_and_return_on_drop() {
        let credits = Credits::new(2, 10 * 1024);
        let a = credits.bytes(credits.batch().await, 4 * 1024).await;
        let b = credits.bytes(credits.batch().await, 6 * 1024).await;
        assert_eq!((credits.batches_in_flight(), credits.bytes_in_flight()), (2, 10 * 1024));
        let wait = std::time::Duration::from_millis(50);
        assert!(tokio::time::timeout(wait, credits.batch()).await.is_err(), "no batch credit left");
        drop(a);
        drop(b);
        assert_eq!((credits.batches_in_flight(), credits.bytes_in_flight()), (0, 0));
        // A batch larger than the whole byte budget takes all of it and still goes through.
        let big = credits.bytes(credits.batch().await, 100 * 1024).await;
        assert_eq!(credits.bytes_in_flight(), 10 * 1024);
        drop(big);
    }
}
