//! The state directory: namespace discovery, the planner-compatible lock, and atomic saves.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::error::{Result, StateError};
use super::model::{Document, ParseProblem, State};

/// How long a change waits for the lock unless told otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a waiting change retries the lock (filelock uses 50 ms).
const LOCK_POLL: Duration = Duration::from_millis(20);

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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Parses a state file's text, naming the file in any error.
pub fn parse_text(path: &Path, text: &str) -> Result<Document> {
    Document::parse(text).map_err(|p| match p {
        ParseProblem::NonFinite => StateError::NonFinite {
            path: path.to_path_buf(),
        },
        ParseProblem::Invalid(message) => StateError::Parse {
            path: path.to_path_buf(),
            message,
        },
    })
}

/// Reads and parses one file.
pub fn read_document(path: &Path) -> Result<Document> {
    let bytes = fs::read(path).map_err(io(path))?;
    let text = String::from_utf8(bytes).map_err(|e| StateError::Parse {
        path: path.to_path_buf(),
        message: format!("not UTF-8 text ({e})"),
    })?;
    parse_text(path, &text)
}

/// Writes `text` over `path` atomically: temp file in the target's directory, same mode
/// (and owner where permitted), fsync, rename, fsync the directory. A symlink is written
/// through to its target.
pub fn atomic_write(path: &Path, text: &[u8]) -> Result<()> {
    let target = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).map_err(io(path))?,
        _ => path.to_path_buf(),
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    let old = fs::metadata(&target).ok();
    let stem = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{stem}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(text).map_err(io(tmp.path()))?;
    if let Some(m) = &old {
        let f = tmp.as_file();
        f.set_permissions(fs::Permissions::from_mode(m.mode() & 0o7777))
            .map_err(io(&target))?;
        // Keep the owner where we may (root editing an operator's file); ignore EPERM.
        let _ = std::os::unix::fs::fchown(f, Some(m.uid()), Some(m.gid()));
    } else {
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io(&target))?;
    }
    tmp.as_file().sync_all().map_err(io(&target))?;
    tmp.persist(&target).map_err(|e| io(&target)(e.error))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Deletes temp files a killed writer left next to `path`'s target. Only lock holders
/// create them, so under the lock every one of them is stale.
fn remove_stale_temp_files(path: &Path) {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let pattern = format!(
        "{}/.{}.*.tmp",
        glob::Pattern::escape(&dir.to_string_lossy()),
        glob::Pattern::escape(&name.to_string_lossy())
    );
    if let Ok(paths) = glob::glob_with(
        &pattern,
        glob::MatchOptions {
            require_literal_leading_dot: false,
            ..Default::default()
        },
    ) {
        for p in paths.flatten() {
            let _ = fs::remove_file(p);
        }
    }
}

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
            });
        }
        std::thread::sleep(LOCK_POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
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
    /// the listing of the others.
    pub fn list(&self) -> Result<Vec<NamespaceEntry>> {
        Ok(self
            .names()?
            .into_iter()
            .map(|name| {
                let path = self.dir.join(format!("{name}.json"));
                let modified = fs::metadata(&path).and_then(|m| m.modified()).ok();
                let doc = read_document(&path);
                NamespaceEntry {
                    name,
                    path,
                    modified,
                    doc,
                }
            })
            .collect())
    }

    /// Reads one namespace without locking (for display).
    pub fn load(&self, ns: &str) -> Result<Document> {
        let path = self.path_for(ns)?;
        self.check_exists(ns, &path)?;
        read_document(&path)
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
        // The deployment may have stopped while we waited: if its directory went away, the
        // lock file cannot be reopened (ENOENT); say so rather than report an I/O error.
        let _guard = lock(&self.lock_path(ns)?, self.lock_timeout)
            .or_else(|e| self.check_exists(ns, &path).and(Err(e)))?;
        self.check_exists(ns, &path)?;
        let before = fs::read(&path).map_err(io(&path))?;
        let text = std::str::from_utf8(&before).map_err(|e| StateError::Parse {
            path: path.clone(),
            message: format!("not UTF-8 text ({e})"),
        })?;
        let mut doc = parse_text(&path, text)?;
        let out = f(&mut doc.state)?;
        let rendered = doc
            .render()
            .map_err(|e| super::RuleError::Serialize(e.to_string()))?;
        if !dry_run && rendered.as_bytes() != before.as_slice() {
            remove_stale_temp_files(&path);
            atomic_write(&path, rendered.as_bytes())?;
        }
        Ok((out, doc))
    }
}
