//! Property tests: random add/remove sequences on every kind of fixture keep the invariants
//! (unique names, each GPU held once and only from gpu_info, numeric GPU order), refused
//! changes change nothing, and add^k followed by remove^k restores the exact text.

use dynamo_ctl::state::json::to_python_string;
use std::collections::BTreeSet;
use std::path::Path;

use dynamo_ctl::state::model::GpuId;
use dynamo_ctl::state::{Change, Document, State, scale};
use proptest::prelude::*;
use serde_json::{Value, json};

const FIXTURES: [&str; 10] = [
    "reference/serve-initial.json",
    "reference/after-planner-add.json",
    "demo/dynamo.json",
    "demo/agg.json",
    "demo/full.json",
    "rules/gpu16.json",
    "rules/multi-gpu.json",
    "rules/parked.json",
    "rules/unicode-planner.json",
    "rules/odd-keys.json",
];

const TYPES: [&str; 4] = ["VllmWorker", "PrefillWorker", "Frontend", "NoSuchType"];

fn load(i: usize) -> (String, Document) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(FIXTURES[i]);
    let text = std::fs::read_to_string(p).unwrap();
    let d = Document::parse(&text).unwrap();
    (text, d)
}

fn gpu_info_keys(s: &State) -> BTreeSet<String> {
    s.gpu_info()
        .unwrap_or(&[])
        .iter()
        .map(|g| g.key())
        .collect()
}

/// Unique watcher names (each equal to its key), each GPU held at most once, and only GPUs
/// from gpu_info. Returns a description of the first violation.
fn check_invariants(s: &State) -> Result<(), String> {
    let mut names = BTreeSet::new();
    let mut held = BTreeSet::new();
    let info = gpu_info_keys(s);
    for (k, c) in &s.components {
        if c.watcher_name != *k {
            return Err(format!("{k}: watcher_name {}", c.watcher_name));
        }
        if !names.insert(c.watcher_name.clone()) {
            return Err(format!("duplicate watcher {}", c.watcher_name));
        }
        for g in c.gpus() {
            if !held.insert(g.key()) {
                return Err(format!("GPU {g} held twice (again by {k})"));
            }
            if !info.contains(&g.key()) {
                return Err(format!("GPU {g} of {k} is not in gpu_info"));
            }
        }
    }
    Ok(())
}

fn running(s: &State, ty: &str) -> usize {
    scale::summarize(s).running(ty)
}

