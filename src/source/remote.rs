//! A SEP-54 data store in object storage (S3, GCS, `file://`) as a source: objects are fetched
//! ahead of the stream, in parallel, and handed on in ledger order.
//!
//! Read-ahead is bounded in bytes, not objects (objects grew ~700x over the network's
//! history): requests are started while the bytes already fetched and waiting, plus the
//! running mean object size for each request in flight, stay under `max_prefetch_bytes`. How
//! many requests run at once is an [`Aimd`] window (cap `max_concurrent_fetches`) shared by
//! every incarnation of the source, so a restart after an outage resumes at the reduced
//! concurrency instead of hammering the store again.
//!
//! A missing object is the tip in follow mode ([`SourceRead::NotYet`]), the end of a bounded
//! store when no later object exists, and a hole ([`SourceError::Missing`]) when one does.
//! A request error (after object_store's own brief retries) fails the read with its class;
//! the supervisor decides. The source's methods block: call them off the async workers (the
//! fetch actor does, on `spawn_blocking`); the requests run on the runtime of the handle the
//! source was made with.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::{LedgerSource, RawBatch, RawObject, SourceError, SourceRead};
use crate::datastore::{Edge, FetchedObject, ObjectDataStore, ObjectName};
use crate::decode::Framing;
use crate::network::Network;
use crate::range::LedgerRange;
use crate::resilience::{Aimd, AimdChange};

/// What every incarnation of a stream's source shares: the store and the concurrency window.
#[derive(Debug, Clone)]
pub struct RemoteStore {
    pub store: Arc<ObjectDataStore>,
    pub window: Arc<Mutex<Aimd>>,
    pub max_prefetch_bytes: u64,
}

impl RemoteStore {
    pub fn new(store: ObjectDataStore, max_concurrent_fetches: u32, max_prefetch_bytes: u64) -> Self {
        RemoteStore {
            store: Arc::new(store),
            window: Arc::new(Mutex::new(Aimd::new(max_concurrent_fetches))),
            max_prefetch_bytes,
        }
    }

    /// The current window (requests allowed in flight).
    pub fn concurrency(&self) -> u32 {
        self.window.lock().map_or(1, |w| w.window())
    }
}

type Outcome = (Result<Option<FetchedObject>, object_store::Error>, Duration);

/// A request started ahead of the stream, for the object whose first ledger is `start`.
struct Prefetch {
    start: u32,
    task: JoinHandle<Outcome>,
}

pub struct RemoteDataStoreSource {
    shared: RemoteStore,
    handle: Handle,
    network: Network,
    follow: bool,
    queue: VecDeque<Prefetch>,
    /// First ledger of the next object to request.
    schedule_from: Option<u32>,
    /// Don't request objects past the one holding this ledger (the stream's last).
    schedule_until: u32,
    /// Bytes of finished requests not yet handed on.
    waiting_bytes: Arc<AtomicU64>,
    /// Running mean object size, for the requests in flight.
    mean_object_bytes: f64,
    /// The last object handed on, when the batch ended inside it (the next read starts there).
    carry: Option<(u32, FetchedObject)>,
    tip: Option<u32>,
    listed: bool,
    /// Objects requested past the tip: 1 after a miss, doubled each time one past the tip is
    /// found (the store is growing faster than we read), up to the window.
    ahead: u32,
}

impl RemoteDataStoreSource {
    /// `handle` runs the requests; `network` overrides the manifest's passphrase.
    pub fn new(shared: RemoteStore, handle: Handle, network: Option<Network>, follow: bool) -> Self {
        let network = network.unwrap_or_else(|| shared.store.manifest().network());
        RemoteDataStoreSource {
            shared,
            handle,
            network,
            follow,
            queue: VecDeque::new(),
            schedule_from: None,
            schedule_until: u32::MAX,
            waiting_bytes: Arc::new(AtomicU64::new(0)),
            mean_object_bytes: 0.0,
            carry: None,
            tip: None,
            listed: false,
            ahead: 1,
        }
    }

    /// The first or last object of the store, by listing (a blocking call, like every read).
    fn edge_object(&self, edge: Edge) -> Result<Option<ObjectName>, SourceError> {
        let store = self.shared.store.clone();
        let listed = self.handle.block_on(async move { store.edge_object(edge).await });
        listed.map_err(|source| SourceError::Store {
            what: format!("{}: listing", self.shared.store.location().url()),
            source,
        })
    }

    /// Drops every request in flight (a seek, or a missing object that makes later ones moot).
    fn clear(&mut self) {
        for prefetch in self.queue.drain(..) {
            prefetch.task.abort();
        }
        self.waiting_bytes.store(0, Ordering::Relaxed);
        self.schedule_from = None;
    }

    /// Starts requests while the window and the byte budget allow.
    fn fill(&mut self) {
        let Some(mut start) = self.schedule_from else { return };
        let layout = self.shared.store.layout();
        let window = self.shared.concurrency() as usize;
        // Past the tip every request is a miss until the network closes the next ledger: run
        // `ahead` objects past it (one object when no tip is known).
        let until = match self.tip {
            Some(tip) => {
                let ahead = u64::from(self.ahead) * u64::from(layout.ledgers_per_batch);
                self.schedule_until.min(u32::try_from(u64::from(tip) + ahead).unwrap_or(u32::MAX))
            }
            None => self.schedule_until.min(start),
        };
        // The object at the head is always requested, even past the limit (a stream may start
        // beyond the tip it listed, waiting for the network to get there).
        while self.queue.len() < window && (start <= until || self.queue.is_empty()) {
            let in_flight_estimate = self.mean_object_bytes * self.queue.len() as f64;
            let budget = self.shared.max_prefetch_bytes as f64;
            if !self.queue.is_empty()
                && self.waiting_bytes.load(Ordering::Relaxed) as f64
                    + in_flight_estimate
                    + self.mean_object_bytes
                    > budget
            {
                break;
            }
            let store = self.shared.store.clone();
            let waiting = self.waiting_bytes.clone();
            let task = self.handle.spawn(async move {
                let started = Instant::now();
                let result = store.fetch(start).await;
                if let Ok(Some(object)) = &result {
                    waiting.fetch_add(object.bytes.len() as u64, Ordering::Relaxed);
                }
                (result, started.elapsed())
            });
            self.queue.push_back(Prefetch { start, task });
            let end = layout.batch_end(start);
            if end == u32::MAX {
                self.schedule_from = None;
                return;
            }
            start = end + 1;
        }
        self.schedule_from = Some(start);
    }

