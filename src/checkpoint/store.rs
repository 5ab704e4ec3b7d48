use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::range::LedgerRange;

use super::codec::{self, CommitRecord, Progress};
use super::{CheckpointError, StreamId, keys};

/// Failpoint at the start of [`CheckpointStore::commit`]: nothing has been written.
pub const BEFORE_COMMIT: &str = "checkpoint:before_commit";
/// Failpoint after the commit transaction, before the flush: the commit is visible to this
/// process but not durable.
pub const AFTER_TRANSACTION: &str = "checkpoint:after_transaction";
/// Failpoint after the flush: the commit is durable but the caller sees an error.
pub const AFTER_FLUSH: &str = "checkpoint:after_flush";

/// A ledger that could not be processed and was set aside instead of stopping the stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetter {
    pub sequence: u32,
    /// Why it was set aside (the error, as text).
    pub reason: String,
    /// Where its raw bytes were kept, relative to the archive root.
    pub path: String,
}

/// Step 2 of design §3: what one commit makes durable.
#[derive(Clone, PartialEq, Eq)]
pub struct Commit {
    pub stream: StreamId,
    /// The ledgers this commit makes durable; must start right after the checkpoint.
    pub range: LedgerRange,
    /// Relative paths of the files this commit publishes, staged and fsynced but not yet renamed
    /// into place. They become the checkpoint's `pending` files.
    pub files: Vec<String>,
    /// Opaque analytics snapshot taken after the last ledger of `range`; replaces the previous.
    pub analytics_state: Vec<u8>,
    /// Ledgers of `range` that were set aside; appended to the checkpoint's.
    pub dead_letters: Vec<DeadLetter>,
}

/// A stream's durable progress, as recovery reads it at start-up.
#[derive(Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub stream: StreamId,
    /// High-water mark: the last ledger committed.
    pub last_ledger: u32,
    /// The first ledger ever committed.
    pub first_ledger: u32,
    /// Every file committed, in commit order (published, or pending when in the last commit).
    pub files: Vec<String>,
    /// Files of the last commit that recovery must roll forward (publish) if they are not in
    /// place yet; empty once [`CheckpointStore::mark_published`] ran.
    pub pending: Vec<String>,
    /// The snapshot of the last commit.
    pub analytics_state: Vec<u8>,
    /// Every dead letter, in commit order.
    pub dead_letters: Vec<DeadLetter>,
    pub commits: u64,
}

impl Checkpoint {
    /// Where the stream resumes: `last_ledger + 1`, `None` after `u32::MAX`.
    pub fn next_ledger(&self) -> Option<u32> {
        self.last_ledger.checked_add(1)
    }
}

/// The answer to a successful [`CheckpointStore::commit`], sent once the commit is durable.
/// Small on purpose: [`CheckpointStore::load`] reads every commit record, a commit only the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitAck {
    pub stream: StreamId,
    /// The committed range; its `last` is the new high-water mark.
    pub range: LedgerRange,
    /// The first ledger ever committed.
    pub first_ledger: u32,
    /// Commits of the stream so far, this one included.
    pub commits: u64,
    /// `true` when this exact commit was already the last one (a retry after an error that
    /// came after the transaction): nothing was written, the store was flushed again.
    pub replayed: bool,
}

/// The checkpoints of every stream, in one sled database (see the module docs for the protocol).
///
/// Cheap to clone (sled handles are reference counted). Commits of one stream are serialized by
/// sled transactions, but the protocol assumes one writer per stream (the CheckpointActor):
/// `reset` must not race with `commit` on the same stream.
#[derive(Clone)]
pub struct CheckpointStore {
    db: sled::Db,
    // Visible to the module's tests, which damage values on purpose.
    pub(super) progress: sled::Tree,
    pub(super) commits: sled::Tree,
    pub(super) analytics: sled::Tree,
}

impl fmt::Debug for CheckpointStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointStore")
            .field("trees", &[keys::PROGRESS_TREE, keys::COMMITS_TREE, keys::ANALYTICS_TREE])
            .finish_non_exhaustive()
    }
}

