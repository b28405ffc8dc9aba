//! Modules become known to the content layer one at a time, as the namespace
//! looks their names up in the store: a mount of a store of millions of module
//! versions reads none of them at start-up, and holds only those it was asked
//! about.
//!
//! Each known module has a slot (`m`, the index of `Content::modules`, `trust`
//! and `states`): slots are handed out in registration order and never reused,
//! so everything keyed by a slot (cached files, verdicts) stays valid while the
//! store changes. The store's `Module::id` maps to its slot; the namespace names
//! tree files by that id, so inode numbers do not depend on registration order.
//! A row the importer would not have written (see store/rows.rs) is refused at its
//! registration, logged once, and never gets a slot.

use super::once::Once;
use super::{Content, ModState, Trust};
use crate::error::{Error, Result};
use crate::store::{Module, Store, Sum, SumKind};
use crate::verify::verdict::Backoff;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, OnceLock};

type SumKey = (String, String);

pub(super) struct Slots {
    by_id: Mutex<HashMap<i64, u32>>,
    /// Row ids refused (logged once each).
    refused: Mutex<HashSet<i64>>,
    /// go.sum lines given at mount, by (path, version).
    extra: HashMap<SumKey, Vec<Sum>>,
}

impl Slots {
    pub(super) fn new(extra_sums: &[Sum]) -> Slots {
        let mut extra: HashMap<SumKey, Vec<Sum>> = HashMap::new();
        for s in extra_sums {
            extra.entry((s.path.clone(), s.version.clone())).or_default().push(s.clone());
        }
        Slots { by_id: Mutex::new(HashMap::new()), refused: Mutex::new(HashSet::new()), extra }
    }
}

fn poisoned() -> Error {
    Error::Invalid("module table lock poisoned".into())
}

/// The hashes a module must have, given every trusted sum recorded for it (the
/// store's and `--go-sum`'s): a sum that disagrees with the store refuses the
/// module (logged), by the one trust rule (trust.rs).
fn trust_of(m: &Module, sums: impl Fn(SumKind) -> Vec<(String, String)>) -> Trust {
    let check = |kind: SumKind, have: &str| -> std::result::Result<(), String> {
        crate::verify::trust::check(&m.label(), kind, have, &sums(kind)).map_err(|why| format!("{why}; module refused"))
    };
    let module = check(SumKind::Mod, &m.mod_h1).map(|_| m.mod_h1.clone());
    let zip = match &m.zip {
        Some(z) => check(SumKind::Zip, &z.h1).map(|_| Some(z.h1.clone())),
        None => Ok(None),
    };
    for refusal in [zip.as_ref().err(), module.as_ref().err()].into_iter().flatten() {
        log::error!("{refusal}");
    }
    Trust { zip, module }
}

impl Content {
    /// Runs `f` on the store as it is now (one connection, shared by the mount).
    pub(crate) fn with_store<R>(&self, f: impl FnOnce(&Store) -> Result<R>) -> Result<R> {
        let st = self.store.lock().map_err(|_| poisoned())?;
        f(&st)
    }

    /// Replaces the store by a newer state of it; `f` sees the new one and the
    /// old one (to compute what changed) before the swap. Requests that run
    /// meanwhile wait for the lock, and then read the new state.
    pub(crate) fn replace_store<R>(&self, new: Store, f: impl FnOnce(&Store, &Store) -> Result<R>) -> Result<R> {
        let mut st = self.store.lock().map_err(|_| poisoned())?;
        let r = f(&new, &st)?;
        *st = new;
        Ok(r)
    }

    /// The slot of a module already registered, by its store id.
    pub(crate) fn slot_of(&self, id: i64) -> Option<u32> {
        self.slots.by_id.lock().ok()?.get(&id).copied()
    }

    /// Registers modules read from the store (one path's versions, say) and
    /// returns the slots of those that may be served. Rows refused by the checks
    /// import applies are logged once and left out, as are versions of one path
    /// that would name the same files.
    pub(crate) fn register(&self, store: &Store, modules: Vec<Module>) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(modules.len());
        let mut fresh = Vec::new();
        for m in modules {
            match self.slot_of(m.id) {
                Some(s) => out.push(s),
                None => fresh.push(m),
            }
        }
        if fresh.is_empty() {
            return Ok(out);
        }
        let (ok, refused) = crate::store::rows::check_rows(fresh.clone());
        if !refused.is_empty() {
            let mut seen = self.slots.refused.lock().map_err(|_| poisoned())?;
            let ok_ids: HashSet<i64> = ok.iter().map(|m| m.id).collect();
            for m in fresh.iter().filter(|m| !ok_ids.contains(&m.id)) {
                let tag = format!("row {} refused", m.id);
                if let (true, Some(why)) = (seen.insert(m.id), refused.iter().find(|w| w.contains(&tag))) {
                    log::error!("{why}");
                    crate::ops::stats::inc(&self.stats.verifications_failed);
                }
            }
        }
        for m in ok {
            let mut sums = Vec::new();
            for kind in [SumKind::Mod, SumKind::Zip] {
                let mut list = store.sums_for(&m.path, &m.version, kind)?;
                if let Some(extra) = self.slots.extra.get(&(m.path.clone(), m.version.clone())) {
                    list.extend(extra.iter().filter(|s| s.kind == kind).map(|s| (s.h1.clone(), s.source.clone())));
                }
                sums.push((kind, list));
            }
            let mut by_id = self.slots.by_id.lock().map_err(|_| poisoned())?;
            if let Some(&s) = by_id.get(&m.id) {
                out.push(s);
                continue;
            }
            let trust =
                trust_of(&m, |kind| sums.iter().find(|(k, _)| *k == kind).map(|(_, l)| l.clone()).unwrap_or_default());
            // Pushed under the lock, all three in step: slot `s` of each is this module.
            let id = m.id;
            let s = self.states.push(ModState {
                entries: OnceLock::new(),
                list: Once::default(),
                whole: Once::default(),
                refused: OnceLock::new(),
                counted: AtomicBool::new(false),
                extracted: AtomicBool::new(false),
                gomod: OnceLock::new(),
                gomod_refused: OnceLock::new(),
                gomod_backoff: Backoff::default(),
            });
            self.trust.push(trust);
            self.modules.push(m);
            by_id.insert(id, s as u32);
            out.push(s as u32);
        }
        Ok(out)
    }
}
