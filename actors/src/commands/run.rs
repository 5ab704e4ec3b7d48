//! `ledgerflow run`: ingest the configured stream through the actor tree.
//!
//! SIGINT/SIGTERM stop fetching, drain what is in flight, commit and exit 0 within
//! `service.shutdown_timeout_ms`; a second signal (or the timeout) aborts at once, which loses
//! nothing committed. Progress: a bar on a TTY, periodic log lines otherwise.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use ledgerflow::config::{Config, ProgressMode};
use ledgerflow_actors::stats::PipelineStats;
use ledgerflow_actors::{RunOutcome, StreamPlan};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (TOML); defaults apply without one. `LEDGERFLOW_*` variables override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// First ledger of the stream (overrides stream.from).
    #[arg(long)]
    pub from: Option<u32>,
    /// Last ledger of the stream, inclusive (overrides stream.to).
    #[arg(long)]
    pub to: Option<u32>,
    /// Keep following the source for new ledgers (overrides stream.follow).
    #[arg(long)]
    pub follow: bool,
}

pub fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut config = load_config(args.config.as_deref())?;
    if args.from.is_some() {
        config.stream.from = args.from;
    }
    if args.to.is_some() {
        config.stream.to = args.to;
    }
    if args.follow {
        config.stream.follow = true;
    }
    config.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        // Inside the runtime: the OTLP gRPC exporter's channel belongs to it.
        let telemetry = ledgerflow_actors::telemetry::init(&config)?;
        let result = serve(config).await;
        if let Err(err) = &result {
            tracing::error!(error = %super::one_line(err), "run failed");
        }
        telemetry.shutdown().await;
        result
    })
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let shutdown_timeout = config.service.shutdown_timeout();
    let progress = config.service.progress;
    let log_interval = config.service.log_interval();
    let armed = ledgerflow_actors::failpoints::arm_configured(
        &config.fault_injection.failpoints,
        std::env::var("FAILPOINTS").ok().as_deref(),
    )?;
    if armed > 0 {
        warn!(armed, "failpoints armed: this run injects faults");
    }
    let http_addr = config.service.http_addr;
    let admin = config.fault_injection.admin_endpoint;
    let ready_lag_ledgers = config.pipeline.batch_ledgers;
    let source_kind = config.source.kind.as_str().to_owned();
    let archive_location =
        config.archive.url.clone().unwrap_or_else(|| config.archive.root.display().to_string());
    let plan = StreamPlan::new(config).await?;
    info!(stream = %plan.stream, from = plan.from, to = ?plan.to, follow = plan.follow, "run starting");
    let handle = ledgerflow_actors::start(plan.clone()).await?;
    let control = handle.control();
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = match http_addr {
        Some(addr) => {
            let state = ledgerflow_actors::http::HttpState {
                stats: control.stats(),
                stream: ledgerflow_actors::http::StreamInfo {
                    id: plan.stream.to_string(),
                    from: plan.from,
                    to: plan.to,
                    follow: plan.follow,
                    source: source_kind,
                    archive: archive_location,
                },
                ready_lag_ledgers,
                admin,
            };
            let shutdown = async move {
                let _ = http_stopped.await;
            };
            match ledgerflow_actors::http::serve(addr, state, shutdown).await {
                Ok((_, task)) => Some(task),
                Err(err) => {
                    let _ = abort(&control, "the HTTP listener could not start");
                    anyhow::bail!("service.http_addr = {addr}: cannot listen: {err}");
                }
            }
        }
        None => None,
    };
    let reporter = tokio::spawn(report_progress(control.stats(), progress, log_interval, plan.to));
    let outcome = wait_with_signals(handle, &control, shutdown_timeout).await?;
    reporter.abort();
    let _ = http_stop.send(());
    if let Some(http) = http {
        let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
    }
    let snapshot = control.status();
    let failures: u64 = snapshot.stages.iter().map(|s| s.failures).sum();
    let restarts: u64 = snapshot.stages.iter().map(|s| s.restarts).sum();
    match outcome {
        RunOutcome::Completed { next } => {
            info!(
                ledgers = snapshot.ledgers_committed,
                rows = snapshot.rows_committed,
                next,
                elapsed_secs = snapshot.elapsed_secs,
                failures,
                restarts,
                rewinds = snapshot.rewinds,
                dead_letters = snapshot.dead_letters,
                "run complete"
            );
            eprintln!(
                "committed {} ledgers ({} rows, {} files) in {:.1} s; next ledger {next}",
                snapshot.ledgers_committed,
                snapshot.rows_committed,
                snapshot.files_published,
                snapshot.elapsed_secs
            );
            Ok(ExitCode::SUCCESS)
        }
        RunOutcome::Failed(reason) => {
            info!(
                failures,
                restarts,
                rewinds = snapshot.rewinds,
                dead_letters = snapshot.dead_letters,
                "run stopped"
            );
            anyhow::bail!("stream stopped: {reason}")
        }
    }
}

/// Waits for the run; the first SIGINT/SIGTERM drains it, a second one (or the drain timeout)
/// aborts it.
async fn wait_with_signals(
    handle: ledgerflow_actors::RunHandle,
    control: &ledgerflow_actors::RunControl,
    shutdown_timeout: Duration,
) -> anyhow::Result<RunOutcome> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let wait = handle.wait();
    tokio::pin!(wait);
    tokio::select! {
        outcome = &mut wait => return Ok(outcome),
        _ = terminate.recv() => info!("SIGTERM: draining"),
        _ = interrupt.recv() => info!("SIGINT: draining"),
    }
    control.drain();
    tokio::select! {
        outcome = &mut wait => Ok(outcome),
        _ = terminate.recv() => abort(control, "a second signal"),
        _ = interrupt.recv() => abort(control, "a second signal"),
        _ = tokio::time::sleep(shutdown_timeout) => abort(control, "the shutdown timeout"),
    }
}

fn abort(control: &ledgerflow_actors::RunControl, why: &str) -> anyhow::Result<RunOutcome> {
    warn!(why, "aborting: nothing past the last commit is kept");
    control.abort();
    anyhow::bail!("aborted by {why}; the checkpoint holds everything committed")
}

async fn report_progress(stats: Arc<PipelineStats>, mode: ProgressMode, every: Duration, to: Option<u32>) {
    let bar = match mode {
        ProgressMode::Bar => true,
        ProgressMode::Auto => std::io::stderr().is_terminal(),
        ProgressMode::Log | ProgressMode::Off => false,
    };
    if matches!(mode, ProgressMode::Off) {
        return;
    }
    let mut ticker = tokio::time::interval(if bar { Duration::from_millis(200) } else { every });
    ticker.tick().await;
    let progress = bar.then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} ledger {msg} [{elapsed_precise}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    loop {
        ticker.tick().await;
        let s = stats.snapshot();
        let rate = s.ledgers_committed as f64 / s.elapsed_secs.max(1e-9);
        let lag = s.source_ledger.saturating_sub(s.checkpoint_ledger);
        let target = to.map_or_else(String::new, |to| format!(" of {to}"));
        match &progress {
            Some(bar) => bar.set_message(format!(
                "{}{target}  {rate:.0} ledgers/s  lag {lag}  in flight {}",
                s.checkpoint_ledger, s.in_flight_batches
            )),
            None => info!(
                checkpoint_ledger = s.checkpoint_ledger,
                ledgers_committed = s.ledgers_committed,
                ledgers_per_sec = rate as u64,
                lag,
                rewinds = s.rewinds,
                "progress"
            ),
        }
        if s.rewinds > 0 && s.last_error.is_some() {
            warn!(error = ?s.last_error, "last error");
        }
    }
}
