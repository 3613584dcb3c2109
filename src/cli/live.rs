//! The CLI's view of Dynamo's discovery: `instances`, and the live counts and source
//! health that `list` and `show` add.

use std::cell::RefCell;
use std::io::Write;

use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use super::{Paint, out, table, visible_len};
use crate::args::{Global, Output};
use crate::discovery::{self, Config, Instance, Snapshot, SourceStatus};
use crate::state::StateError;
use crate::text::safe;

/// Writes to stdout through a buffer; a closed pipe ends the output quietly.
fn write_out(f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), StateError> {
    let mut w = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    match f(&mut w).and_then(|()| w.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(StateError::Stdout(e)),
        _ => Ok(()),
    }
}

/// Pretty JSON written as it is serialized (no second copy of the document).
pub(super) fn print_json_stream(v: &impl Serialize) -> Result<(), StateError> {
    write_out(|w| {
        serde_json::to_writer_pretty(&mut *w, v).map_err(std::io::Error::from)?;
        w.write_all(b"\n")
    })
}

/// Instances, one after the other.
pub(super) type Insts<'a> = Box<dyn Iterator<Item = &'a Instance> + 'a>;

/// A JSON array written from an iterator as it is serialized (once).
pub(super) struct Seq<I>(RefCell<Option<I>>);

impl<I> Seq<I> {
    pub(super) fn new(it: I) -> Self {
        Seq(RefCell::new(Some(it)))
    }
}

impl<I: Iterator<Item = T>, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let it = self.0.borrow_mut().take();
        s.collect_seq(it.into_iter().flatten())
    }
}

/// The sources once, bounded by `--discovery-timeout`.
pub(super) fn snapshot(g: &Global) -> Snapshot {
    let cfg = Config::from_args(g);
    discovery::snapshot(&cfg, cfg.timeout)
}

pub(super) fn sources_json(snap: &Snapshot) -> Value {
    json!(snap.sources)
}

