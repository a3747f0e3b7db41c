//! File source: follows syslog text files like `tail -F`, poll-based and synchronous.
//!
//! The daemon calls [`FileFollower::poll`] once per round and persists [`FileFollower::offsets`]
//! together with its own state after the returned lines were processed, so a crash re-reads at
//! most what was not committed and nothing is returned twice after a clean hand-over.
//!
//! How files are tracked:
//! - A file is identified by `(dev, inode)`, not by its path: a rename (rotation) keeps the
//!   identity, so the rest of a rotated file is read to its end through an open handle, and the
//!   new file at the old path is a different identity read from offset 0.
//! - A fingerprint (hash of the first up-to-256 bytes) detects a file whose content was replaced
//!   while the identity stayed (copytruncate, truncate-and-rewrite, inode reuse across a restart).
//! - Globs are re-expanded on every poll. A followed file that no longer matches any glob (renamed
//!   to `mail.log.1`, deleted) is read to EOF in that poll and in one more poll (the writer may
//!   keep writing to it until it reopens its log after rotation), then dropped.
//! - Read order within a poll is by modification time, oldest first, so the rest of a rotated
//!   file comes before the beginning of its successor.
//!
//! Known limits (by design):
//! - Globs should not match copies of a log (`mail.log.2.gz`, copytruncate's `mail.log.1`): a copy
//!   is a new identity and is read as new data from offset 0. Renamed files are fine.
//! - Copytruncate rotation loses the lines written between our last poll and the truncation
//!   (they exist only in the copy); that is inherent to copytruncate.
//! - On restart, a file rotated while we were down is found again by its identity among the glob
//!   matches or in the directory it was last seen in, and read to its end. Lines appended to it
//!   after our last read are lost only if the file itself was deleted (or compressed into a new
//!   file, or moved to another directory, e.g. logrotate `olddir`) while we were down.
//! - If a file shows no identity match after a reboot because its device number changed, it is
//!   re-adopted by same path + same fingerprint.
//! - A single line longer than [`MAX_LINE`] bytes is returned in `MAX_LINE` pieces (memory bound).

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, Metadata};
use std::hash::Hasher;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use siphasher::sip::SipHasher13;

/// Bytes of a file's beginning that make up its fingerprint.
pub const FINGERPRINT_LEN: usize = 256;
/// Longest line returned whole; longer lines are split so one line cannot exhaust memory.
pub const MAX_LINE: usize = 16 * 1024 * 1024;
/// Read buffer size.
const CHUNK: usize = 64 * 1024;

/// Where to start in files present at the very first poll of a fresh follower.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// Read existing content.
    Beginning,
    /// Skip existing content (start after the last complete line).
    #[default]
    End,
}

/// Persisted position of one followed file.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct FileOffset {
    pub dev: u64,
    pub ino: u64,
    /// Path the file was last seen under (for finding it again after a rotation while down).
    pub path: String,
    /// Byte offset of the next unread line.
    pub offset: u64,
    /// Number of leading bytes covered by `fp_hash` (0..=256; grows while the file is short).
    pub fp_len: u32,
    /// SipHash-1-3 (key 0,0) of the first `fp_len` bytes.
    pub fp_hash: u64,
}

/// Positions of all followed files; the daemon stores this inside its state file.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct FileOffsets {
    /// True once a follower has polled: from then on every file not seen before is new data
    /// (read from 0) and [`StartAt`] no longer applies, also after a restart.
    #[serde(default)]
    pub initialized: bool,
    #[serde(default)]
    pub files: Vec<FileOffset>,
}

