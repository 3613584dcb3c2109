//! The popup frame: a centred box over a dimmed background, cleared, with a double border
//! and a title (red for a dangerous one). The look of the former `ui::open_popup`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType, Borders, Clear, Widget};

use crate::tui::theme::Theme;

/// A `w` x `h` rectangle centred in `area`, clamped to it.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Dims what is drawn in `area` (what is behind a popup).
pub fn dim(buf: &mut Buffer, area: Rect) {
    buf.set_style(area, Style::new().add_modifier(Modifier::DIM));
}

/// The popup's border and title: double lines, cyan (red when `danger`), on the panel
/// colour.
pub fn block<'a>(
    t: &Theme,
    title: impl Into<std::borrow::Cow<'a, str>>,
    danger: bool,
) -> Block<'a> {
    let border = if danger { t.error() } else { t.border(true) };
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(border)
        .title(Span::styled(title, border))
        .style(Style::new().fg(t.text).bg(t.panel))
}

/// Clears `r` and draws a popup frame there; returns the inside.
pub fn open_at(buf: &mut Buffer, t: &Theme, r: Rect, title: &str, danger: bool) -> Rect {
    let r = r.intersection(buf.area);
    Clear.render(r, buf);
    let b = block(t, title, danger);
    let inner = b.inner(r);
    b.render(r, buf);
    inner
}

/// A `w` x `h` popup centred in `area` (clamped to it): cleared, framed, titled. Returns
/// the inside. The background is dimmed by the caller, once per popup layer ([`dim`]).
pub fn open(
    buf: &mut Buffer,
    t: &Theme,
    area: Rect,
    (w, h): (u16, u16),
    title: &str,
    danger: bool,
) -> Rect {
    open_at(buf, t, centered(area, w, h), title, danger)
}

/// Dims `area` and opens a `w` x `h` popup centred in it: one popup layer.
pub fn open_dimmed(
    buf: &mut Buffer,
    t: &Theme,
    area: Rect,
    size: (u16, u16),
    title: &str,
    danger: bool,
) -> Rect {
    dim(buf, area);
    open(buf, t, area, size, title, danger)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::ColorMode;
    use crate::tui::widgets::test_util::rows;
    use ratatui::widgets::Paragraph;

    #[test]
    fn centered_is_clamped() {
        let a = Rect::new(2, 1, 40, 10);
        assert_eq!(centered(a, 20, 4), Rect::new(12, 4, 20, 4));
        assert_eq!(centered(a, 100, 100), a);
        assert_eq!(centered(a, 0, 0), Rect::new(22, 6, 0, 0));
    }

    #[test]
    fn a_popup_over_a_dimmed_background() {
        let t = Theme::new(ColorMode::TrueColor);
        let area = Rect::new(0, 0, 30, 9);
        let mut buf = Buffer::empty(area);
        Paragraph::new(vec!["x".repeat(30).into(); 9]).render(area, &mut buf);
        let inner = open_dimmed(&mut buf, &t, area, (20, 5), " Scale ", false);
        assert_eq!(inner, Rect::new(6, 3, 18, 3));
        let r = rows(&buf);
        assert_eq!(r[2], "xxxxx╔ Scale ═══════════╗xxxxx");
        assert_eq!(r[3], "xxxxx║                  ║xxxxx");
        assert_eq!(r[6], "xxxxx╚══════════════════╝xxxxx");
        // Behind: dimmed; the popup: cleared, on the panel colour, cyan border.
        assert!(buf[(0, 0)].modifier.contains(Modifier::DIM));
        assert_eq!(buf[(10, 4)].bg, t.panel);
        assert_eq!(buf[(5, 2)].fg, t.cyan);
        assert!(!buf[(10, 4)].modifier.contains(Modifier::DIM));
    }

    #[test]
    fn a_dangerous_popup_is_red_and_the_look_matches_a_plain_block() {
        let t = Theme::new(ColorMode::Ansi256);
        let area = Rect::new(0, 0, 20, 4);
        let mut buf = Buffer::empty(area);
        open_at(&mut buf, &t, area, " Confirm ", true);
        assert_eq!(buf[(0, 0)].fg, t.red);
        let mut plain = Buffer::empty(area);
        block(&t, " Confirm ", true).render(area, &mut plain);
        assert_eq!(buf, plain);
    }

    #[test]
    fn open_at_stays_inside_the_buffer() {
        let t = Theme::new(ColorMode::None);
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 3));
        let inner = open_at(&mut buf, &t, Rect::new(5, 1, 20, 5), "", false);
        assert_eq!(inner, Rect::new(6, 2, 3, 0));
    }
}
