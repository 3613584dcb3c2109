//! Tables whose columns have priorities. When the width is short, the least important
//! columns are dropped first, while the others do not fit at their minimum widths; only
//! then are cells cut, at the end, with `…`. An id or a name ([`Kind::Id`]) is never cut
//! to fit a narrow column: its column is as wide as its widest value (up to its maximum)
//! or it is dropped.
//!
//! Widths do not jump as data changes: [`TableState`] keeps, per column, the widest value
//! seen (a high-water mark bounded by the column's maximum), so a value that shrinks or
//! flickers leaves the layout where it was; the widths change only when a value grows
//! past every earlier one, or when the terminal is resized.

use std::cell::RefCell;

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, HighlightSpacing, Row, StatefulWidget, Table};

use super::{char_width, str_width};
use crate::text::safe;
use crate::tui::theme::Theme;

/// The selection marker, drawn in front of the selected row (visible without colour).
pub const MARKER: &str = "▶ ";
/// Cells between two columns.
const SPACING: u16 = 1;

/// What a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Prose: may be cut at the end (`…`) down to the column's minimum.
    Text,
    /// An id or a name: shown whole (up to the column's maximum) or not at all.
    Id,
}

/// One column: its header, how important it is and how wide it may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub header: &'static str,
    /// Lower is more important: kept longest, and grown first.
    pub priority: u8,
    /// The narrowest it may be before it is dropped (a [`Kind::Text`] column).
    pub min: u16,
    /// The widest it grows to its values; `None`: flexible, it also takes the room left.
    pub max: Option<u16>,
    pub align: Alignment,
    pub kind: Kind,
}

impl Column {
    /// A text column: at least 4 wide, flexible, left-aligned.
    pub const fn text(header: &'static str, priority: u8) -> Column {
        Column {
            header,
            priority,
            min: 4,
            max: None,
            align: Alignment::Left,
            kind: Kind::Text,
        }
    }

    /// An id or name column: as wide as its widest value up to 40 (so that one hostile
    /// name cannot push every other column out; `.max()` changes it), left-aligned.
    pub const fn id(header: &'static str, priority: u8) -> Column {
        Column {
            kind: Kind::Id,
            min: 1,
            max: Some(40),
            ..Column::text(header, priority)
        }
    }

    /// Flexible: it also takes the room the others leave.
    pub const fn flexible(mut self) -> Column {
        self.max = None;
        self
    }

    /// At least `w` wide.
    pub const fn min(mut self, w: u16) -> Column {
        self.min = w;
        self
    }

    /// At most `w` wide (longer values are cut at the end).
    pub const fn max(mut self, w: u16) -> Column {
        self.max = Some(w);
        self
    }

    /// Exactly `w` wide.
    pub const fn fixed(self, w: u16) -> Column {
        self.min(w).max(w)
    }

    /// Right-aligned (numbers).
    pub const fn right(mut self) -> Column {
        self.align = Alignment::Right;
        self
    }
}

/// One row: its cells (one per column) and a style for the whole row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableRow<'a> {
    pub cells: Vec<Line<'a>>,
    pub style: Style,
}

impl<'a> TableRow<'a> {
    /// A row of `cells`.
    pub fn new<C: Into<Line<'a>>>(cells: impl IntoIterator<Item = C>) -> TableRow<'a> {
        TableRow {
            cells: cells.into_iter().map(Into::into).collect(),
            style: Style::new(),
        }
    }

    /// With `style` over the whole row.
    pub fn style(mut self, style: Style) -> TableRow<'a> {
        self.style = style;
        self
    }
}

/// What a table remembers between frames: the widest value seen per column.
/// (Interior mutability, so the view can draw through a shared reference.)
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableState {
    seen: RefCell<Vec<u16>>,
}

impl TableState {
    /// A table that has seen nothing.
    pub fn new() -> TableState {
        TableState::default()
    }

    /// Forgets the widths seen (e.g. when the table shows another set of rows).
    pub fn reset(&self) {
        self.seen.borrow_mut().clear();
    }

    /// Records the widths of `rows`' values. `render` measures the rows it draws; a caller
    /// drawing a window of a long list may measure all of them first, so that widths do
    /// not grow while scrolling.
    pub fn measure(&self, cols: &[Column], rows: &[TableRow]) {
        let mut seen = self.seen.borrow_mut();
        if seen.len() != cols.len() {
            *seen = cols.iter().map(|c| want_width(c, 0)).collect();
        }
        for row in rows {
            for ((c, s), cell) in cols.iter().zip(seen.iter_mut()).zip(&row.cells) {
                *s = (*s).max(want_width(c, cell.width()));
            }
        }
    }

