//! Enter on a registration: its value as stored, unknown fields included.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Outcome, Panel};
use crate::text::safe;
use crate::tui::data::{Data, transport_text};
use crate::tui::keys::{self, BOTTOM, Cmd, K, KeyDef, PAGE_DOWN, PAGE_UP, TOP, k};
use crate::tui::live::is_ident;
use crate::tui::ui::View;
use crate::tui::ui::instances::render_document;
use crate::tui::ui::live::lease_age;
use crate::tui::widgets::{Scroll, popup};

pub const TITLE: &str = "One registration";
pub const KEYS: &[KeyDef] = &[
    crate::tui::keys::SCROLL_UP,
    crate::tui::keys::SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    k(&[K(KeyCode::Esc)], "Esc", "back", Cmd::Close, false, "back"),
    crate::tui::keys::COPY,
];

#[derive(Debug)]
pub struct Registration {
    /// [`ident`] of the instance.
    pub ident: String,
    pub scroll: Scroll,
}

impl Registration {
    pub fn new(ident: String) -> Registration {
        Registration {
            ident,
            scroll: Scroll::new(),
        }
    }
}

impl Panel for Registration {
    fn on_cmd(&mut self, cmd: Cmd, d: &Data) -> Vec<Outcome> {
        if let Some(nav) = keys::nav(cmd) {
            self.scroll.apply(nav);
        } else if cmd == Cmd::Close {
            return vec![Outcome::Pop];
        } else if cmd == Cmd::Copy {
            let id = d
                .live
                .iter()
                .flat_map(|l| l.instances.iter())
                .chain(d.track.leaving.iter().map(|(i, _)| i))
                .find(|i| crate::tui::live::ident(i) == self.ident)
                .map(|i| i.instance_id_hex());
            return super::copy("instance id", id.unwrap_or_default());
        }
        Vec::new()
    }

    fn shows_live(&self) -> bool {
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, app: &Data, v: &View, _top: bool) {
        let id = self.ident.as_str();
        let t = v.theme;
        let found = app
            .live
            .iter()
            .flat_map(|l| l.instances.iter())
            .map(|i| (&**i, false))
            .chain(app.track.leaving.iter().map(|(i, _)| (&**i, true)))
            .find(|(i, _)| is_ident(i, id));
        let title = match found {
            Some((i, _)) => format!(" {} ", safe(&i.key)),
            None => " registration ".to_string(),
        };
        let inner = popup::open(
            frame.buffer_mut(),
            t,
            area,
            (
                area.width.saturating_sub(2).min(130),
                area.height.saturating_sub(2),
            ),
            &title,
            false,
        );
        let Some((i, leaving)) = found else {
            frame.render_widget(
                Paragraph::new(Line::styled("no longer registered in discovery", t.muted())),
                inner,
            );
            return;
        };
        let field = |k: &str, v: String| {
            Line::from(vec![
                Span::styled(format!("{k:<12}"), t.muted()),
                Span::styled(safe(&v).into_owned(), t.fg(t.text)),
            ])
        };
        let mut lines = vec![
            field("key", i.key.to_string()),
            field(
                "source",
                format!("{} ({} layout)", i.source.as_str(), i.layout.as_str()),
            ),
            field(
                "instance",
                format!("{} ({})", i.instance_id_hex(), i.instance_id),
            ),
            field("transport", transport_text(&i.transport())),
            field("age", lease_age(app, i)),
            field(
                "state",
                if leaving {
                    "gone from discovery (leaving)".into()
                } else if i.stale {
                    "stale: not touched within its TTL".into()
                } else {
                    "registered".into()
                },
            ),
        ];
        if let Some(r) = i.mod_revision {
            lines.push(field("revision", r.to_string()));
        }
        let extra: Vec<String> = i.extra_fields().into_iter().map(|(k, _)| k).collect();
        if !extra.is_empty() {
            lines.push(field("other fields", extra.join(", ")));
        }
        lines.push(Line::styled("value, as stored", t.muted()));
        let value = serde_json::to_string_pretty(&i.value()).unwrap_or_default();
        render_document(frame, t, lines, &value, inner, &self.scroll);
    }
}
