//! The one text input: the command bar, the list filters and the scale prompt.
//!
//! A pre-filled value is selected: the first character typed replaces it (typing `3` on a
//! pre-filled `1` gives `3`). Esc cancels, Enter submits, Tab asks the caller for
//! completion. Control and bidi characters are never taken in (see [`crate::text`]).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::footer::Hint;
use super::{ellipsize, ellipsize_start, str_width};
use crate::text::is_unsafe;
use crate::tui::theme::Theme;

/// What a key did to the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputOutcome {
    /// The value or the cursor changed.
    Edited,
    /// A character the input refuses (not accepted, a control character, or the input is
    /// full): swallowed, it is not a command either.
    Rejected,
    /// Enter, with the value.
    Submit(String),
    /// Esc.
    Cancel,
    /// Tab on an input that completes: the caller calls [`TextInput::complete`].
    Complete,
    /// Not an input key (arrows up/down, PgUp/PgDn, F-keys...): the caller may use it.
    Ignored,
}

/// Which characters an input takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Accept {
    /// Any printable character.
    #[default]
    Any,
    /// `0`-`9` only (counts).
    Digits,
}

/// What [`TextInput::complete`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// No candidate starts with the word.
    NoMatch,
    /// One did: the word is now it, followed by a space.
    Unique,
    /// Several did: the word is extended to their longest common prefix; these are they.
    Partial(Vec<String>),
}

/// A one-line text input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextInput {
    value: String,
    /// In characters, 0..=value's character count.
    cursor: usize,
    /// A pre-filled value, replaced by the first character typed.
    selected: bool,
    max_chars: usize,
    accept: Accept,
    completes: bool,
    /// Why the value cannot be used (shown under the input in the error style).
    error: Option<String>,
    /// A muted line under the input (Tab's choices).
    note: Option<String>,
    submit_hint: &'static str,
    cancel_hint: &'static str,
}

impl Default for TextInput {
    fn default() -> Self {
        TextInput {
            value: String::new(),
            cursor: 0,
            selected: false,
            max_chars: 200,
            accept: Accept::Any,
            completes: false,
            error: None,
            note: None,
            submit_hint: "submit",
            cancel_hint: "cancel",
        }
    }
}

impl TextInput {
    /// An empty input taking up to 200 printable characters.
    pub fn new() -> TextInput {
        TextInput::default()
    }

    /// Pre-filled with `value`, selected: the first character typed replaces it.
    pub fn prefilled(mut self, value: &str) -> TextInput {
        self.set_value(value);
        self.selected = !self.value.is_empty();
        self
    }

    /// Takes at most `n` characters.
    pub fn max_chars(mut self, n: usize) -> TextInput {
        self.max_chars = n;
        self
    }

    /// Takes only these characters.
    pub fn accept(mut self, accept: Accept) -> TextInput {
        self.accept = accept;
        self
    }

    /// Tab completes (the footer offers it).
    pub fn completing(mut self) -> TextInput {
        self.completes = true;
        self
    }

    /// The footer's words for Enter and Esc (default "submit", "cancel").
    pub fn hint_words(mut self, submit: &'static str, cancel: &'static str) -> TextInput {
        self.submit_hint = submit;
        self.cancel_hint = cancel;
        self
    }

    /// The value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The cursor, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Whether the value is the selected pre-fill.
    pub fn is_selected(&self) -> bool {
        self.selected
    }

    /// Replaces the value (control characters dropped, cut at the maximum); the cursor
    /// goes to the end, nothing is selected.
    pub fn set_value(&mut self, value: &str) {
        self.value = value
            .chars()
            .filter(|c| !is_unsafe(*c))
            .take(self.max_chars)
            .collect();
        self.cursor = self.value.chars().count();
        self.selected = false;
    }

    /// Empties the input.
    pub fn clear(&mut self) {
        self.set_value("");
    }

    /// The error shown under the input (e.g. why a scale target is impossible).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Sets or clears the error; an edit clears it too.
    pub fn set_error(&mut self, error: Option<String>) {
        self.error = error;
    }

