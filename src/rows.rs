//! One namespace's rows, joined once: per type (per component for a namespace only
//! discovery knows) what the state file wants, what circus runs, what discovery has
//! registered, what the planner targets and what the metrics say.
//!
//! `show` prints it and the TUI's dashboard draws it, so the two say the same thing in
//! the same words. The TUI rebuilds it when a source answers, not on every frame. The
//! join is linear: one map of circus's watchers and one of the components' load, not a
//! search per row.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::arbiter::Watcher;
use crate::discovery::{Snapshot, planner};
use crate::metrics::{ComponentLoad, Metrics};
use crate::state::scale::Summary;

/// What circus said about the namespace's watchers.
#[derive(Clone, Copy, Debug)]
pub struct Circus<'a> {
    /// Watchers with their pids.
    pub watchers: &'a [Watcher],
    /// Watchers circus runs whose pids are not known (a view cut short).
    pub unknown: &'a [String],
}

/// The sources a join reads; `None` where a source was not heard (or not asked).
#[derive(Clone, Copy, Debug, Default)]
pub struct Sources<'a> {
    pub circus: Option<Circus<'a>>,
    pub live: Option<&'a Snapshot>,
    pub metrics: Option<&'a Metrics>,
}

/// How many of a type's wanted processes circus runs, as one mark: the Run cell's dot in
/// the TUI, the PROCESSES column's colour in `show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMark {
    /// Circus not heard (or some pids unknown): never green.
    Unknown,
    /// The file wants none.
    NothingWanted,
    /// The file wants some and none runs.
    NoneRuns,
    /// Fewer run than the file wants (starting, or some gone).
    Short,
    /// Circus confirms every one.
    All,
}

/// A live count against what is wanted (the file's running count, or the planner's
/// target): `2…` while short, `3+` when over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveMark {
    /// No discovery source answered.
    Unknown,
    Short,
    Over,
    /// As wanted, or nothing to compare with.
    Agrees,
}

impl LiveMark {
    pub fn of(live: Option<usize>, want: Option<u64>) -> LiveMark {
        match (live, want) {
            (None, _) => LiveMark::Unknown,
            (Some(l), Some(w)) if (l as u64) < w => LiveMark::Short,
            (Some(l), Some(w)) if (l as u64) > w => LiveMark::Over,
            _ => LiveMark::Agrees,
        }
    }
}

/// A live count in the words both screens use: `-` unknown, `2…` short, `3+` over.
pub fn live_text(live: Option<usize>, mark: LiveMark) -> String {
    match (live, mark) {
        (None, _) => "-".into(),
        (Some(l), LiveMark::Short) => format!("{l}…"),
        (Some(l), LiveMark::Over) => format!("{l}+"),
        (Some(l), _) => l.to_string(),
    }
}

/// One entry of the state file, with what circus says of its watcher.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The entry's index in its type's `instances` (the summary's order).
    pub index: usize,
    /// Its watcher's pids; `None` when circus was not heard or did not say.
    pub pids: Option<Vec<u32>>,
}

/// One type of the state file, joined.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeRow {
    /// The type's index in the summary (`Summary::types`).
    pub index: usize,
    pub name: String,
    /// What the file wants running (entries not parked).
    pub desired: usize,
    /// Processes circus confirms among them; `None` when circus was not heard.
    pub runs: Option<usize>,
    /// Wanted entries whose pids circus did not say (a view cut short).
    pub unknown: usize,
    /// Registered instances (discovery, the planner's endpoint rule); `None` when no
    /// discovery source answered.
    pub live: Option<usize>,
    pub load: Option<ComponentLoad>,
    /// One per entry of the type, in the file's order.
    pub members: Vec<Member>,
}

impl TypeRow {
    pub fn run_mark(&self) -> RunMark {
        match self.runs {
            _ if self.desired == 0 => RunMark::NothingWanted,
            None => RunMark::Unknown,
            Some(_) if self.unknown > 0 => RunMark::Unknown,
            Some(0) => RunMark::NoneRuns,
            Some(r) if r < self.desired => RunMark::Short,
            Some(_) => RunMark::All,
        }
    }

    /// The processes circus runs, in `show`'s words: `2`, `1 (+1?)`, `?` when not heard.
    pub fn runs_text(&self) -> String {
        match (self.runs, self.unknown) {
            (None, _) => "?".into(),
            (Some(r), 0) => r.to_string(),
            (Some(r), u) => format!("{r} (+{u}?)"),
        }
    }

    pub fn live_mark(&self) -> LiveMark {
        LiveMark::of(self.live, Some(self.desired as u64))
    }

    /// Table lines the row needs: one per entry, at least one.
    pub fn height(&self) -> usize {
        self.members.len().max(1)
    }
}

