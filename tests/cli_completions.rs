//! Shell completions and the man page, through the real shells: bash runs the registration
//! script's own completion function, fish answers `complete -C`, zsh checks the script's
//! syntax and the protocol call it makes. Namespace and type names come from the state
//! directory. (scripts/test.sh installs zsh and fish when missing.)

mod tui_support;

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_dynamo-ctl");

/// A directory holding only `dynamo-ctl` (a link to the built binary), to put on PATH as
/// an installed binary would be.
fn bin_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(BIN, d.path().join("dynamo-ctl")).unwrap();
    d
}

fn shell(sh: &str, script: &str, state: &Path, bin: &Path) -> String {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(sh)
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .env("DYN_LOCAL_STATE_DIR", state)
        .env("XDG_CONFIG_HOME", bin) // no config file there
        .output()
        .unwrap_or_else(|e| panic!("{sh} is needed (scripts/test.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "{sh} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn demo() -> PathBuf {
    tui_support::fixture("demo")
}

/// What bash's completion function offers for `words` (the last one is being typed).
fn bash_complete(words: &[&str], state: &Path) -> Vec<String> {
    let bin = bin_dir();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "source <(dynamo-ctl completions bash)
COMP_WORDS=({words}); COMP_CWORD={cword}
_clap_complete_dynamo_ctl dynamo-ctl '{cur}' '{prev}'
printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = quoted.join(" "),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    shell("bash", &script, state, bin.path())
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_namespaces_and_types_from_the_state_dir() {
    assert_eq!(bash_complete(&["dynamo-ctl", "sc"], &demo()), ["scale"]);
    let ns = bash_complete(&["dynamo-ctl", "show", ""], &demo());
    assert_eq!(ns[..3], ["agg", "dynamo", "full"], "{ns:?}");
    assert_eq!(
        bash_complete(&["dynamo-ctl", "show", "dy"], &demo()),
        ["dynamo"]
    );
    assert_eq!(
        bash_complete(&["dynamo-ctl", "add", "dynamo", "Pr"], &demo()),
        ["PrefillWorker", "Processor"]
    );
    assert_eq!(bash_complete(&["dynamo-ctl", "-n", "a"], &demo()), ["agg"]);
    // --state-dir on the line wins over the environment.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(demo().join("agg.json"), other.path().join("elsewhere.json")).unwrap();
    let dir = other.path().to_str().unwrap();
    assert_eq!(
        bash_complete(&["dynamo-ctl", "--state-dir", dir, "show", ""], &demo())[0],
        "elsewhere"
    );
    // No state directory: no names, and no error.
    let none = Path::new("/nonexistent/dynamo-ctl-state");
    assert!(
        !bash_complete(&["dynamo-ctl", "show", "a"], none)
            .iter()
            .any(|c| c == "agg")
    );
}

#[test]
fn fish_completes_namespaces_and_types() {
    let bin = bin_dir();
    let out = shell(
        "fish",
        "dynamo-ctl completions fish | source; complete -C 'dynamo-ctl show '; echo ---; complete -C 'dynamo-ctl remove dynamo V'",
        &demo(),
        bin.path(),
    );
    let (ns, ty) = out.split_once("---\n").unwrap();
    for n in ["agg", "dynamo", "full"] {
        assert!(ns.lines().any(|l| l == n), "{n} not offered:\n{ns}");
    }
    assert!(!ns.lines().any(|l| l == "broken"), "{ns}");
    assert_eq!(ty.trim(), "VllmWorker");
}

#[test]
fn zsh_script_is_valid_and_its_protocol_call_answers() {
    let bin = bin_dir();
    // The script parses in zsh.
    shell(
        "zsh",
        "dynamo-ctl completions zsh > \"$TMPDIR_SCRIPT\" && zsh -n \"$TMPDIR_SCRIPT\""
            .replace("$TMPDIR_SCRIPT", &format!("{}/c.zsh", bin.path().display()))
            .as_str(),
        &demo(),
        bin.path(),
    );
    let script = std::fs::read_to_string(bin.path().join("c.zsh")).unwrap();
    assert!(script.contains("DYNAMO_CTL_COMPLETE=\"zsh\""), "{script}");
    // The call the script makes at each Tab.
    let out = Command::new(BIN)
        .args(["--", "dynamo-ctl", "show", "f"])
        .env("DYNAMO_CTL_COMPLETE", "zsh")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .env("DYN_LOCAL_STATE_DIR", demo())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("full"));
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: bash, zsh, fish"));
}

#[test]
fn the_man_page_is_generated_from_the_definitions() {
    let out = Command::new(BIN).arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with(".ie"), "{}", &page[..80.min(page.len())]);
    assert!(page.contains(".TH dynamo-ctl 1"), "{page}");
    for s in [
        "instances",
        "show",
        "add",
        "remove",
        "scale",
        "logs",
        "completions",
        "\\-\\-state\\-dir",
    ] {
        assert!(page.contains(s), "{s} missing from the man page");
    }
    // man renders it (when man is installed, as on Debian; groff otherwise).
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("dynamo-ctl.1");
    std::fs::write(&f, &page).unwrap();
    let rendered = Command::new("groff")
        .args(["-man", "-Tutf8"])
        .arg(&f)
        .output()
        .expect("groff is needed (scripts/test.sh installs groff-base)");
    assert!(rendered.status.success());
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(text.contains("dynamo-ctl"), "{text}");
}

/// Namespace names offered at `words` (flags and anything else left out).
fn names_offered(words: &[&str], state: &Path) -> Vec<String> {
    bash_complete(words, state)
        .into_iter()
        .filter(|c| !c.starts_with('-'))
        .collect()
}

#[test]
fn a_namespace_whose_file_does_not_parse_is_not_offered_to_open_or_change() {
    // The demo's `broken` (truncated), and the other classes of unreadable file: not
    // JSON at all, valid JSON that is not a state file, a directory named *.json, a FIFO.
    let dir = tempfile::tempdir().unwrap();
    for f in ["agg", "broken", "dynamo"] {
        std::fs::copy(
            demo().join(format!("{f}.json")),
            dir.path().join(format!("{f}.json")),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("garbage.json"), b"\x00\xff not json").unwrap();
    std::fs::write(dir.path().join("notstate.json"), b"[1, 2, 3]").unwrap();
    std::fs::write(dir.path().join("empty.json"), b"").unwrap();
    std::fs::create_dir(dir.path().join("adir.json")).unwrap();
    let fifo = dir.path().join("fifo.json");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let good = ["agg", "dynamo"];
    for words in [
        &["dynamo-ctl", "scale", ""][..],
        &["dynamo-ctl", "add", ""],
        &["dynamo-ctl", "remove", ""],
        &["dynamo-ctl", "show", ""],
        &["dynamo-ctl", "-n", ""],
        &["dynamo-ctl", "add", "-n", ""],
        &["dynamo-ctl", "scale", "--namespace", ""],
    ] {
        assert_eq!(names_offered(words, dir.path()), good, "{words:?}");
    }
    // `instances` and `top` take a namespace of discovery or metrics: any name will do.
    for words in [
        &["dynamo-ctl", "instances", ""][..],
        &["dynamo-ctl", "top", "-n", ""],
    ] {
        let offered = names_offered(words, dir.path());
        assert!(
            offered.iter().any(|n| n == "broken"),
            "{words:?}: {offered:?}"
        );
        assert!(
            offered.iter().any(|n| n == "dynamo"),
            "{words:?}: {offered:?}"
        );
    }
}

#[test]
fn a_subcommand_completes_only_its_own_flags() {
    let flags = bash_complete(&["dynamo-ctl", "top", "--"], &demo());
    assert!(flags.iter().any(|f| f == "--window"), "{flags:?}");
    assert!(flags.iter().any(|f| f == "--prometheus"), "{flags:?}");
    for f in [
        "--stop-timeout",
        "--state-only",
        "--lock-timeout",
        "--state-dir",
    ] {
        assert!(
            !flags.iter().any(|c| c == f),
            "{f} offered for top: {flags:?}"
        );
    }
    let flags = bash_complete(&["dynamo-ctl", "add", "--"], &demo());
    for f in [
        "--stop-timeout",
        "--state-only",
        "--lock-timeout",
        "--state-dir",
    ] {
        assert!(
            flags.iter().any(|c| c == f),
            "{f} not offered for add: {flags:?}"
        );
    }
}

/// The TUI's command bar (`:ns NAME`, Tab) offers only namespaces that can be opened.
#[test]
fn the_command_bar_does_not_offer_a_broken_namespace() {
    use crossterm::event::KeyCode;
    use tui_support::command_line as line;
    let (mut app, store) = tui_support::app_on(&demo(), Some("dynamo"), false);
    tui_support::drive(&mut app, &store, tui_support::key(':'));
    for c in "ns ".chars() {
        tui_support::drive(&mut app, &store, tui_support::key(c));
    }
    tui_support::drive(&mut app, &store, tui_support::code(KeyCode::Tab));
    let (input, hint) = line(&app);
    assert_eq!(input, "ns ");
    assert_eq!(hint.as_deref(), Some("agg  dynamo  full"));
    // `b` completes to nothing: broken is not a choice.
    tui_support::drive(&mut app, &store, tui_support::key('b'));
    tui_support::drive(&mut app, &store, tui_support::code(KeyCode::Tab));
    let (input, hint) = line(&app);
    assert_eq!(
        (input.as_str(), hint.as_deref()),
        ("ns b", Some("no completion"))
    );
}
