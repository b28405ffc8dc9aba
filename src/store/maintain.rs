//! `rm`, `gc` and `compact`: the writers besides import. Each holds the writers'
//! lock; none changes anything a reader may have open (see segments.rs).

use super::manifest::{self, Manifest};
use super::segments::{self, open_segment};
use super::{legacy, Store};
use crate::error::{Error, Result};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Default)]
pub(crate) struct RmReport {
    /// (path, version) removed (or, with dry_run, that would be).
    pub removed: Vec<(String, String)>,
    /// Arguments that named nothing in the store.
    pub(crate) missing: Vec<String>,
    pub generation: u64,
}

/// Removes module versions: `PATH` (every version) or `PATH@VERSION`.
pub(crate) fn rm(dir: &Path, specs: &[String], dry_run: bool, wait: bool) -> Result<RmReport> {
    let st = Store::open_writer(dir, "rm", wait)?;
    let mut report = RmReport::default();
    let mut keys: Vec<(String, String)> = Vec::new();
    for spec in specs {
        let found: Vec<(String, String)> = match spec.rsplit_once('@') {
            Some((path, version)) => st.find_module(path, version)?.map(|m| (m.path, m.version)).into_iter().collect(),
            None => {
                let mut v: Vec<_> = st.module_versions(spec)?.into_iter().map(|m| (m.path, m.version)).collect();
                v.sort();
                v
            }
        };
        if found.is_empty() {
            report.missing.push(spec.clone());
        }
        for k in found {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    if !dry_run && !keys.is_empty() {
        let tx = st.transaction()?;
        tx.remove(&keys)?;
        tx.commit()?;
    }
    report.removed = keys;
    report.generation = st.publish()?;
    Ok(report)
}

#[derive(Debug, Default)]
pub(crate) struct GcReport {
    /// Files killed writers left in tmp/ and index/.
    pub(crate) temp_files: Vec<(PathBuf, u64)>,
    /// Index segments out of the state for longer than the grace period.
    pub(crate) segments: Vec<(PathBuf, u64)>,
    /// Blobs no module refers to (sha256, bytes).
    pub(crate) blobs: Vec<(String, u64)>,
    /// Blobs kept only because a reader of a recent state may still need them.
    pub(crate) blobs_in_grace: usize,
}

impl GcReport {
    pub(crate) fn bytes(&self) -> u64 {
        self.temp_files.iter().chain(&self.segments).map(|(_, n)| n).sum::<u64>()
            + self.blobs.iter().map(|(_, n)| n).sum::<u64>()
    }
}

/// Drops what no state of the last `grace` refers to: blobs of no module, index
/// segments merged away, temp files of killed writers. Readers of the current
/// state, and of any state replaced less than `grace` ago (a mount on another
/// host that has not yet looked again), lose nothing.
pub(crate) fn gc(dir: &Path, grace: Duration, dry_run: bool, wait: bool) -> Result<GcReport> {
    let _lock = manifest::lock(dir, "gc", wait)?;
    let m: Option<Manifest> = match manifest::read(dir)? {
        Some(m) => Some(m),
        None if dry_run => None,
        None => legacy::migrate(dir)?,
    };
    if m.is_none() && !dir.join(legacy::INDEX).is_file() {
        return Err(segments::no_store(dir));
    }
    let mut report = GcReport { temp_files: segments::clean_tmp(dir, dry_run)?, ..Default::default() };
    if let Some(m) = &m {
        report.temp_files.extend(segments::remove_orphans(dir, m, dry_run)?);
    }
    let now = manifest::now_secs();
    let since = now.saturating_sub(grace.as_secs());
    let st = Store::open_ro(dir)?;
    let mut refs: HashSet<String> = HashSet::new();
    for md in st.modules()? {
        refs.insert(md.mod_blob);
        refs.extend(md.zip.map(|z| z.blob));
    }
    let live = refs.len();
    // Modules removed within the grace period: readers of the states before may read them.
    for (i, s) in st.segs.iter().enumerate() {
        if !s.has_removed {
            continue;
        }
        let mut q = s.conn.prepare("SELECT path, version FROM removed WHERE removed_at > ?1")?;
        let keys: Vec<(String, String)> =
            q.query_map([since as i64], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        for (path, version) in keys {
            for older in &st.segs[i + 1..] {
                let mut q = older
                    .conn
                    .prepare_cached("SELECT mod_blob, zip_blob FROM modules WHERE path = ?1 AND version = ?2")?;
                let rows =
                    q.query_map([&path, &version], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
                for r in rows {
                    let (a, b) = r?;
                    refs.insert(a);
                    refs.extend(b);
                }
            }
        }
    }
    // Segments merged away: kept (and their blobs with them) for the grace period.
    let mut keep_retired = Vec::new();
    if let Some(m) = &m {
        let idx = manifest::index_dir(dir);
        for (name, at) in &m.retired {
            let p = idx.join(name);
            if *at > since {
                if let Ok(seg) = open_segment(&p, 0) {
                    let mut q = seg.conn.prepare("SELECT mod_blob, zip_blob FROM modules")?;
                    let rows = q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
                    for r in rows {
                        let (a, b) = r?;
                        refs.insert(a);
                        refs.extend(b);
                    }
                }
                keep_retired.push((name.clone(), *at));
            } else {
                let len = fs::metadata(&p).map_or(0, |md| md.len());
                if !dry_run {
                    match fs::remove_file(&p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io(&p, e)),
                    }
                }
                report.segments.push((p, len));
            }
        }
    }
    report.blobs_in_grace = refs.len() - live;
    drop(st);
    if let Some(mut m) = m.filter(|m| m.retired.len() != keep_retired.len()) {
        if !dry_run {
            // Same generation: the state is the same, only the list of files to delete later shrank.
            m.retired = keep_retired;
            manifest::write(dir, &m)?;
        }
    }
    report.blobs = unreferenced_blobs(dir, &refs)?;
    if !dry_run {
        for (b, _) in &report.blobs {
            let p = super::blob_path(dir, b);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
    }
    Ok(report)
}

fn unreferenced_blobs(dir: &Path, refs: &HashSet<String>) -> Result<Vec<(String, u64)>> {
    let blobs = dir.join("blobs");
    let mut out = Vec::new();
    let top = match fs::read_dir(&blobs) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(&blobs, e)),
    };
    for d in top {
        let d = d.map_err(|e| Error::io(&blobs, e))?;
        let a = d.file_name().to_string_lossy().into_owned();
        // Only the fan-out directories import makes; anything else is not ours to delete.
        if a.len() != 2 || !d.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        for f in fs::read_dir(d.path()).map_err(|e| Error::io(d.path(), e))? {
            let f = f.map_err(|e| Error::io(d.path(), e))?;
            let name = format!("{a}{}", f.file_name().to_string_lossy());
            let is_blob = name.len() == 64 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !is_blob || refs.contains(&name) || !f.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            out.push((name, f.metadata().map_or(0, |m| m.len())));
        }
    }
    out.sort();
    Ok(out)
}

#[derive(Debug, Default)]
pub(crate) struct CompactReport {
    /// Segments merged (0: the index was one segment already).
    pub(crate) merged: usize,
    pub generation: u64,
    pub(crate) bytes_before: u64,
    pub(crate) bytes_after: u64,
}

/// Merges every index segment into one, dropping removed modules (older than an
/// hour: readers that are behind learn of recent removals from their tombstones).
pub(crate) fn compact(dir: &Path, wait: bool) -> Result<CompactReport> {
    let _lock = manifest::lock(dir, "compact", wait)?;
    let mut m = match manifest::read(dir)? {
        Some(m) => m,
        None => legacy::migrate(dir)?.ok_or_else(|| segments::no_store(dir))?,
    };
    segments::clean_tmp(dir, false)?;
    segments::remove_orphans(dir, &m, false)?;
    let idx = manifest::index_dir(dir);
    let size = |m: &Manifest| m.segments.iter().map(|s| fs::metadata(idx.join(&s.name)).map_or(0, |md| md.len())).sum();
    let bytes_before = size(&m);
    let merged = segments::compact_all(dir, &mut m)?;
    Ok(CompactReport { merged, generation: m.generation, bytes_before, bytes_after: size(&m) })
}
