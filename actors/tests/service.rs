//! The real `ledgerflow` binary as an operator runs it: killed with SIGKILL at several
//! instants and restarted, it ends with the same archive as an uninterrupted run; SIGTERM
//! drains, commits and exits 0; DuckDB reads the archive with hive partitioning.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ledgerflow::config::Config;
use ledgerflow_actors::RunOutcome;
use support::*;

const FIRST: u32 = 1_000_000;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ledgerflow"))
}

/// Writes `config` as a TOML file the binary reads.
fn config_file(dir: &Path, config: &Config) -> PathBuf {
    let path = dir.join("ledgerflow.toml");
    std::fs::write(&path, config.to_toml_string().expect("config as TOML")).unwrap();
    path
}

fn spawn(config_path: &Path, extra: &[&str]) -> Child {
    Command::new(binary())
        .args(["run", "--config", config_path.to_str().unwrap()])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ledgerflow")
}

fn parquet_files(root: &Path) -> usize {
    fn walk(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        entries
            .flatten()
            .map(|e| {
                let path = e.path();
                if path.file_name().is_some_and(|n| n == "_staging") {
                    0
                } else if path.is_dir() {
                    walk(&path)
                } else {
                    usize::from(path.extension().is_some_and(|x| x == "parquet"))
                }
            })
            .sum()
    }
    walk(root)
}

/// Waits until the archive holds at least `files` published files, or the child exits.
fn wait_for_files(child: &mut Child, root: &Path, files: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while parquet_files(root) < files && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sigkill(child: &mut Child) {
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_with_sigkill_and_restarted_the_archive_equals_an_uninterrupted_run() {
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = config(reference_dir.path(), 150);
    assert!(matches!(run(reference.clone()).await, RunOutcome::Completed { .. }));
    let expected = summarize(&reference.archive.root);

    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 150);
    let path = config_file(dir.path(), &config);
    // Kill at growing thresholds of published files (6 files per commit), so each kill lands
    // at a different point of the stream, mid-batch and mid-commit alike.
    for threshold in [1, 13, 27, 40] {
        let mut child = spawn(&path, &[]);
        wait_for_files(&mut child, &config.archive.root, threshold);
        sigkill(&mut child);
    }
    let status = spawn(&path, &[]).wait().unwrap();
    assert!(status.success());
    let verify_status =
        Command::new(binary()).args(["verify", "--config", path.to_str().unwrap()]).output().unwrap();
    assert!(verify_status.status.success(), "{}", String::from_utf8_lossy(&verify_status.stdout));
    assert_complete(&verify(&config), FIRST, FIRST + 149);
    assert_eq!(summarize(&config.archive.root), expected);
    duckdb_counts_match(&config.archive.root, &expected);
}

#[test]
fn sigterm_drains_commits_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 1_000_000);
    let path = config_file(dir.path(), &config);
    let mut child = spawn(&path, &[]);
    wait_for_files(&mut child, &config.archive.root, 6);
    let signalled = Instant::now();
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(30), "drained within the timeout");
    let report = verify(&config);
    assert!(report.is_ok(), "{report:#?}");
    let range = report.range.expect("committed before the signal");
    assert!(range.last() < FIRST + 999_999, "stopped early");
    assert!(report.pending_publish.is_empty(), "a drain publishes its last commit");
}

/// DuckDB (the Python package) reads every table of the archive with hive partitioning and
/// counts the same rows. Skipped when DuckDB is not installed, except in CI, where `.ci/run`
/// installs it.
fn duckdb_counts_match(root: &Path, expected: &ArchiveSummary) {
    let probe = Command::new("python3").args(["-c", "import duckdb"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        assert!(std::env::var_os("CI").is_none(), "CI must have DuckDB (.ci/run installs it)");
        eprintln!("duckdb check skipped: python3 -c 'import duckdb' failed");
        return;
    }
    for table in ledgerflow::tables::Table::ALL {
        let query = format!(
            "import duckdb; print(duckdb.sql(\"select count(*), count(distinct date) from read_parquet('{}/{}/*/*.parquet', hive_partitioning=true)\").fetchall()[0][0])",
            root.display(),
            table.name()
        );
        let output = Command::new("python3").args(["-c", &query]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let count: u64 = String::from_utf8(output.stdout).unwrap().trim().parse().unwrap();
        assert_eq!(count, expected.rows(table.name()), "DuckDB row count of {table}");
    }
}
