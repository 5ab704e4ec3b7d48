//! `ledgerflow inspect`: decode a ledger file or a SEP-54 store and print one line per ledger.
//!
//! Bad input stops the listing with a one-line error naming the file and ledger; the ledgers
//! before it have been printed already, and the exit code is non-zero.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use ledgerflow::datastore::{LocalDataStore, ObjectDataStore};
use ledgerflow::decode::{DecodeError, DecodeLimits, DecodedLedger, Framing, read_object, read_path};
use ledgerflow::ledger::LedgerView;
use ledgerflow::network::Network;
use ledgerflow::storage::ObjectLocation;
use ledgerflow::summary::LedgerSummary;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A ledger file (raw XDR, base64 lines, LedgerCloseMetaBatch, `.xdr.zst` object), a
    /// SEP-54 data store directory (with `.config.json`), or a store's URL (`s3://bucket/prefix`,
    /// `gs://bucket/prefix`; object_store's environment variables configure the client:
    /// AWS_ENDPOINT, AWS_REGION, AWS_ALLOW_HTTP, AWS_SKIP_SIGNATURE, credentials).
    pub path: PathBuf,
    /// One JSON object per ledger per line.
    #[arg(long)]
    pub json: bool,
    /// Framing of a file; detected from the extension and content when absent.
    #[arg(long, value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<Framing>()))]
    pub format: Option<Framing>,
    /// Network passphrase or name (pubnet, testnet, futurenet, standalone, synthetic). Default:
    /// the store's `.config.json`, else detected from the transaction hashes.
    #[arg(long, value_parser = super::parse_network)]
    pub network: Option<Network>,
    /// Largest object accepted, in bytes, stored and decompressed.
    #[arg(long, default_value_t = DecodeLimits::default().max_object_bytes)]
    pub max_object_bytes: u64,
    /// Largest single ledger accepted, in XDR bytes.
    #[arg(long, default_value_t = DecodeLimits::default().max_ledger_bytes)]
    pub max_ledger_bytes: usize,
    /// Deepest XDR nesting accepted.
    #[arg(long, default_value_t = DecodeLimits::default().max_xdr_depth)]
    pub max_xdr_depth: u32,
}

pub fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let limits = DecodeLimits {
        max_object_bytes: args.max_object_bytes,
        max_ledger_bytes: args.max_ledger_bytes,
        max_xdr_depth: args.max_xdr_depth,
    };
    let stdout = std::io::stdout();
    let mut printer = Printer { out: BufWriter::new(stdout.lock()), json: args.json };
    let url = args.path.to_str().filter(|p| ledgerflow::storage::is_url(p)).map(str::to_owned);
    let result = if let Some(url) = url {
        inspect_remote_store(&url, &args, &limits, &mut printer)
    } else if args.path.is_dir() {
        inspect_store(&args, &limits, &mut printer)
    } else {
        let mut resolver = NetworkResolver::new(args.network.clone());
        inspect_file(&args.path, args.format, &limits, &mut resolver, &mut printer)
    };
    // Whatever was printed before an error stays printed.
    printer.out.flush().context("writing to stdout")?;
    result.map(|()| ExitCode::SUCCESS)
}

fn inspect_store(
    args: &InspectArgs,
    limits: &DecodeLimits,
    printer: &mut Printer<impl Write>,
) -> anyhow::Result<()> {
    if !LocalDataStore::is_store(&args.path) {
        anyhow::bail!("{}: a directory but not a SEP-54 data store (no .config.json)", args.path.display());
    }
    let store = LocalDataStore::open(&args.path)?;
    let network = args.network.clone().unwrap_or_else(|| store.manifest().network());
    let mut resolver = NetworkResolver::new(Some(network));
    for (_, path) in store.objects()? {
        inspect_file(&path, Some(Framing::DataStoreObject), limits, &mut resolver, printer)?;
    }
    Ok(())
}

