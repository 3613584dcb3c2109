//! Follows the state directory: notify (inotify) on the directory itself, so files created,
//! removed or replaced by rename are seen, and so is the directory vanishing; while it is
//! missing, its parent is watched and the directory polled, so it is picked up when it comes
//! back. Events are debounced and sent as [`Action::FsChanged`].
//!
//! Idle costs nothing: the thread blocks on the event channel. It polls (every second,
//! comparing a listing fingerprint) only while the directory cannot be watched: it is
//! missing, or the system gives no events. `DYNAMO_CTL_WATCH=poll` forces notify's polling
//! watcher for filesystems without events (NFS).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use super::app::Action;

const DEBOUNCE: Duration = Duration::from_millis(40);
const POLL: Duration = Duration::from_secs(1);

/// Starts the watcher thread. It ends when the receiving side is gone.
pub fn spawn(dir: PathBuf, tx: UnboundedSender<Action>) {
    let _ = std::thread::Builder::new()
        .name("dynamo-ctl-watch".into())
        .spawn(move || run(dir, tx));
}

type Fingerprint = Option<Vec<(String, Option<SystemTime>, u64)>>;

fn fingerprint(dir: &Path) -> Fingerprint {
    let rd = std::fs::read_dir(dir).ok()?;
    let mut v: Vec<_> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !relevant_name(&name) {
                return None;
            }
            let m = e.metadata().ok()?;
            Some((name, m.modified().ok(), m.len()))
        })
        .collect();
    v.sort();
    Some(v)
}

fn relevant_name(name: &str) -> bool {
    name.ends_with(".json") && !name.starts_with('.')
}

fn relevant(dir: &Path, ev: &notify::Event) -> bool {
    if matches!(ev.kind, EventKind::Access(_)) {
        return false; // our own reads
    }
    ev.paths.iter().any(|p| {
        p == dir
            || (p.parent() == Some(dir)
                && p.file_name()
                    .is_some_and(|n| relevant_name(&n.to_string_lossy())))
    })
}

fn make_watcher(tx: mpsc::Sender<notify::Result<notify::Event>>) -> Option<Box<dyn Watcher>> {
    let force_poll = std::env::var("DYNAMO_CTL_WATCH").is_ok_and(|v| v == "poll");
    if !force_poll && let Ok(w) = notify::recommended_watcher(tx.clone()) {
        return Some(Box::new(w));
    }
    let cfg = notify::Config::default().with_poll_interval(POLL);
    notify::PollWatcher::new(tx, cfg)
        .ok()
        .map(|w| Box::new(w) as Box<dyn Watcher>)
}

fn run(dir: PathBuf, tx: UnboundedSender<Action>) {
    let (etx, erx) = mpsc::channel();
    let mut watcher = make_watcher(etx);
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf);
    let mut dir_watched = false;
    let mut parent_watched = false;
    let mut last = fingerprint(&dir);
    loop {
        // Watch the directory while it exists; its parent only while it does not (a busy
        // parent such as /tmp would wake us for nothing).
        if let Some(w) = watcher.as_mut() {
            if dir.is_dir() {
                if !dir_watched {
                    dir_watched = w.watch(&dir, RecursiveMode::NonRecursive).is_ok();
                }
                if dir_watched && parent_watched {
                    if let Some(p) = &parent {
                        let _ = w.unwatch(p);
                    }
                    parent_watched = false;
                }
            } else if let Some(p) = &parent
                && !parent_watched
                && p.is_dir()
            {
                parent_watched = w.watch(p, RecursiveMode::NonRecursive).is_ok();
            }
        }
        let got = if dir_watched {
            match erx.recv() {
                Ok(ev) => Some(ev),
                Err(_) => return,
            }
        } else {
            // The directory is missing (or cannot be watched): poll it.
            match erx.recv_timeout(POLL) {
                Ok(ev) => Some(ev),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        let mut changed = false;
        let mut dir_itself = false;
        let mut note = |ev: &notify::Result<notify::Event>| {
            if let Ok(e) = ev {
                changed |= relevant(&dir, e);
                dir_itself |= e.paths.iter().any(|p| p == &dir);
            }
        };
        if let Some(first) = got {
            note(&first);
            // Debounce: a save is several events (create temp, write, rename).
            let deadline = Instant::now() + DEBOUNCE;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match erx.recv_timeout(left) {
                    Ok(ev) => note(&ev),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }
        // The directory itself was removed, moved or replaced: watch it afresh (or its
        // parent, if it is gone).
        if (dir_itself || !dir.is_dir()) && dir_watched {
            if let Some(w) = watcher.as_mut() {
                let _ = w.unwatch(&dir);
            }
            dir_watched = false;
        }
        if parent.as_ref().is_some_and(|p| !p.is_dir()) {
            parent_watched = false;
        }
        let now = fingerprint(&dir);
        if now != last {
            changed = true;
            last = now;
        }
        if changed && tx.send(Action::FsChanged).is_err() {
            return;
        }
    }
}
