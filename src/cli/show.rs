//! `dynamo-ctl show NS`: one namespace's types, counts, processes (circus) and live
//! instances (discovery).

use super::arbiter_view::{ArbiterView, process_text};
use super::planner;
use super::*;

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
    let unmanaged = arb.unmanaged(&s);
    if g.output == Output::Json {
        let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
        v["path"] = json!(path);
        if let Some(types) = v["types"].as_array_mut() {
            for (t, ts) in types.iter_mut().zip(&s.types) {
                t["live"] = json!(snap.live_for_type(ns, &ts.ty));
                if let Some(insts) = t["instances"].as_array_mut() {
                    for (i, is) in insts.iter_mut().zip(&ts.instances) {
                        i["pids"] = json!(arb.pids_of(&is.watcher_name));
                    }
                }
            }
        }
        v["arbiter"] = json!(arb);
        v["unmanaged_watchers"] = unmanaged
            .iter()
            .map(|(name, pids)| json!({"name": name, "pids": pids}))
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
    let rows: Vec<Vec<String>> = s
        .types
        .iter()
        .map(|t| {
            let running: Vec<_> = t.instances.iter().filter(|i| !i.parked).collect();
            let gpus = running
                .iter()
                .flat_map(|i| i.gpus.iter().map(|g| safe(g).into_owned()))
                .collect::<Vec<_>>()
                .join(", ");
            let procs = match &arb.watchers {
                None => "?".to_string(),
                Some(_) => {
                    let pids: Vec<_> = running
                        .iter()
                        .map(|i| arb.pids_of(&i.watcher_name))
                        .collect();
                    let known = pids.iter().flatten().filter(|p| !p.is_empty()).count();
                    match pids.iter().filter(|p| p.is_none()).count() {
                        0 => known.to_string(),
                        unknown => format!("{known} (+{unknown}?)"),
                    }
                }
            };
            vec![
                safe(&t.ty).into_owned(),
                t.running.to_string(),
                procs,
                snap.live_for_type(ns, &t.ty)
                    .map_or("-".to_string(), |n| n.to_string()),
                if gpus.is_empty() { "-".into() } else { gpus },
            ]
        })
        .collect();
    text.push_str(&table(
        &["TYPE", "RUNNING", "PROCESSES", "LIVE", "GPUS"],
        &rows,
        paint,
    ));
    let mut rows: Vec<Vec<String>> = Vec::new();
    for t in &s.types {
        for i in &t.instances {
            let pids = arb.pids_of(&i.watcher_name);
            let state = process_text(i.parked, pids.as_deref());
            let state = match (i.parked, pids.as_deref()) {
                (false, Some([])) => paint.red(&state),
                (false, Some(_)) => paint.green(&state),
                _ => state,
            };
            rows.push(vec![
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
    for (name, pids) in &unmanaged {
        let state = match pids {
            Some(p) => format!("running, not in the file ({})", ops::pids(p)),
            None => "in circus, not in the file (pids unknown)".to_string(),
        };
        rows.push(vec![
            safe(name).into_owned(),
            "?".into(),
            "-".into(),
            paint.red(&state),
        ]);
    }
    text.push('\n');
    text.push_str(&table(
        &["WATCHER", "TYPE", "GPUS", "PROCESS"],
        &rows,
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
