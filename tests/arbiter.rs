//! Scaling through a real circus arbiter (circusd 0.19 from the project's venv): processes
//! start and stop, the state file follows, failures leave both consistent.

mod arbiter_support;

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
        .add("t_after", &c.base_cmd(false), &serde_json::Map::new())
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
    use dynamo_ctl::tui::app::{Action, App, ArbiterStatus, Effect, Popup};
    use dynamo_ctl::tui::effects::run_blocking;
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
    let Some(Popup::Confirm { question, note, .. }) = app.popups.last() else {
        panic!("{:?}", app.popups)
    };
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
