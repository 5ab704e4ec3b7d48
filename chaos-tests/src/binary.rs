//! The `ledgerflow` binary as a child process.
//!
//! [`Ledgerflow::locate`] finds it next to the running executable (`target/<profile>/ledgerflow`,
//! where `cargo test --workspace --all-features` builds it with failpoints), or at
//! `$LEDGERFLOW_BIN`. [`Ledgerflow::spawn_run`] starts `ledgerflow run` with JSON logs on
//! stderr, which a reader thread collects so a test can wait for a line ([`Running::wait_for`]),
//! kill the process with SIGKILL ([`Running::kill9`]), or wait for its end with a deadline
//! ([`Running::wait`]). [`Finished`] holds the exit status and the log lines, and reads the
//! totals of the final `run complete` line ([`RunCounters`]). The child never inherits the
//! caller's `LEDGERFLOW_*`, `RUST_LOG` or `FAILPOINTS`: a scenario sets exactly what it injects.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Environment variable naming the binary to drive (default: next to the current executable).
pub const BIN_ENV: &str = "LEDGERFLOW_BIN";

/// How often the child's state is polled while waiting for a condition.
pub const POLL: Duration = Duration::from_millis(2);

#[derive(Debug, Clone)]
pub struct Ledgerflow {
    path: PathBuf,
}

