//! Following tailed files on a thread of their own: inotify (notify) on their directories
//! (never recursively), or polling when `DYNAMO_CTL_WATCH=poll` (shared filesystems give
//! no events) or a directory cannot be watched. Events are coalesced: after the first
//! one the thread waits a little, then reads every file once, so a worker writing 10,000
//! lines a second costs a read (and a batch) per `coalesce`, never one per line. Idle,
//! the thread sleeps on its channel: no timer runs unless it polls.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use super::tail::{Note, Tail};

/// How much of one file a read round takes before the others get their turn.
const ROUND: u64 = 4 << 20;

/// What the files said since the last batch: lines and notes, by the index of their tail.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    pub lines: Vec<(usize, String)>,
    pub notes: Vec<(usize, Note)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.notes.is_empty()
    }
}

/// How to follow.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Poll instead of waiting for events.
    pub poll: bool,
    /// How often to poll (when polling).
    pub every: Duration,
    /// How long to gather events before reading.
    pub coalesce: Duration,
}

impl Options {
    /// `DYNAMO_CTL_WATCH=poll` polls every 500 ms; else events, gathered for `coalesce`.
    pub fn from_env(coalesce: Duration) -> Options {
        Options {
            poll: std::env::var("DYNAMO_CTL_WATCH").is_ok_and(|v| v == "poll"),
            every: Duration::from_millis(500),
            coalesce,
        }
    }
}

enum Msg {
    Fs,
    Stop,
}

/// The following thread; it stops when this is dropped.
#[derive(Debug)]
pub struct Follower {
    tx: mpsc::Sender<Msg>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Follower {
    /// Stops the thread and waits for it (it is between two reads at most).
    pub fn stop(mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

/// Follows `tails` (already opened at their ends): `sink` gets each batch of new lines and
/// notes, and ends the following by returning false.
pub fn follow(
    tails: Vec<Tail>,
    opts: Options,
    sink: impl FnMut(Batch) -> bool + Send + 'static,
) -> Follower {
    let (tx, rx) = mpsc::channel();
    let etx = tx.clone();
    let thread = std::thread::Builder::new()
        .name("dynamo-ctl-logs".into())
        .spawn(move || run(tails, opts, etx, rx, sink))
        .ok();
    Follower { tx, thread }
}

fn watch(tails: &[Tail], tx: mpsc::Sender<Msg>) -> (Option<notify::RecommendedWatcher>, bool) {
    let handler = move |res: notify::Result<notify::Event>| {
        let relevant = match &res {
            Ok(ev) => !matches!(ev.kind, EventKind::Access(_)),
            Err(_) => true,
        };
        if relevant {
            let _ = tx.send(Msg::Fs);
        }
    };
    let Ok(mut w) = notify::recommended_watcher(handler) else {
        return (None, true);
    };
    let dirs: BTreeSet<PathBuf> = tails
        .iter()
        .filter_map(|t| t.path().parent().map(|p| p.to_path_buf()))
        .collect();
    let mut all = true;
    for d in dirs {
        all &= w.watch(&d, RecursiveMode::NonRecursive).is_ok();
    }
    (Some(w), !all)
}

fn run(
    mut tails: Vec<Tail>,
    opts: Options,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    mut sink: impl FnMut(Batch) -> bool,
) {
    // Kept alive as long as the thread runs.
    let (_watcher, must_poll) = if opts.poll {
        (None, true)
    } else {
        watch(&tails, tx)
    };
    let poll = opts.poll || must_poll;
    loop {
        // Read every file; a burst bigger than a round goes out in several batches.
        loop {
            let mut batch = Batch::default();
            let mut more = false;
            for (i, t) in tails.iter_mut().enumerate() {
                let (lines, notes, m) = t.read_new(ROUND);
                more |= m;
                batch.lines.extend(lines.into_iter().map(|l| (i, l)));
                batch.notes.extend(notes.into_iter().map(|n| (i, n)));
            }
            if !batch.is_empty() && !sink(batch) {
                return;
            }
            if matches!(
                rx.try_recv(),
                Ok(Msg::Stop) | Err(mpsc::TryRecvError::Disconnected)
            ) {
                return;
            }
            if !more {
                break;
            }
        }
        let first = if poll {
            rx.recv_timeout(opts.every)
        } else {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        match first {
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => continue,
            Ok(Msg::Fs) => {}
        }
        // Gather what else comes within `coalesce`, then read once.
        let until = Instant::now() + opts.coalesce;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(Msg::Fs) => {}
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(opts: Options) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("output.log");
        std::fs::write(&p, "old\n").unwrap();
        let (tail, lines, _) = Tail::open(&p, 10, 4096);
        assert_eq!(lines, ["old"]);
        let (btx, brx) = mpsc::channel();
        let f = follow(vec![tail], opts, move |b| btx.send(b).is_ok());
        let mut w = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        for i in 0..1000 {
            writeln!(w, "new {i}").unwrap();
        }
        w.flush().unwrap();
        while got.len() < 1000 {
            let left = deadline.saturating_duration_since(Instant::now());
            let b = brx.recv_timeout(left).expect("the lines came within 10 s");
            got.extend(b.lines.into_iter().map(|(i, l)| {
                assert_eq!(i, 0);
                l
            }));
        }
        let want: Vec<String> = (0..1000).map(|i| format!("new {i}")).collect();
        assert_eq!(got, want);
        f.stop();
    }

    #[test]
    fn follows_with_events() {
        collect(Options {
            poll: false,
            every: Duration::from_millis(500),
            coalesce: Duration::from_millis(20),
        });
    }

    #[test]
    fn follows_by_polling() {
        collect(Options {
            poll: true,
            every: Duration::from_millis(50),
            coalesce: Duration::from_millis(20),
        });
    }

    #[test]
    fn an_idle_follower_sends_nothing_and_stops_when_dropped() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("output.log");
        std::fs::write(&p, "old\n").unwrap();
        let (tail, _, _) = Tail::open(&p, 10, 4096);
        let (btx, brx) = mpsc::channel();
        let f = follow(
            vec![tail],
            Options::from_env(Duration::from_millis(10)),
            move |b| btx.send(b).is_ok(),
        );
        assert!(brx.recv_timeout(Duration::from_millis(300)).is_err());
        f.stop();
        // The thread is gone: its sender with it.
        assert!(matches!(
            brx.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Disconnected)
        ));
    }
}
