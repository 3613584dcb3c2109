//! `dynamo-ctl show NS`: one namespace's types, counts, processes (circus) and live
//! instances (discovery).

use super::arbiter_view::{ArbiterView, process_text};
use super::planner;
use super::*;
use crate::rows::{Circus, Rows, Sources};

pub(super) fn show(g: &Global, store: &Store, ns: &str, paint: &Paint) -> Result<(), StateError> {
    let path = store.path_for(ns)?;
    let snap = live::snapshot(g);
    live::report_malformed(g, &snap);
    let doc = match store.load(ns) {
        Ok(d) => d,
        Err(StateError::NotFound { .. } | StateError::DirMissing { .. })
            if snap.of_namespace(ns).next().is_some() || snap.planners.contains_key(ns) =>
        {
            return live::show_live_only(g, ns, &snap, paint);
        }
        Err(e) => {
            // Not in the state directory, nor in discovery: say how discovery fared.
            eprint!("{}", live::sources_text(&snap, &Paint { on: false }));
            return Err(e);
        }
    };
    let s = scale::summarize(&doc.state);
    let arb = ArbiterView::ask(g, ns, s.circus_endpoint.as_deref());
    // The dashboard's rows: what the file wants, circus runs and discovery registers.
    let rows = Rows::of_file(
        &s,
        Sources {
            circus: arb.watchers.as_deref().map(|watchers| Circus {
                watchers,
                unknown: &arb.pids_unknown,
            }),
            live: Some(&snap),
            metrics: None,
        },
    );
    if g.output == Output::Json {
        let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
        v["path"] = json!(path);
        if let Some(types) = v["types"].as_array_mut() {
            for (t, row) in types.iter_mut().zip(&rows.types) {
                t["live"] = json!(row.live);
                if let Some(insts) = t["instances"].as_array_mut() {
                    for (i, pids) in insts.iter_mut().zip(rows.members(row)) {
                        i["pids"] = json!(pids);
                    }
                }
            }
        }
        v["arbiter"] = json!(arb);
        v["unmanaged_watchers"] = rows
            .unmanaged
            .iter()
            .map(|u| json!({"name": u.name, "pids": u.pids}))
            .collect();
        v["discovery"] = live::sources_json(&snap);
        v["planner"] = planner::json(&snap, ns);
        v["live_instances"] = json!(
            snap.of_namespace(ns)
                .map(discovery::Instance::to_json)
                .collect::<Vec<_>>()
        );
        print_json(&v)?;
        return Ok(());
    }
    let mut text = String::new();
    text.push_str(&format!(
        "{}  {}\n",
        paint.bold("namespace"),
        paint.cyan(&safe(&s.namespace))
    ));
    text.push_str(&format!(
        "{}       {}\n",
        paint.bold("file"),
        safe(&path.display().to_string())
    ));
    let circus = arb.line(ns, paint);
    text.push_str(&format!("{}     {}\n", paint.bold("circus"), circus));
    if let Some(p) = planner::text(&snap, ns, paint) {
        text.push_str(&format!("{}    {}\n", paint.bold("planner"), p));
    }
    text.push('\n');
    let table_rows: Vec<Vec<String>> = rows
        .types
        .iter()
        .filter_map(|row| Some((row, s.types.get(row.index)?)))
        .map(|(row, t)| {
            let gpus = t
                .instances
                .iter()
                .filter(|i| !i.parked)
                .flat_map(|i| i.gpus.iter().map(|g| safe(g).into_owned()))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                safe(&t.ty).into_owned(),
                t.running.to_string(),
                paint.runs(row),
                paint.live(row.live, row.live_mark(), true),
                if gpus.is_empty() { "-".into() } else { gpus },
            ]
        })
        .collect();
    text.push_str(&table(
        &["TYPE", "RUNNING", "PROCESSES", "LIVE", "GPUS"],
        &table_rows,
        paint,
    ));
    let mut watcher_rows: Vec<Vec<String>> = Vec::new();
    for (row, t) in rows
        .types
        .iter()
        .filter_map(|row| Some((row, s.types.get(row.index)?)))
    {
        for (pids, i) in rows.members(row).zip(&t.instances) {
            let state = process_text(i.parked, pids);
            let state = match (i.parked, pids) {
                (false, Some([])) => paint.red(&state),
                (false, Some(_)) => paint.green(&state),
                _ => state,
            };
            watcher_rows.push(vec![
                safe(&i.watcher_name).into_owned(),
                safe(&t.ty).into_owned(),
                if i.gpus.is_empty() {
                    "-".into()
                } else {
                    safe(&i.gpus.join(", ")).into_owned()
                },
                state,
            ]);
        }
    }
    for u in &rows.unmanaged {
        let state = match &u.pids {
            Some(p) => format!("running, not in the file ({})", ops::pids(p)),
            None => "in circus, not in the file (pids unknown)".to_string(),
        };
        watcher_rows.push(vec![
            safe(&u.name).into_owned(),
            "?".into(),
            "-".into(),
            paint.red(&state),
        ]);
    }
    text.push('\n');
    text.push_str(&table(
        &["WATCHER", "TYPE", "GPUS", "PROCESS"],
        &watcher_rows,
        paint,
    ));
    text.push_str(&format!(
        "\nGPUs: {}/{} used; free: {}\n",
        s.gpus_used,
        s.gpus_total,
        if s.free_gpus.is_empty() {
            "none".to_string()
        } else {
            safe(&s.free_gpus.join(", ")).into_owned()
        }
    ));
    let insts: Vec<_> = snap.of_namespace(ns).collect();
    if !insts.is_empty() {
        text.push('\n');
        text.push_str(&table(
            &live::INSTANCE_HEADER,
            &live::instance_rows(insts.into_iter(), false, paint),
            paint,
        ));
    }
    if !snap.sources.is_empty() {
        text.push('\n');
        text.push_str(&live::sources_text(&snap, paint));
    }
    out(&text)?;
    Ok(())
}