    /// The width each column wants: its widest value or header, within its bounds.
    pub fn wanted(&self, cols: &[Column]) -> Vec<u16> {
        let seen = self.seen.borrow();
        cols.iter()
            .enumerate()
            .map(|(i, c)| want_width(c, seen.get(i).copied().unwrap_or(0) as usize))
            .collect()
    }

    /// The columns shown in `width` cells (the selection marker included), in column
    /// order, with their widths.
    pub fn layout(&self, cols: &[Column], width: u16) -> Vec<(usize, u16)> {
        layout(cols, &self.wanted(cols), width)
    }
}

/// `value` cells (or the header) within the column's bounds.
fn want_width(c: &Column, value: usize) -> u16 {
    let w = value.max(str_width(c.header)).min(u16::MAX as usize) as u16;
    w.max(c.min.max(1)).min(c.max.unwrap_or(u16::MAX).max(1))
}

/// Drops the least important columns until the rest fit at their minimum widths (an id
/// column's minimum is its wanted width), then grows the kept ones toward their wanted
/// widths, most important first; what is left goes to the flexible columns.
pub fn layout(cols: &[Column], wanted: &[u16], width: u16) -> Vec<(usize, u16)> {
    let avail = width.saturating_sub(str_width(MARKER) as u16) as usize;
    let need = |i: usize| -> usize {
        match cols[i].kind {
            Kind::Id => wanted[i] as usize,
            Kind::Text => cols[i].min.max(1).min(wanted[i]) as usize,
        }
    };
    let total = |kept: &[usize]| -> usize {
        kept.iter().map(|&i| need(i)).sum::<usize>()
            + kept.len().saturating_sub(1) * SPACING as usize
    };
    let mut kept: Vec<usize> = (0..cols.len().min(wanted.len())).collect();
    while kept.len() > 1 && total(&kept) > avail {
        let (pos, _) = kept
            .iter()
            .enumerate()
            .max_by_key(|(_, i)| (cols[**i].priority, **i))
            .expect("a column");
        kept.remove(pos);
    }
    let mut widths: Vec<usize> = kept.iter().map(|&i| need(i)).collect();
    if total(&kept) > avail {
        // One column, and it does not fit even so: it is cut.
        if let Some(w) = widths.first_mut() {
            *w = avail;
        }
    }
    let mut extra = avail.saturating_sub(total(&kept));
    let mut by_priority: Vec<usize> = (0..kept.len()).collect();
    by_priority.sort_by_key(|&k| (cols[kept[k]].priority, kept[k]));
    for &k in &by_priority {
        let grow = (wanted[kept[k]] as usize)
            .saturating_sub(widths[k])
            .min(extra);
        widths[k] += grow;
        extra -= grow;
    }
    let flexible: Vec<usize> = by_priority
        .into_iter()
        .filter(|&k| cols[kept[k]].max.is_none())
        .collect();
    if !flexible.is_empty() {
        let share = extra / flexible.len();
        let mut rest = extra % flexible.len();
        for k in flexible {
            widths[k] += share + usize::from(rest > 0);
            rest = rest.saturating_sub(1);
        }
    }
    kept.into_iter()
        .zip(widths)
        .map(|(i, w)| (i, w.min(u16::MAX as usize) as u16))
        .collect()
}

/// `line` in at most `w` cells: whole when it fits, else cut at the end with `…` (in the
/// style of the text it replaces). Unsafe characters are escaped first.
pub fn fit_line(line: &Line, w: usize) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = line
        .spans
        .iter()
        .map(|s| Span::styled(safe(&s.content).into_owned(), s.style))
        .collect();
    let width: usize = spans.iter().map(Span::width).sum();
    if width > w {
        let mut out: Vec<Span<'static>> = Vec::new();
        let mut used = 0;
        let mut last_style = line.style;
        'spans: for s in spans {
            last_style = s.style;
            let mut kept = String::new();
            for c in s.content.chars() {
                let cw = char_width(c);
                if used + cw + 1 > w {
                    out.push(Span::styled(kept, s.style));
                    break 'spans;
                }
                kept.push(c);
                used += cw;
            }
            out.push(Span::styled(kept, s.style));
        }
        if w > 0 {
            out.push(Span::styled("…", last_style));
        }
        spans = out;
    }
    Line::from(spans).style(line.style)
}

