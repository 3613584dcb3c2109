//! The one list cursor: the same keys and the same page in every list, and a selection
//! that follows its item (by key: a name, an instance id) when rows come, go or re-sort.
//!
//! Use: `on_key` (or `apply`) on a navigation key, then `sync` with the rows' keys; call
//! `sync` again whenever the rows change. `window` gives the rows to draw.

use std::borrow::Borrow;
use std::cell::Cell;
use std::ops::Range;

use crossterm::event::KeyEvent;

use super::{Nav, PAGE};

/// The selected row of a list: its index and its item's key.
#[derive(Clone, Debug, PartialEq)]
pub struct ListCursor<K> {
    index: usize,
    /// The selected item; `None` when the list is empty or after a move, until `sync`
    /// adopts the key of the row at `index`.
    key: Option<K>,
    len: usize,
    /// The first row shown; kept stable while the cursor stays in view.
    offset: Cell<usize>,
}

impl<K> Default for ListCursor<K> {
    fn default() -> Self {
        ListCursor {
            index: 0,
            key: None,
            len: 0,
            offset: Cell::new(0),
        }
    }
}

impl<K: Clone + PartialEq> ListCursor<K> {
    /// A cursor on the first row.
    pub fn new() -> Self {
        Self::default()
    }

    /// The selected row's index (0 on an empty list).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The selected row's index, `None` on an empty list.
    pub fn selected(&self) -> Option<usize> {
        (self.len > 0).then_some(self.index)
    }

    /// The selected item's key (known after `sync`).
    pub fn key(&self) -> Option<&K> {
        self.key.as_ref()
    }

    /// How many rows the list had at the last `sync` / `on_key`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list was empty at the last `sync` / `on_key`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Handles a navigation key (`j`/`k`, arrows, PgUp/PgDn, `g`/`G`, Home/End) on a list
    /// of `len` rows; true when the key was one. Call `sync` afterwards to learn the key.
    pub fn on_key(&mut self, ev: &KeyEvent, len: usize) -> bool {
        match Nav::from_key(ev) {
            Some(nav) => {
                self.apply(nav, len);
                true
            }
            None => false,
        }
    }

    /// Moves by `nav` on a list of `len` rows (clamped; an empty list stays at 0).
    pub fn apply(&mut self, nav: Nav, len: usize) {
        let last = len.saturating_sub(1);
        let i = self.index.min(last);
        let to = match nav {
            Nav::Up => i.saturating_sub(1),
            Nav::Down => (i + 1).min(last),
            Nav::PageUp => i.saturating_sub(PAGE),
            Nav::PageDown => i.saturating_add(PAGE).min(last),
            Nav::Top => 0,
            Nav::Bottom => last,
        };
        self.len = len;
        if to != self.index || self.key.is_none() {
            self.index = to;
            self.key = None;
        }
    }

    /// Selects row `index` of a list of `len` rows (clamped); `sync` adopts its key.
    pub fn select_index(&mut self, index: usize, len: usize) {
        self.len = len;
        self.index = index.min(len.saturating_sub(1));
        self.key = None;
    }

    /// Selects the item with `key` (found by the next `sync`; by position if it is gone).
    pub fn select_key(&mut self, key: K) {
        self.key = Some(key);
    }

    /// Back to the first row (e.g. when a filter changes what the list is).
    pub fn reset(&mut self) {
        self.index = 0;
        self.key = None;
        self.offset.set(0);
    }

