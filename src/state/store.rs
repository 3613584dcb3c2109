//! The state directory: namespace discovery, the planner-compatible lock, and atomic saves.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::error::{Result, StateError};
use super::model::{Document, ParseProblem, State};

/// How long a change waits for the lock unless told otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a waiting change retries the lock (filelock uses 50 ms).
const LOCK_POLL: Duration = Duration::from_millis(20);
/// The largest state file dynamo-ctl reads (a real one is a few kB; 256 MiB is room for
/// hundreds of thousands of components). Anything bigger is reported, never read whole.
pub const MAX_STATE_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// The planner rewrites its file in place (`open('w')`, then `json.dump`), so a reader can
/// catch it half-written. A file that does not parse is read again, after these pauses and
/// then every 20 ms, while it keeps changing or is empty and was modified within
/// [`MID_WRITE_WINDOW`] (its writer may be descheduled just after truncating it), for at
/// most [`BUSY_REREAD`]; a recent, whole, broken file gets four quick tries. An old broken
/// file is reported at once.
const REREAD_PAUSES: [Duration; 8] = [
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(20),
    Duration::from_millis(40),
    Duration::from_millis(80),
    Duration::from_millis(100),
    Duration::from_millis(100),
    Duration::from_millis(100),
];
const MID_WRITE_WINDOW: Duration = Duration::from_secs(2);
/// How long a read keeps trying while the file is still changing.
const BUSY_REREAD: Duration = Duration::from_secs(2);

/// A namespace file found in the directory; `doc` holds its parse error if it is broken.
#[derive(Debug)]
pub struct NamespaceEntry {
    pub name: String,
    pub path: PathBuf,
    pub modified: Option<SystemTime>,
    pub doc: Result<Document>,
}

#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    lock_timeout: Duration,
}

