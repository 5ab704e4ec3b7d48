//! The remote source against real object_store implementations: a generated store read through
//! `LocalFileSystem` (a `file://` URL, the same code path as `s3://`) and `InMemory`, compared
//! with the local directory source reading the same bytes.

use std::path::Path;
use std::sync::Arc;

use object_store::ObjectStoreExt;
use object_store::memory::InMemory;

use super::*;
use crate::datastore::{Layout, MANIFEST_FILE, Manifest};
use crate::generator::{GeneratorConfig, write_store};
use crate::source::DataStoreSource;
use crate::storage::{ObjectLocation, StorageOptions};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn generated(dir: &Path, ledgers: u32, ledgers_per_batch: u32, per_partition: u32) -> GeneratorConfig {
    let config = GeneratorConfig {
        ledger_count: Some(ledgers),
        transactions_per_ledger: 5,
        ..GeneratorConfig::default()
    };
    write_store(&config, dir, ledgers_per_batch, per_partition).unwrap();
    config
}

fn open_remote(
    rt: &tokio::runtime::Runtime,
    url: &str,
    cap: u32,
    budget: u64,
    follow: bool,
) -> RemoteDataStoreSource {
    let location = ObjectLocation::open(url, "source.url", &StorageOptions::new()).unwrap();
    let store = rt.block_on(ObjectDataStore::open(location)).unwrap();
    RemoteDataStoreSource::new(RemoteStore::new(store, cap, budget), rt.handle().clone(), None, follow)
}

/// Every batch of `source` from `from`, as (range, object names, total bytes).
fn read_all(source: &mut dyn LedgerSource, from: u32, max_ledgers: u32) -> Vec<(LedgerRange, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        match source.read(next, None, max_ledgers, usize::MAX).unwrap() {
            SourceRead::Batch(batch) => {
                next = batch.range.last() + 1;
                out.push((batch.range, batch.objects.into_iter().map(|o| o.bytes).collect()));
            }
            SourceRead::End => return out,
            SourceRead::NotYet => panic!("a bounded source is never `not yet`"),
        }
    }
}

#[test]
fn reads_a_generated_store_exactly_as_the_local_source_does() {
    let dir = tempfile::tempdir().unwrap();
    let config = generated(dir.path(), 152, 4, 8);
    let rt = runtime();
    let url = format!("file://{}", dir.path().display());
    for (cap, budget, max_ledgers) in [(1, 1 << 20, 10), (16, 1 << 20, 10), (16, 1 << 30, 64), (4, 1, 3)] {
        let mut remote = open_remote(&rt, &url, cap, budget, false);
        assert_eq!(remote.first_available().unwrap(), Some(config.first_sequence));
        let mut local = DataStoreSource::open(dir.path(), None, false).unwrap();
        let got = read_all(&mut remote, config.first_sequence, max_ledgers);
        let want = read_all(&mut local, config.first_sequence, max_ledgers);
        assert_eq!(got.len(), want.len(), "cap {cap}, budget {budget}");
        assert_eq!(got, want, "cap {cap}, budget {budget}, batches of {max_ledgers}");
        assert_eq!(got.last().unwrap().0.last(), config.first_sequence + 151);
        assert_eq!(remote.tip(), Some(config.first_sequence + 151));
    }
}

#[test]
fn the_window_grows_with_successes_and_is_shared_by_incarnations() {
    let dir = tempfile::tempdir().unwrap();
    let config = generated(dir.path(), 64, 1, 16);
    let rt = runtime();
    let url = format!("file://{}", dir.path().display());
    let location = ObjectLocation::open(&url, "source.url", &StorageOptions::new()).unwrap();
    let shared = RemoteStore::new(rt.block_on(ObjectDataStore::open(location)).unwrap(), 8, 1 << 30);
    let mut first = RemoteDataStoreSource::new(shared.clone(), rt.handle().clone(), None, false);
    assert_eq!(read_all(&mut first, config.first_sequence, 64).len(), 1);
    assert_eq!(shared.concurrency(), 8, "slow start reaches the cap within 64 fast reads");
    drop(first);
    shared.window.lock().unwrap().on_error();
    let second = RemoteDataStoreSource::new(shared.clone(), rt.handle().clone(), None, false);
    assert_eq!(second.shared.concurrency(), 4, "a new incarnation starts at the reduced window");
}