    /// The muted note under the input (Tab's choices).
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// Sets or clears the note; an edit clears it too.
    pub fn set_note(&mut self, note: Option<String>) {
        self.note = note;
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.value
            .char_indices()
            .nth(chars)
            .map_or(self.value.len(), |(b, _)| b)
    }

    fn edited(&mut self) -> InputOutcome {
        self.selected = false;
        self.error = None;
        self.note = None;
        InputOutcome::Edited
    }

    /// Types `s` at the cursor (a paste): refused characters are dropped; a selected
    /// pre-fill is replaced. Returns whether anything was taken.
    pub fn insert_str(&mut self, s: &str) -> bool {
        let mut took = false;
        for c in s.chars() {
            took |= self.insert(c);
        }
        took
    }

    fn takes(&self, c: char) -> bool {
        !is_unsafe(c)
            && match self.accept {
                Accept::Any => true,
                Accept::Digits => c.is_ascii_digit(),
            }
    }

    fn insert(&mut self, c: char) -> bool {
        if !self.takes(c) {
            return false;
        }
        if self.selected {
            self.value.clear();
            self.cursor = 0;
        }
        if self.value.chars().count() >= self.max_chars {
            return false;
        }
        let at = self.byte_at(self.cursor);
        self.value.insert(at, c);
        self.cursor += 1;
        self.edited();
        true
    }

    /// Removes the characters `from..to` (in characters).
    fn remove(&mut self, from: usize, to: usize) {
        let (a, b) = (self.byte_at(from), self.byte_at(to));
        self.value.replace_range(a..b, "");
        self.cursor = from;
    }

    /// Handles a key: typing, Backspace/Delete, Left/Right/Home/End, Ctrl-U (delete to the
    /// start), Ctrl-W (delete the word before the cursor), Ctrl-A/Ctrl-E, Enter, Esc, Tab.
    pub fn on_key(&mut self, ev: &KeyEvent) -> InputOutcome {
        use InputOutcome::{Cancel, Complete, Edited, Ignored, Rejected, Submit};
        use KeyCode::{BackTab, Backspace, Char, Delete, End, Enter, Esc, Home, Left, Right, Tab};
        if ev.modifiers.contains(KeyModifiers::ALT) {
            return Ignored;
        }
        let n = self.value.chars().count();
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        // Every deleting key deletes a selected pre-fill whole.
        let deletes = matches!(
            (ctrl, ev.code),
            (false, Backspace | Delete) | (true, Char('u' | 'w'))
        );
        if deletes && self.selected {
            self.clear();
            return self.edited();
        }
        match (ctrl, ev.code) {
            (true, Char('u')) => self.remove(0, self.cursor),
            (true, Char('w')) => {
                let before: Vec<char> = self.value.chars().take(self.cursor).collect();
                let mut i = before.len();
                while i > 0 && before[i - 1] == ' ' {
                    i -= 1;
                }
                while i > 0 && before[i - 1] != ' ' {
                    i -= 1;
                }
                self.remove(i, self.cursor)
            }
            (true, Char('a')) | (false, Home) => self.cursor = 0,
            (true, Char('e')) | (false, End) => self.cursor = n,
            (true, Char(_)) => return Rejected,
            (true, _) => return Ignored,
            (false, Char(c)) => return if self.insert(c) { Edited } else { Rejected },
            (false, Backspace) if self.cursor > 0 => self.remove(self.cursor - 1, self.cursor),
            (false, Delete) if self.cursor < n => self.remove(self.cursor, self.cursor + 1),
            (false, Backspace | Delete) => {}
            (false, Left) => self.cursor = self.cursor.saturating_sub(1),
            (false, Right) => self.cursor = (self.cursor + 1).min(n),
            (false, Enter) => return Submit(self.value.clone()),
            (false, Esc) => return Cancel,
            (false, Tab) if self.completes => return Complete,
            (false, Tab | BackTab) => return Rejected,
            _ => return Ignored,
        }
        self.edited()
    }

    /// The text before the word at the cursor (through its last space) and that word.
    pub fn word(&self) -> (&str, &str) {
        let before = &self.value[..self.byte_at(self.cursor)];
        match before.rfind(' ') {
            Some(i) => (&before[..=i], &before[i + 1..]),
            None => ("", before),
        }
    }

