//! `modcachefs verify`: recompute every hash from the blobs and check them against
//! the index and the trusted sums. Read-only; runs on as many threads as asked.
//! Zips go through the mount's whole-module verifier (content/verifier.rs), which
//! streams them: memory stays bounded whatever the size of a module.

use crate::error::Result;
use crate::ops::logger::printable_str;
use crate::store::{self, Module, Store, SumKind};
use crate::verify::{trust, whole as verifier};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Report {
    pub modules: usize,
    pub(crate) zips: usize,
    pub(crate) bytes: u64,
    pub(crate) problems: Vec<String>,
    /// Zips whose index rows have no per-file digests (imported by an older
    /// modcachefs): mounts verify them whole; not a problem.
    pub(crate) without_digests: usize,
}

/// The trusted sums of one module version: (h1, source) by kind.
pub(crate) type Sums = HashMap<SumKind, Vec<(String, String)>>;

/// Checks one module: both blobs exist and match their names, the .mod hashes to
/// the recorded `/go.mod` h1, the zip is still valid, hashes to the recorded h1,
/// has exactly the entries the index lists, and its files hash to the digests the
/// index lists (`digests`, when it has them); the recorded hashes agree with the
/// trusted sums.
pub(crate) fn check_module(
    store: &Store,
    m: &Module,
    entries: &[crate::zip::Entry],
    digests: Option<&store::ZipDigests>,
    sums: &Sums,
) -> Vec<String> {
    let label = printable_str(&label(m));
    let mut problems = Vec::new();
    let trusted = |kind| sums.get(&kind).map(Vec::as_slice).unwrap_or(&[]);
    if let Err(why) = trust::check(&label, SumKind::Mod, &m.mod_h1, trusted(SumKind::Mod)) {
        problems.push(why);
    }
    // Read as the mount reads them: no symlink followed, nothing over the limit read.
    match store::read_blob_limited(store.dir(), &m.mod_blob, crate::store::rows::MAX_MOD_SIZE) {
        Ok(b) if store::digest_hex(&b) != m.mod_blob => problems.push(format!(
            "{label}: .mod blob {} is corrupt (content does not match its name)",
            store.blob_path(&m.mod_blob).display()
        )),
        Ok(b) => {
            let got = crate::gomod::h1::hash1_gomod(&b);
            if got != m.mod_h1 {
                problems.push(format!("{label}: .mod hashes to {got}, index says {}", m.mod_h1));
            }
        }
        Err(e) => problems.push(format!("{label}: .mod blob missing or unreadable: {e}")),
    }
    let Some(z) = &m.zip else { return problems };
    if let Err(why) = trust::check(&label, SumKind::Zip, &z.h1, trusted(SumKind::Zip)) {
        problems.push(why);
    }
    let zip = match store::open_blob(store.dir(), &z.blob) {
        Ok(f) => f,
        Err(e) => {
            problems.push(format!("{label}: zip blob missing or unreadable: {e}"));
            return problems;
        }
    };
    match verifier::verify_zip(&zip, &z.blob, m, entries, None) {
        Err(f) if f.why.starts_with("zip blob is corrupt") => problems.push(format!(
            "{label}: zip blob {} is corrupt (content does not match its name)",
            store.blob_path(&z.blob).display()
        )),
        Err(f) if f.transient => problems.push(format!("{label}: zip blob missing or unreadable: {}", f.why)),
        Err(f) if f.why.starts_with("the index") => {
            problems.push(format!("{label}: the index's entry list does not match the zip: {}", f.why))
        }
        Err(f) => problems.push(format!("{label}: zip no longer valid: {}", f.why)),
        Ok(w) if w.h1 != z.h1 => {
            problems.push(format!("{label}: zip hashes to {}, index says {} ({})", w.h1, z.h1, z.h1_origin))
        }
        Ok(w) => match digests {
            Some(d) if d.files != w.digests => {
                let i = d.files.iter().zip(&w.digests).position(|(a, b)| a != b);
                let which = i.and_then(|i| entries.get(i)).map_or("?".into(), |e| printable_str(&e.name));
                problems.push(format!(
                    "{label}: the index's file digests do not match the zip ({} listed for {} files; first differing: {which})",
                    d.files.len(),
                    w.digests.len()
                ));
            }
            Some(d) => {
                if let Err(why) = crate::verify::digests::check_list(m, entries, d, &z.h1) {
                    problems.push(format!("{label}: {why}"));
                }
            }
            None => {}
        },
    }
    problems
}

fn label(m: &Module) -> String {
    format!("{}@{}", m.path, m.version)
}

pub(crate) fn verify(
    store_dir: &std::path::Path,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Report> {
    let store = Store::open_ro(store_dir)?;
    let rows = store.modules()?;
    let mut sums: HashMap<(String, String), Sums> = HashMap::new();
    for s in store.sums()? {
        sums.entry((s.path, s.version)).or_default().entry(s.kind).or_default().push((s.h1, s.source));
    }
    drop(store);
    let count = rows.len();
    // The rows a mount would refuse are problems here, and are not checked further.
    let (modules, refused) = crate::store::rows::check_rows(rows);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let report = Mutex::new(Report { modules: count, problems: refused, ..Default::default() });
    let no_sums = Sums::new();
    std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for _ in 0..threads.max(1) {
            handles.push(s.spawn(|| -> Result<()> {
                // SQLite connections are per thread.
                let store = Store::open_ro(store_dir)?;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(m) = modules.get(i) else { return Ok(()) };
                    let entries = match &m.zip {
                        Some(z) => store.entries_at_most(m.id, z.file_count + 1)?,
                        None => store.entries_at_most(m.id, 1)?,
                    };
                    let mut problems = Vec::new();
                    let row = match &m.zip {
                        Some(_) => store.digests(m.id)?,
                        None => None,
                    };
                    let digests = match &row {
                        Some(Ok(d)) => Some(d),
                        Some(Err(why)) => {
                            problems.push(format!("{}: the index's digest row: {why}", printable_str(&label(m))));
                            None
                        }
                        None => None,
                    };
                    let key = (m.path.clone(), m.version.clone());
                    problems.extend(check_module(&store, m, &entries, digests, sums.get(&key).unwrap_or(&no_sums)));
                    if let Err(why) = crate::store::rows::check_entries(m, &entries) {
                        problems.push(format!("{}: the index's entry list: {why}", printable_str(&label(m))));
                    }
                    if let Ok(mut r) = report.lock() {
                        if let Some(z) = &m.zip {
                            r.zips += 1;
                            r.bytes += z.size;
                            r.without_digests += usize::from(row.is_none());
                        }
                        r.problems.extend(problems);
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, modules.len());
                }
            }));
        }
        for h in handles {
            h.join().map_err(|_| crate::error::Error::Invalid("verify worker panicked".into()))??;
        }
        Ok(())
    })?;
    Ok(report.into_inner().unwrap_or_else(|e| e.into_inner()))
}
