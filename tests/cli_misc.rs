//! The CLI's edges that are not about a state file: printing into a pipe whose reader went
//! away, the man page's cross-references, and which flags each subcommand's `--help` shows.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dynamo-ctl");

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `stdout`, killing it after 20 s (a missing fix must not hang the
/// suite).
fn run_with(args: &[&str], stdout: Stdio) -> Out {
    let mut child = Command::new(BIN)
        .args(args)
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dynamo-ctl {args:?} still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    if let Some(mut o) = child.stdout.take() {
        o.read_to_string(&mut stdout).unwrap();
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Out {
        code: status.code(),
        stdout,
        stderr,
    }
}

fn run(args: &[&str]) -> Out {
    run_with(args, Stdio::piped())
}

/// A pipe whose reading end is already closed: every write fails with EPIPE, as for
/// `dynamo-ctl man | head -1` once head has exited.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

#[test]
fn generated_text_into_a_closed_pipe_exits_0_quietly() {
    for args in [
        &["man"][..],
        &["completions", "bash"],
        &["completions", "zsh"],
        &["completions", "fish"],
    ] {
        let o = run_with(args, closed_pipe());
        assert_eq!(o.code, Some(0), "{args:?}: {}", o.stderr);
        assert_eq!(o.stderr, "", "{args:?}");
    }
    // A real pipeline, as typed.
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; '{BIN}' man | head -1"))
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    assert!(String::from_utf8_lossy(&o.stderr).is_empty(), "{o:?}");
}

#[test]
fn generated_text_onto_a_full_disk_is_still_an_error() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    for args in [&["man"][..], &["completions", "bash"]] {
        let o = run_with(args, Stdio::from(full.try_clone().unwrap()));
        assert_eq!(o.code, Some(1), "{args:?}");
        assert!(o.stderr.contains("cannot write"), "{args:?}: {}", o.stderr);
    }
}

/// Every `name(section)` reference in roff text, e.g. `dynamo\-ctl\-top(1)`.
fn page_references(page: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for line in page.lines().filter(|l| !l.starts_with(".TH ")) {
        let b = line.as_bytes();
        for i in 0..b.len() {
            if b[i] == b'(' && b.get(i + 2) == Some(&b')') && b[i + 1].is_ascii_digit() {
                let start = line[..i]
                    .rfind(|c: char| c.is_whitespace() || c == '>' || c == '`')
                    .map_or(0, |s| s + 1);
                if start < i {
                    refs.push(line[start..i + 3].to_string());
                }
            }
        }
    }
    refs
}

#[test]
fn the_man_page_names_no_page_that_is_not_installed() {
    let o = run(&["man"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let page = o.stdout;
    // No dynamo-ctl-top(1), dynamo-ctl-show(1), ...: one page is installed, this one.
    let refs = page_references(&page);
    assert!(refs.is_empty(), "references to other pages: {refs:?}");
    assert!(!page.contains("SEE ALSO"), "{page}");
    // Each subcommand is described in this page instead, with its own options.
    for sub in [
        "completions",
        "man",
        "instances",
        "list",
        "top",
        "show",
        "add",
        "remove",
        "scale",
        "logs",
    ] {
        assert!(
            page.contains(&format!(".SS \"dynamo\\-ctl {sub}\"")),
            "no subsection for {sub}"
        );
    }
    for flag in [
        "\\-\\-window",
        "\\-\\-replicas",
        "\\-\\-expect",
        "\\-\\-stop\\-timeout",
    ] {
        assert!(page.contains(flag), "{flag} missing");
    }
    // groff reads it without a warning.
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("dynamo-ctl.1");
    std::fs::write(&f, &page).unwrap();
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&f)
        .output()
        .expect("groff is needed (scripts/test.sh installs groff-base)");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn the_reference_finder_finds_references() {
    assert_eq!(
        page_references("dynamo\\-ctl\\-top(1)\nSee man(7), x"),
        ["dynamo\\-ctl\\-top(1)", "man(7)"]
    );
}

#[test]
fn each_subcommand_help_shows_the_flags_it_uses_and_no_other() {
    const STATE: &[&str] = &["--state-dir", "--demo", "--keep"];
    const ARBITER: &[&str] = &["--state-only", "--arbiter-timeout"];
    const CHANGE: &[&str] = &["--lock-timeout", "--start-timeout", "--stop-timeout"];
    const DISCOVERY: &[&str] = &[
        "--etcd-endpoints",
        "--file-kv",
        "--no-discovery",
        "--discovery-timeout",
        "--verbose",
    ];
    const METRICS: &[&str] = &["--prometheus", "--metrics", "--nats", "--metrics-timeout"];
    const TUI: &[&str] = &["--readonly", "--refresh"];
    const NS: &[&str] = &["--namespace"];
    const OUT: &[&str] = &["--output"];
    let groups = [STATE, ARBITER, CHANGE, DISCOVERY, METRICS, TUI, NS, OUT];
    let cases: [(&[&str], &[&[&str]]); 9] = [
        (&["top"], &[NS, OUT, METRICS]),
        (&["logs"], &[OUT, STATE, ARBITER]),
        (&["instances"], &[NS, OUT, DISCOVERY]),
        (&["list"], &[OUT, STATE, DISCOVERY]),
        (&["show"], &[NS, OUT, STATE, ARBITER, DISCOVERY]),
        (&["add"], &[NS, OUT, STATE, ARBITER, CHANGE, DISCOVERY]),
        (&["remove"], &[NS, OUT, STATE, ARBITER, CHANGE, DISCOVERY]),
        (&["scale"], &[NS, OUT, STATE, ARBITER, CHANGE]),
        // The TUI takes every flag.
        (
            &[],
            &[NS, OUT, STATE, ARBITER, CHANGE, DISCOVERY, METRICS, TUI],
        ),
    ];
    for (sub, takes) in cases {
        let args: Vec<&str> = sub.iter().copied().chain(["--help"]).collect();
        let o = run(&args);
        assert_eq!(o.code, Some(0), "{args:?}: {}", o.stderr);
        let help = o.stdout;
        let shown =
            |flag: &str| help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n"));
        for g in groups {
            for flag in g {
                assert_eq!(
                    shown(flag),
                    takes.contains(&g),
                    "{args:?}: {flag} {}\n{help}",
                    if takes.contains(&g) {
                        "missing"
                    } else {
                        "shown"
                    }
                );
            }
        }
    }
    // `completions` and `man` take none of them.
    for sub in ["completions", "man"] {
        let help = run(&[sub, "--help"]).stdout;
        for flag in groups.iter().flat_map(|g| g.iter()) {
            assert!(!help.contains(flag), "{sub} --help shows {flag}");
        }
    }
}

#[test]
fn a_flag_a_subcommand_does_not_use_is_refused_after_it_and_accepted_before() {
    let state = tempfile::tempdir().unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/dynamo.json");
    std::fs::copy(fixture, state.path().join("dynamo.json")).unwrap();
    let dir = state.path().to_str().unwrap();
    let o = run(&["top", "--stop-timeout", "5"]);
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.contains("--stop-timeout"), "{}", o.stderr);
    // Before the subcommand's name, every flag is accepted, as before (scripts and
    // aliases that put the common flags first keep working).
    let o = run(&["--state-dir", dir, "--state-only", "--no-discovery", "list"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("dynamo"), "{}", o.stdout);
    // After the subcommand, the flags it uses, with the value given last.
    let o = run(&[
        "--state-dir",
        "/nonexistent",
        "list",
        "--no-discovery",
        "--state-dir",
        dir,
    ]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("dynamo"), "{}", o.stdout);
}
