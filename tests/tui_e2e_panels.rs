//! End to end (the real binary in tmux), issue 15: every screen behaves alike. The footer
//! keeps `?` and `q` at 80x24; typing offers no quit; a pre-filled count is replaced by
//! what is typed; the help opens at the screen's keys and pages; a rebound quit closes a
//! popup like `q` does.

mod tmux_support;
mod tui_support;

use std::path::Path;
use std::process::Command;

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

/// The screen's last rows: the footer's hints and its status.
fn footer_rows(s: &str) -> String {
    let rows: Vec<&str> = s.lines().collect();
    rows[rows.len().saturating_sub(4)..].join("\n")
}

#[test]
fn at_80x24_the_footer_keeps_help_and_quit_and_typing_offers_no_quit() {
    let dir = demo_copy();
    let t = Tmux::start();
    t.tmux(&["resize-window", "-x", "80", "-y", "24"]);
    t.type_line(&tui_cmd(dir.path(), "-n dynamo"));
    let s = t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    let f = footer_rows(&s);
    assert!(f.contains("[?] help") && f.contains("[q] quit"), "{s}");
    t.keys(&[":"]);
    let s = t.wait_for("the command bar", START, |s| s.contains("Command (Tab"));
    let f = footer_rows(&s);
    assert!(
        f.contains("[Enter] run") && f.contains("[Esc] close"),
        "{s}"
    );
    assert!(!f.contains("quit"), "no quit while typing: {s}");
    // q is text there, not quit.
    t.keys(&["q"]);
    t.wait_for("q typed into the bar", START, |s| s.contains(":q"));
    t.keys(&["Escape"]);
    t.wait_for("the command bar closed", START, |s| {
        !s.contains("Command (Tab")
    });
    t.keys(&["q"]);
    t.wait_for("the shell again", START, |s| s.trim_end().ends_with("e2e$"));
}

#[test]
fn s_then_3_on_a_type_with_one_running_plans_exactly_two_adds() {
    let dir = demo_copy();
    // One VllmWorker left.
    let st = Command::new(BIN)
        .arg("--state-dir")
        .arg(dir.path())
        .args(["remove", "dynamo", "VllmWorker", "--state-only"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    let t = Tmux::start();
    t.type_line(&tui_cmd(dir.path(), "-n dynamo --state-only"));
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    t.keys(&[":"]);
    t.type_line("vllmworker");
    t.wait_for("VllmWorker selected", START, |s| s.contains("▶ VllmWorker"));
    t.keys(&["s"]);
    t.wait_for("the prompt pre-filled with 1", START, |s| {
        s.contains("VllmWorker (1 running) to: 1")
    });
    t.keys(&["3", "Enter"]);
    let s = t.wait_for("the plan", START, |s| s.contains("Scale VllmWorker to 3:"));
    // The confirm's text, its rows joined (it wraps).
    let plan = s
        .lines()
        .filter_map(|l| {
            let a = l.find('║')?;
            let b = l.rfind('║')?;
            (b > a).then(|| l[a + '║'.len_utf8()..b].trim().to_string())
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(plan.matches("add dynamo_VllmWorker").count(), 2, "{s}");
    assert!(
        !s.contains("to 13"),
        "typing replaced the pre-filled 1: {s}"
    );
}

#[test]
fn help_from_the_dashboard_opens_at_its_keys_and_pages_with_g_and_shift_g() {
    let dir = demo_copy();
    let t = Tmux::start();
    t.tmux(&["resize-window", "-x", "80", "-y", "24"]);
    t.type_line(&tui_cmd(dir.path(), "-n dynamo"));
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    t.keys(&["?"]);
    let s = t.wait_for("the help", START, |s| s.contains("Help: keys"));
    let first = s
        .lines()
        .skip_while(|l| !l.contains("Help: keys"))
        .nth(1)
        .unwrap_or("");
    assert!(
        first.contains("Dashboard"),
        "the dashboard's keys first:\n{s}"
    );
    assert!(s.contains("of ") && s.contains("↓"), "a position:\n{s}");
    t.keys(&["G"]);
    let end = t.wait_for("the help's last page", START, |s| {
        s.contains("Help: keys") && !s.contains("↓)")
    });
    assert!(!end.contains("Dashboard\n"), "{end}");
    t.keys(&["g"]);
    t.wait_for("the help's first page", START, |s| {
        s.contains("Help: keys (1-") && s.contains("↓)")
    });
}

#[test]
fn a_rebound_quit_closes_a_popup_instead_of_quitting() {
    let dir = demo_copy();
    let cfg = tempfile::tempdir().unwrap();
    std::fs::create_dir(cfg.path().join("dynamo-ctl")).unwrap();
    std::fs::write(
        cfg.path().join("dynamo-ctl/config.toml"),
        "[keys]\nquit = \"Q\"\n",
    )
    .unwrap();
    let t = Tmux::start();
    t.type_line(&format!(
        "XDG_CONFIG_HOME={} {}",
        sh_quote(cfg.path()),
        tui_cmd(dir.path(), "-n dynamo")
    ));
    t.wait_for("the dashboard", START, |s| s.contains("[Q] quit"));
    t.keys(&["?"]);
    t.wait_for("the help", START, |s| s.contains("Help: keys"));
    t.keys(&["Q"]);
    t.wait_for("the help closed, the dashboard still there", START, |s| {
        !s.contains("Help: keys") && s.contains("namespace dynamo")
    });
    t.keys(&["Q"]);
    t.wait_for("the shell again", START, |s| s.trim_end().ends_with("e2e$"));
}

/// `c` puts the selection in the clipboard through the terminal (OSC 52): in tmux with
/// `set-clipboard on`, that is tmux's paste buffer.
#[test]
fn c_puts_the_selected_watchers_name_in_tmuxs_buffer() {
    let dir = demo_copy();
    let t = Tmux::start();
    t.tmux(&["set-option", "-g", "set-clipboard", "on"]);
    t.type_line(&tui_cmd(dir.path(), "--state-only -n dynamo"));
    t.wait_for("the dashboard", START, |s| s.contains("namespace dynamo"));
    // The first row is the Frontend; Enter opens its instance table, `c` copies its watcher.
    t.keys(&["Enter"]);
    t.wait_for("the instance table", START, |s| {
        s.contains("instances of Frontend")
    });
    t.keys(&["c"]);
    let s = t.wait_for("the copy said", START, |s| {
        s.contains("copied watcher name: dynamo_Frontend")
    });
    let deadline = std::time::Instant::now() + START;
    loop {
        let buf = t.tmux(&["show-buffer"]);
        if buf == "dynamo_Frontend" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tmux buffer: {buf:?}; screen: {s}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    t.keys(&["Escape", "q"]);
}
