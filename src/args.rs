//! Command-line arguments, shared by the scripting CLI and the TUI.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

/// Inspect and scale NVIDIA Dynamo deployments. With no subcommand, opens the terminal UI.
#[derive(Debug, Parser)]
#[command(name = "dynamo-ctl", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, ClapArgs)]
pub struct Global {
    /// State directory [default: $DYN_LOCAL_STATE_DIR, else ~/.dynamo/state]
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Copy the bundled demo namespaces into a fresh temporary directory and use it
    #[arg(long, global = true)]
    pub demo: bool,
    /// Seconds to wait for the state file's lock (held by the planner or another dynamo-ctl)
    #[arg(long, global = true, value_name = "SECS", default_value_t = 10.0, value_parser = parse_secs)]
    pub lock_timeout: f64,
    /// Output format for data on stdout
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// TUI: open this namespace directly
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// TUI: view only; the add/remove keys are gone
    #[arg(long)]
    pub readonly: bool,
}

impl Global {
    pub fn lock_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.lock_timeout)
    }
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
        return Err(format!("{s} is out of range (0 to 86400 seconds)"));
    }
    Ok(v)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// List namespaces with instance counts per type and their status
    List,
    /// Show one namespace: components grouped by type, watchers, GPUs, free GPUs
    Show {
        /// Namespace (the state file's name without .json)
        namespace: String,
    },
    /// Add one instance of a component type
    Add {
        namespace: String,
        /// Component type, e.g. VllmWorker or PrefillWorker
        #[arg(value_name = "TYPE")]
        ty: String,
        /// Show the change without writing it
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove the highest-numbered running instance of a component type
    Remove {
        namespace: String,
        #[arg(value_name = "TYPE")]
        ty: String,
        /// Show the change without writing it
        #[arg(long)]
        dry_run: bool,
    },
    /// Add or remove instances until N run, in one transaction
    Scale {
        namespace: String,
        #[arg(value_name = "TYPE")]
        ty: String,
        /// Number of running instances wanted
        #[arg(long, value_name = "N")]
        replicas: usize,
        /// Show the changes without writing them
        #[arg(long)]
        dry_run: bool,
    },
}