/// One registration of a component (a namespace only discovery knows).
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    pub endpoint: String,
    pub instance_id: u64,
    pub source: &'static str,
    pub stale: bool,
}

impl Registration {
    pub fn id_hex(&self) -> String {
        format!("{:x}", self.instance_id)
    }
}

/// One component of a namespace only discovery knows, joined.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentRow {
    pub name: String,
    /// The planner's target for it (a decision it made).
    pub plan: Option<u64>,
    /// Registered instances: on the planner's endpoint when the planner targets the
    /// component, else the planner's endpoint rule of a type.
    pub live: Option<usize>,
    /// Its distinct endpoints, sorted.
    pub endpoints: Vec<String>,
    pub load: Option<ComponentLoad>,
    pub registrations: Vec<Registration>,
}

impl ComponentRow {
    pub fn live_mark(&self) -> LiveMark {
        LiveMark::of(self.live, self.plan)
    }

    pub fn height(&self) -> usize {
        self.registrations.len().max(1)
    }
}

/// A watcher circus runs for the namespace that the file does not name.
#[derive(Clone, Debug, PartialEq)]
pub struct Unmanaged {
    pub name: String,
    /// `None` when circus did not say.
    pub pids: Option<Vec<u32>>,
}

/// A namespace's rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub ns: String,
    /// Only discovery knows it: `components`, no `types`.
    pub discovery_only: bool,
    /// Circus was heard (its watchers are in the rows).
    pub circus: bool,
    pub types: Vec<TypeRow>,
    pub components: Vec<ComponentRow>,
    pub unmanaged: Vec<Unmanaged>,
    /// Table lines all rows need (an unmanaged watcher's included).
    pub lines: usize,
    /// Per slot of the summary's GPU map, the index of the type holding it.
    pub gpu_types: Vec<Option<usize>>,
    /// The longest watcher name the file names, or on a namespace only
    /// discovery knows the longest endpoint, in characters: a column's width that does
    /// not depend on which rows are in view.
    pub widest: usize,
}

/// `s` lower-cased, borrowed when it already is (circus lists its watchers that way).
fn lower(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_uppercase) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Each component's load in `ns`, by lower-case name (Dynamo 0.3 labels `VllmWorker`,
/// 1.x components are lower-case).
fn loads<'a>(m: Option<&'a Metrics>, ns: &str) -> HashMap<String, &'a ComponentLoad> {
    m.iter()
        .flat_map(|m| m.components.iter())
        .filter(|c| c.namespace == ns)
        .map(|c| (c.component.to_lowercase(), c))
        .collect()
}

