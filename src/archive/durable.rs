//! The filesystem calls the two-phase commit needs to be crash-safe.
//!
//! A file's bytes are durable after `fsync` on the file; its *name* is durable only after
//! `fsync` on the directory that holds the entry (and, for a new directory, on that
//! directory's parent). A rename is durable after `fsync` on the destination directory; the
//! source directory is synced too so the old entry cannot reappear. These helpers open a
//! directory and call `sync_all` on it, which works on Unix filesystems.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use super::ArchiveError;

/// `fsync` on a directory, making the entries created, renamed or removed in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    let handle = File::open(dir).map_err(ArchiveError::io("open directory", dir))?;
    handle.sync_all().map_err(ArchiveError::io("fsync directory", dir))
}

/// `create_dir_all` that makes each directory it creates durable: after a new directory is
/// created, its parent is fsynced. Existing directories are left alone (so this is cheap when
/// the partition exists), and a directory created concurrently by another writer is fine.
pub(crate) fn create_dir_all_durable(dir: &Path) -> Result<(), ArchiveError> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(path) = cursor {
        if path.as_os_str().is_empty() || path.is_dir() {
            break;
        }
        missing.push(path);
        cursor = path.parent();
    }
    for path in missing.into_iter().rev() {
        match fs::create_dir(path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => continue,
            Err(error) => return Err(ArchiveError::io("create directory", path)(error)),
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Removes a file; a file that is already gone counts as removed (recovery may run twice).
/// Returns whether this call removed it.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<bool, ArchiveError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(ArchiveError::io("remove", path)(error)),
    }
}

/// Whether `path` exists, telling "absent" apart from "cannot look".
pub(crate) fn exists(path: &Path) -> Result<bool, ArchiveError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(ArchiveError::io("stat", path)(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_nested_directories_and_tolerates_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b").join("c");
        create_dir_all_durable(&nested).unwrap();
        assert!(nested.is_dir());
        create_dir_all_durable(&nested).unwrap();
        sync_dir(&nested).unwrap();
    }

    #[test]
    fn fails_with_the_path_when_a_file_is_in_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let error = create_dir_all_durable(&blocker.join("sub")).unwrap_err();
        assert!(error.to_string().contains("file"), "{error}");
    }

    #[test]
    fn removing_a_missing_file_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"x").unwrap();
        assert!(exists(&path).unwrap());
        assert!(remove_file_if_exists(&path).unwrap());
        assert!(!remove_file_if_exists(&path).unwrap());
        assert!(!exists(&path).unwrap());
    }
}
