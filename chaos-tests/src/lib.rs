//! Chaos tests of ledgerflow (design §7): the real `ledgerflow` binary, built with
//! `--features failpoints`, is killed with SIGKILL at seeded random instants and at every commit
//! step, fed corrupt, truncated, oversized and missing source objects, slowed down and made to
//! fail through its failpoints; every run then has to end with the archive holding each ledger
//! of the range exactly once and analytics equal to an uninterrupted reference run.
//!
//! It solves the following problem: the in-process crash tests (`actors/tests/crash.rs`) show
//! the actor tree recovers from an error at any failpoint, but not that the process an operator
//! runs survives being killed at any instant, nor that a chaos experiment driven only from the
//! outside (environment, config, files, signals) can prove the archive exact. This crate drives
//! the binary exactly as an operator or a chaos tool would and reads the archive back.
//!
//! Two profiles share the scenarios: **short** (`tests/short.rs`, under
//! `cargo test --workspace --all-features`) runs each scenario once at small scale; **long**
//! (`cargo run --release -p ledgerflow-chaos -- long`) repeats them until at least 1000 kills and
//! 10,000 injected faults, and prints a summary table.
//!
//! # Layout
//!
//! - [`binary`]: finds the `ledgerflow` binary, runs its commands, captures its JSON log lines
//!   and reads the `run complete` counters.
//! - [`stream`]: a stream under test: a small fast configuration written as TOML in a temp
//!   directory, and the uninterrupted reference run it is compared with.
//! - [`faults`]: what can be injected: the failpoint names and `FAILPOINTS` specs, and damage
//!   to SEP-54 store objects (truncate, flip bytes, delete, sizes for `max_object_bytes`).
//! - [`procfs`]: the child seen through `/proc`: resident memory (VmRSS), and whether one of
//!   its threads sleeps in a failpoint's `sleep(ms)`, the instant to kill it.
//! - [`summary`]: reads an archive back (Parquet, the library's `verify`, the checkpoint) and
//!   compares it with the reference: lost, duplicated, differing rows, analytics equal.
//! - [`scenarios`]: the scenarios themselves, each returning what it injected and what it
//!   found, used by both profiles.
//! - [`long`]: the long profile: scale, seeds, the loop and the summary table.
//! - [`s3`]: a real S3-compatible server (moto's) on loopback, with bucket upload and download.
//! - [`fault_proxy`]: an HTTP proxy injecting 500, 503, 429, slow replies, truncated bodies and
//!   dropped connections between ledgerflow and a server.

pub mod binary;
pub mod fault_proxy;
pub mod faults;
pub mod long;
pub mod procfs;
pub mod s3;
pub mod scenarios;
pub mod stream;
pub mod summary;
