//! Drawing the log panel: the files' troubles on top, the lines (prefixed with their
//! watcher for a type, marked with their stream when merged, search matches highlighted,
//! cut or wrapped), and a status row saying whether it follows.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Entry, LogView, Shown};
use crate::logs::Stream;
use crate::text::safe;
use crate::tui::theme::Theme;
use crate::tui::ui::View;
use crate::tui::widgets::{char_width, popup};

pub(super) fn draw(p: &LogView, frame: &mut Frame, area: Rect, v: &View) {
    let t = v.theme;
    let what = match p.shown {
        Shown::Stdout => "stdout",
        Shown::Stderr => "stderr",
        Shown::Merged => "stdout+stderr",
    };
    let title = format!(" log of {} · {what}{} ", safe(&p.target), p.search.suffix());
    let inner = popup::open(
        frame.buffer_mut(),
        t,
        area,
        (area.width.saturating_sub(2), area.height.saturating_sub(1)),
        &title,
        false,
    );
    if inner.height < 2 || inner.width < 4 {
        return;
    }
    let mut top: Vec<Line> = Vec::new();
    if let Some(f) = &p.failed {
        top.push(Line::styled(safe(f).into_owned(), t.error()));
    } else if !p.opened {
        top.push(Line::styled(
            format!("asking circus where {} writes…", safe(&p.target)),
            t.muted(),
        ));
    }
    for (s, n) in p.sources.iter().zip(&p.notes) {
        let wanted = match p.shown {
            Shown::Stdout => s.stream == Stream::Stdout,
            Shown::Stderr => s.stream == Stream::Stderr,
            Shown::Merged => true,
        };
        if let (true, Some(n)) = (wanted, n) {
            top.push(Line::styled(format!("⚠ {}", safe(n)), t.fg(t.orange)));
        }
    }
    // At most half the panel for what went wrong.
    top.truncate((inner.height as usize / 2).max(1));
    let body_h = (inner.height as usize).saturating_sub(top.len() + 1);
    let view = p.view();
    let width = inner.width as usize;
    let off = p.scroll.fit(view.len(), body_h);
    let mut rows: Vec<Line> = Vec::with_capacity(body_h);
    if p.opened && view.is_empty() {
        rows.push(Line::styled(
            format!("no {what} lines yet: new ones show as they are written"),
            t.muted(),
        ));
    } else if p.wrap {
        // From the end when following (the last line is on the last row), else from the
        // scroll position; a line takes as many rows as it needs.
        let mut wrapped: Vec<Vec<Line>> = Vec::new();
        let mut used = 0;
        if p.follow {
            for i in (0..view.len()).rev() {
                let l = wrap(line(p, t, view[i], i, width), width);
                used += l.len();
                wrapped.push(l);
                if used >= body_h {
                    break;
                }
            }
            wrapped.reverse();
        } else {
            for (i, e) in view.iter().enumerate().skip(off) {
                let l = wrap(line(p, t, e, i, width), width);
                used += l.len();
                wrapped.push(l);
                if used >= body_h {
                    break;
                }
            }
        }
        let all: Vec<Line> = wrapped.into_iter().flatten().collect();
        let skip = if p.follow {
            all.len().saturating_sub(body_h)
        } else {
            0
        };
        rows.extend(all.into_iter().skip(skip).take(body_h));
    } else {
        for (i, e) in view.iter().enumerate().skip(off).take(body_h) {
            rows.push(line(p, t, e, i, width));
        }
    }
    let mut all = top;
    all.extend(rows);
    let body = Rect::new(inner.x, inner.y, inner.width, inner.height - 1);
    frame.render_widget(Paragraph::new(all), body);
    let status = Rect::new(inner.x, inner.y + inner.height - 1, inner.width, 1);
    frame.render_widget(Paragraph::new(status_line(p, t, view.len())), status);
}

/// "● following" or "⏸ paused · 12 new lines since", the position, the wrap.
fn status_line(p: &LogView, t: &Theme, len: usize) -> Line<'static> {
    let mut spans = if p.follow {
        vec![Span::styled("● following", t.fg(t.green))]
    } else {
        vec![Span::styled(
            format!(
                "⏸ paused · {} new line{} since · Space follows",
                p.held_count,
                if p.held_count == 1 { "" } else { "s" }
            ),
            t.fg(t.orange).add_modifier(Modifier::BOLD),
        )]
    };
    let pos = p
        .scroll
        .position()
        .unwrap_or_else(|| format!("{len} lines"));
    spans.push(Span::styled(format!("  {pos}"), t.muted()));
    if p.wrap {
        spans.push(Span::styled("  wrapped", t.muted()));
    }
    if let Some(c) = p.current {
        spans.push(Span::styled(
            format!("  match on line {}", c + 1),
            t.muted(),
        ));
    }
    Line::from(spans)
}

/// One log line: its watcher (a type's log), its stream (merged), its text with the
/// search's matches highlighted.
fn line(p: &LogView, t: &Theme, e: &Entry, i: usize, width: usize) -> Line<'static> {
    let mut spans = Vec::new();
    let src = &p.sources[e.src];
    if p.prefixed {
        let w = p.sources.iter().map(|s| s.watcher.len()).max().unwrap_or(0);
        let w = w.min(width / 3);
        spans.push(Span::styled(
            format!("{:<w$.w$} │ ", safe(&src.watcher)),
            t.fg(t.cyan),
        ));
    }
    if p.shown == Shown::Merged {
        spans.push(match src.stream {
            Stream::Stdout => Span::styled("out│", t.muted()),
            Stream::Stderr => Span::styled("err│", t.fg(t.red)),
        });
    }
    let base = if p.current == Some(i) {
        Style::new().fg(t.text).add_modifier(Modifier::REVERSED)
    } else {
        Style::new().fg(t.text)
    };
    let hl = Style::new().fg(t.bg).bg(t.orange);
    let needle = p.search.text().to_ascii_lowercase();
    // The text is at most TUI_LINE_CAP bytes (and its escapes): already safe.
    let text = e.text.as_str();
    if needle.is_empty() {
        spans.push(Span::styled(text.to_string(), base));
    } else {
        let lower = text.to_ascii_lowercase();
        let mut at = 0;
        while let Some(k) = lower[at..].find(&needle) {
            let (a, b) = (at + k, at + k + needle.len());
            if a > at {
                spans.push(Span::styled(text[at..a].to_string(), base));
            }
            spans.push(Span::styled(text[a..b].to_string(), hl));
            at = b;
        }
        if at < text.len() {
            spans.push(Span::styled(text[at..].to_string(), base));
        }
    }
    Line::from(spans)
}

/// `l` cut into rows of at most `width` cells, styles kept.
fn wrap(l: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut rows = vec![Vec::new()];
    let mut used = 0;
    for span in l.spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = char_width(c);
            if used + w > width && used > 0 {
                if !piece.is_empty() {
                    rows.last_mut()
                        .expect("a row")
                        .push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                rows.push(Vec::new());
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            rows.last_mut()
                .expect("a row")
                .push(Span::styled(piece, span.style));
        }
    }
    rows.into_iter().map(Line::from).collect()
}
