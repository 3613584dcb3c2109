//! The planner's scaling rules as pure functions on the model, with its known flaws fixed:
//! GPU ids compared as numbers, multi-GPU templates honoured, no environment dump, and
//! POSIX-safe quoting. The read model (`summary`), `Change` (`change`) and the worker command
//! format (`command`) live in their own modules and are re-exported here, where callers have
//! always found them.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::command::{base_command, cuda_devices_in_cmd, worker_command, worker_env_is_object};
use super::error::RuleError;
use super::model::{Component, GpuId, Resources, State};
use super::summary::split_entry;

pub use super::change::{Change, gpu_phrase};
pub use super::command::shell_quote;
pub use super::summary::{
    EntryName, GpuSlot, Instance, Summary, TypeSummary, brief, free_gpus, parse_entry, summarize,
};

/// Types that need a GPU even when their template holds none (the planner's two workers).
pub const GPU_TYPES: [&str; 2] = ["VllmWorker", "PrefillWorker"];

/// The most instances of one type `scale` aims for; a larger target is refused up front
/// (a GPU type is refused sooner, by the GPUs the file lists).
pub const MAX_REPLICAS: usize = 100_000;

fn entries_of<'a>(state: &'a State, ty: &'a str) -> impl Iterator<Item = (&'a String, EntryName)> {
    state
        .components
        .keys()
        .filter(move |k| split_entry(&state.namespace, k).0 == ty)
        .map(|k| (k, parse_entry(&state.namespace, k)))
}

fn unknown_type(state: &State, ty: &str) -> RuleError {
    let mut known: Vec<String> = Vec::new();
    for k in state.components.keys() {
        let t = parse_entry(&state.namespace, k).ty;
        if !known.contains(&t) {
            known.push(t);
        }
    }
    // "vllmworker", "VLLMWORKER", "vllm": the type meant, when one stands out.
    let lower = ty.to_lowercase();
    let suggestion = known
        .iter()
        .find(|k| k.to_lowercase() == lower)
        .or_else(|| {
            let starts: Vec<&String> = known
                .iter()
                .filter(|k| !lower.is_empty() && k.to_lowercase().starts_with(&lower))
                .collect();
            (starts.len() == 1).then(|| starts[0])
        })
        .cloned();
    RuleError::UnknownType {
        ty: ty.to_string(),
        namespace: state.namespace.clone(),
        suggestion,
        known: if known.is_empty() {
            "none".into()
        } else {
            known.join(", ")
        },
    }
}

pub fn check_type(ty: &str) -> Result<(), RuleError> {
    let reason = if ty.is_empty() {
        "it is empty"
    } else if !ty
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        "use letters, digits, '_' and '-' only"
    } else {
        return Ok(());
    };
    Err(RuleError::BadType {
        ty: ty.to_string(),
        reason,
    })
}

/// The entries of a valid, existing type, or why there are none.
fn entries_checked(state: &State, ty: &str) -> Result<Vec<(String, EntryName)>, RuleError> {
    check_type(ty)?;
    let entries: Vec<(String, EntryName)> =
        entries_of(state, ty).map(|(k, e)| (k.clone(), e)).collect();
    if entries.is_empty() {
        return Err(unknown_type(state, ty));
    }
    Ok(entries)
}

/// What adding an instance of a type takes, worked out once (`scale` adds many).
struct AddPlan {
    /// The template's command up to `--worker-env`.
    base_cmd: String,
    env_as_object: bool,
    /// GPUs per instance.
    need: usize,
    /// The next suffix; `None` when the largest one is taken.
    next: Option<u64>,
}

