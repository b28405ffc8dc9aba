//! `modcachefs rm`, `gc` and `compact`: parsing and printing (the work is in
//! `store::maintain`). Exit codes as import's: 0 done, 1 some argument named
//! nothing, 2 setup errors.

use crate::error::Error;
use crate::store;
use clap::Args;
use serde_json::json;
use std::path::Path;

#[derive(Args)]
pub(crate) struct RmArgs {
    /// Module paths (every version) or PATH@VERSION
    #[arg(required = true, value_name = "PATH[@VERSION]")]
    modules: Vec<String>,
    /// Say what would be removed, remove nothing
    #[arg(long)]
    dry_run: bool,
    /// Print the result as JSON on stdout
    #[arg(long)]
    json: bool,
    /// Fail at once if another modcachefs writer holds the store, instead of waiting
    #[arg(long)]
    no_wait: bool,
}

#[derive(Args)]
pub(crate) struct GcArgs {
    /// Say what would be deleted, delete nothing
    #[arg(long)]
    dry_run: bool,
    /// Print the result as JSON on stdout
    #[arg(long)]
    json: bool,
    /// Keep what states replaced less than this many seconds ago refer to (readers
    /// on other hosts may still read them)
    #[arg(long, value_name = "SECS", default_value = "900", value_parser = grace_secs)]
    grace: std::time::Duration,
    /// Fail at once if another modcachefs writer holds the store, instead of waiting
    #[arg(long)]
    no_wait: bool,
}

#[derive(Args)]
pub(crate) struct CompactArgs {
    /// Print the result as JSON on stdout
    #[arg(long)]
    json: bool,
    /// Fail at once if another modcachefs writer holds the store, instead of waiting
    #[arg(long)]
    no_wait: bool,
}

fn grace_secs(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<u64>() {
        Ok(x) if x <= 7 * 86400 => Ok(std::time::Duration::from_secs(x)),
        _ => Err(format!("expected whole seconds from 0 to 604800 (a week), not {s:?}")),
    }
}

fn exists_or_fail(dir: &Path) -> Result<(), Error> {
    if store::exists(dir) {
        return Ok(());
    }
    Err(Error::Store(format!("{}: no modcachefs store here", dir.display())))
}

pub(crate) fn cmd_rm(dir: &Path, a: RmArgs) -> Result<u8, Error> {
    exists_or_fail(dir)?;
    let r = store::rm(dir, &a.modules, a.dry_run, !a.no_wait)?;
    if a.json {
        let removed: Vec<_> = r.removed.iter().map(|(p, v)| json!({"path": p, "version": v})).collect();
        let out = json!({"dry_run": a.dry_run, "removed": removed, "missing": r.missing, "generation": r.generation});
        println!("{out}");
    } else {
        let verb = if a.dry_run { "would remove" } else { "removed" };
        for (p, v) in &r.removed {
            eprintln!("modcachefs: {verb} {p}@{v}");
        }
        for m in &r.missing {
            eprintln!("modcachefs: {m}: not in the store");
        }
        eprintln!("modcachefs: {verb} {} module versions", r.removed.len());
    }
    Ok(if r.missing.is_empty() { 0 } else { 1 })
}

pub(crate) fn cmd_gc(dir: &Path, a: GcArgs) -> Result<u8, Error> {
    exists_or_fail(dir)?;
    let r = store::gc(dir, a.grace, a.dry_run, !a.no_wait)?;
    let files = |v: &[(std::path::PathBuf, u64)]| -> Vec<serde_json::Value> {
        v.iter().map(|(p, n)| json!({"path": p.display().to_string(), "bytes": n})).collect()
    };
    if a.json {
        let blobs: Vec<_> = r.blobs.iter().map(|(b, n)| json!({"blob": b, "bytes": n})).collect();
        let out = json!({
            "dry_run": a.dry_run,
            "blobs": blobs,
            "segments": files(&r.segments),
            "temp_files": files(&r.temp_files),
            "blobs_in_grace": r.blobs_in_grace,
            "bytes": r.bytes(),
        });
        println!("{out}");
    } else {
        eprintln!(
            "modcachefs: {} {} blobs, {} index segments, {} temp files ({:.1} MB); {} blobs of recently removed modules kept for the grace period",
            if a.dry_run { "would delete" } else { "deleted" },
            r.blobs.len(),
            r.segments.len(),
            r.temp_files.len(),
            r.bytes() as f64 / 1e6,
            r.blobs_in_grace
        );
    }
    Ok(0)
}

pub(crate) fn cmd_compact(dir: &Path, a: CompactArgs) -> Result<u8, Error> {
    exists_or_fail(dir)?;
    let t0 = std::time::Instant::now();
    let r = store::compact(dir, !a.no_wait)?;
    let secs = t0.elapsed().as_secs_f64();
    if a.json {
        let out = json!({"merged": r.merged, "generation": r.generation, "bytes_before": r.bytes_before,
            "bytes_after": r.bytes_after, "seconds": secs});
        println!("{out}");
    } else {
        eprintln!(
            "modcachefs: merged {} index segments ({:.1} MB into {:.1} MB) in {secs:.2}s; generation {}",
            r.merged,
            r.bytes_before as f64 / 1e6,
            r.bytes_after as f64 / 1e6,
            r.generation
        );
    }
    Ok(0)
}
