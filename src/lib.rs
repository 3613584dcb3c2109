//! dynamo-ctl: inspect and scale NVIDIA Dynamo deployments from the terminal.

pub mod arbiter;
pub mod args;
pub mod cli;
pub mod completions;
pub mod config;
pub mod demo;
pub mod discovery;
pub mod metrics;
pub mod state;
pub mod text;
pub mod tui;

use std::path::PathBuf;

use clap::Parser;

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
    let cli = args::Cli::parse();
    // Generated from the definitions alone: no configuration or state directory needed.
    match &cli.command {
        Some(args::Command::Completions { shell }) => {
            return print_or_fail(|out| completions::registration(shell.as_str(), out));
        }
        Some(args::Command::Man) => return print_or_fail(completions::man),
        _ => {}
    }
    let cfg = match config::path().map(|p| config::Config::load(&p)) {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            eprintln!("dynamo-ctl: config: {}", text::safe(&e));
            return 2;
        }
        None => config::Config::default(),
    };
    let dir = match state_dir(&cli.global, &cfg) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("dynamo-ctl: {e}");
            return 1;
        }
    };
    let store = state::Store::new(dir.clone()).with_lock_timeout(cli.global.lock_timeout());
    let code = match cli.command {
        Some(cmd) => cli::run(&cli.global, &store, cmd),
        None => tui::run(&cli.global, store, &cfg),
    };
    if cli.global.demo && !cli.global.keep {
        demo::cleanup(&dir);
    }
    code
}

fn print_or_fail(write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> i32 {
    let mut out = std::io::stdout().lock();
    match write(&mut out).and_then(|()| std::io::Write::flush(&mut out)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("dynamo-ctl: cannot write: {e}");
            1
        }
    }
}

/// A state file is tens of thousands of small strings; mimalloc allocates and frees them
/// about twice as fast as the system allocator (see benches/state.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
