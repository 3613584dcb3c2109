//! One namespace's rows, joined once: per type (per component for a namespace only
//! discovery knows) what the state file wants, what circus runs, what discovery has
//! registered, what the planner targets and what the metrics say.
//!
//! `show` prints it and the TUI's dashboard draws it, so the two say the same thing in
//! the same words. The TUI rebuilds it when a source answers, not on every frame. The
//! join is linear: one map of circus's watchers and one of the components' load, not a
//! search per row.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

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

/// What circus says of one entry's watcher: a slot of [`Rows`], resolved by
/// [`Rows::pids`] (the pids are kept once per watcher, however many entries name it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// Circus was not heard, or did not say this watcher's pids.
    Unknown,
    /// Circus runs no such watcher.
    Absent,
    /// Circus's watcher `k` (its pids are `Rows::pid_ranges[k]` of `Rows::pid_table`).
    Watcher(u32),
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
    /// Its load in the last metrics round (boxed: most types of a big state have none).
    pub load: Option<Box<ComponentLoad>>,
    /// Its entries' slots: `Rows::slots[first..first + entries]`, in the file's order.
    first: usize,
    entries: usize,
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
        self.entries.max(1)
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
    pub load: Option<Box<ComponentLoad>>,
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
    pub types: Vec<TypeRow>,
    pub components: Vec<ComponentRow>,
    pub unmanaged: Vec<Unmanaged>,
    /// Table lines all rows need (an unmanaged watcher's included).
    pub lines: usize,
    /// Each entry's slot, type after type (a [`TypeRow`] knows where its are).
    slots: Vec<Slot>,
    /// Circus's pids, once per watcher, and each watcher's range in it.
    pid_table: Vec<u32>,
    pid_ranges: Vec<(u32, u32)>,
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

