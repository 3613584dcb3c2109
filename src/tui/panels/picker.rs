//! The namespace picker: the screen when no namespace is open, and `n`'s popup over the
//! dashboard. Every namespace with its running instances per type, GPUs and file age;
//! broken files in red with their error. The cursor stays on its namespace.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, HighlightSpacing, List, ListItem, ListState, Paragraph, Wrap};

use super::{Ask, Outcome, Panel, say};
use crate::text::safe;
use crate::tui::data::{Data, Listing, NsInfo, Severity, age};
use crate::tui::keys::{self, C, Cmd, K, KeyDef, k};
use crate::tui::theme::Theme;
use crate::tui::ui::{View, panel};
use crate::tui::widgets::popup::{self, centered};
use crate::tui::widgets::{Filter, InputOutcome, ListCursor, TextInput};

pub const TITLE: &str = "Namespace picker";
pub const KEYS: &[KeyDef] = &[
    k(
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "previous namespace",
        Cmd::Up,
        false,
        "up",
    ),
    k(
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "next namespace",
        Cmd::Down,
        false,
        "down",
    ),
    k(
        &[C('g'), K(KeyCode::Home)],
        "g/Home",
        "first namespace",
        Cmd::Top,
        false,
        "",
    ),
    k(
        &[C('G'), K(KeyCode::End)],
        "G/End",
        "last namespace",
        Cmd::Bottom,
        false,
        "",
    ),
    k(
        &[K(KeyCode::PageUp)],
        "PgUp",
        "a page up",
        Cmd::PageUp,
        false,
        "",
    ),
    k(
        &[K(KeyCode::PageDown)],
        "PgDn",
        "a page down",
        Cmd::PageDown,
        false,
        "",
    ),
    k(
        &[K(KeyCode::Enter)],
        "Enter",
        "open the namespace",
        Cmd::Open,
        false,
        "open",
    ),
    k(
        &[C('/')],
        "/",
        "filter by name",
        Cmd::Filter,
        false,
        "filter",
    ),
    k(
        &[K(KeyCode::Esc)],
        "Esc",
        "clear the filter / close",
        Cmd::Close,
        false,
        "",
    ),
    crate::tui::keys::COPY,
];

#[derive(Debug, Default)]
pub struct Picker {
    /// On a namespace's name.
    pub cursor: ListCursor<String>,
    pub filter: Filter,
    /// `n` over the dashboard (else the screen).
    pub popup: bool,
}

/// The namespaces the picker shows (after the filter).
pub fn visible<'a>(d: &'a Data, filter: &Filter) -> Vec<&'a NsInfo> {
    match &d.listing {
        Listing::Found(list) => list.iter().filter(|n| filter.matches(&[&n.name])).collect(),
        _ => Vec::new(),
    }
}

impl Picker {
    /// On namespace `name` (when listed); `popup`: over the dashboard.
    pub fn at(name: Option<&str>, popup: bool, d: &Data) -> Picker {
        let mut p = Picker {
            popup,
            ..Picker::default()
        };
        if let Some(n) = name {
            p.cursor.select_key(n.to_string());
        }
        p.sync(d);
        p
    }

    fn sync(&mut self, d: &Data) {
        let names: Vec<&str> = visible(d, &self.filter)
            .iter()
            .map(|n| n.name.as_str())
            .collect();
        self.cursor.sync(names.iter().map(|n| n.to_string()));
    }

    /// Enter: open the selected namespace.
    fn open(&mut self, d: &Data) -> Vec<Outcome> {
        let list = visible(d, &self.filter);
        let Some(ns) = self.cursor.selected().and_then(|i| list.get(i)) else {
            return Vec::new();
        };
        if let Err(err) = &ns.brief {
            return vec![say(
                Severity::Error,
                format!("cannot open {}: {err}", ns.name),
            )];
        }
        self.filter.typing = false;
        let mut out = Vec::new();
        if self.popup {
            out.push(Outcome::Pop);
        }
        out.push(Ask::Open(ns.name.clone()).into());
        out
    }

