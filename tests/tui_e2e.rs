//! End to end: the real binary in a real pty (tmux). Deadlines are failure bounds only; the
//! tests poll the screen and never sleep a fixed time to let something happen.

mod tmux_support;
mod tui_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tmux_support::{START, Tmux};
use tui_support::demo_copy;

const BIN: &str = env!("CARGO_BIN_EXE_dynamo-ctl");

fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

fn tui_cmd(dir: &Path, extra: &str) -> String {
    format!(
        "COLORTERM=truecolor {} --state-dir {} {extra}",
        sh_quote(Path::new(BIN)),
        sh_quote(dir)
    )
}

#[test]
fn pick_namespace_add_prefill_worker_and_confirm() {
    let dir = demo_copy();
    let t = Tmux::start();
    t.type_line(&tui_cmd(dir.path(), "--state-only"));
    t.wait_for("the picker", START, |s| {
        s.contains("Namespaces") && s.contains("full") && s.contains("broken")
    });
    t.keys(&["/", "d", "y", "n", "Enter"]);
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    t.keys(&["a"]);
    t.wait_for("the type chooser", START, |s| s.contains("Add which type?"));
    // Workers come first: VllmWorker (preselected), then PrefillWorker.
    t.keys(&["j"]);
    t.wait_for("PrefillWorker selected", START, |s| {
        s.contains("▶ PrefillWorker")
    });
    t.keys(&["Enter"]);
    t.wait_for("the confirm popup", START, |s| {
        s.contains("Add dynamo_PrefillWorker_2 on GPU 4?")
    });
    t.keys(&["y"]);
    let s = t.wait_for("the new watcher on screen", START, |s| {
        s.contains("Added dynamo_PrefillWorker_2 on GPU 4")
    });
    assert!(s.contains("dynamo_PrefillWorker_2"));
    assert!(s.contains("GPU 4  ■ dynamo_PrefillWorker_2"), "{s}");
    let text = std::fs::read_to_string(dir.path().join("dynamo.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entry = &v["components"]["dynamo_PrefillWorker_2"];
    assert_eq!(entry["watcher_name"], "dynamo_PrefillWorker_2");
    assert_eq!(entry["resources"]["allocated_gpus"][0], "4");
    t.keys(&["q"]);
    t.wait_for("the shell again", START, |s| s.trim_end().ends_with("e2e$"));
}

#[test]
fn an_open_confirm_follows_the_file_and_does_what_it_says() {
    let dir = demo_copy();
    let t = Tmux::start();
    t.type_line(&tui_cmd(dir.path(), "-n dynamo"));
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    // The demo's arbiter does not exist: the header says so once it has been asked.
    t.wait_for("circus offline in the header", START, |s| {
        s.contains("offline:")
    });
    // No write that nothing obeys: without --state-only the remove is refused, with why
    // and how, and no confirm opens.
    let before = std::fs::read(dir.path().join("dynamo.json")).unwrap();
    t.keys(&["r"]);
    t.wait_for("the type chooser", START, |s| {
        s.contains("Remove which type?")
    });
    t.keys(&["Enter"]);
    let s = t.wait_for("the refusal", START, |s| {
        s.contains("cannot remove: circus is offline")
    });
    assert!(!s.contains("Remove dynamo_VllmWorker_1"), "{s}");
    // The same for an add: `a` Enter starts nothing and writes nothing.
    t.keys(&["a"]);
    t.wait_for("the type chooser", START, |s| s.contains("Add which type?"));
    t.keys(&["Enter"]);
    let s = t.wait_for("the refusal", START, |s| {
        s.contains("cannot add: circus is offline")
    });
    assert!(!s.contains("Add dynamo_VllmWorker_2"), "{s}");
    t.keys(&["Escape"]);
    t.keys(&["q"]);
    t.wait_for("the shell again", START, |s| s.trim_end().ends_with("e2e$"));
    assert_eq!(
        std::fs::read(dir.path().join("dynamo.json")).unwrap(),
        before
    );
    // With --state-only the confirm says that only the file changes.
    t.type_line(&tui_cmd(dir.path(), "-n dynamo --state-only"));
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    t.keys(&["r"]);
    t.wait_for("the type chooser", START, |s| {
        s.contains("Remove which type?")
    });
    t.keys(&["Enter"]);
    let s = t.wait_for("the confirm", START, |s| {
        s.contains("Remove dynamo_VllmWorker_1 and free GPU 2?")
    });
    assert!(s.contains("only the state file changes"), "{s}");
    // Another writer removes that very instance while the confirm is open.
    let out = Command::new(BIN)
        .args([
            "remove",
            "dynamo",
            "VllmWorker",
            "--state-only",
            "--state-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = t.wait_for(
        "the confirm with the new effect",
        Duration::from_secs(5),
        // Both lines: a capture can fall between the writes of one frame.
        |s| {
            s.contains("Remove dynamo_VllmWorker and free GPU 0?")
                && s.contains("last running VllmWorker")
        },
    );
    assert!(!s.contains("dynamo_VllmWorker_1 and free"), "{s}");
    t.keys(&["y"]);
    t.wait_for("the result", START, |s| {
        s.contains("Removed dynamo_VllmWorker (parked as template)")
    });
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("dynamo.json")).unwrap())
            .unwrap();
    assert_eq!(
        v["components"]["dynamo_VllmWorker"]["lease"],
        serde_json::Value::Null
    );
    assert!(v["components"].get("dynamo_VllmWorker_1").is_none());
    t.keys(&["q"]);
}

#[test]
fn s_scales_the_selected_type_to_n() {
    let dir = demo_copy();
    let t = Tmux::start();
    t.type_line(&tui_cmd(dir.path(), "-n dynamo --state-only"));
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    // The demo lists Frontend, Processor, Planner, VllmWorker: three rows down.
    t.keys(&["j", "j", "j"]);
    t.wait_for("VllmWorker selected", START, |s| s.contains("▶ VllmWorker"));
    t.keys(&["s"]);
    t.wait_for("the scale input", START, |s| {
        s.contains("VllmWorker (2 running) to: 2")
    });
    t.keys(&["BSpace", "3", "Enter"]);
    t.wait_for("the plan", START, |s| {
        s.contains("Scale VllmWorker to 3: add dynamo_VllmWorker_2 on GPU 4?")
    });
    t.keys(&["y"]);
    t.wait_for("the result", START, |s| s.contains("VllmWorker now at 3"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("dynamo.json")).unwrap())
            .unwrap();
    let running = v["components"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("dynamo_VllmWorker"))
        .count();
    assert_eq!(running, 3);
    // Esc goes back to the picker; q quits from there.
    t.keys(&["Escape"]);
    t.wait_for("the picker", START, |s| {
        s.contains("Namespaces") && s.contains("full")
    });
    t.keys(&["q"]);
}

#[test]
fn enter_on_a_row_then_esc_esc_is_back_at_the_picker() {
    let dir = demo_copy();
    let t = Tmux::start();
    t.type_line(&tui_cmd(dir.path(), "-n dynamo"));
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    t.keys(&["j", "j", "j", "Enter"]);
    t.wait_for("the instances", START, |s| {
        s.contains("dynamo instances of VllmWorker")
    });
    t.keys(&["Enter"]);
    t.wait_for("the entry", START, |s| {
        s.contains("--worker-env") && s.contains("watcher")
    });
    // One Esc at a time: two in one burst read as Alt-Esc.
    t.keys(&["Escape"]);
    t.wait_for("the instances again", START, |s| {
        s.contains("dynamo instances of VllmWorker") && !s.contains("--worker-env")
    });
    t.keys(&["Escape"]);
    t.wait_for("the dashboard again", START, |s| {
        s.contains("namespace dynamo") && !s.contains("instances of")
    });
    t.keys(&["Escape"]);
    t.wait_for("the picker", START, |s| {
        s.contains("Namespaces") && s.contains("full")
    });
    t.keys(&["q"]);
}

#[test]
fn a_rebinding_in_the_config_changes_the_keys_the_footer_and_the_help() {
    let dir = demo_copy();
    let cfg = tempfile::tempdir().unwrap();
    std::fs::create_dir(cfg.path().join("dynamo-ctl")).unwrap();
    std::fs::write(
        cfg.path().join("dynamo-ctl/config.toml"),
        "[keys]\nadd = \"A\"\nscale = \"ctrl-s\"\n",
    )
    .unwrap();
    let t = Tmux::start();
    t.type_line(&format!(
        "XDG_CONFIG_HOME={} {}",
        sh_quote(cfg.path()),
        tui_cmd(dir.path(), "-n dynamo")
    ));
    let s = t.wait_for("the dashboard and its footer", START, |s| {
        s.contains("namespace dynamo") && s.contains("] add")
    });
    assert!(s.contains("[A] add"), "{s}");
    assert!(s.contains("[Ctrl-S] scale"), "{s}");
    assert!(!s.contains("[a] add"), "{s}");
    t.keys(&["a"]);
    t.keys(&["A"]);
    t.wait_for("the chooser from A", START, |s| {
        s.contains("Add which type?")
    });
    t.keys(&["Escape"]);
    t.wait_for("the chooser closed", START, |s| {
        !s.contains("Add which type?")
    });
    t.keys(&["?"]);
    t.wait_for("the help with the new key", START, |s| {
        s.contains("Help: keys") && s.contains("A         add an instance")
    });
    t.keys(&["Escape"]);
    t.wait_for("the help closed", START, |s| !s.contains("Help: keys"));
    t.keys(&["q"]);
    t.wait_for("the shell again", START, |s| s.trim_end().ends_with("e2e$"));
    // A bad binding stops only the TUI, with the line named, before the terminal is
    // touched; a command (a cron job's `list`) warns on stderr and goes on, still reading
    // the config's state_dir.
    std::fs::write(
        cfg.path().join("dynamo-ctl/config.toml"),
        format!(
            "state_dir = {:?}\n[keys]\nadd = \"r\"\n",
            dir.path().to_str().unwrap()
        ),
    )
    .unwrap();
    let tui = Command::new(BIN)
        .env("XDG_CONFIG_HOME", cfg.path())
        .env_remove("DYN_LOCAL_STATE_DIR")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(tui.status.code(), Some(2));
    let err = String::from_utf8_lossy(&tui.stderr);
    assert!(
        err.contains("config.toml: line 3: keys.add: r is already bound"),
        "{err}"
    );
    let out = Command::new(BIN)
        .env("XDG_CONFIG_HOME", cfg.path())
        .env_remove("DYN_LOCAL_STATE_DIR")
        .args(["list", "-o", "json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: config:") && err.contains("keys.add: r is already bound"),
        "{err}"
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("\"dynamo\""),
        "the config's state_dir: {listed}"
    );
}

#[test]
fn a_worker_registering_while_the_dashboard_is_open_appears_within_2_s() {
    let dir = demo_copy();
    let kv = tempfile::tempdir().unwrap();
    let bucket = kv.path().join("v1/instances");
    std::fs::create_dir_all(&bucket).unwrap();
    let t = Tmux::start();
    t.type_line(&tui_cmd(
        dir.path(),
        &format!("-n dynamo --file-kv {}", sh_quote(kv.path())),
    ));
    let s = t.wait_for("the dashboard", START, |s| {
        s.contains("namespace dynamo") && s.contains("discovery file ●")
    });
    let row = s.lines().find(|l| l.contains(" VllmWorker ")).unwrap();
    assert!(row.contains("? 2   0…"), "none registered yet: {row}");
    // A Dynamo 1.x worker registers in the file store (its layout: the key percent-encoded,
    // written to a temp file and renamed, as Dynamo does).
    let tmp = bucket.join(".tmp_1234");
    std::fs::write(
        &tmp,
        r#"{"type":"Endpoint","component":"VllmWorker","endpoint":"generate","namespace":"dynamo","instance_id":7587899115514639621,"transport":{"tcp":"127.0.0.1:40469/x"}}"#,
    )
    .unwrap();
    std::fs::rename(
        &tmp,
        bucket.join("dynamo%2FVllmWorker%2Fgenerate%2F694da20b0bc03505"),
    )
    .unwrap();
    let s = t.wait_for("the registration on screen", Duration::from_secs(2), |s| {
        s.lines()
            .any(|l| l.contains(" VllmWorker ") && l.contains("? 2   1…"))
    });
    assert!(s.contains("discovery file ●"), "{s}");
    t.keys(&["q"]);
}

#[test]
fn a_second_writer_shows_up_without_a_key_press() {
    let dir = demo_copy();
    let t = Tmux::start();
    t.type_line(&tui_cmd(dir.path(), "-n dynamo"));
    let s = t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    assert!(!s.contains("dynamo_VllmWorker_2"));
    let out = Command::new(BIN)
        .args(["add", "dynamo", "VllmWorker", "--state-only", "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dynamo-ctl add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = t.wait_for(
        "the CLI's new worker on screen",
        Duration::from_secs(2),
        |s| s.contains("dynamo_VllmWorker_2"),
    );
    assert!(s.contains("changed on disk"), "{s}");
    // And the directory vanishing brings back the picker.
    let moved = dir.path().with_extension("away");
    std::fs::rename(dir.path(), &moved).unwrap();
    let s = t.wait_for("the vanished namespace", Duration::from_secs(5), |s| {
        s.contains("vanished")
    });
    assert!(s.contains("does not exist"), "{s}");
    std::fs::rename(&moved, dir.path()).unwrap();
    t.wait_for("the directory back", Duration::from_secs(5), |s| {
        s.contains("full") && s.contains("agg")
    });
    t.keys(&["q"]);
}

#[test]
fn polling_fallback_follows_changes_too() {
    let dir = demo_copy();
    let t = Tmux::start();
    t.type_line(&format!(
        "DYNAMO_CTL_WATCH=poll {}",
        tui_cmd(dir.path(), "-n dynamo")
    ));
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    let out = Command::new(BIN)
        .args([
            "remove",
            "dynamo",
            "PrefillWorker",
            "--state-only",
            "--state-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    t.wait_for("the removal seen by polling", Duration::from_secs(5), |s| {
        !s.contains("dynamo_PrefillWorker_1") && s.contains("changed on disk")
    });
    t.keys(&["q"]);
}

#[test]
fn resizing_re_lays_out_down_to_too_small_and_back() {
    let dir = demo_copy();
    let t = Tmux::start();
    t.type_line(&tui_cmd(dir.path(), "-n dynamo"));
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    t.tmux(&["resize-window", "-x", "30", "-y", "8"]);
    t.wait_for("the too-small notice", START, |s| {
        s.contains("terminal too small")
    });
    t.tmux(&["resize-window", "-x", "90", "-y", "30"]);
    let s = t.wait_for("the dashboard at 90x30", START, |s| {
        s.contains("namespace dynamo") && !s.contains("too small")
    });
    // Every line fits the new width.
    assert!(s.lines().all(|l| l.chars().count() <= 90), "{s}");
    t.keys(&["q"]);
}

#[test]
fn quit_restores_the_terminal() {
    let dir = demo_copy();
    let (t, stty) = dashboard_with_exit_probe(dir.path(), "");
    assert_eq!(t.tmux(&["display", "-p", "#{alternate_on}"]).trim(), "1");
    t.keys(&["?"]);
    t.wait_for("the help", START, |s| s.contains("Help: keys"));
    // q in a popup closes the popup; on the screen it quits.
    t.keys(&["q"]);
    t.wait_for("the help closed", START, |s| {
        !s.contains("Help: keys") && s.contains("namespace dynamo")
    });
    t.keys(&["q"]);
    let s = t.wait_for("the shell after quit", START, |s| {
        s.contains("AFTER-0-EXIT")
    });
    // The alternate screen is gone: the typed command line is visible again.
    assert!(s.contains("echo AFTER-$code-EXIT"), "{s}");
    assert_eq!(t.tmux(&["display", "-p", "#{alternate_on}"]).trim(), "0");
    assert_eq!(t.tmux(&["display", "-p", "#{cursor_flag}"]).trim(), "1");
    assert_sane_tty(&stty);
}

/// Starts the TUI on namespace `dynamo` from a shell (with `env` before the command) that
/// afterwards saves `stty -a` and echoes `AFTER-<exit code>-EXIT`; waits for the dashboard.
fn dashboard_with_exit_probe(dir: &Path, env: &str) -> (Tmux, std::path::PathBuf) {
    let stty = dir.join("stty.txt");
    let t = Tmux::start();
    t.type_line(&format!(
        "{env}{}; code=$?; stty -a > {}; echo AFTER-$code-EXIT",
        tui_cmd(dir, "-n dynamo"),
        sh_quote(&stty)
    ));
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    (t, stty)
}

fn assert_sane_tty(stty: &Path) {
    let modes = std::fs::read_to_string(stty).unwrap();
    let words: Vec<&str> = modes.split_whitespace().collect();
    for flag in ["echo", "icanon", "isig", "icrnl"] {
        assert!(words.contains(&flag), "{flag} not restored:\n{modes}");
    }
}

/// The pid of the TUI: the pane shell's child.
fn tui_pid(t: &Tmux) -> String {
    let shell = t.tmux(&["display", "-p", "#{pane_pid}"]);
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", shell.trim())).unwrap();
    children
        .split_whitespace()
        .next()
        .expect("the TUI process")
        .to_string()
}

/// Waits until process `pid` is gone (or a zombie), failing after `within`.
fn wait_gone(pid: &str, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return,
            // The state follows the parenthesised command name.
            Ok(stat) if stat.rsplit(") ").next().is_some_and(|r| r.starts_with('Z')) => return,
            Ok(_) => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} still runs {within:?} after its terminal went away"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A terminal that goes away (tmux killed: the pty hangs up) ends the TUI, whether its UI
/// thread is idle or stuck (the debug-only `freeze:X` blocks it for a minute).
#[test]
fn the_tui_ends_when_its_terminal_goes_away() {
    for stuck in [false, true] {
        let dir = demo_copy();
        let env = if stuck {
            "DYNAMO_CTL_PANIC_ON_KEY=freeze:X "
        } else {
            ""
        };
        let (t, _) = dashboard_with_exit_probe(dir.path(), env);
        let pid = tui_pid(&t);
        if stuck {
            t.keys(&["X"]);
        }
        t.tmux(&["kill-server"]);
        wait_gone(&pid, Duration::from_secs(10));
    }
}

/// SIGHUP and SIGTERM end the TUI and restore the terminal even while its UI thread is stuck.
#[test]
fn quit_signals_end_a_stuck_ui_and_restore_the_terminal() {
    for (sig, code) in [("-HUP", 129), ("-TERM", 143)] {
        let dir = demo_copy();
        let (t, stty) = dashboard_with_exit_probe(dir.path(), "DYNAMO_CTL_PANIC_ON_KEY=freeze:X ");
        let pid = tui_pid(&t);
        t.keys(&["X"]);
        let st = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(st.success());
        let done = format!("AFTER-{code}-EXIT");
        t.wait_for(&format!("the shell after {sig}"), START, |s| {
            s.contains(&done)
        });
        assert_eq!(t.tmux(&["display", "-p", "#{alternate_on}"]).trim(), "0");
        assert_sane_tty(&stty);
    }
}

#[test]
fn sigterm_restores_the_terminal_too() {
    let dir = demo_copy();
    let (t, stty) = dashboard_with_exit_probe(dir.path(), "");
    let pid = tui_pid(&t);
    let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(st.success());
    let s = t.wait_for("the shell after SIGTERM", START, |s| {
        s.contains("AFTER-143-EXIT")
    });
    assert!(s.contains("echo AFTER-$code-EXIT"), "{s}");
    assert_eq!(t.tmux(&["display", "-p", "#{alternate_on}"]).trim(), "0");
    assert_sane_tty(&stty);
}

#[test]
fn a_panic_on_any_thread_restores_the_terminal() {
    for spec in ["X", "thread:X"] {
        let dir = demo_copy();
        let (t, stty) = dashboard_with_exit_probe(
            dir.path(),
            &format!("DYNAMO_CTL_PANIC_ON_KEY={spec} RUST_BACKTRACE=0 "),
        );
        t.keys(&["X"]);
        let s = t.wait_for("the shell after the panic", START, |s| {
            s.contains("AFTER-101-EXIT")
        });
        assert!(s.contains("test panic"), "the panic message is shown: {s}");
        assert_eq!(t.tmux(&["display", "-p", "#{alternate_on}"]).trim(), "0");
        assert_sane_tty(&stty);
    }
}

#[test]
fn not_a_tty_points_to_the_subcommands() {
    let dir = demo_copy();
    let out = Command::new(BIN)
        .arg("--state-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for sub in ["dynamo-ctl list", "show", "add", "remove", "scale"] {
        assert!(err.contains(sub), "{sub} missing from: {err}");
    }
    assert!(out.stdout.is_empty(), "nothing drawn on stdout");
}

/// The planner rewrites its file in place: a dashboard that caught it unreadable says so,
/// and drops the warning as soon as the file reads well again.
#[test]
fn the_unreadable_warning_clears_when_the_file_is_restored() {
    let dir = demo_copy();
    let t = Tmux::start();
    t.type_line(&tui_cmd(dir.path(), "-n dynamo"));
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    let path = dir.path().join("dynamo.json");
    let good = std::fs::read(&path).unwrap();
    std::fs::write(&path, b"").unwrap();
    t.wait_for("the unreadable warning", START, |s| {
        s.contains("dynamo.json is unreadable now")
    });
    std::fs::write(&path, &good).unwrap();
    let s = t.wait_for("the warning gone", START, |s| {
        !s.contains("unreadable") && s.contains("dynamo.json is readable again")
    });
    assert!(s.contains("dynamo_VllmWorker_1"), "{s}");
    t.keys(&["q"]);
}

#[test]
fn a_hanging_metrics_source_never_blocks_the_keys() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(4) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(30));
        drop(conns);
    });
    let dir = demo_copy();
    let t = Tmux::start();
    t.type_line(&tui_cmd(
        dir.path(),
        &format!("-n dynamo --metrics http://127.0.0.1:{port} --metrics-timeout 20"),
    ));
    t.wait_for("the dashboard asking for metrics", START, |s| {
        s.contains("namespace dynamo") && s.contains("metrics asking…")
    });
    // Keys answer while the round hangs.
    t.keys(&["?"]);
    t.wait_for("the help", Duration::from_secs(2), |s| {
        s.contains("Help: keys")
    });
    t.keys(&["Escape"]);
    // Back, with the round still in flight (it is bounded by --metrics-timeout, 20 s).
    t.wait_for("the dashboard, still asking", Duration::from_secs(2), |s| {
        !s.contains("Help: keys") && s.contains("metrics asking…")
    });
    t.keys(&["q"]);
    t.wait_for("the shell again", START, |s| s.trim_end().ends_with("e2e$"));
    drop(held);
}
