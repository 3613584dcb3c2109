//! The view: draws an [`App`] into a frame. Reads nothing but the App (no I/O, no clock).

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, BorderType, Borders, Cell, Clear, HighlightSpacing, List, ListItem, ListState,
    Paragraph, Row, Table, TableState, Wrap,
};

mod instances;
mod live;
mod load;

use super::app::{
    App, ArbiterStatus, ConfirmKind, HISTORY, Listing, NsInfo, Op, Panel, Popup, Route, Severity,
    age,
};
use super::keys::{self, Scope};
use super::theme::Theme;
use crate::text::safe;

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
    // The status message wraps onto as many rows as it needs, up to a quarter of the screen.
    let status = status_rows(app, v, area.width, (area.height / 4).max(1) as usize);
    let [body, footer] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1 + status.len().max(1) as u16),
    ])
    .areas(area);
    let under_popup = !app.popups.is_empty();
    match &app.current {
        Some(_) => draw_dashboard(frame, app, v, body, !under_popup),
        None => draw_picker_screen(frame, app, v, body),
    }
    draw_footer(frame, app, v, footer, status);
    // Popups, bottom to top, each dimming what is behind it.
    let n = app.popups.len();
    for (i, p) in app.popups.iter().enumerate() {
        let top = i + 1 == n;
        frame
            .buffer_mut()
            .set_style(body, Style::new().add_modifier(Modifier::DIM));
        match p {
            Popup::Picker => {
                let r = centered(
                    body,
                    body.width.saturating_sub(8).min(100),
                    body.height * 4 / 5,
                );
                frame.render_widget(Clear, r);
                draw_picker_list(frame, app, v, r, " Switch namespace ", top);
            }
            Popup::Choose {
                op,
                types,
                selected,
            } => draw_choose(frame, app, v, body, *op, types, *selected, top),
            Popup::Confirm {
                intent,
                question,
                warning,
                note,
                ok_focused,
                kind,
            } => draw_confirm(
                frame,
                v,
                body,
                match (intent.op, kind) {
                    (_, ConfirmKind::Infra | ConfirmKind::Kill) => " Confirm ",
                    (Op::Scale(_), _) => " Confirm scale ",
                    (Op::Remove, _) => " Confirm removal ",
                    (Op::Add, _) => " Confirm add ",
                },
                *kind != ConfirmKind::Change
                    || intent
                        .plan
                        .iter()
                        .any(|c| matches!(c, crate::state::Change::Removed { .. })),
                question,
                warning.as_deref(),
                note.as_deref(),
                matches!(intent.route, Route::FileOnly(_)) && *kind == ConfirmKind::Change,
                *ok_focused,
            ),
            Popup::Help { scroll } => draw_help(frame, app, v, body, *scroll),
            Popup::ScaleInput { ty, input } => draw_scale_input(frame, app, v, body, ty, input),
            Popup::Messages { scroll } => draw_messages(frame, app, v, body, *scroll),
            Popup::Instances {
                ty,
                selected,
                filter,
            } => instances::draw_instances(frame, app, v, body, ty, *selected, filter),
            Popup::Live { selected, filter } => {
                live::draw_live(frame, app, v, body, *selected, filter)
            }
            Popup::Metrics { name } => load::draw_metrics(frame, app, v, body, name),
            Popup::LiveEntry { ident, scroll } => {
                live::draw_live_entry(frame, app, v, body, ident, *scroll)
            }
            Popup::Entry { name, scroll } => {
                instances::draw_entry(frame, app, v, body, name, *scroll)
            }
            Popup::Command { input, hint } => draw_command(frame, v, body, input, hint.as_deref()),
        }
    }
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn panel<'a>(t: &Theme, title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
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

/// Clears `r` and draws a popup's frame there; returns the inside.
fn open_popup(frame: &mut Frame, t: &Theme, r: Rect, title: &str, danger: bool) -> Rect {
    frame.render_widget(Clear, r);
    let block = popup_block(t, title, danger);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    inner
}

fn popup_block<'a>(t: &Theme, title: &'a str, danger: bool) -> Block<'a> {
    let border = if danger { t.error() } else { t.border(true) };
    Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(border)
        .title(Span::styled(title, border))
        .style(Style::new().fg(t.text).bg(t.panel))
}

// ---------------------------------------------------------------- picker

fn draw_picker_screen(frame: &mut Frame, app: &App, v: &View, area: Rect) {
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
    draw_picker_list(frame, app, v, r, " Namespaces ", app.popups.is_empty());
}

