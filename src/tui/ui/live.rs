//! `i`: the open namespace's registered instances as discovery shows them (component,
//! endpoint, instance id, transport address, source, lease or age), new ones flashing,
//! vanished ones greyed while they leave, stale file-store entries marked; Enter shows one
//! registration's value as stored, unknown fields included.

use ratatui::style::Modifier;
use ratatui::text::Span;

use crate::discovery::{Instance, SourceKind};
use crate::tui::data::{Data, LiveRow, age};
use crate::tui::theme::Theme;

/// How long this session has seen it ("seen 2m ago"); an etcd lease other than the
/// instance id (Dynamo registers with the id as its lease) is named; the file store says
/// when the owner last touched the entry.
pub fn lease_age(app: &Data, i: &Instance) -> String {
    if let Some(at) = app.track.leaving_since(i) {
        return format!("gone {}", age(app.now, Some(at)));
    }
    let first = app.track.first_seen_at(i);
    let seen = format!("seen {}", age(app.now, first));
    match (i.source, i.lease, i.modified) {
        (SourceKind::Etcd, Some(0), _) => format!("no lease · {seen}"),
        (SourceKind::Etcd, Some(l), _) if l as u64 != i.instance_id => {
            format!("lease {l:x} · {seen}")
        }
        (SourceKind::File, _, Some(m)) => format!("touched {}", age(app.now, Some(m))),
        _ => seen,
    }
}

/// The state of a row: new (flashing), leaving, stale, or live.
pub fn mark<'a>(t: &Theme, app: &Data, r: &LiveRow) -> Span<'a> {
    if r.leaving {
        Span::styled("○ leaving", t.muted())
    } else if r.inst.stale {
        Span::styled("▲ stale", t.fg(t.orange))
    } else if app.track.is_flashing(r.inst) {
        Span::styled(
            "★ new",
            t.fg(t.green)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
    } else {
        Span::styled("● live", t.fg(t.green))
    }
}
