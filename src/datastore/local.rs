use std::path::{Path, PathBuf};

use super::{Layout, MANIFEST_FILE, Manifest, ObjectName};
use crate::decode::{DecodeError, DecodeLimits, Framing, LedgerIter, read_path};

/// A SEP-54 store in a local directory.
#[derive(Debug, Clone)]
pub struct LocalDataStore {
    root: PathBuf,
    manifest: Manifest,
    layout: Layout,
}

impl LocalDataStore {
    /// Opens the store at `root`, reading its `.config.json`.
    pub fn open(root: &Path) -> Result<Self, DecodeError> {
        let path = root.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path)
            .map_err(|source| DecodeError::Io { object: path.display().to_string(), source })?;
        let manifest = Manifest::parse(&path, &bytes)?;
        Ok(LocalDataStore { root: root.to_owned(), layout: Layout::of(&manifest), manifest })
    }

    /// True when `root` holds a store manifest.
    pub fn is_store(root: &Path) -> bool {
        root.join(MANIFEST_FILE).is_file()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Every object in the store, by first ledger. Files that are not store objects are
    /// ignored; partition folders are walked one level deep, as the layout puts them.
    pub fn objects(&self) -> Result<Vec<(ObjectName, PathBuf)>, DecodeError> {
        let mut objects = Vec::new();
        self.collect(&self.root, 0, &mut objects)?;
        objects.sort_by_key(|(name, _)| name.first);
        Ok(objects)
    }

    fn collect(
        &self,
        dir: &Path,
        depth: u8,
        out: &mut Vec<(ObjectName, PathBuf)>,
    ) -> Result<(), DecodeError> {
        let io = |source| DecodeError::Io { object: dir.display().to_string(), source };
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(io)?;
            if file_type.is_dir() && depth == 0 {
                self.collect(&path, depth + 1, out)?;
            } else if file_type.is_file()
                && let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(ObjectName::parse)
            {
                out.push((name, path));
            }
        }
        Ok(())
    }

    /// Path of the object that holds `sequence`, if it exists (current or legacy extension).
    pub fn object_path(&self, sequence: u32) -> Option<PathBuf> {
        [super::layout::EXTENSION, super::layout::LEGACY_EXTENSION]
            .into_iter()
            .map(|ext| self.root.join(self.layout.object_key_with(sequence, ext)))
            .find(|path| path.is_file())
    }

    /// The ledgers of one object.
    pub fn read(&self, path: &Path, limits: &DecodeLimits) -> Result<LedgerIter, DecodeError> {
        read_path(path, Some(Framing::DataStoreObject), limits)
    }
}
