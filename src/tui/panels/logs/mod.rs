//! `l` on a watcher (an instance row, an entry) or a type (a dashboard row: all its
//! watchers merged, each line prefixed): its log. The last lines at once, then new ones as
//! they come (Space stops and resumes following; while stopped, a mark counts what came);
//! `o` stdout / stderr, `m` both merged with a mark per line; `/` search with n/N; `w`
//! wrap; `c` copies a line to the terminal's clipboard (OSC 52). The files are the ones the
//! arbiter names ([`crate::logs`]); the panel keeps at most `log_lines` lines per stream.

mod draw;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Outcome, Panel, push, say};
use crate::logs::{Batch, Follower, Note, Source, Stream};
use crate::tui::action::Effect;
use crate::tui::data::{Data, Severity};
use crate::tui::keys::{C, Cmd, K, KeyDef, PAGE_DOWN, PAGE_UP, TOP, k};
use crate::tui::ui::View;
use crate::tui::widgets::{Filter, InputOutcome, Nav, Scroll, TextInput};

pub const TITLE: &str = "Log";
pub const KEYS: &[KeyDef] = &[
    k(
        &[C(' ')],
        "Space",
        "follow on / off",
        Cmd::Follow,
        false,
        "follow",
    ),
    k(
        &[C('o')],
        "o",
        "stdout / stderr",
        Cmd::Stream,
        false,
        "stream",
    ),
    k(
        &[C('m')],
        "m",
        "both streams merged, each line marked",
        Cmd::Merge,
        false,
        "merge",
    ),
    k(
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "scroll up (follow stops)",
        Cmd::Up,
        false,
        "",
    ),
    k(
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "scroll down",
        Cmd::Down,
        false,
        "",
    ),
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    k(
        &[C('G'), K(KeyCode::End)],
        "G/End",
        "to the end, following",
        Cmd::Bottom,
        false,
        "",
    ),
    k(&[C('/')], "/", "search", Cmd::Filter, false, "search"),
    k(&[C('n')], "n", "next match", Cmd::NextMatch, false, ""),
    k(&[C('N')], "N", "previous match", Cmd::PrevMatch, false, ""),
    k(&[C('w')], "w", "wrap on / off", Cmd::Wrap, false, ""),
    k(
        &[C('c')],
        "c",
        "copy a line (terminal clipboard)",
        Cmd::Copy,
        false,
        "copy",
    ),
    k(
        &[K(KeyCode::Esc)],
        "Esc",
        "close (a search first)",
        Cmd::Close,
        false,
        "back",
    ),
];

/// Keeps the follower of a log panel: it stops when the panel (the last holder) is gone.
#[derive(Clone, Debug, Default)]
pub struct LogHandle(Arc<Mutex<Option<Follower>>>);

impl LogHandle {
    /// Whether a panel still holds it (else following is pointless).
    pub fn wanted(&self) -> bool {
        Arc::strong_count(&self.0) > 1
    }

    /// Keeps `f` running while a panel holds the handle.
    pub fn set(&self, f: Follower) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(f);
        }
        // The panel went away meanwhile: stop at once.
        if !self.wanted()
            && let Ok(mut slot) = self.0.lock()
        {
            slot.take();
        }
    }
}

/// What a log panel hears ([`crate::tui::action::Action::Log`]).
#[derive(Debug)]
pub enum LogNews {
    /// Where each watcher's streams are, the last lines, and the follower's handle.
    Opened {
        sources: Vec<Source>,
        first: Batch,
        handle: LogHandle,
    },
    /// New lines and notes, by source.
    Lines(Batch),
    /// The arbiter could not say.
    Failed(String),
}

/// Which lines the panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Stdout,
    Stderr,
    Merged,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    src: usize,
    text: String,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
pub struct LogView {
    pub id: u64,
    /// What `l` was pressed on: a type, or a watcher.
    pub target: String,
    /// A type: lines are prefixed with their watcher.
    pub prefixed: bool,
    sources: Vec<Source>,
    /// Each source's trouble, as last said (None: reading).
    notes: Vec<Option<String>>,
    opened: bool,
    failed: Option<String>,
    _handle: LogHandle,
    /// Per stream: stdout, stderr.
    lines: [VecDeque<Entry>; 2],
    /// What came while follow was off.
    held: [VecDeque<Entry>; 2],
    pub held_count: usize,
    seq: u64,
    cap: usize,
    pub follow: bool,
    pub shown: Shown,
    pub wrap: bool,
    pub scroll: Scroll,
    pub search: Filter,
    /// The line (in the shown lines) of the current search match.
    current: Option<usize>,
}

