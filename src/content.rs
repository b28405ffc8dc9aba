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
use crate::stats::{self, Stats};
use crate::store::{self, Module, Store, SumKind};
use crate::zipfmt::{self, Entry};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

#[derive(Debug, Clone)]
pub struct Options {
    /// Verify modules before serving them (the default). Off only for people who
    /// know their store is intact.
    pub verify: bool,
    /// Bytes of extracted file contents kept in memory.
    pub cache_size: u64,
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
    Failed(Arc<str>),
}

struct ModState {
    entries: OnceLock<Arc<[Entry]>>,
    verify: Mutex<VState>,
    done: Condvar,
}

pub struct Content {
    store: Mutex<Store>,
    store_dir: PathBuf,
    pub modules: Arc<Vec<Module>>,
    trust: Vec<Trust>,
    states: Vec<ModState>,
    cache: Mutex<ByteLru<(u32, u32)>>,
    pub stats: Arc<Stats>,
    opts: Options,
}

fn label(m: &Module) -> String {
    format!("{}@{}", m.path, m.version)
}

impl Content {
    /// `extra_sums`: go.sum lines given at mount; they must agree with the store.
    pub fn new(store: Store, extra_sums: &[store::Sum], opts: Options, stats: Arc<Stats>) -> Result<Content> {
        let modules = Arc::new(store.modules()?);
        // (path, version, kind) -> [(h1, source)]
        type SumKey<'a> = (&'a str, &'a str, SumKind);
        let mut sums: HashMap<SumKey<'_>, Vec<(String, String)>> = HashMap::new();
        let stored = store.sums()?;
        for s in stored.iter().chain(extra_sums) {
            sums.entry((s.path.as_str(), s.version.as_str(), s.kind))
                .or_default()
                .push((s.h1.clone(), s.source.clone()));
        }
        let trust = modules
            .iter()
            .map(|m| {
                let check = |kind: SumKind, have: &str| -> std::result::Result<(), String> {
                    let list = sums.get(&(m.path.as_str(), m.version.as_str(), kind)).map(Vec::as_slice).unwrap_or(&[]);
                    match list.iter().find(|(h, _)| h != have) {
                        Some((h, src)) => Err(format!(
                            "{}: {} hash in the store is {have} but {src} says {h}; module refused",
                            label(m),
                            if kind == SumKind::Mod { "go.mod" } else { "zip" }
                        )),
                        None => Ok(()),
                    }
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
            })
            .collect();
        if !opts.verify {
            log::warn!("verification is OFF (--verify=off): module contents are served without checking them against their hashes");
        }
        let states = modules
            .iter()
            .map(|_| ModState {
                entries: OnceLock::new(),
                verify: Mutex::new(VState::Unverified),
                done: Condvar::new(),
            })
            .collect();
        Ok(Content {
            store_dir: store.dir().to_path_buf(),
            store: Mutex::new(store),
            modules,
            trust,
            states,
            cache: Mutex::new(ByteLru::new(opts.cache_size)),
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
            .filter(|(st, _)| st.verify.lock().map(|g| !matches!(*g, VState::Unverified)).unwrap_or(false))
            .map(|(_, m)| label(m))
            .collect()
    }

    /// The module's files, from the index (loaded once).
    pub fn entries(&self, m: u32) -> Result<Arc<[Entry]>> {
        let st = self.state(m)?;
        if let Some(e) = st.entries.get() {
            return Ok(e.clone());
        }
        let module = self.module(m)?;
        let list: Arc<[Entry]> = {
            let store = self.store.lock().map_err(|_| Error::Invalid("store lock poisoned".into()))?;
            store.entries(module.id)?.into()
        };
        stats::inc(&self.stats.modules_loaded);
        Ok(st.entries.get_or_init(|| list).clone())
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
                VState::Running => g = st.done.wait(g).map_err(|_| poisoned())?,
                VState::Unverified => break,
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
            Err(why) => {
                stats::inc(&self.stats.verifications_failed);
                log::error!("{why}");
                *g = VState::Failed(why.clone().into());
                Err(Error::Invalid(why))
            }
        };
        st.done.notify_all();
        result
    }

    fn run_verification(&self, m: u32) -> std::result::Result<Verified, String> {
        let module = self.module(m).map_err(|e| e.to_string())?;
        let name = label(module);
        let expected = match &self.trust[m as usize].zip {
            Ok(Some(h)) => h.clone(),
            Ok(None) => return Err(format!("{name}: the store has no zip for this module")),
            Err(why) => return Err(why.clone()),
        };
        let Some(zi) = &module.zip else {
            return Err(format!("{name}: the store has no zip for this module"));
        };
        let blob = store::blob_path(&self.store_dir, &zi.blob);
        let fail = |what: String| {
            format!("{name}: {what} (blob {}); every file of this module fails with EIO", blob.display())
        };
        let zip = File::open(&blob).map_err(|e| fail(format!("cannot open zip blob: {e}")))?;
        let entries = self.entries(m).map_err(|e| fail(e.to_string()))?;
        stats::inc(&self.stats.modules_extracted);
        if !self.opts.verify {
            return Ok(Verified { zip, digests: Vec::new() });
        }
        // The zip bytes themselves are served as <v>.zip: they must be the bytes imported.
        let got = sha256_file(&zip).map_err(|e| fail(format!("cannot read zip blob: {e}")))?;
        if got != zi.blob {
            return Err(fail(format!("zip blob is corrupt: its sha256 is {got}, expected {}", zi.blob)));
        }
        // Keep the files of modules that fit comfortably: they are about to be read.
        let keep = zi.tree_size <= self.opts.cache_size / 4;
        let mut digests = Vec::with_capacity(entries.len());
        let mut named = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let data = zipfmt::read_entry(&zip, e).map_err(|err| fail(format!("cannot extract: {err}")))?;
            let d = hash::sha256(&data);
            digests.push(d);
            named.push((format!("{}@{}/{}", module.path, module.version, e.name), d));
            if keep {
                self.cache_put((m, i as u32), data.into());
            }
        }
        let got = hash::hash1(&named);
        if got != expected {
            return Err(fail(format!("checksum mismatch: expected {expected}, got {got}")));
        }
        stats::inc(&self.stats.verifications_ok);
        Ok(Verified { zip, digests })
    }

    fn cache_put(&self, k: (u32, u32), v: Arc<[u8]>) {
        if let Ok(mut c) = self.cache.lock() {
            c.insert(k, v, &self.stats);
        }
    }

    /// The contents of one file of a module tree.
    pub fn file(&self, m: u32, e: u32) -> Result<Arc<[u8]>> {
        let v = self.verified(m)?;
        if let Some(hit) = self.cache.lock().ok().and_then(|mut c| c.get(&(m, e))) {
            stats::inc(&self.stats.cache_hits);
            return Ok(hit);
        }
        stats::inc(&self.stats.cache_misses);
        let entries = self.entries(m)?;
        let module = self.module(m)?;
        let entry =
            entries.get(e as usize).ok_or_else(|| Error::Invalid(format!("{}: no entry #{e}", label(module))))?;
        let data = zipfmt::read_entry(&v.zip, entry)
            .map_err(|err| Error::Invalid(format!("{}: {}: cannot extract: {err}", label(module), entry.name)))?;
        if let Some(want) = v.digests.get(e as usize) {
            if hash::sha256(&data) != *want {
                let why = format!(
                    "{}: {} changed since the module was verified (zip blob modified?); refusing to serve it",
                    label(module),
                    entry.name
                );
                log::error!("{why}");
                stats::inc(&self.stats.verifications_failed);
                return Err(Error::Invalid(why));
            }
        }
        let data: Arc<[u8]> = data.into();
        self.cache_put((m, e), data.clone());
        Ok(data)
    }

    /// `<v>.mod`, checked against its trusted `/go.mod` hash on every open (it is small).
    pub fn mod_file(&self, m: u32) -> Result<Vec<u8>> {
        let module = self.module(m)?;
        let expected = self.trust[m as usize].module.clone().map_err(Error::Invalid)?;
        let p = store::blob_path(&self.store_dir, &module.mod_blob);
        let data = std::fs::read(&p)
            .map_err(|e| Error::Invalid(format!("{}: cannot read .mod blob {}: {e}", label(module), p.display())))?;
        if self.opts.verify {
            let got = hash::hash1_gomod(&data);
            if got != expected {
                let why = format!(
                    "{}: go.mod checksum mismatch: expected {expected}, got {got} (blob {})",
                    label(module),
                    p.display()
                );
                log::error!("{why}");
                stats::inc(&self.stats.verifications_failed);
                return Err(Error::Invalid(why));
            }
        }
        Ok(data)
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
        let len = v.zip.metadata().map_err(|e| Error::io("zip blob", e))?.len();
        let end = len.min(offset.saturating_add(size as u64));
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; (end - offset) as usize];
        v.zip.read_exact_at(&mut buf, offset).map_err(|e| Error::io("zip blob", e))?;
        Ok(buf)
    }
}

/// sha256 of a whole file, by pread so the shared handle's offset never matters.
fn sha256_file(f: &File) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    loop {
        let n = f.read_at(&mut buf, off)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        off += n as u64;
    }
    Ok(hash::hex(&h.finalize()))
}
