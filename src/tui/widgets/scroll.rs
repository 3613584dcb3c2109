//! The one scroll of text views (help, entry views, the JSON view, messages, logs): the
//! same keys everywhere, no scrolling past the last page, and a position to show.
//!
//! The view knows the content's length and its own height only when it draws, so those
//! are kept in `Cell`s: the draw code calls [`Scroll::fit`] through a shared reference,
//! and the next key is clamped against what was drawn.

use std::cell::Cell;

use crossterm::event::KeyEvent;

use super::Nav;

/// A vertical scroll position over `len` lines shown `height` at a time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scroll {
    offset: Cell<usize>,
    len: Cell<usize>,
    /// 0 until the view was drawn once.
    height: Cell<usize>,
    /// Stay on the last page when the content grows there (logs, messages).
    tail: bool,
    /// Whether the view is on the last page (what `tail` keeps).
    at_end: Cell<bool>,
}

impl Scroll {
    /// At the top.
    pub fn new() -> Scroll {
        Scroll::default()
    }

    /// At the end, and staying there as lines are added while it is there (a log, the
    /// message history); scrolling up leaves the end, `G` comes back.
    pub fn tail() -> Scroll {
        Scroll {
            tail: true,
            at_end: Cell::new(true),
            ..Scroll::default()
        }
    }

    /// The first line shown.
    pub fn offset(&self) -> usize {
        self.offset.get()
    }

    /// The first line shown, for `Paragraph::scroll`.
    pub fn offset_u16(&self) -> u16 {
        self.offset.get().min(u16::MAX as usize) as u16
    }

    /// The content's length as last given.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Whether there is no content.
    pub fn is_empty(&self) -> bool {
        self.len.get() == 0
    }

    /// The viewport's height as last drawn (0 before the first draw).
    pub fn height(&self) -> usize {
        self.height.get()
    }

    /// The largest offset: the last page starts there.
    pub fn max_offset(&self) -> usize {
        self.len.get().saturating_sub(self.height.get().max(1))
    }

    /// The draw step: the content has `len` lines and the view `height` rows. Re-clamps
    /// (a shorter content or a taller view never leaves empty rows under the last line)
    /// and returns the first line to show.
    pub fn fit(&self, len: usize, height: usize) -> usize {
        self.len.set(len);
        self.height.set(height);
        let max = self.max_offset();
        let off = if self.tail && self.at_end.get() {
            max
        } else {
            self.offset.get().min(max)
        };
        self.offset.set(off);
        self.at_end.set(off >= max);
        off
    }

    /// Handles a navigation key; true when it was one.
    pub fn on_key(&mut self, ev: &KeyEvent) -> bool {
        match Nav::from_key(ev) {
            Some(nav) => {
                self.apply(nav);
                true
            }
            None => false,
        }
    }

    /// Moves by `nav`: a line, a page (the view's height), or to an end; never past the
    /// last page as last drawn.
    pub fn apply(&mut self, nav: Nav) {
        let page = self.height.get().saturating_sub(1).max(1);
        let max = self.max_offset();
        let off = self.offset.get().min(max);
        let to = match nav {
            Nav::Up => off.saturating_sub(1),
            Nav::Down => (off + 1).min(max),
            Nav::PageUp => off.saturating_sub(page),
            Nav::PageDown => off.saturating_add(page).min(max),
            Nav::Top => 0,
            Nav::Bottom => max,
        };
        self.offset.set(to);
        self.at_end.set(to >= max);
    }

    /// Back to the top (the end for a `tail` scroll).
    pub fn reset(&self) {
        self.offset.set(0);
        self.at_end.set(self.tail);
    }

    /// Scrolls so that line `line` is the first shown (clamped), e.g. to open the help at
    /// a section.
    pub fn scroll_to(&mut self, line: usize) {
        let max = if self.height.get() == 0 {
            line
        } else {
            self.max_offset()
        };
        let to = line.min(max);
        self.offset.set(to);
        self.at_end.set(self.height.get() > 0 && to >= max);
    }

    /// Whether lines are hidden above the view.
    pub fn more_above(&self) -> bool {
        self.offset.get() > 0
    }

    /// Whether lines are hidden below the view.
    pub fn more_below(&self) -> bool {
        self.offset.get() + self.height.get().max(1) < self.len.get()
    }

