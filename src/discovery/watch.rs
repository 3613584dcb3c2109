//! The live view: every source as a task, one merged state, coalesced callbacks.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::etcd::{self, EtcdUpdate};
use super::file::{self, FileUpdate};
use super::{Config, Snapshot, SourceState, merge};

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
    if pending == 0 {
        on_change(Snapshot::default());
    }
    loop {
        let stale_at = file_state.next_stale_change(SystemTime::now(), cfg.ttl, cfg.grace);
        let mut changed = false;
        tokio::select! {
            _ = &mut stop => return,
            u = erx.recv(), if etcd_open => match u {
                Some(EtcdUpdate::Reset(s)) => {
                    etcd_state = s;
                    changed = true;
                }
                Some(EtcdUpdate::Events(evs)) => {
                    for (k, e) in evs {
                        match e {
                            Some(e) => etcd_state.put(k, e),
                            None => etcd_state.delete(&k),
                        }
                    }
                    changed = true;
                }
                Some(EtcdUpdate::Off) | None => {
                    etcd_open = false;
                    etcd_state = SourceState::default();
                    changed = true;
                }
            },
            u = frx.recv(), if file_open => match u {
                Some(FileUpdate::Reset(s)) => {
                    file_state = s;
                    changed = true;
                }
                None => file_open = false,
            },
            () = sleep_until(emit_at), if emit_at.is_some() => {
                emit_at = None;
                on_change(merge([&etcd_state, &file_state]));
            }
            () = sleep_until(stale_at.map(Instant::from_std)), if stale_at.is_some() => {
                changed = file_state.refresh_stale(SystemTime::now(), cfg.ttl, cfg.grace);
            }
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
                on_change(merge([&etcd_state, &file_state]));
                continue;
            }
            emit_at.get_or_insert_with(|| Instant::now() + cfg.coalesce);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
