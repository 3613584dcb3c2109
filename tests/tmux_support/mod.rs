//! A tmux server driving the real binary in a real pty, for the end-to-end tests.
#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long the binary gets to show its first screen.
pub const START: Duration = Duration::from_secs(15);

/// A tmux server on its own socket running `sh`; killed on drop, even when a test fails.
pub struct Tmux {
    socket: String,
    socket_path: Option<String>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Tmux {
    pub fn start() -> Tmux {
        let socket = format!(
            "dynctl-e2e-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mut t = Tmux {
            socket,
            socket_path: None,
        };
        let out = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "120", "-y", "40", "env", "PS1=e2e$ ", "sh"])
            .env_remove("NO_COLOR")
            .output()
            .expect("tmux is needed for the TUI end-to-end tests (apt-get install tmux)");
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = t.tmux(&["display", "-p", "#{socket_path}"]);
        t.socket_path = Some(path.trim().to_string()).filter(|p| !p.is_empty());
        t.wait_for("the shell prompt", START, |s| s.contains("e2e$"));
        t
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types a shell command line and presses Enter.
    pub fn type_line(&self, line: &str) {
        self.tmux(&["send-keys", "-l", line]);
        self.tmux(&["send-keys", "Enter"]);
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
        }
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Polls the screen until `pred` holds on a settled screen (two captures in a row the
    /// same: a capture can fall between the writes of one frame); panics with the screen
    /// after `within`.
    pub fn wait_for(&self, what: &str, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        loop {
            let s = self.screen();
            if pred(&s) && s == last {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            let settle = pred(&s);
            last = s;
            if !settle {
                std::thread::sleep(Duration::from_millis(25));
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        // tmux leaves the socket file behind.
        if let Some(p) = &self.socket_path {
            let _ = std::fs::remove_file(p);
        }
    }
}
