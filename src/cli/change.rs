//! `dynamo-ctl add`, `remove`, `scale`: the file under its lock, the processes through
//! the arbiter (unless `--state-only`), then discovery followed until it agrees.

use super::*;

pub(super) enum ChangeOp {
    Add { expect: Option<String> },
    Remove { expect: Option<String>, force: bool },
    Scale { replicas: usize, force: bool },
}

/// add / remove / scale: the file, and the processes through the arbiter unless
/// `--state-only` or `--demo`. Returns the exit code.
pub(super) fn change(
    g: &Global,
    store: &Store,
    ns: &str,
    ty: &str,
    flags: &ChangeFlags,
    op: ChangeOp,
) -> i32 {
    if flags.dry_run {
        return match dry_run(g, store, ns, ty, &op) {
            Ok(()) => 0,
            Err(e) => fail(&e),
        };
    }
    // Read once (no lock) for the endpoint and the type check; every change re-reads under
    // the lock.
    let doc = match store.load(ns) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    if let Err(e) = scale::check_type(ty) {
        return fail(&e.into());
    }
    // An impossible target (too many replicas, too few GPUs) fails before any lock.
    if let ChangeOp::Scale { replicas, .. } = op
        && let Err(e) = scale::check_scale(&doc.state, ty, replicas)
    {
        return fail(&e.into());
    }
    let known = doc
        .state
        .components
        .keys()
        .any(|k| scale::parse_entry(&doc.state.namespace, k).ty == ty);
    if known && !flags.allow_infra && !scale::is_worker_type(&doc.state, ty) {
        return error_out(
            &format!(
                "{ty} is not a worker type (it holds no GPUs): another {ty} would run beside the first (a second Frontend fights the first for its port) and removing one takes that service away; pass --allow-infra if that is what you mean"
            ),
            2,
        );
    }
    let mut client = None;
    if g.file_only_reason().is_none() {
        let endpoint = match &doc.state.circus_endpoint {
            Some(e) => e.clone(),
            None => {
                return error_out(
                    &format!(
                        "{} names no circus endpoint, so no process would start or stop; the state file is unchanged (--state-only changes only the file)",
                        store
                            .path_for(ns)
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    ),
                    1,
                );
            }
        };
        match Client::new(&endpoint, g.arbiter_timeout()) {
            Ok(c) => client = Some(c),
            Err(e) => return error_out(&format!("{e}; the state file is unchanged"), 1),
        }
    }
    let mut opts = g.scale_options();
    opts.wait = !flags.no_wait;
    let mut progress = |line: &str| eprintln!("dynamo-ctl: {}", safe(line));
    // With a discovery source on, an add or remove that runs a process is followed until
    // discovery says so (the planner's blocking mode).
    let adding = match &op {
        ChangeOp::Add { .. } => Some(true),
        ChangeOp::Remove { .. } => Some(false),
        ChangeOp::Scale { .. } => None,
    };
    let follow = adding
        .filter(|_| client.is_some() && !flags.no_wait)
        .and_then(|adding| live_before(g, ns, ty).map(|(cfg, n)| (adding, cfg, n)));
    if let ChangeOp::Remove { force: true, .. } | ChangeOp::Scale { force: true, .. } = op {
        opts.kill = Kill::AfterTimeout;
    }
    // The document a file-only add or remove wrote (or found unchanged), under the lock a
    // moment ago: the counts printed after it come from it, not from a third read of the
    // file. A change through the arbiter took seconds: the file is read again after it.
    let mut after = None;
    let keep_after = g.file_only_reason().is_some();
    let mut one = |r: Result<(ops::Step, crate::state::Document), ops::OpError>| match r {
        Ok((step, doc)) => {
            after = keep_after.then_some(doc);
            (vec![step], None)
        }
        Err(e) => (vec![], Some(e)),
    };
    let mode = mode_of(&mut client);
    let (steps, error) = match op {
        ChangeOp::Add { expect } => one(ops::add(
            store,
            ns,
            ty,
            mode,
            &opts,
            &Expect::name(expect),
            &mut progress,
        )),
        ChangeOp::Remove { expect, .. } => one(ops::remove(
            store,
            ns,
            ty,
            None,
            mode,
            &opts,
            &Expect::name(expect),
            &mut progress,
        )),
        ChangeOp::Scale { replicas, .. } => {
            ops::scale(store, ns, ty, replicas, mode, &opts, &mut progress)
        }
    };
    let timed_out = steps.iter().any(|s| s.process == Process::Timeout);
    let mut live_error = None;
    if let Some((adding, cfg, before)) = follow
        && error.is_none()
        && steps.iter().any(|s| {
            s.process
                == if adding {
                    Process::Started
                } else {
                    Process::Stopped
                }
        })
    {
        live_error = follow_discovery(g, &cfg, ns, ty, adding, before, &mut progress);
    }
    let code = match &error {
        Some(ops::OpError::State(se)) => fail_code(se),
        Some(_) => 1,
        None if timed_out || live_error.is_some() => 1,
        None => 0,
    };
    let running = after
        .or_else(|| store.load(ns).ok())
        .map(|d| running_counts(&scale::summarize(&d.state)));
    // Said once, when something changed: no process followed the file.
    if let Some(reason) = g.file_only_reason()
        && !steps.is_empty()
    {
        eprintln!(
            "dynamo-ctl: warning: {reason}: only the state file changed, no process starts or stops"
        );
    }
    if let Some(note) = steps.iter().find_map(|s| s.layout_note.as_deref()) {
        eprintln!("dynamo-ctl: note: {}", safe(note));
    }
    let printed = if g.output == Output::Json {
        print_json(&json!({
            "namespace": ns,
            "dry_run": false,
            "changes": steps,
            "running": running,
            "error": error.as_ref().map(|e| e.to_string()),
            "code": code,
        }))
    } else if steps.is_empty() && error.is_none() {
        out("no change: already at the requested count\n")
    } else {
        let text: String = steps
            .iter()
            .map(|s| format!("{}\n", safe(&s.to_string())))
            .collect();
        out(&text)
    };
    if let Err(e) = printed {
        return fail(&e);
    }
    if let Some(e) = error {
        let done = if steps.is_empty() {
            String::new()
        } else {
            format!("after {} change(s): ", steps.len())
        };
        eprintln!("dynamo-ctl: error: {done}{}", safe(&e.to_string()));
    } else if timed_out {
        eprintln!(
            "dynamo-ctl: error: the new worker did not start within --start-timeout; its watcher and entry stay"
        );
    } else if let Some(e) = &live_error {
        eprintln!("dynamo-ctl: error: {}", safe(e));
    }
    code
}