fn inspect_remote_store(
    url: &str,
    args: &InspectArgs,
    limits: &DecodeLimits,
    printer: &mut Printer<impl Write>,
) -> anyhow::Result<()> {
    let location = ObjectLocation::open(url, "inspect URL", &Default::default())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let store = std::sync::Arc::new(runtime.block_on(ObjectDataStore::open(location))?);
    let network = args.network.clone().unwrap_or_else(|| store.manifest().network());
    let mut resolver = NetworkResolver::new(Some(network));
    let objects = runtime.block_on(store.objects()).with_context(|| format!("{url}: listing"))?;
    // Fetch a few objects ahead while the previous ones are decoded and printed.
    let mut pending = std::collections::VecDeque::new();
    let mut keys = objects.into_iter().map(|(_, key)| key);
    loop {
        while pending.len() < 8 {
            let Some(key) = keys.next() else { break };
            let store = store.clone();
            let fetch_key = key.clone();
            pending.push_back((key, runtime.spawn(async move { store.fetch_key(&fetch_key).await })));
        }
        let Some((key, task)) = pending.pop_front() else { break };
        let bytes = runtime.block_on(task)?.with_context(|| format!("{url}: {key}"))?;
        let name = format!("{}/{}", url.trim_end_matches('/'), key.rsplit('/').next().unwrap_or(&key));
        for ledger in read_object(name.clone(), bytes.into(), Some(Framing::DataStoreObject), limits)? {
            let ledger = ledger?;
            let summary = resolver.summarize(&ledger).with_context(|| name.clone())?;
            printer.print(&summary)?;
        }
    }
    Ok(())
}

fn inspect_file(
    path: &Path,
    framing: Option<Framing>,
    limits: &DecodeLimits,
    resolver: &mut NetworkResolver,
    printer: &mut Printer<impl Write>,
) -> anyhow::Result<()> {
    for ledger in read_path(path, framing, limits)? {
        let ledger = ledger?;
        let summary = resolver.summarize(&ledger).with_context(|| format!("{}", path.display()))?;
        printer.print(&summary)?;
    }
    Ok(())
}

/// Picks the network for each ledger: the given one, or in auto mode the well-known network
/// whose passphrase the transaction hashes match (kept until a ledger says otherwise).
struct NetworkResolver {
    fixed: Option<Network>,
    detected: Option<Network>,
}

impl NetworkResolver {
    fn new(fixed: Option<Network>) -> Self {
        NetworkResolver { fixed, detected: None }
    }

    fn summarize(&mut self, ledger: &DecodedLedger) -> Result<LedgerSummary, DecodeError> {
        if let Some(network) = &self.fixed {
            return LedgerView::new(&ledger.meta, network).map(|view| LedgerSummary::of(&view));
        }
        let guess = self.detected.clone().unwrap_or_default();
        match LedgerView::new(&ledger.meta, &guess) {
            Ok(view) => Ok(LedgerSummary::of(&view)),
            Err(err @ DecodeError::TxNotInSet { .. }) => {
                let Some(network) = Network::detect(&ledger.meta) else { return Err(err) };
                let view = LedgerView::new(&ledger.meta, &network)?;
                let summary = LedgerSummary::of(&view);
                self.detected = Some(network);
                Ok(summary)
            }
            Err(err) => Err(err),
        }
    }
}

struct Printer<W> {
    out: W,
    json: bool,
}

impl<W: Write> Printer<W> {
    fn print(&mut self, summary: &LedgerSummary) -> anyhow::Result<()> {
        if self.json {
            serde_json::to_writer(&mut self.out, summary)?;
            writeln!(self.out)?;
        } else {
            writeln!(
                self.out,
                "ledger {:>10}  protocol {:>2}  {}  txs {:>5} ({:>4} failed)  ops {:>6}  events {:>6}",
                summary.sequence,
                summary.protocol_version,
                summary.closed_at,
                summary.transactions,
                summary.failed_transactions,
                summary.operations,
                summary.contract_events,
            )?;
        }
        Ok(())
    }
}
