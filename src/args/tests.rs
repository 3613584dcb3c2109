use super::*;

fn parse(args: &[&str]) -> Result<(Global, Option<Command>), clap::Error> {
    try_parse_from(std::iter::once("dynamo-ctl").chain(args.iter().copied()))
}

/// Each subcommand as typed without flags.
const SUBS: [(&str, &[&str]); 7] = [
    ("list", &["list"]),
    ("show", &["show", "ns"]),
    ("instances", &["instances"]),
    ("top", &["top"]),
    ("add", &["add", "ns", "T"]),
    ("remove", &["remove", "ns", "T"]),
    ("scale", &["scale", "ns", "T", "--replicas", "1"]),
];

/// Every flag, a value for it, what it sets, and the subcommands that take it after
/// their name.
#[allow(clippy::type_complexity)]
fn flags() -> Vec<(
    &'static [&'static str],
    fn(&Global) -> bool,
    &'static [&'static str],
)> {
    const STATE: &[&str] = &["list", "show", "add", "remove", "scale"];
    const ARBITER: &[&str] = &["show", "add", "remove", "scale"];
    const CHANGE: &[&str] = &["add", "remove", "scale"];
    const NS: &[&str] = &["show", "instances", "top", "add", "remove", "scale"];
    const OUT: &[&str] = &["list", "show", "instances", "top", "add", "remove", "scale"];
    const DISCOVERY: &[&str] = &["list", "show", "instances", "add", "remove"];
    const METRICS: &[&str] = &["top"];
    const TUI: &[&str] = &[];
    vec![
        (
            &["--state-dir", "/x"],
            |g| g.state_dir == Some("/x".into()),
            STATE,
        ),
        (&["--demo"], |g| g.demo, STATE),
        (&["--keep"], |g| g.keep, STATE),
        (&["--state-only"], |g| g.state_only, ARBITER),
        (
            &["--arbiter-timeout", "3"],
            |g| g.arbiter_timeout == 3.0,
            ARBITER,
        ),
        (&["--lock-timeout", "3"], |g| g.lock_timeout == 3.0, CHANGE),
        (
            &["--start-timeout", "3"],
            |g| g.start_timeout == 3.0,
            CHANGE,
        ),
        (&["--stop-timeout", "3"], |g| g.stop_timeout == 3.0, CHANGE),
        (&["-n", "x"], |g| g.namespace.as_deref() == Some("x"), NS),
        (
            &["--namespace", "x"],
            |g| g.namespace.as_deref() == Some("x"),
            NS,
        ),
        (&["-o", "json"], |g| g.output == Output::Json, OUT),
        (
            &["--etcd-endpoints", "http://e"],
            |g| g.etcd_endpoints.is_some(),
            DISCOVERY,
        ),
        (
            &["--file-kv", "/f"],
            |g| g.file_kv == Some("/f".into()),
            DISCOVERY,
        ),
        (&["--no-discovery"], |g| g.no_discovery, DISCOVERY),
        (
            &["--discovery-timeout", "3"],
            |g| g.discovery_timeout == 3.0,
            DISCOVERY,
        ),
        (&["-v"], |g| g.verbose, DISCOVERY),
        (
            &["--prometheus", "http://p"],
            |g| g.prometheus.as_deref() == Some("http://p"),
            METRICS,
        ),
        (
            &["--metrics", "http://m"],
            |g| g.metrics == ["http://m"],
            METRICS,
        ),
        (
            &["--nats", "nats://n"],
            |g| g.nats.as_deref() == Some("nats://n"),
            METRICS,
        ),
        (
            &["--metrics-timeout", "3"],
            |g| g.metrics_timeout == 3.0,
            METRICS,
        ),
        (&["--readonly"], |g| g.readonly, TUI),
        (&["--refresh", "3"], |g| g.refresh == Some(3.0), TUI),
    ]
}

