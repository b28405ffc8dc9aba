//! File contents for the mount: verification on first access, then serving from
//! a bounded cache of extracted files.
//!
//! The first time any byte of a module (a tree file, its `.zip` or `.ziphash`) is
//! wanted, the module is verified: the zip blob must hash to its content address,
//! and the Hash1 of its decompressed files must equal the trusted `h1:` (recorded
//! at import, or from go.sum files given at mount). Concurrent first readers wait
//! for that single verification. Until it passes nothing is served; if it fails,
//! every read of the module is EIO, one log line says why, and other modules are
//! unaffected.
//!
//! Verification remembers each file's sha256. Files are kept decompressed in a
//! byte-bounded LRU; a file evicted and read again is decompressed again and must
//! match its remembered digest, so an evicted module is re-checked on its next
//! access without holding the whole tree in memory.

use crate::cache::ByteLru;
use crate::error::{Error, Result};
use crate::hash;
use crate::pagebuf::PageBuf;
use crate::rows;
use crate::stats::{self, Stats};
use crate::store::{self, Module, Store};
use crate::verdict::{Backoff, Failure, RETRY_AFTER};
use crate::zipfmt::{self, Entry};

mod files;
mod gomod;
mod lazy;

use files::sha256_file;
pub use files::{pread, spill_file};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

#[derive(Debug, Clone)]
pub struct Options {
    /// Verify modules before serving them (the default). Off only for people who
    /// know their store is intact.
    pub verify: bool,
    /// Bytes of extracted file contents kept in memory.
    pub cache_size: u64,
    /// Where large files are extracted to (as unlinked files), and how many bytes
    /// of them to keep.
    pub spill_dir: PathBuf,
    pub spill_size: u64,
}

/// The hashes a module must have, or why it is refused outright.
#[derive(Debug, Clone)]
struct Trust {
    zip: std::result::Result<Option<String>, String>,
    module: std::result::Result<String, String>,
}

/// A verified module: its open zip blob and the sha256 of each of its files.
pub struct Verified {
    pub zip: File,
    digests: Vec<[u8; 32]>,
}

enum VState {
    Unverified,
    Running,
    Ok(Arc<Verified>),
    /// A verdict: kept until the mount ends.
    Failed(Arc<str>),
    /// The module could not be read (see verdict.rs): tried again after a while.
    Retry(Arc<str>, std::time::Instant),
}

struct ModState {
    /// The module's files from the index, or why the index's list was refused.
    entries: OnceLock<std::result::Result<Arc<[Entry]>, Arc<str>>>,
    verify: Mutex<VState>,
    done: Condvar,
    /// The .mod bytes once they matched their hash (cmd/go opens them very often),
    /// or the verdict that refused them, and the last failure to read them.
    gomod: OnceLock<Bytes>,
    gomod_refused: OnceLock<Arc<str>>,
    gomod_backoff: Backoff,
}

pub struct Content {
    store: Mutex<Store>,
    store_dir: PathBuf,
    /// The modules known so far, by slot (`m`): registered as names are looked up
    /// (see lazy.rs), never all at start-up. Append-only, so `&Module` stays valid.
    pub modules: boxcar::Vec<Module>,
    trust: boxcar::Vec<Trust>,
    states: boxcar::Vec<ModState>,
    slots: lazy::Slots,
    cache: Mutex<ByteLru<(u32, u32), Bytes>>,
    /// Bytes inserted since the heap was last trimmed.
    churn: std::sync::atomic::AtomicU64,
    /// Large files, extracted to unlinked files in the spill directory.
    spilled: Mutex<ByteLru<(u32, u32), Arc<File>>>,
    /// Striped locks so that one file is extracted by one thread at a time even
    /// when several handles want it at once.
    extracting: Vec<Mutex<()>>,
    pub stats: Arc<Stats>,
    opts: Options,
}

/// Bytes reserved in the memory cache for a file being extracted: handed to the
/// cache with the file, or given back if the extraction fails.
struct Reservation<'a> {
    cache: &'a Mutex<ByteLru<(u32, u32), Bytes>>,
    len: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.len > 0 {
            if let Ok(mut c) = self.cache.lock() {
                c.release(self.len);
            }
        }
    }
}

