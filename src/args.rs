//! Command-line arguments, shared by the scripting CLI and the TUI.
//!
//! Flags come in groups (the state directory, the arbiter, the change timeouts, discovery,
//! metrics, the TUI's own); each subcommand takes only the groups it uses, so its `--help`
//! lists only those. `dynamo-ctl` itself (the TUI) takes every group, and so does the
//! position before a subcommand's name (`dynamo-ctl -n dynamo add VllmWorker`,
//! `dynamo-ctl --state-dir D list`): [`parse`] merges the two levels into one [`Global`],
//! a flag given after the subcommand's name winning, and returns the [`Command`] to run.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Args as ClapArgs, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Inspect and scale NVIDIA Dynamo deployments. With no subcommand, opens the terminal UI.
#[derive(Debug, Parser)]
#[command(
    name = "dynamo-ctl",
    version,
    about,
    long_about = None,
    after_help = "Configuration: $XDG_CONFIG_HOME/dynamo-ctl/config.toml, else ~/.config/dynamo-ctl/config.toml\n(state_dir, refresh, [theme] colours, [keys] rebinding; see the README)"
)]
pub struct Cli {
    #[command(flatten)]
    pub ns: NsArg,
    #[command(flatten)]
    pub output: OutputArg,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub arbiter: ArbiterArgs,
    #[command(flatten)]
    pub change: ChangeTimeouts,
    #[command(flatten)]
    pub discovery: DiscoveryArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub tui: TuiArgs,
    #[command(subcommand)]
    pub command: Option<Sub>,
}

// `-n/--namespace`: the TUI, show, instances, top, add, remove, scale.
#[derive(Debug, Clone, ClapArgs)]
pub struct NsArg {
    /// The namespace: the TUI opens it directly; subcommands take it instead of NS
    /// (`dynamo-ctl -n dynamo show`, `dynamo-ctl -n dynamo add VllmWorker`)
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
}

// `-o/--output`: every subcommand that prints data.
#[derive(Debug, Clone, ClapArgs)]
pub struct OutputArg {
    /// Output format for data on stdout
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

// The state directory: the TUI, list, show, add, remove, scale.
#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "State directory")]
pub struct StateArgs {
    /// State directory [default: $DYN_LOCAL_STATE_DIR, else ~/.dynamo/state]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Copy the bundled demo namespaces into a fresh temporary directory and use it
    #[arg(long)]
    pub demo: bool,
    /// With --demo: keep the demo directory after exit (it is removed otherwise)
    #[arg(long)]
    pub keep: bool,
}

// Asking the circus arbiter: the TUI, show, add, remove, scale.
#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Circus arbiter")]
pub struct ArbiterArgs {
    /// Change only the state file: start and stop no process, even when the arbiter answers
    #[arg(long)]
    pub state_only: bool,
    /// Seconds to wait for each answer from the circus arbiter
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = parse_secs)]
    pub arbiter_timeout: f64,
}

// Changing a namespace: the TUI, add, remove, scale.
#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Changes")]
pub struct ChangeTimeouts {
    /// Seconds to wait for the state file's lock (held by the planner or another dynamo-ctl)
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_secs)]
    pub lock_timeout: f64,
    /// Seconds to wait for a new worker's process to run (and, when discovery is followed, for a change to register)
    #[arg(long, value_name = "SECS", default_value_t = 120.0, value_parser = parse_secs)]
    pub start_timeout: f64,
    /// Seconds a worker may take to exit after SIGTERM (the planner waits 600)
    #[arg(long, value_name = "SECS", default_value_t = 600.0, value_parser = parse_secs)]
    pub stop_timeout: f64,
}

// Discovery (src/discovery/), live instances from etcd and the file store: the TUI, list,
// show, instances, add, remove.
#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Discovery")]
pub struct DiscoveryArgs {
    /// etcd endpoints of Dynamo's discovery, comma-separated [default: $ETCD_ENDPOINTS, else http://localhost:2379 when it answers]
    #[arg(long, value_name = "URLS")]
    pub etcd_endpoints: Option<String>,
    /// Root of Dynamo's file store [default: $DYN_FILE_KV, else $TMPDIR/dynamo_store_kv when it exists]
    #[arg(long, value_name = "DIR")]
    pub file_kv: Option<PathBuf>,
    /// Read no discovery source (etcd, file store)
    #[arg(long)]
    pub no_discovery: bool,
    /// Seconds to wait for each discovery source
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = parse_secs)]
    pub discovery_timeout: f64,
    /// Also print malformed discovery entries (on stderr)
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

