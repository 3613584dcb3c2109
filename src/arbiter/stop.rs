//! Stopping a watcher's processes before `rm`: SIGTERM (or SIGKILL), then wait until none
//! is alive.

use std::time::Duration;

use super::client::{ArbiterError, Client};
use super::ops::{Kill, OpError, Options, Progress, pids, poll_until};

/// SIGTERM (or SIGKILL), then wait until none of the watcher's processes is alive.
///
/// "Alive" is circus's `list NAME` (processes not dead or zombie), not `numprocesses`, which
/// counts a process until circus reaps it on its next periodic check (seconds later). A
/// watcher that respawns (the base watchers `dynamo serve` starts) gets a new pid instead:
/// that ends the wait too, and `rm` then stops it for good.
pub(super) fn stop(
    client: &mut Client,
    name: &str,
    opts: &Options,
    before: &[u32],
    progress: Progress<'_>,
) -> Result<(), OpError> {
    let step_err = |what: &str, e: ArbiterError| {
        OpError::Step(format!(
            "{what} {name} failed: {e}; nothing was removed from the state file"
        ))
    };
    if before.is_empty() {
        return Ok(());
    }
    let mut respawned = false;
    let mut known = before.to_vec();
    known.sort_unstable();
    let mut gone = |client: &mut Client, t: Duration| {
        poll_until(t, || {
            let now = client.pids(name)?;
            if now.iter().any(|p| known.binary_search(p).is_err()) {
                respawned = true;
            }
            Ok((now.is_empty() || respawned).then_some(()))
        })
    };
    let kill_now = opts.kill == Kill::Now;
    let first = if kill_now { "SIGKILL" } else { "SIGTERM" };
    progress(&format!("stopping {name} ({}, {first}) …", pids(before)));
    client
        .signal(name, first)
        .map_err(|e| step_err(&format!("sending {first} to"), e))?;
    let wait = if kill_now {
        KILL_WAIT
    } else {
        opts.stop_timeout
    };
    let outcome = gone(client, wait).map_err(|e| step_err("waiting for", e))?;
    match outcome {
        Some(()) => {}
        None if opts.kill == Kill::AfterTimeout && !kill_now => {
            progress(&format!("{name} ignored SIGTERM; sending SIGKILL …"));
            client
                .signal(name, "SIGKILL")
                .map_err(|e| step_err("sending SIGKILL to", e))?;
            if gone(client, KILL_WAIT)
                .map_err(|e| step_err("waiting for", e))?
                .is_none()
            {
                return Err(OpError::StopTimeout {
                    name: name.to_string(),
                    secs: KILL_WAIT.as_secs(),
                    hint: " (even after SIGKILL)",
                });
            }
        }
        None => {
            return Err(OpError::StopTimeout {
                name: name.to_string(),
                secs: wait.as_secs(),
                hint: if kill_now {
                    " (even after SIGKILL)"
                } else {
                    "; --force (or confirming the kill in the TUI) sends SIGKILL"
                },
            });
        }
    }
    if respawned {
        progress(&format!(
            "{name} was respawned by circus; its watcher is removed with circus rm"
        ));
    }
    Ok(())
}

/// How long a SIGKILLed process may take to be gone.
const KILL_WAIT: Duration = Duration::from_secs(30);
