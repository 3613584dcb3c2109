//! `dynamo-ctl logs` against a real circusd whose watchers write known lines into
//! FileStream files (issue 17): the last N lines, `-f`, rotation without loss or repeat,
//! a watcher dynamo-ctl adds writing into its own files, the clear message without a file,
//! escapes never reaching the terminal, a closed pipe. Every wait has a deadline.

mod logs_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use logs_support::{LogCircus, W};

/// The CLI on the deployment, killed (and the test failed) past 30 s.
fn run(c: &LogCircus, args: &[&str]) -> (i32, String, String) {
    let b =
        logs_support::arbiter_support::run_bounded(&c.state_dir(), args, Duration::from_secs(30));
    (b.code, b.stdout, b.stderr)
}

/// The raw output of `cmd`, which is killed (and the test failed) past 30 s.
fn output_bounded(mut cmd: std::process::Command) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            b
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A running `logs -f` and its stdout, line by line.
struct Following {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Following {
    fn start(c: &LogCircus, args: &[&str]) -> Following {
        let mut child = c
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { return };
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        Following { child, lines }
    }

    /// The next `n` lines, within `within`.
    fn take(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => got.push(l),
                Err(_) => panic!("only {} of {n} lines came: {got:?}", got.len()),
            }
        }
        got
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn worker(first: u32, suffix: Option<u32>) -> W {
    W {
        ty: "VllmWorker",
        suffix,
        first,
        files: Some((10 << 20, 10)),
    }
}

#[test]
fn prints_the_last_lines_of_a_watcher_a_stream_and_a_type() {
    let c = LogCircus::start("lg", &[worker(50, None), worker(20, Some(1))]);
    let w0 = c.watcher("VllmWorker", None);
    let w1 = c.watcher("VllmWorker", Some(1));
    c.wait_line(&c.output_log(&w0), "out 49");
    c.wait_line(&c.output_log(&w1), "out 19");
    c.wait_line(&c.log_dir().join(&w0).join("error.log"), "err 49");
    let (code, out, err) = run(&c, &["logs", "lg", &w0, "-n", "5"]);
    assert_eq!(code, 0, "{err}");
    let want: Vec<String> = (45..50).map(|i| format!("{w0} out {i}")).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    // The watcher as circus lists it (lower-cased) names it too; stderr.
    let (code, out, _) = run(
        &c,
        &["logs", "lg", &w0.to_lowercase(), "--stderr", "-n", "2"],
    );
    assert_eq!(code, 0);
    assert_eq!(out, format!("{w0} err 48\n{w0} err 49\n"));
    // Both streams, marked.
    let (_, out, _) = run(&c, &["logs", "lg", &w0, "--both", "-n", "1"]);
    assert_eq!(out, format!("stdout | {w0} out 49\nstderr | {w0} err 49\n"));
    // A type: every watcher, each line prefixed with it; -n NS before the subcommand.
    let (code, out, err) = run(&c, &["-n", "lg", "logs", "VllmWorker", "-n", "2"]);
    assert_eq!(code, 0, "{err}");
    let pad = w1.len();
    assert_eq!(
        out,
        format!(
            "{w0:<pad$} | {w0} out 48\n{w0:<pad$} | {w0} out 49\n{w1} | {w1} out 18\n{w1} | {w1} out 19\n"
        )
    );
    // JSON: one object per line.
    let (_, out, _) = run(&c, &["logs", "lg", "VllmWorker", "-n", "1", "-o", "json"]);
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        objs,
        [
            serde_json::json!({"watcher": w0, "stream": "stdout", "line": format!("{w0} out 49")}),
            serde_json::json!({"watcher": w1, "stream": "stdout", "line": format!("{w1} out 19")}),
        ]
    );
    // Unknown target: a usage error naming the types.
    let (code, _, err) = run(&c, &["logs", "lg", "Nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no type or watcher Nope") && err.contains("VllmWorker"),
        "{err}"
    );
}

#[test]
fn follow_prints_new_lines_and_rotation_loses_and_repeats_nothing() {
    // 300-byte files: every ~15 lines circus rotates (40 backups kept).
    let c = LogCircus::start(
        "rot",
        &[W {
            ty: "VllmWorker",
            suffix: None,
            first: 10,
            files: Some((300, 40)),
        }],
    );
    let w = c.watcher("VllmWorker", None);
    c.wait_line(&c.output_log(&w), "out 9");
    let f = Following::start(&c, &["logs", "rot", &w, "-f", "-n", "1"]);
    assert_eq!(f.take(1, Duration::from_secs(20)), [format!("{w} out 9")]);
    // Slowly, then a burst: dozens of rotations.
    c.trigger(&w, "slow 30");
    c.trigger(&w, "300");
    let got = f.take(330, Duration::from_secs(60));
    let want: Vec<String> = (10..340).map(|i| format!("{w} out {i}")).collect();
    assert_eq!(got, want);
    assert!(
        c.log_dir().join(&w).join("output.log.5").exists(),
        "the files were rotated"
    );
    // Nothing more (no repeat) within a while.
    assert!(f.lines.recv_timeout(Duration::from_millis(500)).is_err());
}