/// The state directory from a flag, else `$DYN_LOCAL_STATE_DIR`, else `~/.dynamo/state`.
pub fn resolve_dir(flag: Option<PathBuf>) -> PathBuf {
    if let Some(d) = flag {
        return d;
    }
    if let Some(d) = std::env::var_os("DYN_LOCAL_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    dirs::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".dynamo")
        .join("state")
}

/// Rejects names that would leave the state directory or name a hidden/temp file.
pub fn validate_namespace(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.contains('/') || name.contains('\\') {
        "it contains a path separator"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else if name.starts_with('.') {
        "it starts with '.'"
    } else if name.chars().any(|c| c.is_control()) {
        "it contains a control character"
    } else if name.len() > 200 {
        "it is longer than 200 bytes"
    } else {
        return Ok(());
    };
    Err(StateError::BadNamespace {
        name: name.to_string(),
        reason,
    })
}

mod read_write;
use read_write::*;
pub use read_write::{atomic_write, atomic_write_with, parse_text, read_bytes, read_document};

/// An exclusive `flock` on `<dir>/<ns>.lock`, the lock the planner's `filelock` takes.
/// Released on drop.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

/// Takes the lock, polling until `timeout`. Re-checks after locking that the path still
/// names the locked inode (filelock versions that unlink the file on release).
pub fn lock(path: &Path, timeout: Duration) -> Result<LockGuard> {
    let deadline = Instant::now() + timeout;
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(io(path))?;
        match file.try_lock() {
            Ok(()) => {
                let held = file.metadata().map_err(io(path))?;
                match fs::metadata(path) {
                    Ok(now)
                        if now.dev() == held.dev()
                            && now.ino() == held.ino()
                            && held.nlink() > 0 =>
                    {
                        return Ok(LockGuard { _file: file });
                    }
                    // Unlinked or replaced while we waited: try again on the new file.
                    _ => continue,
                }
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(io(path)(e)),
        }
        drop(file);
        if Instant::now() >= deadline {
            return Err(StateError::LockTimeout {
                path: path.to_path_buf(),
                timeout,
                holder: lock_holder(path),
            });
        }
        std::thread::sleep(LOCK_POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// Who holds the `flock` on `path`, from `/proc/locks`: "pid 25951 (python3 -m ...)".
fn lock_holder(path: &Path) -> Option<String> {
    let m = fs::metadata(path).ok()?;
    let dev = m.dev();
    // glibc's major()/minor() encoding of dev_t.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let locks = fs::read_to_string("/proc/locks").ok()?;
    for line in locks.lines() {
        // "1: FLOCK  ADVISORY  WRITE 25951 08:01:1234 0 EOF"; a waiter has "->" after "1:".
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[1] == "->" || f[1] != "FLOCK" {
            continue;
        }
        let id: Vec<&str> = f[5].split(':').collect();
        let same = id.len() == 3
            && u64::from_str_radix(id[0], 16).ok() == Some(major)
            && u64::from_str_radix(id[1], 16).ok() == Some(minor)
            && id[2].parse::<u64>().ok() == Some(m.ino());
        if !same {
            continue;
        }
        let pid = f[4];
        let cmd = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                let s = String::from_utf8_lossy(&b).replace('\0', " ");
                let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
                match s.char_indices().nth(100) {
                    Some((i, _)) => format!("{} ...", &s[..i]),
                    None => s.to_string(),
                }
            })
            .unwrap_or_default();
        return Some(if cmd.is_empty() {
            format!("pid {pid}")
        } else {
            format!("pid {pid} ({cmd})")
        });
    }
    None
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store {
            dir: dir.into(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    pub fn with_lock_timeout(mut self, t: Duration) -> Store {
        self.lock_timeout = t;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn lock_timeout(&self) -> Duration {
        self.lock_timeout
    }

    /// `<dir>/<ns>.json`, after checking the name cannot leave the directory.
    pub fn path_for(&self, ns: &str) -> Result<PathBuf> {
        validate_namespace(ns)?;
        Ok(self.dir.join(format!("{ns}.json")))
    }

    pub fn lock_path(&self, ns: &str) -> Result<PathBuf> {
        validate_namespace(ns)?;
        Ok(self.dir.join(format!("{ns}.lock")))
    }

    /// Namespace names in the directory, sorted. Hidden and temp files are not namespaces.
    pub fn names(&self) -> Result<Vec<String>> {
        if !self.dir.is_dir() {
            return Err(StateError::DirMissing {
                dir: self.dir.clone(),
            });
        }
        let pattern = format!(
            "{}/*.json",
            glob::Pattern::escape(&self.dir.to_string_lossy())
        );
        let mut names: Vec<String> = glob::glob(&pattern)
            .map_err(|e| StateError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })?
            .filter_map(|p| p.ok())
            .filter_map(|p| {
                let n = p.file_name()?.to_str()?.strip_suffix(".json")?.to_string();
                validate_namespace(&n).ok()?;
                Some(n)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every namespace with its parsed document or its error. A broken file never aborts
    /// the listing of the others. A `*.json` file whose name cannot be a namespace (a
    /// control character, not UTF-8, ...) is listed as broken, with its name escaped.
    pub fn list(&self) -> Result<Vec<NamespaceEntry>> {
        self.list_with(|e| e)
    }

    /// [`Store::list`], each entry handed to `f` as soon as it is read, in name order: a
    /// caller that keeps only a summary holds one document at a time, not every one.
    pub fn list_with<T>(&self, mut f: impl FnMut(NamespaceEntry) -> T) -> Result<Vec<T>> {
        let names = self.names()?;
        let mut unusable = self.unusable_names();
        unusable.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Vec::with_capacity(names.len() + unusable.len());
        let mut bad = unusable.into_iter().peekable();
        for name in names {
            while let Some(b) = bad.next_if(|b| b.name < name) {
                out.push(f(b));
            }
            let path = self.dir.join(format!("{name}.json"));
            let modified = fs::metadata(&path).and_then(|m| m.modified()).ok();
            let doc = read_document(&path);
            out.push(f(NamespaceEntry {
                name,
                path,
                modified,
                doc,
            }));
        }
        out.extend(bad.map(f));
        Ok(out)
    }

    /// `*.json` files (not hidden) whose names are not valid namespaces.
    fn unusable_names(&self) -> Vec<NamespaceEntry> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| {
                let file = e.file_name();
                let stem = file.as_bytes().strip_suffix(b".json")?;
                if stem.first() == Some(&b'.') {
                    return None;
                }
                let err = match std::str::from_utf8(stem) {
                    Ok(name) => validate_namespace(name).err()?,
                    Err(_) => StateError::BadNamespace {
                        name: String::from_utf8_lossy(stem).into_owned(),
                        reason: "it is not UTF-8",
                    },
                };
                let path = e.path();
                Some(NamespaceEntry {
                    name: String::from_utf8_lossy(stem).into_owned(),
                    modified: fs::symlink_metadata(&path).and_then(|m| m.modified()).ok(),
                    path,
                    doc: Err(err),
                })
            })
            .collect()
    }

    /// Reads one namespace without locking (for display).
    pub fn load(&self, ns: &str) -> Result<Document> {
        let path = self.path_for(ns)?;
        self.check_exists(ns, &path)?;
        read_document(&path)
    }

    /// `<target dir>/<target stem>.lock` of the file `path` resolves to, when that is not
    /// the lock `lock_path(ns)` already names (compared after resolving the directory).
    fn target_lock(&self, ns: &str, path: &Path) -> Result<Option<PathBuf>> {
        // A file that is not a symlink is written where it is, beside our own lock: one
        // lstat instead of resolving both paths (a readlink per component).
        if !fs::symlink_metadata(path)
            .map_err(io(path))?
            .file_type()
            .is_symlink()
        {
            return Ok(None);
        }
        let target = fs::canonicalize(path).map_err(io(path))?;
        let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
            return Ok(None);
        };
        let name = name.to_string_lossy();
        let stem = name.strip_suffix(".json").unwrap_or(&name);
        let target_lock = dir.join(format!("{stem}.lock"));
        let own_lock = fs::canonicalize(&self.dir)
            .map_err(io(&self.dir))?
            .join(format!("{ns}.lock"));
        Ok((target_lock != own_lock).then_some(target_lock))
    }

    fn check_exists(&self, ns: &str, path: &Path) -> Result<()> {
        if !self.dir.is_dir() {
            return Err(StateError::DirMissing {
                dir: self.dir.clone(),
            });
        }
        if !path.exists() {
            return Err(StateError::NotFound {
                name: ns.to_string(),
                path: path.to_path_buf(),
            });
        }
        Ok(())
    }

    /// One transaction: lock, read, apply `f`, write if anything changed, unlock. With
    /// `dry_run` nothing is written. Returns what `f` returned and the resulting document.
    pub fn transact<T, E>(
        &self,
        ns: &str,
        dry_run: bool,
        f: impl FnOnce(&mut State) -> std::result::Result<T, E>,
    ) -> Result<(T, Document)>
    where
        StateError: From<E>,
    {
        let path = self.path_for(ns)?;
        self.check_exists(ns, &path)?;
        // Never lock for a file that is not a regular file of a sane size.
        check_regular(&path, &fs::metadata(&path).map_err(io(&path))?)?;
        // The deployment may have stopped while we waited: if its directory went away, the
        // lock file cannot be reopened (ENOENT); say so rather than report an I/O error.
        let deadline = Instant::now() + self.lock_timeout;
        let _guard = lock(&self.lock_path(ns)?, self.lock_timeout)
            .or_else(|e| self.check_exists(ns, &path).and(Err(e)))?;
        // A symlinked file is written at its target, so also take the lock that the
        // target's own directory uses (its planner's), always after ours: link locks are
        // never target locks, so two writers cannot wait on each other in a cycle.
        let _target_guard = match self.target_lock(ns, &path)? {
            Some(target_lock) => Some(
                lock(
                    &target_lock,
                    deadline.saturating_duration_since(Instant::now()),
                )
                .map_err(|e| match e {
                    StateError::LockTimeout { path, holder, .. } => StateError::LockTimeout {
                        path,
                        holder,
                        timeout: self.lock_timeout,
                    },
                    e => e,
                })?,
            ),
            None => None,
        };
        self.check_exists(ns, &path)?;
        let (before, mut doc) = read_parsed(&path)?;
        // Would the file as read come out byte for byte? If not, its layout is one the
        // writer cannot reproduce, and a save re-lays out the whole file: said once. The
        // text read is not needed past this.
        let same_layout = dry_run || doc.renders_as(&before);
        drop(before);
        let head = doc.state.head();
        let out = f(&mut doc.state)?;
        // An operation that changes nothing writes nothing, whatever the file's layout.
        if !doc.state.changed_since(&head) {
            return Ok((out, doc));
        }
        drop(head);
        if !dry_run {
            if !same_layout {
                doc.set_layout_note(format!(
                    "{}: its layout is not one dynamo-ctl can reproduce exactly, so the whole file was re-laid out (content, key order and unknown keys kept)",
                    path.display()
                ));
            }
            remove_stale_temp_files(&path);
            atomic_write_with(&path, |w| doc.write_to(w).map(drop))?;
        }
        Ok((out, doc))
    }
}
