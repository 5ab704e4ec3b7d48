//! The child process seen through `/proc` (Linux).
//!
//! - [`vm_rss_bytes`] and [`RssSampler`]: resident memory, sampled while the child runs, for
//!   the backpressure scenario (memory stays flat when the archive is slow).
//! - [`in_failpoint_sleep`]: whether one of the child's threads sleeps in `nanosleep`. The
//!   binary's own threads never do (tokio parks in futex/epoll, sled's flusher on a condvar),
//!   but fail-rs's `sleep(ms)` action is a `std::thread::sleep`: a thread there is the instant a
//!   failpoint fired, which is when the crash scenarios send SIGKILL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

/// The child's resident set size, from `VmRSS` in `/proc/<pid>/status`.
pub fn vm_rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS line")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .context("VmRSS without a value")?
        .parse()
        .context("VmRSS is not a number")?;
    Ok(kib * 1024)
}

/// Samples a process's VmRSS every `every` on a thread until stopped or the process is gone.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match vm_rss_bytes(pid) {
                    Ok(rss) if rss > 0 => samples.push(rss),
                    // A zombie has no VmRSS line; the process is gone.
                    _ => break,
                }
                std::thread::sleep(every);
            }
            samples
        });
        RssSampler { stop, thread }
    }

    /// Stops sampling and returns the samples, in order.
    pub fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Whether a thread of `pid` is sleeping in `nanosleep` (a failpoint's `sleep(ms)` fired).
pub fn in_failpoint_sleep(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().any(|task| {
        let dir = task.path();
        let wchan = std::fs::read_to_string(dir.join("wchan")).unwrap_or_default();
        if wchan.contains("nanosleep") {
            return true;
        }
        // Kernels that hide wchan: the syscall number (x86_64: 35 nanosleep, 230
        // clock_nanosleep), first field of /proc/<pid>/task/<tid>/syscall.
        if wchan.is_empty() || wchan == "0" {
            let syscall = std::fs::read_to_string(dir.join("syscall")).unwrap_or_default();
            return matches!(syscall.split_whitespace().next(), Some("35" | "230"));
        }
        false
    })
}