    /// "12-40 of 120 ↑↓" for a title or a border, `None` when everything fits. The arrows
    /// say where more is: `↑` above, `↓` below.
    pub fn position(&self) -> Option<String> {
        let (len, h) = (self.len.get(), self.height.get());
        if h == 0 || len <= h {
            return None;
        }
        let first = self.offset.get() + 1;
        let last = (self.offset.get() + h).min(len);
        let arrows = match (self.more_above(), self.more_below()) {
            (true, true) => " ↑↓",
            (true, false) => " ↑",
            (false, true) => " ↓",
            (false, false) => "",
        };
        Some(format!("{first}-{last} of {len}{arrows}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::widgets::test_util::key;
    use crossterm::event::KeyCode;

    fn drawn(len: usize, h: usize) -> Scroll {
        let s = Scroll::new();
        s.fit(len, h);
        s
    }

    #[test]
    fn end_g_and_pgdn_stop_at_the_last_page() {
        let mut s = drawn(120, 30);
        assert!(s.on_key(&key(KeyCode::Char('G'))));
        assert_eq!(s.offset(), 90);
        s.on_key(&key(KeyCode::Char('j')));
        assert_eq!(s.offset(), 90, "no over-scroll");
        s.on_key(&key(KeyCode::Char('k')));
        assert_eq!(s.offset(), 89, "k moves at once after G");
        s.on_key(&key(KeyCode::End));
        assert_eq!(s.offset(), 90);
        s.on_key(&key(KeyCode::Home));
        assert_eq!(s.offset(), 0);
        for _ in 0..10 {
            s.on_key(&key(KeyCode::PageDown));
        }
        assert_eq!(s.offset(), 90);
        s.on_key(&key(KeyCode::PageUp));
        assert_eq!(
            s.offset(),
            61,
            "a page is the height less one line of overlap"
        );
        s.on_key(&key(KeyCode::Char('g')));
        assert_eq!(s.offset(), 0);
        s.on_key(&key(KeyCode::Up));
        assert_eq!(s.offset(), 0);
        assert!(!s.on_key(&key(KeyCode::Char('x'))));
    }

    #[test]
    fn short_content_does_not_scroll() {
        let mut s = drawn(5, 30);
        for code in [KeyCode::Down, KeyCode::End, KeyCode::PageDown] {
            s.on_key(&key(code));
            assert_eq!(s.offset(), 0);
        }
        assert_eq!(s.position(), None);
        assert!(!s.more_below());
        let mut empty = drawn(0, 10);
        empty.on_key(&key(KeyCode::End));
        assert_eq!((empty.offset(), empty.position()), (0, None));
    }

    #[test]
    fn resize_and_shorter_content_re_clamp() {
        let mut s = drawn(100, 20);
        s.on_key(&key(KeyCode::End));
        assert_eq!(s.offset(), 80);
        // Taller view: the last page starts earlier.
        assert_eq!(s.fit(100, 50), 50);
        // Shorter content.
        assert_eq!(s.fit(60, 50), 10);
        assert_eq!(s.fit(10, 50), 0);
        // Longer again: it stays where it was (no tail).
        assert_eq!(s.fit(100, 20), 0);
    }

    #[test]
    fn position_says_where_more_is() {
        let mut s = drawn(120, 29);
        assert_eq!(s.position().as_deref(), Some("1-29 of 120 ↓"));
        s.apply(Nav::PageDown);
        assert_eq!(s.position().as_deref(), Some("29-57 of 120 ↑↓"));
        s.apply(Nav::Bottom);
        assert_eq!(s.position().as_deref(), Some("92-120 of 120 ↑"));
        assert!(s.more_above() && !s.more_below());
    }

    #[test]
    fn before_the_first_draw_it_still_cannot_run_away() {
        let mut s = Scroll::new();
        for _ in 0..2000 {
            s.apply(Nav::Down);
        }
        assert_eq!(s.offset(), 0, "no content known yet");
        assert_eq!(s.fit(50, 10), 0);
    }

    #[test]
    fn tail_follows_new_lines_until_scrolled_up() {
        let mut s = Scroll::tail();
        assert_eq!(s.fit(30, 10), 20);
        assert_eq!(s.fit(35, 10), 25, "at the end: follows");
        s.apply(Nav::Up);
        assert_eq!(s.fit(40, 10), 24, "scrolled up: stays");
        s.apply(Nav::Bottom);
        assert_eq!(s.fit(45, 10), 35, "back at the end: follows again");
    }

    #[test]
    fn scroll_to_a_line() {
        let mut s = drawn(100, 20);
        s.scroll_to(30);
        assert_eq!(s.offset(), 30);
        s.scroll_to(95);
        assert_eq!(s.offset(), 80);
        // Before the first draw the target is kept, and clamped when drawn.
        let mut s = Scroll::new();
        s.scroll_to(95);
        assert_eq!(s.fit(100, 20), 80);
    }
}