impl CheckpointStore {
    /// Opens (or creates) the database directory `path`. sled locks the directory: while another
    /// handle holds it, this fails with a transient [`CheckpointError::Open`]. That includes a
    /// handle of this process dropped a moment ago (sled's background threads release the lock
    /// shortly after the drop), so a restarted CheckpointActor retries with its backoff.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        let db = match sled::open(path) {
            // sled 0.34 writes a snapshot to `snap.<lsn>.generating`, fsyncs it, then renames
            // it; but on open it also reads `.generating` files, so a process killed while
            // writing one leaves a database that no longer opens ("Read corrupted data";
            // sled issues #1527, #1533; seen under the chaos tests' kill -9). Such a file is
            // incomplete by construction and only a cache of the log: remove it and open again.
            // (A lock held by a live process fails before the snapshot is read, so this never
            // touches a database in use.)
            Err(sled::Error::Corruption { .. }) if remove_incomplete_snapshots(path) > 0 => sled::open(path),
            other => other,
        }
        .map_err(|source| CheckpointError::Open { path: path.to_owned(), source })?;
        Self::with_db(db)
    }

    /// Uses an open database (e.g. one built from a tuned `sled::Config`).
    pub fn with_db(db: sled::Db) -> Result<Self, CheckpointError> {
        let open_tree = |name: &str| {
            db.open_tree(name)
                .map_err(|source| CheckpointError::storage(&format!("open tree {name}"), None, source))
        };
        Ok(CheckpointStore {
            progress: open_tree(keys::PROGRESS_TREE)?,
            commits: open_tree(keys::COMMITS_TREE)?,
            analytics: open_tree(keys::ANALYTICS_TREE)?,
            db,
        })
    }

    /// The stream's checkpoint, `None` before its first commit. A consistent snapshot: read in
    /// one transaction, so never half of a concurrent commit.
    pub fn load(&self, stream: &StreamId) -> Result<Option<Checkpoint>, CheckpointError> {
        let progress_key = keys::progress(stream);
        let analytics_key = keys::analytics(stream);
        (&self.progress, &self.commits, &self.analytics)
            .transaction(|(progress_tree, commits_tree, analytics_tree)| {
                let Some(value) = progress_tree.get(&progress_key)? else {
                    return Ok(None);
                };
                let progress =
                    Progress::decode(&value, &progress_key).map_err(ConflictableTransactionError::Abort)?;
                let mut checkpoint = Checkpoint {
                    stream: stream.clone(),
                    last_ledger: progress.last_ledger,
                    first_ledger: progress.first_ledger,
                    files: Vec::new(),
                    pending: Vec::new(),
                    analytics_state: Vec::new(),
                    dead_letters: Vec::new(),
                    commits: progress.commits,
                };
                let mut previous_range: Option<LedgerRange> = None;
                for index in 0..progress.commits {
                    let key = keys::commit(stream, index);
                    let corrupt = |reason: String| {
                        ConflictableTransactionError::Abort(CheckpointError::Corrupt {
                            tree: keys::COMMITS_TREE,
                            key: keys::display(&key),
                            reason,
                        })
                    };
                    let value = commits_tree.get(&key)?.ok_or_else(|| {
                        corrupt(format!("missing: the progress record counts {} commits", progress.commits))
                    })?;
                    let record =
                        CommitRecord::decode(&value, &key).map_err(ConflictableTransactionError::Abort)?;
                    // The records must chain exactly from `first_ledger` to `last_ledger`.
                    match previous_range {
                        None if record.range.first() != progress.first_ledger => {
                            return Err(corrupt(format!(
                                "the first commit starts at ledger {}, the progress record at {}",
                                record.range.first(),
                                progress.first_ledger
                            )));
                        }
                        Some(previous) if !record.range.follows(&previous) => {
                            return Err(corrupt(format!(
                                "ledgers {} do not follow the previous commit's {previous}",
                                record.range
                            )));
                        }
                        _ => {}
                    }
                    previous_range = Some(record.range);
                    if index + 1 == progress.commits {
                        if record.range.last() != progress.last_ledger {
                            return Err(corrupt(format!(
                                "the last commit ends at ledger {}, the progress record at {}",
                                record.range.last(),
                                progress.last_ledger
                            )));
                        }
                        if progress.pending {
                            checkpoint.pending = record.files.clone();
                        }
                    }
                    checkpoint.files.extend(record.files);
                    checkpoint.dead_letters.extend(record.dead_letters);
                }
                let value = analytics_tree.get(&analytics_key)?.ok_or_else(|| {
                    ConflictableTransactionError::Abort(CheckpointError::Corrupt {
                        tree: keys::ANALYTICS_TREE,
                        key: keys::display(&analytics_key),
                        reason: "missing: every commit writes it".into(),
                    })
                })?;
                checkpoint.analytics_state = codec::decode_analytics(&value, &analytics_key)
                    .map_err(ConflictableTransactionError::Abort)?;
                Ok(Some(checkpoint))
            })
            .map_err(|error| transaction_error(error, "load", stream))
    }

    /// The first ledger the stream must process: `last_ledger + 1`, or `configured_start`
    /// before the first commit. Comparing `configured_start` with an existing checkpoint is the
    /// caller's job.
    pub fn resume_from(&self, stream: &StreamId, configured_start: u32) -> Result<u32, CheckpointError> {
        let key = keys::progress(stream);
        let value = self
            .progress
            .get(&key)
            .map_err(|source| CheckpointError::storage("resume_from", Some(stream), source))?;
        let Some(value) = value else {
            return Ok(configured_start);
        };
        let progress = Progress::decode(&value, &key)?;
        progress.last_ledger.checked_add(1).ok_or(CheckpointError::NothingFollows {
            stream: stream.clone(),
            last_ledger: progress.last_ledger,
        })
    }

    /// Step 2 of design §3, durable when it returns `Ok`: in one sled transaction over the three
    /// trees, checks that `commit.range` starts right after the high-water mark (any start for
    /// the first commit), then writes the new high-water mark, the commit record (files and dead
    /// letters, appended) with its files as the pending ones, and the analytics snapshot; then
    /// flushes sled.
    ///
    /// A refused commit (not contiguous, bad file path, dead letter outside the range) writes
    /// nothing. Retrying exactly the last commit is harmless: it is acknowledged again with
    /// [`CommitAck::replayed`] (after a flush), so a caller may retry after an error whose
    /// outcome it cannot know. After an `Err` the commit may or may not have happened: read
    /// the checkpoint again rather than assume.
    ///
    /// Failpoints: [`BEFORE_COMMIT`], [`AFTER_TRANSACTION`], [`AFTER_FLUSH`].
    pub fn commit(&self, commit: Commit) -> Result<CommitAck, CheckpointError> {
        fail::fail_point!(BEFORE_COMMIT, |_| Err(CheckpointError::Injected(BEFORE_COMMIT)));
        let Commit { stream, range, files, analytics_state, dead_letters } = commit;
        check_commit(&stream, range, &files, &dead_letters)?;
        let pending = !files.is_empty();
        let record = CommitRecord { range, files, dead_letters };
        let record_value = record.encode(&stream)?;
        let analytics_value = codec::encode_analytics(&analytics_state);
        let progress_key = keys::progress(&stream);
        let analytics_key = keys::analytics(&stream);

        let ack = (&self.progress, &self.commits, &self.analytics)
            .transaction(|(progress_tree, commits_tree, analytics_tree)| {
                let previous = match progress_tree.get(&progress_key)? {
                    Some(value) => Some(
                        Progress::decode(&value, &progress_key)
                            .map_err(ConflictableTransactionError::Abort)?,
                    ),
                    None => None,
                };
                let next = match previous {
                    None => Progress {
                        first_ledger: range.first(),
                        last_ledger: range.last(),
                        commits: 1,
                        pending,
                    },
                    Some(previous) => {
                        if previous.last_ledger.checked_add(1) != Some(range.first()) {
                            let last_key = keys::commit(&stream, previous.commits - 1);
                            let is_replay = previous.last_ledger == range.last()
                                && commits_tree.get(&last_key)?.as_deref() == Some(record_value.as_slice())
                                && analytics_tree.get(&analytics_key)?.as_deref()
                                    == Some(analytics_value.as_slice());
                            if is_replay {
                                return Ok(CommitAck {
                                    stream: stream.clone(),
                                    range,
                                    first_ledger: previous.first_ledger,
                                    commits: previous.commits,
                                    replayed: true,
                                });
                            }
                            let error = match previous.last_ledger.checked_add(1) {
                                Some(expected) => {
                                    CheckpointError::NotContiguous { stream: stream.clone(), expected, range }
                                }
                                None => CheckpointError::NothingFollows {
                                    stream: stream.clone(),
                                    last_ledger: previous.last_ledger,
                                },
                            };
                            return Err(ConflictableTransactionError::Abort(error));
                        }
                        Progress {
                            first_ledger: previous.first_ledger,
                            last_ledger: range.last(),
                            commits: previous.commits + 1,
                            pending,
                        }
                    }
                };
                commits_tree.insert(keys::commit(&stream, next.commits - 1), record_value.as_slice())?;
                analytics_tree.insert(analytics_key.as_slice(), analytics_value.as_slice())?;
                progress_tree.insert(progress_key.as_slice(), &next.encode()[..])?;
                Ok(CommitAck {
                    stream: stream.clone(),
                    range,
                    first_ledger: next.first_ledger,
                    commits: next.commits,
                    replayed: false,
                })
            })
            .map_err(|error| transaction_error(error, "commit", &stream))?;

        // Visible to this process, not yet durable: a crash here loses the commit, which is
        // fine because its files are still staged, and recovery deletes staging files the
        // checkpoint does not name and replays the range.
        fail::fail_point!(AFTER_TRANSACTION, |_| Err(CheckpointError::Injected(AFTER_TRANSACTION)));
        self.flush("commit", &stream)?;
        // Durable: from here a crash leaves the files in `pending`, and recovery publishes them.
        fail::fail_point!(AFTER_FLUSH, |_| Err(CheckpointError::Injected(AFTER_FLUSH)));
        Ok(ack)
    }

    /// After step 3 (publish): the pending files are in place, clear them so recovery does not
    /// look for them. A no-op when nothing is pending or the stream has no checkpoint. Flushed
    /// when it changed something (were it lost, recovery would only publish the files again,
    /// which finds them in place).
    pub fn mark_published(&self, stream: &StreamId) -> Result<(), CheckpointError> {
        let key = keys::progress(stream);
        let changed = self
            .progress
            .transaction(|progress_tree| {
                let Some(value) = progress_tree.get(&key)? else {
                    return Ok(false);
                };
                let progress = Progress::decode(&value, &key).map_err(ConflictableTransactionError::Abort)?;
                if !progress.pending {
                    return Ok(false);
                }
                progress_tree
                    .insert(key.as_slice(), &Progress { pending: false, ..progress }.encode()[..])?;
                Ok(true)
            })
            .map_err(|error| transaction_error(error, "mark_published", stream))?;
        if changed {
            self.flush("mark_published", stream)?;
        }
        Ok(())
    }

    /// Deletes every key of `stream` (and of no other stream) in one transaction, then flushes.
    /// Returns whether there was anything to delete.
    pub fn reset(&self, stream: &StreamId) -> Result<bool, CheckpointError> {
        let storage_error = |source| CheckpointError::storage("reset", Some(stream), source);
        let commit_keys = self
            .commits
            .scan_prefix(keys::commits_prefix(stream))
            .keys()
            .collect::<Result<Vec<sled::IVec>, sled::Error>>()
            .map_err(storage_error)?;
        let progress_key = keys::progress(stream);
        let analytics_key = keys::analytics(stream);
        let existed = (&self.progress, &self.commits, &self.analytics)
            .transaction(|(progress_tree, commits_tree, analytics_tree)| {
                let mut existed = !commit_keys.is_empty();
                existed |= progress_tree.remove(progress_key.as_slice())?.is_some();
                existed |= analytics_tree.remove(analytics_key.as_slice())?.is_some();
                for key in &commit_keys {
                    commits_tree.remove(key)?;
                }
                Ok::<_, ConflictableTransactionError<CheckpointError>>(existed)
            })
            .map_err(|error| transaction_error(error, "reset", stream))?;
        if existed {
            self.flush("reset", stream)?;
        }
        Ok(existed)
    }

    /// Every stream with a checkpoint, in byte order of their ids.
    pub fn streams(&self) -> Result<Vec<StreamId>, CheckpointError> {
        self.progress
            .iter()
            .keys()
            .map(|key| {
                let key = key.map_err(|source| CheckpointError::storage("list streams", None, source))?;
                keys::stream_of_progress_key(&key).ok_or_else(|| CheckpointError::Corrupt {
                    tree: keys::PROGRESS_TREE,
                    key: keys::display(&key),
                    reason: "not a valid stream id".into(),
                })
            })
            .collect()
    }

    /// One flush covers every tree (they share sled's log).
    fn flush(&self, operation: &str, stream: &StreamId) -> Result<(), CheckpointError> {
        self.db.flush().map(drop).map_err(|source| {
            CheckpointError::storage(&format!("flush after {operation}"), Some(stream), source)
        })
    }
}