impl Ledgerflow {
    /// `$LEDGERFLOW_BIN`, else `target/<profile>/ledgerflow` next to the current executable
    /// (a test's is `target/<profile>/deps/<test>-<hash>`, the long profile's
    /// `target/<profile>/ledgerflow-chaos`).
    pub fn locate() -> Result<Self> {
        if let Some(path) = std::env::var_os(BIN_ENV) {
            let path = PathBuf::from(path);
            if !path.is_file() {
                bail!("{BIN_ENV}={} does not name a file", path.display());
            }
            return Ok(Ledgerflow { path });
        }
        let exe = std::env::current_exe().context("cannot locate the current executable")?;
        let mut dir = exe.parent().context("the current executable has no directory")?;
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir = dir.parent().context("target/<profile>/deps has no parent")?;
        }
        let path = dir.join("ledgerflow");
        if !path.is_file() {
            let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
            let flag = if profile == "release" { " --release" } else { "" };
            bail!(
                "the ledgerflow binary is missing at {}: build it with failpoints first \
                 (`cargo build{flag} -p ledgerflow-actors --features failpoints`, or \
                 `cargo test --workspace --all-features`), or set {BIN_ENV}",
                path.display()
            );
        }
        Ok(Ledgerflow { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A command for the binary with a clean environment: JSON logs at info, and none of the
    /// caller's ledgerflow variables, log filter or failpoints.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.path);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("LEDGERFLOW_") || key == "FAILPOINTS" || key == "RUST_LOG" {
                command.env_remove(key.as_ref());
            }
        }
        command.env("RUST_LOG", "info").env("LEDGERFLOW_SERVICE__LOG_FORMAT", "json");
        command.env("LEDGERFLOW_SERVICE__PROGRESS", "off");
        command
    }

    /// Starts `ledgerflow run --config CONFIG` with `failpoints` (the `FAILPOINTS` value, empty
    /// for none), extra environment and arguments.
    pub fn spawn_run(
        &self,
        config: &Path,
        failpoints: &str,
        env: &[(&str, String)],
        args: &[String],
    ) -> Result<Running> {
        let mut command = self.command();
        command.arg("run").arg("--config").arg(config).args(args);
        if !failpoints.is_empty() {
            command.env("FAILPOINTS", failpoints);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().with_context(|| format!("cannot start {}", self.path.display()))?;
        let stderr = child.stderr.take().context("child stderr")?;
        let log = Arc::new(LogBuffer::default());
        let reader_log = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                reader_log.push(line);
            }
            reader_log.close();
        });
        Ok(Running { child, log, reader: Some(reader), started: Instant::now() })
    }

    /// Runs `ledgerflow run` to its end (killing it after `timeout`).
    pub fn run(&self, config: &Path, failpoints: &str, timeout: Duration) -> Result<Finished> {
        self.spawn_run(config, failpoints, &[], &[])?.wait(timeout)
    }

    /// `ledgerflow verify --config CONFIG --json`: the exit code and the report.
    pub fn verify(&self, config: &Path) -> Result<VerifyOutput> {
        let output = self
            .command()
            .args(["verify", "--json", "--config"])
            .arg(config)
            .output()
            .context("cannot run ledgerflow verify")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: Value = serde_json::from_str(&stdout).with_context(|| {
            format!(
                "ledgerflow verify printed no JSON report (exit {:?}): {stdout} {}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
        Ok(VerifyOutput { exit_code: output.status.code(), report })
    }

    /// `ledgerflow checkpoint show --stream ID` as JSON (`checkpoint: null` when there is none).
    pub fn checkpoint_show(&self, config: &Path, stream: &str) -> Result<Value> {
        let output = self
            .command()
            .args(["checkpoint", "show", "--stream", stream, "--config"])
            .arg(config)
            .output()
            .context("cannot run ledgerflow checkpoint show")?;
        if !output.status.success() {
            bail!("ledgerflow checkpoint show failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        serde_json::from_slice(&output.stdout).context("ledgerflow checkpoint show printed no JSON")
    }

    /// `ledgerflow generate`: a SEP-54 store of `ledgers` synthetic ledgers, one per object.
    pub fn generate(&self, out: &Path, ledgers: u32, transactions_per_ledger: u32, seed: u64) -> Result<()> {
        let output = self
            .command()
            .arg("generate")
            .args(["--ledgers", &ledgers.to_string()])
            .args(["--transactions-per-ledger", &transactions_per_ledger.to_string()])
            .args(["--seed", &seed.to_string()])
            .arg("--out")
            .arg(out)
            .output()
            .context("cannot run ledgerflow generate")?;
        if !output.status.success() {
            bail!("ledgerflow generate failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    }
}

/// What `ledgerflow verify --json` said.
#[derive(Debug, Clone)]
pub struct VerifyOutput {
    pub exit_code: Option<i32>,
    pub report: Value,
}

impl VerifyOutput {
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0) && self.report["ok"] == Value::Bool(true)
    }

    /// The sequences of the dead letters it lists.
    pub fn dead_letters(&self) -> Vec<u32> {
        self.report["dead_letters"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d["sequence"].as_u64()).map(|s| s as u32).collect())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct LogBuffer {
    state: Mutex<(Vec<String>, bool)>,
    changed: Condvar,
}

impl LogBuffer {
    fn push(&self, line: String) {
        self.state.lock().expect("log lock").0.push(line);
        self.changed.notify_all();
    }

    fn close(&self) {
        self.state.lock().expect("log lock").1 = true;
        self.changed.notify_all();
    }
}

/// A running `ledgerflow run`.
pub struct Running {
    child: Child,
    log: Arc<LogBuffer>,
    reader: Option<std::thread::JoinHandle<()>>,
    started: Instant,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// Whether the process has exited (without reaping the log).
    pub fn exited(&mut self) -> Result<bool> {
        Ok(self.child.try_wait().context("try_wait")?.is_some())
    }

    /// Waits until a log line satisfies `predicate` (true), the log ends because the process
    /// exited (false), or `timeout` passes (false).
    pub fn wait_for(&self, timeout: Duration, mut predicate: impl FnMut(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        let mut state = self.log.state.lock().expect("log lock");
        loop {
            if state.0[seen..].iter().any(|l| predicate(l)) {
                return true;
            }
            seen = state.0.len();
            let now = Instant::now();
            if state.1 || now >= deadline {
                return false;
            }
            state = self.log.changed.wait_timeout(state, deadline - now).expect("log lock").0;
        }
    }

    /// Polls `condition` (every [`POLL`]) until it holds (true), the process exits (false), or
    /// `timeout` passes (false).
    pub fn poll_until(&mut self, timeout: Duration, mut condition: impl FnMut(u32) -> bool) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(self.pid()) {
                return Ok(true);
            }
            if self.exited()? || Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGKILL. Returns whether the process was still running when the signal was sent (a
    /// kill that lands after the process ended on its own is no kill), and its log.
    pub fn kill9(mut self) -> Result<(bool, Finished)> {
        let running = self.child.try_wait()?.is_none();
        if running {
            // Between try_wait and kill the child may exit; kill then fails with InvalidInput
            // only once it is reaped, which try_wait above did not do.
            self.child.kill().context("SIGKILL")?;
        }
        let status = self.child.wait().context("wait after SIGKILL")?;
        let killed = running && status.code().is_none();
        Ok((killed, self.finish(status)))
    }

    /// Waits for the process to exit; after `timeout` it is killed and this is an error with
    /// the tail of its log.
    pub fn wait(mut self, timeout: Duration) -> Result<Finished> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(self.finish(status));
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let status = self.child.wait()?;
                let finished = self.finish(status);
                bail!("ledgerflow run did not finish within {timeout:?}; log tail:\n{}", finished.tail(20));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn finish(&mut self, status: ExitStatus) -> Finished {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let lines = std::mem::take(&mut self.log.state.lock().expect("log lock").0);
        Finished { status, lines, elapsed: self.started.elapsed() }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `ledgerflow run` that ended.
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: ExitStatus,
    pub lines: Vec<String>,
    pub elapsed: Duration,
}

impl Finished {
    /// The JSON log lines, parsed (other stderr lines are skipped).
    pub fn events(&self) -> impl Iterator<Item = Value> + '_ {
        self.lines.iter().filter(|l| l.starts_with('{')).filter_map(|l| serde_json::from_str(l).ok())
    }

    /// The events whose message is `message`.
    pub fn with_message<'a>(&'a self, message: &'a str) -> impl Iterator<Item = Value> + 'a {
        self.events().filter(move |e| e["fields"]["message"] == message)
    }

    /// The totals of the `run complete` line, if the run completed.
    pub fn counters(&self) -> Option<RunCounters> {
        let event = self.with_message("run complete").last()?;
        let fields = &event["fields"];
        let get = |key: &str| fields[key].as_u64();
        Some(RunCounters {
            ledgers: get("ledgers").unwrap_or(0),
            rows: get("rows").unwrap_or(0),
            failures: get("failures"),
            restarts: get("restarts"),
            rewinds: get("rewinds"),
            dead_letters: get("dead_letters"),
        })
    }

    /// The `error: ...` line the binary prints when a command fails.
    pub fn error_line(&self) -> Option<&str> {
        self.lines.iter().rev().find(|l| l.starts_with("error: ")).map(String::as_str)
    }

    pub fn tail(&self, n: usize) -> String {
        self.lines[self.lines.len().saturating_sub(n)..].join("\n")
    }
}

/// The totals the binary reports at the end of a completed run. The fault counters are
/// `None` when this binary does not report them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounters {
    pub ledgers: u64,
    pub rows: u64,
    /// Worker failures the supervisors handled (each injected error or panic that fired).
    pub failures: Option<u64>,
    pub restarts: Option<u64>,
    pub rewinds: Option<u64>,
    pub dead_letters: Option<u64>,
}