impl Rows {
    /// A namespace with a state file.
    pub fn of_file(s: &Summary, src: Sources) -> Rows {
        let ns = s.namespace.as_str();
        // Lower-cased watcher name: its pids (None: circus did not say).
        let circus: Option<HashMap<Cow<str>, Option<&Vec<u32>>>> = src.circus.map(|c| {
            c.watchers
                .iter()
                .map(|w| (lower(&w.name), Some(&w.pids)))
                .chain(c.unknown.iter().map(|n| (lower(n), None)))
                .collect()
        });
        let load = loads(src.metrics, ns);
        let mut named: HashSet<Cow<str>> = HashSet::new();
        // GPU holder: its slots in the GPU map.
        let mut holders: HashMap<&str, Vec<usize>> = HashMap::new();
        for (slot, g) in s.gpu_map.iter().enumerate() {
            if let Some(h) = &g.holder {
                holders.entry(h.as_str()).or_default().push(slot);
            }
        }
        let mut gpu_types = vec![None; s.gpu_map.len()];
        let (mut lines, mut widest) = (0usize, 0usize);
        let types: Vec<TypeRow> = s
            .types
            .iter()
            .enumerate()
            .map(|(index, t)| {
                let (mut runs, mut unknown) = (0usize, 0usize);
                let members = t
                    .instances
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let key = lower(&e.watcher_name);
                        let pids = circus.as_ref().and_then(|c| match c.get(&key) {
                            None => Some(Vec::new()),
                            Some(p) => p.cloned(),
                        });
                        if !e.parked {
                            match &pids {
                                Some(p) if !p.is_empty() => runs += 1,
                                None if circus.is_some() => unknown += 1,
                                _ => {}
                            }
                        }
                        widest = widest.max(e.watcher_name.chars().count());
                        for &slot in holders.get(e.watcher_name.as_str()).into_iter().flatten() {
                            gpu_types[slot] = Some(index);
                        }
                        if circus.is_some() {
                            named.insert(key);
                        }
                        Member { index: i, pids }
                    })
                    .collect::<Vec<_>>();
                let row = TypeRow {
                    index,
                    name: t.ty.clone(),
                    desired: t.running,
                    runs: circus.is_some().then_some(runs),
                    unknown,
                    live: src.live.and_then(|l| l.live_for_type(ns, &t.ty)),
                    load: (!load.is_empty())
                        .then(|| load.get(&t.ty.to_lowercase()).map(|c| (*c).clone()))
                        .flatten(),
                    members,
                };
                lines = lines.saturating_add(row.height());
                row
            })
            .collect();
        let unmanaged: Vec<Unmanaged> = src
            .circus
            .iter()
            .flat_map(|c| {
                let known = c.watchers.iter().map(|w| (&w.name, Some(w.pids.clone())));
                let unknown = c.unknown.iter().map(|n| (n, None));
                known.chain(unknown)
            })
            .filter(|(n, _)| !named.contains(&lower(n)))
            .map(|(n, pids)| Unmanaged {
                name: n.clone(),
                pids,
            })
            .collect();
        lines = lines.saturating_add(unmanaged.len());
        Rows {
            ns: ns.to_string(),
            discovery_only: false,
            circus: src.circus.is_some(),
            types,
            components: Vec::new(),
            unmanaged,
            lines,
            gpu_types,
            widest,
        }
    }

    /// A namespace only discovery knows: its registered components, and the planner's
    /// (rows even with no instance: scaled to zero).
    pub fn of_discovery(ns: &str, src: Sources) -> Rows {
        let load = loads(src.metrics, ns);
        let mut by_comp: BTreeMap<String, Vec<Registration>> = BTreeMap::new();
        for i in src.live.into_iter().flat_map(|l| l.of_namespace(ns)) {
            by_comp
                .entry(i.component.as_str().to_string())
                .or_default()
                .push(Registration {
                    endpoint: i.endpoint.as_str().to_string(),
                    instance_id: i.instance_id,
                    source: i.source.as_str(),
                    stale: i.stale,
                });
        }
        let decision = src
            .live
            .and_then(|l| l.planners.get(ns))
            .filter(|d| d.decided());
        for c in planner_components(src.live, ns) {
            if !by_comp.keys().any(|k| k.eq_ignore_ascii_case(c)) {
                by_comp.insert(c.to_string(), Vec::new());
            }
        }
        let (mut lines, mut widest) = (0usize, 0usize);
        let components = by_comp
            .into_iter()
            .map(|(name, registrations)| {
                let plan = decision.and_then(|d| d.target(&name));
                let live = src.live.and_then(|l| match plan {
                    Some(_) => l.count(ns, &name, Some(planner::ENDPOINT)),
                    None => l.live_for_type(ns, &name),
                });
                let endpoints: std::collections::BTreeSet<&str> =
                    registrations.iter().map(|r| r.endpoint.as_str()).collect();
                let row = ComponentRow {
                    endpoints: endpoints.into_iter().map(str::to_string).collect(),
                    plan,
                    live,
                    load: load.get(&name.to_lowercase()).map(|c| (*c).clone()),
                    name,
                    registrations,
                };
                lines = lines.saturating_add(row.height());
                for e in &row.endpoints {
                    widest = widest.max(e.chars().count());
                }
                row
            })
            .collect();
        Rows {
            ns: ns.to_string(),
            discovery_only: true,
            circus: false,
            types: Vec::new(),
            components,
            unmanaged: Vec::new(),
            lines,
            gpu_types: Vec::new(),
            widest,
        }
    }

    /// The rows' names in order: types, or components.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.types
            .iter()
            .map(|t| t.name.as_str())
            .chain(self.components.iter().map(|c| c.name.as_str()))
    }

    pub fn len(&self) -> usize {
        self.types.len() + self.components.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The components the planner sets a target for in `ns` (rows even with no instance).
pub fn planner_components(live: Option<&Snapshot>, ns: &str) -> Vec<&'static str> {
    let Some(d) = live.and_then(|l| l.planners.get(ns)) else {
        return Vec::new();
    };
    [
        (planner::PREFILL, d.num_prefill_workers),
        (planner::DECODE, d.num_decode_workers),
    ]
    .into_iter()
    .filter(|(_, t)| t.is_some())
    .map(|(c, _)| c)
    .collect()
}

/// The first row a table `height` lines high shows so that row `selected` is in view, as
/// a table drawn from the top scrolls: from the top while the selection fits, else with
/// the selection on the last line. `heights` are the rows' line counts.
pub fn first_in_view(
    heights: impl Iterator<Item = usize>,
    selected: usize,
    height: usize,
) -> usize {
    // The rows up to the selected one, and their running total.
    let upto: Vec<usize> = heights.take(selected.saturating_add(1)).collect();
    let mut total: usize = upto.iter().fold(0usize, |a, h| a.saturating_add(*h));
    let mut first = 0;
    while total > height && first + 1 < upto.len() {
        total -= upto[first];
        first += 1;
    }
    first
}

#[cfg(test)]
mod tests;
