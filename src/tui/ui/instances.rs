//! The drill-down: a type's instances (Enter on a component row) and one instance's whole
//! entry (Enter on an instance): watcher, GPUs, process, lease, command, its
//! `--worker-env` with `DYNAMO_SERVICE_CONFIG` pretty-printed, and the entry as in the file.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, HighlightSpacing, Paragraph, Row, Table, TableState, Wrap};
use serde_json::Value;

use super::{View, centered, json_line, open_popup};
use crate::arbiter::ops::pids;
use crate::state::scale::parse_entry;
use crate::text::safe;
use crate::tui::app::{App, ListFilter};
use crate::tui::theme::Theme;

/// "running (pid 4104)", "not running", "parked", "?" (circus not heard), with a colour.
fn process<'a>(t: &Theme, app: &App, watcher: &str, parked: bool) -> Span<'a> {
    match (parked, app.arbiter.pids(watcher)) {
        (true, _) => Span::styled("parked (the template)", t.muted()),
        (false, None) => Span::styled("? (circus not heard)", t.muted()),
        (false, Some(p)) if p.is_empty() => Span::styled("✗ not running", t.error()),
        (false, Some(p)) => Span::styled(format!("● running ({})", pids(&p)), t.fg(t.green)),
    }
}

pub fn draw_instances(
    frame: &mut Frame,
    app: &App,
    v: &View,
    area: Rect,
    ty: &str,
    selected: usize,
    filter: &ListFilter,
) {
    let t = v.theme;
    let Some(cur) = &app.current else { return };
    let title = if filter.text.is_empty() && !filter.typing {
        format!(" {} instances of {} ", cur.name, safe(ty))
    } else {
        format!(
            " {} instances of {} /{}{} ",
            cur.name,
            safe(ty),
            safe(&filter.text),
            if filter.typing { "▏" } else { "" }
        )
    };
    let inner = open_popup(
        frame,
        t,
        centered(
            area,
            area.width.saturating_sub(4).min(120),
            area.height.saturating_sub(2),
        ),
        &title,
        false,
    );
    if !cur.summary.types.iter().any(|x| x.ty == ty) {
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("no {} in the file any more", safe(ty)),
                t.muted(),
            )),
            inner,
        );
        return;
    }
    let shown = app.visible_instances(ty, filter);
    if shown.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("nothing matches the filter", t.muted())),
            inner,
        );
        return;
    }
    let rows: Vec<Row> = shown
        .iter()
        .map(|i| {
            let lease = cur
                .doc
                .state
                .components
                .get(&i.name)
                .map(|c| match &c.lease {
                    None => "-".to_string(),
                    Some(None) => "null".to_string(),
                    Some(Some(n)) => format!(
                        "{n}{}",
                        n.as_i64().map_or("", |l| registered(app, &cur.name, l))
                    ),
                })
                .unwrap_or_default();
            Row::new(vec![
                Cell::from(Span::styled(
                    safe(&i.watcher_name).into_owned(),
                    t.fg(t.cyan),
                )),
                Cell::from(if i.gpus.is_empty() {
                    "-".to_string()
                } else {
                    safe(&i.gpus.join(",")).into_owned()
                }),
                Cell::from(process(t, app, &i.watcher_name, i.parked)),
                Cell::from(Span::styled(safe(&lease).into_owned(), t.muted())),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Fill(2),
            Constraint::Length(8),
            Constraint::Fill(2),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(["Watcher", "GPUs", "Process", "Lease"])
            .style(t.muted().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(t.selected())
    .highlight_symbol("▶ ")
    .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(Some(selected.min(shown.len() - 1)));
    frame.render_stateful_widget(table, inner, &mut state);
}

/// Whether discovery has an instance with this etcd lease (a 0.3 entry's `lease` is the
/// lease its worker registers with): " ✓ registered", " ✗ not registered", or nothing
/// when no source answers.
fn registered(app: &App, ns: &str, lease: i64) -> &'static str {
    match &app.live {
        Some(l) if l.answered() => {
            if l.of_namespace(ns)
                .any(|i| !i.stale && i.instance_id as i64 == lease)
            {
                " ✓ registered"
            } else {
                " ✗ not registered"
            }
        }
        _ => "",
    }
}

/// The value of the shell word after `flag` in a POSIX command line (single and double
/// quotes, backslashes), as `shlex.split` would read it.
pub fn shell_word_after(cmd: &str, flag: &str) -> Option<String> {
    let words = shell_words(cmd);
    let i = words.iter().position(|w| w == flag)?;
    words.get(i + 1).cloned()
}

fn shell_words(cmd: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = cur.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                if !matches!(n, '"' | '\\' | '$' | '`') {
                                    w.push('\\');
                                }
                                w.push(n);
                            }
                        }
                        c => w.push(c),
                    }
                }
            }
            '\\' => {
                let w = cur.get_or_insert_with(String::new);
                if let Some(n) = chars.next() {
                    w.push(n);
                }
            }
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = cur {
        words.push(w);
    }
    words
}