/// The discovery config and a type's live count before a change, when it is worth
/// following: a source answered, and it was configured explicitly or already knows the
/// namespace (so a machine that merely has a default etcd does not wait for workers that
/// never register there).
fn live_before(g: &Global, ns: &str, ty: &str) -> Option<(discovery::Config, usize)> {
    let cfg = discovery::Config::from_args(g);
    if !cfg.any() {
        return None;
    }
    let snap = discovery::snapshot(&cfg, cfg.timeout);
    let n = snap.live_for_type(ns, ty)?;
    let explicit = cfg.sources().iter().any(|s| s.2);
    (explicit || snap.of_namespace(ns).next().is_some()).then_some((cfg, n))
}

/// Waits (up to --start-timeout) until discovery counts one more (`adding`) or one fewer
/// instance of `ty` than `before`. Returns the error to report, if any.
fn follow_discovery(
    g: &Global,
    cfg: &discovery::Config,
    ns: &str,
    ty: &str,
    adding: bool,
    before: usize,
    progress: &mut dyn FnMut(&str),
) -> Option<String> {
    let endpoint = discovery::planner_endpoint(ty);
    let what = discovery::follow::what(ty);
    progress(&discovery::follow::waiting(adding, &what, before));
    let started = std::time::Instant::now();
    let timeout = std::time::Duration::from_secs_f64(g.start_timeout);
    let outcome = discovery::wait_for_count(
        cfg,
        ns,
        ty,
        endpoint,
        |n| if adding { n > before } else { n < before },
        timeout,
        progress,
    );
    match outcome {
        discovery::WaitOutcome::Reached(n) => {
            progress(&discovery::follow::reached(
                &what,
                n,
                started.elapsed().as_secs_f64(),
                before,
            ));
            None
        }
        discovery::WaitOutcome::TimedOut(last) => Some(format!(
            "{} (--start-timeout)",
            discovery::follow::timed_out(&what, adding, g.start_timeout, before, last)
        )),
        discovery::WaitOutcome::NoSource => None,
    }
}

fn mode_of(client: &mut Option<Client>) -> Mode<'_> {
    match client.as_mut() {
        Some(c) => Mode::Arbiter(c),
        None => Mode::StateOnly,
    }
}

fn running_counts(s: &Summary) -> Value {
    s.types
        .iter()
        .map(|t| (t.ty.clone(), json!(t.running)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `--dry-run`: the changes on a copy, under the lock, nothing written, no process touched.
fn dry_run(g: &Global, store: &Store, ns: &str, ty: &str, op: &ChangeOp) -> Result<(), StateError> {
    if let ChangeOp::Scale { replicas, .. } = op {
        scale::check_scale(&store.load(ns)?.state, ty, *replicas)?;
    }
    let (changes, doc) = store.transact(ns, true, |s| match op {
        ChangeOp::Add { expect } => {
            let c = scale::add(s, ty)?;
            Expect::name(expect.clone()).check(&c)?;
            Ok(vec![c])
        }
        ChangeOp::Remove { expect, .. } => {
            let c = scale::remove(s, ty)?;
            Expect::name(expect.clone()).check(&c)?;
            Ok(vec![c])
        }
        ChangeOp::Scale { replicas, .. } => scale::scale(s, ty, *replicas),
    })?;
    if g.output == Output::Json {
        let changes: Vec<Value> = changes
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
                v["process"] = Value::Null;
                v["pids"] = Value::Null;
                v
            })
            .collect();
        return print_json(&json!({
            "namespace": ns,
            "dry_run": true,
            "changes": changes,
            "running": running_counts(&scale::summarize(&doc.state)),
        }));
    }
    if changes.is_empty() {
        return out("no change: already at the requested count\n");
    }
    let text: String = changes
        .iter()
        .map(|c| format!("dry run: {}\n", safe(&c.to_string())))
        .collect();
    out(&text)?;
    eprintln!(
        "dynamo-ctl: dry run: {} left unchanged, no process started or stopped",
        safe(&store.path_for(ns)?.display().to_string())
    );
    Ok(())
}
