//! The footer: the key hints of who has the keys, then the spinner and the status message.
//!
//! Hints have priorities: when the row is short, the least important go first; pinned
//! ones (`?` help, `q` quit, or a text input's Enter and Esc) are never dropped. A notice
//! (why keys are missing: "read-only") comes before the hints and outlives them.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::{char_width, ellipsize, str_width};
use crate::text::safe;
use crate::tui::theme::Theme;

/// One key hint: `[key] text`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hint {
    /// How the key is written, e.g. `j/↓`.
    pub key: &'static str,
    /// The footer's short word.
    pub text: &'static str,
    /// Lower is more important and kept longer; [`Hint::PINNED`] is never dropped.
    pub priority: u8,
}

impl Hint {
    /// The priority of hints that are always shown.
    pub const PINNED: u8 = 0;

    /// A hint dropped by `priority` when space is short.
    pub const fn new(key: &'static str, text: &'static str, priority: u8) -> Hint {
        Hint {
            key,
            text,
            priority,
        }
    }

    /// A hint that is never dropped.
    pub const fn pinned(key: &'static str, text: &'static str) -> Hint {
        Hint::new(key, text, Hint::PINNED)
    }

    /// Cells it takes, without the gap after it.
    pub fn width(&self) -> usize {
        str_width(self.key) + 3 + str_width(self.text)
    }
}

/// How bad a status message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Ok,
    Warn,
    Error,
}

impl Severity {
    /// The symbol and style the footer and the event log show it with (the symbol reads
    /// under `NO_COLOR`).
    pub fn look(self, t: &Theme) -> (&'static str, Style) {
        match self {
            Severity::Info => ("•", t.fg(t.text)),
            Severity::Ok => ("✔", t.fg(t.green)),
            Severity::Warn => ("!", t.fg(t.orange)),
            Severity::Error => ("✖", t.error()),
        }
    }
}

impl Severity {
    /// The word a filter matches (`/error` shows the errors).
    pub fn word(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Ok => "ok",
            Severity::Warn => "warning",
            Severity::Error => "error",
        }
    }
}

/// The last status message: when (as shown), how bad, what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusMsg<'a> {
    pub at: &'a str,
    pub severity: Severity,
    pub text: &'a str,
}

/// Gap between two hints.
const GAP: usize = 2;

/// Which of `hints` fit in `width` cells after a notice of `notice` cells: the pinned ones
/// always, then the others in priority order (ties: the earlier first) while they fit.
/// Returns their indexes in display order.
pub fn fit_hints(hints: &[Hint], width: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..hints.len()).collect();
    order.sort_by_key(|&i| (hints[i].priority, i));
    let mut kept = Vec::new();
    let mut used = 0;
    for i in order {
        let w = hints[i].width() + if kept.is_empty() { 0 } else { GAP };
        if hints[i].priority != Hint::PINNED && used + w > width {
            break;
        }
        used += w;
        kept.push(i);
    }
    kept.sort_unstable();
    kept
}

/// What the footer shows.
#[derive(Clone, Debug, Default)]
pub struct Footer<'a> {
    /// Why keys are missing or what typing does ("read-only", "typing filters").
    pub notice: Option<&'a str>,
    /// The hints in display order.
    pub hints: &'a [Hint],
    /// The spinner's frame while work runs.
    pub spinner: Option<&'a str>,
    pub status: Option<StatusMsg<'a>>,
}