fn plan_add(
    state: &State,
    ty: &str,
    entries: &[(String, EntryName)],
) -> Result<AddPlan, RuleError> {
    // The template: the base entry, else the lowest-numbered one (older layout).
    let template_key = entries
        .iter()
        .min_by_key(|(_, e)| e.suffix)
        .map(|(k, _)| k.clone())
        .unwrap();
    let template = &state.components[&template_key];
    let max_suffix = entries.iter().filter_map(|(_, e)| e.suffix).max();
    let next = match max_suffix {
        None => Some(1),
        Some(m) => m.checked_add(1),
    };

    // GPUs: as many as the template holds; else as many as a running instance holds; at
    // least one for the planner's two GPU worker types.
    let mut need = template.gpus().len();
    if need == 0 {
        need = entries
            .iter()
            .rev()
            .map(|(k, _)| state.components[k].gpus().len())
            .find(|n| *n > 0)
            .unwrap_or(0);
    }
    if need == 0 {
        need = cuda_devices_in_cmd(&template.cmd)
            .or_else(|| configured_gpus(state, ty))
            .unwrap_or(0);
    }
    if need == 0 && GPU_TYPES.contains(&ty) {
        need = 1;
    }
    Ok(AddPlan {
        // The command: the template's command up to `--worker-env`, then our env and name.
        base_cmd: base_command(&template.cmd).to_string(),
        env_as_object: worker_env_is_object(&template.cmd),
        need,
        next,
    })
}

/// The number of distinct GPUs the file lists; an error if it lists none at all.
fn gpu_total(state: &State, ty: &str) -> Result<usize, RuleError> {
    match state.gpu_info() {
        Some(info) => Ok(info.iter().map(GpuId::key).collect::<HashSet<_>>().len()),
        None => Err(RuleError::NoGpuInfo { ty: ty.to_string() }),
    }
}

/// Adds one instance of `ty`, as the planner's `add_component` does.
pub fn add(state: &mut State, ty: &str) -> Result<Change, RuleError> {
    let entries = entries_checked(state, ty)?;
    let mut plan = plan_add(state, ty, &entries)?;
    let need = plan.need;
    let gpus: Vec<GpuId> = if need > 0 {
        let total = gpu_total(state, ty)?;
        let free = free_gpus(state);
        if free.len() < need {
            return Err(RuleError::NotEnoughGpus {
                ty: ty.to_string(),
                need,
                free: free.len(),
                total,
            });
        }
        free.into_iter().take(need).collect()
    } else {
        vec![]
    };
    insert_instance(state, ty, &mut plan, gpus)
}

/// Inserts the next instance of `ty` on `gpus`.
fn insert_instance(
    state: &mut State,
    ty: &str,
    plan: &mut AddPlan,
    gpus: Vec<GpuId>,
) -> Result<Change, RuleError> {
    let next = plan
        .next
        .ok_or_else(|| RuleError::SuffixExhausted { ty: ty.to_string() })?;
    plan.next = next.checked_add(1);
    let name = format!("{}_{}_{}", state.namespace, ty, next);
    let ids: Vec<String> = gpus.iter().map(|g| g.to_string()).collect();
    let env = worker_env(state, &ids);
    let cmd = worker_command(&plan.base_cmd, env, plan.env_as_object, &name);
    let resources = Resources {
        allocated_gpus: Some(gpus.clone()),
        extra: Default::default(),
    };
    state.components.insert(
        name.clone(),
        Component {
            watcher_name: name.clone(),
            cmd,
            resources: Some(resources),
            lease: None,
            extra: Default::default(),
        },
    );
    Ok(Change::Added {
        ty: ty.to_string(),
        name,
        gpus: gpus.iter().map(|g| g.to_string()).collect(),
    })
}

/// The environment a new worker gets: `CUDA_VISIBLE_DEVICES` for its GPUs and the
/// deployment's `DYNAMO_SERVICE_CONFIG`, nothing else (never the caller's environment). It
/// goes into the entry's `--worker-env` and, as the watcher's `env`, to the arbiter.
///
/// CUDA gets each id's plain number ("05", " 5" and 5 are GPU 5); the entry keeps
/// gpu_info's spelling (the planner compares spellings).
pub fn worker_env(state: &State, gpus: &[String]) -> Map<String, Value> {
    let mut env = Map::new();
    if !gpus.is_empty() {
        let ids: Vec<String> = gpus.iter().map(|g| GpuId::Str(g.clone()).key()).collect();
        env.insert("CUDA_VISIBLE_DEVICES".into(), Value::String(ids.join(",")));
    }
    if let Some(cfg) = state.service_config() {
        env.insert(
            "DYNAMO_SERVICE_CONFIG".into(),
            Value::String(cfg.to_string()),
        );
    }
    env
}

