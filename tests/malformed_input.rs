//! No input, however malformed, may panic: decoding and conversion of mutated real ledgers and
//! random bytes end in `Ok` or a named error.
//!
//! Mutations are drawn by proptest from the fixture ledgers (bit flips, byte overwrites,
//! truncations, insertions, length-field corruption) in every framing. `PROPTEST_CASES` sets
//! the number of cases (CI runs a short profile; raise it locally for a longer fuzz run).

mod support;

use std::sync::OnceLock;

use ledgerflow::decode::{DecodeError, DecodeLimits, Framing, read_object};
use ledgerflow::network::Network;
use ledgerflow::tables::{ConvertOptions, TableBuilder};
use proptest::prelude::*;

/// Decodes and converts everything in `bytes`; panics only if the library does.
fn decode_and_convert(bytes: Vec<u8>, framing: Option<Framing>, network: &Network) -> usize {
    let limits = DecodeLimits { max_object_bytes: 64 << 20, max_ledger_bytes: 16 << 20, max_xdr_depth: 200 };
    let mut builder = TableBuilder::new(ConvertOptions { network: network.clone(), keep_raw_xdr: true });
    let mut converted = 0;
    let Ok(ledgers) = read_object("fuzz-input", bytes, framing, &limits) else { return 0 };
    for ledger in ledgers {
        let Ok(ledger) = ledger else { break };
        if builder.push(&ledger.meta).is_ok() {
            converted += 1;
        }
    }
    builder.finish().expect("tables of accepted ledgers always build");
    converted
}

