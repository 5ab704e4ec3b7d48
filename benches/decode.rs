//! Decode-only vs decode + convert to Arrow, on real fixture ledgers and on synthetic ones.
//!
//! `cargo bench --bench decode` (set `LEDGERFLOW_FIXTURES=../shared/fixtures` for the real
//! ledgers). Each dataset is decoded from per-ledger XDR bytes held in memory, so the figures are
//! CPU only. Before the criterion output, one line per dataset gives ledgers, transactions,
//! operations and XDR bytes per iteration: ledgers/s = ledgers / time, MB/s is criterion's thrpt.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ledgerflow::datastore::LocalDataStore;
use ledgerflow::decode::{DecodeLimits, decode_ledger};
use ledgerflow::generator::{GeneratorConfig, SyntheticLedgers};
use ledgerflow::ledger::LedgerView;
use ledgerflow::network::Network;
use ledgerflow::tables::{ConvertOptions, TableBuilder};
use stellar_xdr::{Limits, WriteXdr};

struct Dataset {
    name: String,
    network: Network,
    ledgers: Vec<Vec<u8>>,
}

impl Dataset {
    fn describe(&self) {
        let limits = DecodeLimits::default();
        let (mut txs, mut ops) = (0usize, 0usize);
        for bytes in &self.ledgers {
            let meta = decode_ledger(bytes, &limits).expect("dataset decodes");
            let view = LedgerView::new(&meta, &self.network).expect("dataset joins");
            txs += view.transactions.len();
            ops += view.transactions.iter().map(|t| t.operations().len()).sum::<usize>();
        }
        let bytes: usize = self.ledgers.iter().map(Vec::len).sum();
        eprintln!(
            "dataset {}: {} ledgers, {txs} transactions, {ops} operations, {bytes} XDR bytes per iteration",
            self.name,
            self.ledgers.len()
        );
    }
}

fn fixture_datasets() -> Vec<Dataset> {
    let Some(root) = std::env::var_os("LEDGERFLOW_FIXTURES").map(PathBuf::from) else {
        eprintln!("LEDGERFLOW_FIXTURES is not set: real-ledger benchmarks skipped");
        return Vec::new();
    };
    let root = if root.is_relative() { PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(root) } else { root };
    ["pubnet", "testnet-2022-batched", "standalone-p23"]
        .into_iter()
        .map(|store| {
            let store_dir = root.join("datastore").join(store);
            let data_store = LocalDataStore::open(&store_dir).expect("fixture store");
            let mut ledgers = Vec::new();
            for (_, path) in data_store.objects().expect("list store") {
                for ledger in data_store.read(&path, &DecodeLimits::default()).expect("read object") {
                    ledgers.push(ledger.expect("ledger").meta.to_xdr(Limits::none()).expect("encode"));
                }
            }
            Dataset { name: format!("fixtures-{store}"), network: data_store.manifest().network(), ledgers }
        })
        .collect()
}

fn synthetic_dataset() -> Dataset {
    let config = GeneratorConfig { ledger_count: Some(100), ..GeneratorConfig::default() };
    let network = config.network.clone();
    let ledgers = SyntheticLedgers::new(config)
        .expect("valid config")
        .map(|l| l.meta.to_xdr(Limits::none()).expect("encode"))
        .collect();
    Dataset { name: "synthetic".to_owned(), network, ledgers }
}

fn bench(c: &mut Criterion) {
    let limits = DecodeLimits::default();
    let mut datasets = fixture_datasets();
    datasets.push(synthetic_dataset());
    for dataset in &datasets {
        dataset.describe();
    }
    for dataset in &datasets {
        let bytes: usize = dataset.ledgers.iter().map(Vec::len).sum();
        let mut group = c.benchmark_group(&dataset.name);
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function("decode", |b| {
            b.iter(|| {
                for xdr in &dataset.ledgers {
                    black_box(decode_ledger(black_box(xdr), &limits).expect("decodes"));
                }
            })
        });
        let options = ConvertOptions { network: dataset.network.clone(), keep_raw_xdr: false };
        group.bench_function("decode_convert", |b| {
            let mut builder = TableBuilder::new(options.clone());
            b.iter(|| {
                for xdr in &dataset.ledgers {
                    let meta = decode_ledger(black_box(xdr), &limits).expect("decodes");
                    builder.push(&meta).expect("converts");
                }
                black_box(builder.finish().expect("tables"))
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