/// Extracted file contents, shared between the cache and open files.
pub type Bytes = Arc<PageBuf>;

pub fn bytes(v: Vec<u8>) -> Bytes {
    Arc::new(PageBuf::new(v))
}

/// `path@version` for messages, escaped: the index is not trusted to hold only
/// names import would accept (see `rows.rs`), and the log must stay one line each.
fn label(m: &Module) -> String {
    crate::logger::printable_str(&format!("{}@{}", m.path, m.version))
}

impl Content {
    /// `extra_sums`: go.sum lines given at mount; they must agree with the store.
    /// Nothing is read from the index here: modules are registered as they are
    /// looked up (lazy.rs).
    pub fn new(store: Store, extra_sums: &[store::Sum], opts: Options, stats: Arc<Stats>) -> Result<Content> {
        if !opts.verify {
            log::warn!("verification is OFF (--verify=off): module contents are served without checking them against their hashes");
        }
        Ok(Content {
            store_dir: store.dir().to_path_buf(),
            store: Mutex::new(store),
            modules: boxcar::Vec::new(),
            trust: boxcar::Vec::new(),
            states: boxcar::Vec::new(),
            slots: lazy::Slots::new(extra_sums),
            cache: Mutex::new(ByteLru::new(opts.cache_size)),
            spilled: Mutex::new(ByteLru::new(opts.spill_size)),
            churn: Default::default(),
            extracting: (0..64).map(|_| Mutex::new(())).collect(),
            stats,
            opts,
        })
    }

    pub fn store_dir(&self) -> &std::path::Path {
        &self.store_dir
    }

    fn state(&self, m: u32) -> Result<&ModState> {
        self.states.get(m as usize).ok_or_else(|| Error::Invalid(format!("no module #{m}")))
    }

    fn module(&self, m: u32) -> Result<&Module> {
        self.modules.get(m as usize).ok_or_else(|| Error::Invalid(format!("no module #{m}")))
    }

    /// `path@version` of every module whose contents were extracted (verified or not).
    pub fn extracted(&self) -> Vec<String> {
        self.states
            .iter()
            .zip(self.modules.iter())
            .filter(|((_, st), _)| st.verify.lock().map(|g| !matches!(*g, VState::Unverified)).unwrap_or(false))
            .map(|(_, (_, m))| label(m))
            .collect()
    }

    /// The module's files, from the index (loaded once). The index is not trusted
    /// with names either: a list breaking the zip name rules (escaping paths, NUL,
    /// case-fold collisions, files that are also directories...) never reaches the
    /// namespace; the module fails with EIO, logged once.
    pub fn entries(&self, m: u32) -> Result<Arc<[Entry]>> {
        let st = self.state(m)?;
        let loaded = match st.entries.get() {
            Some(e) => e.clone(),
            None => {
                let module = self.module(m)?;
                // One more than the row's count: a longer list is refused without
                // reading (or holding) the rest.
                let want = module.zip.as_ref().map_or(0, |z| z.file_count);
                let list: Arc<[Entry]> = if want > PRIVATE_READ_ENTRIES {
                    // A long list is read on a connection of its own, so other
                    // modules' first lookups do not wait for it.
                    Store::open_ro(&self.store_dir)?.entries_at_most(module.id, want + 1)?.into()
                } else {
                    let store = self.store.lock().map_err(|_| Error::Invalid("store lock poisoned".into()))?;
                    store.entries_at_most(module.id, want + 1)?.into()
                };
                let checked = rows::check_entries(module, &list).map(|_| list).map_err(|why| -> Arc<str> {
                    format!(
                        "{}: the store index lists files no module zip could hold: {why}; every file of this module fails with EIO",
                        label(module)
                    )
                    .into()
                });
                stats::inc(&self.stats.modules_loaded);
                let mut first = false;
                let e = st
                    .entries
                    .get_or_init(|| {
                        first = true;
                        checked
                    })
                    .clone();
                if let (true, Err(why)) = (first, &e) {
                    stats::inc(&self.stats.verifications_failed);
                    log::error!("{why}");
                }
                e
            }
        };
        loaded.map_err(|why| Error::Invalid(why.to_string()))
    }