/// The entry's `--worker-env` as lines: each variable, and `DYNAMO_SERVICE_CONFIG`
/// pretty-printed (it is a JSON document in a string).
fn worker_env_lines(t: &Theme, cmd: &str) -> Vec<Line<'static>> {
    let Some(text) = shell_word_after(cmd, "--worker-env") else {
        return vec![Line::styled("  (none in the command)", t.muted())];
    };
    let env = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(a)) => a.into_iter().next(),
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    };
    let Some(Value::Object(env)) = env else {
        return vec![Line::styled(
            format!("  (not JSON: {})", safe(&text)),
            t.error(),
        )];
    };
    let mut lines = Vec::new();
    for (k, v) in env {
        let val = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        let pretty = (k == "DYNAMO_SERVICE_CONFIG")
            .then(|| serde_json::from_str::<Value>(&val).ok())
            .flatten()
            .and_then(|j| serde_json::to_string_pretty(&j).ok());
        match pretty {
            Some(p) => {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {} ", safe(&k)), t.fg(t.magenta)),
                    Span::styled("=", t.muted()),
                ]));
                for l in p.lines() {
                    let mut line = json_line(t, &safe(l));
                    line.spans.insert(0, Span::raw("    "));
                    lines.push(line);
                }
            }
            None => lines.push(Line::from(vec![
                Span::styled(format!("  {} ", safe(&k)), t.fg(t.magenta)),
                Span::styled("= ", t.muted()),
                Span::styled(safe(&val).into_owned(), t.fg(t.text)),
            ])),
        }
    }
    lines
}

pub fn draw_entry(frame: &mut Frame, app: &App, v: &View, area: Rect, name: &str, scroll: u16) {
    let t = v.theme;
    let Some(cur) = &app.current else { return };
    let title = format!(" {} ", safe(name));
    let inner = open_popup(
        frame,
        t,
        centered(
            area,
            area.width.saturating_sub(2).min(130),
            area.height.saturating_sub(2),
        ),
        &title,
        false,
    );
    let Some(c) = cur.doc.state.components.get(name) else {
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("{} is no longer in the file", safe(name)),
                t.muted(),
            )),
            inner,
        );
        return;
    };
    let field = |k: &str, v: Span<'static>| {
        Line::from(vec![Span::styled(format!("{k:<10}"), t.muted()), v])
    };
    let gpus: Vec<String> = c.gpus().iter().map(|g| g.to_string()).collect();
    let lease = match &c.lease {
        None => "none".to_string(),
        Some(None) => "null (parked)".to_string(),
        Some(Some(n)) => n.to_string(),
    };
    let mut lines = vec![
        field(
            "watcher",
            Span::styled(safe(&c.watcher_name).into_owned(), t.fg(t.cyan)),
        ),
        field(
            "type",
            Span::raw(safe(&parse_entry(&cur.doc.state.namespace, name).ty).into_owned()),
        ),
        field(
            "GPUs",
            Span::raw(if gpus.is_empty() {
                "-".to_string()
            } else {
                safe(&gpus.join(", ")).into_owned()
            }),
        ),
        field("process", process(t, app, &c.watcher_name, c.is_parked())),
        field("lease", Span::raw(safe(&lease).into_owned())),
        Line::styled("cmd", t.muted()),
        Line::styled(format!("  {}", safe(&c.cmd)), t.fg(t.text)),
        Line::styled("--worker-env", t.muted()),
    ];
    lines.extend(worker_env_lines(t, &c.cmd));
    lines.push(Line::styled("entry, as in the file", t.muted()));
    let entry = serde_json::to_string_pretty(c).unwrap_or_default();
    render_document(frame, t, lines, &entry, inner, scroll);
}

/// `lines`, then the pretty JSON `json` coloured and indented, wrapped into `area` and
/// scrolled by `scroll`, stopping at the last page (never scrolling into emptiness).
pub fn render_document(
    frame: &mut Frame,
    t: &Theme,
    mut lines: Vec<Line<'static>>,
    json: &str,
    area: Rect,
    scroll: u16,
) {
    for l in json.lines() {
        let mut line = json_line(t, &safe(l));
        line.spans.insert(0, Span::raw("  "));
        lines.push(line);
    }
    let w = area.width.max(1) as usize;
    let total: usize = lines.iter().map(|l| l.width().div_ceil(w).max(1)).sum();
    let max = total.saturating_sub(area.height as usize) as u16;
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll.min(max), 0)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_read_what_the_planner_and_dynamo_ctl_write() {
        let cmd =
            r#"python3 -m x --worker-env '[{"A": "it'\''s"}]' --custom-component-name 'n_W_1'"#;
        assert_eq!(
            shell_word_after(cmd, "--worker-env").as_deref(),
            Some(r#"[{"A": "it's"}]"#)
        );
        assert_eq!(
            shell_word_after(cmd, "--custom-component-name").as_deref(),
            Some("n_W_1")
        );
        assert_eq!(
            shell_word_after(r#"a --k "x \"y\" \z""#, "--k").as_deref(),
            Some(r#"x "y" \z"#)
        );
        assert_eq!(shell_word_after("a b", "--worker-env"), None);
    }
}
