//! The store as the server sees it: one `Fs` (the mount's core: namespace,
//! verification, file contents) per generation of the store, swapped for a new
//! one when the store's generation changes (polled, as mounts do: see live.rs),
//! without a restart. The `Fs` is lazy: opening a snapshot reads no module list,
//! whatever the store's size; modules are looked up as requests name them.
//!
//! Requests hold the snapshot they started with (an `Arc`), so a reload never
//! cuts a download short; the old snapshot, with its open blobs, goes when the
//! last such request ends. A new snapshot verifies each module again on its
//! first use: its trusted hashes may have changed (`import` of a go.sum).

use crate::error::Result;
use crate::ops::stats::Stats;
use crate::serve::metrics::StoreSize;
use crate::store::{self, Store, Sum};
use crate::vfs::content::{Content, Verified};
use crate::vfs::fs::Fs;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub(crate) struct Snapshot {
    pub(crate) fs: Fs,
    pub size: StoreSize,
    signature: Signature,
    /// Each module's verified zip once a request has seen it verified: later
    /// requests take it without the verification lock that every download of a
    /// popular module would otherwise queue on.
    verified: RwLock<HashMap<u32, Arc<Verified>>>,
}

/// The store's generation (`Store::current_generation`): it changes with every
/// committed import or removal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Signature(Option<u64>);

pub(crate) fn signature(store_dir: &Path) -> Signature {
    Signature(Store::current_generation(store_dir).ok())
}

/// How the server opens the store: the same trust and verification options as a mount.
pub(crate) struct Opener {
    pub(crate) store_dir: PathBuf,
    pub sums: Vec<Sum>,
    pub(crate) verify: crate::vfs::content::Verify,
    pub(crate) stats: Arc<Stats>,
}

impl Opener {
    pub fn open(&self) -> Result<Snapshot> {
        let t0 = std::time::Instant::now();
        // Taken before reading: a change made while reading is seen by the next check.
        let st = Store::open_ro(&self.store_dir)?;
        let sig = Signature(Some(st.generation()));
        let modules = st.module_count()?;
        let opts = crate::vfs::content::Options {
            verify: self.verify,
            // Nothing is extracted for HTTP clients: with no memory cache, verification
            // streams every file through its hash and keeps none of them.
            cache_size: 0,
            spill_dir: std::env::temp_dir(),
            spill_size: 0,
        };
        let sumdb = crate::sumdb::Files::load(&st)?;
        let content = Content::new(st, &self.sums, opts, self.stats.clone())?;
        // The zip gauges count the modules this snapshot has served (see `size`):
        // a store-wide sum would read every row.
        let size = StoreSize { modules, zips: 0, zip_bytes: 0 };
        let mut fs = Fs::new(content);
        fs.set_sumdb(sumdb);
        fs.set_store_hint(&format!(" --store {}", self.store_dir.display()));
        log::info!(
            "store {} opened: {} modules, in {:.1} ms",
            self.store_dir.display(),
            size.modules,
            t0.elapsed().as_secs_f64() * 1e3
        );
        Ok(Snapshot { fs, size, signature: sig, verified: RwLock::default() })
    }
}

impl Snapshot {
    /// The slot of module `path@version`, looked up in the store as the mount does.
    pub(crate) fn module_index(&self, path: &str, version: &str) -> Option<u32> {
        match self.fs.module_slot(path, version) {
            Ok(m) => m,
            Err(e) => {
                log::warn!("{path}@{version}: {e}");
                None
            }
        }
    }

    pub(crate) fn module(&self, m: u32) -> Option<&store::Module> {
        self.fs.module(m)
    }

    /// The store's size: its module count, and the zips among the modules served so far.
    pub fn size(&self) -> StoreSize {
        let mut size = self.size;
        for m in self.fs.modules() {
            if let Some(z) = &m.zip {
                size.zips += 1;
                size.zip_bytes += z.size;
            }
        }
        size
    }

    /// Module `m`'s zip if it verified already, without waiting.
    pub(crate) fn verified_now(&self, m: u32) -> Option<Arc<Verified>> {
        self.verified.read().ok()?.get(&m).cloned()
    }

    /// Waits for (or runs) module `m`'s verification: `Content::verified`.
    pub(crate) fn verified(&self, m: u32) -> Result<Arc<Verified>> {
        if let Some(v) = self.verified_now(m) {
            return Ok(v);
        }
        let v = self.fs.verified_zip(m)?;
        if let Ok(mut slots) = self.verified.write() {
            slots.insert(m, v.clone());
        }
        Ok(v)
    }

    pub(crate) fn signature(&self) -> &Signature {
        &self.signature
    }
}
