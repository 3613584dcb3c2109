//! dynamo-ctl: inspect and scale NVIDIA Dynamo deployments from the terminal.

pub mod arbiter;
pub mod args;
pub mod cli;
pub mod demo;
pub mod discovery;
pub mod state;
pub mod text;
pub mod tui;

use std::path::PathBuf;

use clap::Parser;

/// Resolves the state directory from the flags (`--demo` creates a fresh one and says where
/// on stderr).
pub fn state_dir(global: &args::Global) -> Result<PathBuf, String> {
    if global.demo {
        let dir = demo::prepare().map_err(|e| format!("cannot create the demo directory: {e}"))?;
        eprintln!("dynamo-ctl: demo state directory: {}", dir.display());
        return Ok(dir);
    }
    Ok(state::store::resolve_dir(global.state_dir.clone()))
}

/// The whole program; returns the process exit code (0 ok, 1 failure, 2 usage).
pub fn run() -> i32 {
    let cli = args::Cli::parse();
    let dir = match state_dir(&cli.global) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("dynamo-ctl: {e}");
            return 1;
        }
    };
    let store = state::Store::new(dir).with_lock_timeout(cli.global.lock_timeout());
    match cli.command {
        Some(cmd) => cli::run(&cli.global, &store, cmd),
        None => tui::run(&cli.global, store),
    }
}

/// A state file is tens of thousands of small strings; mimalloc allocates and frees them
/// about twice as fast as the system allocator (see benches/state.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
