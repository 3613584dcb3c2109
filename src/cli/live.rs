//! The CLI's view of Dynamo's discovery: `instances`, and the live counts and source
//! health that `list` and `show` add.

use serde_json::{Value, json};

use super::{Paint, out, print_json, table};
use crate::args::{Global, Output};
use crate::discovery::{self, Config, Instance, Snapshot};
use crate::state::StateError;
use crate::text::safe;

/// The sources once, bounded by `--discovery-timeout`.
pub(super) fn snapshot(g: &Global) -> Snapshot {
    let cfg = Config::from_args(g);
    discovery::snapshot(&cfg, cfg.timeout)
}

pub(super) fn sources_json(snap: &Snapshot) -> Value {
    json!(snap.sources)
}

/// "discovery: etcd http://localhost:2379 ok; file /tmp/x error: ..." (empty when no
/// source is on), plus a note on malformed entries.
pub(super) fn sources_text(snap: &Snapshot, paint: &Paint) -> String {
    if snap.sources.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = snap
        .sources
        .iter()
        .map(|s| {
            let state = if s.ok() {
                paint.green("ok")
            } else {
                paint.red(&format!(
                    "error: {}",
                    safe(s.error.as_deref().unwrap_or("?"))
                ))
            };
            format!("{} {} {}", s.kind.as_str(), safe(&s.location), state)
        })
        .collect();
    format!("discovery: {}\n", parts.join("; "))
}

/// Malformed entries: counted on stderr, listed with `--verbose`.
pub(super) fn report_malformed(g: &Global, snap: &Snapshot) {
    if snap.malformed_count == 0 {
        return;
    }
    if g.verbose {
        for m in &snap.malformed {
            eprintln!("dynamo-ctl: malformed discovery entry: {}", safe(m));
        }
        if snap.malformed_count > snap.malformed.len() {
            eprintln!(
                "dynamo-ctl: ... and {} more malformed entries",
                snap.malformed_count - snap.malformed.len()
            );
        }
    } else {
        eprintln!(
            "dynamo-ctl: warning: {} malformed discovery entr{} ignored (--verbose lists them)",
            snap.malformed_count,
            if snap.malformed_count == 1 {
                "y"
            } else {
                "ies"
            }
        );
    }
}

fn transport_text(i: &Instance) -> String {
    match &i.transport {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn extra_text(i: &Instance) -> String {
    let v: Vec<String> = i
        .extra_fields()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(" ")
    }
}

/// Rows of the instance table.
pub(super) fn instance_rows<'a>(
    insts: impl Iterator<Item = &'a Instance>,
    with_ns: bool,
    paint: &Paint,
) -> Vec<Vec<String>> {
    insts
        .map(|i| {
            let mut r = Vec::new();
            if with_ns {
                r.push(paint.cyan(&safe(&i.namespace)));
            }
            r.extend([
                safe(&i.component).into_owned(),
                safe(&i.endpoint).into_owned(),
                i.instance_id_hex(),
                i.source.as_str().to_string(),
                i.layout.as_str().to_string(),
                if i.stale {
                    paint.red("stale")
                } else {
                    paint.green("live")
                },
                safe(&transport_text(i)).into_owned(),
                safe(&extra_text(i)).into_owned(),
            ]);
            r
        })
        .collect()
}

pub(super) const INSTANCE_HEADER: [&str; 8] = [
    "COMPONENT",
    "ENDPOINT",
    "INSTANCE",
    "SOURCE",
    "LAYOUT",
    "STATE",
    "TRANSPORT",
    "EXTRA",
];

/// `dynamo-ctl instances [NS]`: exit 1 when every source that is on failed.
pub(super) fn instances(g: &Global, ns: Option<&str>, paint: &Paint) -> Result<i32, StateError> {
    let snap = snapshot(g);
    report_malformed(g, &snap);
    let insts: Vec<&Instance> = snap
        .instances
        .iter()
        .filter(|i| ns.is_none_or(|n| i.namespace == n))
        .collect();
    if g.output == Output::Json {
        print_json(&json!({
            "sources": sources_json(&snap),
            "instances": insts.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
            "malformed": snap.malformed_count,
        }))?;
    } else {
        if snap.sources.is_empty() {
            eprintln!(
                "dynamo-ctl: no discovery source: nothing answers at {} and no file store at {}; set --etcd-endpoints / ETCD_ENDPOINTS or --file-kv / DYN_FILE_KV",
                discovery::DEFAULT_ETCD,
                safe(
                    &std::env::temp_dir()
                        .join("dynamo_store_kv")
                        .display()
                        .to_string()
                )
            );
        }
        let mut text = String::new();
        if !insts.is_empty() {
            let mut header = vec!["NAMESPACE"];
            header.extend(INSTANCE_HEADER);
            text.push_str(&table(
                &header,
                &instance_rows(insts.iter().copied(), true, paint),
                paint,
            ));
        } else if !snap.sources.is_empty() {
            text.push_str("no instances registered\n");
        }
        text.push_str(&sources_text(&snap, paint));
        out(&text)?;
    }
    let failed = !snap.sources.is_empty() && !snap.answered();
    if failed {
        eprintln!("dynamo-ctl: error: no discovery source answered");
    }
    Ok(i32::from(failed))
}

/// `show NS` for a namespace that only discovery knows: its components and instances.
pub(super) fn show_live_only(
    g: &Global,
    ns: &str,
    snap: &Snapshot,
    paint: &Paint,
) -> Result<(), StateError> {
    let live = snap.namespaces().remove(ns).unwrap_or_default();
    let insts: Vec<&Instance> = snap.of_namespace(ns).collect();
    let endpoints_of = |comp: &str| -> Vec<String> {
        let mut v: Vec<String> = insts
            .iter()
            .filter(|i| i.component == comp)
            .map(|i| i.endpoint.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let mut comps: Vec<String> = insts.iter().map(|i| i.component.clone()).collect();
    comps.sort();
    comps.dedup();
    let note = "no state file: this namespace is known only from discovery (Dynamo 1.x keeps none)";
    if g.output == Output::Json {
        let types: Vec<Value> = comps
            .iter()
            .map(|c| {
                json!({
                    "type": c,
                    "running": null,
                    "live": live.components.get(c).copied().unwrap_or(0),
                    "endpoints": endpoints_of(c),
                    "instances": [],
                })
            })
            .collect();
        return print_json(&json!({
            "namespace": ns,
            "path": null,
            "circus_endpoint": null,
            "note": note,
            "types": types,
            "discovery": sources_json(snap),
            "live_instances": insts.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
        }));
    }
    let mut text = format!(
        "{}  {}\n{}       none ({note})\n\n",
        paint.bold("namespace"),
        paint.cyan(&safe(ns)),
        paint.bold("file"),
    );
    let rows: Vec<Vec<String>> = comps
        .iter()
        .map(|c| {
            vec![
                safe(c).into_owned(),
                live.components.get(c).copied().unwrap_or(0).to_string(),
                safe(&endpoints_of(c).join(", ")).into_owned(),
            ]
        })
        .collect();
    text.push_str(&table(&["COMPONENT", "LIVE", "ENDPOINTS"], &rows, paint));
    text.push('\n');
    text.push_str(&table(
        &INSTANCE_HEADER,
        &instance_rows(insts.iter().copied(), false, paint),
        paint,
    ));
    text.push('\n');
    text.push_str(&sources_text(snap, paint));
    out(&text)
}