    fn draw_screen(&self, frame: &mut Frame, app: &Data, v: &View, area: Rect, top: bool) {
        let t = v.theme;
        let bw = v
            .banner
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0) as u16;
        let show_banner = !v.banner.is_empty() && area.height >= 24 && area.width >= bw + 2;
        let list_area = if show_banner {
            let bh = v.banner.len() as u16;
            let [b, sub, rest] = Layout::vertical([
                Constraint::Length(bh + 1),
                Constraint::Length(2),
                Constraint::Min(3),
            ])
            .areas(area);
            let palette = [t.cyan, t.cyan, t.magenta, t.magenta, t.cyan, t.magenta];
            let lines: Vec<Line> = v
                .banner
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    Line::styled(
                        format!("{l:<width$}", width = bw as usize),
                        Style::new()
                            .fg(palette[i % palette.len()])
                            .add_modifier(Modifier::BOLD),
                    )
                })
                .collect();
            let mut b = b;
            b.y += 1;
            b.height = b.height.saturating_sub(1);
            frame.render_widget(Paragraph::new(lines).alignment(Alignment::Center), b);
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled("command center for NVIDIA Dynamo", t.fg(t.text)),
                    Span::styled("  ·  ", t.muted()),
                    Span::styled(safe(&app.dir.display().to_string()).into_owned(), t.muted()),
                ]))
                .alignment(Alignment::Center),
                sub,
            );
            rest
        } else {
            area
        };
        let r = centered(
            list_area,
            list_area.width.saturating_sub(4).min(110),
            list_area.height,
        );
        self.draw_list(frame, app, v, r, " Namespaces ", top);
    }

    fn draw_list(
        &self,
        frame: &mut Frame,
        app: &Data,
        v: &View,
        area: Rect,
        title: &str,
        focus: bool,
    ) {
        let t = v.theme;
        let block = if title.contains("Switch") {
            popup::block(t, title, false)
        } else {
            panel(t, title, focus)
        };
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let filter_shown = self.filter.typing || !self.filter.text().is_empty();
        let [filter_area, list_area] = Layout::vertical([
            Constraint::Length(if filter_shown { 1 } else { 0 }),
            Constraint::Min(0),
        ])
        .areas(inner);
        if filter_shown {
            let cursor = if self.filter.typing { "▏" } else { "" };
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled(" / ", t.title()),
                    Span::styled(
                        format!("{}{cursor}", safe(self.filter.text())),
                        t.fg(t.orange),
                    ),
                ])),
                filter_area,
            );
        }
        let dir = safe(&app.dir.display().to_string()).into_owned();
        let empty = |lines: Vec<Line<'static>>| Paragraph::new(lines).wrap(Wrap { trim: false });
        match &app.listing {
            Listing::Loading => {
                frame.render_widget(empty(vec![Line::styled(" reading…", t.muted())]), list_area);
            }
            Listing::Missing | Listing::Error(_) | Listing::Found(_)
                if visible(app, &self.filter).is_empty() =>
            {
                let first = match &app.listing {
                    Listing::Missing => Line::styled(
                        format!(" The state directory {dir} does not exist."),
                        t.fg(t.orange),
                    ),
                    Listing::Error(e) => Line::styled(format!(" {}", safe(e)), t.error()),
                    _ if !self.filter.text().is_empty() => Line::styled(
                        format!(" No namespace matches \"{}\".", safe(self.filter.text())),
                        t.fg(t.orange),
                    ),
                    _ => Line::styled(format!(" No namespaces in {dir}."), t.fg(t.orange)),
                };
                // Namespaces exist, the filter hides them all: no "how to get namespaces" help.
                let filtered_out = matches!(&app.listing, Listing::Found(l) if !l.is_empty());
                let lines = if filtered_out {
                    vec![
                        first,
                        Line::raw(""),
                        Line::from(vec![
                            Span::styled(" ", t.fg(t.text)),
                            Span::styled("Esc", t.title()),
                            Span::styled(" clears the filter.", t.fg(t.text)),
                        ]),
                    ]
                } else {
                    vec![
                        first,
                        Line::raw(""),
                        Line::styled(
                            " State files appear there while `dynamo serve` runs a graph with a local planner",
                            t.fg(t.text),
                        ),
                        Line::styled(
                            " (Planner environment: local); the directory is $DYN_LOCAL_STATE_DIR, else ~/.dynamo/state.",
                            t.fg(t.text),
                        ),
                        Line::raw(""),
                        Line::styled(
                            " Dynamo 1.x keeps no state file: its namespaces come from discovery. Point at it with",
                            t.fg(t.text),
                        ),
                        Line::from(vec![
                            Span::styled(" ", t.fg(t.text)),
                            Span::styled("--etcd-endpoints URL", t.title()),
                            Span::styled(" ($ETCD_ENDPOINTS) or ", t.fg(t.text)),
                            Span::styled("--file-kv DIR", t.title()),
                            Span::styled(" ($DYN_FILE_KV), and at its load with ", t.fg(t.text)),
                            Span::styled("--prometheus URL", t.title()),
                            Span::styled(".", t.fg(t.text)),
                        ]),
                        Line::raw(""),
                        Line::from(vec![
                            Span::styled(" Try ", t.fg(t.text)),
                            Span::styled("dynamo-ctl --demo", t.title()),
                            Span::styled(" for sample namespaces, or ", t.fg(t.text)),
                            Span::styled("--state-dir DIR", t.title()),
                            Span::styled(". This screen follows the directory live.", t.fg(t.text)),
                        ]),
                    ]
                };
                frame.render_widget(empty(lines), list_area);
            }
            _ => {
                let visible = visible(app, &self.filter);
                let col = name_column(&visible, list_area.width);
                let items: Vec<ListItem> = visible
                    .into_iter()
                    .map(|ns| ns_item(t, app, ns, list_area.width, col))
                    .collect();
                let sel_style = t.selected();
                let list = List::new(items)
                    .highlight_symbol("▶ ")
                    .highlight_spacing(HighlightSpacing::Always)
                    .highlight_style(sel_style);
                let mut st = ListState::default().with_selected(self.cursor.selected());
                frame.render_stateful_widget(list, list_area, &mut st);
            }
        }
    }
}