fn draw_picker_list(frame: &mut Frame, app: &App, v: &View, area: Rect, title: &str, focus: bool) {
    let t = v.theme;
    let block = if title.contains("Switch") {
        popup_block(t, title, false)
    } else {
        panel(t, title, focus)
    };
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let filter_shown = app.picker.filtering || !app.picker.filter.is_empty();
    let [filter_area, list_area] = Layout::vertical([
        Constraint::Length(if filter_shown { 1 } else { 0 }),
        Constraint::Min(0),
    ])
    .areas(inner);
    if filter_shown {
        let cursor = if app.picker.filtering { "▏" } else { "" };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(" / ", t.title()),
                Span::styled(
                    format!("{}{cursor}", safe(&app.picker.filter)),
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
            if app.visible_namespaces().is_empty() =>
        {
            let first = match &app.listing {
                Listing::Missing => Line::styled(
                    format!(" The state directory {dir} does not exist."),
                    t.fg(t.orange),
                ),
                Listing::Error(e) => Line::styled(format!(" {}", safe(e)), t.error()),
                _ if !app.picker.filter.is_empty() => Line::styled(
                    format!(" No namespace matches \"{}\".", safe(&app.picker.filter)),
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
            let visible = app.visible_namespaces();
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
            let mut st = ListState::default().with_selected(Some(app.picker.selected));
            frame.render_stateful_widget(list, list_area, &mut st);
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

fn ns_item<'a>(t: &Theme, app: &App, ns: &'a NsInfo, width: u16, col: usize) -> ListItem<'a> {
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
                    let c = if *n == 0 { t.muted() } else { t.fg(t.green) };
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
            ListItem::new(vec![
                Line::from(vec![
                    Span::styled(name, t.title()),
                    what,
                    Span::styled(live, t.fg(t.green)),
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

// ---------------------------------------------------------------- dashboard

fn draw_dashboard(frame: &mut Frame, app: &App, v: &View, area: Rect, active: bool) {
    let t = v.theme;
    let Some(cur) = &app.current else { return };
    let s = &cur.summary;
    let header_h = if app.load.on { 5 } else { 4 };
    let [header, main] =
        Layout::vertical([Constraint::Length(header_h), Constraint::Min(3)]).areas(area);
    let hb = panel(t, Span::styled(" ◆ dynamo-ctl ", t.title()), false);
    let hi = hb.inner(header);
    frame.render_widget(hb, header);
    let endpoint = if cur.discovery_only {
        "-".to_string()
    } else {
        safe(s.circus_endpoint.as_deref().unwrap_or("none")).into_owned()
    };
    let (arb_text, arb_style) = match &app.arbiter {
        _ if cur.discovery_only => ("(no state file)".to_string(), t.muted()),
        ArbiterStatus::Unknown => ("asking…".to_string(), t.muted()),
        ArbiterStatus::NoEndpoint => ("none: file only".to_string(), t.fg(t.orange)),
        ArbiterStatus::FileOnly(why) => (format!("file only ({why})"), t.fg(t.orange)),
        ArbiterStatus::Online { watchers, .. } => (
            format!("online ({} watchers)", watchers.len()),
            t.fg(t.green),
        ),
        ArbiterStatus::Offline { reason, .. } => (format!("offline: {}", safe(reason)), t.error()),
    };
    let readonly = match (app.readonly, app.paused) {
        (true, true) => Span::styled("  [read-only] [PAUSED: p resumes]", t.fg(t.orange)),
        (true, false) => Span::styled("  [read-only]", t.fg(t.orange)),
        (false, true) => Span::styled("  [PAUSED: p resumes]", t.fg(t.orange)),
        (false, false) => Span::raw(""),
    };
    // The live indicator: following the file, and when it was last read.
    let live = match (&app.last_refresh, app.paused) {
        (_, true) => Span::raw(""),
        (Some(at), false) => Span::styled(format!("   ● live, read {at}"), t.fg(t.green)),
        (None, false) => Span::styled("   ● live", t.fg(t.green)),
    };
    frame.render_widget(
        Paragraph::new(
            vec![
                Line::from(vec![
                    Span::styled("namespace ", t.muted()),
                    Span::styled(safe(&cur.name).into_owned(), t.title()),
                    Span::styled("   file ", t.muted()),
                    Span::styled(
                        if cur.discovery_only {
                            "- (discovery only)".to_string()
                        } else {
                            safe(&cur.path.display().to_string()).into_owned()
                        },
                        t.fg(t.text),
                    ),
                    live,
                    readonly,
                ]),
                Line::from(vec![
                    Span::styled("circus ", t.muted()),
                    Span::styled(endpoint, t.fg(t.magenta)),
                    Span::raw(" "),
                    Span::styled(arb_text, arb_style),
                    discovery_status(t, app),
                    Span::styled("   last change ", t.muted()),
                    Span::styled(age(app.now, cur.modified), t.fg(t.text)),
                    Span::styled("   GPUs ", t.muted()),
                    Span::styled(
                        format!("{}/{} used", s.gpus_used, s.gpus_total),
                        t.fg(t.green),
                    ),
                ]),
            ]
            .into_iter()
            .chain(app.load.on.then(|| load::status_line(t, app)))
            .collect::<Vec<_>>(),
        ),
        hi,
    );
    let watcher_w = watcher_width(app, s);
    let (table_a, gpu_a, json_a) = dashboard_areas(app, s, main, watcher_w);
    let load_w = load_width(app, watcher_w, table_a.width);

    // Components.
    let focused = |p: Panel| active && app.focus == p;
    let visible = app.visible_types();
    let rows: Vec<Row> = visible
        .iter()
        .map(|ty| {
            let names: Vec<Line> = ty
                .instances
                .iter()
                .map(|i| {
                    let pids = app.arbiter.pids(&i.watcher_name);
                    match (i.parked, pids.as_deref()) {
                        (true, _) => {
                            Line::styled(format!("{} (parked)", safe(&i.watcher_name)), t.muted())
                        }
                        (false, None) => Line::raw(safe(&i.watcher_name).into_owned()),
                        (false, Some([])) => Line::from(vec![
                            Span::styled("✗ ", t.error()),
                            Span::raw(safe(&i.watcher_name).into_owned()),
                            Span::styled(" not running", t.error()),
                        ]),
                        (false, Some(p)) => Line::from(vec![
                            Span::styled("● ", t.fg(t.green)),
                            Span::raw(safe(&i.watcher_name).into_owned()),
                            Span::styled(format!(" {}", crate::arbiter::ops::pids(p)), t.muted()),
                        ]),
                    }
                })
                .collect();
            let gpus: Vec<Line> = ty
                .instances
                .iter()
                .map(|i| {
                    Line::raw(if i.gpus.is_empty() {
                        "-".into()
                    } else {
                        safe(&i.gpus.join(",")).into_owned()
                    })
                })
                .collect();
            // Orange when nothing should run, or when circus runs fewer than the file wants.
            let live = ty
                .instances
                .iter()
                .filter(|i| !i.parked)
                .map(|i| app.arbiter.pids(&i.watcher_name).map(|p| !p.is_empty()))
                .collect::<Option<Vec<bool>>>()
                .map(|v| v.into_iter().filter(|b| *b).count());
            // Green: circus runs them all (or was not asked); orange: fewer run than the
            // file says (starting, or some gone); red: none of them runs.
            let run_style = match live {
                Some(0) if ty.running > 0 => t.error(),
                _ if ty.running == 0 || live.is_some_and(|l| l < ty.running) => t.fg(t.orange),
                _ => t.fg(t.green),
            };
            let dot = if ty.running == 0 { "○" } else { "●" };
            let mut cells = vec![
                Cell::from(Span::styled(safe(&ty.ty).into_owned(), t.fg(t.cyan))),
                Cell::from(Span::styled(format!("{dot} {}", ty.running), run_style)),
                Cell::from(live_cell(t, app, &cur.name, &ty.ty, Some(ty.running))),
                Cell::from(Text::from(names)),
                Cell::from(Text::from(gpus)),
            ];
            if load_w > 0 {
                cells.push(Cell::from(load::load_cell(
                    t,
                    app,
                    &cur.name,
                    &ty.ty,
                    load_w < load::LOAD_WIDTH,
                )));
            }
            Row::new(cells).height(ty.instances.len().max(1) as u16)
        })
        .collect();
    // A namespace only discovery knows: its components, live.
    let rows = if cur.discovery_only {
        discovery_rows(t, app, &cur.name, load_w)
    } else {
        rows
    };
    let unmanaged = app.arbiter.unmanaged(s);
    let mut rows = rows;
    if !unmanaged.is_empty() {
        let names: Vec<Line> = unmanaged
            .iter()
            .map(|w| {
                Line::from(vec![
                    Span::styled("! ", t.error()),
                    Span::raw(safe(&w.name).into_owned()),
                    Span::styled(
                        format!(" {}", crate::arbiter::ops::pids(&w.pids)),
                        t.muted(),
                    ),
                ])
            })
            .collect();
        let n = names.len() as u16;
        rows.push(
            Row::new(vec![
                Cell::from(Span::styled("not in file", t.error())),
                Cell::from(Span::styled(format!("! {}", unmanaged.len()), t.error())),
                Cell::from(""),
                Cell::from(Text::from(names)),
                Cell::from(""),
            ])
            .height(n),
        );
    }
    // The Live column only when a discovery source answers (a Dynamo 0.3 machine without
    // etcd sees no column of dashes).
    let show_live = cur.discovery_only || app.live.as_ref().is_some_and(|l| l.answered());
    let table = Table::new(
        rows,
        [
            Constraint::Length(14),
            Constraint::Length(5),
            Constraint::Length(if show_live { 5 } else { 0 }),
            Constraint::Fill(1),
            Constraint::Length(5),
        ]
        .into_iter()
        .chain((load_w > 0).then_some(Constraint::Length(load_w))),
    )
    .header(
        Row::new(
            [
                "Type",
                "Run",
                if show_live { "Live" } else { "" },
                "Watchers",
                "GPUs",
            ]
            .into_iter()
            .chain((load_w > 0).then_some(if load_w < load::LOAD_WIDTH {
                "   Load: req/s"
            } else {
                "    Load: req/s, p95, in flight, trend"
            })),
        )
        .style(t.muted().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(t.selected())
    .highlight_symbol("▶ ")
    .highlight_spacing(HighlightSpacing::Always)
    .block(panel(
        t,
        {
            let shown = table_a.height.saturating_sub(3);
            let lines = component_lines(app, s);
            let filter = match (app.dash_filtering, app.dash_filter.is_empty()) {
                (true, _) => format!(", filter: {}▏", safe(&app.dash_filter)),
                (false, false) => format!(", filter: {}", safe(&app.dash_filter)),
                (false, true) => String::new(),
            };
            let count = if cur.discovery_only {
                let n = app.live.as_ref().map_or(0, |l| {
                    l.namespaces()
                        .get(&cur.name)
                        .map_or(0, |n| n.components.len())
                });
                format!("{n} registered components")
            } else if visible.len() == s.types.len() {
                format!("{} types", s.types.len())
            } else {
                format!("{} of {} types", visible.len(), s.types.len())
            };
            if lines > shown {
                format!(
                    " Components ({count}{filter}, +{} more rows: j/k scroll) ",
                    lines - shown
                )
            } else {
                format!(" Components ({count}{filter}) ")
            }
        },
        focused(Panel::Components),
    ));
    let mut ts = TableState::default().with_selected(Some(app.table_selected));
    frame.render_stateful_widget(table, table_a, &mut ts);

    // GPU map, in as many columns as fit (numbered down the columns).
    let (cols, col_w) = gpu_columns(s, gpu_a.width.saturating_sub(2));
    let per_col = s.gpu_map.len().div_ceil(cols);
    let mut gpu_lines: Vec<Line> = (0..per_col).map(|_| Line::default()).collect();
    // Each holding type its own colour, with a legend in the title.
    let type_of: std::collections::HashMap<&str, &str> = s
        .types
        .iter()
        .flat_map(|ty| {
            ty.instances
                .iter()
                .map(|i| (i.watcher_name.as_str(), ty.ty.as_str()))
        })
        .collect();
    let mut legend: Vec<&str> = Vec::new();
    for g in &s.gpu_map {
        if let Some(ty) = g.holder.as_deref().and_then(|h| type_of.get(h))
            && !legend.contains(ty)
        {
            legend.push(ty);
        }
    }
    let palette = [t.magenta, t.cyan, t.orange, t.text];
    let colour = |ty: Option<&str>| {
        let i = ty
            .and_then(|ty| legend.iter().position(|l| *l == ty))
            .unwrap_or(palette.len() - 1);
        palette[i.min(palette.len() - 1)]
    };
    for (i, g) in s.gpu_map.iter().enumerate() {
        let (symbol, who, style) = match &g.holder {
            Some(h) => (
                "■ ",
                safe(h).into_owned(),
                t.fg(colour(type_of.get(h.as_str()).copied())),
            ),
            None => ("□ ", "free".to_string(), t.fg(t.green)),
        };
        let cell = format!("{symbol}{who}");
        let pad = (col_w as usize).saturating_sub(7 + cell.chars().count());
        let line = &mut gpu_lines[i % per_col];
        line.spans.push(Span::styled(
            format!("GPU {:<3}", safe(&g.id)),
            t.fg(t.text),
        ));
        line.spans.push(Span::styled(cell, style));
        line.spans.push(Span::raw(" ".repeat(pad)));
    }
    let gpu_lines = if gpu_lines.is_empty() {
        vec![Line::styled("no GPU list in the state file", t.muted())]
    } else {
        gpu_lines
    };
    frame.render_widget(
        Paragraph::new(gpu_lines)
            .scroll((app.gpu_scroll, 0))
            .block(panel(
                t,
                {
                    let mut title = vec![Span::raw(format!(
                        " GPUs {}/{} used ",
                        s.gpus_used, s.gpus_total
                    ))];
                    for ty in &legend {
                        title.push(Span::styled(
                            format!("■ {} ", safe(ty)),
                            t.fg(colour(Some(ty))),
                        ));
                    }
                    Line::from(title)
                },
                focused(Panel::Gpus),
            )),
        gpu_a,
    );

    // Raw state: wrapped (`w`) or scrolled sideways (`h`/`l`).
    let inner_h = json_a.height.saturating_sub(2) as usize;
    app.view.json_rows.set(inner_h as u16);
    let start = (app.json_scroll as usize).min(cur.json.len().saturating_sub(inner_h.max(1)));
    let end = (start + inner_h).min(cur.json.len());
    let lines: Vec<Line> = cur.json[start.min(end)..end]
        .iter()
        .map(|l| json_line(t, &safe(l)))
        .collect();
    let how = if app.json_wrap {
        " wrapped".to_string()
    } else if app.json_hscroll > 0 {
        format!(" →{}", app.json_hscroll)
    } else {
        String::new()
    };
    let para = Paragraph::new(lines);
    let para = if app.json_wrap {
        para.wrap(Wrap { trim: false })
    } else {
        para.scroll((0, app.json_hscroll))
    };
    frame.render_widget(
        para.block(panel(
            t,
            format!(
                " State {} lines {}-{}/{}{how} ",
                safe(&cur.name),
                start + 1,
                end,
                cur.json.len()
            ),
            focused(Panel::Json),
        )),
        json_a,
    );
}

/// "   discovery etcd ● file ✗": each discovery source's health (nothing when none is on).
fn discovery_status<'a>(t: &Theme, app: &App) -> Span<'a> {
    let Some(snap) = &app.live else {
        return Span::raw("");
    };
    let parts: Vec<String> = snap
        .sources
        .iter()
        .map(|s| {
            if s.ok() {
                format!("{} ●", s.kind.as_str())
            } else {
                format!("{} ✗", s.kind.as_str())
            }
        })
        .collect();
    if parts.is_empty() {
        return Span::raw("");
    }
    let style = if snap.sources.iter().all(|s| s.ok()) {
        t.fg(t.green)
    } else {
        t.fg(t.orange)
    };
    Span::styled(format!("   discovery {}", parts.join(" ")), style)
}

/// Registered instances of a type (discovery), against what the file wants: green when
/// they agree, orange while fewer are registered (starting, or gone), red when more are
/// (unmanaged); "-" when no discovery source answered.
fn live_cell<'a>(t: &Theme, app: &App, ns: &str, ty: &str, desired: Option<usize>) -> Span<'a> {
    let Some(live) = app.live.as_ref().and_then(|s| s.live_for_type(ns, ty)) else {
        return Span::styled("-", t.muted());
    };
    match desired {
        Some(d) if live < d => Span::styled(format!("{live}…"), t.fg(t.orange)),
        Some(d) if live > d => Span::styled(format!("{live}+"), t.error()),
        _ => Span::styled(live.to_string(), t.fg(t.green)),
    }
}

/// A discovery-only namespace's rows: each registered component, its live count, and its
/// instances (endpoint, id in hex, stale marks).
fn discovery_rows<'a>(t: &Theme, app: &App, ns: &str, load_w: u16) -> Vec<Row<'a>> {
    let Some(snap) = &app.live else {
        return vec![];
    };
    let mut by_comp: std::collections::BTreeMap<&str, Vec<&crate::discovery::Instance>> =
        Default::default();
    for i in snap.of_namespace(ns) {
        by_comp.entry(i.component.as_str()).or_default().push(i);
    }
    by_comp
        .into_iter()
        .map(|(comp, insts)| {
            let lines: Vec<Line> = insts
                .iter()
                .map(|i| {
                    let mut spans = vec![
                        Span::styled(format!("{} ", safe(&i.endpoint)), t.fg(t.text)),
                        Span::styled(i.instance_id_hex(), t.fg(t.magenta)),
                        Span::styled(format!(" {}", i.source.as_str()), t.muted()),
                    ];
                    if i.stale {
                        spans.push(Span::styled(" stale", t.fg(t.orange)));
                    }
                    Line::from(spans)
                })
                .collect();
            let n = lines.len().max(1) as u16;
            let mut cells = vec![
                Cell::from(Span::styled(safe(comp).into_owned(), t.fg(t.cyan))),
                Cell::from(Span::styled("-", t.muted())),
                Cell::from(live_cell(t, app, ns, comp, None)),
                Cell::from(Text::from(lines)),
                Cell::from("-"),
            ];
            if load_w > 0 {
                cells.push(Cell::from(load::load_cell(
                    t,
                    app,
                    ns,
                    comp,
                    load_w < load::LOAD_WIDTH,
                )));
            }
            Row::new(cells).height(n)
        })
        .collect()
}

/// The rows the Components table needs: one per instance (at least one per type), plus
/// one for the watchers circus runs that the file lacks.
fn component_lines(app: &App, s: &crate::state::Summary) -> u16 {
    if let Some(cur) = app.current.as_ref().filter(|c| c.discovery_only) {
        let n = app
            .live
            .as_ref()
            .map_or(0, |l| l.of_namespace(&cur.name).count());
        return n.min(u16::MAX as usize / 2) as u16;
    }
    let lines: usize = s.types.iter().map(|t| t.instances.len().max(1)).sum();
    let unmanaged = app.arbiter.unmanaged(s).len();
    (lines + unmanaged).min(u16::MAX as usize / 2) as u16
}

/// The width the Watchers column wants: the longest watcher with its marks and pids, or
/// on a discovery-only dashboard an instance line (endpoint, id in hex, source).
fn watcher_width(app: &App, s: &crate::state::Summary) -> u16 {
    if app.current.as_ref().is_some_and(|c| c.discovery_only) {
        app.live
            .iter()
            .flat_map(|l| l.instances.iter())
            .map(|i| (i.endpoint.chars().count() + 16 + 6 + 6) as u16)
            .max()
            .unwrap_or(20)
            .min(80)
    } else {
        s.types
            .iter()
            .flat_map(|t| t.instances.iter())
            .map(|i| i.watcher_name.chars().count() as u16 + 14) // marks, pids
            .max()
            .unwrap_or(20)
    }
    .max(20)
}

/// The Live column with its gap (1 when it is hidden).
fn live_width(app: &App) -> u16 {
    if app.current.as_ref().is_some_and(|c| c.discovery_only)
        || app.live.as_ref().is_some_and(|l| l.answered())
    {
        6
    } else {
        1
    }
}

/// The Load column's width in a table `width` wide: the full one when the watchers still
/// fit beside it, a compact one (req/s and the sparkline) when that fits, else none.
fn load_width(app: &App, watcher_w: u16, width: u16) -> u16 {
    if !app.load.on {
        return 0;
    }
    // Type, Run, Live, GPUs, gaps, borders and the selection mark (as dashboard_areas).
    let rest = width.saturating_sub(14 + 5 + live_width(app) + 5 + 10);
    if rest > watcher_w + load::LOAD_WIDTH {
        load::LOAD_WIDTH
    } else if rest >= 24 + load::COMPACT_WIDTH {
        // The watchers keep 24 columns: a name like dynamo_PrefillWorker_1 fits.
        load::COMPACT_WIDTH
    } else {
        0
    }
}

/// Where the Components table, the GPU map and the State panel go. Priorities when space is
/// short: the Components table first (all its rows, up to the space), then the GPU map, then
/// the State panel. Wide terminals put the State panel beside the other two and give the
/// Components table the width it needs, not more.
fn dashboard_areas(
    app: &App,
    s: &crate::state::Summary,
    main: Rect,
    watcher_w: u16,
) -> (Rect, Rect, Rect) {
    let comp_need = component_lines(app, s) + 3; // borders and the header row
    let live_w = live_width(app);
    let load_w = if app.load.on { load::LOAD_WIDTH + 1 } else { 0 };
    let table_w = 14 + 5 + live_w + watcher_w + 5 + load_w + 10; // columns, gaps, borders, mark
    let gpu_need = |width: u16| {
        let cols = gpu_columns(s, width.saturating_sub(2)).0.max(1);
        s.gpu_map.len().div_ceil(cols).max(1) as u16 + 2
    };
    // Splits `h` rows between the table, the GPU map and (when `with_state`) the State
    // panel, in that order of priority; a panel gets at least 3 rows or none.
    let split = |h: u16, width: u16, with_state: bool| -> (u16, u16, u16) {
        let table = comp_need.min(h);
        let mut rest = h - table;
        let mut gpu = gpu_need(width).min(rest);
        if gpu < 3 {
            gpu = 0;
        }
        rest -= gpu;
        let state = if with_state && rest >= 3 { rest } else { 0 };
        let spare = rest - state;
        // Spare rows (no State panel here, or too few for one) go to the GPU map, else
        // to the table.
        if gpu > 0 {
            (table, gpu + spare, state)
        } else {
            (table + spare, 0, state)
        }
    };
    if main.width >= 100 {
        // With the Load column the table may take four fifths.
        let most = if app.load.on { 80 } else { 64 };
        let left_w = table_w.clamp(main.width * 2 / 5, main.width * most / 100);
        let [left, right] =
            Layout::horizontal([Constraint::Length(left_w), Constraint::Fill(1)]).areas(main);
        // Beside the State panel: the GPU map as tall as it needs, the table the rest.
        let (t, g, _) = split(left.height, left.width, false);
        let g = g.min(gpu_need(left.width));
        let [a, b] = Layout::vertical([Constraint::Length(left.height - g), Constraint::Length(g)])
            .areas(left);
        let _ = t;
        (a, b, right)
    } else {
        let (t, g, st) = split(main.height, main.width, true);
        let [a, b, c] = Layout::vertical([
            Constraint::Length(t),
            Constraint::Length(g),
            Constraint::Length(st),
        ])
        .areas(main);
        (a, b, c)
    }
}

/// How many GPU columns fit in `width`, and the width of each.
fn gpu_columns(s: &crate::state::Summary, width: u16) -> (usize, u16) {
    let longest = s
        .gpu_map
        .iter()
        .map(|g| 7 + 2 + g.holder.as_ref().map_or(4, |h| safe(h).chars().count()))
        .max()
        .unwrap_or(10) as u16
        + 2;
    let cols = (width / longest.max(1)).max(1) as usize;
    (cols.min(s.gpu_map.len().max(1)), longest)
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

// ---------------------------------------------------------------- footer

fn draw_footer(frame: &mut Frame, app: &App, v: &View, area: Rect, status: Vec<Line<'static>>) {
    let t = v.theme;
    let mut hints: Vec<Span> = Vec::new();
    let scope = app.scope();
    if scope == Scope::Picker && app.picker.filtering {
        hints.push(Span::styled("typing filters  ", t.fg(t.orange)));
        hints.push(Span::styled("[Esc]", t.title()));
        hints.push(Span::styled(" clear  ", t.fg(t.text)));
    }
    // Why keys are missing comes first: on a narrow terminal the hints are what is cut.
    if app.readonly {
        hints.push(Span::styled("read-only  ", t.fg(t.orange)));
    } else if app.current.as_ref().is_some_and(|c| c.discovery_only) && scope == Scope::Dashboard {
        hints.push(Span::styled(
            "no state file: nothing to scale  ",
            t.fg(t.orange),
        ));
    }
    for (label, hint) in keys::footer(scope, app.keys_readonly()) {
        hints.push(Span::styled(format!("[{label}]"), t.title()));
        hints.push(Span::styled(format!(" {hint}  "), t.fg(t.text)));
    }
    let bg = Style::new().bg(t.panel).fg(t.text);
    let mut lines = vec![Line::from(hints)];
    lines.extend(status);
    frame.render_widget(Paragraph::new(lines).style(bg), area);
}

/// The spinner and the status message as footer rows of at most `width` cells: a long
/// message wraps instead of being cut; only beyond `max_rows` rows is it shortened, and
/// then the last row ends with "…".
fn status_rows(app: &App, v: &View, width: u16, max_rows: usize) -> Vec<Line<'static>> {
    let t = v.theme;
    let mut pieces: Vec<(String, Style)> = Vec::new();
    if app.busy() || app.following().is_some() {
        pieces.push((
            format!("{} ", SPINNER[v.spin % SPINNER.len()]),
            t.fg(t.cyan),
        ));
    }
    if let Some(st) = &app.status {
        let (icon, style) = match st.severity {
            Severity::Info => ("•", t.fg(t.text)),
            Severity::Ok => ("✔", t.fg(t.green)),
            Severity::Warn => ("▲", t.fg(t.orange)),
            Severity::Error => ("✖", t.error()),
        };
        pieces.push((format!("{} ", st.at), t.muted()));
        pieces.push((format!("{icon} {}", safe(&st.text)), style));
    }
    let width = width.max(1) as usize;
    // (char, style, cells) per row.
    let mut rows: Vec<Vec<(char, Style, usize)>> = vec![Vec::new()];
    let mut used = 0;
    for (text, style) in &pieces {
        for c in text.chars() {
            let w = Span::raw(c.to_string()).width();
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
                if cur_style.is_some_and(|s| s != style) {
                    spans.push(Span::styled(std::mem::take(&mut cur), cur_style.unwrap()));
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

// ---------------------------------------------------------------- popups

#[allow(clippy::too_many_arguments)]
fn draw_choose(
    frame: &mut Frame,
    app: &App,
    v: &View,
    area: Rect,
    op: Op,
    types: &[String],
    selected: Option<usize>,
    _top: bool,
) {
    let t = v.theme;
    let title = match op {
        Op::Add => " Add which type? ",
        Op::Remove | Op::Scale(_) => " Remove which type? ",
    };
    let inner = open_popup(
        frame,
        t,
        centered(area, 46, types.len() as u16 + 4),
        title,
        false,
    );
    let running = |ty: &str| app.current.as_ref().map_or(0, |c| c.summary.running(ty));
    let items: Vec<ListItem> = types
        .iter()
        .map(|ty| {
            ListItem::new(Line::from(vec![
                Span::styled(format!("{:<18}", safe(ty)), t.fg(t.cyan)),
                Span::styled(format!("{} running", running(ty)), t.muted()),
            ]))
        })
        .collect();
    let [list_a, help_a] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let mut st = ListState::default().with_selected(selected);
    frame.render_stateful_widget(
        List::new(items)
            .highlight_symbol("▶ ")
            .highlight_spacing(HighlightSpacing::Always)
            .highlight_style(t.selected()),
        list_a,
        &mut st,
    );
    frame.render_widget(
        Paragraph::new(Line::styled("Enter choose · Esc back", t.muted()))
            .alignment(Alignment::Center),
        help_a,
    );
}

#[allow(clippy::too_many_arguments)]
fn draw_confirm(
    frame: &mut Frame,
    v: &View,
    area: Rect,
    title: &'static str,
    danger: bool,
    question: &str,
    warning: Option<&str>,
    note: Option<&str>,
    file_only: bool,
    ok_focused: bool,
) {
    let t = v.theme;
    let w = 66u16.min(area.width);
    let text_w = w.saturating_sub(4).max(1) as usize;
    let q_lines = question.chars().count().div_ceil(text_w) as u16;
    let w_lines = warning.map_or(0, |s| s.chars().count().div_ceil(text_w) as u16 + 1);
    let n_lines = note.map_or(0, |s| s.chars().count().div_ceil(text_w) as u16 + 1);
    let inner = open_popup(
        frame,
        t,
        centered(area, w, q_lines + w_lines + n_lines + 6),
        title,
        danger,
    );
    let mut lines = vec![
        Line::raw(""),
        Line::styled(safe(question).into_owned(), t.fg(t.text)),
    ];
    if let Some(w) = warning {
        lines.push(Line::raw(""));
        lines.push(Line::styled(safe(w).into_owned(), t.error()));
    }
    if let Some(n) = note {
        lines.push(Line::raw(""));
        let style = if file_only {
            t.fg(t.orange)
        } else {
            t.fg(t.cyan)
        };
        lines.push(Line::styled(safe(n).into_owned(), style));
    }
    let [text_a, buttons_a] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(inner);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .alignment(Alignment::Center),
        text_a.inner(ratatui::layout::Margin::new(1, 0)),
    );
    let button = |label: &'static str, focused: bool, danger: bool| {
        if focused {
            let st = if danger && t.colored() {
                Style::new().fg(t.bg).bg(t.red).add_modifier(Modifier::BOLD)
            } else {
                t.selected()
            };
            Span::styled(format!("▶[{label}]"), st)
        } else {
            Span::styled(format!(" [{label}]"), t.fg(t.text))
        }
    };
    frame.render_widget(
        Paragraph::new(vec![Line::from(vec![
            button("OK", ok_focused, danger),
            Span::raw("    "),
            button("Cancel", !ok_focused, false),
        ])])
        .alignment(Alignment::Center),
        buttons_a,
    );
}

/// `:`: the command bar, at the bottom of the screen, with Tab's choices under it.
fn draw_command(frame: &mut Frame, v: &View, area: Rect, input: &str, hint: Option<&str>) {
    let t = v.theme;
    let h = if hint.is_some() { 4 } else { 3 };
    let r = Rect {
        x: area.x,
        y: area.y + area.height.saturating_sub(h),
        width: area.width,
        height: h.min(area.height),
    };
    frame.render_widget(Clear, r);
    let block = popup_block(
        t,
        " Command (Tab completes, Enter runs, Esc closes) ",
        false,
    );
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let mut lines = vec![Line::from(vec![
        Span::styled(":", t.fg(t.magenta)),
        Span::styled(format!("{}▏", safe(input)), t.fg(t.text)),
    ])];
    if let Some(hint) = hint {
        lines.push(Line::styled(safe(hint).into_owned(), t.muted()));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `s`: the count to scale the selected type to.
fn draw_scale_input(frame: &mut Frame, app: &App, v: &View, area: Rect, ty: &str, input: &str) {
    let t = v.theme;
    let running = app.current.as_ref().map_or(0, |c| c.summary.running(ty));
    let inner = open_popup(
        frame,
        t,
        centered(area, 46u16.min(area.width), 7),
        " Scale ",
        false,
    );
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw(""),
            Line::from(vec![
                Span::styled(format!("{} ", safe(ty)), t.fg(t.cyan)),
                Span::styled(format!("({running} running) to: "), t.fg(t.text)),
                Span::styled(format!("{input}▏"), t.selected()),
            ]),
            Line::raw(""),
            Line::styled("Enter shows the plan; Esc cancels", t.muted()),
        ])
        .alignment(Alignment::Center),
        inner,
    );
}

/// `M`: the last status messages, newest at the bottom; `scroll` counts back from it.
fn draw_messages(frame: &mut Frame, app: &App, v: &View, area: Rect, scroll: u16) {
    let t = v.theme;
    let title = format!(" Messages ({} of the last {}) ", app.history.len(), HISTORY);
    let inner = open_popup(
        frame,
        t,
        centered(
            area,
            area.width.saturating_sub(4).min(110),
            area.height.saturating_sub(2),
        ),
        &title,
        false,
    );
    let lines: Vec<Line> = app
        .history
        .iter()
        .map(|m| {
            let style = match m.severity {
                Severity::Info => t.fg(t.text),
                Severity::Ok => t.fg(t.green),
                Severity::Warn => t.fg(t.orange),
                Severity::Error => t.error(),
            };
            Line::from(vec![
                Span::styled(format!("{} ", m.at), t.muted()),
                Span::styled(safe(&m.text).into_owned(), style),
            ])
        })
        .collect();
    let lines = if lines.is_empty() {
        vec![Line::styled("no messages yet", t.muted())]
    } else {
        lines
    };
    // Wrapped, the newest line at the bottom unless scrolled back.
    let w = inner.width.max(1) as usize;
    let total: usize = lines.iter().map(|l| l.width().div_ceil(w).max(1)).sum();
    let total = total.min(u16::MAX as usize) as u16;
    let para = Paragraph::new(lines).wrap(Wrap { trim: false });
    let top = total.saturating_sub(inner.height).saturating_sub(scroll);
    frame.render_widget(para.scroll((top, 0)), inner);
}

fn draw_help(frame: &mut Frame, app: &App, v: &View, area: Rect, scroll: u16) {
    let t = v.theme;
    let inner = open_popup(
        frame,
        t,
        centered(
            area,
            area.width.saturating_sub(4).min(100),
            area.height.saturating_sub(2),
        ),
        " Help: keys ",
        false,
    );
    let sections = keys::help(app.readonly);
    let section_lines = |secs: &[(Scope, Vec<(&'static str, &'static str)>)]| {
        let mut lines: Vec<Line> = Vec::new();
        for (scope, rows) in secs {
            lines.push(Line::styled(scope.title().to_string(), t.title()));
            for (label, desc) in rows {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {label:<10}"), t.fg(t.magenta)),
                    Span::styled(desc.to_string(), t.fg(t.text)),
                ]));
            }
        }
        lines
    };
    let [body, note] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(if app.readonly { 1 } else { 0 }),
    ])
    .areas(inner);
    if app.readonly {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "read-only: the add and remove keys are off",
                t.fg(t.orange),
            )),
            note,
        );
    }
    // Two columns when there is room, split where they come out most even (sections stay
    // whole). The scroll stops when the longer column's end is in view.
    let rows = |secs: &[(Scope, Vec<(&'static str, &'static str)>)]| -> u16 {
        secs.iter().map(|(_, r)| r.len() as u16 + 1).sum()
    };
    if body.width >= 80 {
        let split = (0..=sections.len())
            .min_by_key(|&i| rows(&sections[..i]).max(rows(&sections[i..])))
            .unwrap_or(sections.len());
        let longest = rows(&sections[..split]).max(rows(&sections[split..]));
        let max = longest.saturating_sub(body.height);
        app.view.help_max.set(Some(max));
        let scroll = scroll.min(max);
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(body);
        frame.render_widget(
            Paragraph::new(section_lines(&sections[..split])).scroll((scroll, 0)),
            left,
        );
        frame.render_widget(
            Paragraph::new(section_lines(&sections[split..])).scroll((scroll, 0)),
            right,
        );
    } else {
        let max = rows(&sections).saturating_sub(body.height);
        app.view.help_max.set(Some(max));
        let scroll = scroll.min(max);
        frame.render_widget(
            Paragraph::new(section_lines(&sections)).scroll((scroll, 0)),
            body,
        );
    }
}
