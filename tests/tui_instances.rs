//! The instance table of a type (Enter on a dashboard row): one row per state entry joined
//! with circus, discovery (by the entry's lease: its worker's instance id) and metrics (by
//! the instance id), sortable by any column with the cursor staying on its instance.

mod tui_support;

use crossterm::event::KeyCode;
use dynamo_ctl::metrics::{InstanceLoad, Metrics};
use dynamo_ctl::tui::app::{Action, App};
use dynamo_ctl::tui::keys::Scope;
use tui_support::*;

/// The demo's `dynamo` namespace with three VllmWorkers whose leases are 0x11, 0x22, 0x33.
fn three_workers() -> (App, dynamo_ctl::state::Store, tempfile::TempDir) {
    let d = demo_copy();
    let path = d.path().join("dynamo.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let comps = v["components"].as_object_mut().unwrap();
    let mut third = comps["dynamo_VllmWorker_1"].clone();
    third["watcher_name"] = "dynamo_VllmWorker_2".into();
    third["resources"]["allocated_gpus"] = serde_json::json!(["4"]);
    comps.insert("dynamo_VllmWorker_2".into(), third);
    for (name, lease) in [
        ("dynamo_VllmWorker", 0x11u64),
        ("dynamo_VllmWorker_1", 0x22),
        ("dynamo_VllmWorker_2", 0x33),
    ] {
        comps[name]["lease"] = lease.into();
    }
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let (app, store) = app_on(d.path(), Some("dynamo"), false);
    (app, store, d)
}

fn load(id: u64, rate: f64, p95: f64, health: &str) -> InstanceLoad {
    InstanceLoad {
        namespace: "dynamo".into(),
        component: "VllmWorker".into(),
        instance_id_hex: format!("{id:x}"),
        requests_per_s: Some(rate),
        inflight: Some(rate / 2.0),
        p50_seconds: Some(p95 / 2.0),
        p95_seconds: Some(p95),
        errors_per_s: None,
        kv_cache_usage: Some(0.5),
        malformed: vec![],
        health: Some(health.into()),
        stale: false,
        source: "http://127.0.0.1:9100/metrics".into(),
    }
}

fn names_in_order(t: &str) -> Vec<&str> {
    t.lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("dynamo_VllmWorker"))
        })
        .collect()
}