/// Seeds: every fixture object's bytes (compressed ones decompressed too, so mutations reach
/// the XDR), or, without fixtures, ledgers from the synthetic generator.
fn seeds() -> &'static Vec<(Vec<u8>, Network)> {
    static SEEDS: OnceLock<Vec<(Vec<u8>, Network)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = Vec::new();
        if let Some(root) = std::env::var_os("LEDGERFLOW_FIXTURES").map(std::path::PathBuf::from) {
            for entry in support::expected_entries(&root) {
                let path = support::fixture(&root, entry["file"].as_str().unwrap());
                let network = support::network(entry["networks"][0].as_str().unwrap());
                let bytes = std::fs::read(&path).unwrap();
                if bytes.len() > 300_000 {
                    continue; // the two largest ledgers make each case slow; their kin stay
                }
                if bytes.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
                    seeds.push((zstd::decode_all(&bytes[..]).unwrap(), network.clone()));
                }
                seeds.push((bytes, network));
            }
        }
        let config = ledgerflow::generator::GeneratorConfig {
            ledger_count: Some(2),
            transactions_per_ledger: 20,
            ..Default::default()
        };
        for ledger in ledgerflow::generator::SyntheticLedgers::new(config.clone()).unwrap() {
            use stellar_xdr::WriteXdr;
            seeds.push((ledger.meta.to_xdr(stellar_xdr::Limits::none()).unwrap(), config.network.clone()));
        }
        seeds
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    Overwrite(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    /// Sets a 4-byte big-endian word to a huge length, as a corrupt array or string length.
    HugeLength(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Overwrite(at, byte)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<usize>().prop_map(Mutation::HugeLength),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match mutation {
        Mutation::FlipBit(at, bit) => bytes[at % len] ^= 1 << bit,
        Mutation::Overwrite(at, byte) => bytes[at % len] = *byte,
        Mutation::Truncate(at) => bytes.truncate(at % len),
        Mutation::Insert(at, new) => {
            let at = at % len;
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::HugeLength(at) => {
            let at = (at % len) & !3;
            let end = (at + 4).min(len);
            bytes[at..end].copy_from_slice(&[0x7F, 0xFF, 0xFF, 0xF0][..end - at]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_ledgers_never_panic(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
        framing in prop::option::of(prop::sample::select(Framing::ALL.to_vec())),
    ) {
        let (bytes, network) = seed.get(seeds());
        let mut bytes = bytes.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        decode_and_convert(bytes, framing, network);
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        framing in prop::option::of(prop::sample::select(Framing::ALL.to_vec())),
    ) {
        decode_and_convert(bytes, framing, &Network::pubnet());
    }
}

#[test]
fn oversized_objects_are_refused_before_allocation() {
    // A zstd frame that inflates 64 KiB of zeros, against a 1 KiB limit.
    let bomb = zstd::encode_all(&vec![0u8; 64 << 10][..], 19).unwrap();
    let limits = DecodeLimits { max_object_bytes: 1024, ..DecodeLimits::default() };
    let err = read_object("bomb.xdr.zst", bomb, None, &limits).err().expect("refused");
    assert!(matches!(err, DecodeError::TooLarge { decompressed: true, limit: 1024, .. }), "{err}");
    assert_eq!(err.to_string(), "bomb.xdr.zst: larger than the limit of 1024 bytes once decompressed");
}

#[test]
fn store_objects_decompress_as_one_frame_several_frames_or_frames_without_a_size() {
    use stellar_xdr::WriteXdr;
    let config = ledgerflow::generator::GeneratorConfig { ledger_count: Some(3), ..Default::default() };
    let metas: Vec<_> =
        ledgerflow::generator::SyntheticLedgers::new(config).unwrap().map(|l| l.meta).collect();
    let first = ledgerflow::ledger::ledger_sequence(&metas[0]);
    let batch = stellar_xdr::LedgerCloseMetaBatch {
        start_sequence: first,
        end_sequence: first + 2,
        ledger_close_metas: metas.try_into().unwrap(),
    };
    let raw = batch.to_xdr(stellar_xdr::Limits::none()).unwrap();
    let read = |object: Vec<u8>| {
        read_object("o.xdr.zst", object, Some(Framing::DataStoreObject), &DecodeLimits::default())
            .map(|ledgers| ledgers.map(|l| l.unwrap().sequence).collect::<Vec<u32>>())
    };
    let expected = vec![first, first + 1, first + 2];
    // One frame with its content size in the header (zstd's default, and Galexie's).
    assert_eq!(read(zstd::encode_all(&raw[..], 3).unwrap()).unwrap(), expected);
    // Two frames back to back.
    let (head, tail) = raw.split_at(raw.len() / 2);
    let frames = [zstd::encode_all(head, 1).unwrap(), zstd::encode_all(tail, 1).unwrap()].concat();
    assert_eq!(read(frames).unwrap(), expected);
    // A streamed frame, which does not record its size.
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    encoder.include_contentsize(false).unwrap();
    std::io::Write::write_all(&mut encoder, &raw).unwrap();
    let unsized_frame = encoder.finish().unwrap();
    assert_eq!(zstd::zstd_safe::get_frame_content_size(&unsized_frame).ok().flatten(), None);
    assert_eq!(read(unsized_frame).unwrap(), expected);
    // A truncated frame is an error that names the object, not a panic or a short read.
    let mut truncated = zstd::encode_all(&raw[..], 3).unwrap();
    truncated.truncate(truncated.len() - 10);
    let error = read(truncated).expect_err("a truncated frame fails");
    assert!(matches!(error, DecodeError::Zstd { .. }), "{error}");
    assert!(error.to_string().starts_with("o.xdr.zst"), "{error}");
}

#[test]
fn a_corrupt_ledger_in_a_batch_keeps_the_ledgers_before_it() {
    let Some(root) = support::fixtures("a_corrupt_ledger_in_a_batch_keeps_the_ledgers_before_it") else {
        return;
    };
    let path = support::fixture(
        &root,
        "datastore/testnet-2022-batched/FFEA7BFF--1410048-1410111/FFEA7BFF--1410048-1410063.xdr.zst",
    );
    let xdr = zstd::decode_all(&std::fs::read(path).unwrap()[..]).unwrap();
    // Cut the batch inside its 6th ledger.
    let ledgers: Vec<_> = read_object("batch", xdr.clone(), None, &DecodeLimits::default())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ledgers.len(), 16);
    let cut = 12 + ledgers[..5].iter().map(|l| l.xdr_bytes).sum::<usize>() + 100;
    let results: Vec<_> =
        read_object("batch.xdr", xdr[..cut].to_vec(), None, &DecodeLimits::default()).unwrap().collect();
    assert_eq!(results.len(), 6, "5 ledgers and the error");
    for (i, result) in results[..5].iter().enumerate() {
        assert_eq!(result.as_ref().unwrap().sequence, 1410048 + i as u32);
    }
    let err = results[5].as_ref().unwrap_err();
    assert_eq!(err.sequence(), Some(1410053));
    let message = err.to_string();
    assert!(
        message.starts_with("batch.xdr: ledger 1410053: malformed LedgerCloseMeta XDR at byte"),
        "{message}"
    );
}

#[test]
fn wrong_network_is_named_with_the_matching_one() {
    let Some(root) = support::fixtures("wrong_network_is_named_with_the_matching_one") else { return };
    let path = support::fixture(&root, "raw/lcm-xdr/testnet-1410096.xdr");
    let ledger = ledgerflow::decode::read_path(&path, None, &DecodeLimits::default())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let err = ledgerflow::ledger::LedgerView::new(&ledger.meta, &Network::pubnet()).unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("ledger 1410096: transaction "), "{message}");
    assert!(message.contains("under network pubnet"), "{message}");
    assert!(
        message.ends_with(
            "the hashes match testnet (\"Test SDF Network ; September 2015\"), select it with --network"
        ),
        "{message}"
    );
}
