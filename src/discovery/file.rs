//! The file store source (Dynamo 1.x `DYN_DISCOVERY_BACKEND=file`): one file per key under
//! `<root>/v1/instances/`, named by the percent-encoded key, staleness by mtime.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc::{self, UnboundedSender};

use super::model::{Interner, Name, SourceKind, SourceStatus, Status};
use super::parse::{self, FILE_BUCKET};
use super::state::SourceState;
use super::{FileSource, MAX_INSTANCES};

const POLL: Duration = Duration::from_secs(1);
const DEBOUNCE: Duration = Duration::from_millis(20);

fn status(src: &FileSource, error: Option<String>) -> SourceStatus {
    SourceStatus {
        kind: SourceKind::File,
        location: src.root.display().to_string(),
        status: if error.is_some() {
            Status::Error
        } else {
            Status::Ok
        },
        error,
        resyncs: 0,
    }
}

fn bucket(src: &FileSource) -> PathBuf {
    src.root.join(FILE_BUCKET)
}

/// Names Dynamo's writers use for temporary files, and hidden files.
fn ignored(name: &str) -> bool {
    name.starts_with(".tmp_") || name.starts_with('.')
}

/// Entries whose mtime lies in the future, by key: that mtime and when it was first seen.
/// Such an entry counts as touched when its mtime was first seen (clock skew: the owner
/// just wrote it), and never later: an mtime of next year keeps nothing live for a year,
/// only for one TTL after it last changed.
pub(crate) type FutureMtimes = HashMap<Name, (SystemTime, SystemTime)>;

/// The time an entry counts as touched: its mtime, or for an mtime in the future the
/// time this very mtime was first seen (`seen`, from the previous read).
fn touched(
    key: &Name,
    mtime: SystemTime,
    now: SystemTime,
    seen: &FutureMtimes,
    next: &mut FutureMtimes,
) -> SystemTime {
    if mtime <= now {
        return mtime;
    }
    let first = match seen.get(key) {
        Some((m, at)) if *m == mtime => *at,
        _ => now,
    };
    next.insert(key.clone(), (mtime, first));
    first
}

/// Reads the bucket once (blocking). Staleness is applied with `ttl` and `grace`; `seen`
/// (the future mtimes of the previous read, see [`FutureMtimes`]) is replaced by this
/// read's.
pub(crate) fn snapshot(
    src: &FileSource,
    ttl: Duration,
    grace: Duration,
    names: &mut Interner,
    seen: &mut FutureMtimes,
) -> SourceState {
    let mut st = SourceState::default();
    if !src.root.is_dir() {
        st.status = Some(status(
            src,
            Some(format!("{} does not exist", src.root.display())),
        ));
        return st;
    }
    let dir = bucket(src);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        // The root without the bucket: no instance registered yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            st.status = Some(status(src, None));
            seen.clear();
            return st;
        }
        Err(e) => {
            st.status = Some(status(src, Some(format!("{}: {e}", dir.display()))));
            return st;
        }
    };
    let now = SystemTime::now();
    let mut next = FutureMtimes::new();
    let mut buf = Vec::new();
    for ent in rd.filter_map(Result::ok).take(MAX_INSTANCES * 2) {
        let name = ent.file_name();
        let Some(name) = name.to_str() else {
            let lossy = ent.file_name().to_string_lossy().into_owned();
            let msg = format!("file {} has a name that is not UTF-8", parse::quote(&lossy));
            st.put(&lossy, Err(msg));
            continue;
        };
        if ignored(name) {
            continue;
        }
        // Regular files only (no FIFO that would block a read), read up to the cap.
        let Ok(meta) = std::fs::symlink_metadata(ent.path()) else {
            continue; // gone meanwhile
        };
        if !meta.is_file() {
            st.put(
                name,
                Err(format!("file {} is not a regular file", parse::quote(name))),
            );
            continue;
        }
        buf.clear();
        // O_NONBLOCK: a file swapped for a FIFO after the check above never blocks us.
        let read = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(ent.path())
            .and_then(|f| {
                f.take(parse::MAX_VALUE_BYTES as u64 + 1)
                    .read_to_end(&mut buf)
            });
        if read.is_err() {
            continue; // deleted between listing and reading
        }
        let entry = parse::file_entry_in(names, name, &buf).map(|mut i| {
            i.mtime = meta.modified().ok();
            i.modified = i.mtime.map(|m| touched(&i.key, m, now, seen, &mut next));
            i
        });
        st.put(name, entry);
    }
    *seen = next;
    st.refresh_stale(now, ttl, grace);
    st.status = Some(status(src, None));
    st
}