/// One complete line read from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLine {
    /// Path the file had when the line was read.
    pub path: Arc<PathBuf>,
    /// Byte offset of the line's start in that file.
    pub offset: u64,
    /// The line without its trailing `\n` / `\r\n`; not necessarily UTF-8.
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    #[error("invalid file glob {pattern:?}: {source}")]
    Pattern {
        pattern: String,
        #[source]
        source: glob::PatternError,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

type Identity = (u64, u64);

struct Tracked {
    path: Arc<PathBuf>,
    offset: u64,
    fp_len: u32,
    fp_hash: u64,
    /// Open handle; `None` for an entry restored from saved offsets and not yet found again.
    file: Option<File>,
    /// Consecutive polls in which no glob matched this file.
    gone_polls: u32,
}

pub struct FileFollower {
    globs: Vec<glob::Pattern>,
    tracked: BTreeMap<Identity, Tracked>,
    start: StartAt,
    /// Whether `StartAt` applies at the first poll (no saved history).
    fresh: bool,
    polled: bool,
    /// The last `poll` read every file to its end (its budget did not stop it).
    read_to_end: bool,
    read_errors: u64,
    /// Paths whose error was already logged (cleared when the path works again).
    error_logged: HashSet<PathBuf>,
    /// Globs whose "matches nothing" was already logged.
    empty_logged: HashSet<String>,
}

impl FileFollower {
    pub fn new(
        globs: Vec<String>,
        offsets: FileOffsets,
        start: StartAt,
    ) -> Result<Self, FileSourceError> {
        let globs = globs
            .into_iter()
            .map(|p| {
                glob::Pattern::new(&p)
                    .map_err(|source| FileSourceError::Pattern { pattern: p, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tracked = offsets
            .files
            .into_iter()
            .map(|f| {
                let t = Tracked {
                    path: Arc::new(PathBuf::from(f.path)),
                    offset: f.offset,
                    fp_len: f.fp_len.min(FINGERPRINT_LEN as u32),
                    fp_hash: f.fp_hash,
                    file: None,
                    gone_polls: 0,
                };
                ((f.dev, f.ino), t)
            })
            .collect();
        Ok(Self {
            globs,
            tracked,
            start,
            fresh: !offsets.initialized,
            polled: false,
            read_to_end: true,
            read_errors: 0,
            error_logged: HashSet::new(),
            empty_logged: HashSet::new(),
        })
    }

    /// Whether the last `poll` read every file to its end: `false` when its byte budget
    /// stopped it with more to read (a backlog).
    pub fn read_to_end(&self) -> bool {
        self.read_to_end
    }

    /// Number of read/open/stat failures so far (each failed attempt counts).
    pub fn read_errors(&self) -> u64 {
        self.read_errors
    }

    /// Number of files currently followed (including restored ones not yet found again).
    pub fn followed_files(&self) -> usize {
        self.tracked.len()
    }

    /// Offsets to persist: call after the lines of the last `poll` were processed.
    pub fn offsets(&self) -> FileOffsets {
        let mut files: Vec<FileOffset> = self
            .tracked
            .iter()
            .map(|(&(dev, ino), t)| FileOffset {
                dev,
                ino,
                path: t.path.to_string_lossy().into_owned(),
                offset: t.offset,
                fp_len: t.fp_len,
                fp_hash: t.fp_hash,
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path).then(a.ino.cmp(&b.ino)));
        FileOffsets {
            initialized: self.polled || !self.fresh,
            files,
        }
    }

    /// Read every complete new line from every followed file, at most about `max_bytes` in total
    /// (at least one line, so a line longer than `max_bytes` cannot block the source).
    /// A trailing partial line is neither returned nor consumed.
    pub fn poll(&mut self, max_bytes: usize) -> Result<Vec<FileLine>, FileSourceError> {
        let first = !self.polled;
        self.polled = true;
        let matches = self.expand();

        // Attach glob matches to tracked identities; unknown identities are new files.
        let mut seen: HashSet<Identity> = HashSet::new();
        let mut unknown: Vec<(PathBuf, Identity)> = Vec::new();
        for (path, id) in matches {
            if !seen.insert(id) {
                continue; // same file through two globs, a hard link or a symlink
            }
            match self.tracked.get_mut(&id) {
                Some(t) => {
                    t.gone_polls = 0;
                    if *t.path != path {
                        t.path = Arc::new(path);
                    }
                }
                None => unknown.push((path, id)),
            }
        }

        if first {
            self.adopt_by_path(&mut unknown, &mut seen);
            self.find_restored_elsewhere(&seen);
        }

        for (path, id) in unknown {
            // Files present at a fresh follower's first poll honour StartAt; anything that
            // appears later (or was not in the saved state) is new data, read from 0.
            let at_end = first && self.fresh && self.start == StartAt::End;
            match self.open_new(&path, id, at_end) {
                Ok(Some(t)) => {
                    self.tracked.insert(id, t);
                }
                Ok(None) => {}
                Err(e) => self.report(&path, &e),
            }
        }

        // Open restored entries found through the globs.
        let ids: Vec<Identity> = self.tracked.keys().copied().collect();
        for id in &ids {
            let t = self.tracked.get_mut(id).expect("key exists");
            if t.file.is_none() && seen.contains(id) {
                let path = t.path.clone();
                match open_checked(&path, *id) {
                    Ok(Some(f)) => t.file = Some(f),
                    Ok(None) => {} // replaced between glob and open; next poll sorts it out
                    Err(e) => self.report(&path, &e),
                }
            }
        }

        // Files no longer matched: count the poll; they are read to EOF below.
        for (id, t) in self.tracked.iter_mut() {
            if !seen.contains(id) {
                t.gone_polls += 1;
            }
        }

        // Oldest first, so a rotated file's rest precedes its successor's start.
        let mut order: Vec<(SystemTime, Arc<PathBuf>, Identity)> = Vec::new();
        for (id, t) in &self.tracked {
            if let Some(f) = &t.file {
                let mtime = f
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                order.push((mtime, t.path.clone(), *id));
            }
        }
        order.sort();

        let mut out = Vec::new();
        let mut budget = max_bytes;
        let mut drop_ids = Vec::new();
        self.read_to_end = true;
        for (_, path, id) in order {
            let t = self.tracked.get_mut(&id).expect("key exists");
            let closing = t.gone_polls >= 2;
            match read_new(t, &mut budget, out.is_empty(), closing, &mut out) {
                Ok(at_eof) => {
                    self.read_to_end &= at_eof;
                    self.error_logged.remove(path.as_path());
                    if closing && at_eof {
                        tracing::debug!(path = %path.display(), "file no longer matched and fully read; dropped");
                        drop_ids.push(id);
                    }
                }
                Err(e) => self.report(&path, &e),
            }
        }
        // Restored entries never found again (deleted while down) and dropped files.
        for (id, t) in &self.tracked {
            if t.file.is_none() && !seen.contains(id) {
                tracing::warn!(path = %t.path.display(), offset = t.offset,
                    "followed file vanished while not running; lines written to it after the last read are lost");
                drop_ids.push(*id);
            }
        }
        for id in drop_ids {
            self.tracked.remove(&id);
        }
        Ok(out)
    }

    /// Expand all globs into regular files with their identities.
    fn expand(&mut self) -> Vec<(PathBuf, Identity)> {
        let mut out = Vec::new();
        let patterns: Vec<String> = self.globs.iter().map(|p| p.as_str().to_owned()).collect();
        for pattern in patterns {
            let paths = match glob::glob(&pattern) {
                Ok(p) => p,
                Err(_) => continue, // validated in new()
            };
            let mut any = false;
            for entry in paths {
                let path = match entry {
                    Ok(p) => p,
                    Err(e) => {
                        let path = e.path().to_path_buf();
                        let err = io::Error::new(e.error().kind(), e.error().to_string());
                        self.report(&path, &err);
                        continue;
                    }
                };
                // fs::metadata follows symlinks: a symlinked log is followed as its target.
                match fs::metadata(&path) {
                    Ok(m) if m.is_file() => {
                        any = true;
                        out.push((path, identity(&m)));
                    }
                    // Directories, FIFOs (opening one would block) and sockets are not logs.
                    Ok(_) => {}
                    // Vanished between listing and stat, or a dangling symlink: not an error.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => self.report(&path, &e),
                }
            }
            if !any && self.empty_logged.insert(pattern.clone()) {
                tracing::debug!(glob = %pattern, "file glob matches no readable file (yet)");
            }
        }
        out
    }

    /// After a restart, a file whose device number changed (reboot) has an unknown identity;
    /// re-adopt it if a restored entry had the same path and its fingerprint still matches.
    fn adopt_by_path(
        &mut self,
        unknown: &mut Vec<(PathBuf, Identity)>,
        seen: &mut HashSet<Identity>,
    ) {
        unknown.retain(|(path, id)| {
            let old = self
                .tracked
                .iter()
                .find(|(oid, t)| {
                    !seen.contains(*oid) && t.file.is_none() && t.fp_len > 0 && *t.path == *path
                })
                .map(|(oid, _)| *oid);
            let Some(old) = old else { return true };
            let t = self.tracked.get(&old).expect("key exists");
            let same = fs::File::open(path)
                .ok()
                .and_then(|f| fingerprint(&f, t.fp_len as usize).ok())
                .is_some_and(|(len, hash)| len == t.fp_len && hash == t.fp_hash);
            if !same {
                return true;
            }
            let mut t = self.tracked.remove(&old).expect("key exists");
            t.gone_polls = 0;
            self.tracked.insert(*id, t);
            seen.insert(*id);
            false
        });
    }

    /// Restored entries not matched by any glob were rotated (or deleted) while we were down:
    /// look for the identity in the directory the file was last seen in, to read its rest.
    fn find_restored_elsewhere(&mut self, seen: &HashSet<Identity>) {
        let missing: Vec<Identity> = self
            .tracked
            .iter()
            .filter(|(id, t)| t.file.is_none() && !seen.contains(*id))
            .map(|(id, _)| *id)
            .collect();
        for id in missing {
            let t = self.tracked.get_mut(&id).expect("key exists");
            let Some(dir) = t.path.parent() else { continue };
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let p = entry.path();
                match fs::metadata(&p) {
                    Ok(m) if m.is_file() && identity(&m) == id => {}
                    _ => continue,
                }
                if let Ok(Some(f)) = open_checked(&p, id) {
                    tracing::info!(from = %t.path.display(), to = %p.display(),
                        "followed file was rotated while not running; reading its rest");
                    t.path = Arc::new(p);
                    t.file = Some(f);
                    // Not matched by a glob: it counts as gone and is dropped after its rest.
                    break;
                }
            }
        }
    }

    fn open_new(&self, path: &Path, id: Identity, at_end: bool) -> io::Result<Option<Tracked>> {
        let Some(file) = open_checked(path, id)? else {
            return Ok(None);
        };
        let offset = if at_end { end_of_last_line(&file)? } else { 0 };
        let (fp_len, fp_hash) = fingerprint(&file, FINGERPRINT_LEN)?;
        tracing::debug!(path = %path.display(), offset, "following file");
        Ok(Some(Tracked {
            path: Arc::new(path.to_path_buf()),
            offset,
            fp_len,
            fp_hash,
            file: Some(file),
            gone_polls: 0,
        }))
    }

    /// Count an error; log it once per path until the path works again.
    fn report(&mut self, path: &Path, e: &io::Error) {
        self.read_errors += 1;
        if self.error_logged.insert(path.to_path_buf()) {
            tracing::warn!(path = %path.display(), error = %e, "cannot read log file; will retry");
        }
    }
}

fn identity(m: &Metadata) -> Identity {
    (m.dev(), m.ino())
}

/// Open `path` and make sure it is still the identity the glob saw (it may have been rotated in
/// between); `None` if it is not.
fn open_checked(path: &Path, id: Identity) -> io::Result<Option<File>> {
    let f = File::open(path)?;
    let m = f.metadata()?;
    Ok((m.is_file() && identity(&m) == id).then_some(f))
}

/// Hash of the first up to `max` bytes (never more than [`FINGERPRINT_LEN`]).
fn fingerprint(f: &File, max: usize) -> io::Result<(u32, u64)> {
    let mut buf = [0u8; FINGERPRINT_LEN];
    let want = max.min(FINGERPRINT_LEN);
    let mut n = 0;
    while n < want {
        match f.read_at(&mut buf[n..want], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut h = SipHasher13::new();
    h.write(&buf[..n]);
    Ok((n as u32, h.finish()))
}

/// Offset just after the last `\n` (so a line being written when we start is read whole).
fn end_of_last_line(f: &File) -> io::Result<u64> {
    let size = f.metadata()?.len();
    let mut pos = size;
    let mut buf = vec![0u8; CHUNK];
    // Bounded backwards scan; a partial line longer than this is skipped with the rest.
    for _ in 0..16 {
        if pos == 0 {
            return Ok(0);
        }
        let n = (pos as usize).min(CHUNK);
        let start = pos - n as u64;
        f.read_exact_at(&mut buf[..n], start)?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        pos = start;
    }
    Ok(size)
}

/// Check for truncation/replacement, then read complete lines from `t.offset` while the budget
/// lasts. Returns whether EOF was reached. `force_one` lets one line through an exhausted budget;
/// `closing` returns a trailing partial line too (the file will not be read again).
fn read_new(
    t: &mut Tracked,
    budget: &mut usize,
    force_one: bool,
    closing: bool,
    out: &mut Vec<FileLine>,
) -> io::Result<bool> {
    let file = t.file.as_mut().expect("only open files are read");
    let size = file.metadata()?.len();

    // Content replaced under the same identity: truncated below our offset, or the first bytes
    // differ from what we saw (copytruncate followed by new writes past our old offset).
    let (cur_len, cur_hash) = fingerprint(file, t.fp_len as usize)?;
    let replaced = cur_len != t.fp_len || cur_hash != t.fp_hash;
    if size < t.offset || replaced {
        tracing::warn!(path = %t.path.display(), old_offset = t.offset, size,
            "log file truncated or replaced; reading it again from the start");
        t.offset = 0;
    }
    if replaced || (t.fp_len as usize) < FINGERPRINT_LEN {
        // Grow the fingerprint while the file is short (or take the new content's).
        (t.fp_len, t.fp_hash) = fingerprint(file, FINGERPRINT_LEN)?;
    }
    if t.offset >= size {
        return Ok(true);
    }

    file.seek(SeekFrom::Start(t.offset))?;
    let mut reader = BufReader::with_capacity(CHUNK, &mut *file);
    let mut line = Vec::new();
    let mut allow_one = force_one;
    loop {
        if *budget == 0 && !allow_one {
            return Ok(false);
        }
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(true);
        }
        let complete = line.last() == Some(&b'\n');
        if !complete && n < MAX_LINE && !closing {
            // Partial last line: leave it (and the offset) for the next poll.
            return Ok(true);
        }
        if !complete && n == MAX_LINE {
            tracing::warn!(path = %t.path.display(), offset = t.offset, "line longer than {MAX_LINE} bytes split");
        }
        let start = t.offset;
        t.offset += n as u64;
        *budget = budget.saturating_sub(n);
        allow_one = false;
        if complete {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        out.push(FileLine {
            path: t.path.clone(),
            offset: start,
            bytes: std::mem::take(&mut line),
        });
    }
}
