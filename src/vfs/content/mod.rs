//! File contents for the mount: verification of what is read, when it is read,
//! then serving from a bounded cache of extracted files.
//!
//! The trusted `h1:` of a module (recorded at import, checked against go.sum files
//! given at mount: trust.rs) is a hash over its list of `sha256(file)  name` lines,
//! and the index keeps that list (store/digests.rs). So by default (`--verify=lazy`)
//! the first access to a module's tree checks the index's list (names and digests,
//! exactly the namespace's entries, plus the zip's directory entries) against the
//! `h1:` without inflating anything (verify/digests.rs; load.rs runs it beside
//! the list's other first-use checks), and the blob's size against the
//! index; then each file, as it is extracted and before it enters the memory cache
//! or a spill file, must pass the structure check of its entry (verify/entry.rs) and hash
//! to its listed digest. The `.zip` and `.ziphash` files are the zip itself: they
//! are served only once the whole module verified (verify/whole.rs: the blob hashes to
//! its recorded sha256, passes the import validator's structure rules, and its
//! inflated files hash to the trusted `h1:`). `--verify=full` verifies the whole
//! module on first touch of anything, as older releases did; a module whose index
//! rows predate per-file digests is verified whole too (logged once).
//!
//! Concurrent first readers wait for a single check (once.rs). A verdict - a list
//! that disagrees with the `h1:`, one file that fails - refuses the module: every
//! read of it is EIO from then on, one log line names the module (and the file),
//! and other modules are unaffected. Files are kept decompressed in a byte-bounded
//! LRU; a file evicted and read again is extracted and checked again.

use crate::error::{Error, Result};
use crate::ops::stats::Stats;
use crate::store::{self, Module, Store};
use crate::verify::verdict::{Backoff, Failure};
use crate::vfs::cache::ByteLru;
use crate::vfs::pagebuf::PageBuf;
use crate::zip::Entry;

mod files;
mod gomod;
mod lazy;
mod load;
mod once;

pub(crate) use files::{pread, spill_file};
use once::Once;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

/// How much is checked before bytes are served (`--verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing: for people who know their store is intact.
    Off,
    /// The file list against the `h1:` on first access, each file as it is
    /// extracted, the whole zip before `.zip` or `.ziphash` is served (the default).
    Lazy,
    /// The whole module on first access to any of its files.
    Full,
}