/// Whether discovery had sources on and every one failed.
pub(super) fn all_failed(snap: &Snapshot) -> bool {
    !snap.sources.is_empty() && !snap.answered()
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
    match &i.transport() {
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
        .into_iter()
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

/// One row of the instance table.
fn instance_row(i: &Instance, with_ns: bool, paint: &Paint) -> Vec<String> {
    let mut r = Vec::with_capacity(9);
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
}

/// Rows of the instance table.
pub(super) fn instance_rows<'a>(
    insts: impl Iterator<Item = &'a Instance>,
    with_ns: bool,
    paint: &Paint,
) -> Vec<Vec<String>> {
    insts.map(|i| instance_row(i, with_ns, paint)).collect()
}

/// The same layout as [`table`], written row by row: the rows are made twice (once for
/// the widths, once to write), never all held at once.
fn write_table<'a>(
    w: &mut dyn Write,
    header: &[&str],
    insts: &dyn Fn() -> Insts<'a>,
    with_ns: bool,
    paint: &Paint,
) -> std::io::Result<()> {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for i in insts() {
        for (c, cell) in instance_row(i, with_ns, paint).iter().enumerate() {
            width[c] = width[c].max(visible_len(cell));
        }
    }
    let n = header.len();
    let mut line = String::new();
    let mut write_line = |w: &mut dyn Write, cells: &[String]| -> std::io::Result<()> {
        line.clear();
        for (c, cell) in cells.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < n {
                let pad = width[c] - visible_len(cell) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        line.truncate(line.trim_end().len());
        line.push('\n');
        w.write_all(line.as_bytes())
    };
    let head: Vec<String> = header.iter().map(|h| paint.bold(h)).collect();
    write_line(w, &head)?;
    for i in insts() {
        write_line(w, &instance_row(i, with_ns, paint))?;
    }
    Ok(())
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

/// The note when no discovery source is on at all.
pub(super) fn no_source_note() -> String {
    format!(
        "no discovery source: nothing answers at {} and no file store at {}; set --etcd-endpoints / ETCD_ENDPOINTS or --file-kv / DYN_FILE_KV",
        discovery::DEFAULT_ETCD,
        safe(
            &std::env::temp_dir()
                .join("dynamo_store_kv")
                .display()
                .to_string()
        )
    )
}

/// `dynamo-ctl instances [NS]`: exit 1 when every source that is on failed. The output is
/// written as it is made (100,000 registrations are never copied into one document).
pub(super) fn instances(g: &Global, ns: Option<&str>, paint: &Paint) -> Result<i32, StateError> {
    let snap = snapshot(g);
    report_malformed(g, &snap);
    let insts = || -> Insts<'_> {
        match ns {
            Some(n) => Box::new(snap.of_namespace(n)),
            None => Box::new(snap.instances.iter().map(|i| &**i)),
        }
    };
    if g.output == Output::Json {
        #[derive(Serialize)]
        struct Doc<'a> {
            sources: &'a [SourceStatus],
            instances: Seq<Insts<'a>>,
            malformed: usize,
        }
        print_json_stream(&Doc {
            sources: &snap.sources,
            instances: Seq::new(insts()),
            malformed: snap.malformed_count,
        })?;
    } else {
        if snap.sources.is_empty() {
            eprintln!("dynamo-ctl: {}", no_source_note());
        }
        let any = insts().next().is_some();
        write_out(|w| {
            if any {
                let mut header = vec!["NAMESPACE"];
                header.extend(INSTANCE_HEADER);
                write_table(w, &header, &insts, true, paint)?;
            } else if !snap.sources.is_empty() {
                w.write_all(b"no instances registered\n")?;
            }
            w.write_all(sources_text(&snap, paint).as_bytes())
        })?;
    }
    let failed = all_failed(&snap);
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
    let insts: Vec<&Instance> = snap.of_namespace(ns).collect();
    // The dashboard's rows: each component (the planner's too, even at zero instances),
    // its live count (on the planner's endpoint when it has a target) and endpoints.
    let rows = crate::rows::Rows::of_discovery(
        ns,
        crate::rows::Sources {
            live: Some(snap),
            ..Default::default()
        },
    );
    let decision = snap.planners.get(ns).filter(|d| d.decided());
    let note = "no state file: this namespace is known only from discovery (Dynamo 1.x keeps none)";
    if g.output == Output::Json {
        let types: Vec<Value> = rows
            .components
            .iter()
            .map(|c| {
                json!({
                    "type": c.name,
                    "running": null,
                    "live": c.live.unwrap_or(0),
                    "planner": c.plan,
                    "endpoints": c.endpoints,
                    "instances": [],
                })
            })
            .collect();
        #[derive(Serialize)]
        struct Doc<'a> {
            namespace: &'a str,
            path: Option<()>,
            circus_endpoint: Option<()>,
            note: &'a str,
            types: Vec<Value>,
            discovery: &'a [SourceStatus],
            planner: Value,
            live_instances: Seq<Insts<'a>>,
        }
        return print_json_stream(&Doc {
            namespace: ns,
            path: None,
            circus_endpoint: None,
            note,
            types,
            discovery: &snap.sources,
            planner: super::planner::json(snap, ns),
            live_instances: Seq::new(Box::new(insts.iter().copied())),
        });
    }
    let mut text = format!(
        "{}  {}\n{}       none ({note})\n",
        paint.bold("namespace"),
        paint.cyan(&safe(ns)),
        paint.bold("file"),
    );
    if let Some(p) = super::planner::text(snap, ns, paint) {
        text.push_str(&format!("{}    {}\n", paint.bold("planner"), p));
    }
    text.push('\n');
    let table_rows: Vec<Vec<String>> = rows
        .components
        .iter()
        .map(|c| {
            // Against the planner's target in the dashboard's words: `1…` while short.
            let mut row = vec![
                safe(&c.name).into_owned(),
                paint.live(c.live, c.live_mark(), c.plan.is_some()),
            ];
            if decision.is_some() {
                row.push(c.plan.map_or("-".into(), |t| t.to_string()));
            }
            row.push(safe(&c.endpoints.join(", ")).into_owned());
            row
        })
        .collect();
    let header: &[&str] = if decision.is_some() {
        &["COMPONENT", "LIVE", "PLANNER", "ENDPOINTS"]
    } else {
        &["COMPONENT", "LIVE", "ENDPOINTS"]
    };
    text.push_str(&table(header, &table_rows, paint));
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