    /// The rows changed: `keys` are the rows' keys in display order. The cursor follows
    /// its item where it went; when the item is gone it stays at its position (clamped)
    /// and takes that row's item. One pass, one clone.
    pub fn sync<I>(&mut self, keys: I)
    where
        I: IntoIterator,
        I::Item: Borrow<K>,
    {
        let mut found = None;
        let mut at_index: Option<K> = None;
        let mut last: Option<I::Item> = None;
        let mut len = 0;
        for (i, k) in keys.into_iter().enumerate() {
            len = i + 1;
            if found.is_none() && self.key.as_ref().is_some_and(|mine| mine == k.borrow()) {
                found = Some(i);
            }
            if i == self.index && found.is_none() {
                at_index = Some(k.borrow().clone());
            }
            last = Some(k);
        }
        self.len = len;
        if let Some(i) = found {
            self.index = i;
            return;
        }
        if len == 0 {
            self.index = 0;
            self.key = None;
        } else if self.index < len {
            self.key = at_index;
        } else {
            self.index = len - 1;
            self.key = last.map(|k| k.borrow().clone());
        }
    }

    /// The rows to draw in `height` rows: the cursor stays in view, and the first row
    /// shown moves only when the cursor would leave the view (or the list got shorter).
    pub fn window(&self, height: usize) -> Range<usize> {
        let height = height.max(1);
        let len = self.len;
        let mut off = self.offset.get();
        if self.index < off {
            off = self.index;
        } else if self.index >= off + height {
            off = self.index + 1 - height;
        }
        off = off.min(len.saturating_sub(height));
        self.offset.set(off);
        off..(off + height).min(len)
    }

    /// The selected row's position inside `window(height)`, for a table or list state.
    pub fn in_window(&self, height: usize) -> Option<usize> {
        let w = self.window(height);
        self.selected().map(|i| i - w.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::widgets::test_util::key;
    use crossterm::event::KeyCode;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("w{i}")).collect()
    }

    fn cursor_on(list: &[String], i: usize) -> ListCursor<String> {
        let mut c = ListCursor::new();
        c.select_index(i, list.len());
        c.sync(list);
        c
    }

    #[test]
    fn keys_move_and_page_with_one_page_size() {
        let list = names(35);
        let mut c = cursor_on(&list, 0);
        let mut press = |code| {
            assert!(c.on_key(&key(code), list.len()));
            c.sync(&list);
            c.index()
        };
        assert_eq!(press(KeyCode::Char('j')), 1);
        assert_eq!(press(KeyCode::Down), 2);
        assert_eq!(press(KeyCode::Char('k')), 1);
        assert_eq!(press(KeyCode::PageDown), 1 + PAGE);
        assert_eq!(press(KeyCode::PageDown), 1 + 2 * PAGE);
        assert_eq!(press(KeyCode::PageDown), 1 + 3 * PAGE);
        assert_eq!(press(KeyCode::PageDown), 34, "clamped at the last row");
        assert_eq!(press(KeyCode::Char('j')), 34);
        assert_eq!(press(KeyCode::PageUp), 34 - PAGE);
        assert_eq!(press(KeyCode::Char('g')), 0);
        assert_eq!(press(KeyCode::Up), 0, "clamped at the first row");
        assert_eq!(press(KeyCode::PageUp), 0);
        assert_eq!(press(KeyCode::End), 34);
        assert_eq!(press(KeyCode::Home), 0);
        assert_eq!(press(KeyCode::Char('G')), 34);
        assert_eq!(c.key().map(String::as_str), Some("w34"));
        assert!(!c.on_key(&key(KeyCode::Char('x')), list.len()));
    }

    #[test]
    fn empty_list() {
        let mut c: ListCursor<String> = ListCursor::new();
        for code in [KeyCode::Down, KeyCode::End, KeyCode::PageDown, KeyCode::Up] {
            assert!(c.on_key(&key(code), 0));
            c.sync(Vec::<String>::new());
            assert_eq!((c.index(), c.selected(), c.key()), (0, None, None));
        }
        assert_eq!(c.window(5), 0..0);
        // Rows arrive: the first is selected.
        c.sync(names(3));
        assert_eq!(
            (c.selected(), c.key().map(String::as_str)),
            (Some(0), Some("w0"))
        );
        // They all go, then come back.
        c.sync(Vec::<String>::new());
        assert_eq!((c.selected(), c.key()), (None, None));
    }