impl Verify {
    /// `--verify`'s values; `on` is the default, `lazy`.
    pub(crate) fn parse(s: &str) -> std::result::Result<Verify, String> {
        match s {
            "lazy" | "on" | "true" | "yes" | "1" => Ok(Verify::Lazy),
            "full" => Ok(Verify::Full),
            "off" | "false" | "no" | "0" => Ok(Verify::Off),
            _ => Err(format!("expected lazy, full or off, not {s:?}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub verify: Verify,
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

/// A checked module: its open zip blob and the sha256 each of its files must have
/// (empty with `--verify=off`).
pub(crate) struct Verified {
    pub zip: File,
    digests: Vec<[u8; 32]>,
}

struct ModState {
    /// The module's files from the index, or why the index's list was refused.
    entries: OnceLock<std::result::Result<Arc<[Entry]>, Arc<str>>>,
    /// The file list checked against the `h1:` (lazy verification).
    list: Once<Verified>,
    /// The whole module checked (`--verify=full`, `.zip`, `.ziphash`).
    whole: Once<Verified>,
    /// The verdict that refused the module, kept until the mount ends.
    refused: OnceLock<Arc<str>>,
    /// The module passed a check already (counted once in the stats).
    counted: AtomicBool,
    /// A file of the module was inflated already (counted once in the stats).
    extracted: AtomicBool,
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
    /// Every index segment has per-file digests (schema 3); else modules without
    /// them are verified whole.
    has_digests: bool,
    cache: Mutex<ByteLru<(u32, u32), Bytes>>,
    /// Bytes inserted since the heap was last trimmed.
    churn: std::sync::atomic::AtomicU64,
    /// Large files, extracted to unlinked files in the spill directory.
    spilled: Mutex<ByteLru<(u32, u32), Arc<File>>>,
    /// Striped locks so that one file is extracted by one thread at a time even
    /// when several handles want it at once.
    extracting: Vec<Mutex<()>>,
    pub(crate) stats: Arc<Stats>,
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
pub(crate) type Bytes = Arc<PageBuf>;

pub(crate) fn bytes(v: Vec<u8>) -> Bytes {
    Arc::new(PageBuf::new(v))
}

/// What a read answers with: a range of a shared buffer (a file in the memory
/// cache, sent to the kernel from there, with no copy) or bytes of its own.
pub(crate) enum Data {
    Shared(Bytes, std::ops::Range<usize>),
    Owned(Vec<u8>),
}

impl Data {
    /// Bytes `offset..offset+size` of `b`, cut short at its end.
    pub(crate) fn of(b: Bytes, offset: u64, size: u32) -> Data {
        let span = span(b.len(), offset, size);
        Data::Shared(b, span)
    }
}

/// Where bytes `offset..offset+size` of `len` bytes are, cut short at the end.
pub(crate) fn span(len: usize, offset: u64, size: u32) -> std::ops::Range<usize> {
    let start = offset.min(len as u64) as usize;
    let end = offset.saturating_add(u64::from(size)).min(len as u64) as usize;
    start..end
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Shared(b, r) => b.get(r.clone()).unwrap_or_default(),
            Data::Owned(v) => v,
        }
    }
}

impl Content {
    /// `extra_sums`: go.sum lines given at mount; they must agree with the store.
    /// Nothing is read from the index here: modules are registered as they are
    /// looked up (lazy.rs).
    pub fn new(store: Store, extra_sums: &[store::Sum], opts: Options, stats: Arc<Stats>) -> Result<Content> {
        if opts.verify == Verify::Off {
            log::warn!("verification is OFF (--verify=off): module contents are served without checking them against their hashes");
        }
        let has_digests = store.has_digests()?;
        if !has_digests && opts.verify == Verify::Lazy {
            log::warn!(
                "the store index has no per-file digests (made by an older modcachefs): every module is verified whole on first access; `modcachefs import` of the store's sources records them"
            );
        }
        Ok(Content {
            store_dir: store.dir().to_path_buf(),
            store: Mutex::new(store),
            modules: boxcar::Vec::new(),
            trust: boxcar::Vec::new(),
            states: boxcar::Vec::new(),
            slots: lazy::Slots::new(extra_sums),
            has_digests,
            cache: Mutex::new(ByteLru::new(opts.cache_size)),
            spilled: Mutex::new(ByteLru::new(opts.spill_size)),
            churn: Default::default(),
            extracting: (0..64).map(|_| Mutex::new(())).collect(),
            stats,
            opts,
        })
    }

    pub(crate) fn store_dir(&self) -> &std::path::Path {
        &self.store_dir
    }

    fn state(&self, m: u32) -> Result<&ModState> {
        self.states.get(m as usize).ok_or_else(|| Error::Invalid(format!("no module #{m}")))
    }

    fn module(&self, m: u32) -> Result<&Module> {
        self.modules.get(m as usize).ok_or_else(|| Error::Invalid(format!("no module #{m}")))
    }

    /// `path@version` of every module whose contents were extracted (verified or not).
    pub(crate) fn extracted(&self) -> Vec<String> {
        self.states
            .iter()
            .zip(self.modules.iter())
            .filter(|((_, st), _)| st.extracted.load(Relaxed))
            .map(|(_, (_, m))| m.label())
            .collect()
    }

    /// Whether `why` is the refusal of the module's entry list, already logged.
    fn is_entries_refusal(&self, m: u32, why: &str) -> bool {
        self.states.get(m as usize).is_some_and(|st| matches!(st.entries.get(), Some(Err(e)) if **e == *why))
    }

    /// The verdict that refused the module, if one did.
    fn refusal(&self, m: u32) -> Option<Arc<str>> {
        self.states.get(m as usize).and_then(|st| st.refused.get().cloned())
    }

    fn check_refusal(&self, m: u32) -> Result<()> {
        match self.refusal(m) {
            Some(why) => Err(self.refused_error(m, &why)),
            None => Ok(()),
        }
    }

    /// The verdict `why` (which begins with the module's label) as an error.
    fn refused_error(&self, m: u32, why: &str) -> Error {
        let module = self.module(m).map(Module::label).unwrap_or_default();
        let reason = why.strip_prefix(&format!("{module}: ")).unwrap_or(why).to_string();
        Error::Refused { module, reason }
    }

    /// A check's error: the module's verdict if it was refused meanwhile.
    fn or_refused(&self, m: u32, e: Error) -> Error {
        match self.refusal(m) {
            Some(why) => self.refused_error(m, &why),
            None => e,
        }
    }

    /// Refuses module `m` for `why` (which names it): the first verdict is kept,
    /// counted and logged once; every later read of the module fails with it.
    fn refuse(&self, m: u32, why: &str) -> Arc<str> {
        let Some(st) = self.states.get(m as usize) else { return why.into() };
        let mut first = false;
        let kept = st
            .refused
            .get_or_init(|| {
                first = true;
                why.into()
            })
            .clone();
        if first && !self.is_entries_refusal(m, why) {
            crate::ops::stats::inc(&self.stats.verifications_failed);
            log::error!("{why}");
        }
        kept
    }

    /// Counts the module's first inflation (of a file, or of all of them).
    fn note_extracted(&self, m: u32) {
        if self.states.get(m as usize).is_some_and(|st| !st.extracted.swap(true, Relaxed)) {
            crate::ops::stats::inc(&self.stats.modules_extracted);
        }
    }

    /// Counts the module's first passed check.
    fn passed(&self, m: u32) {
        if self.states.get(m as usize).is_some_and(|st| !st.counted.swap(true, Relaxed)) {
            crate::ops::stats::inc(&self.stats.verifications_ok);
        }
    }

    /// Waits for (or runs) the check of the whole module: what `.zip` and
    /// `.ziphash` need, and every file with `--verify=full`.
    pub(crate) fn verified(&self, m: u32) -> Result<Arc<Verified>> {
        self.check_refusal(m)?;
        let st = self.state(m)?;
        st.whole.get(|| self.run_whole(m), |why| self.refuse(m, why)).map_err(|e| self.or_refused(m, e))
    }

    /// Whether the check [`Content::ready`] runs for a tree file is the (cheap)
    /// check of the module's list, and has not started: with `--verify=full` it is
    /// the whole module, which the reads themselves should wait for.
    pub(crate) fn list_check_pending(&self, m: u32) -> bool {
        self.opts.verify == Verify::Lazy && self.states.get(m as usize).is_some_and(|st| !st.list.started())
    }

    /// Waits for (or runs) the check that lets the module's tree files be
    /// extracted: its file list (lazy), or the whole module (`--verify=full`).
    pub(crate) fn ready(&self, m: u32) -> Result<Arc<Verified>> {
        if self.opts.verify == Verify::Full {
            return self.verified(m);
        }
        self.check_refusal(m)?;
        let st = self.state(m)?;
        let v = st.list.get(|| self.run_list(m), |why| self.refuse(m, why)).map_err(|e| self.or_refused(m, e))?;
        // Counted when first needed: a list checked ahead (load.rs) for a module
        // nothing is read from is not counted.
        if self.opts.verify == Verify::Lazy {
            self.passed(m);
        }
        Ok(v)
    }

    /// The module's blob, opened, and its entries; failures say which they were.
    fn open_module(&self, m: u32) -> std::result::Result<Opened<'_>, Failure> {
        let module = self.module(m).map_err(|e| e.to_string())?;
        let name = module.label();
        let Some(zi) = &module.zip else {
            return Err(format!("{name}: refused: the store has no zip for this module").into());
        };
        let blob = store::blob_path(&self.store_dir, &zi.blob);
        let zip = store::open_blob(&self.store_dir, &zi.blob)
            .map_err(|e| self.blob_failure(module, Failure::io("cannot open zip blob", &e)))?;
        let entries = self.entries(m).map_err(|e| {
            let why = e.to_string();
            if self.is_entries_refusal(m, &why) {
                Failure::verdict(why)
            } else if matches!(e, Error::Db(_)) {
                Failure { why: format!("{why} (blob {})", blob.display()), transient: true }
            } else {
                self.blob_failure(module, Failure::verdict(why))
            }
        })?;
        Ok((zip, entries, module, zi))
    }

    /// The log says which it was: a verdict, or a failure to read that the next
    /// access tries again.
    fn blob_failure(&self, module: &Module, f: Failure) -> Failure {
        let name = module.label();
        let blob = module.zip.as_ref().map(|z| store::blob_path(&self.store_dir, &z.blob)).unwrap_or_default();
        let transient = f.transient;
        f.map(|what| {
            if transient {
                format!("{name}: could not read blob (will retry on the next access): {what} (blob {})", blob.display())
            } else {
                format!("{name}: refused: {what} (blob {}); every file of this module fails with EIO", blob.display())
            }
        })
    }

    /// The trusted `h1:` of the module's zip, or the verdict refusing it.
    fn trusted_zip_h1(&self, m: u32, module: &Module) -> std::result::Result<String, Failure> {
        match &self.trust[m as usize].zip {
            Ok(Some(h)) => Ok(h.clone()),
            Ok(None) => Err(format!("{}: refused: the store has no zip for this module", module.label()).into()),
            Err(why) => Err(why.clone().into()),
        }
    }

    /// The whole module: the blob's sha256 as recorded, its structure, and the
    /// Hash1 of its inflated files against the trusted `h1:` (verifier.rs).
    fn run_whole(&self, m: u32) -> std::result::Result<Verified, Failure> {
        let (zip, entries, module, zi) = self.open_module(m)?;
        self.note_extracted(m);
        if self.opts.verify == Verify::Off {
            return Ok(Verified { zip, digests: Vec::new() });
        }
        let expected = self.trusted_zip_h1(m, module)?;
        // With --verify=full, keep the files of small modules: they are about to be
        // read (and are served only once the verdict is in: see `is_ready`). Only
        // small ones: a large tree would flush the cache for files nobody may ask for.
        let keep = self.opts.verify == Verify::Full && zi.tree_size <= self.opts.cache_size / 16;
        let take = |slot: usize, e: &Entry| -> Option<std::io::Result<[u8; 32]>> {
            if self.is_large(e) {
                return None;
            }
            let (reserved, mut data) = self.reserve(e.size);
            if let Err(err) = crate::zip::read_entry_into(&zip, e, data.as_mut_slice()) {
                return Some(Err(err));
            }
            let d = crate::gomod::h1::sha256(&data);
            self.cache_put((m, slot as u32), Arc::new(data), reserved);
            Some(Ok(d))
        };
        let take: Option<crate::verify::whole::Take<'_>> = if keep { Some(&take) } else { None };
        let whole = crate::verify::whole::verify_zip(&zip, &zi.blob, module, &entries, take)
            .map_err(|f| self.blob_failure(module, f))?;
        if whole.h1 != expected {
            let why = format!("checksum mismatch: expected {expected}, got {}", whole.h1);
            return Err(self.blob_failure(module, Failure::verdict(why)));
        }
        self.passed(m);
        Ok(Verified { zip, digests: whole.digests })
    }

    /// Files over a sixteenth of the memory cache are served from the spill directory
    /// instead, so one large file cannot push the daemon past its memory bound.
    pub(crate) fn is_large(&self, e: &Entry) -> bool {
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
            crate::ops::stats::add(&self.stats.cache_evictions, evicted);
            // Evicted files leave holes all over the heap that glibc keeps mapped.
            // Hand whole free pages back every quarter cache's worth of churn, so RSS
            // tracks the cache's real contents.
            let churn = self.churn.fetch_add(n, Relaxed) + n;
            if churn >= self.opts.cache_size / 4 {
                self.churn.store(0, Relaxed);
                // SAFETY: malloc_trim only returns free heap memory to the kernel; it
                // takes no pointers and has no preconditions.
                unsafe { libc::malloc_trim(0) };
            }
        }
    }

    /// A file from the memory cache, if it is there (never extracts), and only
    /// while its module stands: files kept during a whole check count once it
    /// passed, and none once the module is refused.
    pub(crate) fn cached(&self, m: u32, e: u32) -> Option<Bytes> {
        if !self.is_ready(m) {
            return None;
        }
        let hit = self.cache.lock().ok().and_then(|mut c| c.get(&(m, e)))?;
        crate::ops::stats::inc(&self.stats.cache_hits);
        Some(hit)
    }

    fn entry(&self, m: u32, e: u32) -> Result<(Arc<[Entry]>, &Module)> {
        let entries = self.entries(m)?;
        let module = self.module(m)?;
        if entries.get(e as usize).is_none() {
            return Err(Error::Invalid(format!("{}: no entry #{e}", module.label())));
        }
        Ok((entries, module))
    }

    fn extraction_lock(&self, m: u32, e: u32) -> Result<std::sync::MutexGuard<'_, ()>> {
        let stripe = (m as usize).wrapping_mul(31).wrapping_add(e as usize) % self.extracting.len();
        self.extracting[stripe].lock().map_err(|_| Error::Invalid("lock poisoned".into()))
    }

    /// Refuses the module for what one of its files is (logged once, naming both).
    fn file_verdict(&self, m: u32, module: &Module, entry: &Entry, what: &str) -> Error {
        let why = format!(
            "{}: refused: {}: {what}; every file of this module fails with EIO",
            module.label(),
            crate::ops::logger::printable_str(&entry.name)
        );
        let kept = self.refuse(m, &why);
        self.refused_error(m, &kept)
    }

    /// A failure to extract: a verdict when it is about the bytes (bad deflate data,
    /// a CRC or size that disagrees), else the kernel's error, tried again next time.
    fn extract_error(&self, m: u32, module: &Module, entry: &Entry, err: std::io::Error) -> Error {
        match err.raw_os_error() {
            Some(_) => {
                let blob = module.zip.as_ref().map(|z| store::blob_path(&self.store_dir, &z.blob)).unwrap_or_default();
                log::warn!(
                    "{}: {}: cannot extract: {err}",
                    module.label(),
                    crate::ops::logger::printable_str(&entry.name)
                );
                Error::io(blob, err)
            }
            None => self.file_verdict(m, module, entry, &format!("cannot extract: {err}")),
        }
    }

    /// Lazy verification's structure check of one entry, before it is inflated
    /// (the whole check covered it otherwise).
    fn check_structure(&self, m: u32, v: &Verified, module: &Module, entry: &Entry) -> Result<()> {
        if self.opts.verify != Verify::Lazy {
            return Ok(());
        }
        let full = format!("{}@{}/{}", module.path, module.version, entry.name);
        match crate::verify::entry::check(&v.zip, &full, entry) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(self.file_verdict(m, module, entry, &format!("invalid module zip: {why}"))),
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(self.file_verdict(m, module, entry, "invalid module zip: the entry lies past the end of the blob"))
            }
            Err(err) => Err(self.extract_error(m, module, entry, err)),
        }
    }

    /// Refuses bytes that differ from the digest the file must have.
    fn check_digest(&self, m: u32, v: &Verified, module: &Module, e: u32, entry: &Entry, got: [u8; 32]) -> Result<()> {
        match v.digests.get(e as usize) {
            Some(want) if *want != got => Err(self.file_verdict(
                m,
                module,
                entry,
                &format!(
                    "its sha256 is {}, the module's file list says {}",
                    crate::gomod::h1::hex(&got),
                    crate::gomod::h1::hex(want)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Bytes `offset..offset+size` of file `e` of module `m`, verified: from the
    /// memory cache, or for a large file from its spill file (the policy is here,
    /// with the bytes' owner).
    pub(crate) fn read_file(&self, m: u32, e: u32, offset: u64, size: u32) -> Result<Data> {
        self.ready(m)?;
        if self.entries(m)?.get(e as usize).is_some_and(|en| self.is_large(en)) {
            let f = self.large_file(m, e)?;
            return pread(&f, offset, size)
                .map(Data::Owned)
                .map_err(|e| Error::io(self.opts.spill_dir.join("(spilled file)"), e));
        }
        Ok(Data::of(self.file(m, e)?, offset, size))
    }

    /// The contents of one (not large) file of a module tree, from the memory cache.
    pub(crate) fn file(&self, m: u32, e: u32) -> Result<Bytes> {
        let v = self.ready(m)?;
        if let Some(hit) = self.cached(m, e) {
            return Ok(hit);
        }
        let _one_at_a_time = self.extraction_lock(m, e)?;
        if let Some(hit) = self.cached(m, e) {
            return Ok(hit);
        }
        crate::ops::stats::inc(&self.stats.cache_misses);
        self.note_extracted(m);
        let (entries, module) = self.entry(m, e)?;
        let entry = &entries[e as usize];
        self.check_structure(m, &v, module, entry)?;
        let (reserved, mut data) = self.reserve(entry.size);
        crate::zip::read_entry_into(&v.zip, entry, data.as_mut_slice())
            .map_err(|err| self.extract_error(m, module, entry, err))?;
        self.check_digest(m, &v, module, e, entry, crate::gomod::h1::sha256(&data))?;
        let data: Bytes = Arc::new(data);
        self.cache_put((m, e), data.clone(), reserved);
        Ok(data)
    }

    /// A large file of a module tree, extracted once into an unlinked file in the
    /// spill directory; readers pread from it, so it costs no daemon memory.
    pub(crate) fn large_file(&self, m: u32, e: u32) -> Result<Arc<File>> {
        let v = self.ready(m)?;
        let lookup = || self.spilled.lock().ok().and_then(|mut c| c.get(&(m, e))).filter(|_| self.is_ready(m));
        if let Some(f) = lookup() {
            crate::ops::stats::inc(&self.stats.cache_hits);
            return Ok(f);
        }
        let _one_at_a_time = self.extraction_lock(m, e)?;
        if let Some(f) = lookup() {
            crate::ops::stats::inc(&self.stats.cache_hits);
            return Ok(f);
        }
        crate::ops::stats::inc(&self.stats.cache_misses);
        self.note_extracted(m);
        let (entries, module) = self.entry(m, e)?;
        let entry = &entries[e as usize];
        self.check_structure(m, &v, module, entry)?;
        let spill_err = |err: std::io::Error| Error::io(&self.opts.spill_dir, err);
        let mut out = spill_file(&self.opts.spill_dir).map_err(spill_err)?;
        let mut h = Sha256::new();
        let mut write_err = None;
        crate::zip::stream_entry(&v.zip, entry, &mut |chunk| {
            h.update(chunk);
            if write_err.is_none() {
                write_err = out.write_all(chunk).err();
            }
        })
        .map_err(|err| self.extract_error(m, module, entry, err))?;
        if let Some(err) = write_err {
            return Err(spill_err(err));
        }
        self.check_digest(m, &v, module, e, entry, h.finalize().into())?;
        let f = Arc::new(out);
        if let Ok(mut c) = self.spilled.lock() {
            crate::ops::stats::add(&self.stats.cache_evictions, c.insert((m, e), f.clone(), entry.size));
            self.stats.spill_bytes.store(c.bytes(), Relaxed);
            self.stats.spill_files.store(c.len() as u64, Relaxed);
        }
        Ok(f)
    }

    /// Whether the module's tree files may be served from the caches now, without
    /// waiting: its check passed and no verdict refused it since.
    pub(crate) fn is_ready(&self, m: u32) -> bool {
        let Some(st) = self.states.get(m as usize) else { return false };
        let passed = match self.opts.verify {
            Verify::Full => st.whole.passed().is_some(),
            Verify::Lazy | Verify::Off => st.list.passed().is_some(),
        };
        passed && st.refused.get().is_none()
    }

    /// Whether the whole module verified (what `.zip` and `.ziphash` need), and
    /// was not refused since.
    pub(crate) fn is_verified(&self, m: u32) -> bool {
        self.states.get(m as usize).is_some_and(|st| st.whole.passed().is_some() && st.refused.get().is_none())
    }

    /// `<v>.ziphash`: only once the whole module verified (cmd/go trusts this file).
    pub(crate) fn ziphash(&self, m: u32) -> Result<Vec<u8>> {
        self.verified(m)?;
        let module = self.module(m)?;
        module
            .zip
            .as_ref()
            .map(|z| z.h1.clone().into_bytes())
            .ok_or_else(|| Error::Invalid(format!("{}: no zip", module.label())))
    }

    /// Reads from the verified zip blob (served as `<v>.zip`).
    pub(crate) fn read_zip(&self, v: &Verified, offset: u64, size: u32) -> Result<Vec<u8>> {
        pread(&v.zip, offset, size).map_err(|e| Error::io("zip blob", e))
    }
}

/// A module's zip blob, opened, its entries, its row and the row's zip.
type Opened<'a> = (File, Arc<[Entry]>, &'a Module, &'a store::ZipInfo);