/// Copies a local store into an in-memory object store, under `prefix`.
fn upload(rt: &tokio::runtime::Runtime, dir: &Path, memory: &Arc<InMemory>, prefix: &str, skip: &[u32]) {
    let manifest =
        Manifest::parse(&dir.join(MANIFEST_FILE), &std::fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    let local = crate::datastore::LocalDataStore::open(dir).unwrap();
    let location = ObjectLocation::from_store("memory:///lake", memory.clone(), prefix);
    rt.block_on(async {
        memory
            .put(&location.path(MANIFEST_FILE), serde_json::to_vec(&manifest).unwrap().into())
            .await
            .unwrap();
        for (name, path) in local.objects().unwrap() {
            if skip.contains(&name.first) {
                continue;
            }
            let key = Layout::of(&manifest).object_key(name.first);
            memory.put(&location.path(&key), std::fs::read(path).unwrap().into()).await.unwrap();
        }
    });
}

#[test]
fn follow_mode_waits_at_the_tip_and_picks_up_new_objects() {
    let dir = tempfile::tempdir().unwrap();
    let config = generated(dir.path(), 12, 1, 64);
    let first = config.first_sequence;
    let rt = runtime();
    let memory = Arc::new(InMemory::new());
    upload(&rt, dir.path(), &memory, "lake", &(first + 8..first + 12).collect::<Vec<_>>());
    let location = ObjectLocation::from_store("memory:///lake", memory.clone(), "lake");
    let store = rt.block_on(ObjectDataStore::open(location)).unwrap();
    let mut source =
        RemoteDataStoreSource::new(RemoteStore::new(store, 4, 1 << 20), rt.handle().clone(), None, true);
    let SourceRead::Batch(batch) = source.read(first, None, 100, usize::MAX).unwrap() else { panic!() };
    assert_eq!((batch.range.first(), batch.range.last()), (first, first + 7));
    assert!(matches!(source.read(first + 8, None, 100, usize::MAX).unwrap(), SourceRead::NotYet));
    assert_eq!(source.tip(), Some(first + 7));
    upload(&rt, dir.path(), &memory, "lake", &(first..first + 8).collect::<Vec<_>>());
    let SourceRead::Batch(batch) = source.read(first + 8, None, 100, usize::MAX).unwrap() else { panic!() };
    assert_eq!((batch.range.first(), batch.range.last()), (first + 8, first + 11));
    assert_eq!(batch.objects.len(), 4);
}

#[test]
fn a_hole_in_a_bounded_store_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = generated(dir.path(), 10, 1, 64);
    let first = config.first_sequence;
    let rt = runtime();
    let memory = Arc::new(InMemory::new());
    upload(&rt, dir.path(), &memory, "lake", &[first + 5]);
    let location = ObjectLocation::from_store("memory:///lake", memory, "lake");
    let store = rt.block_on(ObjectDataStore::open(location)).unwrap();
    let mut source =
        RemoteDataStoreSource::new(RemoteStore::new(store, 4, 1 << 20), rt.handle().clone(), None, false);
    let SourceRead::Batch(batch) = source.read(first, None, 100, usize::MAX).unwrap() else { panic!() };
    assert_eq!(batch.range.last(), first + 4);
    let error = source.read(first + 5, None, 100, usize::MAX).unwrap_err();
    let key = Layout { ledgers_per_batch: 1, batches_per_partition: 64 }.object_key(first + 5);
    assert_eq!(
        error.to_string(),
        format!(
            "ledger {} is missing from the data store at memory:///lake (expected object {key})",
            first + 5
        )
    );
}

#[test]
fn batches_ending_inside_an_object_resume_from_it_and_resumed_streams_start_mid_object() {
    let dir = tempfile::tempdir().unwrap();
    let config = generated(dir.path(), 40, 16, 2);
    let first = config.first_sequence;
    let rt = runtime();
    let url = format!("file://{}", dir.path().display());
    let mut source = open_remote(&rt, &url, 4, 1 << 30, false);
    let layout = Layout { ledgers_per_batch: 16, batches_per_partition: 2 };
    let mut next = first + 3;
    let mut seen = Vec::new();
    while let SourceRead::Batch(batch) = source.read(next, Some(first + 37), 7, usize::MAX).unwrap() {
        assert!(batch.range.len() <= 7);
        let object_starts: Vec<u32> = batch.objects.iter().map(|o| o.holds.unwrap().first()).collect();
        let wanted: Vec<u32> = (batch.range.first()..=batch.range.last())
            .map(|s| layout.batch_start(s))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(object_starts, wanted, "{:?}", batch.range);
        seen.push(batch.range);
        next = batch.range.last() + 1;
    }
    assert_eq!(seen.first().unwrap().first(), first + 3);
    assert_eq!(seen.last().unwrap().last(), first + 37);
    assert!(seen.windows(2).all(|w| w[0].last() + 1 == w[1].first()));
}

