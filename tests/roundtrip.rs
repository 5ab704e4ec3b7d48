//! Generator -> SEP-54 directory -> reader -> tables: every count equals what the generator
//! says it generated (tallied while it chose the content, not read back).

use arrow::array::AsArray;
use arrow::datatypes::{Int64Type, UInt32Type};
use ledgerflow::datastore::LocalDataStore;
use ledgerflow::decode::DecodeLimits;
use ledgerflow::generator::{GeneratorConfig, SyntheticLedgers, write_store};
use ledgerflow::tables::{ConvertOptions, TableBuilder};

fn roundtrip(ledgers_per_batch: u32, batches_per_partition: u32) {
    let config = GeneratorConfig {
        ledger_count: Some(40),
        transactions_per_ledger: 60,
        seed: 7,
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let summary = write_store(&config, dir.path(), ledgers_per_batch, batches_per_partition).unwrap();
    let expected: Vec<_> = SyntheticLedgers::new(config.clone()).unwrap().map(|l| l.expected).collect();
    assert_eq!(summary.ledgers, 40);

    let store = LocalDataStore::open(dir.path()).unwrap();
    assert_eq!(store.manifest().network(), config.network, "the manifest carries the network");
    let mut builder =
        TableBuilder::new(ConvertOptions { network: store.manifest().network(), keep_raw_xdr: false });
    let objects = store.objects().unwrap();
    assert_eq!(objects.len() as u32, summary.objects);
    for (_, path) in &objects {
        for ledger in store.read(path, &DecodeLimits::default()).unwrap() {
            builder.push(&ledger.unwrap().meta).unwrap();
        }
    }
    let tables = builder.finish().unwrap();

    let sum = |f: &dyn Fn(&ledgerflow::generator::ExpectedCounts) -> u32| {
        expected.iter().map(f).sum::<u32>() as usize
    };
    assert_eq!(tables.ledgers.num_rows(), 40);
    let sequences = tables.ledgers.column_by_name("sequence").unwrap().as_primitive::<UInt32Type>();
    assert_eq!(
        sequences.values().to_vec(),
        (config.first_sequence..config.first_sequence + 40).collect::<Vec<_>>()
    );
    assert_eq!(tables.transactions.num_rows(), sum(&|e| e.transactions));
    assert_eq!(tables.operations.num_rows(), sum(&|e| e.operations));
    assert_eq!(tables.contract_events.num_rows(), sum(&|e| e.contract_events));
    let successful = tables.transactions.column_by_name("successful").unwrap().as_boolean();
    assert_eq!(successful.true_count(), sum(&|e| e.successful_transactions));
    let hashes = tables.transactions.column_by_name("transaction_hash").unwrap().as_string::<i32>();
    let expected_hashes: Vec<String> =
        expected.iter().flat_map(|e| e.transaction_hashes.iter().map(hex::encode)).collect();
    assert_eq!(hashes.iter().map(|h| h.unwrap().to_owned()).collect::<Vec<_>>(), expected_hashes);
    // The fee columns derived from the metas' entry changes carry the generator's fees.
    let column =
        |name: &str| tables.transactions.column_by_name(name).unwrap().as_primitive::<Int64Type>().clone();
    let total = |name: &str| column(name).iter().map(|v| v.unwrap()).sum::<i64>();
    assert_eq!(total("fee_charged"), expected.iter().map(|e| e.fee_charged).sum::<i64>());
    assert_eq!(total("inclusion_fee_charged"), expected.iter().map(|e| e.inclusion_fee_charged).sum::<i64>());
    assert_eq!(total("resource_fee_refund"), expected.iter().map(|e| e.resource_fee_refund).sum::<i64>());
    let (resource_fees, inclusion_fees) = (column("resource_fee"), column("inclusion_fee_charged"));
    for row in 0..tables.transactions.num_rows() {
        let inclusion = inclusion_fees.value(row);
        if resource_fees.value(row) > 0 {
            assert!(inclusion >= 100, "row {row}: a Soroban transaction's inclusion fee is {inclusion}");
        } else {
            assert_eq!(inclusion, 0, "row {row}: classic transactions have no inclusion fee column");
        }
    }
    assert_eq!(summary.transactions as usize, tables.transactions.num_rows());
    assert_eq!(summary.operations as usize, tables.operations.num_rows());
}

#[test]
fn one_ledger_per_object_like_galexie() {
    roundtrip(1, 64000);
}

#[test]
fn batched_objects_in_partitions() {
    roundtrip(8, 2);
}
