//! The read model: a namespace's components grouped by type, its GPUs and who holds them,
//! and the component key's `<ns>_<Type>_<N>` layout. What the CLI and TUI show; changes
//! nothing.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::model::{GpuId, State};

/// The parts of a component key `<ns>_<Type>` / `<ns>_<Type>_<N>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryName {
    pub ty: String,
    /// `None` for the un-suffixed base entry.
    pub suffix: Option<u64>,
}

/// Splits a component key into its type and numeric suffix.
pub fn parse_entry(namespace: &str, key: &str) -> EntryName {
    let (ty, suffix) = split_entry(namespace, key);
    EntryName {
        ty: ty.to_string(),
        suffix,
    }
}

/// `parse_entry` without allocating: the type as a slice of `key`.
pub(super) fn split_entry<'a>(namespace: &str, key: &'a str) -> (&'a str, Option<u64>) {
    let rest = key
        .strip_prefix(namespace)
        .and_then(|r| r.strip_prefix('_'))
        .filter(|r| !r.is_empty())
        .unwrap_or(key);
    if let Some((ty, n)) = rest.rsplit_once('_')
        && !ty.is_empty()
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = n.parse::<u64>()
    {
        return (ty, Some(n));
    }
    (rest, None)
}

/// One entry of a type, as shown to the user.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Instance {
    pub name: String,
    pub watcher_name: String,
    pub suffix: Option<u64>,
    pub gpus: Vec<String>,
    pub parked: bool,
}

/// All entries of one component type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TypeSummary {
    #[serde(rename = "type")]
    pub ty: String,
    pub running: usize,
    pub instances: Vec<Instance>,
}

/// Who holds a GPU.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GpuSlot {
    pub id: String,
    /// The watcher holding it, if any.
    pub holder: Option<String>,
}

/// What the CLI and TUI show of a namespace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub namespace: String,
    pub circus_endpoint: Option<String>,
    pub types: Vec<TypeSummary>,
    pub gpus_total: usize,
    pub gpus_used: usize,
    pub free_gpus: Vec<String>,
    pub gpu_map: Vec<GpuSlot>,
}

impl Summary {
    pub fn running(&self, ty: &str) -> usize {
        self.types
            .iter()
            .find(|t| t.ty == ty)
            .map_or(0, |t| t.running)
    }
}

/// Groups the components by type, in first-seen order; instances sorted by suffix.
pub fn summarize(state: &State) -> Summary {
    let mut types: Vec<TypeSummary> = Vec::new();
    let mut type_index: HashMap<String, usize> = HashMap::new();
    for (key, comp) in &state.components {
        let e = parse_entry(&state.namespace, key);
        let inst = Instance {
            name: key.clone(),
            watcher_name: comp.watcher_name.clone(),
            suffix: e.suffix,
            gpus: comp.gpus().iter().map(|g| g.to_string()).collect(),
            parked: comp.is_parked(),
        };
        let i = *type_index.entry(e.ty.clone()).or_insert_with(|| {
            types.push(TypeSummary {
                ty: e.ty.clone(),
                running: 0,
                instances: vec![],
            });
            types.len() - 1
        });
        let t = &mut types[i];
        if !inst.parked {
            t.running += 1;
        }
        t.instances.push(inst);
    }
    for t in &mut types {
        t.instances.sort_by_key(|i| i.suffix);
    }
    let held = holders(state);
    // One GPU per id, however often and in whichever spelling gpu_info lists it.
    let mut seen = HashSet::new();
    let gpu_map: Vec<GpuSlot> = state
        .gpu_info()
        .unwrap_or(&[])
        .iter()
        .filter_map(|g| {
            let key = g.key();
            let holder = held.get(&key).cloned();
            seen.insert(key).then(|| GpuSlot {
                id: g.to_string(),
                holder,
            })
        })
        .collect();
    let free_gpus = gpu_map
        .iter()
        .filter(|s| s.holder.is_none())
        .map(|s| s.id.clone())
        .collect::<Vec<_>>();
    Summary {
        namespace: state.namespace.clone(),
        circus_endpoint: state.circus_endpoint.clone(),
        types,
        gpus_total: gpu_map.len(),
        gpus_used: gpu_map.len() - free_gpus.len(),
        free_gpus,
        gpu_map,
    }
}

/// What a listing shows of a namespace, [`summarize`]'s numbers without its per-instance
/// lists (a 200,000-component state would build them only to count them): running
/// instances per type in first-seen order, GPUs used and in all.
pub fn brief(state: &State) -> (Vec<(String, usize)>, usize, usize) {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (key, comp) in &state.components {
        let (ty, _) = split_entry(&state.namespace, key);
        let i = *index.entry(ty).or_insert_with(|| {
            counts.push((ty.to_string(), 0));
            counts.len() - 1
        });
        if !comp.is_parked() {
            counts[i].1 += 1;
        }
    }
    let held: HashSet<String> = state
        .components
        .values()
        .flat_map(|c| c.gpus().iter().map(|g| g.key()))
        .collect();
    let mut seen = HashSet::new();
    let (mut total, mut used) = (0, 0);
    for g in state.gpu_info().unwrap_or(&[]) {
        let key = g.key();
        let is_held = held.contains(&key);
        if seen.insert(key) {
            total += 1;
            used += usize::from(is_held);
        }
    }
    (counts, used, total)
}

/// gpu key -> watcher, for every allocated GPU.
fn holders(state: &State) -> HashMap<String, String> {
    let mut held = HashMap::new();
    for c in state.components.values() {
        for g in c.gpus() {
            held.entry(g.key())
                .or_insert_with(|| c.watcher_name.clone());
        }
    }
    held
}

/// Free GPUs in numeric order (ids that are not numbers last, in file order).
pub fn free_gpus(state: &State) -> Vec<GpuId> {
    let held = holders(state);
    let mut seen = HashSet::new();
    // An id listed twice in gpu_info is still one GPU.
    let mut free: Vec<GpuId> = state
        .gpu_info()
        .unwrap_or(&[])
        .iter()
        .filter(|g| {
            let k = g.key();
            !held.contains_key(&k) && seen.insert(k)
        })
        .cloned()
        .collect();
    free.sort_by_key(|g| g.numeric().unwrap_or(u64::MAX));
    free
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Document;

    #[test]
    fn brief_says_what_summarize_counts() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
        let mut n = 0;
        for sub in ["demo", "reference", "rules"] {
            for e in std::fs::read_dir(format!("{dir}/{sub}")).unwrap() {
                let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
                let Ok(doc) = Document::parse(&text) else {
                    continue;
                };
                let s = summarize(&doc.state);
                let counts: Vec<(String, usize)> =
                    s.types.iter().map(|t| (t.ty.clone(), t.running)).collect();
                assert_eq!(
                    brief(&doc.state),
                    (counts, s.gpus_used, s.gpus_total),
                    "{text}"
                );
                n += 1;
            }
        }
        assert!(n >= 8, "{n} fixtures");
    }
}