#[test]
fn fixture_stores_read_completely_and_in_order() {
    let Some(root) = std::env::var_os("LEDGERFLOW_FIXTURES").map(std::path::PathBuf::from) else {
        eprintln!("fixture_stores_read_completely_and_in_order: skipped (LEDGERFLOW_FIXTURES is not set)");
        return;
    };
    let rt = runtime();
    // Contiguous stores read through; standalone-p23 holds 84, 85 and 88 (a hole at 86).
    for store in ["testnet-2022-batched", "testnet"] {
        let dir = root.join("datastore").join(store);
        assert!(dir.join(MANIFEST_FILE).is_file(), "{} is missing", dir.display());
        let url = format!("file://{}", std::fs::canonicalize(&dir).unwrap().display());
        let mut remote = open_remote(&rt, &url, 8, 1 << 20, false);
        let mut local = DataStoreSource::open(&dir, None, false).unwrap();
        let from = local.first_available().unwrap().unwrap();
        assert_eq!(remote.first_available().unwrap(), Some(from));
        let got = read_all(&mut remote, from, 5);
        assert_eq!(got, read_all(&mut local, from, 5), "{store}");
        let objects = crate::datastore::LocalDataStore::open(&dir).unwrap().objects().unwrap();
        let ledgers: u32 = objects.iter().map(|(n, _)| n.last - n.first + 1).sum();
        // Both stores are contiguous, so every ledger of every object is read once.
        assert_eq!(got.iter().map(|(r, _)| r.len()).sum::<u64>(), u64::from(ledgers), "{store}");
    }
    let dir = root.join("datastore/standalone-p23");
    let url = format!("file://{}", std::fs::canonicalize(&dir).unwrap().display());
    let mut remote = open_remote(&rt, &url, 8, 1 << 20, false);
    let mut local = DataStoreSource::open(&dir, None, false).unwrap();
    for source in [&mut remote as &mut dyn LedgerSource, &mut local] {
        let SourceRead::Batch(batch) = source.read(84, None, 10, usize::MAX).unwrap() else { panic!() };
        assert_eq!((batch.range.first(), batch.range.last()), (84, 85));
        let error = source.read(86, None, 10, usize::MAX).unwrap_err();
        assert!(matches!(error, SourceError::Missing { sequence: 86, .. }), "{error}");
        assert!(error.to_string().contains("FFFFFFFF--0-63999/FFFFFFA9--86.xdr.zst"), "{error}");
    }
}

#[test]
fn the_read_ahead_is_bounded_in_bytes_not_objects() {
    let dir = tempfile::tempdir().unwrap();
    let config = generated(dir.path(), 64, 1, 64);
    let rt = runtime();
    let url = format!("file://{}", dir.path().display());
    let object_bytes = {
        let local = crate::datastore::LocalDataStore::open(dir.path()).unwrap();
        let sizes: Vec<u64> =
            local.objects().unwrap().iter().map(|(_, p)| std::fs::metadata(p).unwrap().len()).collect();
        sizes.iter().sum::<u64>() / sizes.len() as u64
    };
    for (budget_objects, cap) in [(3u64, 16u32), (40, 16), (1, 16)] {
        let mut source = open_remote(&rt, &url, cap, budget_objects * object_bytes, false);
        let mut next = config.first_sequence;
        let mut most_in_flight = 0;
        while let SourceRead::Batch(batch) = source.read(next, None, 4, usize::MAX).unwrap() {
            next = batch.range.last() + 1;
            let waiting = source.waiting_bytes.load(Ordering::Relaxed);
            let estimate = waiting as f64 + source.mean_object_bytes * source.queue.len() as f64;
            // The budget holds, within one object of the running mean (sizes vary ±30%).
            assert!(
                estimate <= ((budget_objects + 1) * object_bytes) as f64 * 1.3,
                "{estimate} for a budget of {budget_objects}"
            );
            most_in_flight = most_in_flight.max(source.queue.len());
        }
        assert_eq!(next, config.first_sequence + 64);
        let bound = (budget_objects as usize + 1).min(cap as usize);
        assert!(
            most_in_flight <= bound,
            "{most_in_flight} requests ahead with a budget of {budget_objects} objects"
        );
        if budget_objects >= 16 {
            assert!(most_in_flight >= 8, "the window opens when the budget allows: {most_in_flight}");
        }
    }
}

