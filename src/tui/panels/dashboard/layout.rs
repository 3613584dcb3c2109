//! How the dashboard divides the screen: column widths and the three areas.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::text::safe;
use crate::tui::data::Data;

/// The rows the Components table needs: one per instance (at least one per type), plus
/// one for each watcher circus runs that the file lacks.
pub(super) fn component_lines(app: &Data) -> u16 {
    app.rows.lines.min(u16::MAX as usize / 2) as u16
}

/// The width the Watchers column wants: the longest watcher with its marks and pids, or
/// on a discovery-only dashboard an instance line (endpoint, id in hex, source).
pub(super) fn watcher_width(app: &Data) -> u16 {
    let w = if app.rows.discovery_only {
        (app.rows.widest + 16 + 6 + 6).min(80)
    } else {
        app.rows.widest + 14 // marks, pids
    };
    (w.min(u16::MAX as usize) as u16).max(20)
}

/// The Live column with its gap (1 when it is hidden).
pub(super) fn live_width(app: &Data) -> u16 {
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
pub(super) fn load_width(app: &Data, watcher_w: u16, width: u16) -> u16 {
    if !app.load.on {
        return 0;
    }
    // Type, Run, Live, GPUs, gaps, borders and the selection mark (as dashboard_areas).
    let rest = width.saturating_sub(14 + 5 + live_width(app) + 5 + 10);
    if rest > watcher_w + crate::tui::ui::load::LOAD_WIDTH {
        crate::tui::ui::load::LOAD_WIDTH
    } else if rest >= 24 + crate::tui::ui::load::COMPACT_WIDTH {
        // The watchers keep 24 columns: a name like dynamo_PrefillWorker_1 fits.
        crate::tui::ui::load::COMPACT_WIDTH
    } else {
        0
    }
}

/// Where the Components table, the GPU map and the State panel go. Priorities when space is
/// short: the Components table first (all its rows, up to the space), then the GPU map, then
/// the State panel. Wide terminals put the State panel beside the other two and give the
/// Components table the width it needs, not more.
pub(super) fn dashboard_areas(
    app: &Data,
    s: &crate::state::Summary,
    main: Rect,
    watcher_w: u16,
) -> (Rect, Rect, Rect) {
    let comp_need = component_lines(app) + 3; // borders and the header row
    let live_w = live_width(app);
    let load_w = if app.load.on {
        crate::tui::ui::load::LOAD_WIDTH + 1
    } else {
        0
    };
    let table_w = 14 + 5 + live_w + watcher_w + 5 + load_w + 10; // columns, gaps, borders, mark
    // A discovery-only namespace has no GPU list: no GPU map.
    let no_gpus = app.current.as_ref().is_some_and(|c| c.discovery_only);
    let gpu_need = |width: u16| {
        if no_gpus {
            return 0;
        }
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
pub(super) fn gpu_columns(s: &crate::state::Summary, width: u16) -> (usize, u16) {
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