    #[test]
    fn follows_its_item_when_rows_are_inserted_before_or_after() {
        let list = names(5);
        let mut c = cursor_on(&list, 2);
        assert_eq!(c.key().map(String::as_str), Some("w2"));
        let mut more = list.clone();
        more.insert(0, "new0".into());
        more.insert(1, "new1".into());
        more.push("new-end".into());
        c.sync(&more);
        assert_eq!((c.index(), c.key().map(String::as_str)), (4, Some("w2")));
    }

    #[test]
    fn follows_its_item_when_rows_are_re_sorted_or_others_removed() {
        let list = names(6);
        let mut c = cursor_on(&list, 4);
        let mut resorted = list.clone();
        resorted.reverse();
        c.sync(&resorted);
        assert_eq!((c.index(), c.key().map(String::as_str)), (1, Some("w4")));
        let fewer: Vec<String> = resorted.into_iter().filter(|k| k != "w5").collect();
        c.sync(&fewer);
        assert_eq!((c.index(), c.key().map(String::as_str)), (0, Some("w4")));
    }

    #[test]
    fn moves_by_position_only_when_its_item_is_gone() {
        let list = names(5);
        let mut c = cursor_on(&list, 2);
        let gone: Vec<String> = list.iter().filter(|k| *k != "w2").cloned().collect();
        c.sync(&gone);
        assert_eq!((c.index(), c.key().map(String::as_str)), (2, Some("w3")));
        // The last item goes: clamped to the new last.
        let mut c = cursor_on(&list, 4);
        c.sync(&list[..3]);
        assert_eq!((c.index(), c.key().map(String::as_str)), (2, Some("w2")));
        // And it stays on that item when the old one comes back.
        c.sync(&list);
        assert_eq!((c.index(), c.key().map(String::as_str)), (2, Some("w2")));
    }

    #[test]
    fn a_re_registering_instance_does_not_move_the_cursor_to_another() {
        // Keys are instance ids; one leaves and comes back at the end.
        let ids: Vec<u64> = vec![10, 11, 12, 13];
        let mut c: ListCursor<u64> = ListCursor::new();
        c.select_index(2, ids.len());
        c.sync(&ids);
        let left: Vec<u64> = vec![10, 12, 13];
        c.sync(&left);
        let back: Vec<u64> = vec![10, 12, 13, 11];
        c.sync(&back);
        assert_eq!((c.index(), c.key()), (1, Some(&12)));
    }

    #[test]
    fn select_key_finds_the_item() {
        let list = names(5);
        let mut c: ListCursor<String> = ListCursor::new();
        c.select_key("w3".into());
        c.sync(&list);
        assert_eq!(c.index(), 3);
        c.select_key("gone".into());
        c.sync(&list);
        assert_eq!((c.index(), c.key().map(String::as_str)), (3, Some("w3")));
    }

    #[test]
    fn window_keeps_the_cursor_visible_with_a_stable_offset() {
        let list = names(30);
        let mut c = cursor_on(&list, 0);
        assert_eq!(c.window(10), 0..10);
        c.select_index(9, 30);
        assert_eq!(c.window(10), 0..10, "still in view: no scroll");
        c.select_index(10, 30);
        assert_eq!(c.window(10), 1..11, "one past: scrolls by one");
        c.select_index(5, 30);
        assert_eq!(c.window(10), 1..11, "back up inside the view: stays");
        c.select_index(0, 30);
        assert_eq!(c.window(10), 0..10);
        c.select_index(29, 30);
        assert_eq!(c.window(10), 20..30);
        assert_eq!(c.in_window(10), Some(9));
        // The list shrinks: no empty rows under the last one.
        c.sync(&list[..25]);
        assert_eq!(c.window(10), 15..25);
        // Taller than the list.
        assert_eq!(c.window(40), 0..25);
    }
}
