//! A module's file list, from the index to the namespace: read once, checked by
//! the rules import applies (store/rows.rs), then kept; and the first step of lazy
//! verification, the list against the trusted `h1:` (verify/digests.rs).
//!
//! All three are linear in the module's files, and for the largest modules they
//! are what the first read of one small file waits for (aws-sdk-go: 2,600 files).
//! So when the tree is first looked into, [`Content::load_entries`] runs them side
//! by side once the list is read: the checks on one thread, the namespace's tree
//! on the caller's (built off the namespace's lock, handed back only if the
//! checks pass), the list's hash on a third. Nothing is served from the list
//! before its checks passed, and no file before its hash matched, as when each
//! runs on its own at first use.

use super::{Content, Verified, Verify};
use crate::error::{Error, Result};
use crate::store::{self, Module, Store, ZipInfo};
use crate::verify::verdict::Failure;
use crate::zip::Entry;
use std::fs::File;
use std::sync::Arc;

/// Entry lists longer than this are read on a connection of their own, so other
/// modules' first lookups do not wait for them.
const PRIVATE_READ_ENTRIES: u64 = 20_000;

/// Below this many files the list's checks run one after the other: a thread
/// costs more than it saves.
const SIDE_BY_SIDE: u64 = 256;

type Checked = std::result::Result<Arc<[Entry]>, Arc<str>>;

impl Content {
    /// The module's files, from the index (loaded once). The index is not trusted
    /// with names either: a list breaking the zip name rules (escaping paths, NUL,
    /// case-fold collisions, files that are also directories...) never reaches the
    /// namespace; the module fails with EIO, logged once.
    pub fn entries(&self, m: u32) -> Result<Arc<[Entry]>> {
        if let Some(e) = self.state(m)?.entries.get() {
            return e.clone().map_err(|why| Error::Invalid(why.to_string()));
        }
        let list = self.read_list(m)?;
        let module = self.module(m)?;
        let checked = crate::store::rows::check_entries(module, &list);
        self.keep_list(m, list, checked)
    }