    /// The next object in order, from the carry or the head of the queue.
    fn next_object(&mut self, start: u32) -> Result<Option<FetchedObject>, SourceError> {
        if let Some((carried, object)) = self.carry.take()
            && carried == start
        {
            return Ok(Some(object));
        }
        if self.queue.front().is_none_or(|p| p.start != start) {
            self.clear();
            self.schedule_from = Some(start);
        }
        self.fill();
        let prefetch = self.queue.pop_front().expect("fill starts the request for `start`");
        let (result, latency) = self.handle.block_on(prefetch.task).map_err(|e| SourceError::Store {
            what: format!("ledger {start}"),
            source: object_store::Error::JoinError { source: e },
        })?;
        let change = {
            let mut window = self.shared.window.lock().unwrap_or_else(|p| p.into_inner());
            match &result {
                Ok(_) => window.on_success(latency),
                Err(_) => window.on_error(),
            }
        };
        if change == AimdChange::Decreased {
            tracing::debug!(
                window = self.shared.concurrency(),
                latency_ms = latency.as_millis() as u64,
                "fetch concurrency reduced"
            );
        }
        match result {
            Ok(Some(object)) => {
                self.waiting_bytes.fetch_sub(object.bytes.len() as u64, Ordering::Relaxed);
                let size = object.bytes.len() as f64;
                self.mean_object_bytes = if self.mean_object_bytes == 0.0 {
                    size
                } else {
                    self.mean_object_bytes * 0.9 + size * 0.1
                };
                self.fill();
                Ok(Some(object))
            }
            Ok(None) => {
                self.clear();
                self.ahead = 1;
                Ok(None)
            }
            Err(source) => {
                self.clear();
                let key = self.shared.store.layout().object_key(start);
                Err(SourceError::Store { what: self.shared.store.location().display(&key), source })
            }
        }
    }

    fn last_object_end(&mut self) -> Result<Option<(u32, u32)>, SourceError> {
        let last = self.edge_object(Edge::Last)?;
        self.listed = true;
        let last = last.map(|name| (name.first, name.last));
        self.tip = self.tip.max(last.map(|(_, end)| end));
        Ok(last)
    }
}

impl Drop for RemoteDataStoreSource {
    fn drop(&mut self) {
        self.clear();
    }
}

impl LedgerSource for RemoteDataStoreSource {
    fn network(&self) -> Network {
        self.network.clone()
    }

    fn first_available(&mut self) -> Result<Option<u32>, SourceError> {
        Ok(self.edge_object(Edge::First)?.map(|name| name.first))
    }

    fn read_within(
        &mut self,
        next: u32,
        last: Option<u32>,
        max_ledgers: u32,
        max_bytes: usize,
    ) -> Result<SourceRead, SourceError> {
        if !self.listed {
            self.last_object_end()?; // once per source, for the lag and the read-ahead limit
        }
        let layout = self.shared.store.layout();
        self.schedule_until = last.unwrap_or(u32::MAX);
        let limit = last.unwrap_or(u32::MAX).min(next.saturating_add(max_ledgers.max(1) - 1));
        let mut objects = Vec::new();
        let mut bytes = 0usize;
        let mut cursor = next;
        let mut covered_last = None;
        loop {
            let start = layout.batch_start(cursor);
            let Some(object) = self.next_object(start)? else {
                if covered_last.is_some() {
                    break;
                }
                if self.follow {
                    return Ok(SourceRead::NotYet);
                }
                return match self.last_object_end()? {
                    Some((first, _)) if first > cursor => Err(SourceError::Missing {
                        root: self.shared.store.location().url().to_string().into(),
                        sequence: cursor,
                        key: layout.object_key(cursor),
                    }),
                    _ => Ok(SourceRead::End),
                };
            };
            let object_end = layout.batch_end(start);
            if self.tip.is_some_and(|tip| object_end > tip) {
                self.ahead = self.ahead.saturating_mul(2).min(self.shared.concurrency().max(1));
            }
            self.tip = self.tip.max(Some(object_end));
            if object_end > limit {
                self.carry = Some((start, object.clone()));
            }
            let object = RawObject {
                name: object.key,
                bytes: Vec::from(object.bytes),
                framing: Framing::DataStoreObject,
                holds: LedgerRange::new(start, object_end).ok(),
            };
            bytes += object.xdr_bytes();
            objects.push(object);
            covered_last = Some(object_end.min(limit));
            if object_end >= limit || bytes >= max_bytes {
                break;
            }
            cursor = object_end + 1;
        }
        let range = LedgerRange::new(next, covered_last.unwrap_or(next)).expect("objects cover next onwards");
        Ok(SourceRead::Batch(RawBatch { range, objects }))
    }

    fn tip(&self) -> Option<u32> {
        self.tip
    }
}

#[cfg(test)]
mod tests;
