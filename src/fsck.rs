//! `modcachefs verify`: recompute every hash from the blobs and check them against
//! the index. Read-only; runs on as many threads as asked.

use crate::error::Result;
use crate::hash;
use crate::logger::printable_str;
use crate::store::{self, Module, Store};
use crate::zipfmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Report {
    pub modules: usize,
    pub zips: usize,
    pub bytes: u64,
    pub problems: Vec<String>,
}

/// Checks one module: both blobs exist and match their names, the .mod hashes to
/// the recorded `/go.mod` h1, the zip is still valid, hashes to the recorded h1 and
/// has exactly the entries the index lists.
pub fn check_module(store: &Store, m: &Module, entries: &[zipfmt::Entry]) -> Vec<String> {
    let label = printable_str(&label(m));
    let mut problems = Vec::new();
    // Read as the mount reads them: no symlink followed, nothing over the limit read.
    let blob = |digest: &str, what: &str, problems: &mut Vec<String>| -> Option<Vec<u8>> {
        let limit = if what == "zip" { zipfmt::MAX_ZIP_SIZE } else { crate::rows::MAX_MOD_SIZE };
        match store::read_blob_limited(store.dir(), digest, limit) {
            Ok(b) if store::digest_hex(&b) == digest => Some(b),
            Ok(_) => {
                problems.push(format!(
                    "{label}: {what} blob {} is corrupt (content does not match its name)",
                    store.blob_path(digest).display()
                ));
                None
            }
            Err(e) => {
                problems.push(format!("{label}: {what} blob missing or unreadable: {e}"));
                None
            }
        }
    };
    if let Some(b) = blob(&m.mod_blob, ".mod", &mut problems) {
        let got = hash::hash1_gomod(&b);
        if got != m.mod_h1 {
            problems.push(format!("{label}: .mod hashes to {got}, index says {}", m.mod_h1));
        }
    }
    if let Some(z) = &m.zip {
        if let Some(b) = blob(&z.blob, "zip", &mut problems) {
            match zipfmt::inspect(&b, &m.path, &m.version) {
                Ok(mz) if mz.h1 != z.h1 => {
                    problems.push(format!("{label}: zip hashes to {}, index says {} ({})", mz.h1, z.h1, z.h1_origin))
                }
                Ok(mz) if mz.entries != entries => {
                    problems.push(format!("{label}: the index's entry list does not match the zip"))
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("zip no longer valid: {e}")),
            }
        }
    }
    problems
}

fn label(m: &Module) -> String {
    format!("{}@{}", m.path, m.version)
}

pub fn verify(store_dir: &std::path::Path, threads: usize, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<Report> {
    let store = Store::open_ro(store_dir)?;
    let rows = store.modules()?;
    drop(store);
    let count = rows.len();
    // The rows a mount would refuse are problems here, and are not checked further.
    let (modules, refused) = crate::rows::check_rows(rows);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let report = Mutex::new(Report { modules: count, problems: refused, ..Default::default() });
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
                    let mut problems = check_module(&store, m, &entries);
                    if let Err(why) = crate::rows::check_entries(m, &entries) {
                        problems.push(format!("{}: the index's entry list: {why}", printable_str(&label(m))));
                    }
                    if let Ok(mut r) = report.lock() {
                        if let Some(z) = &m.zip {
                            r.zips += 1;
                            r.bytes += z.size;
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