#[test]
fn every_flag_works_before_any_subcommand_and_after_those_that_use_it() {
    for (flag, set, takes) in flags() {
        // The TUI (no subcommand) takes every flag, as before.
        let (g, cmd) = parse(flag).unwrap();
        assert!(cmd.is_none() && set(&g), "{flag:?} for the TUI");
        for (sub, words) in SUBS {
            // Before the subcommand's name: accepted, as before, for every subcommand.
            let before: Vec<&str> = flag.iter().chain(words).copied().collect();
            let (g, cmd) = parse(&before).unwrap_or_else(|e| panic!("{before:?}: {e}"));
            assert!(cmd.is_some() && set(&g), "{before:?}");
            // After it: only where the subcommand uses the flag.
            let after: Vec<&str> = words.iter().chain(flag).copied().collect();
            match parse(&after) {
                Ok((g, _)) => {
                    assert!(takes.contains(&sub), "{after:?} should be refused");
                    assert!(set(&g), "{after:?}");
                }
                Err(e) => {
                    assert!(!takes.contains(&sub), "{after:?}: {e}");
                    assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
                }
            }
        }
    }
}

#[test]
fn after_the_subcommand_wins_and_defaults_do_not_override() {
    let (g, _) = parse(&[
        "--lock-timeout",
        "3",
        "add",
        "ns",
        "T",
        "--lock-timeout",
        "4",
    ])
    .unwrap();
    assert_eq!(g.lock_timeout, 4.0);
    // Not given after the name: the value before it stays (not the subcommand's default).
    let (g, _) = parse(&["--lock-timeout", "3", "-o", "json", "add", "ns", "T"]).unwrap();
    assert_eq!((g.lock_timeout, g.output), (3.0, Output::Json));
    let (g, _) = parse(&["--metrics", "http://a", "top", "--metrics", "http://b"]).unwrap();
    assert_eq!(g.metrics, ["http://a", "http://b"]);
    let (g, _) = parse(&["list"]).unwrap();
    assert_eq!(g.lock_timeout, 10.0);
    assert_eq!(g.stop_timeout, 600.0);
}

#[test]
fn the_command_keeps_its_own_arguments() {
    let (_, cmd) = parse(&[
        "scale",
        "ns",
        "T",
        "--replicas",
        "3",
        "--force",
        "--dry-run",
    ])
    .unwrap();
    match cmd {
        Some(Command::Scale {
            namespace,
            ty,
            replicas,
            flags,
            force,
        }) => {
            assert_eq!((namespace.as_str(), ty.as_deref()), ("ns", Some("T")));
            assert_eq!(replicas, 3);
            assert!(force && flags.dry_run && !flags.no_wait);
        }
        other => panic!("{other:?}"),
    }
    let (_, cmd) = parse(&["top", "x", "--window", "2", "--watch"]).unwrap();
    assert!(matches!(
        cmd,
        Some(Command::Top { namespace: Some(n), window, watch: true }) if n == "x" && window == 2.0
    ));
}

/// The subcommands are built lazily (`defer`): once built, each keeps the description and
/// arguments it has in the help listing (a flattened group's doc comment must not replace
/// the description).
#[test]
fn deferred_subcommands_keep_their_descriptions_once_built() {
    let cmd = Cli::command();
    let listed: Vec<(String, Option<String>)> = cmd
        .get_subcommands()
        .map(|s| {
            (
                s.get_name().to_string(),
                s.get_about().map(|a| a.to_string()),
            )
        })
        .collect();
    assert!(listed.len() >= 9);
    let mut built = cmd;
    built.build();
    for (name, about) in listed {
        let sc = built.find_subcommand(&name).expect("listed");
        assert!(about.is_some(), "{name} has no description");
        assert_eq!(sc.get_about().map(|a| a.to_string()), about, "{name}");
        if name != "man" {
            assert!(sc.get_arguments().count() > 1, "{name} has no arguments");
        }
    }
}
