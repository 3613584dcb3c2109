//! The view: the screen, the footer, and the popups over a dimmed background, drawn from
//! the `App` (no I/O, no clock); each panel draws itself. Also the drawing pieces panels
//! share: the pane frame, JSON colouring, the load cells, the drill-down documents.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

pub mod instances;
pub mod live;
pub mod load;

use super::app::App;
use super::keys::{self, Cmd, Scope};
use super::theme::Theme;
use super::widgets::footer::{Footer, Hint, StatusMsg};
use super::widgets::popup;

/// Below this the UI says the terminal is too small.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// The FIGlet banner, rendered once.
pub fn banner() -> Vec<String> {
    figlet_rs::FIGlet::standard()
        .ok()
        .and_then(|f| f.convert("DYNAMO").map(|fig| fig.to_string()))
        .map(|s| {
            s.lines()
                .map(|l| l.trim_end().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub struct View<'a> {
    pub theme: &'a Theme,
    pub banner: &'a [String],
    /// Frame of the spinner.
    pub spin: usize,
}

pub fn draw(frame: &mut Frame, app: &App, v: &View) {
    let area = frame.area();
    let t = v.theme;
    frame.render_widget(Block::new().style(t.base()), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = Paragraph::new(vec![
            Line::styled("terminal too small", t.error()),
            Line::raw(format!(
                "{}x{}, need {MIN_WIDTH}x{MIN_HEIGHT}",
                area.width, area.height
            )),
            Line::raw("enlarge it, or press q"),
        ])
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true });
        let h = 3.min(area.height);
        let y = area.y + (area.height - h) / 2;
        frame.render_widget(msg, Rect::new(area.x, y, area.width, h));
        return;
    }
    let d = &app.data;
    let hints = footer_hints(app);
    let notice = footer_notice(app);
    let spinner = (d.busy() || d.following().is_some()).then(|| SPINNER[v.spin % SPINNER.len()]);
    let footer = Footer {
        notice: notice.as_deref(),
        hints: &hints,
        spinner,
        status: d.status.as_ref().map(|s| StatusMsg {
            at: &s.at,
            severity: s.severity,
            text: &s.text,
        }),
    };
    // The status message wraps onto as many rows as it needs, up to a quarter of the screen.
    let max_status = (area.height / 4).max(1) as usize;
    let [body, foot] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(footer.height(t, area.width as usize, max_status)),
    ])
    .areas(area);
    app.screen
        .get()
        .draw(frame, body, d, v, app.popups.is_empty());
    footer.render(frame.buffer_mut(), foot, t);
    // Popups, bottom to top, each dimming what is behind it.
    let n = app.popups.len();
    for (i, p) in app.popups.iter().enumerate() {
        popup::dim(frame.buffer_mut(), body);
        p.get().draw(frame, body, d, v, i + 1 == n);
    }
}

/// The footer's hints: the input's keys while one is active (nothing else can be typed),
/// else the keys of who has them, then the global ones; `?` and quit are never dropped.
fn footer_hints(app: &App) -> Vec<Hint> {
    let top = app.top();
    if let Some(input) = top.get().input_ref() {
        return input.hints();
    }
    keys::footer_bindings(top.scope(), app.data.keys_readonly())
        .enumerate()
        .map(|(i, b)| {
            let pinned = b.scope == Scope::Global && matches!(b.cmd, Cmd::Help | Cmd::Quit);
            let priority = if pinned {
                Hint::PINNED
            } else {
                (i + 1).min(254) as u8
            };
            Hint::new(b.label, b.hint, priority)
        })
        .collect()
}

/// Why keys are missing (read-only), or what the top panel says (typing filters).
fn footer_notice(app: &App) -> Option<String> {
    if app.data.readonly {
        return Some("read-only".into());
    }
    app.top().get().notice(&app.data)
}

pub fn panel<'a>(t: &Theme, title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(t.border(focused))
        .title(title)
        .title_style(if focused {
            t.title()
        } else {
            t.muted().add_modifier(Modifier::BOLD)
        })
        .style(t.base())
}

/// Colours one line of pretty JSON: keys cyan, strings green, numbers orange,
/// true/false/null magenta.
pub fn json_line<'a>(t: &Theme, line: &str) -> Line<'a> {
    let mut spans: Vec<Span> = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut plain = String::new();
    let flush = |plain: &mut String, spans: &mut Vec<Span>| {
        if !plain.is_empty() {
            spans.push(Span::styled(std::mem::take(plain), t.fg(t.text)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                if chars[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            let end = (j + 1).min(chars.len());
            let s: String = chars[i..end].iter().collect();
            let is_key = chars[end..].iter().find(|c| !c.is_whitespace()) == Some(&':');
            flush(&mut plain, &mut spans);
            spans.push(Span::styled(s, t.fg(if is_key { t.cyan } else { t.green })));
            i = end;
        } else if c == '-' || c.is_ascii_digit() {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || "+-.".contains(chars[j]))
            {
                j += 1;
            }
            flush(&mut plain, &mut spans);
            spans.push(Span::styled(
                chars[i..j].iter().collect::<String>(),
                t.fg(t.orange),
            ));
            i = j;
        } else if c.is_ascii_alphabetic() {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_alphabetic() {
                j += 1;
            }
            flush(&mut plain, &mut spans);
            spans.push(Span::styled(
                chars[i..j].iter().collect::<String>(),
                t.fg(t.magenta),
            ));
            i = j;
        } else {
            plain.push(c);
            i += 1;
        }
    }
    flush(&mut plain, &mut spans);
    Line::from(spans)
}