impl Panel for Picker {
    fn input_ref(&self) -> Option<&TextInput> {
        self.filter.active()
    }

    fn input(&mut self) -> Option<&mut TextInput> {
        self.filter.input()
    }

    fn on_input(&mut self, out: InputOutcome, d: &Data) -> Vec<Outcome> {
        let submit = matches!(out, InputOutcome::Submit(_));
        self.filter.on_input(&out);
        self.sync(d);
        if submit {
            return self.open(d);
        }
        Vec::new()
    }

    fn on_data(&mut self, d: &Data) -> Vec<Outcome> {
        self.sync(d);
        Vec::new()
    }

    fn notice(&self, _d: &Data) -> Option<String> {
        self.filter.typing.then(|| "typing filters".to_string())
    }

    fn on_cmd(&mut self, cmd: Cmd, d: &Data) -> Vec<Outcome> {
        if let Some(nav) = keys::nav(cmd) {
            let n = visible(d, &self.filter).len();
            self.cursor.apply(nav, n);
            self.sync(d);
            return Vec::new();
        }
        match cmd {
            Cmd::Filter => self.filter.start(),
            Cmd::Close if self.filter.typing || !self.filter.text().is_empty() => {
                self.filter.clear();
                self.sync(d);
            }
            Cmd::Close if self.popup => return vec![Outcome::Pop],
            Cmd::Open => return self.open(d),
            Cmd::Copy => {
                let list = visible(d, &self.filter);
                if let Some(ns) = self.cursor.selected().and_then(|i| list.get(i)) {
                    return super::copy("namespace name", ns.name.clone());
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, d: &Data, v: &View, top: bool) {
        if self.popup {
            let r = centered(
                area,
                area.width.saturating_sub(8).min(100),
                area.height * 4 / 5,
            );
            frame.render_widget(Clear, r);
            self.draw_list(frame, d, v, r, " Switch namespace ", top);
        } else {
            self.draw_screen(frame, d, v, area, top);
        }
    }
}

/// `s` in at most `w` columns: cut with an ellipsis, else padded.
fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n > w {
        let mut cut: String = s.chars().take(w.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

/// The picker's name column: 16 wide, or as wide as the longest name up to a third of the
/// row; a longer name is cut with an ellipsis, never pushing the next column.
fn name_column(names: &[&NsInfo], width: u16) -> usize {
    let longest = names
        .iter()
        .map(|n| safe(&n.name).chars().count())
        .max()
        .unwrap_or(0);
    longest.clamp(16, (width as usize / 3).max(16))
}

fn ns_item<'a>(t: &Theme, app: &Data, ns: &'a NsInfo, width: u16, col: usize) -> ListItem<'a> {
    let when = format!("modified {}", age(app.now, ns.modified));
    let name = fit(&safe(&ns.name), col);
    match &ns.brief {
        Ok(b) => {
            let head = format!("{name} GPUs {}/{}", b.gpus_used, b.gpus_total);
            let pad = (width as usize)
                .saturating_sub(2 + head.chars().count() + when.chars().count() + 1)
                .max(2);
            let counts: Vec<Span> = b
                .counts
                .iter()
                .enumerate()
                .flat_map(|(i, (ty, n))| {
                    // Green is for what a source confirmed (discovery's live counts); a
                    // state file's counts are what should run: plain text.
                    let c = match (*n, ns.discovery_only) {
                        (0, _) => t.muted(),
                        (_, true) => t.fg(t.green),
                        (_, false) => t.fg(t.text),
                    };
                    [
                        Span::styled(if i == 0 { "  " } else { " · " }, t.muted()),
                        Span::styled(safe(ty).into_owned(), t.fg(t.text)),
                        Span::styled(format!(" {n}"), c),
                    ]
                })
                .collect();
            // Where it comes from, and how many instances are registered.
            let from = ns.sources.join("+");
            let (what, when) = if ns.discovery_only {
                (
                    Span::styled(format!(" discovery only ({from})"), t.fg(t.magenta)),
                    String::new(),
                )
            } else {
                (
                    Span::styled(
                        format!(" GPUs {}/{}", b.gpus_used, b.gpus_total),
                        t.fg(t.magenta),
                    ),
                    when,
                )
            };
            let live = match ns.live {
                Some(n) if !ns.discovery_only => format!("  live {n} ({from})"),
                Some(n) => format!("  live {n}"),
                None => String::new(),
            };
            // Green only when discovery has at least what the file says runs; fewer is
            // orange, as on the dashboard.
            let desired: usize = b.counts.iter().map(|(_, n)| *n).sum();
            let live_style = match ns.live {
                Some(n) if !ns.discovery_only && n < desired => t.fg(t.orange),
                Some(0) => t.muted(),
                _ => t.fg(t.green),
            };
            ListItem::new(vec![
                Line::from(vec![
                    Span::styled(name, t.title()),
                    what,
                    Span::styled(live, live_style),
                    Span::raw(" ".repeat(pad)),
                    Span::styled(when, t.muted()),
                ]),
                Line::from(counts),
            ])
        }
        Err(e) => ListItem::new(vec![
            Line::from(vec![
                Span::styled(name, t.error()),
                Span::styled(" ✖ broken, cannot be opened", t.error()),
                Span::raw("  "),
                Span::styled(when, t.muted()),
            ]),
            Line::styled(
                format!(
                    "  {}",
                    safe(
                        e.strip_prefix(&format!("{}: ", ns.path.display()))
                            .unwrap_or(e)
                    )
                ),
                t.fg(t.red),
            ),
        ]),
    }
}
