//! The real actor tree on a temp dir: an uninterrupted run is complete and exact; transient
//! failures are retried and change nothing in the archive; a permanent failure stops the
//! stream with the checkpoint intact; a resumed stream equals an uninterrupted one.

mod support;

use ledgerflow::generator::{GeneratorConfig, SyntheticLedgers};
use ledgerflow_actors::RunOutcome;
use support::*;

const FIRST: u32 = 1_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninterrupted_run_archives_every_ledger_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 90);
    let outcome = run(config.clone()).await;
    assert!(matches!(outcome, RunOutcome::Completed { next } if next == FIRST + 90), "{outcome:?}");
    assert_complete(&verify(&config), FIRST, FIRST + 89);

    // Row counts equal what the generator says it generated, ledger by ledger.
    let generator =
        GeneratorConfig { ledger_count: Some(90), transactions_per_ledger: 12, ..GeneratorConfig::default() };
    let expected: Vec<_> = SyntheticLedgers::new(generator).unwrap().map(|l| l.expected).collect();
    let summary = summarize(&config.archive.root);
    for counts in &expected {
        let s = counts.sequence;
        assert_eq!(summary.rows_per_ledger["ledgers"].get(&s), Some(&1));
        assert_eq!(
            summary.rows_per_ledger["transactions"].get(&s).copied().unwrap_or(0),
            u64::from(counts.transactions)
        );
        assert_eq!(
            summary.rows_per_ledger["operations"].get(&s).copied().unwrap_or(0),
            u64::from(counts.operations)
        );
        assert_eq!(
            summary.rows_per_ledger["contract_events"].get(&s).copied().unwrap_or(0),
            u64::from(counts.contract_events)
        );
    }
    assert!(!summary.analytics_rows["payment_volume"].is_empty(), "windows closed over 90 ledgers (~450 s)");
    assert!(!summary.analytics_rows["high_value_payments"].is_empty());
    let checkpoint = checkpoint(&config).unwrap();
    assert!(checkpoint.commits > 1, "several commits: {}", checkpoint.commits);
    assert!(checkpoint.pending.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_resumes_and_equals_one_uninterrupted_run() {
    let reference = tempfile::tempdir().unwrap();
    let whole = config(reference.path(), 80);
    run(whole.clone()).await;

    let dir = tempfile::tempdir().unwrap();
    let mut first_half = config(dir.path(), 80);
    first_half.stream.to = Some(FIRST + 37);
    assert!(matches!(run(first_half.clone()).await, RunOutcome::Completed { .. }));
    assert_complete(&verify(&first_half), FIRST, FIRST + 37);
    let second = config(dir.path(), 80);
    assert!(matches!(run(second.clone()).await, RunOutcome::Completed { .. }));
    assert_complete(&verify(&second), FIRST, FIRST + 79);
    assert_eq!(summarize(&second.archive.root), summarize(&whole.archive.root));
}

/// `archive.url = "file://..."`: the Parquet tree goes through object_store (`LocalFileSystem`,
/// the code `s3://` and `gs://` URLs run), staging keys, copy and delete; `archive.root` keeps
/// only the checkpoint. A stream stopped half-way and resumed (recovery on the object store at
/// each start) holds exactly what an uninterrupted local-root run of the same ledgers holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_store_archive_holds_exactly_what_a_local_root_holds() {
    let reference = tempfile::tempdir().unwrap();
    let local = config(reference.path(), 80);
    assert!(matches!(run(local.clone()).await, RunOutcome::Completed { .. }));
    let expected = summarize(&local.archive.root);

    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    let object = {
        let mut object = config(dir.path(), 80);
        object.archive.url = Some(format!("file://{}", bucket.display()));
        object.validate().unwrap();
        object
    };
    let mut first_half = object.clone();
    first_half.stream.to = Some(FIRST + 37);
    assert!(matches!(run(first_half.clone()).await, RunOutcome::Completed { next } if next == FIRST + 38));
    assert_complete(&verify(&first_half), FIRST, FIRST + 37);
    let outcome = run(object.clone()).await;
    assert!(matches!(outcome, RunOutcome::Completed { next } if next == FIRST + 80), "{outcome:?}");
    assert_complete(&verify(&object), FIRST, FIRST + 79);

    assert_eq!(summarize_archive(&object), expected, "read through the object store");
    assert_eq!(expected.rows("ledgers"), 80);
    assert_eq!(summarize_archive(&local), expected, "a local root read through the store");
    // The bucket holds the same hive tree as a local root, and the root only the checkpoint.
    assert_eq!(summarize(&bucket), expected);
    let mut in_root: Vec<String> = std::fs::read_dir(&object.archive.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    in_root.sort();
    assert_eq!(in_root, vec!["_checkpoint".to_string()]);
    let staging: Vec<_> = walk_files(&bucket.join("_staging"));
    assert!(staging.is_empty(), "no staging key left: {staging:?}");
    let checkpoint = checkpoint(&object).unwrap();
    assert!(checkpoint.commits > 2, "several commits: {}", checkpoint.commits);
    assert!(checkpoint.pending.is_empty());
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .flat_map(|e| if e.path().is_dir() { walk_files(&e.path()) } else { vec![e.path()] })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_ledger_stops_the_stream_or_is_dead_lettered_by_policy() {
    // A SEP-54 store with one ledger cut short.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let generator =
        GeneratorConfig { ledger_count: Some(40), transactions_per_ledger: 12, ..GeneratorConfig::default() };
    ledgerflow::generator::write_store(&generator, &store, 1, 64000).unwrap();
    let layout = ledgerflow::datastore::LocalDataStore::open(&store).unwrap();
    let corrupt = layout.object_path(FIRST + 25).unwrap();
    let bytes = std::fs::read(&corrupt).unwrap();
    let xdr = zstd::decode_all(&bytes[..]).unwrap();
    std::fs::write(&corrupt, zstd::encode_all(&xdr[..xdr.len() / 2], 3).unwrap()).unwrap();

    let mut fail = config(dir.path(), 40);
    fail.source.kind = ledgerflow::config::SourceKind::Datastore;
    fail.source.path = Some(store.clone());
    fail.validate().unwrap();
    let outcome = run(fail.clone()).await;
    let RunOutcome::Failed(reason) = outcome else { panic!("{outcome:?}") };
    assert!(reason.contains(&format!("ledger {}", FIRST + 25)), "{reason}");
    // The checkpoint is intact: everything before the corrupt batch, nothing after.
    let report = verify(&fail);
    assert!(report.is_ok(), "{report:#?}");
    let last = report.range.map_or(FIRST - 1, |r| r.last());
    assert!(last < FIRST + 25, "{last}");

    let mut dead_letter = fail.clone();
    dead_letter.pipeline.on_corrupt = ledgerflow::config::OnCorrupt::DeadLetter;
    let outcome = run(dead_letter.clone()).await;
    assert!(matches!(outcome, RunOutcome::Completed { next } if next == FIRST + 40), "{outcome:?}");
    let report = verify(&dead_letter);
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!(report.dead_letters.iter().map(|d| d.0).collect::<Vec<_>>(), vec![FIRST + 25]);
    assert_eq!(report.ledger_rows, 39);
    let dead_file = dead_letter.archive.root.join(&report.dead_letters[0].2);
    assert_eq!(std::fs::read(dead_file).unwrap().len(), std::fs::metadata(&corrupt).unwrap().len() as usize);
}
