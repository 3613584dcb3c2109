//! Running effects: each is blocking file work done on tokio's blocking pool, reported back
//! to the event loop as an [`Action`]. The `*_blocking` functions are what tests call.

use std::time::SystemTime;

use tokio::sync::mpsc::UnboundedSender;

use super::app::{Action, Effect, Intent, Listing, LoadOutcome, NsInfo, Op, Refresh};
use crate::state::{Change, Document, StateError, Store, scale};

/// Lists the directory and reads `ns` (if any).
pub fn refresh_blocking(store: &Store, ns: Option<&str>) -> Refresh {
    let listing = match store.list() {
        Ok(entries) => Listing::Found(entries.iter().map(NsInfo::from_entry).collect()),
        Err(StateError::DirMissing { .. }) => Listing::Missing,
        Err(e) => Listing::Error(e.to_string()),
    };
    let ns = ns.map(|name| {
        let outcome = match store.load(name) {
            Ok(doc) => LoadOutcome::Loaded(Box::new(doc), modified(store, name)),
            Err(StateError::NotFound { path, .. }) => {
                LoadOutcome::Gone(format!("there is no {}", path.display()))
            }
            Err(StateError::DirMissing { dir }) => {
                LoadOutcome::Gone(format!("the state directory {} is gone", dir.display()))
            }
            Err(e) => LoadOutcome::Broken(e.to_string()),
        };
        (name.to_string(), outcome)
    });
    Refresh { listing, ns }
}

fn modified(store: &Store, ns: &str) -> Option<SystemTime> {
    let path = store.path_for(ns).ok()?;
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Lock, re-read, apply the intent's operation, save: one transaction.
pub fn scale_blocking(
    store: &Store,
    intent: &Intent,
) -> Result<(Change, Document, Option<SystemTime>), String> {
    let ty = intent.ty.as_str();
    let (change, doc) = store
        .transact(&intent.ns, false, |state| match intent.op {
            Op::Add => scale::add(state, ty),
            Op::Remove => scale::remove(state, ty),
        })
        .map_err(|e| e.to_string())?;
    Ok((change, doc, modified(store, &intent.ns)))
}

pub fn run_blocking(store: &Store, effect: Effect) -> Action {
    match effect {
        Effect::Refresh { ns } => Action::Refreshed(refresh_blocking(store, ns.as_deref())),
        Effect::Scale(intent) => {
            let result = scale_blocking(store, &intent);
            Action::ScaleDone { intent, result }
        }
    }
}

/// Starts `effect` on the blocking pool; its result comes back on `tx`.
pub fn spawn(effect: Effect, store: &Store, tx: &UnboundedSender<Action>) {
    let store = store.clone();
    let tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let action = run_blocking(&store, effect);
        let _ = tx.send(action);
    });
}
