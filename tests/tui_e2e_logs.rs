//! End to end (the real binary in tmux, a real circusd whose watchers write FileStream
//! files), issue 17: `l` on a dashboard row shows the watcher's latest line within a
//! second of it being written, Space stops following (and counts what came), `o` shows
//! stderr; `l` on an instance row opens that watcher's log.

mod logs_support;
mod tmux_support;

use std::path::Path;
use std::time::Duration;

use logs_support::{BIN, LogCircus, W};
use tmux_support::{START, Tmux};

fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn l_follows_a_type_space_pauses_o_shows_stderr() {
    let c = LogCircus::start(
        "e2e",
        &[W {
            ty: "VllmWorker",
            suffix: None,
            first: 3,
            files: Some((10 << 20, 10)),
        }],
    );
    let w = c.watcher("VllmWorker", None);
    c.wait_line(&c.output_log(&w), "out 2");
    let t = Tmux::start();
    t.type_line(&format!(
        "COLORTERM=truecolor {} --state-dir {} -n e2e --no-discovery",
        sh_quote(Path::new(BIN)),
        sh_quote(&c.state_dir())
    ));
    t.wait_for("the dashboard", START, |s| s.contains("namespace e2e"));
    t.keys(&["l"]);
    t.wait_for("the log with its last line", START, |s| {
        s.contains("log of VllmWorker · stdout") && s.contains(&format!("{w} out 2"))
    });
    // A new line: on screen within a second of being in the file.
    c.trigger(&w, "1");
    c.wait_line(&c.output_log(&w), "out 3");
    t.wait_for("the new line", Duration::from_secs(1), |s| {
        s.contains(&format!("{w} out 3")) && s.contains("● following")
    });
    // Space: no longer following; what comes is counted, not shown.
    t.keys(&["Space"]);
    t.wait_for("paused", START, |s| s.contains("⏸ paused · 0 new lines"));
    c.trigger(&w, "2");
    c.wait_line(&c.output_log(&w), "out 5");
    let s = t.wait_for("the count", START, |s| {
        s.contains("⏸ paused · 4 new lines since")
    });
    assert!(!s.contains(&format!("{w} out 4")), "{s}");
    // o: stderr (what had come before the pause).
    t.keys(&["o"]);
    t.wait_for("stderr", START, |s| {
        s.contains("log of VllmWorker · stderr") && s.contains(&format!("{w} err 3"))
    });
    // Following again shows the rest.
    t.keys(&["Space"]);
    t.wait_for("the held lines", START, |s| {
        s.contains(&format!("{w} err 5")) && s.contains("● following")
    });
    // Esc closes; Enter, then l on the instance row: that watcher's own log.
    t.keys(&["Escape"]);
    t.wait_for("the dashboard again", START, |s| !s.contains("log of"));
    t.keys(&["Enter"]);
    t.wait_for("the instances", START, |s| {
        s.contains("instances of VllmWorker")
    });
    t.keys(&["l"]);
    t.wait_for("the instance's log", START, |s| {
        s.contains(&format!("log of {w} · stdout")) && s.contains(&format!("{w} out 5"))
    });
    t.keys(&["q", "q", "q"]);
    t.wait_for("the shell again", START, |s| s.trim_end().ends_with("e2e$"));
}