    /// Whether `why` is the refusal of the module's entry list, already logged.
    fn is_entries_refusal(&self, m: u32, why: &str) -> bool {
        self.states.get(m as usize).is_some_and(|st| matches!(st.entries.get(), Some(Err(e)) if **e == *why))
    }

    /// Waits for (or runs) the module's verification.
    pub fn verified(&self, m: u32) -> Result<Arc<Verified>> {
        let st = self.state(m)?;
        let poisoned = || Error::Invalid("verification lock poisoned".into());
        let mut g = st.verify.lock().map_err(|_| poisoned())?;
        loop {
            match &*g {
                VState::Ok(v) => return Ok(v.clone()),
                VState::Failed(why) => return Err(Error::Invalid(why.to_string())),
                VState::Retry(why, at) if at.elapsed() < RETRY_AFTER => return Err(Error::Invalid(why.to_string())),
                VState::Running => g = st.done.wait(g).map_err(|_| poisoned())?,
                VState::Unverified | VState::Retry(..) => break,
            }
        }
        *g = VState::Running;
        drop(g);
        let outcome = self.run_verification(m);
        let mut g = st.verify.lock().map_err(|_| poisoned())?;
        let result = match outcome {
            Ok(v) => {
                let v = Arc::new(v);
                *g = VState::Ok(v.clone());
                Ok(v)
            }
            Err(Failure { why, transient: true }) => {
                log::warn!("{why}");
                *g = VState::Retry(why.clone().into(), std::time::Instant::now());
                Err(Error::Invalid(why))
            }
            Err(Failure { why, transient: false }) => {
                if !self.is_entries_refusal(m, &why) {
                    stats::inc(&self.stats.verifications_failed);
                    log::error!("{why}");
                }
                *g = VState::Failed(why.clone().into());
                Err(Error::Invalid(why))
            }
        };
        st.done.notify_all();
        result
    }

    fn run_verification(&self, m: u32) -> std::result::Result<Verified, Failure> {
        let module = self.module(m).map_err(|e| e.to_string())?;
        let name = label(module);
        let expected = match &self.trust[m as usize].zip {
            Ok(Some(h)) => h.clone(),
            Ok(None) => return Err(format!("{name}: refused: the store has no zip for this module").into()),
            Err(why) => return Err(why.clone().into()),
        };
        let Some(zi) = &module.zip else {
            return Err(format!("{name}: refused: the store has no zip for this module").into());
        };
        let blob = store::blob_path(&self.store_dir, &zi.blob);
        // The log says which it was: a verdict, or a failure to read that the next
        // access tries again.
        let fail = |f: Failure| -> Failure {
            let transient = f.transient;
            f.map(|what| {
                if transient {
                    format!(
                        "{name}: could not read blob (will retry on the next access): {what} (blob {})",
                        blob.display()
                    )
                } else {
                    format!(
                        "{name}: refused: {what} (blob {}); every file of this module fails with EIO",
                        blob.display()
                    )
                }
            })
        };
        let zip =
            store::open_blob(&self.store_dir, &zi.blob).map_err(|e| fail(Failure::io("cannot open zip blob", &e)))?;
        let entries = self.entries(m).map_err(|e| {
            let why = e.to_string();
            if self.is_entries_refusal(m, &why) {
                Failure::verdict(why)
            } else if matches!(e, Error::Db(_)) {
                fail(Failure { why, transient: true })
            } else {
                fail(Failure::verdict(why))
            }
        })?;
        stats::inc(&self.stats.modules_extracted);
        if !self.opts.verify {
            return Ok(Verified { zip, digests: Vec::new() });
        }
        // Two independent checks, on every core when the module is large: the zip
        // bytes themselves (served as <v>.zip) must be the bytes imported, and the
        // tree's Hash1 must be the trusted one. Nothing is served until both pass
        // (readers wait in `verified`).
        let check_blob = |got: std::io::Result<String>| match got {
            Err(e) => Err(fail(Failure::io("cannot read zip blob", &e))),
            Ok(got) if got != zi.blob => {
                Err(fail(Failure::verdict(format!("zip blob is corrupt: its sha256 is {got}, expected {}", zi.blob))))
            }
            Ok(_) => Ok(()),
        };
        let tree = if zi.size < PARALLEL_HASH_BYTES {
            check_blob(sha256_file(&zip))?;
            self.hash_tree(m, module, &zip, &entries)
        } else {
            let (blob_sha, tree) = std::thread::scope(|s| {
                let blob_sha = s.spawn(|| sha256_file(&zip));
                let tree = self.hash_tree(m, module, &zip, &entries);
                let panicked = || Err(std::io::Error::other("the thread hashing it panicked"));
                (blob_sha.join().unwrap_or_else(|_| panicked()), tree)
            });
            // A blob that is not the one imported says more than whatever is wrong inside it.
            check_blob(blob_sha)?;
            tree
        };
        let (h1, digests) = tree.map_err(fail)?;
        if h1 != expected {
            return Err(fail(Failure::verdict(format!("checksum mismatch: expected {expected}, got {h1}"))));
        }
        stats::inc(&self.stats.verifications_ok);
        Ok(Verified { zip, digests })
    }

