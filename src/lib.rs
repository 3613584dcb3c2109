//! dynamo-ctl: inspect and scale NVIDIA Dynamo deployments from the terminal.

pub mod arbiter;
pub mod args;
pub mod cli;
pub mod completions;
pub mod config;
pub mod demo;
pub mod discovery;
pub mod logs;
pub mod metrics;
pub mod rows;
pub mod state;
pub mod text;
pub mod tui;

use std::path::PathBuf;

/// Resolves the state directory from the flags (`--demo` creates a fresh one and says where
/// on stderr), else `$DYN_LOCAL_STATE_DIR`, else the config file's `state_dir`, else
/// `~/.dynamo/state`.
pub fn state_dir(global: &args::Global, cfg: &config::Config) -> Result<PathBuf, String> {
    if global.demo {
        let dir = demo::prepare().map_err(|e| format!("cannot create the demo directory: {e}"))?;
        eprintln!(
            "dynamo-ctl: demo state directory: {}{}",
            dir.display(),
            if global.keep {
                " (kept after exit: --keep)"
            } else {
                " (removed on exit; --keep keeps it)"
            }
        );
        return Ok(dir);
    }
    Ok(resolve_state_dir(global.state_dir.clone(), cfg))
}

/// The state directory without `--demo`: `flag`, else `$DYN_LOCAL_STATE_DIR`, else the
/// config's `state_dir`, else `~/.dynamo/state`.
pub fn resolve_state_dir(flag: Option<PathBuf>, cfg: &config::Config) -> PathBuf {
    let env_set = std::env::var_os("DYN_LOCAL_STATE_DIR").is_some_and(|d| !d.is_empty());
    let flag = flag.or_else(|| (!env_set).then(|| cfg.state_dir.clone()).flatten());
    state::store::resolve_dir(flag)
}

/// The whole program; returns the process exit code (0 ok, 1 failure, 2 usage).
pub fn run() -> i32 {
    // A Tab in a shell with the completions installed: answer and exit.
    completions::complete_from_env();
    let (global, command) = args::parse();
    // Generated from the definitions alone: no configuration or state directory needed.
    match &command {
        Some(args::Command::Completions { shell }) => {
            return print_or_fail(|out| completions::registration(shell.as_str(), out));
        }
        Some(args::Command::Man) => return print_or_fail(completions::man),
        _ => {}
    }
    // The configuration is read only where it is used: by the TUI, and for the state
    // directory when neither --demo, --state-dir nor $DYN_LOCAL_STATE_DIR names one.
    // `instances` and `top` read no state directory.
    let needs_dir = !matches!(
        command,
        Some(args::Command::Instances { .. } | args::Command::Top { .. })
    );
    let dir_given = global.demo
        || global.state_dir.is_some()
        || std::env::var_os("DYN_LOCAL_STATE_DIR").is_some_and(|d| !d.is_empty());
    let cfg = if command.is_none() || (needs_dir && !dir_given) {
        let loaded = config::path().map(|p| {
            if command.is_none() {
                config::Config::load(&p).map(|c| (c, None))
            } else {
                config::Config::load_for_commands(&p)
            }
        });
        match loaded {
            Some(Ok((c, warning))) => {
                if let Some(w) = warning {
                    eprintln!(
                        "dynamo-ctl: warning: config: {} (only the TUI uses it; this command goes on)",
                        text::safe(&w)
                    );
                }
                c
            }
            Some(Err(e)) => {
                eprintln!("dynamo-ctl: config: {}", text::safe(&e));
                return 2;
            }
            None => config::Config::default(),
        }
    } else {
        config::Config::default()
    };
    let dir = if needs_dir {
        match state_dir(&global, &cfg) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("dynamo-ctl: {e}");
                return 1;
            }
        }
    } else {
        PathBuf::new()
    };
    let store = state::Store::new(dir.clone()).with_lock_timeout(global.lock_timeout());
    let code = match command {
        Some(cmd) => cli::run(&global, &store, cmd),
        None => tui::run(&global, store, &cfg),
    };
    if needs_dir && global.demo && !global.keep {
        demo::cleanup(&dir);
    }
    code
}

/// Writes generated text to stdout. A reader that went away (`dynamo-ctl man | head -1`)
/// is not an error, as for every other command; any other failure (`> /dev/full`) is.
fn print_or_fail(write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> i32 {
    let mut out = std::io::stdout().lock();
    match write(&mut out).and_then(|()| std::io::Write::flush(&mut out)) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("dynamo-ctl: cannot write: {e}");
            1
        }
    }
}
