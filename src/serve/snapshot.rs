//! The store as the server sees it: one `Fs` (the mount's core: namespace,
//! verification, file contents) per version of the index, swapped for a new one
//! when `modcachefs import` changes the index, without a restart.
//!
//! Requests hold the snapshot they started with (an `Arc`), so a reload never
//! cuts a download short; the old snapshot, with its open blobs, goes when the
//! last such request ends. A new snapshot verifies each module again on its
//! first use: its trusted hashes may have changed (`import` of a go.sum).

use crate::content::{self, Content, Verified};
use crate::error::Result;
use crate::fs::Fs;
use crate::ops::stats::Stats;
use crate::serve::metrics::StoreSize;
use crate::store::{self, Store, Sum};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub(crate) struct Snapshot {
    pub(crate) fs: Fs,
    pub(crate) size: StoreSize,
    signature: Signature,
    /// Each module's verified zip once a request has seen it verified: later
    /// requests take it without the verification lock that every download of a
    /// popular module would otherwise queue on.
    verified: Vec<OnceLock<Arc<Verified>>>,
}

/// What changes when an import commits: the index file and its write-ahead log
/// (an import writes in WAL mode and leaves rollback mode when it ends).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Signature(Vec<Option<FileId>>);

/// Device, inode, size and modification time (seconds, nanoseconds) of one file.
type FileId = (u64, u64, u64, i64, i64);

pub(crate) fn signature(store_dir: &Path) -> Signature {
    Signature(
        ["index.db", "index.db-wal", "index/CURRENT"]
            .iter()
            .map(|f| {
                std::fs::metadata(store_dir.join(f))
                    .ok()
                    .map(|m| (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
            })
            .collect(),
    )
}

/// How the server opens the store: the same trust and verification options as a mount.
pub(crate) struct Opener {
    pub(crate) store_dir: PathBuf,
    pub(crate) sums: Vec<Sum>,
    pub(crate) verify: content::Verify,
    pub(crate) stats: Arc<Stats>,
}

impl Opener {
    pub(crate) fn open(&self) -> Result<Snapshot> {
        let t0 = std::time::Instant::now();
        // Taken before reading: a change made while reading is seen by the next check.
        let sig = signature(&self.store_dir);
        let st = Store::open_ro(&self.store_dir)?;
        let opts = content::Options {
            verify: self.verify,
            // Nothing is extracted for HTTP clients: with no memory cache, verification
            // streams every file through its hash and keeps none of them.
            cache_size: 0,
            spill_dir: std::env::temp_dir(),
            spill_size: 0,
        };
        let sumdb = crate::sumdb::Files::load(&st)?;
        let content = Content::new(st, &self.sums, opts, self.stats.clone())?;
        let size = StoreSize {
            modules: content.modules.len() as u64,
            zips: content.modules.iter().filter(|m| m.zip.is_some()).count() as u64,
            zip_bytes: content.modules.iter().filter_map(|m| m.zip.as_ref()).map(|z| z.size).sum(),
        };
        let mut fs = Fs::new(content);
        fs.set_sumdb(sumdb);
        fs.set_store_hint(&format!(" --store {}", self.store_dir.display()));
        log::info!(
            "store {} read: {} modules, {} zips ({:.1} MB) in {:.1} ms",
            self.store_dir.display(),
            size.modules,
            size.zips,
            size.zip_bytes as f64 / 1e6,
            t0.elapsed().as_secs_f64() * 1e3
        );
        let verified = (0..size.modules).map(|_| OnceLock::new()).collect();
        Ok(Snapshot { fs, size, signature: sig, verified })
    }
}

impl Snapshot {
    /// The index of module `path@version` in the store's (sorted) module list.
    pub(crate) fn module_index(&self, path: &str, version: &str) -> Option<u32> {
        let modules = &self.fs.content.modules;
        modules.binary_search_by(|m| (m.path.as_str(), m.version.as_str()).cmp(&(path, version))).ok().map(|i| i as u32)
    }

    pub(crate) fn module(&self, m: u32) -> Option<&store::Module> {
        self.fs.content.modules.get(m as usize)
    }

    /// Module `m`'s zip if it verified already, without waiting.
    pub(crate) fn verified_now(&self, m: u32) -> Option<Arc<Verified>> {
        self.verified.get(m as usize)?.get().cloned()
    }

    /// Waits for (or runs) module `m`'s verification: `Content::verified`.
    pub(crate) fn verified(&self, m: u32) -> Result<Arc<Verified>> {
        if let Some(v) = self.verified_now(m) {
            return Ok(v);
        }
        let v = self.fs.content.verified(m)?;
        if let Some(slot) = self.verified.get(m as usize) {
            let _ = slot.set(v.clone());
        }
        Ok(v)
    }

    pub(crate) fn signature(&self) -> &Signature {
        &self.signature
    }
}