/// Refuses commits that recovery could not act on safely. Contiguity is checked in the
/// transaction, against the stored high-water mark.
fn check_commit(
    stream: &StreamId,
    range: LedgerRange,
    files: &[String],
    dead_letters: &[DeadLetter],
) -> Result<(), CheckpointError> {
    let mut seen = HashSet::with_capacity(files.len());
    for path in files {
        let refused = if path.is_empty() {
            Some("it is empty")
        } else if path.starts_with(['/', '\\']) || Path::new(path).is_absolute() {
            Some("it is absolute; files are relative to the archive root")
        } else if path.split(['/', '\\']).any(|component| component == "..") {
            Some("it leaves the archive root (`..`)")
        } else if path.contains('\0') {
            Some("it contains a NUL byte")
        } else if !seen.insert(path.as_str()) {
            Some("it appears twice in the commit")
        } else {
            None
        };
        if let Some(reason) = refused {
            return Err(CheckpointError::InvalidFilePath {
                stream: stream.clone(),
                range,
                path: path.clone(),
                reason,
            });
        }
    }
    if let Some(letter) = dead_letters.iter().find(|letter| !range.contains(letter.sequence)) {
        return Err(CheckpointError::DeadLetterOutsideRange {
            stream: stream.clone(),
            range,
            sequence: letter.sequence,
        });
    }
    Ok(())
}

