use std::sync::Arc;

use super::*;
use crate::discovery::{Instance, SourceKind, SourceStatus, Status};
use crate::state::Document;

const DEMO: &str = include_str!("../../fixtures/demo/dynamo.json");

fn summary() -> Summary {
    crate::state::scale::summarize(&Document::parse(DEMO).expect("the demo parses").state)
}

fn w(name: &str, pids: &[u32]) -> Watcher {
    Watcher {
        name: name.into(),
        pids: pids.to_vec(),
    }
}

fn snap(insts: &[(&str, &str, &str, u64)]) -> Snapshot {
    Snapshot {
        sources: vec![SourceStatus {
            kind: SourceKind::Etcd,
            location: "http://127.0.0.1:2379".into(),
            status: Status::Ok,
            error: None,
            resyncs: 0,
        }],
        instances: insts
            .iter()
            .map(|(ns, comp, ep, id)| {
                let key = format!("instances/{ns}/{comp}/{ep}:{id:x}");
                let i = crate::discovery::parse::etcd_entry(
                    key.as_bytes(),
                    br#"{"transport": {"nats_tcp": "x"}}"#,
                )
                .expect("a registration");
                Arc::new(i)
            })
            .collect::<Vec<Arc<Instance>>>(),
        ..Default::default()
    }
}

fn row<'a>(r: &'a Rows, ty: &str) -> &'a TypeRow {
    r.types.iter().find(|t| t.name == ty).expect(ty)
}

#[test]
fn without_sources_nothing_is_known_and_nothing_is_green() {
    let s = summary();
    let r = Rows::of_file(&s, Sources::default());
    assert_eq!(r.types.len(), s.types.len());
    assert!(r.types.iter().all(|t| t.runs.is_none()) && r.unmanaged.is_empty());
    let v = row(&r, "VllmWorker");
    assert_eq!(v.desired, 2);
    assert_eq!(
        (v.runs, v.live, v.run_mark()),
        (None, None, RunMark::Unknown)
    );
    assert_eq!(v.runs_text(), "?");
    assert_eq!(v.live_mark(), LiveMark::Unknown);
    assert_eq!(live_text(v.live, v.live_mark()), "-");
    assert!(r.members(v).all(|p| p.is_none()));
    assert_eq!(r.members(v).count(), 2);
    let lines: usize = s.types.iter().map(|t| t.instances.len().max(1)).sum();
    assert_eq!(r.lines, lines);
    let widest = s
        .types
        .iter()
        .flat_map(|t| &t.instances)
        .map(|i| i.watcher_name.len())
        .max()
        .unwrap();
    assert_eq!(r.widest, widest);
}

#[test]
fn circus_joins_by_lower_cased_watcher_name_and_names_what_the_file_lacks() {
    let s = summary();
    let watchers = [
        w("dynamo_vllmworker", &[101]),
        w("dynamo_vllmworker_1", &[]),
        w("dynamo_frontend", &[7]),
        w("dynamo_stray", &[9, 10]),
    ];
    let unknown = ["dynamo_prefillworker".to_string(), "dynamo_ghost".into()];
    let r = Rows::of_file(
        &s,
        Sources {
            circus: Some(Circus {
                watchers: &watchers,
                unknown: &unknown,
            }),
            ..Default::default()
        },
    );
    let v = row(&r, "VllmWorker");
    assert_eq!((v.runs, v.unknown), (Some(1), 0));
    assert_eq!(v.run_mark(), RunMark::Short);
    assert_eq!(r.pids(v, 0), Some(&[101][..]));
    assert_eq!(r.pids(v, 1), Some(&[][..]));
    assert_eq!(r.pids(v, 2), None, "no third entry");
    let p = row(&r, "PrefillWorker");
    assert_eq!((p.runs, p.unknown), (Some(0), 1));
    assert_eq!(
        p.run_mark(),
        RunMark::Unknown,
        "a pid not known is never green"
    );
    assert_eq!(p.runs_text(), "0 (+1?)");
    assert_eq!(row(&r, "Frontend").run_mark(), RunMark::All);
    // Processor and Planner: in the file, circus runs no such watcher.
    assert_eq!(row(&r, "Processor").run_mark(), RunMark::NoneRuns);
    let un: Vec<(&str, Option<&[u32]>)> = r
        .unmanaged
        .iter()
        .map(|u| (u.name.as_str(), u.pids.as_deref()))
        .collect();
    assert_eq!(
        un,
        [("dynamo_stray", Some(&[9, 10][..])), ("dynamo_ghost", None)]
    );
    let lines: usize = s.types.iter().map(|t| t.instances.len().max(1)).sum();
    assert_eq!(r.lines, lines + 2);
}