#[test]
fn a_worker_dynamo_ctl_adds_writes_into_its_own_files() {
    let c = LogCircus::start("add", &[worker(3, None)]);
    let base = c.watcher("VllmWorker", None);
    c.wait_line(&c.output_log(&base), "out 2");
    let (code, out, err) = run(&c, &["add", "add", "VllmWorker", "--start-timeout", "20"]);
    assert_eq!(code, 0, "{out}{err}");
    let new = c.watcher("VllmWorker", Some(1));
    // The base's pattern with the new watcher's name (its case kept).
    c.wait_line(&c.output_log(&new), &format!("{new} out 2"));
    c.wait_line(
        &c.log_dir().join(&new).join("error.log"),
        &format!("{new} err 2"),
    );
    // circus says so too, with the base's rotation settings.
    let mut client = dynamo_ctl::arbiter::Client::new(&c.endpoint, Duration::from_secs(5)).unwrap();
    let (o, _) = client.stream_confs(&new).unwrap();
    let o = o.unwrap().unwrap();
    assert_eq!(o.filename, c.output_log(&new));
    assert_eq!((o.max_bytes, o.backup_count), (Some(10 << 20), Some(10)));
    let (code, out, _) = run(&c, &["logs", "add", &new, "-n", "1"]);
    assert_eq!((code, out), (0, format!("{new} out 2\n")));
}

#[test]
fn no_file_or_no_arbiter_is_a_clear_error() {
    let c = LogCircus::start(
        "nf",
        &[
            W {
                ty: "Frontend",
                suffix: None,
                first: 1,
                files: None,
            },
            worker(1, None),
        ],
    );
    let w = c.watcher("Frontend", None);
    let (code, out, err) = run(&c, &["logs", "nf", &w]);
    assert_eq!(code, 1, "{out}");
    assert!(out.is_empty());
    assert!(
        err.contains(&format!("{w} has no stdout log file"))
            && err.contains("circusd's own stdout")
            && err.contains("DYN_CIRCUS_LOG_DIR"),
        "{err}"
    );
    // The arbiter gone: said, exit 1.
    let state = c.state_dir().join("nf.json");
    let text = std::fs::read_to_string(&state).unwrap();
    let dead = format!("tcp://127.0.0.1:{}", logs_support::free_port());
    std::fs::write(&state, text.replace(&c.endpoint, &dead)).unwrap();
    let (code, _, err) = run(&c, &["logs", "nf", &c.watcher("VllmWorker", None)]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unreachable") && err.contains("cannot ask it where"),
        "{err}"
    );
}

#[test]
fn escapes_in_log_lines_never_reach_the_terminal() {
    let c = LogCircus::start("esc", &[worker(0, None)]);
    let w = c.watcher("VllmWorker", None);
    c.trigger(&w, "esc");
    c.wait_line(&c.log_dir().join(&w).join("error.log"), "done");
    for args in [
        vec!["logs", "esc", &w, "--both"],
        vec!["logs", "esc", &w, "--both", "-o", "json"],
        vec!["logs", "esc", "VllmWorker", "--stderr"],
    ] {
        let o = output_bounded(c.cmd(&args));
        assert!(o.status.success(), "{args:?}");
        assert!(
            o.stdout
                .iter()
                .all(|&b| b == b'\n' || b >= 0x20 && b != 0x7f),
            "{args:?}: a control byte in {:?}",
            String::from_utf8_lossy(&o.stdout)
        );
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(!text.contains('\u{9b}'), "{text}");
        assert!(
            text.contains("evil-err") && text.contains("1m done"),
            "{text}"
        );
    }
    let (_, out, _) = run(&c, &["logs", "esc", &w]);
    assert_eq!(out, format!("{w} evil red  bell\\u{{7}} end\n"));
}

#[test]
fn a_closed_pipe_ends_it_quietly() {
    let c = LogCircus::start("pipe", &[worker(5, None)]);
    let w = c.watcher("VllmWorker", None);
    c.wait_line(&c.output_log(&w), "out 4");
    let mut child = c
        .cmd(&["logs", "pipe", &w, "-f", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, format!("{w} out 4\n"));
    drop(out);
    c.trigger(&w, "200");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "still running after its pipe closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!((status.code(), err.as_str()), (Some(0), ""));
}

#[test]
fn follow_by_polling_follows_rotation_too() {
    let c = LogCircus::start(
        "poll",
        &[W {
            ty: "VllmWorker",
            suffix: None,
            first: 2,
            files: Some((400, 40)),
        }],
    );
    let w = c.watcher("VllmWorker", None);
    c.wait_line(&c.output_log(&w), "out 1");
    let mut cmd = c.cmd(&["logs", "poll", &w, "-f", "-n", "1", "-o", "json"]);
    cmd.env("DYNAMO_CTL_WATCH", "poll");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            if tx.send(v["line"].as_str().unwrap().to_string()).is_err() {
                return;
            }
        }
    });
    let f = Following { child, lines };
    assert_eq!(f.take(1, Duration::from_secs(20)), [format!("{w} out 1")]);
    c.trigger(&w, "slow 100");
    let want: Vec<String> = (2..102).map(|i| format!("{w} out {i}")).collect();
    assert_eq!(f.take(100, Duration::from_secs(60)), want);
    assert!(c.log_dir().join(&w).join("output.log.3").exists());
}