fn op_strategy() -> impl Strategy<Value = (bool, usize)> {
    (any::<bool>(), 0..TYPES.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_the_invariants(
        fixture in 0..FIXTURES.len(),
        ops in prop::collection::vec(op_strategy(), 0..30),
    ) {
        let (_, mut d) = load(fixture);
        prop_assert_eq!(check_invariants(&d.state), Ok(()), "fixture itself");
        for (is_add, t) in ops {
            let ty = TYPES[t];
            let before_text = d.render().unwrap();
            let before_running = running(&d.state, ty);
            let free_before = scale::free_gpus(&d.state);
            let result = if is_add { scale::add(&mut d.state, ty) } else { scale::remove(&mut d.state, ty) };
            match result {
                Err(_) => prop_assert_eq!(d.render().unwrap(), before_text, "a refused change changed the state"),
                Ok(Change::Added { name, gpus, .. }) => {
                    prop_assert!(is_add);
                    prop_assert_eq!(running(&d.state, ty), before_running + 1);
                    // The chosen GPUs are the lowest free ones in numeric order.
                    let want: Vec<String> = free_before.iter().take(gpus.len()).map(|g| g.to_string()).collect();
                    prop_assert_eq!(&gpus, &want);
                    let held: Vec<String> = d.state.components[&name].gpus().iter().map(|g| g.to_string()).collect();
                    prop_assert_eq!(&held, &gpus);
                    if ty == "VllmWorker" || ty == "PrefillWorker" {
                        prop_assert!(!gpus.is_empty(), "a GPU worker without a GPU");
                    }
                    // cmd still splits on --worker-env, into the template's command.
                    let cmd = &d.state.components[&name].cmd;
                    prop_assert_eq!(cmd.matches("--worker-env").count(), 1);
                    let quoted_name = format!("--custom-component-name '{name}'");
                    prop_assert!(cmd.ends_with(&quoted_name));
                }
                Ok(Change::Removed { remaining, .. }) => {
                    prop_assert!(!is_add);
                    prop_assert_eq!(running(&d.state, ty), before_running - 1);
                    prop_assert_eq!(remaining, before_running - 1);
                }
            }
            prop_assert_eq!(check_invariants(&d.state), Ok(()));
            // The text we would write parses back to the same document.
            let text = d.render().unwrap();
            let again = Document::parse(&text).unwrap();
            prop_assert_eq!(&again.state, &d.state);
            prop_assert_eq!(&again.render().unwrap(), &text);
            // render() re-serializes only the touched components; it must equal the
            // full serialization of the whole typed model.
            let full = to_python_string(&d.to_value().unwrap(), d.style);
            prop_assert_eq!(&text, &full, "render() and to_value() disagree");
        }
    }

    #[test]
    fn add_k_then_remove_k_restores_the_exact_text(
        fixture in 0..FIXTURES.len(),
        t in 0..3usize,
        k in 0..6usize,
    ) {
        let (original, mut d) = load(fixture);
        let ty = TYPES[t];
        let mut added = 0;
        for _ in 0..k {
            if scale::add(&mut d.state, ty).is_ok() {
                added += 1;
            }
        }
        for _ in 0..added {
            let c = scale::remove(&mut d.state, ty).unwrap();
            let parked = matches!(c, Change::Removed { parked: true, .. });
            prop_assert!(!parked, "removed a pre-existing entry");
        }
        prop_assert_eq!(d.render().unwrap(), original);
    }
}

/// A generated host: N GPUs spelled as ints or strings, a random subset already held by
/// numbered VllmWorker entries (spelled either way), plus a base holding `per` GPUs.
fn host_strategy() -> impl Strategy<Value = (Vec<bool>, Vec<bool>, Vec<bool>, usize)> {
    (1usize..=20).prop_flat_map(|n| {
        (
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(any::<bool>(), n),
            1usize..=3,
        )
    })
}

fn build_host(info_int: &[bool], taken: &[bool], taken_int: &[bool], per: usize) -> Document {
    let spell = |i: usize, int: bool| if int { json!(i) } else { json!(i.to_string()) };
    let info: Vec<Value> = (0..info_int.len()).map(|i| spell(i, info_int[i])).collect();
    let mut comps = serde_json::Map::new();
    comps.insert(
        "h_VllmWorker".into(),
        json!({"watcher_name": "h_VllmWorker", "cmd": "python3 -m w --worker-id $(CIRCUS.WID)",
               "resources": {}, "lease": null}),
    );
    let mut suffix = 0;
    let held: Vec<usize> = (0..taken.len()).filter(|i| taken[*i]).collect();
    for chunk in held.chunks(per) {
        suffix += 2; // gaps: 2, 4, 6, ...
        let name = format!("h_VllmWorker_{suffix}");
        let gpus: Vec<Value> = chunk.iter().map(|i| spell(*i, taken_int[*i])).collect();
        comps.insert(
            name.clone(),
            json!({"watcher_name": name, "cmd": "python3 -m w --worker-env '[{}]' --custom-component-name 'x'",
                   "resources": {"allocated_gpus": gpus}}),
        );
    }
    let v = json!({"namespace": "h", "components": comps,
                   "environment": {"DYNAMO_SERVICE_CONFIG": "{}", "SYSTEM_RESOURCES": {"gpu_info": info}}});
    Document::parse(&v.to_string()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn generated_hosts_fill_gpus_lowest_number_first(
        (info_int, taken, taken_int, per) in host_strategy(),
    ) {
        let mut d = build_host(&info_int, &taken, &taken_int, per);
        let n = info_int.len();
        let mut free: Vec<usize> = (0..n).filter(|i| !taken[*i]).collect();
        let mut max_suffix = 2 * taken.iter().filter(|t| **t).count().div_ceil(per);
        // Each add takes the lowest free ids (as many as a running instance holds, else 1).
        loop {
            let before = d.render().unwrap();
            match scale::add(&mut d.state, "VllmWorker") {
                Ok(Change::Added { name, gpus, .. }) => {
                    max_suffix += 1;
                    prop_assert_eq!(&name, &format!("h_VllmWorker_{max_suffix}"));
                    let k = gpus.len();
                    prop_assert!(k >= 1 && k <= free.len());
                    let want: Vec<String> = free.drain(..k).map(|i| i.to_string()).collect();
                    prop_assert_eq!(&gpus, &want);
                    // Spelled as gpu_info spells them.
                    for g in d.state.components[&name].gpus() {
                        let i = g.numeric().unwrap() as usize;
                        prop_assert_eq!(matches!(g, GpuId::Int(_)), info_int[i]);
                    }
                }
                Ok(other) => prop_assert!(false, "unexpected {:?}", other),
                Err(e) => {
                    prop_assert!(e.to_string().contains(&format!("only {} of {n} are free", free.len())), "{}", e);
                    prop_assert_eq!(d.render().unwrap(), before);
                    break;
                }
            }
            prop_assert_eq!(check_invariants(&d.state), Ok(()));
        }
    }
}