impl<'a> Footer<'a> {
    /// The hints row in `width` cells: the notice (cut when the pinned hints need the
    /// room), then the hints that fit.
    pub fn hints_line(&self, t: &Theme, width: usize) -> Line<'static> {
        let pinned: usize = self
            .hints
            .iter()
            .filter(|h| h.priority == Hint::PINNED)
            .map(|h| h.width() + GAP)
            .sum();
        let mut spans = Vec::new();
        let mut left = width;
        if let Some(n) = self.notice {
            let n = safe(n);
            let room = width.saturating_sub(pinned);
            let shown = if str_width(&n) + GAP <= room {
                n.into_owned()
            } else {
                ellipsize(&n, room.saturating_sub(GAP))
            };
            if str_width(&shown) > 1 {
                left = left.saturating_sub(str_width(&shown) + GAP);
                spans.push(Span::styled(format!("{shown}  "), t.fg(t.orange)));
            }
        }
        for i in fit_hints(self.hints, left) {
            let h = &self.hints[i];
            spans.push(Span::styled(format!("[{}]", h.key), t.title()));
            spans.push(Span::styled(format!(" {}  ", h.text), t.fg(t.text)));
        }
        Line::from(spans)
    }

    /// The spinner and the status message as rows of at most `width` cells: a long
    /// message wraps (after a space when it can) instead of being cut; beyond `max_rows`
    /// rows the last one ends with `…`.
    pub fn status_lines(&self, t: &Theme, width: usize, max_rows: usize) -> Vec<Line<'static>> {
        let mut pieces: Vec<(String, Style)> = Vec::new();
        if let Some(s) = self.spinner {
            pieces.push((format!("{s} "), t.fg(t.cyan)));
        }
        if let Some(st) = &self.status {
            let (icon, style) = st.severity.look(t);
            pieces.push((format!("{} ", safe(st.at)), t.muted()));
            pieces.push((format!("{icon} {}", safe(st.text)), style));
        }
        wrap_pieces(&pieces, width, max_rows)
    }

    /// The footer's rows: the hints, then the status rows (at least one, maybe empty).
    pub fn lines(&self, t: &Theme, width: usize, max_status_rows: usize) -> Vec<Line<'static>> {
        let mut lines = vec![self.hints_line(t, width)];
        lines.extend(self.status_lines(t, width, max_status_rows));
        lines
    }

    /// Rows the footer takes in `width` cells with at most `max_status_rows` of status.
    pub fn height(&self, t: &Theme, width: usize, max_status_rows: usize) -> u16 {
        1 + self.status_lines(t, width, max_status_rows).len().max(1) as u16
    }

    /// Draws the footer on the panel colour; the status gets the rows under the hints.
    pub fn render(&self, buf: &mut Buffer, area: Rect, t: &Theme) {
        let rows = (area.height as usize).saturating_sub(1).max(1);
        let lines = self.lines(t, area.width as usize, rows);
        Paragraph::new(lines)
            .style(Style::new().bg(t.panel).fg(t.text))
            .render(area, buf);
    }
}

