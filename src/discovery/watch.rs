//! The live view: every source as a task, one merged state, coalesced callbacks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::etcd::{self, EtcdUpdate};
use super::file::{self, FileUpdate};
use super::model::{Changes, Ident, Instance, SourceKind};
use super::{Config, Snapshot, SourceState, merge};

/// The staleness timer fires at most this often (each firing looks at every file-store
/// entry: 100,000 entries touched at 100,000 different times cost ten passes a second,
/// not one per entry).
const STALE_TICK: Duration = Duration::from_millis(100);

/// What changed since the last snapshot handed on: each instance touched, with whether it
/// was there before the first change (and as what). O(changes) to keep, O(changes) to turn
/// into [`Changes`].
#[derive(Default)]
struct Pending {
    before: HashMap<Ident, Option<Arc<Instance>>>,
}

impl Pending {
    fn note(&mut self, source: SourceKind, key: &super::Name, before: Option<Arc<Instance>>) {
        self.before
            .entry(Ident {
                source,
                key: key.clone(),
            })
            .or_insert(before);
    }

    /// A source replaced as a whole: every key present in only one of the two.
    fn reset(&mut self, source: SourceKind, old: &SourceState, new: &SourceState) {
        for (k, i) in &old.instances {
            if !new.instances.contains_key(k) {
                self.note(source, k, Some(i.clone()));
            }
        }
        for k in new.instances.keys() {
            if !old.instances.contains_key(k) {
                self.note(source, k, None);
            }
        }
    }

    fn take(&mut self, etcd: &SourceState, file: &SourceState, view: u64, seq: u64) -> Changes {
        let mut ch = Changes {
            view,
            seq,
            ..Changes::default()
        };
        for (id, before) in self.before.drain() {
            let state = match id.source {
                SourceKind::Etcd => etcd,
                SourceKind::File => file,
            };
            let now = state.instances.contains_key(id.key.as_str());
            match (before, now) {
                (None, true) => ch.added.push(id),
                (Some(i), false) => ch.removed.push(i),
                _ => {}
            }
        }
        ch
    }
}

/// Live views get distinct numbers (their snapshots' changes name the view).
static VIEWS: AtomicU64 = AtomicU64::new(1);

/// Stops the live view when dropped.
pub struct WatchHandle {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WatchHandle {
    /// Stops the live view and, when it runs on its own thread, waits for that thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Aborts the source tasks when the view ends.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Starts the live view (see the module docs). On a tokio runtime it runs as a task of
/// that runtime; without one, on its own thread.
pub fn spawn_watch(
    cfg: Config,
    on_change: impl Fn(Snapshot) + Send + Sync + 'static,
) -> WatchHandle {
    let (stop_tx, stop_rx) = oneshot::channel();
    let on_change = Arc::new(on_change);
    let fut = run(cfg, on_change, stop_rx);
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            h.spawn(fut);
            WatchHandle {
                stop: Some(stop_tx),
                thread: None,
            }
        }
        Err(_) => {
            let thread = std::thread::Builder::new()
                .name("dynamo-ctl-discovery".into())
                .spawn(move || {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        rt.block_on(fut);
                    }
                })
                .ok();
            WatchHandle {
                stop: Some(stop_tx),
                thread,
            }
        }
    }
}

