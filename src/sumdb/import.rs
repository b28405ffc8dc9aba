//! Importing checksum-database files: from a GOMODCACHE
//! (`cache/download/sumdb/<db>/{lookup,tile}/...`) or a GOPROXY tree that mirrors
//! a database (`sumdb/<db>/{supported,lookup,tile}/...`). Everything is verified
//! offline first (`verify`), against the keys given, the built-in key of
//! sum.golang.org, `$GOSUMDB`'s, and those the store verified with before; only
//! what passed is stored, and each refusal names the database, module and reason.
//! A verified record's go.sum lines become trusted sums (source `sumdb <db>`), so a
//! module whose zip or go.mod contradicts them is refused like a go.sum mismatch.

use super::note::Verifier;
use super::tlog::Tile;
use super::verify::{self, Lookup};
use super::{db, SUM_GOLANG_ORG_KEY};
use crate::error::{Error, Result};
use crate::import::Report;
use crate::store::{Store, Sum, SumKind};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Lookup answers and tiles are small (sum.golang.org's: under 1 KB and 8 KB).
const MAX_FILE: u64 = 1 << 20;

/// One database's directory in an input.
#[derive(Debug, Clone)]
pub struct Found {
    pub(crate) db: String,
    pub(crate) dir: PathBuf,
}

/// The databases under a GOMODCACHE's `cache/download` or a GOPROXY tree's root.
pub fn discover(root: &Path) -> Vec<Found> {
    let dir = root.join("sumdb");
    let Ok(rd) = fs::read_dir(&dir) else { return Vec::new() };
    let mut out: Vec<Found> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let db = e.file_name().to_str()?.to_string();
            Some(Found { db, dir: e.path() })
        })
        .collect();
    out.sort_by(|a, b| a.db.cmp(&b.db));
    out
}

/// Reads a regular file without following a symlink, up to `MAX_FILE` bytes.
fn read_small(p: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(p)?;
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if m.len() > MAX_FILE {
        return Err(std::io::Error::other(format!("{} bytes, over the limit of {MAX_FILE}", m.len())));
    }
    let mut data = Vec::with_capacity(m.len() as usize);
    f.take(MAX_FILE + 1).read_to_end(&mut data)?;
    Ok(data)
}

/// Regular files below `dir` (symlinks and other kinds are skipped), as paths
/// relative to `dir` with '/' separators.
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>, errors: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.filter_map(|e| e.ok()) {
        let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
        let r = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&e.path(), &r, out, errors),
            Ok(t) if t.is_file() => out.push((r, e.path())),
            Ok(t) if t.is_symlink() => errors.push(format!("{}: a symlink; skipped", e.path().display())),
            _ => {}
        }
    }
}

/// The keys to verify with: `given` (GOSUMDB syntax), `$GOSUMDB`'s, sum.golang.org's
/// and the store's.
pub(crate) fn keys(store: &Store, given: &[String]) -> Result<Vec<Verifier>> {
    let mut texts: Vec<String> = vec![SUM_GOLANG_ORG_KEY.to_string()];
    for g in given {
        Verifier::parse(g).map_err(|e| Error::Invalid(format!("--sumdb-key: {e}")))?;
        texts.push(g.clone());
    }
    if let Ok(env) = std::env::var("GOSUMDB") {
        // "name+hash+key [url]"; a bare name ("sum.golang.org", "off") names no key.
        if let Some(k) = env.split_whitespace().next().filter(|k| k.contains('+')) {
            match Verifier::parse(k) {
                Ok(_) => texts.push(k.to_string()),
                Err(e) => log::warn!("GOSUMDB: {e}; ignored"),
            }
        }
    }
    texts.extend(db::keys(store)?.into_iter().map(|(_, k)| k));
    texts.sort();
    texts.dedup();
    Ok(texts.iter().filter_map(|t| Verifier::parse(t).ok()).collect())
}

/// Verifies and stores the databases found; refusals go to `report.errors`.
pub fn import(store: &Store, found: &[Found], keys: &[Verifier], report: &mut Report) -> Result<()> {
    for f in found {
        import_one(store, f, keys, report)?;
    }
    Ok(())
}

