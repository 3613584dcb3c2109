//! `dynamo-ctl list`: every namespace, from the state directory and from discovery, with
//! the sources' health as the last line.

use super::planner;
use super::*;

/// `list`: exit 1 when nothing could be listed and every discovery source that is on
/// failed (then "nothing" may only mean "not heard"); the sources' health is always said.
pub(super) fn list(g: &Global, store: &Store, paint: &Paint) -> Result<i32, StateError> {
    let snap = live::snapshot(g);
    live::report_malformed(g, &snap);
    let live_ns = snap.namespaces_ref();
    // A namespace only discovery knows (every Dynamo 1.x deployment) is listed too, even
    // without a state directory.
    // Each file is summarized as it is read: one document in memory at a time.
    let entries = match store.list_with(|e| Listed {
        summary: e.doc.map(|d| scale::summarize(&d.state)),
        name: e.name,
        path: e.path,
        modified: e.modified,
    }) {
        Ok(e) => e,
        Err(StateError::DirMissing { .. }) if !live_ns.is_empty() => Vec::new(),
        Err(e) => {
            // The state directory failed: say how discovery fared too.
            eprint!("{}", live::sources_text(&snap, &Paint { on: false }));
            return Err(e);
        }
    };
    let failed = entries.is_empty() && live_ns.is_empty() && live::all_failed(&snap);
    // The same join as the TUI's picker.
    let joined = discovery::listing::Joined::new(&snap);
    let live_only = joined.live_only(entries.iter().map(|e| e.name.as_str()));
    let answered = joined.answered();
    let sources_of = |name: &str, state: bool| -> Vec<&'static str> {
        match (state, live_ns.get(name)) {
            (true, _) => joined.of_state(name).sources,
            (false, Some(l)) => discovery::listing::Joined::of_live_only(l).sources,
            (false, None) => Vec::new(),
        }
    };
    let live_of = |name: &str| -> Option<usize> { joined.of_state(name).live };
    let components_of = |name: &str| -> Value {
        match (answered, live_ns.get(name)) {
            (false, _) => Value::Null,
            (true, None) => json!({}),
            (true, Some(l)) => json!(l.components),
        }
    };
    let now = SystemTime::now();
    if g.output == Output::Json {
        let mut items: Vec<Value> = entries
            .iter()
            .map(|e| {
                let mut o = json!({
                    "name": e.name,
                    "path": e.path,
                    "modified": rfc3339(e.modified),
                    "sources": sources_of(&e.name, true),
                    "live": live_of(&e.name),
                    "live_components": components_of(&e.name),
                    "planner": planner::json(&snap, &e.name),
                });
                match &e.summary {
                    Ok(s) => {
                        o["status"] = json!("ok");
                        o["running"] = Value::Object(
                            s.types
                                .iter()
                                .map(|t| (t.ty.clone(), json!(t.running)))
                                .collect(),
                        );
                        o["gpus"] = json!({"total": s.gpus_total, "used": s.gpus_used});
                    }
                    Err(err) => {
                        o["status"] = json!("error");
                        o["error"] = json!(err.to_string());
                    }
                }
                o
            })
            .collect();
        for (name, _) in &live_only {
            items.push(json!({
                "name": name,
                "path": null,
                "modified": null,
                "status": "ok",
                "sources": sources_of(name, false),
                "live": live_of(name),
                "live_components": components_of(name),
                "planner": planner::json(&snap, name),
            }));
        }
        items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        print_json(&json!({
            "state_dir": store.dir(),
            "namespaces": items,
            "discovery": live::sources_json(&snap),
        }))?;
        if failed {
            eprintln!("dynamo-ctl: error: no discovery source answered");
        }
        return Ok(i32::from(failed));
    }
    if entries.is_empty() && live_only.is_empty() {
        eprintln!(
            "dynamo-ctl: no namespaces in {} (`dynamo serve` with a local planner writes them; try --demo)",
            safe(&store.dir().display().to_string())
        );
        out(&live::sources_text(&snap, paint))?;
        if failed {
            eprintln!("dynamo-ctl: error: no discovery source answered");
        }
        return Ok(i32::from(failed));
    }
    let live_text = |name: &str| live_of(name).map_or("-".to_string(), |n| n.to_string());
    let mut rows: Vec<(String, Vec<String>)> = entries
        .iter()
        .map(|e| {
            let row = match &e.summary {
                Ok(s) => {
                    vec![
                        paint.cyan(&safe(&e.name)),
                        counts_text(s),
                        format!("{}/{}", s.gpus_used, s.gpus_total),
                        age(e.modified, now),
                        live_text(&e.name),
                        sources_of(&e.name, true).join(","),
                        paint.green("ok"),
                    ]
                }
                Err(err) => vec![
                    paint.cyan(&safe(&e.name)),
                    "-".into(),
                    "-".into(),
                    age(e.modified, now),
                    live_text(&e.name),
                    sources_of(&e.name, true).join(","),
                    paint.red(&format!("error: {}", safe(&err.to_string()))),
                ],
            };
            (e.name.clone(), row)
        })
        .collect();
    for (name, l) in &live_only {
        let comps = l
            .components
            .iter()
            .map(|(c, n)| format!("{} {n}", safe(c)))
            .collect::<Vec<_>>()
            .join(", ");
        rows.push((
            (*name).clone(),
            vec![
                paint.cyan(&safe(name)),
                if comps.is_empty() { "-".into() } else { comps },
                "-".into(),
                "-".into(),
                live_text(name),
                sources_of(name, false).join(","),
                paint.green("ok (no state file)"),
            ],
        ));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, r)| r).collect();
    let mut text = table(
        &[
            "NAMESPACE",
            "RUNNING",
            "GPUS",
            "MODIFIED",
            "LIVE",
            "SOURCES",
            "STATUS",
        ],
        &rows,
        paint,
    );
    text.push_str(&live::sources_text(&snap, paint));
    out(&text)?;
    Ok(0)
}

/// A namespace as `list` shows it: its summary, not its whole document.
struct Listed {
    name: String,
    path: std::path::PathBuf,
    modified: Option<SystemTime>,
    summary: Result<Summary, StateError>,
}
