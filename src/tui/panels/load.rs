//! `m`: a component's load over the last 15 minutes (Prometheus' history when it answers,
//! else what this session measured), requests/s and in-flight as sparklines.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};

use super::{Outcome, Panel};
use crate::text::safe;
use crate::tui::data::Data;
use crate::tui::keys::{C, Cmd, K, KeyDef, k};
use crate::tui::load::{count_text, rate_text};
use crate::tui::ui::View;
use crate::tui::ui::load::component_spans;
use crate::tui::widgets::popup;

pub const TITLE: &str = "Load of a component";
pub const KEYS: &[KeyDef] = &[k(
    &[K(KeyCode::Esc), C('m')],
    "Esc/m",
    "back",
    Cmd::Close,
    false,
    "back",
)];

#[derive(Debug)]
pub struct LoadView {
    /// The type (state file) or component (discovery) name.
    pub name: String,
}

impl Panel for LoadView {
    fn on_cmd(&mut self, cmd: Cmd, _d: &Data) -> Vec<Outcome> {
        match cmd {
            Cmd::Close => vec![Outcome::Pop],
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, area: Rect, d: &Data, v: &View, _top: bool) {
        draw(frame, d, v, area, &self.name);
    }
}

fn draw(frame: &mut Frame, app: &Data, v: &View, area: Rect, name: &str) {
    let t = v.theme;
    let Some(cur) = &app.current else { return };
    let title = format!(" load of {} in {} ", safe(name), cur.name);
    let inner = popup::open(
        frame.buffer_mut(),
        t,
        area,
        (
            area.width.saturating_sub(4).min(140),
            area.height.saturating_sub(2).min(30),
        ),
        &title,
        false,
    );
    let th = &app.load.thresholds;
    let summary = match app.load.component(&cur.name, name) {
        Some(c) => Line::from(component_spans(t, c, th)),
        None if !app.load.on => Line::styled(
            "no metrics source: --prometheus URL, --metrics URL (a worker's /metrics), --nats URL",
            t.muted(),
        ),
        None => Line::styled("no numbers for it from any source", t.muted()),
    };
    // Prometheus' 15 minutes when it answered, else what this session measured.
    let (rates, from): (Vec<f64>, String) = match &app.load.prom_history {
        Some((c, pts)) if c.eq_ignore_ascii_case(name) => (
            pts.iter().map(|(_, v)| *v).collect(),
            format!("Prometheus, {} points over 15 min", pts.len()),
        ),
        _ => {
            let r = app.load.rates(name);
            let n = r.len();
            (r, format!("this session, {n} samples"))
        }
    };
    let inflight: Vec<f64> = app
        .load
        .inflight
        .get(&name.to_lowercase())
        .map(|q| q.iter().map(|(_, v)| *v).collect())
        .unwrap_or_default();
    let [head, a, b] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(vec![summary]), head);
    let chart = |frame: &mut Frame, area: Rect, label: String, values: &[f64], colour| {
        // Sparkline takes integers: scale to 1000 steps of the maximum.
        let max = values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let width = area.width.saturating_sub(2) as usize;
        let tail = &values[values.len().saturating_sub(width)..];
        let data: Vec<u64> = tail
            .iter()
            .map(|v| {
                if max > 0.0 && v.is_finite() {
                    (v / max * 1000.0).round() as u64
                } else {
                    0
                }
            })
            .collect();
        frame.render_widget(
            Sparkline::default()
                .block(
                    Block::new()
                        .borders(Borders::TOP)
                        .border_style(t.muted())
                        .title(Span::styled(label, t.muted())),
                )
                .data(&data)
                .max(1000)
                .style(t.fg(colour)),
            area,
        );
    };
    let last = rates.last().copied();
    chart(
        frame,
        a,
        format!(
            " requests/s: now {}, max {} ({from}) ",
            rate_text(last),
            rate_text(rates.iter().copied().reduce(f64::max))
        ),
        &rates,
        t.cyan,
    );
    chart(
        frame,
        b,
        format!(
            " in flight: now {}, max {} (this session) ",
            count_text(inflight.last().copied()),
            count_text(inflight.iter().copied().reduce(f64::max))
        ),
        &inflight,
        t.magenta,
    );
}