fn import_one(store: &Store, f: &Found, keys: &[Verifier], report: &mut Report) -> Result<()> {
    let db = &f.db;
    let mut errors = Vec::new();
    let mut files = Vec::new();
    walk(&f.dir, "", &mut files, &mut errors);
    files.sort();
    let stored = db::load(store, db)?;
    let mut lookups = Vec::new();
    let mut tiles: Vec<(Tile, Vec<u8>)> = stored.tiles.clone();
    let mut new_tiles = 0;
    for (rel, p) in &files {
        if let Some(name) = rel.strip_prefix("lookup/") {
            let Some((path, version)) = name.rsplit_once('@').and_then(|(p, v)| {
                Some((
                    crate::gomod::path::unescape(p)?,
                    crate::gomod::path::unescape(v).filter(|v| crate::gomod::version::is_canonical_version(v))?,
                ))
            }) else {
                errors.push(format!(
                    "{db}: {}: not a lookup/<escaped path>@<escaped version> name; skipped",
                    p.display()
                ));
                continue;
            };
            match read_small(p) {
                Ok(msg) => lookups.push(Lookup { path, version, msg }),
                Err(e) => errors.push(format!("{db}: {path}@{version}: {}: {e}; not imported", p.display())),
            }
        } else if rel.starts_with("tile/") {
            let Some(t) = Tile::parse(rel) else {
                errors.push(format!("{db}: {}: not a tile name; skipped", p.display()));
                continue;
            };
            if t.l < 0 {
                continue; // data tiles: cmd/go does not read them
            }
            let data = match read_small(p) {
                Ok(d) => d,
                Err(e) => {
                    errors.push(format!("{db}: {}: {e}; not imported", t.path()));
                    continue;
                }
            };
            // A tile the store has verified already must agree with it.
            let known = stored.tiles.iter().find(|(s, _)| s.l == t.l && s.n == t.n);
            if let Some((_, sd)) = known {
                let n = sd.len().min(data.len());
                if sd[..n] != data[..n] {
                    errors.push(format!(
                        "{db}: {}: differs from the verified tile in the store (altered or truncated); not imported",
                        t.path()
                    ));
                    continue;
                }
            }
            new_tiles += 1;
            tiles.push((t, data));
        }
    }
    let (mut v, refused) = verify::verify(db, keys, &stored.notes, &lookups, &tiles);
    let fatal = refused.iter().any(|r| r.fatal);
    errors.extend(refused.into_iter().map(|r| r.message));
    if fatal {
        report_errors(report, errors);
        return Ok(());
    }
    // Records must agree with the modules and go.sum lines the store holds.
    let tx = store.transaction()?;
    v.records.retain(|r| match check_record(&tx, db, r) {
        Ok(()) => true,
        Err(e) => {
            errors.push(e);
            false
        }
    });
    if v.records.is_empty() {
        // Trees and tiles alone serve no lookup: keep nothing of this database.
        report_errors(report, errors);
        return Ok(());
    }
    let key_texts: Vec<String> = keys
        .iter()
        .filter(|k| v.keys_used.contains(&format!("{}+{:08x}", k.name, k.hash)))
        .map(|k| k.text.clone())
        .collect();
    let added = db::save(tx.conn(), db, &v, &key_texts)?;
    let source = format!("sumdb {db}");
    for r in &v.records {
        for (kind, h1) in record_sums(r) {
            let s =
                Sum { path: r.path.clone(), version: r.version.clone(), kind, h1: h1.clone(), source: source.clone() };
            if tx.add_sum(&s)? {
                report.sums_added += 1;
            }
            tx.confirm_origin_db(&r.path, &r.version, kind, &h1, db)?;
        }
    }
    tx.commit()?;
    log::info!(
        "{db}: {} lookups verified ({added} new), {} tiles ({new_tiles} read), {} signed trees",
        v.records.len(),
        v.tiles.len(),
        v.trees.len()
    );
    report_errors(report, errors);
    Ok(())
}

fn report_errors(report: &mut Report, errors: Vec<String>) {
    for e in errors {
        log::error!("{e}");
        report.errors.push(e);
    }
}

/// (kind, h1) of a record's go.sum lines.
fn record_sums(r: &verify::Record) -> Vec<(SumKind, String)> {
    r.text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let kind = if f.get(1)?.ends_with("/go.mod") { SumKind::Mod } else { SumKind::Zip };
            Some((kind, f.get(2)?.to_string()))
        })
        .collect()
}

/// A record that contradicts the stored module or a trusted go.sum line is refused.
fn check_record(tx: &crate::store::Tx<'_>, db: &str, r: &verify::Record) -> std::result::Result<(), String> {
    let label = format!("{db}: {}@{}", r.path, r.version);
    let m = tx.module(&r.path, &r.version).map_err(|e| format!("{label}: {e}"))?;
    for (kind, h1) in record_sums(r) {
        let what = if kind == SumKind::Mod { "go.mod" } else { "zip" };
        let stored = m.as_ref().and_then(|m| match kind {
            SumKind::Mod => Some(m.mod_h1.clone()),
            SumKind::Zip => m.zip.as_ref().map(|z| z.h1.clone()),
        });
        if let Some(s) = stored.filter(|s| *s != h1) {
            return Err(format!(
                "{label}: the database's record says the {what} is {h1} but the stored module hashes to {s}; record not imported"
            ));
        }
        let sums = tx.sums_for(&r.path, &r.version, kind).map_err(|e| format!("{label}: {e}"))?;
        if let Some((other, from)) = sums.iter().find(|(h, _)| *h != h1) {
            return Err(format!(
                "{label}: the database's record says the {what} is {h1} but {from} says {other}; record not imported"
            ));
        }
    }
    Ok(())
}

/// The origin a module's hash gets from its trusted sums: a database's record
/// when there is one (the strongest), else the first go.sum.
pub(crate) fn origin_of(sums: &[(String, String)]) -> Option<String> {
    sums.iter()
        .find(|(_, s)| s.starts_with("sumdb "))
        .map(|(_, s)| s.clone())
        .or_else(|| sums.first().map(|(_, s)| format!("go.sum:{s}")))
}