    /// The Hash1 of a module's zip blob and the sha256 of each of its files (in
    /// index order), after checking the blob's structure.
    ///
    /// The index was built from this zip at import, but whoever could swap the blob
    /// could rewrite the index too (and its sha256, sizes, entries and h1 to match):
    /// the blob's sha256 and the recorded h1 then prove nothing. So the blob passes
    /// the import validator's structural rules again (names, declared sizes, local
    /// headers, overlaps, zip64), and the index's entry list must be exactly the one
    /// the validator reads from it, before a byte is inflated.
    fn hash_tree(
        &self,
        m: u32,
        module: &Module,
        zip: &File,
        entries: &[Entry],
    ) -> std::result::Result<(String, Vec<[u8; 32]>), Failure> {
        let layout = zipfmt::check_layout_file(zip, &module.path, &module.version)
            .map_err(|e| Failure::io("cannot read zip blob", &e))?
            .map_err(|e| match &e.entry {
                Some(entry) => format!("invalid module zip: {entry}: {}", e.rule),
                None => format!("invalid module zip: {}", e.rule),
            })?;
        let files = layout.files();
        if files[..] != entries[..] {
            let differ = files.iter().zip(entries.iter()).find(|(a, b)| a != b);
            return Err(match differ {
                Some((z, i)) => {
                    format!("the index disagrees with the zip blob about {:?} (index {i:?}, zip {z:?})", i.name)
                }
                None => format!("the index lists {} files, the zip blob holds {}", entries.len(), files.len()),
            }
            .into());
        }
        // Keep the files of small modules: they are about to be read. (Only small ones:
        // a large tree would flush the cache for files nobody may ask for.)
        let keep = layout.total_size <= self.opts.cache_size / 16;
        // Large trees are inflated in slices, one thread each (the caller's thread
        // takes the first).
        let slices = slices_for(&layout.items, layout.total_size);
        let parts: Vec<std::result::Result<Vec<Hashed>, Failure>> = std::thread::scope(|s| {
            let rest: Vec<_> = slices[1..]
                .iter()
                .map(|r| {
                    let items = &layout.items[r.clone()];
                    s.spawn(move || self.hash_items(m, zip, entries, items, keep))
                })
                .collect();
            let mut parts = vec![self.hash_items(m, zip, entries, &layout.items[slices[0].clone()], keep)];
            parts.extend(
                rest.into_iter()
                    .map(|t| t.join().unwrap_or_else(|_| Err(Failure::verdict("a hashing thread panicked")))),
            );
            parts
        });
        let mut digests = vec![[0u8; 32]; entries.len()];
        let mut named = Vec::with_capacity(layout.items.len());
        let mut items = layout.items.iter();
        for part in parts {
            for (slot, d) in part? {
                let Some(item) = items.next() else { break };
                named.push((item.full.as_str(), d));
                if let Some(i) = slot {
                    digests[i] = d;
                }
            }
        }
        Ok((hash::hash1(&named), digests))
    }