#[test]
fn live_counts_follow_the_planners_endpoint_rule_and_marks_compare_with_the_file() {
    let s = summary();
    // VllmWorker wants 2: one registered on `generate` (the planner's rule), one on
    // another endpoint that does not count.
    let live = snap(&[
        ("dynamo", "VllmWorker", "generate", 1),
        ("dynamo", "VllmWorker", "load_metrics", 2),
        ("dynamo", "PrefillWorker", "mock", 3),
        ("dynamo", "PrefillWorker", "mock", 4),
        ("dynamo", "PrefillWorker", "mock", 6),
        ("other", "VllmWorker", "generate", 5),
    ]);
    let r = Rows::of_file(
        &s,
        Sources {
            live: Some(&live),
            ..Default::default()
        },
    );
    let v = row(&r, "VllmWorker");
    assert_eq!(v.live, Some(1));
    assert_eq!(v.live_mark(), LiveMark::Short);
    assert_eq!(live_text(v.live, v.live_mark()), "1…");
    let p = row(&r, "PrefillWorker");
    assert_eq!((p.desired, p.live), (2, Some(3)));
    assert_eq!(live_text(p.live, p.live_mark()), "3+");
    assert_eq!(row(&r, "Frontend").live, Some(0));
}

#[test]
fn a_namespace_only_discovery_knows_has_components_with_the_planners_targets() {
    let mut live = snap(&[
        ("dyn1", "backend", "generate", 0x10),
        ("dyn1", "backend", "clear_kv_blocks", 0x11),
        ("dyn1", "frontend", "http", 0x12),
        ("dyn2", "backend", "generate", 0x13),
    ]);
    live.planners.insert(
        "dyn1".into(),
        crate::discovery::planner::Decision {
            num_prefill_workers: Some(2),
            num_decode_workers: Some(1),
            decision_id: Some(4),
            scaled_decision_id: Some(3),
            ..Default::default()
        },
    );
    let r = Rows::of_discovery(
        "dyn1",
        Sources {
            live: Some(&live),
            ..Default::default()
        },
    );
    assert!(r.discovery_only && r.types.is_empty());
    let names: Vec<&str> = r.names().collect();
    // The planner's decode component is `backend`.
    assert_eq!(names, ["backend", "frontend", "prefill"]);
    let b = &r.components[0];
    assert_eq!(b.endpoints, ["clear_kv_blocks", "generate"]);
    assert_eq!(b.registrations.len(), 2);
    assert_eq!(b.registrations[0].id_hex(), "10");
    // The planner's target, against the instances on its endpoint only.
    assert_eq!(
        (b.plan, b.live, b.live_mark()),
        (Some(1), Some(1), LiveMark::Agrees)
    );
    let f = &r.components[1];
    assert_eq!(
        (f.plan, f.live, f.live_mark()),
        (None, Some(1), LiveMark::Agrees)
    );
    // Scaled to zero so far: a row with the target and no instance.
    let p = &r.components[2];
    assert_eq!((p.plan, p.live, p.height()), (Some(2), Some(0), 1));
    assert_eq!(live_text(p.live, p.live_mark()), "0…");
    assert_eq!(r.lines, 2 + 1 + 1);
    assert_eq!(r.widest, "clear_kv_blocks".len());
}