#[test]
fn a_stream_starting_past_the_listed_tip_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = generated(dir.path(), 12, 1, 64);
    let first = config.first_sequence;
    let rt = runtime();
    let memory = Arc::new(InMemory::new());
    upload(&rt, dir.path(), &memory, "lake", &(first + 4..first + 12).collect::<Vec<_>>());
    let location = ObjectLocation::from_store("memory:///lake", memory.clone(), "lake");
    let store = rt.block_on(ObjectDataStore::open(location)).unwrap();
    let mut source =
        RemoteDataStoreSource::new(RemoteStore::new(store, 4, 1 << 20), rt.handle().clone(), None, true);
    // The listing says the tip is first + 3; the stream starts at first + 10.
    assert!(matches!(source.read(first + 10, None, 100, usize::MAX).unwrap(), SourceRead::NotYet));
    assert_eq!(source.tip(), Some(first + 3));
    upload(&rt, dir.path(), &memory, "lake", &(first..first + 10).collect::<Vec<_>>());
    let SourceRead::Batch(batch) = source.read(first + 10, None, 100, usize::MAX).unwrap() else { panic!() };
    assert_eq!((batch.range.first(), batch.range.last()), (first + 10, first + 11));
    // Bounded, the same start is the end of the store (nothing later exists), not a panic.
    let location = ObjectLocation::from_store("memory:///lake", memory, "lake");
    let store = rt.block_on(ObjectDataStore::open(location)).unwrap();
    let mut bounded =
        RemoteDataStoreSource::new(RemoteStore::new(store, 4, 1 << 20), rt.handle().clone(), None, false);
    assert!(matches!(bounded.read(first + 40, None, 100, usize::MAX).unwrap(), SourceRead::End));
}

#[test]
fn batches_are_cut_by_the_xdr_they_hold_not_by_compressed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let config = generated(dir.path(), 12, 1, 64);
    let first = config.first_sequence;
    let layout = Layout::of(
        &Manifest::parse(
            &dir.path().join(MANIFEST_FILE),
            &std::fs::read(dir.path().join(MANIFEST_FILE)).unwrap(),
        )
        .unwrap(),
    );
    // Each object's size on disk and its XDR, decompressed here independently of the source.
    let sizes: Vec<(usize, usize)> = (first..first + 12)
        .map(|sequence| {
            let bytes = std::fs::read(dir.path().join(layout.object_key(sequence))).unwrap();
            (bytes.len(), zstd::decode_all(bytes.as_slice()).unwrap().len())
        })
        .collect();
    assert!(sizes.iter().all(|(compressed, xdr)| xdr > &(2 * compressed)), "{sizes:?}");
    // A budget just over one ledger's XDR: two ledgers per batch (the second crosses it),
    // where compressed bytes would have let four or more in.
    let max_bytes = sizes[0].1 + 1;
    let rt = runtime();
    let url = format!("file://{}", dir.path().display());
    let mut remote = open_remote(&rt, &url, 4, 1 << 30, false);
    let mut local = DataStoreSource::open(dir.path(), None, false).unwrap();
    for source in [&mut local as &mut dyn LedgerSource, &mut remote] {
        let SourceRead::Batch(batch) = source.read(first, None, 100, max_bytes).unwrap() else { panic!() };
        assert_eq!(batch.range, LedgerRange::new(first, first + 1).unwrap());
        assert_eq!(batch.bytes(), sizes[0].0 + sizes[1].0);
        assert_eq!(batch.xdr_bytes(), sizes[0].1 + sizes[1].1);
    }
}

#[test]
fn an_object_counts_its_declared_xdr_size_or_else_its_bytes() {
    let xdr = vec![7u8; 50_000];
    let object = |bytes: Vec<u8>, framing| RawObject { name: "o".into(), bytes, framing, holds: None };
    // The bulk API declares the content size in the frame header, as Galexie's frames do.
    let declared = zstd::bulk::compress(&xdr, 3).unwrap();
    assert_eq!(object(declared, Framing::DataStoreObject).xdr_bytes(), 50_000);
    // A streamed frame does not: its compressed bytes are all there is to count.
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    std::io::Write::write_all(&mut encoder, &xdr).unwrap();
    let streamed = encoder.finish().unwrap();
    assert_eq!(zstd::zstd_safe::get_frame_content_size(&streamed).unwrap(), None);
    let streamed_len = streamed.len();
    assert_eq!(object(streamed, Framing::DataStoreObject).xdr_bytes(), streamed_len);
    assert_eq!(object(xdr.clone(), Framing::Xdr).xdr_bytes(), 50_000);
    // Garbage that is not a frame counts as itself (decoding reports what is wrong with it).
    assert_eq!(object(vec![1, 2, 3], Framing::DataStoreObject).xdr_bytes(), 3);
}