    /// The slot and sha256 of each of `items`, directory entries too (Hash1 names them:
    /// leaving them out would refuse a valid module). With `keep`, files small
    /// enough for the memory cache are put there, since they are about to be read.
    fn hash_items(
        &self,
        m: u32,
        zip: &File,
        entries: &[Entry],
        items: &[zipfmt::LayoutItem],
        keep: bool,
    ) -> std::result::Result<Vec<Hashed>, Failure> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let e = &item.entry;
            // The index is sorted by name and equal to the layout's files: a file's slot.
            let slot = match item.is_file {
                true => Some(
                    entries
                        .binary_search_by(|x| x.name.as_str().cmp(&e.name))
                        .map_err(|_| format!("{}: not in the index", crate::logger::printable_str(&e.name)))?,
                ),
                false => None,
            };
            let d: [u8; 32] = if let Some(slot) = slot.filter(|_| keep && !self.is_large(e)) {
                let (reserved, mut data) = self.reserve(e.size);
                zipfmt::read_entry_into(zip, e, data.as_mut_slice())
                    .map_err(|err| Failure::io("cannot extract", &err))?;
                let d = hash::sha256(&data);
                self.cache_put((m, slot as u32), Arc::new(data), reserved);
                d
            } else {
                // Streamed: a large file never sits in memory whole just to be hashed.
                let mut h = Sha256::new();
                zipfmt::stream_entry(zip, e, &mut |chunk| h.update(chunk))
                    .map_err(|err| Failure::io("cannot extract", &err))?;
                h.finalize().into()
            };
            out.push((slot, d));
        }
        Ok(out)
    }

    /// Files over a sixteenth of the memory cache are served from the spill directory
    /// instead, so one large file cannot push the daemon past its memory bound.
    pub fn is_large(&self, e: &Entry) -> bool {
        e.size > self.opts.cache_size / 16
    }

    /// Room in the memory cache for a file of `size` bytes about to be extracted,
    /// and the buffer to extract it into. Reserving first keeps what is cached plus
    /// what is being extracted within `--cache-size`, however many threads extract.
    fn reserve(&self, size: u64) -> (Reservation<'_>, PageBuf) {
        let len = PageBuf::footprint_of(size as usize);
        if let Ok(mut c) = self.cache.lock() {
            let evicted = c.reserve(len);
            self.note_evictions(&c, evicted, len);
        }
        (Reservation { cache: &self.cache, len }, PageBuf::zeroed(size as usize))
    }

    fn cache_put(&self, k: (u32, u32), v: Bytes, mut reserved: Reservation<'_>) {
        let n = v.footprint();
        if let Ok(mut c) = self.cache.lock() {
            c.release(std::mem::take(&mut reserved.len));
            let evicted = c.insert(k, v, n);
            self.note_evictions(&c, evicted, n);
        }
    }

    fn note_evictions(&self, c: &ByteLru<(u32, u32), Bytes>, evicted: u64, n: u64) {
        self.stats.cache_bytes.store(c.bytes(), Relaxed);
        self.stats.cache_files.store(c.len() as u64, Relaxed);
        if evicted > 0 {
            stats::add(&self.stats.cache_evictions, evicted);
            // Evicted files leave holes all over the heap that glibc keeps mapped.
            // Hand whole free pages back every quarter cache's worth of churn, so RSS
            // tracks the cache's real contents.
            let churn = self.churn.fetch_add(n, Relaxed) + n;
            if churn >= self.opts.cache_size / 4 {
                self.churn.store(0, Relaxed);
                unsafe { libc::malloc_trim(0) };
            }
        }
    }

    /// A file from the memory cache, if it is there (never extracts).
    pub fn cached(&self, m: u32, e: u32) -> Option<Bytes> {
        let hit = self.cache.lock().ok().and_then(|mut c| c.get(&(m, e)))?;
        stats::inc(&self.stats.cache_hits);
        Some(hit)
    }

    fn entry(&self, m: u32, e: u32) -> Result<(Arc<[Entry]>, &Module)> {
        let entries = self.entries(m)?;
        let module = self.module(m)?;
        if entries.get(e as usize).is_none() {
            return Err(Error::Invalid(format!("{}: no entry #{e}", label(module))));
        }
        Ok((entries, module))
    }

    fn extraction_lock(&self, m: u32, e: u32) -> Result<std::sync::MutexGuard<'_, ()>> {
        let stripe = (m as usize).wrapping_mul(31).wrapping_add(e as usize) % self.extracting.len();
        self.extracting[stripe].lock().map_err(|_| Error::Invalid("lock poisoned".into()))
    }

    /// Refuses bytes that differ from what verification saw (the blob changed since).
    fn check_digest(&self, v: &Verified, module: &Module, e: u32, entry: &Entry, got: [u8; 32]) -> Result<()> {
        match v.digests.get(e as usize) {
            Some(want) if *want != got => {
                let why = format!(
                    "{}: {} changed since the module was verified (zip blob modified?); refusing to serve it",
                    label(module),
                    crate::logger::printable_str(&entry.name)
                );
                log::error!("{why}");
                stats::inc(&self.stats.verifications_failed);
                Err(Error::Invalid(why))
            }
            _ => Ok(()),
        }
    }

    /// The contents of one (not large) file of a module tree, from the memory cache.
    pub fn file(&self, m: u32, e: u32) -> Result<Bytes> {
        let v = self.verified(m)?;
        if let Some(hit) = self.cached(m, e) {
            return Ok(hit);
        }
        let _one_at_a_time = self.extraction_lock(m, e)?;
        if let Some(hit) = self.cached(m, e) {
            return Ok(hit);
        }
        stats::inc(&self.stats.cache_misses);
        let (entries, module) = self.entry(m, e)?;
        let entry = &entries[e as usize];
        let (reserved, mut data) = self.reserve(entry.size);
        zipfmt::read_entry_into(&v.zip, entry, data.as_mut_slice()).map_err(|err| {
            Error::Invalid(format!(
                "{}: {}: cannot extract: {err}",
                label(module),
                crate::logger::printable_str(&entry.name)
            ))
        })?;
        self.check_digest(&v, module, e, entry, hash::sha256(&data))?;
        let data: Bytes = Arc::new(data);
        self.cache_put((m, e), data.clone(), reserved);
        Ok(data)
    }

    /// A large file of a module tree, extracted once into an unlinked file in the
    /// spill directory; readers pread from it, so it costs no daemon memory.
    pub fn large_file(&self, m: u32, e: u32) -> Result<Arc<File>> {
        let v = self.verified(m)?;
        let lookup = || self.spilled.lock().ok().and_then(|mut c| c.get(&(m, e)));
        if let Some(f) = lookup() {
            stats::inc(&self.stats.cache_hits);
            return Ok(f);
        }
        let _one_at_a_time = self.extraction_lock(m, e)?;
        if let Some(f) = lookup() {
            stats::inc(&self.stats.cache_hits);
            return Ok(f);
        }
        stats::inc(&self.stats.cache_misses);
        let (entries, module) = self.entry(m, e)?;
        let entry = &entries[e as usize];
        let io_err = |what: &str, err: std::io::Error| {
            Error::Invalid(format!("{}: {}: {what}: {err}", label(module), crate::logger::printable_str(&entry.name)))
        };
        let mut out = spill_file(&self.opts.spill_dir)
            .map_err(|err| io_err(&format!("cannot create a file in {}", self.opts.spill_dir.display()), err))?;
        let mut h = Sha256::new();
        let mut write_err = None;
        zipfmt::stream_entry(&v.zip, entry, &mut |chunk| {
            h.update(chunk);
            if write_err.is_none() {
                write_err = out.write_all(chunk).err();
            }
        })
        .map_err(|err| io_err("cannot extract", err))?;
        if let Some(err) = write_err {
            return Err(io_err("cannot write to the spill directory", err));
        }
        self.check_digest(&v, module, e, entry, h.finalize().into())?;
        let f = Arc::new(out);
        if let Ok(mut c) = self.spilled.lock() {
            stats::add(&self.stats.cache_evictions, c.insert((m, e), f.clone(), entry.size));
            self.stats.spill_bytes.store(c.bytes(), Relaxed);
            self.stats.spill_files.store(c.len() as u64, Relaxed);
        }
        Ok(f)
    }

    /// Whether answering for this module can block: not yet verified (or failed,
    /// which is quick too, but rare enough to leave to the workers).
    pub fn is_verified(&self, m: u32) -> bool {
        self.states.get(m as usize).is_some_and(|st| st.verify.try_lock().is_ok_and(|g| matches!(*g, VState::Ok(_))))
    }

    /// `<v>.ziphash`: only once the module verified (cmd/go trusts this file).
    pub fn ziphash(&self, m: u32) -> Result<Vec<u8>> {
        self.verified(m)?;
        let module = self.module(m)?;
        module
            .zip
            .as_ref()
            .map(|z| z.h1.clone().into_bytes())
            .ok_or_else(|| Error::Invalid(format!("{}: no zip", label(module))))
    }

    /// Reads from the verified zip blob (served as `<v>.zip`).
    pub fn read_zip(&self, v: &Verified, offset: u64, size: u32) -> Result<Vec<u8>> {
        pread(&v.zip, offset, size).map_err(|e| Error::io("zip blob", e))
    }
}