/// `s` lower-cased into `buf` (ASCII without allocating; else as `str::to_lowercase`).
fn lower_into(s: &str, buf: &mut String) {
    buf.clear();
    if s.is_ascii() {
        buf.extend(s.chars().map(|c| c.to_ascii_lowercase()));
    } else {
        buf.push_str(&s.to_lowercase());
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
        // Circus's pids, once per watcher (capped by the view: `MAX_VIEW_PIDS` in all),
        // and each lower-cased name's watcher (None: circus did not say its pids).
        let (mut pid_table, mut pid_ranges) = (Vec::new(), Vec::new());
        let mut circus: HashMap<Cow<str>, (usize, Option<u32>)> = HashMap::new();
        let mut named: Vec<bool> = Vec::new();
        if let Some(c) = src.circus {
            for (k, w) in c.watchers.iter().enumerate() {
                let start = u32::try_from(pid_table.len()).unwrap_or(u32::MAX);
                pid_table.extend_from_slice(&w.pids);
                let end = u32::try_from(pid_table.len()).unwrap_or(u32::MAX);
                pid_ranges.push((start, end));
                circus.insert(lower(&w.name), (k, u32::try_from(k).ok()));
            }
            for (k, n) in c.unknown.iter().enumerate() {
                circus.insert(lower(n), (c.watchers.len() + k, None));
            }
            named = vec![false; c.watchers.len() + c.unknown.len()];
        }
        let heard = src.circus.is_some();
        let load = loads(src.metrics, ns);
        // GPU holder: its slots in the GPU map.
        let mut holders: HashMap<&str, Vec<usize>> = HashMap::new();
        for (slot, g) in s.gpu_map.iter().enumerate() {
            if let Some(h) = &g.holder {
                holders.entry(h.as_str()).or_default().push(slot);
            }
        }
        let mut gpu_types = vec![None; s.gpu_map.len()];
        let (mut lines, mut widest) = (0usize, 0usize);
        let mut slots: Vec<Slot> =
            Vec::with_capacity(s.types.iter().map(|t| t.instances.len()).sum());
        // One buffer for the lower-cased names looked up (no allocation per entry).
        let mut key = String::new();
        let types: Vec<TypeRow> = s
            .types
            .iter()
            .enumerate()
            .map(|(index, t)| {
                let (mut runs, mut unknown) = (0usize, 0usize);
                let first = slots.len();
                for e in &t.instances {
                    let slot = if heard {
                        lower_into(&e.watcher_name, &mut key);
                        match circus.get(key.as_str()) {
                            None => Slot::Absent,
                            Some(&(k, w)) => {
                                named[k] = true;
                                w.map_or(Slot::Unknown, Slot::Watcher)
                            }
                        }
                    } else {
                        Slot::Unknown
                    };
                    if !e.parked {
                        match slot {
                            Slot::Watcher(k) => {
                                let (a, b) = pid_ranges[k as usize];
                                if b > a {
                                    runs += 1;
                                }
                            }
                            Slot::Unknown if heard => unknown += 1,
                            _ => {}
                        }
                    }
                    widest = widest.max(e.watcher_name.chars().count());
                    for &g in holders.get(e.watcher_name.as_str()).into_iter().flatten() {
                        gpu_types[g] = Some(index);
                    }
                    slots.push(slot);
                }
                let row = TypeRow {
                    index,
                    name: t.ty.clone(),
                    desired: t.running,
                    runs: heard.then_some(runs),
                    unknown,
                    live: src.live.and_then(|l| l.live_for_type(ns, &t.ty)),
                    load: (!load.is_empty())
                        .then(|| {
                            load.get(&t.ty.to_lowercase())
                                .map(|c| Box::new((*c).clone()))
                        })
                        .flatten(),
                    first,
                    entries: t.instances.len(),
                };
                lines = lines.saturating_add(row.height());
                row
            })
            .collect();
        let unmanaged: Vec<Unmanaged> = src
            .circus
            .iter()
            .flat_map(|c| {
                let known = c.watchers.iter().map(|w| (&w.name, Some(&w.pids)));
                let unknown = c.unknown.iter().map(|n| (n, None));
                known.chain(unknown)
            })
            .enumerate()
            .filter(|(k, _)| !named.get(*k).copied().unwrap_or(true))
            .map(|(_, (n, pids))| Unmanaged {
                name: n.clone(),
                pids: pids.cloned(),
            })
            .collect();
        lines = lines.saturating_add(unmanaged.len());
        Rows {
            ns: ns.to_string(),
            discovery_only: false,
            types,
            components: Vec::new(),
            unmanaged,
            lines,
            slots,
            pid_table,
            pid_ranges,
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
                    load: load
                        .get(&name.to_lowercase())
                        .map(|c| Box::new((*c).clone())),
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
            types: Vec::new(),
            components,
            unmanaged: Vec::new(),
            lines,
            gpu_types: Vec::new(),
            widest,
            ..Default::default()
        }
    }

    /// The pids of entry `i` of type row `t` (its watcher's); `None` when circus was not
    /// heard or did not say, empty when circus runs no such watcher.
    pub fn pids(&self, t: &TypeRow, i: usize) -> Option<&[u32]> {
        if i >= t.entries {
            return None;
        }
        match self.slots.get(t.first + i)? {
            Slot::Unknown => None,
            Slot::Absent => Some(&[]),
            Slot::Watcher(k) => {
                let (a, b) = *self.pid_ranges.get(*k as usize)?;
                self.pid_table.get(a as usize..b as usize)
            }
        }
    }

    /// The pids of each entry of type row `t`, in the file's order ([`Rows::pids`]).
    pub fn members<'a>(&'a self, t: &'a TypeRow) -> impl Iterator<Item = Option<&'a [u32]>> + 'a {
        (0..t.entries).map(move |i| self.pids(t, i))
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
fn planner_components(live: Option<&Snapshot>, ns: &str) -> Vec<&'static str> {
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
