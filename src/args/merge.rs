//! Reading the arguments: the two levels (before and after the subcommand's name) merged
//! into one [`Global`], a flag given after the name winning.

use super::*;

/// Parses the process's arguments; on a usage error, `--help` or `--version`, prints and
/// exits as clap does (2 for a usage error, 0 otherwise).
pub fn parse() -> (Global, Option<Command>) {
    try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// Parses `args` (the program's name first) into the resolved flags and the command.
pub fn try_parse_from<I, T>(args: I) -> Result<(Global, Option<Command>), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut m = Cli::command().try_get_matches_from(args)?;
    // Which of the subcommand's arguments its own command line gave, noted before the
    // matches are taken apart (`from_arg_matches_mut` moves the values out instead of
    // copying every match).
    let given = Given(
        m.subcommand()
            .map(|(_, sm)| {
                sm.ids()
                    .filter(|id| sm.value_source(id.as_str()) == Some(ValueSource::CommandLine))
                    .map(|id| id.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default(),
    );
    let cli = Cli::from_arg_matches_mut(&mut m)?;
    let mut g = Global {
        state_dir: cli.state.state_dir,
        demo: cli.state.demo,
        keep: cli.state.keep,
        lock_timeout: cli.change.lock_timeout,
        state_only: cli.arbiter.state_only,
        arbiter_timeout: cli.arbiter.arbiter_timeout,
        start_timeout: cli.change.start_timeout,
        stop_timeout: cli.change.stop_timeout,
        output: cli.output.output,
        namespace: cli.ns.namespace,
        readonly: cli.tui.readonly,
        etcd_endpoints: cli.discovery.etcd_endpoints,
        file_kv: cli.discovery.file_kv,
        no_discovery: cli.discovery.no_discovery,
        discovery_timeout: cli.discovery.discovery_timeout,
        prometheus: cli.metrics.prometheus,
        metrics: cli.metrics.metrics,
        nats: cli.metrics.nats,
        refresh: cli.tui.refresh,
        metrics_timeout: cli.metrics.metrics_timeout,
        verbose: cli.discovery.verbose,
    };
    let Some(sub) = cli.command else {
        return Ok((g, None));
    };
    let cmd = sub.merge_into(&given, &mut g);
    Ok((g, Some(cmd)))
}

/// The ids of the arguments the subcommand's own command line gave (not a default, not
/// the environment: those the level before the subcommand's name has too).
struct Given(Vec<String>);

/// Whether the subcommand's own command line gave `id`.
fn given(m: &Given, id: &str) -> bool {
    m.0.iter().any(|g| g == id)
}

/// Copies the fields the subcommand was given on its command line into `g`.
macro_rules! take {
    ($m:expr, $g:expr, $from:expr, $($field:ident),+ $(,)?) => {
        $( if given($m, stringify!($field)) { $g.$field = $from.$field; } )+
    };
}

impl NsArg {
    fn merge_into(self, m: &Given, g: &mut Global) {
        take!(m, g, self, namespace);
    }
}

impl OutputArg {
    fn merge_into(self, m: &Given, g: &mut Global) {
        take!(m, g, self, output);
    }
}

impl StateArgs {
    fn merge_into(self, m: &Given, g: &mut Global) {
        take!(m, g, self, state_dir, demo, keep);
    }
}

impl ArbiterArgs {
    fn merge_into(self, m: &Given, g: &mut Global) {
        take!(m, g, self, state_only, arbiter_timeout);
    }
}

impl ChangeTimeouts {
    fn merge_into(self, m: &Given, g: &mut Global) {
        take!(m, g, self, lock_timeout, start_timeout, stop_timeout);
    }
}

impl DiscoveryArgs {
    fn merge_into(self, m: &Given, g: &mut Global) {
        take!(
            m,
            g,
            self,
            etcd_endpoints,
            file_kv,
            no_discovery,
            discovery_timeout,
            verbose
        );
    }
}

impl MetricsArgs {
    fn merge_into(mut self, m: &Given, g: &mut Global) {
        // --metrics is repeatable: the URLs of both levels.
        if given(m, "metrics") {
            g.metrics.append(&mut self.metrics);
        }
        take!(m, g, self, prometheus, nats, metrics_timeout);
    }
}

impl ChangeGroups {
    fn merge_into(self, m: &Given, g: &mut Global) {
        self.ns.merge_into(m, g);
        self.output.merge_into(m, g);
        self.state.merge_into(m, g);
        self.arbiter.merge_into(m, g);
        self.change.merge_into(m, g);
    }
}

impl Sub {
    /// Merges the subcommand's flags into `g` (given after its name, they win) and returns
    /// the command.
    fn merge_into(self, m: &Given, g: &mut Global) -> Command {
        match self {
            Sub::Completions { shell } => Command::Completions { shell },
            Sub::Man => Command::Man,
            Sub::Instances {
                namespace,
                ns,
                output,
                discovery,
            } => {
                ns.merge_into(m, g);
                output.merge_into(m, g);
                discovery.merge_into(m, g);
                Command::Instances { namespace }
            }
            Sub::List {
                output,
                state,
                discovery,
            } => {
                output.merge_into(m, g);
                state.merge_into(m, g);
                discovery.merge_into(m, g);
                Command::List
            }
            Sub::Top {
                namespace,
                window,
                watch,
                ns,
                output,
                metrics,
            } => {
                ns.merge_into(m, g);
                output.merge_into(m, g);
                metrics.merge_into(m, g);
                Command::Top {
                    namespace,
                    window,
                    watch,
                }
            }
            Sub::Show {
                namespace,
                ns,
                output,
                state,
                arbiter,
                discovery,
            } => {
                ns.merge_into(m, g);
                output.merge_into(m, g);
                state.merge_into(m, g);
                arbiter.merge_into(m, g);
                discovery.merge_into(m, g);
                Command::Show { namespace }
            }
            Sub::Add {
                namespace,
                ty,
                flags,
                expect,
                groups,
                discovery,
            } => {
                groups.merge_into(m, g);
                discovery.merge_into(m, g);
                Command::Add {
                    namespace,
                    ty,
                    flags,
                    expect,
                }
            }
            Sub::Remove {
                namespace,
                ty,
                flags,
                expect,
                force,
                groups,
                discovery,
            } => {
                groups.merge_into(m, g);
                discovery.merge_into(m, g);
                Command::Remove {
                    namespace,
                    ty,
                    flags,
                    expect,
                    force,
                }
            }
            Sub::Logs {
                namespace,
                target,
                stderr,
                both,
                follow,
                lines,
                output,
                state,
                arbiter,
            } => {
                output.merge_into(m, g);
                state.merge_into(m, g);
                arbiter.merge_into(m, g);
                let streams = match (stderr, both) {
                    (_, true) => LogStreams::Both,
                    (true, false) => LogStreams::Stderr,
                    (false, false) => LogStreams::Stdout,
                };
                Command::Logs {
                    namespace,
                    target,
                    streams,
                    follow,
                    lines: lines as usize,
                }
            }
            Sub::Scale {
                namespace,
                ty,
                replicas,
                flags,
                force,
                groups,
            } => {
                groups.merge_into(m, g);
                Command::Scale {
                    namespace,
                    ty,
                    replicas,
                    flags,
                    force,
                }
            }
        }
    }
}