/// Whether `ty` is a worker (what scaling is for): the planner's two worker types, or any
/// type one of whose entries holds or asks for GPUs. Frontend, Processor, Planner and other
/// infrastructure are not: a second Frontend fights the first for its port.
pub fn is_worker_type(state: &State, ty: &str) -> bool {
    if GPU_TYPES.contains(&ty) {
        return true;
    }
    let mut any = false;
    for (k, _) in entries_of(state, ty) {
        any = true;
        let c = &state.components[k];
        if !c.gpus().is_empty() || cuda_devices_in_cmd(&c.cmd).is_some() {
            return true;
        }
    }
    any && configured_gpus(state, ty).is_some()
}

/// `<Type>.ServiceArgs.resources.gpu` from `DYNAMO_SERVICE_CONFIG`, if set.
fn configured_gpus(state: &State, ty: &str) -> Option<usize> {
    let cfg: Value = serde_json::from_str(state.service_config()?).ok()?;
    let gpu = cfg
        .get(ty)?
        .get("ServiceArgs")?
        .get("resources")?
        .get("gpu")?;
    let n = match gpu {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    usize::try_from(n).ok().filter(|n| *n > 0)
}

/// Removes the highest-suffix running instance of `ty`, as the planner's `remove_component`
/// does: a numbered entry is deleted; the base entry (or the type's last entry, in the older
/// layout without a base) is parked so it stays the template.
pub fn remove(state: &mut State, ty: &str) -> Result<Change, RuleError> {
    let entries = entries_checked(state, ty)?;
    let key = entries
        .iter()
        .filter(|(k, _)| !state.components[k].is_parked())
        .max_by_key(|(_, e)| e.suffix)
        .map(|(k, _)| k.clone())
        .ok_or_else(|| RuleError::NothingRunning { ty: ty.to_string() })?;
    remove_entry(state, &key)
}

/// Removes one named entry by the planner's rules: a numbered entry is deleted; the base
/// entry (or a type's only entry, in the older layout) is parked so it stays the template.
/// Used once a specific worker has been stopped, whatever the highest suffix is now.
pub fn remove_entry(state: &mut State, key: &str) -> Result<Change, RuleError> {
    let Some(comp) = state.components.get(key) else {
        return Err(RuleError::NoSuchEntry {
            name: key.to_string(),
        });
    };
    if comp.is_parked() {
        return Err(RuleError::NoSuchEntry {
            name: key.to_string(),
        });
    }
    let ty = parse_entry(&state.namespace, key);
    let entries: Vec<(String, EntryName)> = entries_of(state, &ty.ty)
        .map(|(k, e)| (k.clone(), e))
        .collect();
    let running_before = entries
        .iter()
        .filter(|(k, _)| !state.components[k].is_parked())
        .count();
    let park = ty.suffix.is_none() || entries.len() == 1;
    let gpus: Vec<String> = comp.gpus().iter().map(|g| g.to_string()).collect();
    if park {
        let c = state.components.get_mut(key).unwrap();
        c.resources = Some(Resources::default());
        c.lease = Some(None);
    } else {
        state.components.shift_remove(key);
    }
    Ok(Change::Removed {
        ty: ty.ty,
        name: key.to_string(),
        gpus,
        parked: park,
        remaining: running_before - 1,
    })
}

/// Adds or removes instances until `replicas` run.
pub fn scale(state: &mut State, ty: &str, replicas: usize) -> Result<Vec<Change>, RuleError> {
    // The same changes as repeated `add` or `remove`, in time linear in the file's size
    // plus the number of changes; an unreachable target changes nothing.
    check_scale(state, ty, replicas)?;
    let entries = entries_checked(state, ty)?;
    let mut running: Vec<(String, Option<u64>)> = entries
        .iter()
        .filter(|(k, _)| !state.components[k].is_parked())
        .map(|(k, e)| (k.clone(), e.suffix))
        .collect();
    let mut changes = Vec::new();
    if replicas > running.len() {
        let mut plan = plan_add(state, ty, &entries)?;
        let mut free = free_gpus(state).into_iter();
        for _ in running.len()..replicas {
            let gpus: Vec<GpuId> = free.by_ref().take(plan.need).collect();
            changes.push(insert_instance(state, ty, &mut plan, gpus)?);
        }
    } else if replicas < running.len() {
        // Highest suffix first, the base entry last, as `remove` picks them.
        running.sort_by_key(|(_, suffix)| std::cmp::Reverse(*suffix));
        let mut left = running.len();
        let mut entries_left = entries.len();
        let mut deleted = HashSet::new();
        for (key, suffix) in running.into_iter().take(left - replicas) {
            let park = suffix.is_none() || entries_left == 1;
            let gpus: Vec<String> = state.components[&key]
                .gpus()
                .iter()
                .map(|g| g.to_string())
                .collect();
            if park {
                let c = state.components.get_mut(&key).unwrap();
                c.resources = Some(Resources::default());
                c.lease = Some(None);
            } else {
                deleted.insert(key.clone());
                entries_left -= 1;
            }
            left -= 1;
            changes.push(Change::Removed {
                ty: ty.to_string(),
                name: key,
                gpus,
                parked: park,
                remaining: left,
            });
        }
        state.components.remove_all(&deleted);
    }
    Ok(changes)
}

/// Refuses a `scale` target that cannot be reached, before anything changes: above
/// [`MAX_REPLICAS`], or more new instances than the free GPUs allow. Cheap enough to run
/// on an unlocked read before taking the lock.
pub fn check_scale(state: &State, ty: &str, replicas: usize) -> Result<(), RuleError> {
    if replicas > MAX_REPLICAS {
        return Err(RuleError::TooManyReplicas {
            ty: ty.to_string(),
            replicas,
        });
    }
    let entries = entries_checked(state, ty)?;
    let running = entries
        .iter()
        .filter(|(k, _)| !state.components[k].is_parked())
        .count();
    if replicas > running {
        let plan = plan_add(state, ty, &entries)?;
        if plan.need > 0 {
            let total = gpu_total(state, ty)?;
            let free = free_gpus(state).len();
            let instances = replicas - running;
            let need = instances.saturating_mul(plan.need);
            if need > free {
                return Err(RuleError::NotEnoughGpusFor {
                    ty: ty.to_string(),
                    instances,
                    need,
                    free,
                    total,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Document;

    fn doc(components: &str, gpu_info: &str) -> Document {
        Document::parse(&format!(
            r#"{{"namespace": "n", "components": {{{components}}}, "environment": {{"SYSTEM_RESOURCES": {{"gpu_info": [{gpu_info}]}}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_largest_suffix_is_refused_not_wrapped() {
        let mut d = doc(
            r#""n_W": {"watcher_name": "n_W", "cmd": "w"}, "n_W_18446744073709551615": {"watcher_name": "n_W_18446744073709551615", "cmd": "w"}"#,
            "",
        );
        let before = d.render().unwrap();
        let e = add(&mut d.state, "W").unwrap_err();
        assert!(e.to_string().contains("no suffix left"), "{e}");
        assert_eq!(d.render().unwrap(), before);
    }

    #[test]
    fn an_id_listed_twice_is_one_gpu() {
        let mut d = doc(
            r#""n_VllmWorker": {"watcher_name": "n_VllmWorker", "cmd": "w", "resources": {"allocated_gpus": [0, 1]}}"#,
            r#""0", "1", "2", "2", 2, "3""#,
        );
        assert_eq!(free_gpus(&d.state).len(), 2);
        let c = add(&mut d.state, "VllmWorker").unwrap();
        assert_eq!(c.to_string(), "added n_VllmWorker_1 on GPUs 2, 3");
        let e = add(&mut d.state, "VllmWorker").unwrap_err();
        assert_eq!(
            e.to_string(),
            "VllmWorker needs 2 GPU(s) but only 0 of 4 are free"
        );
    }
}