async fn run(
    cfg: Config,
    on_change: Arc<dyn Fn(Snapshot) + Send + Sync>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut tasks = Tasks(Vec::new());
    let (etx, mut erx) = mpsc::unbounded_channel::<EtcdUpdate>();
    let (ftx, mut frx) = mpsc::unbounded_channel::<FileUpdate>();
    let mut etcd_open = false;
    let mut file_open = false;
    // Sources that have not said anything yet; the first callback waits for all.
    let mut pending = 0usize;
    if let Some(e) = cfg.etcd.clone() {
        tasks.0.push(tokio::spawn(etcd::run(
            e,
            cfg.timeout,
            cfg.watch_delay,
            etx,
        )));
        etcd_open = true;
        pending += 1;
    } else {
        drop(etx);
    }
    if let Some(f) = cfg.file.clone() {
        if f.explicit || f.root.is_dir() {
            tasks.0.push(tokio::spawn(file::run(
                f, cfg.ttl, cfg.grace, cfg.poll, ftx,
            )));
            file_open = true;
            pending += 1;
        }
    } else {
        drop(ftx);
    }
    let mut etcd_state = SourceState::default();
    let mut file_state = SourceState::default();
    let mut emit_at: Option<Instant> = None;
    let view = VIEWS.fetch_add(1, Ordering::Relaxed);
    let mut seq = 0u64;
    let mut pending_changes = Pending::default();
    // The snapshot handed on, with its changes and counts computed here, off the caller.
    let mut emit = |etcd: &SourceState, file: &SourceState, pending: &mut Pending| {
        let mut snap = merge([etcd, file]);
        seq += 1;
        let changes = pending.take(etcd, file, view, seq);
        // The first one has nothing to be relative to.
        snap.changes = (seq > 1).then(|| Arc::new(changes));
        snap.index();
        on_change(snap);
    };
    if pending == 0 {
        emit(&etcd_state, &file_state, &mut pending_changes);
    }
    let mut stale_at: Option<Instant> = None;
    let mut last_refresh = Instant::now();
    loop {
        let mut changed = false;
        let mut file_changed = false;
        tokio::select! {
            _ = &mut stop => return,
            u = erx.recv(), if etcd_open => match u {
                Some(EtcdUpdate::Reset(s)) => {
                    pending_changes.reset(SourceKind::Etcd, &etcd_state, &s);
                    etcd_state = s;
                    changed = true;
                }
                Some(EtcdUpdate::Events(evs)) => {
                    for (k, e) in evs {
                        let before = match e {
                            Some(e) => etcd_state.put(&k, e),
                            None => etcd_state.delete(&k),
                        };
                        pending_changes.note(SourceKind::Etcd, &k, before);
                    }
                    changed = true;
                }
                Some(EtcdUpdate::Planner(evs)) => {
                    for (k, v) in evs {
                        match v {
                            Some(v) => etcd_state.planner.put(&k, &v),
                            None => etcd_state.planner.delete(&k),
                        };
                    }
                    changed = true;
                }
                Some(EtcdUpdate::Off) | None => {
                    etcd_open = false;
                    let s = SourceState::default();
                    pending_changes.reset(SourceKind::Etcd, &etcd_state, &s);
                    etcd_state = s;
                    changed = true;
                }
            },
            u = frx.recv(), if file_open => match u {
                Some(FileUpdate::Reset(s)) => {
                    pending_changes.reset(SourceKind::File, &file_state, &s);
                    file_state = s;
                    changed = true;
                    file_changed = true;
                }
                None => file_open = false,
            },
            () = sleep_until(emit_at), if emit_at.is_some() => {
                emit_at = None;
                emit(&etcd_state, &file_state, &mut pending_changes);
            }
            () = sleep_until(stale_at), if stale_at.is_some() => {
                last_refresh = Instant::now();
                let (c, dropped) = file_state.refresh_stale(SystemTime::now(), cfg.ttl, cfg.grace);
                for i in dropped {
                    let k = i.key.clone();
                    pending_changes.note(SourceKind::File, &k, Some(i));
                }
                changed = c;
                file_changed = true;
            }
        }
        if file_changed {
            // The next staleness change, no sooner than STALE_TICK after the last pass.
            stale_at = file_state
                .next_stale_change(SystemTime::now(), cfg.ttl, cfg.grace)
                .map(|d| {
                    let at = Instant::now()
                        .checked_add(d.saturating_add(Duration::from_millis(5)))
                        .unwrap_or_else(far_future);
                    at.max(last_refresh + STALE_TICK)
                });
        }
        if changed {
            if pending > 0 {
                let said =
                    usize::from(etcd_state.status.is_some() || !etcd_open && cfg.etcd.is_some())
                        + usize::from(file_state.status.is_some());
                if said < pending {
                    continue;
                }
                pending = 0;
                emit(&etcd_state, &file_state, &mut pending_changes);
                continue;
            }
            emit_at.get_or_insert_with(|| Instant::now() + cfg.coalesce);
        }
    }
}

/// A time the timer will not reach (about a year ahead: `Instant` has no maximum).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 86_400)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
