//! Shell completions and the man page, both generated from the clap definitions.
//!
//! `dynamo-ctl completions bash|zsh|fish` prints a short registration script. The script
//! holds no grammar: at each Tab the shell runs `dynamo-ctl` again with
//! `DYNAMO_CTL_COMPLETE=<shell>` set, and [`complete_from_env`] answers from the installed
//! binary's own definitions, with namespace and type names read from the state directory
//! (`--state-dir` on the line being completed, else `$DYN_LOCAL_STATE_DIR`, else the
//! config's `state_dir`, else `~/.dynamo/state`). `dynamo-ctl man` prints the man page
//! (roff).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};

use crate::args::Cli;
use crate::state::Store;
use crate::state::scale::summarize;

/// The variable that asks for completions (not clap's default `COMPLETE`, which other
/// programs' users may have set for something else).
pub const VAR: &str = "DYNAMO_CTL_COMPLETE";
const BIN: &str = "dynamo-ctl";

/// The whole command with value completers on namespace and type arguments.
pub fn command() -> clap::Command {
    let ns = ArgValueCandidates::new(namespace_candidates);
    let ty = ArgValueCandidates::new(type_candidates);
    Cli::command()
        .mut_arg("namespace", |a| a.add(ns.clone()))
        .mut_subcommands(|sc| {
            let sc = if sc.get_arguments().any(|a| a.get_id() == "ns_positional") {
                sc.mut_arg("ns_positional", |a| a.add(ns.clone()))
            } else {
                sc
            };
            if sc.get_arguments().any(|a| a.get_id() == "ty") {
                sc.mut_arg("ty", |a| a.add(ty.clone()))
            } else {
                sc
            }
        })
}

/// Answers a completion request when the shell asked for one (and exits); returns at once
/// otherwise.
pub fn complete_from_env() {
    clap_complete::CompleteEnv::with_factory(command)
        .var(VAR)
        .bin(BIN)
        .complete();
}

/// The registration script for `shell` (what `dynamo-ctl completions SHELL` prints).
pub fn registration(shell: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let shells = clap_complete::env::Shells::builtins();
    let Some(sh) = shells.completer(shell) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("unknown shell {shell:?} (bash, zsh, fish, elvish, powershell)"),
        ));
    };
    sh.write_registration(VAR, BIN, BIN, BIN, out)
}

/// The man page, roff.
pub fn man(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// The value after `--state-dir` on the line being completed (`--state-dir X` or
/// `--state-dir=X`), if any.
fn state_dir_on_line(words: &[OsString]) -> Option<PathBuf> {
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let w = w.to_string_lossy();
        if w == "--state-dir" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = w.strip_prefix("--state-dir=") {
            return Some(PathBuf::from(v));
        }
    }
    None
}

fn store() -> Store {
    let words: Vec<OsString> = std::env::args_os().collect();
    let cfg = crate::config::path()
        .and_then(|p| crate::config::Config::load(&p).ok())
        .unwrap_or_default();
    Store::new(crate::resolve_state_dir(state_dir_on_line(&words), &cfg))
}

fn namespace_candidates() -> Vec<CompletionCandidate> {
    store()
        .names()
        .unwrap_or_default()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// The component types of every readable state file (a broken one is skipped).
fn type_candidates() -> Vec<CompletionCandidate> {
    let store = store();
    let mut types = std::collections::BTreeSet::new();
    for name in store.names().unwrap_or_default() {
        if let Ok(doc) = store.load(&name) {
            types.extend(summarize(&doc.state).types.into_iter().map(|t| t.ty));
        }
    }
    types.into_iter().map(CompletionCandidate::new).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_is_read_off_the_line() {
        let w = |s: &[&str]| s.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            state_dir_on_line(&w(&[
                "dynamo-ctl",
                "--",
                "dynamo-ctl",
                "--state-dir",
                "/x",
                "show"
            ])),
            Some(PathBuf::from("/x"))
        );
        assert_eq!(
            state_dir_on_line(&w(&["dynamo-ctl", "--state-dir=/y"])),
            Some(PathBuf::from("/y"))
        );
        assert_eq!(state_dir_on_line(&w(&["dynamo-ctl", "show"])), None);
    }

    #[test]
    fn every_namespace_and_type_argument_has_a_completer() {
        let cmd = command();
        for sc in cmd.get_subcommands() {
            for a in sc.get_arguments() {
                if a.get_id() == "ns_positional" || a.get_id() == "ty" {
                    assert!(
                        a.get::<ArgValueCandidates>().is_some(),
                        "{} {}",
                        sc.get_name(),
                        a.get_id()
                    );
                }
            }
        }
    }
}