    /// Completes the word at the cursor from `pool` (candidates for that word; those that
    /// start with it, ignoring ASCII case, count): one match is taken whole with a space
    /// after; several extend the word to their longest common prefix and are listed in
    /// the note; none says "no completion" there.
    pub fn complete<S: AsRef<str>>(&mut self, pool: &[S]) -> Completion {
        let (head, word) = self.word();
        let lw = word.to_lowercase();
        let matches: Vec<String> = pool
            .iter()
            .map(|s| s.as_ref())
            .filter(|c| c.to_lowercase().starts_with(&lw))
            .map(str::to_string)
            .collect();
        let (new_word, outcome) = match matches.as_slice() {
            [] => {
                self.note = Some("no completion".into());
                return Completion::NoMatch;
            }
            [one] => (format!("{one} "), Completion::Unique),
            // All start with the word: their common prefix is at least as long.
            many => (
                longest_common_prefix(many),
                Completion::Partial(matches.clone()),
            ),
        };
        let cursor = head.chars().count() + new_word.chars().count();
        let value = format!(
            "{head}{new_word}{}",
            &self.value[self.byte_at(self.cursor)..]
        );
        self.set_value(&value);
        self.cursor = cursor.min(self.value.chars().count());
        self.error = None;
        self.note = match &outcome {
            Completion::Partial(m) => Some(m.join("  ")),
            _ => None,
        };
        outcome
    }

    /// The footer while typing: Enter, Esc, and Tab when it completes; nothing else.
    pub fn hints(&self) -> Vec<Hint> {
        let mut h = vec![
            Hint::pinned("Enter", self.submit_hint),
            Hint::pinned("Esc", self.cancel_hint),
        ];
        if self.completes {
            h.push(Hint::new("Tab", "complete", 1));
        }
        h
    }

    /// The value with a `▏` cursor, in at most `width` cells (the part around the cursor
    /// when it is longer; `…` marks what is cut). A selected pre-fill is drawn in the
    /// theme's selection style, so typing visibly replaces it.
    pub fn line(&self, t: &Theme, style: Style, width: usize) -> Line<'static> {
        let at = self.byte_at(self.cursor);
        let (before, after) = self.value.split_at(at);
        let st = if self.selected { t.selected() } else { style };
        let room = width.saturating_sub(1);
        // The end of `before` that fits, then as much of `after` as is left.
        let before = ellipsize_start(before, room);
        let after = ellipsize(after, room.saturating_sub(str_width(&before)));
        let mut spans = vec![Span::styled(before, st), Span::styled("▏", st)];
        if !after.is_empty() {
            spans.push(Span::styled(after, st));
        }
        Line::from(spans)
    }

    /// Draws `prompt` and the input on the first row of `area`; the error (or the note)
    /// on the second row when there is one.
    pub fn render(&self, buf: &mut Buffer, area: Rect, t: &Theme, prompt: Span<'static>) {
        let w = (area.width as usize).saturating_sub(prompt.width());
        let mut first = vec![prompt];
        first.extend(self.line(t, t.fg(t.text), w).spans);
        let mut lines = vec![Line::from(first)];
        if let Some(e) = &self.error {
            lines.push(Line::styled(e.clone(), t.error()));
        } else if let Some(n) = &self.note {
            lines.push(Line::styled(n.clone(), t.muted()));
        }
        Paragraph::new(lines).render(area, buf);
    }

    /// Rows `render` needs: 2 with an error or a note, else 1.
    pub fn rows(&self) -> u16 {
        1 + u16::from(self.error.is_some() || self.note.is_some())
    }
}

