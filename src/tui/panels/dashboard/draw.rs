//! The dashboard's drawing: the header (namespace, file, circus, discovery, load), the
//! component table, the GPU map and the raw state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, HighlightSpacing, Paragraph, Row, Table, TableState, Wrap};

use super::layout::*;
use super::live::*;
use super::rows::{component_row, type_row};
use super::{Dashboard, Focus};
use crate::text::safe;
use crate::tui::data::{ArbiterStatus, Data, age};
use crate::tui::ui::{View, json_line, panel};

impl Dashboard {
    pub(super) fn draw_all(
        &self,
        frame: &mut Frame,
        app: &Data,
        v: &View,
        area: Rect,
        active: bool,
    ) {
        let t = v.theme;
        let Some(cur) = &app.current else { return };
        let s = &cur.summary;
        let planner = planner_line(t, app, &cur.name, cur.discovery_only);
        let failures = crate::tui::ui::load::failure_line(t, app);
        let header_h = 4
            + u16::from(app.load.on)
            + u16::from(planner.is_some())
            + u16::from(failures.is_some());
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
            ArbiterStatus::Offline { reason, .. } => {
                (format!("offline: {}", safe(reason)), t.error())
            }
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
                    // A discovery-only namespace has no file, circus or GPU list: its
                    // line is discovery's.
                    if cur.discovery_only {
                        Line::from(vec![
                            Span::styled(
                                "discovery only: no state file, so no circus or GPU list",
                                t.muted(),
                            ),
                            discovery_status(t, app),
                        ])
                    } else {
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
                        ])
                    },
                ]
                .into_iter()
                .chain(planner)
                .chain(
                    app.load
                        .on
                        .then(|| crate::tui::ui::load::status_line(t, app)),
                )
                .chain(failures)
                .collect::<Vec<_>>(),
            ),
            hi,
        );
        let watcher_w = watcher_width(app);
        let (table_a, gpu_a, json_a) = dashboard_areas(app, s, main, watcher_w);
        let load_w = load_width(app, watcher_w, table_a.width);

        // Components: only the rows in view are built (a state of 200,000 types draws a
        // screenful, not all of them).
        let focused = |p: Focus| active && self.focus == p;
        let visible = self.visible(app);
        let r = &app.rows;
        let height = |i: usize| {
            if r.discovery_only {
                r.components.get(i).map_or(1, |c| c.height())
            } else {
                r.types.get(i).map_or(1, |t| t.height())
            }
        };
        let selected = self.cursor.index().min(visible.len().saturating_sub(1));
        let inner = table_a.height.saturating_sub(3) as usize;
        let first = crate::rows::first_in_view(visible.iter().map(|&i| height(i)), selected, inner);
        let mut shown = 0usize;
        let window: Vec<usize> = visible[first.min(visible.len())..]
            .iter()
            .copied()
            .take_while(|&i| {
                let fits = shown <= inner;
                shown += height(i);
                fits
            })
            .collect();
        let mut rows: Vec<Row> = window
            .iter()
            .filter_map(|&i| {
                if r.discovery_only {
                    r.components
                        .get(i)
                        .map(|c| component_row(t, app, c, load_w))
                } else {
                    let row = r.types.get(i)?;
                    let ty = s.types.get(row.index)?;
                    Some(type_row(t, app, ty, row, load_w))
                }
            })
            .collect();
        // The watchers circus runs that the file lacks, after the last row.
        let last_in_view = first + window.len() >= visible.len();
        if !r.unmanaged.is_empty() && last_in_view {
            let names: Vec<Line> = r
                .unmanaged
                .iter()
                .map(|w| {
                    Line::from(vec![
                        Span::styled("! ", t.error()),
                        Span::raw(safe(&w.name).into_owned()),
                        Span::styled(
                            w.pids.as_deref().map_or_else(
                                || " pids unknown".into(),
                                |p| format!(" {}", crate::arbiter::ops::pids(p)),
                            ),
                            t.muted(),
                        ),
                    ])
                })
                .collect();
            let n = names.len().min(u16::MAX as usize) as u16;
            rows.push(
                Row::new(vec![
                    Cell::from(Span::styled("not in file", t.error())),
                    Cell::from(Span::styled(format!("! {}", r.unmanaged.len()), t.error())),
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
        // The planner's targets, in the column a state file's Run has.
        let planned = r.components.iter().filter(|c| c.plan.is_some()).count();
        let has_plan = cur.discovery_only && planned > 0;
        let table = Table::new(
            rows,
            // A discovery-only namespace has no Run (no file says what should run) and no
            // GPUs (no GPU list): its rows are components with their live instances.
            [
                Constraint::Length(14),
                Constraint::Length(match (cur.discovery_only, has_plan) {
                    (true, false) => 0,
                    (true, true) => 6,
                    _ => 5,
                }),
                Constraint::Length(if show_live { 5 } else { 0 }),
                Constraint::Fill(1),
                Constraint::Length(if cur.discovery_only { 0 } else { 5 }),
            ]
            .into_iter()
            .chain((load_w > 0).then_some(Constraint::Length(load_w))),
        )
        .header(
            Row::new(
                if cur.discovery_only {
                    [
                        "Component",
                        if has_plan { "Plan" } else { "" },
                        "Live",
                        "Instances",
                        "",
                    ]
                } else {
                    [
                        "Type",
                        "Run",
                        if show_live { "Live" } else { "" },
                        "Watchers",
                        "GPUs",
                    ]
                }
                .into_iter()
                .chain((load_w > 0).then_some(
                    if load_w < crate::tui::ui::load::LOAD_WIDTH {
                        "   Load: req/s"
                    } else {
                        "    Load: req/s, p95, in flight, trend"
                    },
                )),
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
                let lines = component_lines(app);
                let filter = match (self.filter.typing, self.filter.text().is_empty()) {
                    (true, _) => format!(", filter: {}▏", safe(self.filter.text())),
                    (false, false) => format!(", filter: {}", safe(self.filter.text())),
                    (false, true) => String::new(),
                };
                let count = if cur.discovery_only {
                    let n = r.components.len();
                    if planned > 0 {
                        format!("{n} components, {planned} with a planner target")
                    } else {
                        format!("{n} registered components")
                    }
                } else if visible.len() == r.types.len() {
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
            focused(Focus::Components),
        ));
        let mut ts = TableState::default()
            .with_selected((!window.is_empty()).then(|| selected.saturating_sub(first)));
        frame.render_stateful_widget(table, table_a, &mut ts);

        // GPU map, in as many columns as fit (numbered down the columns).
        let (cols, col_w) = gpu_columns(s, gpu_a.width.saturating_sub(2));
        let per_col = s.gpu_map.len().div_ceil(cols);
        let mut gpu_lines: Vec<Line> = (0..per_col).map(|_| Line::default()).collect();
        // Each holding type its own colour, with a legend in the title (the holders'
        // types were joined with the rows).
        let type_at = |slot: usize| -> Option<&str> {
            let i = (*r.gpu_types.get(slot)?)?;
            s.types.get(i).map(|t| t.ty.as_str())
        };
        let mut legend: Vec<&str> = Vec::new();
        for slot in 0..s.gpu_map.len() {
            if let Some(ty) = type_at(slot)
                && !legend.contains(&ty)
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
                Some(h) => ("■ ", safe(h).into_owned(), t.fg(colour(type_at(i)))),
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
        let gpu_off = self
            .gpu_scroll
            .fit(gpu_lines.len(), gpu_a.height.saturating_sub(2) as usize)
            .min(u16::MAX as usize) as u16;
        frame.render_widget(
            Paragraph::new(gpu_lines).scroll((gpu_off, 0)).block(panel(
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
                focused(Focus::Gpus),
            )),
            gpu_a,
        );

        // Raw state: wrapped (`w`) or scrolled sideways (`h`/`l`).
        let inner_h = json_a.height.saturating_sub(2) as usize;
        let start = self.json_scroll.fit(cur.json.len(), inner_h.max(1));
        let end = (start + inner_h).min(cur.json.len());
        let lines: Vec<Line> = cur
            .json
            .range(start, end)
            .map(|l| json_line(t, &safe(l)))
            .collect();
        let how = if self.json_wrap {
            " wrapped".to_string()
        } else if self.json_hscroll > 0 {
            format!(" →{}", self.json_hscroll)
        } else {
            String::new()
        };
        let para = Paragraph::new(lines);
        let para = if self.json_wrap {
            para.wrap(Wrap { trim: false })
        } else {
            para.scroll((0, self.json_hscroll))
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
                focused(Focus::Json),
            )),
            json_a,
        );
    }
}