    /// [`Content::entries`], with `build(list)` (the namespace's tree of it) run
    /// beside the checks when the list is loaded here, and the list's hash check
    /// too (see the header). `build`'s result is returned only with a list that
    /// passed; a list loaded before is built on this thread.
    pub(crate) fn load_entries<T: Send>(
        &self,
        m: u32,
        build: impl FnOnce(&[Entry]) -> T + Send,
    ) -> Result<(Arc<[Entry]>, T)> {
        // A short list (by its row's count), or one loaded before: in turn.
        let module = self.module(m)?;
        let short = module.zip.as_ref().map_or(0, |z| z.file_count) < SIDE_BY_SIDE;
        if short || self.state(m)?.entries.get().is_some() {
            let e = self.entries(m)?;
            let t = build(&e);
            return Ok((e, t));
        }
        let list = self.read_list(m)?;
        let early = self.list_check_pending(m);
        std::thread::scope(|s| {
            // If no thread can be had, each runs here instead, one after the other.
            let check =
                spawn(s, "list-rules", || Some(Outcome::Rules(crate::store::rows::check_entries(module, &list))));
            let hash =
                early.then(|| spawn(s, "list-hash", || self.list_hash(m, module, &list).map(Outcome::Hash))).flatten();
            let t = build(&list);
            let join = |h: Option<std::thread::ScopedJoinHandle<'_, Option<Outcome>>>| {
                h.and_then(|h| h.join().unwrap_or(Some(Outcome::Panicked)))
            };
            let checked = match join(check) {
                Some(Outcome::Rules(r)) => r,
                Some(_) => Err("the check of the index's list failed".into()),
                None => crate::store::rows::check_entries(module, &list),
            };
            // Both joined before anything can return: a thread left to the scope's
            // own join would turn its panic into this request's.
            let hashed = join(hash);
            let e = self.keep_list(m, list.clone(), checked)?;
            // The hash is offered only for a list that passed its checks: the same
            // list, kept above. A failure to read is not kept (the read tries again).
            if let (Some(Outcome::Hash(outcome)), Ok(st)) = (hashed, self.state(m)) {
                // (Counted as a passed check when a read first relies on it.)
                let _ = st.list.get(|| outcome, |why| self.refuse(m, why));
            }
            Ok((e, t))
        })
    }

    /// The module's entry list as the index has it (at most one more than its
    /// row's count: a longer list is refused without reading, or holding, the rest).
    fn read_list(&self, m: u32) -> Result<Arc<[Entry]>> {
        let module = self.module(m)?;
        let want = module.zip.as_ref().map_or(0, |z| z.file_count);
        Ok(if want > PRIVATE_READ_ENTRIES {
            Store::open_ro(&self.store_dir)?.entries_at_most(module.id, want + 1)?.into()
        } else {
            let store = self.store.lock().map_err(|_| Error::Invalid("store lock poisoned".into()))?;
            store.entries_at_most(module.id, want + 1)?.into()
        })
    }

    /// Keeps the list (or the verdict of its checks) for good; the first to keep it logs a refusal.
    fn keep_list(&self, m: u32, list: Arc<[Entry]>, checked: std::result::Result<(), String>) -> Result<Arc<[Entry]>> {
        let st = self.state(m)?;
        let module = self.module(m)?;
        let checked: Checked = checked.map(|_| list).map_err(|why| {
            format!(
                "{}: the store index lists files no module zip could hold: {why}; every file of this module fails with EIO",
                module.label()
            )
            .into()
        });
        crate::ops::stats::inc(&self.stats.modules_loaded);
        let mut first = false;
        let e = st
            .entries
            .get_or_init(|| {
                first = true;
                checked
            })
            .clone();
        if let (true, Err(why)) = (first, &e) {
            crate::ops::stats::inc(&self.stats.verifications_failed);
            log::error!("{why}");
        }
        e.map_err(|why| Error::Invalid(why.to_string()))
    }

    /// Lazy verification's first step (see the header of content/mod.rs): the
    /// index's file list against the trusted `h1:`, nothing inflated.
    pub(super) fn run_list(&self, m: u32) -> std::result::Result<Verified, Failure> {
        let (zip, entries, module, zi) = self.open_module(m)?;
        if self.opts.verify == Verify::Off {
            return Ok(Verified { zip, digests: Vec::new() });
        }
        match self.list_verdict(m, &zip, &entries, module, zi)? {
            Some(digests) => Ok(Verified { zip, digests }),
            None => {
                // (A store with segments of the older format said so once, at start.)
                if self.has_digests {
                    log::info!(
                        "{}: no per-file digests in the store index (imported by an older modcachefs): verifying the whole module",
                        module.label()
                    );
                }
                self.verified(m).map(|v| Verified { zip, digests: v.digests.clone() }).map_err(|e| {
                    // Already refused (and logged) or retried by the whole check.
                    Failure { why: e.to_string(), transient: self.refusal(m).is_none() }
                })
            }
        }
    }

    /// The list check run ahead, beside the list's other checks: None when it
    /// cannot be had without the whole module (no digests) or could not read.
    fn list_hash(&self, m: u32, module: &Module, list: &[Entry]) -> Option<std::result::Result<Verified, Failure>> {
        let zi = module.zip.as_ref()?;
        let zip = store::open_blob(&self.store_dir, &zi.blob).ok()?;
        match self.list_verdict(m, &zip, list, module, zi) {
            Ok(Some(digests)) => Some(Ok(Verified { zip, digests })),
            Ok(None) => None,
            Err(f) if f.transient => None,
            Err(f) => Some(Err(f)),
        }
    }

    /// The list `entries` of the blob `zip` against the trusted `h1:`, and the
    /// digests its files must have: None if the index has no digests for the
    /// module (imported by an older modcachefs).
    fn list_verdict(
        &self,
        m: u32,
        zip: &File,
        entries: &[Entry],
        module: &Module,
        zi: &ZipInfo,
    ) -> std::result::Result<Option<Vec<[u8; 32]>>, Failure> {
        let expected = self.trusted_zip_h1(m, module)?;
        // Per module: a segment converted from an older store has none.
        let row = {
            let store = self.store.lock().map_err(|_| Failure::verdict("store lock poisoned"))?;
            store
                .digests(module.id)
                .map_err(|e| self.blob_failure(module, Failure { why: e.to_string(), transient: true }))?
        };
        let digests = match row {
            None => return Ok(None),
            Some(Err(why)) => {
                return Err(self.blob_failure(module, Failure::verdict(format!("the index's digest row: {why}"))))
            }
            Some(Ok(d)) => d,
        };
        // A blob that is not as long as the one imported (truncated, replaced) is
        // refused before any file is served from it.
        let size =
            zip.metadata().map_err(|e| self.blob_failure(module, Failure::io("cannot stat zip blob", &e)))?.len();
        if size != zi.size {
            let why = format!("zip blob is corrupt: it is {size} bytes, the index says {}", zi.size);
            return Err(self.blob_failure(module, Failure::verdict(why)));
        }
        crate::verify::digests::check_list(module, entries, &digests, &expected)
            .map_err(|why| self.blob_failure(module, Failure::verdict(why)))?;
        Ok(Some(digests.files))
    }
}

/// Runs `f` on a thread of the scope, or None if no thread can be had.
fn spawn<'scope, F>(
    s: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    f: F,
) -> Option<std::thread::ScopedJoinHandle<'scope, Option<Outcome>>>
where
    F: FnOnce() -> Option<Outcome> + Send + 'scope,
{
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(s, f)
        .map_err(|e| log::debug!("no thread for a module's {name} ({e}): run in turn"))
        .ok()
}

/// What a side thread of [`Content::load_entries`] hands back.
enum Outcome {
    Rules(std::result::Result<(), String>),
    Hash(std::result::Result<Verified, Failure>),
    Panicked,
}