#[test]
fn load_joins_by_component_name_whatever_its_case() {
    let s = summary();
    let c = |ns: &str, comp: &str, rps: f64| ComponentLoad {
        namespace: ns.into(),
        component: comp.into(),
        instances: 1,
        requests_per_s: Some(rps),
        inflight: None,
        p50_seconds: None,
        p95_seconds: None,
        errors_per_s: None,
        kv_cache_usage: None,
    };
    let m = Metrics {
        sources: vec![],
        components: vec![c("dynamo", "vllmworker", 3.0), c("other", "Frontend", 9.0)],
        instances: vec![],
        frontend: None,
        prefill_queue: None,
        prefill_queues: vec![],
        taken_at: std::time::SystemTime::UNIX_EPOCH,
        window_seconds: None,
    };
    let r = Rows::of_file(
        &s,
        Sources {
            metrics: Some(&m),
            ..Default::default()
        },
    );
    let rate = |ty: &str| row(&r, ty).load.as_ref().and_then(|l| l.requests_per_s);
    assert_eq!(rate("VllmWorker"), Some(3.0));
    assert_eq!(
        rate("Frontend"),
        None,
        "another namespace's load is not ours"
    );
}

#[test]
fn the_first_row_in_view_keeps_the_selection_on_screen() {
    let h = [1, 3, 1, 2, 1];
    // Everything up to the selection fits: from the top.
    assert_eq!(first_in_view(h.iter().copied(), 2, 5), 0);
    // Row 3 ends on line 7: drop rows from the top until it fits in 5.
    assert_eq!(first_in_view(h.iter().copied(), 3, 5), 2);
    assert_eq!(first_in_view(h.iter().copied(), 4, 4), 2);
    assert_eq!(first_in_view(h.iter().copied(), 4, 3), 3);
    // A row taller than the table: it starts the view.
    assert_eq!(first_in_view(h.iter().copied(), 1, 2), 1);
    assert_eq!(first_in_view(std::iter::empty(), 0, 5), 0);
}

#[test]
fn two_hundred_thousand_types_join_in_linear_time() {
    use std::fmt::Write;
    let n = 200_000;
    let mut text = String::from(r#"{"namespace":"big","components":{"#);
    let mut watchers = Vec::new();
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        write!(
            text,
            r#""big_T{i}":{{"watcher_name":"big_T{i}","cmd":"x --service-name T{i}","resources":{{}}}}"#
        )
        .unwrap();
        watchers.push(w(&format!("big_t{i}"), &[i as u32 + 1]));
    }
    text.push_str("}}");
    let s = crate::state::scale::summarize(&Document::parse(&text).unwrap().state);
    assert_eq!(s.types.len(), n);
    let start = std::time::Instant::now();
    let r = Rows::of_file(
        &s,
        Sources {
            circus: Some(Circus {
                watchers: &watchers,
                unknown: &[],
            }),
            ..Default::default()
        },
    );
    // A search per row would be 4e10 comparisons: minutes, not this.
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(r.types.iter().all(|t| t.run_mark() == RunMark::All));
    assert!(r.unmanaged.is_empty());
}

#[test]
fn entries_naming_one_watcher_share_its_pids_instead_of_copying_them() {
    use crate::state::scale::{Instance as Entry, TypeSummary};
    // A hostile file: 20,000 entries name one watcher that circus runs with 100,000 pids.
    let entry = Entry {
        name: "x_W".into(),
        watcher_name: "x_W".into(),
        suffix: None,
        gpus: vec![],
        parked: false,
    };
    let s = Summary {
        namespace: "x".into(),
        circus_endpoint: None,
        types: vec![TypeSummary {
            ty: "W".into(),
            running: 20_000,
            instances: vec![entry; 20_000],
        }],
        gpus_total: 0,
        gpus_used: 0,
        free_gpus: vec![],
        gpu_map: vec![],
    };
    let watchers = [w("x_w", &(1..=100_000).collect::<Vec<u32>>())];
    let r = Rows::of_file(
        &s,
        Sources {
            circus: Some(Circus {
                watchers: &watchers,
                unknown: &[],
            }),
            ..Default::default()
        },
    );
    assert_eq!(r.pid_table.len(), 100_000, "the pids are kept once");
    let t = &r.types[0];
    assert_eq!(r.members(t).count(), 20_000);
    assert_eq!(r.pids(t, 19_999).map(<[u32]>::len), Some(100_000));
    assert_eq!(t.run_mark(), RunMark::All);
}