// Metrics (src/metrics/), Prometheus, direct scrapes, NATS: the TUI, top.
#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Metrics")]
pub struct MetricsArgs {
    /// Prometheus server to ask for load numbers (PromQL over its HTTP API; plain http)
    #[arg(
        long,
        value_name = "URL",
        env = "DYNAMO_CTL_PROMETHEUS",
        hide_env_values = true
    )]
    pub prometheus: Option<String>,
    /// Scrape this /metrics directly (a worker's system status server, DYN_SYSTEM_PORT, or a frontend); repeatable
    #[arg(long = "metrics", value_name = "URL", action = clap::ArgAction::Append)]
    pub metrics: Vec<String>,
    /// NATS server for the prefill queue depth (nats://host:port) [default: $NATS_SERVER]
    #[arg(long, value_name = "URL", env = "NATS_SERVER", hide_env_values = true)]
    pub nats: Option<String>,
    /// Seconds to wait for each metrics call (Prometheus query, scrape, health)
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = parse_secs)]
    pub metrics_timeout: f64,
}

// The terminal UI's own flags.
#[derive(Debug, Clone, ClapArgs)]
#[command(next_help_heading = "Terminal UI")]
pub struct TuiArgs {
    /// TUI: view only; the add/remove keys are gone
    #[arg(long)]
    pub readonly: bool,
    /// TUI: seconds between polls of the arbiter and the metrics sources while a namespace is
    /// open (at least 0.5) [default: the config's refresh, else 2]
    #[arg(long, value_name = "SECS", value_parser = parse_window)]
    pub refresh: Option<f64>,
}

/// Every flag, resolved: what the TUI and the subcommands read. A group a subcommand does
/// not take keeps what was given before the subcommand's name, else its default.
#[derive(Debug, Clone)]
pub struct Global {
    pub state_dir: Option<PathBuf>,
    pub demo: bool,
    pub keep: bool,
    pub lock_timeout: f64,
    pub state_only: bool,
    pub arbiter_timeout: f64,
    pub start_timeout: f64,
    pub stop_timeout: f64,
    pub output: Output,
    pub namespace: Option<String>,
    pub readonly: bool,
    pub etcd_endpoints: Option<String>,
    pub file_kv: Option<PathBuf>,
    pub no_discovery: bool,
    pub discovery_timeout: f64,
    pub prometheus: Option<String>,
    pub metrics: Vec<String>,
    pub nats: Option<String>,
    pub refresh: Option<f64>,
    pub metrics_timeout: f64,
    pub verbose: bool,
}

impl Default for Global {
    /// Every default, as `dynamo-ctl` with no flag has them (the environment's
    /// `DYNAMO_CTL_PROMETHEUS` and `NATS_SERVER` included).
    fn default() -> Global {
        let (g, _) = try_parse_from(["dynamo-ctl"]).expect("no flags parse");
        g
    }
}

impl Global {
    pub fn lock_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.lock_timeout)
    }

    pub fn arbiter_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.arbiter_timeout)
    }

    /// The arbiter options these flags ask for (`wait` and `kill` come from the subcommand).
    pub fn scale_options(&self) -> crate::arbiter::Options {
        crate::arbiter::Options {
            arbiter_timeout: self.arbiter_timeout(),
            start_timeout: Duration::from_secs_f64(self.start_timeout),
            stop_timeout: Duration::from_secs_f64(self.stop_timeout),
            ..Default::default()
        }
    }

    /// The flag that rules out starting or stopping any process, whatever the file says:
    /// `--demo` (its files name arbiters that do not exist) or `--state-only`.
    pub fn file_only_reason(&self) -> Option<&'static str> {
        if self.demo {
            Some("--demo")
        } else if self.state_only {
            Some("--state-only")
        } else {
            None
        }
    }
}