/// What the file task tells the live view: a fresh full read, or that it is off.
#[derive(Debug)]
pub(crate) enum FileUpdate {
    Reset(SourceState),
}

fn make_watcher(
    tx: UnboundedSender<()>,
    root: PathBuf,
    force_poll: bool,
) -> Option<Box<dyn Watcher + Send>> {
    let handler = move |res: notify::Result<notify::Event>| {
        let relevant = match &res {
            Err(_) => true,
            Ok(ev) => {
                !matches!(ev.kind, EventKind::Access(_))
                    && (ev.need_rescan()
                        || ev.paths.is_empty()
                        || ev.paths.iter().any(|p| {
                            p.starts_with(root.join(FILE_BUCKET))
                                || root.join(FILE_BUCKET).starts_with(p)
                        }))
            }
        };
        if relevant {
            let _ = tx.send(());
        }
    };
    if !force_poll && let Ok(w) = notify::recommended_watcher(handler.clone()) {
        return Some(Box::new(w));
    }
    let cfg = notify::Config::default().with_poll_interval(POLL);
    notify::PollWatcher::new(handler, cfg)
        .ok()
        .map(|w| Box::new(w) as Box<dyn Watcher + Send>)
}

/// What is watched, never recursively (a bucket that is a symlink to a big tree costs
/// one inotify watch, not one per directory of the tree): the bucket when it exists (it
/// has no subdirectories), else the nearest existing ancestor, to see the bucket appear.
/// With the directory's device and inode: a bucket deleted and made again is watched
/// anew.
pub(crate) fn target(root: &Path) -> Option<(PathBuf, (u64, u64))> {
    root.join(FILE_BUCKET).ancestors().find_map(|p| {
        let m = std::fs::metadata(p).ok().filter(|m| m.is_dir())?;
        Some((p.to_path_buf(), (m.dev(), m.ino())))
    })
}

/// The live source: a full read after every burst of events, until `tx` is closed.
pub(crate) async fn run(
    src: FileSource,
    ttl: Duration,
    grace: Duration,
    poll: bool,
    tx: UnboundedSender<FileUpdate>,
) {
    let (ntx, mut nrx) = mpsc::unbounded_channel::<()>();
    let mut polling = poll;
    let mut watcher = make_watcher(ntx.clone(), src.root.clone(), polling);
    let mut watched: Option<(PathBuf, (u64, u64))> = None;
    // Shared across reads: the names, and the future mtimes already seen.
    let mut names = Interner::sharing();
    let mut seen = FutureMtimes::new();
    loop {
        let want = target(&src.root);
        if want != watched
            && let Some(w) = watcher.as_mut()
        {
            if let Some((p, _)) = &watched {
                let _ = w.unwatch(p);
            }
            watched = match &want {
                Some((p, _)) if w.watch(p, RecursiveMode::NonRecursive).is_ok() => want.clone(),
                _ => None,
            };
            // inotify refused (e.g. out of watches): poll instead, once.
            if watched.is_none() && want.is_some() && !polling {
                polling = true;
                watcher = make_watcher(ntx.clone(), src.root.clone(), true);
                if let (Some(w), Some((p, _))) = (watcher.as_mut(), &want)
                    && w.watch(p, RecursiveMode::NonRecursive).is_ok()
                {
                    watched = want.clone();
                }
            }
        }
        let s2 = src.clone();
        let (mut st, n2, s3) = match tokio::task::spawn_blocking(move || {
            let st = snapshot(&s2, ttl, grace, &mut names, &mut seen);
            (st, names, seen)
        })
        .await
        {
            Ok(r) => r,
            Err(_) => return,
        };
        names = n2;
        seen = s3;
        if watcher.is_none() || watched.is_none() {
            let why = "cannot watch it for changes";
            if let Some(s) = st.status.as_mut() {
                s.status = Status::Error;
                s.error = Some(match s.error.take() {
                    Some(e) => format!("{e}; {why}"),
                    None => why.to_string(),
                });
            }
        }
        if tx.send(FileUpdate::Reset(st)).is_err() {
            return;
        }
        tokio::select! {
            got = nrx.recv() => if got.is_none() { return },
            () = tx.closed() => return,
        }
        // A burst (a rename is several events): settle, then read once.
        tokio::time::sleep(DEBOUNCE).await;
        while nrx.try_recv().is_ok() {}
    }
}