/// Draws `rows` under the columns' headers in `area`: the columns that fit (see
/// [`layout`]), cells cut at the end with `…`, the selected row (an index into `rows`)
/// marked with `▶` and the theme's selection style.
pub fn render(
    buf: &mut Buffer,
    area: Rect,
    t: &Theme,
    cols: &[Column],
    state: &TableState,
    rows: &[TableRow],
    selected: Option<usize>,
) {
    state.measure(cols, rows);
    let shown = state.layout(cols, area.width);
    let cell = |line: &Line, i: usize, w: u16| {
        Cell::from(fit_line(line, w as usize).alignment(cols[i].align))
    };
    let header = Row::new(
        shown
            .iter()
            .map(|&(i, w)| cell(&Line::raw(cols[i].header), i, w)),
    )
    .style(t.muted().add_modifier(Modifier::BOLD));
    let empty = Line::default();
    let body: Vec<Row> = rows
        .iter()
        .map(|r| {
            Row::new(
                shown
                    .iter()
                    .map(|&(i, w)| cell(r.cells.get(i).unwrap_or(&empty), i, w)),
            )
            .style(r.style)
        })
        .collect();
    let table = Table::new(body, shown.iter().map(|&(_, w)| Constraint::Length(w)))
        .header(header)
        .column_spacing(SPACING)
        .row_highlight_style(t.selected())
        .highlight_symbol(MARKER)
        .highlight_spacing(HighlightSpacing::Always);
    let mut st =
        ratatui::widgets::TableState::default().with_selected(selected.filter(|&s| s < rows.len()));
    StatefulWidget::render(table, area, buf, &mut st);
}

