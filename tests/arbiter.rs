//! Scaling through a real circus arbiter (circusd 0.19 from the project's venv): processes
//! start and stop, the state file follows, failures leave both consistent.

mod arbiter_support;
mod tui_support;

use std::time::Duration;

use arbiter_support::{Circus, alive};
use dynamo_ctl::arbiter::{self, Expect, Kill, Mode, Options, Process};
use dynamo_ctl::state::Store;

fn has(watchers: &[String], name: &str) -> bool {
    watchers.iter().any(|w| w.eq_ignore_ascii_case(name))
}

fn json(r: &arbiter_support::Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr))
}

#[test]
fn add_starts_a_worker_with_its_gpu_and_none_of_the_callers_environment() {
    let c = Circus::start("t", false);
    let r = c.run_env(
        &["add", "t", "VllmWorker", "-o", "json"],
        &[("CALLER_SECRET_TOKEN", "sentinel_caller_secret")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    let ch = &v["changes"][0];
    assert_eq!(ch["name"], "t_VllmWorker_1");
    assert_eq!(ch["process"], "started");
    let pid = ch["pids"][0].as_u64().unwrap() as u32;
    assert!(alive(pid));
    assert!(r.stderr.contains("starting t_VllmWorker_1"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("running (pid {pid})")),
        "{}",
        r.stderr
    );
    // The watcher runs; its process has GPU 1 and the deployment's config, and nothing of
    // the caller's environment.
    assert!(has(&c.watchers(), "t_VllmWorker_1"));
    assert_eq!(c.pids("t_VllmWorker_1"), vec![pid]);
    let env = c
        .worker_env("t_VllmWorker_1")
        .expect("the worker recorded its env");
    assert!(env.lines().any(|l| l == "CUDA_VISIBLE_DEVICES=1"), "{env}");
    assert!(env.contains("DYNAMO_SERVICE_CONFIG={\"Common\""), "{env}");
    assert!(!env.contains("sentinel_caller_secret"), "{env}");
    // The entry is in the file, with the same GPU.
    let st = c.state();
    assert_eq!(
        st["components"]["t_VllmWorker_1"]["resources"]["allocated_gpus"],
        serde_json::json!(["1"])
    );
    assert!(
        !std::fs::read_to_string(c.state_path())
            .unwrap()
            .contains("sentinel")
    );
    // show sees the process.
    let r = c.run(&["show", "t", "-o", "json"]);
    let v = json(&r);
    assert_eq!(v["arbiter"]["reachable"], true);
    let insts = &v["types"][1]["instances"];
    assert_eq!(insts[1]["name"], "t_VllmWorker_1");
    assert_eq!(insts[1]["pids"], serde_json::json!([pid]));
}

#[test]
fn remove_sends_sigterm_then_deletes_or_parks_the_entry() {
    let c = Circus::start("t", false);
    assert_eq!(c.run(&["add", "t", "VllmWorker"]).code, 0);
    let pid = c.pids("t_VllmWorker_1")[0];
    c.wait_ready(pid);
    let r = c.run(&["remove", "t", "VllmWorker"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("removed t_VllmWorker_1, freed GPU 1, process stopped"),
        "{}",
        r.stdout
    );
    assert!(c.got_term("t_VllmWorker_1"), "the worker got SIGTERM");
    assert!(!alive(pid));
    assert!(!has(&c.watchers(), "t_VllmWorker_1"));
    assert!(c.state()["components"].get("t_VllmWorker_1").is_none());
    // The base entry is parked, its watcher gone.
    let base_pid = c.pids("t_VllmWorker")[0];
    let r = c.run(&["remove", "t", "VllmWorker", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["changes"][0]["process"], "stopped");
    assert_eq!(v["changes"][0]["parked"], true);
    assert_eq!(v["changes"][0]["pids"], serde_json::json!([base_pid]));
    assert!(c.got_term("base"));
    assert!(!has(&c.watchers(), "t_VllmWorker"));
    let base = &c.state()["components"]["t_VllmWorker"];
    assert_eq!(base["lease"], serde_json::Value::Null);
    assert_eq!(base["resources"], serde_json::json!({}));
}

#[test]
fn scale_up_three_and_down_to_zero() {
    let c = Circus::start("t", false);
    let r = c.run(&["scale", "t", "VllmWorker", "--replicas", "3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    for n in ["t_VllmWorker", "t_VllmWorker_1", "t_VllmWorker_2"] {
        assert_eq!(c.pids(n).len(), 1, "{n}");
    }
    let r = c.run(&["scale", "t", "VllmWorker", "--replicas", "0", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["changes"].as_array().unwrap().len(), 3);
    assert_eq!(v["running"]["VllmWorker"], 0);
    let ws = c.watchers();
    assert!(!ws.iter().any(|w| w.starts_with("t_vllmworker")), "{ws:?}");
    assert!(has(&ws, "t_Frontend"), "other types are left alone: {ws:?}");
}

#[test]
fn a_worker_that_ignores_sigterm_times_out_consistently_and_force_kills_it() {
    let c = Circus::start("t", true);
    let before = std::fs::read(c.state_path()).unwrap();
    let pid = c.pids("t_StubbornWorker")[0];
    let r = c.run(&["--stop-timeout", "1", "remove", "t", "StubbornWorker"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("t_StubbornWorker is still running 1 s after SIGTERM; nothing was removed"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    // Nothing half-removed: same file, same watcher, same process.
    assert_eq!(std::fs::read(c.state_path()).unwrap(), before);
    assert!(has(&c.watchers(), "t_StubbornWorker"));
    assert!(alive(pid));
    let r = c.run(&[
        "--stop-timeout",
        "1",
        "remove",
        "t",
        "StubbornWorker",
        "--force",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("sending SIGKILL"), "{}", r.stderr);
    assert!(!alive(pid));
    assert!(!has(&c.watchers(), "t_StubbornWorker"));
    assert_eq!(
        c.state()["components"]["t_StubbornWorker"]["lease"],
        serde_json::Value::Null
    );
}

#[test]
fn the_library_kill_now_path_sends_sigkill_at_once() {
    let c = Circus::start("t", true);
    let store = Store::new(c.state_dir());
    let mut client = c.client();
    let pid = c.pids("t_StubbornWorker")[0];
    let opts = Options {
        kill: Kill::Now,
        ..Options::default()
    };
    let (step, _) = arbiter::ops::remove(
        &store,
        "t",
        "StubbornWorker",
        None,
        Mode::Arbiter(&mut client),
        &opts,
        &Expect::Any,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(step.process, Process::Stopped);
    assert!(!alive(pid));
}

#[test]
fn an_arbiter_restarted_between_two_calls_answers_the_second() {
    let mut c = Circus::start("t", false);
    let mut client = c.client();
    assert!(has(&client.list().unwrap(), "t_VllmWorker"));
    assert_eq!(c.run(&["add", "t", "VllmWorker"]).code, 0);
    c.restart();
    // The same client (as the TUI keeps it) works again.
    assert!(has(&client.list().unwrap(), "t_VllmWorker"));
    // And the CLI: the restarted arbiter no longer runs t_VllmWorker_1 (its process was
    // orphaned), so the entry is "in the file, not running" and the next add takes _2.
    let r = c.run(&["show", "t"]);
    assert!(
        r.stdout.contains("in the file, not running"),
        "{}",
        r.stdout
    );
    let r = c.run(&["add", "t", "VllmWorker"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("added t_VllmWorker_2 on GPU 2, running"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_arbiter_that_is_down_or_hangs_is_a_clear_error_and_the_file_is_unchanged() {
    let mut c = Circus::start("t", false);
    c.kill();
    let before = std::fs::read(c.state_path()).unwrap();
    for op in [
        &["add", "t", "VllmWorker"][..],
        &["remove", "t", "VllmWorker"],
    ] {
        let r = c.run(op);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("is unreachable"), "{}", r.stderr);
        assert!(
            r.stderr.contains("the state file is unchanged"),
            "{}",
            r.stderr
        );
        assert_eq!(std::fs::read(c.state_path()).unwrap(), before);
    }
    // --state-only changes the file and says no process starts.
    let r = c.run(&["--state-only", "add", "t", "VllmWorker"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("no process starts or stops"),
        "{}",
        r.stderr
    );
    assert!(c.state()["components"].get("t_VllmWorker_1").is_some());
    let r = c.run(&["show", "t", "-o", "json"]);
    let v = json(&r);
    assert_eq!(v["arbiter"]["reachable"], false);
    assert!(v["types"][1]["instances"][0]["pids"].is_null());

    // A listener that accepts and never answers: the deadline ends it.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let text = std::fs::read_to_string(c.state_path())
        .unwrap()
        .replace(&c.endpoint, &format!("tcp://127.0.0.1:{port}"));
    std::fs::write(c.state_path(), &text).unwrap();
    let r = c.run(&["--arbiter-timeout", "0.5", "add", "t", "VllmWorker"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("no answer within 0.5 s"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(c.state_path()).unwrap(), text);
    drop(l);
}

#[test]
fn no_endpoint_in_the_file_is_an_error_unless_state_only() {
    let c = Circus::start("t", false);
    let text = std::fs::read_to_string(c.state_path())
        .unwrap()
        .replace(&format!(r#""circus_endpoint": "{}", "#, c.endpoint), "");
    std::fs::write(c.state_path(), &text).unwrap();
    let r = c.run(&["add", "t", "VllmWorker"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("names no circus endpoint"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(c.state_path()).unwrap(), text);
    assert_eq!(c.run(&["--state-only", "add", "t", "VllmWorker"]).code, 0);
}

#[test]
fn a_refused_add_takes_the_entry_out_again() {
    let c = Circus::start("t", false);
    // A watcher of that name already exists in circus (but not in the file): circus refuses.
    let mut client = c.client();
    client
        .add(
            "t_VllmWorker_1",
            &c.base_cmd(false),
            &serde_json::Map::new(),
            serde_json::Map::new(),
        )
        .unwrap();
    let before = std::fs::read(c.state_path()).unwrap();
    let r = c.run(&["add", "t", "VllmWorker"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("circus refused add:")
            && r.stderr.contains("entry t_VllmWorker_1 taken out again"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(c.state_path()).unwrap(), before);
    // show marks it as running but not in the file.
    let r = c.run(&["show", "t"]);
    assert!(
        r.stdout.contains("running, not in the file"),
        "{}",
        r.stdout
    );
    let v = json(&c.run(&["show", "t", "-o", "json"]));
    assert_eq!(v["unmanaged_watchers"][0]["name"], "t_vllmworker_1");
}

#[test]
fn a_busy_arbiter_is_retried() {
    let c = Circus::start("t", false);
    let mut slow = c.client();
    // A watcher that ignores SIGTERM with a 2 s graceful timeout: `rm` with `waiting` holds
    // the arbiter for those 2 s.
    let opts = serde_json::json!({"graceful_timeout": 2, "respawn": false});
    let cmd = format!("{} --custom-component-name t_slow", c.base_cmd(true));
    slow.call(
        "add",
        serde_json::json!({"name": "t_slow", "cmd": cmd, "args": [], "options": opts, "start": true}),
    )
    .unwrap();
    let mut probe = c.client();
    let pid = loop {
        match probe.pids("t_slow") {
            Ok(p) if !p.is_empty() => break p[0],
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    c.wait_ready(pid);
    let rm = std::thread::spawn(move || slow.rm("t_slow"));
    // rm first unlists the watcher, then stops it: once it is unlisted, rm is in flight.
    while has(&probe.list().unwrap(), "t_slow") {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut client = c.client();
    client
        .add(
            "t_after",
            &c.base_cmd(false),
            &serde_json::Map::new(),
            serde_json::Map::new(),
        )
        .unwrap();
    assert!(client.busy_retries() > 0, "the add met a busy arbiter");
    rm.join().unwrap().unwrap();
    assert!(has(&client.list().unwrap(), "t_after"));
}

#[test]
fn expect_refuses_a_different_target() {
    let c = Circus::start("t", false);
    assert_eq!(
        c.run(&["scale", "t", "VllmWorker", "--replicas", "3"]).code,
        0
    );
    let before = std::fs::read(c.state_path()).unwrap();
    let r = c.run(&["remove", "t", "VllmWorker", "--expect", "t_VllmWorker_1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("not the expected \"t_VllmWorker_1\""),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(c.state_path()).unwrap(), before);
    assert_eq!(c.pids("t_VllmWorker_2").len(), 1, "nothing stopped");
    let r = c.run(&["remove", "t", "VllmWorker", "--expect", "t_VllmWorker_2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn infrastructure_types_need_allow_infra() {
    let c = Circus::start("t", false);
    let r = c.run(&["add", "t", "Frontend"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not a worker type"), "{}", r.stderr);
    assert!(!has(&c.watchers(), "t_Frontend_1"));
    let r = c.run(&["add", "t", "Frontend", "--allow-infra"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(has(&c.watchers(), "t_Frontend_1"));
}

#[test]
fn the_tui_effects_start_and_stop_real_workers() {
    use dynamo_ctl::tui::app::{Action, App, ArbiterStatus, Effect};
    use dynamo_ctl::tui::effects::run_blocking;
    use tui_support::Confirm;
    let c = Circus::start("t", false);
    let store = Store::new(c.state_dir());
    let mut app =
        App::new(c.state_dir(), false, Some("t".into())).with_arbiter(None, Options::default());
    let run = |app: &mut App, effects: Vec<Effect>| {
        let mut queue = effects;
        while let Some(e) = queue.pop() {
            let a = run_blocking(&store, e);
            queue.extend(app.update(a));
        }
    };
    let start = app.start();
    run(&mut app, start);
    let poll = app.update(Action::ArbiterTick);
    run(&mut app, poll);
    match &app.arbiter {
        ArbiterStatus::Online { watchers, .. } => {
            assert!(
                watchers
                    .iter()
                    .any(|w| w.name == "t_vllmworker" && w.pids.len() == 1)
            )
        }
        other => panic!("{other:?}"),
    }
    let key = |ch| {
        Action::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char(ch),
        ))
    };
    let enter = Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Enter,
    ));
    // a, Enter on the preselected worker type, y.
    let e = app.update(key('a'));
    run(&mut app, e);
    let e = app.update(enter);
    run(&mut app, e);
    let Confirm { question, note, .. } = tui_support::confirm(&app);
    assert_eq!(question, "Add t_VllmWorker_1 on GPU 1?");
    assert_eq!(note.as_deref(), Some("circus starts its process."));
    let e = app.update(key('y'));
    run(&mut app, e);
    let pid = c.pids("t_VllmWorker_1")[0];
    assert!(alive(pid));
    let status = app.status.clone().unwrap();
    assert!(
        status.text.starts_with(&format!(
            "Added t_VllmWorker_1 on GPU 1, running (pid {pid})"
        )),
        "{status:?}"
    );
    let env = c.worker_env("t_VllmWorker_1").unwrap();
    assert!(env.lines().any(|l| l == "CUDA_VISIBLE_DEVICES=1"), "{env}");
    c.wait_ready(pid);
    // r, Enter, y: the same worker stops.
    let e = app.update(key('r'));
    run(&mut app, e);
    let e = app.update(Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Enter,
    )));
    run(&mut app, e);
    let e = app.update(key('y'));
    run(&mut app, e);
    assert!(c.got_term("t_VllmWorker_1"));
    assert!(!alive(pid));
    assert!(!has(&c.watchers(), "t_VllmWorker_1"));
    assert!(c.state()["components"].get("t_VllmWorker_1").is_none());
}

#[test]
fn no_wait_returns_once_circus_accepted_and_a_worker_that_never_runs_times_out() {
    let c = Circus::start("t", false);
    let r = c.run(&["add", "t", "VllmWorker", "--no-wait", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["changes"][0]["process"], "started");
    assert!(!r.stderr.contains("running (pid"), "{}", r.stderr);
    assert!(has(&c.watchers(), "t_VllmWorker_1"));

    // A type whose command cannot start: the entry and the watcher stay, the timeout is
    // reported, exit 1.
    let mut st = c.state();
    st["components"]["t_GhostWorker"] = serde_json::json!({
        "watcher_name": "t_GhostWorker",
        "cmd": "/nonexistent/dynamo-worker --service-name GhostWorker",
        "resources": {"allocated_gpus": [6]},
    });
    std::fs::write(c.state_path(), serde_json::to_string(&st).unwrap()).unwrap();
    let r = c.run(&[
        "--start-timeout",
        "1",
        "add",
        "t",
        "GhostWorker",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["changes"][0]["name"], "t_GhostWorker_1");
    assert_eq!(v["changes"][0]["process"], "timeout");
    assert!(
        r.stderr.contains("did not start within --start-timeout"),
        "{}",
        r.stderr
    );
    assert!(c.state()["components"].get("t_GhostWorker_1").is_some());
    assert!(has(&c.watchers(), "t_GhostWorker_1"));
    // show marks it: in the file, not running.
    let r = c.run(&["show", "t"]);
    let row = r
        .stdout
        .lines()
        .find(|l| l.starts_with("t_GhostWorker_1"))
        .unwrap();
    assert!(row.ends_with("in the file, not running"), "{row}");
}

// Hostile arbiters (issue 14): whatever an arbiter sends, a call ends at its deadline, a
// view at its budget, in bounded memory, with short lines and the reason said.

use arbiter_support::fake::{Answer, Fake, Request};
use arbiter_support::{Bounded, run_bounded};
use serde_json::json;

/// Past this a run counts as hung (it is killed and the test fails).
const HUNG: Duration = Duration::from_secs(30);
/// What one run may take at most with an arbiter reply at the cap (1 MiB), or a flood.
const MAX_RSS_KIB: i64 = 100 * 1024;

fn bounded_ok(r: &Bounded, what: &str) {
    assert!(
        r.max_rss_kib < MAX_RSS_KIB,
        "{what}: peak RSS {} MiB",
        r.max_rss_kib / 1024
    );
    assert!(
        r.longest_line() < 1000,
        "{what}: a line of {} bytes",
        r.longest_line()
    );
}

fn circus_line(r: &Bounded) -> &str {
    r.stdout
        .lines()
        .find(|l| l.starts_with("circus"))
        .unwrap_or_else(|| panic!("no circus line: {}\n{}", r.stdout, r.stderr))
}

#[test]
fn a_flood_of_replies_that_are_not_the_answer_ends_at_the_deadline_in_bounded_memory() {
    let zeros = format!("[{}0]", "0,".repeat(150_000));
    let floods: Vec<(&str, Vec<u8>)> = vec![
        (
            "someone else's id",
            format!(r#"{{"id": "not-yours", "status": "ok", "watchers": {zeros}}}"#).into_bytes(),
        ),
        (
            "no id",
            format!(r#"{{"status": "ok", "pids": {zeros}}}"#).into_bytes(),
        ),
        ("not JSON", vec![b'['; 300_000]),
        ("small and many", br#"{"id": 1, "status": "ok"}"#.to_vec()),
    ];
    for (what, body) in floods {
        for args in [
            &["--arbiter-timeout", "1", "show", "m"][..],
            &["--arbiter-timeout", "1", "add", "m", "VllmWorker"],
        ] {
            let b = body.clone();
            let fake = Fake::start(move |_| Answer::Flood(b.clone()));
            let dir = fake.state_dir("m");
            let before = std::fs::read(dir.path().join("m.json")).unwrap();
            let r = run_bounded(dir.path(), args, HUNG);
            let what = format!("{what}, {args:?}");
            bounded_ok(&r, &what);
            if args.contains(&"show") {
                assert_eq!(r.code, 0, "{what}: {}", r.stderr);
                assert!(
                    circus_line(&r).contains("offline: circus at")
                        && circus_line(&r).contains("no answer within 1.0 s"),
                    "{what}: {}",
                    r.stdout
                );
            } else {
                assert_eq!(r.code, 1, "{what}: {}", r.stderr);
                assert!(
                    r.stderr.contains("no answer within 1.0 s"),
                    "{what}: {}",
                    r.stderr
                );
                assert_eq!(std::fs::read(dir.path().join("m.json")).unwrap(), before);
            }
        }
    }
}

#[test]
fn the_library_call_ends_at_its_deadline_under_a_flood_and_ignores_multi_part_replies() {
    for answer in [
        (|r: &Request| Answer::Flood(format!(r#"{{"id": "{}x"}}"#, r.id).into_bytes()))
            as fn(&Request) -> Answer,
        // The right id, in a message of two frames: not circus's answer.
        |r| {
            Answer::Parts(vec![
                format!(r#"{{"id": "{}", "status": "ok", "watchers": []}}"#, r.id).into_bytes(),
                b"more".to_vec(),
            ])
        },
    ] {
        let fake = Fake::start(answer);
        let endpoint = fake.endpoint.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut c = arbiter::Client::new(&endpoint, Duration::from_millis(500)).unwrap();
            let _ = tx.send(c.list());
        });
        let got = rx.recv_timeout(HUNG).expect("the call did not end (hung?)");
        let e = got.unwrap_err();
        assert!(e.to_string().contains("no answer within 0.5 s"), "{e}");
    }
}

/// `list` names `n` watchers of namespace `m`; `list NAME` answers `pids` after `pause`.
fn slow_pids(n: usize, pause: Duration) -> Fake {
    Fake::start(move |r| match r.name() {
        None => Answer::Json(json!({
            "status": "ok",
            "watchers": (0..n).map(|i| format!("m_w{i}")).collect::<Vec<_>>(),
        })),
        Some(_) => Answer::Later(
            pause,
            Box::new(Answer::Json(json!({"status": "ok", "pids": [4242]}))),
        ),
    })
}

#[test]
fn one_show_waits_for_the_arbiter_once_in_all_and_says_what_is_missing() {
    // Ten watchers, each answered in 0.6 s: a budget per call would wait 6 s and know all.
    let fake = slow_pids(10, Duration::from_millis(600));
    let dir = fake.state_dir("m");
    let r = run_bounded(dir.path(), &["--arbiter-timeout", "1", "show", "m"], HUNG);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = circus_line(&r);
    assert!(
        line.contains("online (10 watchers of m); pids of ")
            && line.ends_with(" of 10 watchers unknown: arbiter timeout after 1 s"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("in circus, not in the file (pids unknown)"),
        "{}",
        r.stdout
    );
    let r = run_bounded(
        dir.path(),
        &["--arbiter-timeout", "1", "show", "m", "-o", "json"],
        HUNG,
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let a = &v["arbiter"];
    let (known, unknown) = (
        a["watchers"].as_array().unwrap().len(),
        a["pids_unknown"].as_array().unwrap().len(),
    );
    assert!(unknown > 0 && known + unknown == 10, "{a}");
    assert!(
        a["incomplete"]
            .as_str()
            .unwrap()
            .ends_with("watchers unknown: arbiter timeout after 1 s"),
        "{a}"
    );
    assert_eq!(a["error"], serde_json::Value::Null);
}

#[test]
fn a_busy_arbiter_costs_a_view_its_budget_not_a_minute() {
    let busy = |_: &Request| {
        Answer::Json(
            json!({"status": "error", "reason": "arbiter is already running list command"}),
        )
    };
    let fake = Fake::start(busy);
    let dir = fake.state_dir("m");
    let r = run_bounded(dir.path(), &["--arbiter-timeout", "1", "show", "m"], HUNG);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        circus_line(&r).contains("offline: circus is busy (still running another command) after "),
        "{}",
        r.stdout
    );
    // Busy only for the pids: each watcher's are unknown, said so.
    let fake = Fake::start(move |r| match r.name() {
        None => Answer::Json(json!({"status": "ok", "watchers": ["m_a", "m_b", "m_c"]})),
        Some(_) => busy(r),
    });
    let dir = fake.state_dir("m");
    let r = run_bounded(dir.path(), &["--arbiter-timeout", "1", "show", "m"], HUNG);
    assert!(
        circus_line(&r).ends_with("pids of 3 of 3 watchers unknown: circus busy for 1 s"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_tuis_poll_waits_its_two_seconds_in_all_and_says_what_is_missing() {
    use dynamo_ctl::tui::app::{Action, Effect};
    use dynamo_ctl::tui::effects::run_blocking;
    // Three watchers answered in 1.5 s each: the poll's 2 s per call would know them all.
    let fake = slow_pids(3, Duration::from_millis(1500));
    let dir = fake.state_dir("m");
    let a = run_blocking(
        &Store::new(dir.path()),
        Effect::ArbiterPoll {
            ns: "m".into(),
            endpoint: fake.endpoint.clone(),
        },
    );
    let Action::ArbiterSeen { result, .. } = a else {
        panic!("{a:?}")
    };
    let why = result.unwrap_err();
    assert!(
        why.ends_with(" of 3 watchers unknown: arbiter timeout after 2 s"),
        "{why}"
    );
}

#[test]
fn show_says_a_refusing_circus_is_offline_in_the_tuis_words() {
    use dynamo_ctl::tui::app::{Action, Effect};
    use dynamo_ctl::tui::effects::run_blocking;
    for (reply, said) in [
        (
            json!({"status": "error", "reason": "go away"}),
            "circus refused list: go away",
        ),
        (
            json!({"status": "meh"}),
            "circus answered list with something unexpected: status \"meh\"",
        ),
        (
            json!({"watchers": []}),
            "circus answered list with something unexpected: no status",
        ),
        (
            json!({"status": "ok"}),
            "circus answered list with something unexpected: no \"watchers\" list",
        ),
        (
            json!({"status": "ok", "watchers": "m_a"}),
            "circus answered list with something unexpected: no \"watchers\" list",
        ),
        (
            json!({"status": "ok", "watchers": {"m_a": 1}}),
            "circus answered list with something unexpected: no \"watchers\" list",
        ),
    ] {
        let r2 = reply.clone();
        let fake = Fake::start(move |_| Answer::Json(r2.clone()));
        let dir = fake.state_dir("m");
        let r = run_bounded(dir.path(), &["show", "m"], HUNG);
        assert_eq!(r.code, 0, "{reply}: {}", r.stderr);
        let line = circus_line(&r);
        assert!(
            line.ends_with(&format!(", offline: {said}")) && !line.contains("online"),
            "{reply}: {line}"
        );
        // The TUI's header says "offline: REASON" with the same reason.
        let a = run_blocking(
            &Store::new(dir.path()),
            Effect::ArbiterPoll {
                ns: "m".into(),
                endpoint: fake.endpoint.clone(),
            },
        );
        let Action::ArbiterSeen { result, .. } = a else {
            panic!("{a:?}")
        };
        let reason = result.unwrap_err();
        assert!(
            line.ends_with(&format!("offline: {reason}")),
            "{line} / {reason}"
        );
        let r = run_bounded(dir.path(), &["show", "m", "-o", "json"], HUNG);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["arbiter"]["reachable"], true, "{reply}");
        assert_eq!(v["arbiter"]["error"], said, "{reply}");
        assert!(v["arbiter"]["watchers"].is_null(), "{reply}");
    }
}

#[test]
fn replies_at_and_over_the_cap_cost_little_memory_and_print_short_lines() {
    const CAP: usize = arbiter::client::MAX_REPLY;
    // Under the cap by a margin for the envelope.
    let fill = |unit: &str| {
        let n = (CAP - 200) / unit.len();
        format!("[{}0]", unit.repeat(n - 1))
    };
    // 1. `list` at the cap: half a million zeros where names should be.
    let zeros = fill("0,");
    let fake = Fake::start(move |r| Answer::Raw(r.ok_with_raw("watchers", zeros.as_bytes())));
    let dir = fake.state_dir("m");
    let r = run_bounded(dir.path(), &["show", "m"], HUNG);
    bounded_ok(&r, "list of zeros");
    assert!(
        circus_line(&r).contains("online (0 watchers of m)"),
        "{}",
        r.stdout
    );
    // 2. `list NAME` at the cap: 90,000 seven-digit pids (under the view's 100,000).
    let pids = (0..90_000)
        .map(|i| (1_000_000 + i).to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert!(pids.len() < CAP - 200);
    let fake = Fake::start(move |r| match r.name() {
        None => Answer::Json(json!({"status": "ok", "watchers": ["m_vllmworker"]})),
        Some(_) => Answer::Raw(r.ok_with_raw("pids", format!("[{pids}]").as_bytes())),
    });
    let dir = fake.state_dir("m");
    let r = run_bounded(dir.path(), &["show", "m"], HUNG);
    bounded_ok(&r, "list NAME of 90,000 pids");
    assert!(
        r.stdout.contains(
            "running (pids 1000000, 1000001, 1000002, 1000003, 1000004, 1000005, 1000006, 1000007 and 89992 more)"
        ),
        "{}",
        r.stdout
    );
    let r = run_bounded(dir.path(), &["show", "m", "-o", "json"], HUNG);
    assert!(
        r.max_rss_kib < MAX_RSS_KIB,
        "JSON: peak RSS {} MiB",
        r.max_rss_kib / 1024
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["types"][0]["instances"][0]["pids"]
            .as_array()
            .unwrap()
            .len(),
        90_000
    );
    // 3. `list` at the cap with the namespace's names: as many as the budget allows are
    // asked for, the rest said to be unknown.
    let names = fill("\"m_abcdefgh\",");
    let fake = Fake::start(move |r| match r.name() {
        None => Answer::Raw(r.ok_with_raw("watchers", names.as_bytes())),
        Some(_) => Answer::Json(json!({"status": "ok", "pids": [4242]})),
    });
    let dir = fake.state_dir("m");
    let r = run_bounded(dir.path(), &["--arbiter-timeout", "0.5", "show", "m"], HUNG);
    bounded_ok(&r, "list of names");
    assert!(
        circus_line(&r).contains("watchers unknown: arbiter timeout after 0.5 s"),
        "{}",
        circus_line(&r)
    );
    // 4. Over the cap (16 MiB): refused, the connection dropped, said at once.
    let big = format!("[{}0]", "0,".repeat(8 << 20));
    let fake = Fake::start(move |r| Answer::Raw(r.ok_with_raw("watchers", big.as_bytes())));
    let dir = fake.state_dir("m");
    let r = run_bounded(dir.path(), &["show", "m"], HUNG);
    bounded_ok(&r, "16 MiB");
    assert!(
        circus_line(&r).contains(
            "the connection was dropped before an answer came (replies over 1 MiB are refused)"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn a_real_watcher_with_many_processes_is_shown_on_a_short_line() {
    let c = Circus::start("t", false);
    let mut client = c.client();
    client
        .call(
            "add",
            json!({"name": "t_many", "cmd": c.base_cmd(false), "args": [],
                   "options": {"numprocesses": 12}, "start": true}),
        )
        .unwrap();
    let pids = loop {
        let p = client.pids("t_many").unwrap();
        if p.len() == 12 {
            break p;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let r = c.run(&["show", "t"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let shown = pids[..8]
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        r.stdout.contains(&format!(
            "running, not in the file (pids {shown} and 4 more)"
        )),
        "{}",
        r.stdout
    );
    let v = json(&c.run(&["show", "t", "-o", "json"]));
    let listed = v["unmanaged_watchers"][0]["pids"].as_array().unwrap().len();
    assert_eq!(listed, 12, "{v}");
}

#[test]
fn a_view_of_a_real_arbiter_with_many_watchers_keeps_to_its_budget() {
    // Circus answers `list NAME` in about 0.3 ms: 3,000 of them take about a second, so a
    // budget per call of 0.1 s would ask for (and know) every one.
    let c = Circus::start("t", false);
    let mut client = c.client();
    for i in 0..3000 {
        client
            .call(
                "add",
                json!({"name": format!("t_idle_{i}"), "cmd": c.base_cmd(false), "args": [],
                       "options": {"numprocesses": 0}, "start": false}),
            )
            .unwrap();
    }
    // A loaded machine may miss even the first answer in 0.1 s: a few tries.
    let mut lines = Vec::new();
    for _ in 0..3 {
        let r = run_bounded(
            &c.state_dir(),
            &["--arbiter-timeout", "0.1", "show", "t"],
            HUNG,
        );
        let line = circus_line(&r).to_string();
        if line.contains("online (3002 watchers of t); pids of ") {
            assert!(
                line.ends_with(" of 3002 watchers unknown: arbiter timeout after 0.1 s"),
                "{line}"
            );
            assert!(
                r.stdout
                    .contains("in circus, not in the file (pids unknown)"),
                "{}",
                r.stdout
            );
            return;
        }
        lines.push(line);
    }
    panic!("{lines:#?}");
}