// Flags shared by add, remove and scale.
#[derive(Debug, Clone, Default, ClapArgs)]
pub struct ChangeFlags {
    /// Show the change without writing it or touching any process
    #[arg(long)]
    pub dry_run: bool,
    /// Return once the arbiter accepted, without waiting for the process to run or exit
    #[arg(long)]
    pub no_wait: bool,
    /// Scale a type that is not a worker (Frontend, Processor, Planner, ...)
    #[arg(long)]
    pub allow_infra: bool,
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

fn parse_window(s: &str) -> Result<f64, String> {
    let v = parse_secs(s)?;
    if v < 0.5 {
        return Err(format!("{s} is too short (at least 0.5 seconds)"));
    }
    Ok(v)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl CompletionShell {
    pub fn as_str(self) -> &'static str {
        match self {
            CompletionShell::Bash => "bash",
            CompletionShell::Zsh => "zsh",
            CompletionShell::Fish => "fish",
        }
    }
}

/// What to run, with the subcommand's own arguments (the flags are in [`Global`]).
#[derive(Debug, Clone)]
pub enum Command {
    /// `completions bash|zsh|fish`
    Completions { shell: CompletionShell },
    /// `man`
    Man,
    /// `instances [NS]`
    Instances { namespace: Option<String> },
    /// `list`
    List,
    /// `top [NS] [--window SECS] [--watch]`
    Top {
        namespace: Option<String>,
        window: f64,
        watch: bool,
    },
    /// `show [NS]`
    Show { namespace: Option<String> },
    /// `add NS [TYPE]`
    Add {
        namespace: String,
        ty: Option<String>,
        flags: ChangeFlags,
        expect: Option<String>,
    },
    /// `remove NS [TYPE]`
    Remove {
        namespace: String,
        ty: Option<String>,
        flags: ChangeFlags,
        expect: Option<String>,
        force: bool,
    },
    /// `logs NS TARGET [--stderr | --both] [-f] [-n LINES]`
    Logs {
        namespace: String,
        target: Option<String>,
        streams: LogStreams,
        follow: bool,
        lines: usize,
    },
    /// `scale NS [TYPE] --replicas N`
    Scale {
        namespace: String,
        ty: Option<String>,
        replicas: usize,
        flags: ChangeFlags,
        force: bool,
    },
}

/// The subcommands as clap parses them: their own arguments and the flag groups they use.
///
/// `defer`: each subcommand's arguments are built only when that subcommand is parsed (or
/// its help shown), not at every start: `dynamo-ctl add NS TYPE` builds one subcommand's
/// ~20 arguments instead of every subcommand's ~150 (a third of a short run's start-up
/// instructions; scripts/measure-startup.sh). Whoever inspects the tree (completions, the
/// man page) calls `Command::build` first.
///
/// A flattened group's own doc comment would be applied when the deferred subcommand is
/// built, over the subcommand's description: the groups are described in `//` comments.
#[derive(Debug, Clone, Subcommand)]
#[command(defer = true)]
pub enum Sub {
    /// Print the shell completion script (namespace and type names come from the state
    /// directory as you type): e.g. `source <(dynamo-ctl completions bash)`
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the man page (roff): `dynamo-ctl man > dynamo-ctl.1; man ./dynamo-ctl.1`
    Man,
    /// Live instances from Dynamo's discovery (etcd, file store), optionally of one namespace
    Instances {
        /// Only this namespace (or -n NS)
        #[arg(id = "ns_positional", value_name = "NS")]
        namespace: Option<String>,
        #[command(flatten)]
        ns: NsArg,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        discovery: DiscoveryArgs,
    },
    /// List namespaces with instance counts per type and their status
    List {
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        discovery: DiscoveryArgs,
    },
    /// Load per component and instance (requests/s, in-flight, p50/p95, errors/s, KV cache),
    /// the frontend's TTFT/ITL, from Prometheus (--prometheus) or direct scrapes (--metrics)
    Top {
        /// Only this namespace (or -n NS)
        #[arg(id = "ns_positional", value_name = "NS")]
        namespace: Option<String>,
        /// Seconds the rates are measured over: the time between two scrapes, or
        /// Prometheus' rate() window
        #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_window)]
        window: f64,
        /// Repeat every --window seconds until Ctrl-C (with -o json: one JSON document per line)
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        ns: NsArg,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        metrics: MetricsArgs,
    },
    /// Show one namespace: components grouped by type, watchers, GPUs, free GPUs
    Show {
        /// Namespace (the state file's name without .json); or give it with -n
        #[arg(id = "ns_positional", value_name = "NS")]
        namespace: Option<String>,
        #[command(flatten)]
        ns: NsArg,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        arbiter: ArbiterArgs,
        #[command(flatten)]
        discovery: DiscoveryArgs,
    },
    /// Add one instance of a component type: the entry, and its process via the arbiter
    Add {
        /// Namespace, then TYPE; with -n NS, just TYPE
        #[arg(id = "ns_positional", value_name = "NS")]
        namespace: String,
        /// Component type, e.g. VllmWorker or PrefillWorker
        #[arg(value_name = "TYPE")]
        ty: Option<String>,
        #[command(flatten)]
        flags: ChangeFlags,
        /// Add only if the new entry is NAME (else nothing is done)
        #[arg(long, value_name = "NAME")]
        expect: Option<String>,
        #[command(flatten)]
        groups: ChangeGroups,
        #[command(flatten)]
        discovery: DiscoveryArgs,
    },
    /// Stop and remove the highest-numbered running instance of a component type
    Remove {
        /// Namespace, then TYPE; with -n NS, just TYPE
        #[arg(id = "ns_positional", value_name = "NS")]
        namespace: String,
        #[arg(value_name = "TYPE")]
        ty: Option<String>,
        #[command(flatten)]
        flags: ChangeFlags,
        /// Remove only if the target is NAME (else nothing is done)
        #[arg(long, value_name = "NAME")]
        expect: Option<String>,
        /// Send SIGKILL when the worker is still running after --stop-timeout
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        groups: ChangeGroups,
        #[command(flatten)]
        discovery: DiscoveryArgs,
    },
    /// Print a worker's log: the files circus writes its output to (the arbiter says
    /// where), the last lines, then with -f the new ones as they come
    Logs {
        /// Namespace, then TARGET; with -n NS before `logs`, just TARGET
        #[arg(id = "ns_positional", value_name = "NS")]
        namespace: String,
        /// A watcher (e.g. dynamo_VllmWorker_1), or a type: all its watchers, each line
        /// prefixed with its watcher
        #[arg(id = "ty", value_name = "TARGET")]
        target: Option<String>,
        /// Print stderr (error.log) instead of stdout (output.log)
        #[arg(long, conflicts_with = "both")]
        stderr: bool,
        /// Print both streams, each line marked with its stream
        #[arg(long)]
        both: bool,
        /// Keep printing new lines as they are written (rotation followed), until Ctrl-C
        #[arg(long, short = 'f')]
        follow: bool,
        /// How many of the last lines to print first (of each file)
        #[arg(long, short = 'n', value_name = "LINES", default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
        lines: u32,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        arbiter: ArbiterArgs,
    },
    /// Add or remove instances until N run, one at a time, stopping at the first failure
    Scale {
        /// Namespace, then TYPE; with -n NS, just TYPE
        #[arg(id = "ns_positional", value_name = "NS")]
        namespace: String,
        #[arg(value_name = "TYPE")]
        ty: Option<String>,
        /// Number of running instances wanted
        #[arg(long, value_name = "N")]
        replicas: usize,
        #[command(flatten)]
        flags: ChangeFlags,
        /// Send SIGKILL to workers still running after --stop-timeout
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        groups: ChangeGroups,
    },
}

/// Which of a watcher's streams `logs` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStreams {
    Stdout,
    Stderr,
    Both,
}

impl LogStreams {
    pub fn streams(self) -> &'static [crate::logs::Stream] {
        use crate::logs::Stream::{Stderr, Stdout};
        match self {
            LogStreams::Stdout => &[Stdout],
            LogStreams::Stderr => &[Stderr],
            LogStreams::Both => &[Stdout, Stderr],
        }
    }
}

// The groups every change (add, remove, scale) takes.
#[derive(Debug, Clone, ClapArgs)]
pub struct ChangeGroups {
    #[command(flatten)]
    pub ns: NsArg,
    #[command(flatten)]
    pub output: OutputArg,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub arbiter: ArbiterArgs,
    #[command(flatten)]
    pub change: ChangeTimeouts,
}

mod merge;
pub use merge::{parse, try_parse_from};

#[cfg(test)]
mod tests;
