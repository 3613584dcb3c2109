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

/// Subcommands whose NS names a namespace to open or change: only namespaces whose state
/// file reads and parses are offered there (a broken one cannot be opened or changed).
/// `instances` and `top` name a namespace of discovery or metrics, any name will do.
fn opens_the_file(sub: &str) -> bool {
    !matches!(sub, "instances" | "top")
}

/// The whole command with value completers on namespace and type arguments.
pub fn command() -> clap::Command {
    let openable = ArgValueCandidates::new(openable_namespace_candidates);
    let any = ArgValueCandidates::new(namespace_candidates);
    let ty = ArgValueCandidates::new(type_candidates);
    // The subcommands' arguments are deferred (see `args::Sub`): built here, before
    // they are looked up.
    let mut cmd = Cli::command();
    cmd.build();
    // `dynamo-ctl -n NS` opens NS in the TUI.
    cmd.mut_arg("namespace", |a| a.add(openable.clone()))
        .mut_subcommands(|sc| {
            let ns = if opens_the_file(sc.get_name()) {
                openable.clone()
            } else {
                any.clone()
            };
            let mut sc = sc;
            for id in ["ns_positional", "namespace"] {
                if sc.get_arguments().any(|a| a.get_id() == id) {
                    sc = sc.mut_arg(id, |a| a.add(ns.clone()));
                }
            }
            if sc.get_arguments().any(|a| a.get_id() == "ty") {
                sc = sc.mut_arg("ty", |a| a.add(ty.clone()));
            }
            sc
        })
}

/// Answers a completion request when the shell asked for one (and exits); returns at once
/// otherwise, without building the command or reading anything.
pub fn complete_from_env() {
    if std::env::var_os(VAR).is_none() {
        return;
    }
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

/// The man page, roff: one page, `dynamo-ctl(1)`. Each subcommand is a subsection of
/// COMMANDS with its synopsis, description and own options, and names the shared option
/// groups it takes (described once, above); no other page is referred to, as none is
/// installed.
pub fn man(out: &mut dyn Write) -> std::io::Result<()> {
    let cmd = Cli::command().disable_help_subcommand(true);
    let page = clap_mangen::Man::new(cmd.clone());
    page.render_title(out)?;
    page.render_name_section(out)?;
    page.render_synopsis_section(out)?;
    page.render_description_section(out)?;
    page.render_options_section(out)?;
    writeln!(out, ".SH COMMANDS")?;
    let shared: Vec<clap::Id> = cmd.get_arguments().map(|a| a.get_id().clone()).collect();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        // clap names are 'static; the page is printed once per process.
        let full: &'static str = format!("{BIN} {}", sub.get_name()).leak();
        // Its own arguments only; the shared ones are listed by name after them.
        // Built (its deferred arguments added) before they are looked at.
        let mut own = sub
            .clone()
            .name(full)
            .bin_name(full)
            .disable_help_flag(true);
        own.build();
        let built = own.clone();
        let own = own.mut_args(|a| {
            if shared.contains(a.get_id()) {
                a.hide(true)
            } else {
                a
            }
        });
        let sub_page = clap_mangen::Man::new(own);
        writeln!(out, ".SS \"{}\"", roff_escape(full))?;
        let [synopsis, description, options] = [
            render(|w| sub_page.render_synopsis_section(w))?,
            render(|w| sub_page.render_description_section(w))?,
            render(|w| sub_page.render_options_section(w))?,
        ];
        // Each section's own .SH line is dropped: they are parts of this subsection.
        for section in [synopsis, ".PP\n".into(), description, options] {
            for line in section.lines().filter(|l| !l.starts_with(".SH ")) {
                writeln!(out, "{line}")?;
            }
        }
        let (mut flags, mut headings) = (Vec::new(), Vec::new());
        for a in built
            .get_arguments()
            .filter(|a| shared.contains(a.get_id()))
        {
            match a.get_help_heading() {
                Some(h) if !headings.contains(&h) => headings.push(h),
                Some(_) => {}
                None => flags.push(format!(
                    "\\fB\\-\\-{}\\fR",
                    roff_escape(a.get_long().unwrap_or_default())
                )),
            }
        }
        let headings: Vec<String> = headings
            .iter()
            .map(|h| roff_escape(&h.to_uppercase()))
            .collect();
        if !flags.is_empty() || !headings.is_empty() {
            writeln!(out, ".PP")?;
            let mut also = flags.join(", ");
            if !headings.is_empty() {
                if !also.is_empty() {
                    also.push_str(", and ");
                }
                also.push_str(&format!(
                    "the options under {} (above)",
                    headings.join(", ")
                ));
            }
            writeln!(out, "Also takes {also}.")?;
        }
    }
    page.render_extra_section(out)?;
    page.render_version_section(out)
}

fn render(f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<String> {
    let mut buf = Vec::new();
    f(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Text for a roff line: backslashes and hyphens escaped (names and flags only here).
fn roff_escape(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
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

/// Every namespace name in the state directory.
fn namespace_candidates() -> Vec<CompletionCandidate> {
    store()
        .names()
        .unwrap_or_default()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// The namespaces whose state file reads and parses (a broken one, e.g. the demo's
/// `broken`, is left out).
fn openable_namespace_candidates() -> Vec<CompletionCandidate> {
    let store = store();
    store
        .names()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| store.load(n).is_ok())
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
        let mut seen = 0;
        for sc in cmd.get_subcommands() {
            for a in sc.get_arguments() {
                if a.get_id() == "ns_positional" || a.get_id() == "ty" {
                    seen += 1;
                    assert!(
                        a.get::<ArgValueCandidates>().is_some(),
                        "{} {}",
                        sc.get_name(),
                        a.get_id()
                    );
                }
            }
        }
        // The subcommands' arguments are deferred: this checks them built, not absent.
        assert!(seen >= 9, "only {seen} namespace/type arguments");
    }
}
