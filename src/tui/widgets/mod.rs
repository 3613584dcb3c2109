//! Reusable pieces of the TUI. They never see `App`: they take plain data and a
//! [`Theme`](super::theme::Theme), so every screen behaves alike.
//!
//! - [`cursor::ListCursor`]: the one list cursor (one page size, follows its item by key);
//! - [`input::TextInput`]: the one text input (command bar, filters, the scale prompt);
//! - [`scroll::Scroll`]: the one scroll of text views (stops at the last page);
//! - [`table`]: tables whose columns have priorities (dropped before cells are cut);
//! - [`footer`]: key hints that keep `?` and `q` at any width, and the status message;
//! - [`popup`]: the popup frame over a dimmed background;
//! - [`sort::Sort`]: a table's sort by a column (`<`/`>`, Shift+letter).

pub mod cursor;
pub mod filter;
pub mod footer;
pub mod input;
pub mod popup;
pub mod scroll;
pub mod sort;
pub mod table;

pub use cursor::ListCursor;
pub use filter::Filter;
pub use footer::{Footer, Hint};
pub use input::{InputOutcome, TextInput};
pub use scroll::Scroll;
pub use sort::{Sort, SortKey};
pub use table::{Column, TableState};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::text::Span;

/// Rows a PgUp / PgDn moves in every list.
pub const PAGE: usize = 10;

/// A move in a list or a scroll view, from the navigation keys every list shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
}

impl Nav {
    /// `k`/`↑`, `j`/`↓`, PgUp, PgDn, `g`/Home, `G`/End (without Ctrl or Alt).
    pub fn from_key(ev: &KeyEvent) -> Option<Nav> {
        if ev
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return None;
        }
        Some(match ev.code {
            KeyCode::Char('k') | KeyCode::Up => Nav::Up,
            KeyCode::Char('j') | KeyCode::Down => Nav::Down,
            KeyCode::PageUp => Nav::PageUp,
            KeyCode::PageDown => Nav::PageDown,
            KeyCode::Char('g') | KeyCode::Home => Nav::Top,
            KeyCode::Char('G') | KeyCode::End => Nav::Bottom,
            _ => return None,
        })
    }
}

/// The navigation keys as the help lists them: (keys, what they do).
pub const NAV_HELP: &[(&str, &str)] = &[
    ("k/↑", "up"),
    ("j/↓", "down"),
    ("PgUp", "a page up"),
    ("PgDn", "a page down"),
    ("g/Home", "to the top"),
    ("G/End", "to the bottom"),
];

/// Cells `c` takes on a terminal.
pub fn char_width(c: char) -> usize {
    let mut b = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut b)).width()
}

/// Cells `s` takes on a terminal.
pub fn str_width(s: &str) -> usize {
    Span::raw(s).width()
}

/// `s` cut to at most `w` cells: whole when it fits, else its start and `…`.
pub fn ellipsize(s: &str, w: usize) -> String {
    if str_width(s) <= w {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = char_width(c);
        if used + cw + 1 > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    if w > 0 {
        out.push('…');
    }
    out
}

/// `s` in at most `w` cells: whole when it fits, else `…` and its end.
pub fn ellipsize_start(s: &str, w: usize) -> String {
    if str_width(s) <= w {
        return s.to_string();
    }
    let mut kept: Vec<char> = Vec::new();
    let mut used = 1;
    for c in s.chars().rev() {
        if used + char_width(c) > w {
            break;
        }
        used += char_width(c);
        kept.push(c);
    }
    if w > 0 {
        kept.push('…');
    }
    kept.into_iter().rev().collect()
}

#[cfg(test)]
pub(crate) mod test_util {
    use ratatui::buffer::Buffer;

    /// The buffer's rows as text (wide characters once, trailing spaces trimmed).
    pub fn rows(buf: &Buffer) -> Vec<String> {
        let a = buf.area;
        (a.y..a.y + a.height)
            .map(|y| {
                let mut s = String::new();
                let mut skip = 0;
                for x in a.x..a.x + a.width {
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    let sym = buf[(x, y)].symbol();
                    skip = super::str_width(sym).saturating_sub(1);
                    s.push_str(sym);
                }
                s.trim_end().to_string()
            })
            .collect()
    }

    pub fn key(code: crossterm::event::KeyCode) -> crossterm::event::KeyEvent {
        crossterm::event::KeyEvent::new(code, crossterm::event::KeyModifiers::NONE)
    }

    pub fn ctrl(c: char) -> crossterm::event::KeyEvent {
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char(c),
            crossterm::event::KeyModifiers::CONTROL,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_util::{ctrl, key};

    #[test]
    fn nav_keys() {
        assert_eq!(Nav::from_key(&key(KeyCode::Char('j'))), Some(Nav::Down));
        assert_eq!(Nav::from_key(&key(KeyCode::Up)), Some(Nav::Up));
        assert_eq!(Nav::from_key(&key(KeyCode::End)), Some(Nav::Bottom));
        let shift_g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(Nav::from_key(&shift_g), Some(Nav::Bottom));
        assert_eq!(Nav::from_key(&ctrl('j')), None);
        assert_eq!(Nav::from_key(&key(KeyCode::Char('x'))), None);
    }

    #[test]
    fn ellipsize_cuts_at_the_end() {
        assert_eq!(ellipsize("VllmWorker", 10), "VllmWorker");
        assert_eq!(ellipsize("VllmWorker", 6), "VllmW…");
        assert_eq!(ellipsize("日本語", 4), "日…");
        assert_eq!(ellipsize("abc", 1), "…");
        assert_eq!(ellipsize("abc", 0), "");
        assert_eq!(ellipsize_start("VllmWorker", 6), "…orker");
        assert_eq!(ellipsize_start("日本語", 3), "…語");
        assert_eq!(ellipsize_start("abc", 3), "abc");
    }
}
