//! The daemon's persistent state in `tracing.state_dir`: one JSON file written atomically
//! (temp file, fsync, rename, fsync of the directory) with a version tag, plus a lock file
//! so two daemons never share a state directory.
//!
//! What is kept: the read cursor, the correlator (pending messages, hop index, duplicate
//! filter, what released messages left for late lines), file offsets, the export queue. Written
//! after every round, before exporting, so a crash at any point re-exports at most the same
//! bytes and never loses a line.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};

/// Version of the state file layout; a newer file is refused rather than misread.
pub const STATE_VERSION: u32 = 1;
const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "lock";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("state directory {0}: {1}")]
    Dir(PathBuf, io::Error),
    #[error(
        "state directory {0} is in use by another mailtrace (lock held on {0}/lock); \
         two daemons must not share one state directory"
    )]
    Locked(PathBuf),
    #[error("cannot write state {0}: {1} (nothing was lost: the previous state is intact)")]
    Write(PathBuf, io::Error),
    #[error("cannot read state {0}: {1}")]
    Read(PathBuf, io::Error),
    #[error(
        "state file {0} is corrupt ({1}); refusing to start so no data is silently lost — \
         move it aside to start afresh from the configured window"
    )]
    Corrupt(PathBuf, String),
    #[error(
        "state file {0} was written by a newer mailtrace (state version {1}, this one reads \
         up to {STATE_VERSION}); refusing to start — upgrade, or move the file aside"
    )]
    TooNew(PathBuf, u32),
}

/// An open, locked state directory.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    // Held for the process lifetime: the OS releases the lock when the process dies,
    // even on kill -9, so a crashed daemon never blocks its successor.
    _lock: File,
}

#[derive(serde::Deserialize)]
struct VersionOnly {
    version: u32,
}

impl StateDir {
    /// Create (if needed) and lock the directory.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        fs::create_dir_all(dir).map_err(|e| StateError::Dir(dir.to_path_buf(), e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StateError::Dir(dir.to_path_buf(), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StateError::Locked(dir.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => return Err(StateError::Dir(dir.to_path_buf(), e)),
        }
        Ok(StateDir {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Load the state; `None` when there is none yet (first start).
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>, StateError> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::Read(path, e)),
        };
        let version: VersionOnly = serde_json::from_slice(&bytes)
            .map_err(|e| StateError::Corrupt(path.clone(), e.to_string()))?;
        if version.version > STATE_VERSION {
            return Err(StateError::TooNew(path, version.version));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt(path, e.to_string()))
    }

    /// Replace the state atomically: readers (and a restart after a crash) see either the
    /// old file or the new one, never a torn write.
    pub fn save<T: Serialize>(&self, state: &T) -> Result<(), StateError> {
        let path = self.path();
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            let mut w = io::BufWriter::with_capacity(1 << 16, &mut f);
            serde_json::to_writer(&mut w, state).map_err(io::Error::other)?;
            w.flush()?;
            drop(w);
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            // The rename itself is durable only once the directory entry is on disk.
            File::open(&self.dir)?.sync_all()?;
            Ok(())
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            StateError::Write(path.clone(), e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    struct S {
        version: u32,
        x: f64,
    }

    #[test]
    fn saves_loads_and_refuses_bad_files() {
        let d = tempfile::tempdir().unwrap();
        let st = StateDir::open(d.path()).unwrap();
        assert_eq!(st.load::<S>().unwrap(), None);
        let s = S {
            version: STATE_VERSION,
            x: 0.1 + 0.2,
        };
        st.save(&s).unwrap();
        assert_eq!(st.load::<S>().unwrap(), Some(s));

        fs::write(st.path(), b"{\"version\": 1, \"x\": tru").unwrap();
        assert!(matches!(st.load::<S>(), Err(StateError::Corrupt(..))));
        fs::write(st.path(), b"{\"version\": 99, \"x\": 1}").unwrap();
        let err = st.load::<S>().unwrap_err();
        assert!(matches!(err, StateError::TooNew(_, 99)), "{err}");
    }

    #[test]
    fn a_second_daemon_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let _first = StateDir::open(d.path()).unwrap();
        let err = StateDir::open(d.path()).unwrap_err();
        assert!(matches!(err, StateError::Locked(_)), "{err}");
    }
}
