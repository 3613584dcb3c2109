//! Command-line arguments, shared by the scripting CLI and the TUI.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

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
    /// With --demo: keep the demo directory after exit (it is removed otherwise)
    #[arg(long, global = true)]
    pub keep: bool,
    /// Seconds to wait for the state file's lock (held by the planner or another dynamo-ctl)
    #[arg(long, global = true, value_name = "SECS", default_value_t = 10.0, value_parser = parse_secs)]
    pub lock_timeout: f64,
    /// Change only the state file: start and stop no process, even when the arbiter answers
    #[arg(long, global = true)]
    pub state_only: bool,
    /// Seconds to wait for each answer from the circus arbiter
    #[arg(long, global = true, value_name = "SECS", default_value_t = 5.0, value_parser = parse_secs)]
    pub arbiter_timeout: f64,
    /// Seconds to wait for a new worker's process to run (and, when discovery is followed, for a change to register)
    #[arg(long, global = true, value_name = "SECS", default_value_t = 120.0, value_parser = parse_secs)]
    pub start_timeout: f64,
    /// Seconds a worker may take to exit after SIGTERM (the planner waits 600)
    #[arg(long, global = true, value_name = "SECS", default_value_t = 600.0, value_parser = parse_secs)]
    pub stop_timeout: f64,
    /// Output format for data on stdout
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// The namespace: the TUI opens it directly; subcommands take it instead of NS
    /// (`dynamo-ctl -n dynamo show`, `dynamo-ctl -n dynamo add VllmWorker`)
    #[arg(long, short = 'n', global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// TUI: view only; the add/remove keys are gone
    #[arg(long)]
    pub readonly: bool,
    // Discovery (src/discovery/): live instances from etcd and the file store.
    /// etcd endpoints of Dynamo's discovery, comma-separated [default: $ETCD_ENDPOINTS, else http://localhost:2379 when it answers]
    #[arg(long, global = true, value_name = "URLS")]
    pub etcd_endpoints: Option<String>,
    /// Root of Dynamo's file store [default: $DYN_FILE_KV, else $TMPDIR/dynamo_store_kv when it exists]
    #[arg(long, global = true, value_name = "DIR")]
    pub file_kv: Option<PathBuf>,
    /// Read no discovery source (etcd, file store)
    #[arg(long, global = true)]
    pub no_discovery: bool,
    /// Seconds to wait for each discovery source
    #[arg(long, global = true, value_name = "SECS", default_value_t = 2.0, value_parser = parse_secs)]
    pub discovery_timeout: f64,
    // Metrics (src/metrics/): Prometheus, direct scrape, NATS.
    /// Prometheus server to ask for load numbers (PromQL over its HTTP API; plain http)
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "DYNAMO_CTL_PROMETHEUS",
        hide_env_values = true
    )]
    pub prometheus: Option<String>,
    /// Scrape this /metrics directly (a worker's system status server, DYN_SYSTEM_PORT, or a frontend); repeatable
    #[arg(long = "metrics", global = true, value_name = "URL", action = clap::ArgAction::Append)]
    pub metrics: Vec<String>,
    /// NATS server for the prefill queue depth (nats://host:port) [default: $NATS_SERVER]
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "NATS_SERVER",
        hide_env_values = true
    )]
    pub nats: Option<String>,
    /// TUI: seconds between polls of the arbiter and the metrics sources while a namespace is
    /// open (at least 0.5) [default: the config's refresh, else 2]
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_window)]
    pub refresh: Option<f64>,
    /// Seconds to wait for each metrics call (Prometheus query, scrape, health)
    #[arg(long, global = true, value_name = "SECS", default_value_t = 2.0, value_parser = parse_secs)]
    pub metrics_timeout: f64,
    /// Also print malformed discovery entries (on stderr)
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
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

/// Flags shared by add, remove and scale.
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

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
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
    },
    /// List namespaces with instance counts per type and their status
    List,
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
    },
    /// Show one namespace: components grouped by type, watchers, GPUs, free GPUs
    Show {
        /// Namespace (the state file's name without .json); or give it with -n
        #[arg(id = "ns_positional", value_name = "NS")]
        namespace: Option<String>,
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
    },
}