/// Up to `size` bytes of `f` from `offset` (fewer at the end of the file).
/// A zip entry's slot in the module's (sorted) entry list, None for a directory
/// entry, and the sha256 of its contents.
type Hashed = (Option<usize>, [u8; 32]);

/// Entry lists longer than this are read from the index on their own connection.
const PRIVATE_READ_ENTRIES: u64 = 20_000;

/// Trees smaller than this are hashed by one thread: starting more costs more
/// than it saves.
const PARALLEL_HASH_BYTES: u64 = 8 << 20;

/// Splits `items` into contiguous slices of about equal uncompressed size, one per
/// core (at most 4), so a large module's verification uses the whole machine.
fn slices_for(items: &[zipfmt::LayoutItem], total_size: u64) -> Vec<std::ops::Range<usize>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) as u64;
    if total_size < PARALLEL_HASH_BYTES || cores < 2 || items.len() < 2 {
        return std::iter::once(0..items.len()).collect();
    }
    let share = total_size.div_ceil(cores);
    let (mut out, mut start, mut acc) = (Vec::new(), 0, 0u64);
    for (i, item) in items.iter().enumerate() {
        acc += item.entry.size;
        if acc >= share && out.len() + 1 < cores as usize && i + 1 < items.len() {
            out.push(start..i + 1);
            (start, acc) = (i + 1, 0);
        }
    }
    out.push(start..items.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(size: u64) -> zipfmt::LayoutItem {
        let entry = Entry { name: String::new(), data_offset: 0, compressed_size: size, size, method: 8, crc32: 0 };
        zipfmt::LayoutItem { full: String::new(), label: String::new(), is_file: true, entry }
    }

    /// Slices cover every item once, in order, and share the bytes about evenly.
    #[test]
    fn hashing_slices_are_contiguous_and_balanced() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
        // Small trees: one slice, however many items.
        let small: Vec<_> = (0..1000).map(|_| item(1000)).collect();
        assert_eq!(slices_for(&small, 1_000_000), vec![0..1000]);
        // 40 files of 1 MiB and one of 9 MiB at the end.
        let mut big: Vec<_> = (0..40).map(|_| item(1 << 20)).collect();
        big.push(item(9 << 20));
        let total: u64 = big.iter().map(|i| i.entry.size).sum();
        let slices = slices_for(&big, total);
        assert!(!slices.is_empty() && slices.len() <= cores, "{slices:?}");
        assert_eq!(slices.first().map(|r| r.start), Some(0));
        assert_eq!(slices.last().map(|r| r.end), Some(big.len()));
        assert!(slices.windows(2).all(|w| w[0].end == w[1].start && w[0].start < w[0].end), "{slices:?}");
        let share = total.div_ceil(cores as u64);
        for r in &slices[..slices.len() - 1] {
            let bytes: u64 = big[r.clone()].iter().map(|i| i.entry.size).sum();
            assert!(bytes >= share && bytes < share + (9 << 20), "{r:?}: {bytes} bytes, share {share}");
        }
    }
}
