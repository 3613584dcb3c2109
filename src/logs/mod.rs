//! Worker logs: where circus writes each watcher's output (the arbiter says:
//! [`crate::arbiter::streams`]), and a tail of those files that reads from the end, follows
//! rotation and truncation, and turns every line into text safe for a terminal. No
//! terminal in here: the CLI's `logs` and the TUI's log panel both use it.

pub mod clean;
pub mod follow;
pub mod tail;

use std::path::PathBuf;

use serde::Serialize;

use crate::arbiter::{ArbiterError, Client};
pub use follow::{Batch, Follower, Options, follow};
pub use tail::{Note, Tail};

/// How many lines a viewer keeps by default (config `log_lines`).
pub const DEFAULT_LINES: usize = 10_000;
/// Lines are cut at this many bytes in the TUI (the CLI keeps more).
pub const TUI_LINE_CAP: usize = 4096;
/// Lines are cut at this many bytes by `dynamo-ctl logs`.
pub const CLI_LINE_CAP: usize = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// The file Dynamo gives it under `DYN_CIRCUS_LOG_DIR/<watcher>/`.
    pub fn dynamo_file(self) -> &'static str {
        match self {
            Stream::Stdout => "output.log",
            Stream::Stderr => "error.log",
        }
    }
}

/// One stream of one watcher: its file, or why it has none.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub watcher: String,
    pub stream: Stream,
    pub file: Result<PathBuf, String>,
}

/// Why a watcher's stream has no file to read, and how to give it one.
pub fn no_file(watcher: &str, stream: Stream) -> String {
    format!(
        "{watcher} has no {} log file: circus sends its output to circusd's own stdout (wherever circusd was started, e.g. the terminal of `dynamo serve`); start the deployment with DYN_CIRCUS_LOG_DIR=DIR to give every watcher files (DIR/<watcher>/{} and {})",
        stream.name(),
        Stream::Stdout.dynamo_file(),
        Stream::Stderr.dynamo_file()
    )
}

/// Asks the arbiter where each watcher writes `streams`: one [`Source`] per watcher and
/// stream, in that order. An arbiter that does not answer is an error; a watcher it does
/// not know, or a stream without a file, is a source with the reason.
pub fn resolve(
    client: &mut Client,
    watchers: &[String],
    streams: &[Stream],
) -> Result<Vec<Source>, ArbiterError> {
    let mut out = Vec::new();
    for w in watchers {
        let confs = match client.stream_confs(w) {
            Ok(c) => Ok(c),
            Err(e) if e.is_unreachable() || matches!(e, ArbiterError::Busy { .. }) => {
                return Err(e);
            }
            Err(ArbiterError::Refused { reason, .. }) => Err(format!("circus: {reason}")),
            Err(e) => Err(e.to_string()),
        };
        for &s in streams {
            let file = match &confs {
                Err(e) => Err(e.clone()),
                Ok((o, e)) => match if s == Stream::Stdout { o } else { e } {
                    Ok(Some(c)) => Ok(c.filename.clone()),
                    Ok(None) => Err(no_file(w, s)),
                    Err(why) => Err(format!("{w}'s {}: {why}", s.name())),
                },
            };
            out.push(Source {
                watcher: w.clone(),
                stream: s,
                file,
            });
        }
    }
    Ok(out)
}