/// The longest common prefix of `cands`, ignoring ASCII case, spelled as the first one.
pub fn longest_common_prefix<S: AsRef<str>>(cands: &[S]) -> String {
    let Some(first) = cands.first() else {
        return String::new();
    };
    let first: Vec<char> = first.as_ref().chars().collect();
    let n = cands[1..].iter().fold(first.len(), |n, m| {
        first
            .iter()
            .zip(m.as_ref().chars())
            .take(n)
            .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
            .count()
    });
    first[..n].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::ColorMode;
    use crate::tui::widgets::test_util::{ctrl, key, rows};

    fn typed(input: &mut TextInput, s: &str) {
        for c in s.chars() {
            input.on_key(&key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn a_prefilled_value_is_replaced_by_the_first_character() {
        let mut i = TextInput::new()
            .prefilled("1")
            .accept(Accept::Digits)
            .max_chars(6);
        assert!(i.is_selected());
        assert_eq!(i.on_key(&key(KeyCode::Char('3'))), InputOutcome::Edited);
        assert_eq!(i.value(), "3");
        typed(&mut i, "0");
        assert_eq!(i.value(), "30", "only the first character replaces");
        assert_eq!(
            i.on_key(&key(KeyCode::Enter)),
            InputOutcome::Submit("30".into())
        );
        // Backspace on a selection clears it; Enter on it keeps it.
        let mut i = TextInput::new().prefilled("12");
        i.on_key(&key(KeyCode::Backspace));
        assert_eq!(i.value(), "");
        let mut i = TextInput::new().prefilled("12");
        assert_eq!(
            i.on_key(&key(KeyCode::Enter)),
            InputOutcome::Submit("12".into())
        );
        // Moving the cursor keeps the value and ends the selection.
        let mut i = TextInput::new().prefilled("12");
        i.on_key(&key(KeyCode::Left));
        typed(&mut i, "5");
        assert_eq!(i.value(), "152");
    }

    #[test]
    fn esc_cancels_and_leaves_the_value() {
        let mut i = TextInput::new();
        typed(&mut i, "abc");
        assert_eq!(i.on_key(&key(KeyCode::Esc)), InputOutcome::Cancel);
        assert_eq!(i.value(), "abc");
    }

    #[test]
    fn editing_keys_are_char_safe() {
        let mut i = TextInput::new();
        typed(&mut i, "añ😀b");
        assert_eq!((i.value(), i.cursor()), ("añ😀b", 4));
        i.on_key(&key(KeyCode::Left));
        i.on_key(&key(KeyCode::Backspace));
        assert_eq!((i.value(), i.cursor()), ("añb", 2));
        i.on_key(&key(KeyCode::Home));
        i.on_key(&key(KeyCode::Delete));
        assert_eq!((i.value(), i.cursor()), ("ñb", 0));
        typed(&mut i, "é");
        assert_eq!(i.value(), "éñb");
        i.on_key(&key(KeyCode::End));
        i.on_key(&key(KeyCode::Right));
        assert_eq!(i.cursor(), 3);
        i.on_key(&key(KeyCode::Delete));
        assert_eq!(i.value(), "éñb", "Delete at the end does nothing");
        i.on_key(&key(KeyCode::Home));
        i.on_key(&key(KeyCode::Backspace));
        assert_eq!(i.value(), "éñb", "Backspace at the start does nothing");
    }

    #[test]
    fn ctrl_u_and_ctrl_w() {
        let mut i = TextInput::new();
        typed(&mut i, "scale VllmWorker  ");
        i.on_key(&ctrl('w'));
        assert_eq!(i.value(), "scale ");
        typed(&mut i, "Prefill 3");
        i.on_key(&key(KeyCode::Left));
        i.on_key(&ctrl('w'));
        assert_eq!((i.value(), i.cursor()), ("scale 3", 6));
        i.on_key(&ctrl('u'));
        assert_eq!((i.value(), i.cursor()), ("3", 0));
        i.on_key(&ctrl('e'));
        assert_eq!(i.cursor(), 1);
        assert_eq!(i.on_key(&ctrl('x')), InputOutcome::Rejected);
    }

    #[test]
    fn control_characters_and_refused_ones_are_not_taken() {
        let mut i = TextInput::new().accept(Accept::Digits).max_chars(3);
        for c in ['\u{1b}', '\u{7}', '\u{202e}', 'q', 'x'] {
            assert_eq!(i.on_key(&key(KeyCode::Char(c))), InputOutcome::Rejected);
        }
        typed(&mut i, "12345");
        assert_eq!(i.value(), "123", "capped");
        let mut i = TextInput::new();
        assert!(i.insert_str("a\u{1b}[2Jb\nc"));
        assert_eq!(i.value(), "a[2Jbc");
        i.set_value("x\u{9b}y");
        assert_eq!(i.value(), "xy");
    }

    #[test]
    fn navigation_keys_go_to_the_caller() {
        let mut i = TextInput::new();
        for code in [KeyCode::Up, KeyCode::Down, KeyCode::PageDown, KeyCode::F(1)] {
            assert_eq!(i.on_key(&key(code)), InputOutcome::Ignored);
        }
        assert_eq!(i.on_key(&key(KeyCode::Tab)), InputOutcome::Rejected);
        let mut c = TextInput::new().completing();
        assert_eq!(c.on_key(&key(KeyCode::Tab)), InputOutcome::Complete);
    }

    #[test]
    fn completion_to_one_many_or_none() {
        let pool = ["ns", "scale", "q", "vllmworker", "vllmprefill"];
        let mut i = TextInput::new().completing();
        typed(&mut i, "sc");
        assert_eq!(i.complete(&pool), Completion::Unique);
        assert_eq!((i.value(), i.cursor()), ("scale ", 6));
        assert_eq!(i.word(), ("scale ", ""));
        let types = ["VllmWorker", "VllmPrefillWorker"];
        typed(&mut i, "v");
        assert_eq!(
            i.complete(&types),
            Completion::Partial(vec!["VllmWorker".into(), "VllmPrefillWorker".into()])
        );
        assert_eq!(i.value(), "scale Vllm");
        assert_eq!(i.note(), Some("VllmWorker  VllmPrefillWorker"));
        typed(&mut i, "w");
        assert_eq!(i.note(), None, "typing clears the choices");
        assert_eq!(i.complete(&types), Completion::Unique);
        assert_eq!(i.value(), "scale VllmWorker ");
        typed(&mut i, "zz");
        assert_eq!(i.complete(&types), Completion::NoMatch);
        assert_eq!(i.value(), "scale VllmWorker zz");
        assert_eq!(i.note(), Some("no completion"));
        assert_eq!(longest_common_prefix(&["abc", "ABd", "abx"]), "ab");
        assert_eq!(longest_common_prefix::<&str>(&[]), "");
    }

    #[test]
    fn hints_are_the_inputs_keys_only() {
        let labels = |i: &TextInput| -> Vec<&str> { i.hints().iter().map(|h| h.key).collect() };
        assert_eq!(labels(&TextInput::new()), ["Enter", "Esc"]);
        assert_eq!(
            labels(&TextInput::new().completing()),
            ["Enter", "Esc", "Tab"]
        );
    }

    #[test]
    fn drawn_with_a_cursor_and_an_error_line() {
        let t = Theme::new(ColorMode::None);
        let mut i = TextInput::new();
        typed(&mut i, "scale x");
        i.on_key(&key(KeyCode::Left));
        i.set_error(Some("x: no such type".into()));
        let area = Rect::new(0, 0, 30, 2);
        let mut buf = Buffer::empty(area);
        i.render(&mut buf, area, &t, Span::raw(":"));
        assert_eq!(rows(&buf), [":scale ▏x", "x: no such type"]);
        // Long values show the part around the cursor.
        let mut i = TextInput::new();
        typed(&mut i, &"abcdefghij".repeat(3));
        let l = i.line(&t, Style::new(), 10);
        assert_eq!(l.to_string(), "…cdefghij▏");
        assert!(l.width() <= 10);
        i.on_key(&key(KeyCode::Home));
        assert_eq!(i.line(&t, Style::new(), 10).to_string(), "▏abcdefgh…");
    }

    #[test]
    fn a_selected_prefill_is_drawn_selected() {
        let t = Theme::new(ColorMode::TrueColor);
        let i = TextInput::new().prefilled("1");
        let l = i.line(&t, t.fg(t.text), 10);
        assert_eq!(l.to_string(), "1▏");
        assert_eq!(l.spans[0].style, t.selected());
    }
}