fn slot(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl LogView {
    /// Opens the log of `watchers` (a type's when `prefixed`): the panel, and the effect
    /// that finds and follows their files; or why it cannot.
    pub fn open(target: &str, watchers: Vec<String>, prefixed: bool, d: &Data) -> Vec<Outcome> {
        let Some(cur) = &d.current else {
            return Vec::new();
        };
        let Some(endpoint) = cur.summary.circus_endpoint.clone() else {
            return vec![say(
                Severity::Warn,
                format!(
                    "{}'s state file names no circus endpoint: no arbiter to ask where {} writes its output",
                    cur.name,
                    crate::text::safe(target)
                ),
            )];
        };
        if watchers.is_empty() {
            return vec![say(Severity::Warn, format!("{target} has no watcher"))];
        }
        // The demo's endpoints name no running circus: say so, not "unreachable".
        if d.file_only == Some("--demo") {
            return vec![say(
                Severity::Warn,
                format!(
                    "no logs with --demo: no circus runs the demo's workers, so none writes output ({}'s would be where its circus's stream settings say)",
                    crate::text::safe(target)
                ),
            )];
        }
        let view = LogView::new(target, prefixed, d.log_lines);
        let open = Effect::LogOpen {
            id: view.id,
            endpoint,
            watchers,
            lines: d.log_lines,
            timeout: d.scale_opts.arbiter_timeout,
        };
        vec![push(view), Outcome::Effect(open)]
    }

    pub fn new(target: &str, prefixed: bool, cap: usize) -> LogView {
        LogView {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            target: target.to_string(),
            prefixed,
            sources: Vec::new(),
            notes: Vec::new(),
            opened: false,
            failed: None,
            _handle: LogHandle::default(),
            lines: Default::default(),
            held: Default::default(),
            held_count: 0,
            seq: 0,
            cap: cap.max(1),
            follow: true,
            shown: Shown::Stdout,
            wrap: false,
            scroll: Scroll::tail(),
            search: Filter::default(),
            current: None,
        }
    }

    /// The lines shown, oldest first.
    fn view(&self) -> Vec<&Entry> {
        match self.shown {
            Shown::Stdout => self.lines[0].iter().collect(),
            Shown::Stderr => self.lines[1].iter().collect(),
            Shown::Merged => {
                let (mut a, mut b) = (
                    self.lines[0].iter().peekable(),
                    self.lines[1].iter().peekable(),
                );
                let mut out = Vec::with_capacity(self.lines[0].len() + self.lines[1].len());
                loop {
                    let next = match (a.peek(), b.peek()) {
                        (Some(x), Some(y)) if x.seq < y.seq => a.next(),
                        (Some(_), Some(_)) => b.next(),
                        (Some(_), None) => a.next(),
                        (None, Some(_)) => b.next(),
                        (None, None) => break,
                    };
                    out.extend(next);
                }
                out
            }
        }
    }

    fn add(&mut self, src: usize, text: String) {
        let Some(s) = self.sources.get(src) else {
            return;
        };
        let i = slot(s.stream);
        self.seq += 1;
        let e = Entry {
            seq: self.seq,
            src,
            text,
        };
        let q = if self.follow {
            &mut self.lines[i]
        } else {
            self.held_count += 1;
            &mut self.held[i]
        };
        if q.len() >= self.cap {
            q.pop_front();
        }
        q.push_back(e);
    }

    fn note(&mut self, src: usize, n: Note) -> Option<Outcome> {
        let name = |s: &Source| format!("{} {}", s.watcher, s.stream.name());
        let s = self.sources.get(src)?;
        let (keep, said) = match n {
            Note::Reading => (None, None),
            Note::Rotated => (None, None),
            Note::Truncated => (
                None,
                Some(format!(
                    "{}: the file was truncated, reading it from its start",
                    name(s)
                )),
            ),
            Note::Missing(m) | Note::Unreadable(m) => (Some(format!("{}: {m}", name(s))), None),
        };
        self.notes[src] = keep;
        said.map(|m| say(Severity::Info, m))
    }

    fn set_follow(&mut self, on: bool) {
        self.follow = on;
        if on {
            for i in 0..2 {
                let held = std::mem::take(&mut self.held[i]);
                for e in held {
                    if self.lines[i].len() >= self.cap {
                        self.lines[i].pop_front();
                    }
                    self.lines[i].push_back(e);
                }
            }
            self.held_count = 0;
            self.current = None;
            self.scroll.apply(Nav::Bottom);
        }
    }

    /// The shown line a search match or the view's last row points at.
    fn line_at_hand(&self) -> Option<usize> {
        let n = self.view().len();
        if n == 0 {
            return None;
        }
        self.current.filter(|c| *c < n).or_else(|| {
            let h = self.scroll.height().max(1);
            Some((self.scroll.offset() + h).min(n) - 1)
        })
    }

    /// Moves to the next (`down`) or previous match of the search from the line at hand.
    fn find(&mut self, down: bool) -> Vec<Outcome> {
        let needle = self.search.text().to_ascii_lowercase();
        if needle.is_empty() {
            return vec![say(Severity::Info, "no search: / to search")];
        }
        let view = self.view();
        let n = view.len();
        let top = self.scroll.offset().min(n);
        let bottom = (top + self.scroll.height().max(1)).min(n);
        let hit = |i: &usize| view[*i].text.to_ascii_lowercase().contains(&needle);
        let found = if down {
            (self.current.map_or(top, |c| c + 1)..n).find(hit)
        } else {
            (0..self.current.unwrap_or(bottom).min(n)).rev().find(hit)
        };
        drop(view);
        match found {
            Some(i) => {
                self.follow = false;
                self.current = Some(i);
                let h = self.scroll.height().max(1);
                self.scroll.scroll_to(i.saturating_sub(h / 2));
                Vec::new()
            }
            None => vec![say(
                Severity::Info,
                format!(
                    "no {} match of \"{}\"",
                    if down { "later" } else { "earlier" },
                    crate::text::safe(self.search.text())
                ),
            )],
        }
    }

    fn copy(&self) -> Vec<Outcome> {
        let view = self.view();
        let Some(i) = self.line_at_hand() else {
            return vec![say(Severity::Info, "no line to copy")];
        };
        let what = format!("line {} of {}", i + 1, view.len());
        super::copy(&what, view[i].text.clone())
    }
}

impl Panel for LogView {
    fn log_id(&self) -> Option<u64> {
        Some(self.id)
    }

    fn on_log(&mut self, news: LogNews) -> Vec<Outcome> {
        let mut out = Vec::new();
        let batch = match news {
            LogNews::Failed(m) => {
                self.failed = Some(m);
                return out;
            }
            LogNews::Opened {
                sources,
                first,
                handle,
            } => {
                self.notes = sources.iter().map(|s| s.file.clone().err()).collect();
                self.sources = sources;
                self._handle = handle;
                self.opened = true;
                // The last lines are shown, follow or not.
                let follow = self.follow;
                self.follow = true;
                for (i, l) in first.lines {
                    self.add(i, l);
                }
                self.follow = follow;
                for (i, n) in first.notes {
                    out.extend(self.note(i, n));
                }
                return out;
            }
            LogNews::Lines(b) => b,
        };
        for (i, n) in batch.notes {
            out.extend(self.note(i, n));
        }
        for (i, l) in batch.lines {
            self.add(i, l);
        }
        out
    }

    fn input_ref(&self) -> Option<&TextInput> {
        self.search.active()
    }

    fn input(&mut self) -> Option<&mut TextInput> {
        self.search.input()
    }

    fn on_input(&mut self, out: InputOutcome, _d: &Data) -> Vec<Outcome> {
        self.search.on_input(&out);
        self.current = None;
        match out {
            InputOutcome::Submit(_) => self.find(false),
            _ => Vec::new(),
        }
    }

    fn notice(&self, _d: &Data) -> Option<String> {
        self.search.typing.then(|| "typing searches".into())
    }

    fn on_cmd(&mut self, cmd: Cmd, _d: &Data) -> Vec<Outcome> {
        match cmd {
            Cmd::Up | Cmd::PageUp | Cmd::Top => {
                self.follow = false;
                self.current = None;
                self.scroll
                    .apply(crate::tui::keys::nav(cmd).expect("a move"));
            }
            Cmd::Down | Cmd::PageDown => {
                self.current = None;
                self.scroll
                    .apply(crate::tui::keys::nav(cmd).expect("a move"));
            }
            Cmd::Bottom => self.set_follow(true),
            Cmd::Follow => self.set_follow(!self.follow),
            Cmd::Stream => {
                self.shown = match self.shown {
                    Shown::Stdout => Shown::Stderr,
                    Shown::Stderr | Shown::Merged => Shown::Stdout,
                };
                self.current = None;
                self.scroll.reset();
            }
            Cmd::Merge => {
                self.shown = if self.shown == Shown::Merged {
                    Shown::Stdout
                } else {
                    Shown::Merged
                };
                self.current = None;
                self.scroll.reset();
            }
            Cmd::Wrap => self.wrap = !self.wrap,
            Cmd::Filter => self.search.start(),
            Cmd::NextMatch => return self.find(true),
            Cmd::PrevMatch => return self.find(false),
            Cmd::Copy => return self.copy(),
            Cmd::Close if !self.search.text().is_empty() => {
                self.search.clear();
                self.current = None;
            }
            Cmd::Close => return vec![Outcome::Pop],
            _ => {}
        }
        Vec::new()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, _d: &Data, v: &View, _top: bool) {
        draw::draw(self, frame, area, v);
    }
}

#[cfg(test)]
mod tests;
