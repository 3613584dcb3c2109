//! The file store source (Dynamo 1.x `DYN_DISCOVERY_BACKEND=file`): one file per key under
//! `<root>/v1/instances/`, named by the percent-encoded key, staleness by mtime.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc::{self, UnboundedSender};

use super::parse::{self, FILE_BUCKET};
use super::{FileSource, MAX_INSTANCES, SourceKind, SourceState, SourceStatus, Status};

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

/// Reads the bucket once (blocking). Staleness is applied with `ttl` and `grace`.
pub(crate) fn snapshot(src: &FileSource, ttl: Duration, grace: Duration) -> SourceState {
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
            return st;
        }
        Err(e) => {
            st.status = Some(status(src, Some(format!("{}: {e}", dir.display()))));
            return st;
        }
    };
    for ent in rd.filter_map(Result::ok).take(MAX_INSTANCES * 2) {
        let name = ent.file_name();
        let Some(name) = name.to_str() else {
            st.put(
                ent.file_name().to_string_lossy().into_owned(),
                Err(format!(
                    "file {} has a name that is not UTF-8",
                    parse::quote(&ent.file_name().to_string_lossy())
                )),
            );
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
                name.to_string(),
                Err(format!("file {} is not a regular file", parse::quote(name))),
            );
            continue;
        }
        let mut buf = Vec::new();
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
        let entry = parse::file_entry(name, &buf).map(|mut i| {
            i.modified = meta.modified().ok();
            i
        });
        st.put(name.to_string(), entry);
    }
    st.refresh_stale(SystemTime::now(), ttl, grace);
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

/// What is watched: the root (recursively) when it exists, else the nearest existing
/// ancestor (not recursively), to see the root appear.
fn target(root: &Path) -> Option<(PathBuf, RecursiveMode)> {
    if root.is_dir() {
        return Some((root.to_path_buf(), RecursiveMode::Recursive));
    }
    root.ancestors()
        .skip(1)
        .find(|p| p.is_dir())
        .map(|p| (p.to_path_buf(), RecursiveMode::NonRecursive))
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
    let mut watched: Option<(PathBuf, RecursiveMode)> = None;
    loop {
        let want = target(&src.root);
        if want != watched
            && let Some(w) = watcher.as_mut()
        {
            if let Some((p, _)) = &watched {
                let _ = w.unwatch(p);
            }
            watched = match &want {
                Some((p, mode)) if w.watch(p, *mode).is_ok() => want.clone(),
                _ => None,
            };
            // inotify refused (e.g. out of watches): poll instead, once.
            if watched.is_none() && want.is_some() && !polling {
                polling = true;
                watcher = make_watcher(ntx.clone(), src.root.clone(), true);
                if let (Some(w), Some((p, mode))) = (watcher.as_mut(), &want)
                    && w.watch(p, *mode).is_ok()
                {
                    watched = want.clone();
                }
            }
        }
        let s2 = src.clone();
        let mut st = match tokio::task::spawn_blocking(move || snapshot(&s2, ttl, grace)).await {
            Ok(st) => st,
            Err(_) => return,
        };
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