/// Rows of `area` left for the body under the header.
pub fn body_height(area: Rect) -> usize {
    area.height.saturating_sub(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::ColorMode;
    use crate::tui::widgets::test_util::rows as text_rows;

    /// The registered-instances list.
    const COLS: &[Column] = &[
        Column::id("Component", 0).max(24),
        Column::id("Endpoint", 2).max(20),
        Column::id("Instance", 1).fixed(16),
        Column::text("Address", 4).min(10),
        Column::text("Source", 5).fixed(8),
        Column::text("Age", 3).min(6).max(18),
        Column::text("", 6).fixed(9),
    ];

    fn row(component: &str) -> TableRow<'static> {
        TableRow::new([
            component.to_string(),
            "generate".into(),
            "694d9a1b356ceaf9".into(),
            "tcp://127.0.0.1:45123/abc".into(),
            "etcd v2".into(),
            "3m12s lease 7200s".into(),
            "✓ ok".into(),
        ])
    }

    fn draw(w: u16, rows: &[TableRow], state: &TableState) -> Vec<String> {
        let t = Theme::new(ColorMode::None);
        let area = Rect::new(0, 0, w, rows.len() as u16 + 1);
        let mut buf = Buffer::empty(area);
        render(&mut buf, area, &t, COLS, state, rows, Some(0));
        text_rows(&buf)
    }

    fn headers(w: u16) -> Vec<&'static str> {
        let st = TableState::new();
        st.measure(COLS, &[row("VllmWorker")]);
        st.layout(COLS, w)
            .into_iter()
            .map(|(i, _)| COLS[i].header)
            .collect()
    }

    #[test]
    fn columns_are_dropped_by_priority() {
        assert_eq!(headers(40), ["Component", "Endpoint", "Instance"]);
        assert_eq!(
            headers(60),
            ["Component", "Endpoint", "Instance", "Address", "Age"]
        );
        assert_eq!(
            headers(70),
            [
                "Component",
                "Endpoint",
                "Instance",
                "Address",
                "Source",
                "Age"
            ]
        );
        assert_eq!(
            headers(80),
            [
                "Component",
                "Endpoint",
                "Instance",
                "Address",
                "Source",
                "Age",
                ""
            ]
        );
        assert_eq!(
            headers(120),
            [
                "Component",
                "Endpoint",
                "Instance",
                "Address",
                "Source",
                "Age",
                ""
            ]
        );
        // Narrower than the most important id: it alone, cut at the end.
        assert_eq!(headers(8), ["Component"]);
    }

    #[test]
    fn drawn_at_40_60_80_120() {
        let rows = [row("VllmWorker"), row("Frontend")];
        let at = |w| draw(w, &rows, &TableState::new());
        assert_eq!(
            at(40),
            [
                "  Component  Endpoint Instance",
                "▶ VllmWorker generate 694d9a1b356ceaf9",
                "  Frontend   generate 694d9a1b356ceaf9",
            ]
        );
        assert_eq!(
            at(60)[1],
            "▶ VllmWorker generate 694d9a1b356ceaf9 tcp://127… 3m12s lea…"
        );
        assert_eq!(
            at(80)[1],
            "▶ VllmWorker generate 694d9a1b356ceaf9 tcp://127… etcd v2  3m12s leas… ✓ ok"
        );
        let wide = at(120);
        assert!(wide[0].starts_with("  Component  Endpoint Instance         Address"));
        assert!(wide[1].contains("tcp://127.0.0.1:45123/abc"));
        assert!(wide[1].ends_with("3m12s lease 7200s ✓ ok"));
        for w in [40u16, 60, 80, 120] {
            assert!(at(w).iter().all(|l| str_width(l) <= w as usize));
        }
    }

    #[test]
    fn ids_are_never_cut_mid_token() {
        let long = "VllmPrefillWorkerWithAVeryLongName";
        let rows = [row("VllmWorker"), row(long)];
        for w in [20u16, 30, 40, 50, 60, 80, 120] {
            for line in draw(w, &rows, &TableState::new()) {
                for word in line.split_whitespace() {
                    // An id is whole, or cut at its end with an ellipsis.
                    for id in ["VllmWorker", long, "694d9a1b356ceaf9", "generate"] {
                        let starts = word.len() >= 4 && id.starts_with(word.trim_end_matches('…'));
                        if starts && word != id {
                            assert!(word.ends_with('…'), "{w}: {word:?} cuts {id}");
                        }
                    }
                }
            }
        }
        // A hostile name: the id column stays within its default maximum.
        const DEFAULT: &[Column] = &[Column::id("Name", 0), Column::text("State", 1).fixed(8)];
        let huge = "x".repeat(10_000);
        let st = TableState::new();
        st.measure(DEFAULT, &[TableRow::new([huge.as_str(), "running"])]);
        assert_eq!(st.layout(DEFAULT, 80), [(0, 40), (1, 8)]);
        // Over its maximum (24) the name is cut at the end.
        let r = draw(120, &rows, &TableState::new());
        assert!(r[2].contains("VllmPrefillWorkerWithAV…"), "{}", r[2]);
    }

    #[test]
    fn widths_do_not_jump_when_a_value_changes_length() {
        let st = TableState::new();
        let before = draw(100, &[row("VllmPrefillWorker")], &st);
        let layout = st.layout(COLS, 100);
        // Shorter: the columns stay where they were.
        let after = draw(100, &[row("Vllm")], &st);
        assert_eq!(st.layout(COLS, 100), layout);
        assert_eq!(before[0], after[0], "the headers did not move");
        // Back and forth: still the same.
        draw(100, &[row("VllmPrefillWorker")], &st);
        assert_eq!(st.layout(COLS, 100), layout);
        // A fresh state sizes to the data it sees.
        let fresh = TableState::new();
        draw(100, &[row("Vllm")], &fresh);
        assert_ne!(fresh.layout(COLS, 100), layout);
        st.reset();
        draw(100, &[row("Vllm")], &st);
        assert_eq!(st.layout(COLS, 100), fresh.layout(COLS, 100));
    }

    #[test]
    fn the_selection_is_marked_without_colour() {
        let rows = [row("a"), row("b"), row("c")];
        let t = Theme::new(ColorMode::None);
        let area = Rect::new(0, 0, 60, 4);
        let mut buf = Buffer::empty(area);
        render(&mut buf, area, &t, COLS, &TableState::new(), &rows, Some(2));
        let r = text_rows(&buf);
        assert!(r[3].starts_with("▶ c"), "{}", r[3]);
        assert!(r[1].starts_with("  a"));
        assert!(buf[(2, 3)].modifier.contains(Modifier::REVERSED));
        // Out of range: nothing selected, no panic.
        render(&mut buf, area, &t, COLS, &TableState::new(), &rows, Some(9));
    }

    #[test]
    fn cells_are_cut_with_an_ellipsis_and_escaped() {
        let l = Line::from(vec![
            Span::raw("ab"),
            Span::styled("cdef", Style::new().bold()),
        ]);
        assert_eq!(fit_line(&l, 6).to_string(), "abcdef");
        let cut = fit_line(&l, 4);
        assert_eq!(cut.to_string(), "abc…");
        assert_eq!(cut.spans.last().map(|s| s.style), Some(Style::new().bold()));
        assert_eq!(fit_line(&Line::raw("日本語"), 4).to_string(), "日…");
        assert_eq!(
            fit_line(&Line::raw("a\u{1b}b"), 20).to_string(),
            "a\\u{1b}b"
        );
    }

    #[test]
    fn right_alignment_and_empty_tables() {
        const NUM: &[Column] = &[
            Column::id("Name", 0),
            Column::text("Count", 1).fixed(6).right(),
        ];
        let t = Theme::new(ColorMode::None);
        let area = Rect::new(0, 0, 20, 2);
        let mut buf = Buffer::empty(area);
        let rows = [TableRow::new(["w", "42"])];
        render(&mut buf, area, &t, NUM, &TableState::new(), &rows, None);
        assert!(
            text_rows(&buf)[1].ends_with("    42"),
            "{:?}",
            text_rows(&buf)
        );
        let area = Rect::new(0, 0, 20, 2);
        let mut buf = Buffer::empty(area);
        render(&mut buf, area, &t, NUM, &TableState::new(), &[], None);
        assert!(text_rows(&buf)[0].contains("Name"));
    }
}