#[test]
fn one_table_joins_file_circus_discovery_and_load_and_sorts_two_ways() {
    let (mut app, store, _d) = three_workers();
    // Registered: 0x11 and 0x22 (0x33's worker is gone); load for both.
    app.update(Action::InstancesChanged(Box::new(live(&[
        ("dynamo", "VllmWorker", "generate", 0x11),
        ("dynamo", "VllmWorker", "generate", 0x22),
    ]))));
    app.load.on = true;
    let mut m = Metrics::none();
    m.instances = vec![
        load(0x11, 3.0, 0.2, "ready"),
        load(0x22, 9.0, 1.5, "notready"),
    ];
    app.update(Action::MetricsSeen {
        ns: "dynamo".into(),
        metrics: Box::new(m),
    });
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(app.scope(), Scope::Instances);
    let t = text(&render(&app, 140, 30));
    assert!(
        t.contains("instances of VllmWorker, sorted by watcher ↑"),
        "{t}"
    );
    for want in ["Instance", "Health", "Req/s", "p95", "In flight", "KV"] {
        assert!(t.contains(want), "{want}: {t}");
    }
    // Ids in hex as discovery and `top` print them, registered or not; `-` for none.
    let row = |t: &str, name: &str| {
        t.lines()
            .find(|l| l.contains(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {t}"))
            .to_string()
    };
    let r11 = row(&t, "dynamo_VllmWorker");
    assert!(
        r11.contains("11 ✓") && r11.contains("ready") && r11.contains("3.00/s"),
        "{r11}"
    );
    // --state-only: circus is never asked, and the Process column says so.
    assert!(r11.contains("? (circus not asked: --state-only)"), "{r11}");
    let r33 = row(&t, "dynamo_VllmWorker_2");
    assert!(r33.contains("33 ✗"), "{r33}");
    assert!(row(&t, "dynamo_VllmWorker_1").contains("notready"), "{t}");

    // The cursor on VllmWorker_1 (req/s 9) stays on it whatever the sort.
    drive(&mut app, &store, key('j'));
    let selected = |app: &App| {
        match top_popup(app) {
            Some(dynamo_ctl::tui::panels::AnyPanel::Instances(p)) => p.selected(app),
            _ => None,
        }
        .map(|(name, _)| name)
    };
    assert_eq!(selected(&app).as_deref(), Some("dynamo_VllmWorker_1"));

    // Shift+R: by req/s, ascending (unknown last); again: descending (unknown still last).
    drive(&mut app, &store, key('R'));
    let t = text(&render(&app, 140, 30));
    assert!(t.contains("sorted by req/s ↑"), "{t}");
    assert_eq!(
        names_in_order(&t),
        [
            "dynamo_VllmWorker",
            "dynamo_VllmWorker_1",
            "dynamo_VllmWorker_2"
        ]
    );
    drive(&mut app, &store, key('R'));
    let t = text(&render(&app, 140, 30));
    insta::assert_snapshot!("instances_by_rate_down", t.clone());
    assert!(t.contains("sorted by req/s ↓"), "{t}");
    assert_eq!(
        names_in_order(&t),
        [
            "dynamo_VllmWorker_1",
            "dynamo_VllmWorker",
            "dynamo_VllmWorker_2"
        ]
    );
    assert_eq!(selected(&app).as_deref(), Some("dynamo_VllmWorker_1"));
    // `<` moves the sort one column left: in flight -> p95 ... here from req/s to health.
    drive(&mut app, &store, key('<'));
    let t = text(&render(&app, 140, 30));
    insta::assert_snapshot!("instances_by_health", t.clone());
    assert!(t.contains("sorted by health ↑"), "{t}");
    assert_eq!(
        names_in_order(&t),
        [
            "dynamo_VllmWorker_1",
            "dynamo_VllmWorker",
            "dynamo_VllmWorker_2"
        ],
        "notready < ready, unknown last"
    );
    assert_eq!(selected(&app).as_deref(), Some("dynamo_VllmWorker_1"));
    // `c` copies the selected instance's watcher.
    let e = drive(&mut app, &store, key('c'));
    assert_eq!(
        e,
        [dynamo_ctl::tui::app::Effect::Copy(
            "dynamo_VllmWorker_1".into()
        )]
    );
}

/// A Dynamo 1.x component's instances (Enter on a discovery-only row): the same sort.
#[test]
fn a_1x_components_instances_sort_by_load_and_keep_the_cursor() {
    let d = demo_copy();
    let (mut app, store) = app_on(d.path(), None, false);
    app.update(Action::InstancesChanged(Box::new(live(&[
        ("dyn16", "backend", "generate", 0xa1),
        ("dyn16", "backend", "generate", 0xb2),
        ("dyn16", "backend", "generate", 0xc3),
    ]))));
    let pos = app
        .visible_namespaces()
        .iter()
        .position(|n| n.name == "dyn16")
        .unwrap();
    set_picker(&mut app, pos);
    drive(&mut app, &store, code(KeyCode::Enter));
    app.load.on = true;
    let mut m = Metrics::none();
    let l = |id: u64, rate: f64| InstanceLoad {
        namespace: "dyn16".into(),
        component: "backend".into(),
        ..load(id, rate, 0.1, "ready")
    };
    m.instances = vec![l(0xa1, 5.0), l(0xb2, 1.0), l(0xc3, 9.0)];
    app.update(Action::MetricsSeen {
        ns: "dyn16".into(),
        metrics: Box::new(m),
    });
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(app.scope(), Scope::Live);
    let ids = |t: &str| -> Vec<String> {
        t.lines()
            .filter_map(|l| {
                l.split_whitespace()
                    .find(|w| ["a1", "b2", "c3"].contains(w))
                    .map(str::to_string)
            })
            .collect()
    };
    let t = text(&render(&app, 160, 30));
    assert_eq!(ids(&t), ["a1", "b2", "c3"], "{t}");
    drive(&mut app, &store, key('j'));
    drive(&mut app, &store, key('R'));
    drive(&mut app, &store, key('R'));
    let t = text(&render(&app, 160, 30));
    assert!(t.contains("sorted by req/s ↓"), "{t}");
    assert_eq!(ids(&t), ["c3", "a1", "b2"], "{t}");
    // The cursor stayed on b2: `c` copies it.
    let e = drive(&mut app, &store, key('c'));
    assert_eq!(e, [dynamo_ctl::tui::app::Effect::Copy("b2".into())]);
}