fn transaction_error(
    error: TransactionError<CheckpointError>,
    operation: &str,
    stream: &StreamId,
) -> CheckpointError {
    match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(source) => CheckpointError::storage(operation, Some(stream), source),
    }
}

/// `Debug` without the analytics snapshot, which may be megabytes (style.md §4).
impl fmt::Debug for Commit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Commit")
            .field("stream", &self.stream)
            .field("range", &self.range)
            .field("files", &self.files)
            .field("analytics_state_bytes", &self.analytics_state.len())
            .field("dead_letters", &self.dead_letters)
            .finish()
    }
}

/// `Debug` without the analytics snapshot and with file counts only: a long stream has many.
impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoint")
            .field("stream", &self.stream)
            .field("first_ledger", &self.first_ledger)
            .field("last_ledger", &self.last_ledger)
            .field("commits", &self.commits)
            .field("files", &self.files.len())
            .field("pending", &self.pending)
            .field("analytics_state_bytes", &self.analytics_state.len())
            .field("dead_letters", &self.dead_letters.len())
            .finish()
    }
}

/// Deletes the `snap.*.generating` files of the sled database at `path` (snapshots a killed
/// process did not finish); returns how many.
fn remove_incomplete_snapshots(path: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("snap.") && name.ends_with(".generating")
        })
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}
