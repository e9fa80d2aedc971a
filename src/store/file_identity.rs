//! The SQLite file a store opened, and whether it is still the one at its
//! path: deleted, replaced or made read-only under a running node, SQLite
//! goes on "writing" to the unlinked inode, and everything is lost at
//! stop. The check compares the path's device and inode with those seen
//! at connect, and opens the file for writing (without changing it).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Device and inode of the file at `path` when the store connected.
#[derive(Debug, Clone)]
pub(super) struct FileIdentity {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    /// The identity of the file at `path` now (None if it cannot be read:
    /// then nothing is watched).
    pub(super) fn of(path: &Path) -> Option<FileIdentity> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileIdentity {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// What is wrong with the file, or None while it is the one opened and
    /// writable.
    pub(super) fn fault(&self) -> Option<String> {
        let path = self.path.display();
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Some(format!(
                    "the database file {path} was deleted while the node ran; nothing more \
                     can be recorded"
                ));
            }
            Err(e) => return Some(format!("the database file {path} cannot be read: {e}")),
        };
        if (meta.dev(), meta.ino()) != (self.dev, self.ino) {
            return Some(format!(
                "the database file {path} was replaced by another file while the node ran"
            ));
        }
        if let Err(e) = std::fs::OpenOptions::new().write(true).open(&self.path) {
            return Some(format!(
                "the database file {path} is no longer writable: {e}"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_and_replaced_files_are_faults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        std::fs::write(&path, b"x").unwrap();
        let id = FileIdentity::of(&path).unwrap();
        assert_eq!(id.fault(), None);
        std::fs::remove_file(&path).unwrap();
        assert!(id.fault().unwrap().contains("was deleted"));
        std::fs::write(&path, b"y").unwrap();
        // A new file at the path: almost surely another inode; if the
        // filesystem reused it, the check cannot tell (and says nothing).
        if std::fs::metadata(&path).unwrap().ino() != id.ino {
            assert!(id.fault().unwrap().contains("was replaced"));
        }
    }
}