/// Styled text wrapped into rows of `width` cells, at most `max_rows` (the last ends with
/// `…` when cut).
fn wrap_pieces(pieces: &[(String, Style)], width: usize, max_rows: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    // (char, style, cells) per row.
    let mut rows: Vec<Vec<(char, Style, usize)>> = vec![Vec::new()];
    let mut used = 0;
    for (text, style) in pieces {
        for c in text.chars() {
            let w = char_width(c);
            if used + w > width && used > 0 {
                // Break after the row's last space if it has one, else mid-word.
                let row = rows.last_mut().expect("a row");
                let carry = match row.iter().rposition(|(c, _, _)| *c == ' ') {
                    Some(i) if i > 0 => row.split_off(i + 1),
                    _ => Vec::new(),
                };
                used = carry.iter().map(|c| c.2).sum();
                rows.push(carry);
            }
            rows.last_mut().expect("a row").push((c, *style, w));
            used += w;
        }
    }
    if rows.len() > max_rows {
        rows.truncate(max_rows.max(1));
        let last = rows.last_mut().expect("a row");
        let style = last.last().map_or(Style::new(), |c| c.1);
        while !last.is_empty() && last.iter().map(|c| c.2).sum::<usize>() + 1 > width {
            last.pop();
        }
        last.push(('…', style, 1));
    }
    rows.into_iter()
        .map(|cells| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            let mut cur = String::new();
            let mut cur_style: Option<Style> = None;
            for (c, style, _) in cells {
                if let Some(s) = cur_style.filter(|s| *s != style) {
                    spans.push(Span::styled(std::mem::take(&mut cur), s));
                }
                cur_style = Some(style);
                cur.push(c);
            }
            if let Some(s) = cur_style {
                spans.push(Span::styled(cur, s));
            }
            Line::from(spans)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::ColorMode;
    use crate::tui::widgets::TextInput;
    use crate::tui::widgets::test_util::rows;

    /// Dashboard-like hints: many, then `?` and `q` pinned at the end.
    const MANY: &[Hint] = &[
        Hint::new("Tab", "focus", 3),
        Hint::new("Enter", "instances", 2),
        Hint::new("a", "add", 1),
        Hint::new("r", "remove", 1),
        Hint::new("s", "scale", 1),
        Hint::new("n", "namespaces", 2),
        Hint::new("p", "pause", 3),
        Hint::new("/", "filter", 2),
        Hint::new("m", "load", 3),
        Hint::new("i", "live", 3),
        Hint::new(":", "command", 4),
        Hint::new("M", "messages", 4),
        Hint::pinned("?", "help"),
        Hint::pinned("q", "quit"),
    ];

    fn draw(f: &Footer, w: u16) -> Vec<String> {
        let t = Theme::new(ColorMode::None);
        let area = Rect::new(0, 0, w, 2);
        let mut buf = Buffer::empty(area);
        f.render(&mut buf, area, &t);
        rows(&buf)
    }

    #[test]
    fn help_and_quit_stay_at_every_width() {
        for w in [40u16, 60, 80, 120] {
            for notice in [None, Some("read-only")] {
                let f = Footer {
                    notice,
                    hints: MANY,
                    ..Footer::default()
                };
                let row = &draw(&f, w)[0];
                assert!(row.contains("[?] help"), "{w}: {row}");
                assert!(row.contains("[q] quit"), "{w}: {row}");
                assert!(str_width(row) <= w as usize);
                if notice.is_some() {
                    assert!(row.starts_with("read-only"), "{w}: {row}");
                }
            }
        }
    }

    #[test]
    fn the_least_important_go_first_and_the_order_is_kept() {
        let f = Footer {
            hints: MANY,
            ..Footer::default()
        };
        let row80 = &draw(&f, 80)[0];
        assert!(row80.starts_with("[Enter] instances  [a] add  [r] remove  [s] scale"));
        assert!(!row80.contains("[:]") && !row80.contains("[M]"), "{row80}");
        let row40 = &draw(&f, 40)[0];
        assert_eq!(row40, "[a] add  [r] remove  [?] help  [q] quit");
        let row200 = &draw(&f, 200)[0];
        assert!(row200.starts_with("[Tab] focus  [Enter] instances"));
        assert!(row200.contains("[M] messages  [?] help  [q] quit"));
    }

    #[test]
    fn while_typing_only_the_inputs_keys() {
        let input = TextInput::new().completing();
        let hints = input.hints();
        for w in [40u16, 80, 120] {
            let f = Footer {
                notice: Some("typing filters"),
                hints: &hints,
                ..Footer::default()
            };
            let row = &draw(&f, w)[0];
            if w >= 80 {
                assert_eq!(
                    row,
                    "typing filters  [Enter] submit  [Esc] cancel  [Tab] complete"
                );
            }
            assert!(row.contains("[Enter]") && row.contains("[Esc]"), "{row}");
            assert!(!row.contains("[q]") && !row.contains("quit"), "{row}");
        }
    }

    #[test]
    fn a_long_notice_is_cut_before_a_pinned_hint() {
        let f = Footer {
            notice: Some("no state file: nothing to scale, and much more to say here"),
            hints: MANY,
            ..Footer::default()
        };
        let row = &draw(&f, 40)[0];
        assert!(row.ends_with("[?] help  [q] quit"), "{row}");
        assert!(
            row.starts_with("no state file") && row.contains('…'),
            "{row}"
        );
    }

    #[test]
    fn the_status_wraps_under_the_hints() {
        let t = Theme::new(ColorMode::None);
        let text = "scaled VllmWorker from 1 to 3: added VllmWorker_2 and VllmWorker_3";
        let f = Footer {
            hints: MANY,
            spinner: Some("⠋"),
            status: Some(StatusMsg {
                at: "12:00:01",
                severity: Severity::Ok,
                text,
            }),
            ..Footer::default()
        };
        let lines = f.status_lines(&t, 40, 5);
        let all: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(all.join(""), format!("⠋ 12:00:01 ✔ {text}"));
        assert!(all.iter().all(|l| str_width(l) <= 40));
        assert_eq!(f.height(&t, 40, 5), 1 + lines.len() as u16);
        // Capped: the last row ends with an ellipsis.
        let capped = f.status_lines(&t, 40, 1);
        assert_eq!(capped.len(), 1);
        assert!(capped[0].to_string().ends_with('…'));
        // No status: one empty row.
        let none = Footer::default();
        assert_eq!(none.height(&t, 40, 5), 2);
        // Control characters in the message are escaped.
        let evil = Footer {
            status: Some(StatusMsg {
                at: "t",
                severity: Severity::Error,
                text: "a\u{1b}[2Jb",
            }),
            ..Footer::default()
        };
        assert!(
            evil.status_lines(&t, 80, 2)[0]
                .to_string()
                .contains("\\u{1b}")
        );
    }
}
