//! Segments: opening a state, writing and publishing a new segment, and merging.
//!
//! A segment is a complete SQLite database (schema.sql), written in `tmp/`,
//! fsynced, renamed into `index/` and only then named by a manifest; it is never
//! modified afterwards, so readers open it `immutable=1` (no locks, no journal,
//! no -shm: nothing a read-only or network filesystem could get wrong). Merging
//! writes a new segment from old ones; the old ones leave the manifest and stay
//! on disk until `gc` deletes them after its grace period.

use super::manifest::{self, Manifest, SegRef};
use super::{legacy, writer, Store, SCHEMA, SCHEMA_VERSION};
use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::fs;
use std::path::{Path, PathBuf};

pub(crate) struct Segment {
    pub path: PathBuf,
    pub(crate) conn: Connection,
    /// The newest generation whose changes it holds (see `Store::changes_since`).
    pub(crate) gen_hi: u64,
    /// The segment holds tombstones: lookups must consult them.
    pub(crate) has_removed: bool,
}

impl Segment {
    pub fn name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

pub(crate) fn no_store(dir: &Path) -> Error {
    Error::Store(format!(
        "{}: no modcachefs store here (missing index/CURRENT); create one with `modcachefs import --store {} ...`",
        dir.display(),
        dir.display()
    ))
}

/// Segments a merge at the end of a writer may take: this many of one size class...
const FANOUT: usize = 4;
/// ...whose sizes together stay under this (larger merges are `modcachefs compact`'s).
const MERGE_CAP: u64 = 16 << 20;
/// The smallest size class: segments under it are all one class.
const LEVEL_BASE: u64 = 256 << 10;
/// More segments than this and a writer suggests `modcachefs compact`.
const MANY_SEGMENTS: usize = 24;

pub(crate) fn uri(path: &Path, immutable: bool) -> String {
    let mut s = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        match b {
            b'?' | b'#' | b'%' | 0x80.. => s.push_str(&format!("%{b:02X}")),
            _ => s.push(b as char),
        }
    }
    s.push_str(if immutable { "?mode=ro&immutable=1" } else { "?mode=ro" });
    s
}

/// Opens one published segment for reading.
pub(crate) fn open_segment(path: &Path, gen_hi: u64) -> Result<Segment> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // Opening does not read the file: a missing one must fail here, not later.
    if !path.is_file() {
        return Err(Error::io(path, std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    let conn = Connection::open_with_flags(uri(path, true), flags)?;
    check_schema_version(&conn, path)?;
    finish_open(path.to_path_buf(), conn, gen_hi)
}

pub(crate) fn finish_open(path: PathBuf, conn: Connection, gen_hi: u64) -> Result<Segment> {
    // A file that is not a segment (or a truncated one) fails here, once, clearly.
    conn.query_row("SELECT count(*) FROM (SELECT 1 FROM modules LIMIT 1)", [], |r| r.get::<_, i64>(0))
        .map_err(|e| Error::Store(format!("{}: unreadable store index: {e}", path.display())))?;
    let has_removed =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM removed)", [], |r| r.get::<_, bool>(0)).unwrap_or(false);
    Ok(Segment { path, conn, gen_hi, has_removed })
}

pub(crate) fn check_schema_version(conn: &Connection, path: &Path) -> Result<()> {
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| Error::Store(format!("{}: not a modcachefs store index: {e}", path.display())))?;
    if v > SCHEMA_VERSION {
        return Err(Error::Store(format!(
            "{}: store made by a newer modcachefs (schema {v}, this binary knows {SCHEMA_VERSION}); upgrade modcachefs",
            path.display()
        )));
    }
    Ok(())
}

/// The segments a manifest names, newest first.
fn open_state(dir: &Path, m: &Manifest) -> Result<Vec<Segment>> {
    let idx = manifest::index_dir(dir);
    m.segments.iter().rev().map(|s| open_segment(&idx.join(&s.name), s.gen_hi)).collect()
}

pub fn open_ro(dir: &Path) -> Result<Store> {
    // A segment named by the manifest read may have been merged away and (after
    // gc's grace period) deleted in between: read the manifest again.
    let mut last = None;
    for _ in 0..5 {
        let m = match manifest::read(dir)? {
            Some(m) => m,
            None => match legacy::open_ro(dir)? {
                Some(st) => return Ok(st),
                // Migrated meanwhile: the manifest exists now.
                None if manifest::current_path(dir).exists() => continue,
                None => return Err(no_store(dir)),
            },
        };
        match open_state(dir, &m) {
            Ok(segs) => {
                return Ok(Store {
                    dir: dir.to_path_buf(),
                    generation: m.generation,
                    module_count: m.modules,
                    segs,
                    manifest: Some(m),
                    writer: None,
                })
            }
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => last = Some(m.generation),
            Err(e) => return Err(e),
        }
    }
    Err(Error::Store(format!(
        "{}: the store changed under every attempt to read it (generation {}); is a segment missing?",
        dir.display(),
        last.unwrap_or(0)
    )))
}

/// A new, empty segment file in `tmp/`, open for writing.
pub(crate) fn create(path: &Path) -> Result<Connection> {
    let _ = fs::remove_file(path);
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    // The file is private until published: a crash only leaves a temp file, so
    // no rollback journal on disk is needed (savepoints still work in memory).
    conn.pragma_update(None, "journal_mode", "MEMORY")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.execute_batch(&format!("BEGIN;\n{SCHEMA}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;"))?;
    Ok(conn)
}

pub fn open_writer(dir: &Path, what: &str, wait: bool) -> Result<Store> {
    for d in [dir.to_path_buf(), dir.join("blobs"), dir.join("tmp"), manifest::index_dir(dir)] {
        fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    }
    let lock = manifest::lock(dir, what, wait)?;
    let m = match manifest::read(dir)? {
        Some(m) => m,
        None => legacy::migrate(dir)?.unwrap_or(Manifest { next_id: 1, ..Manifest::default() }),
    };
    clean_tmp(dir, false)?;
    remove_orphans(dir, &m, false)?;
    let mut segs = open_state(dir, &m)?;
    let path = dir.join("tmp").join(format!("new-{}.db", std::process::id()));
    let conn = create(&path)?;
    let next = m.generation + 1;
    segs.insert(0, Segment { path: path.clone(), conn, gen_hi: next, has_removed: true });
    Ok(Store {
        dir: dir.to_path_buf(),
        generation: m.generation,
        module_count: m.modules,
        segs,
        writer: Some(writer::Writer::new(lock, m.next_id.max(1), next)),
        manifest: Some(m),
    })
}

/// Files in `tmp/`: what killed writers left (a writer holds the lock, so none is
/// in use). Returns them, removed unless `dry_run`.
pub(crate) fn clean_tmp(dir: &Path, dry_run: bool) -> Result<Vec<(PathBuf, u64)>> {
    let tmp = dir.join("tmp");
    let mut out = Vec::new();
    let rd = match fs::read_dir(&tmp) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(&tmp, e)),
    };
    for e in rd {
        let e = e.map_err(|e| Error::io(&tmp, e))?;
        let Ok(md) = e.metadata() else { continue };
        if md.is_file() || md.file_type().is_symlink() {
            if !dry_run {
                fs::remove_file(e.path()).map_err(|err| Error::io(e.path(), err))?;
            }
            out.push((e.path(), md.len()));
        }
    }
    Ok(out)
}

/// Segment files in `index/` no manifest names (a writer killed between renaming
/// its segment in and writing the manifest): never seen by any reader.
pub(crate) fn remove_orphans(dir: &Path, m: &Manifest, dry_run: bool) -> Result<Vec<(PathBuf, u64)>> {
    let idx = manifest::index_dir(dir);
    let mut out = Vec::new();
    let rd = fs::read_dir(&idx).map_err(|e| Error::io(&idx, e))?;
    for e in rd {
        let e = e.map_err(|e| Error::io(&idx, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !manifest::is_segment_name(&name)
            || m.segments.iter().any(|s| s.name == name)
            || m.retired.iter().any(|(r, _)| *r == name)
        {
            continue;
        }
        let len = e.metadata().map_or(0, |m| m.len());
        if !dry_run {
            fs::remove_file(e.path()).map_err(|err| Error::io(e.path(), err))?;
        }
        out.push((e.path(), len));
    }
    Ok(out)
}

/// Closes a finished segment file, makes it durable and renames it into `index/`.
fn install(dir: &Path, tmp: &Path, conn: Connection, generation: u64) -> Result<String> {
    // Rewritten table by table (O(this segment)): each table's pages in one run,
    // so a reader walking the modules reads them in one pass, not one page per
    // module among the entries. Best effort: without room for it, it is skipped.
    if let Err(e) = conn.execute_batch("VACUUM") {
        log::debug!("{}: not compacted: {e}", tmp.display());
    }
    conn.close().map_err(|(_, e)| Error::from(e))?;
    let name = manifest::segment_name(generation);
    let dest = manifest::index_dir(dir).join(&name);
    let go = || -> std::io::Result<()> {
        fs::File::open(tmp)?.sync_all()?;
        fs::rename(tmp, &dest)?;
        manifest::sync_dir(&manifest::index_dir(dir))
    };
    go().map_err(|e| Error::io(&dest, e))?;
    Ok(name)
}

/// Publishes the writer's segment (when it holds anything) as the next
/// generation and starts a new one: what was written so far is visible and
/// survives a kill from here on.
pub(crate) fn checkpoint(st: &mut Store) -> Result<()> {
    let Some(w) = st.writer.as_ref() else {
        return Err(Error::Invalid("publish: this store was not opened for writing".into()));
    };
    let mut m = st.manifest.clone().unwrap_or_default();
    let seg = st.segs.remove(0);
    let next = |m: &Manifest| m.generation + 1;
    let res = (|| -> Result<bool> {
        writer::prune(&seg.conn, &st.segs)?;
        writer::is_empty(&seg.conn)
    })();
    match res {
        Ok(true) => {
            drop(seg.conn);
            let _ = fs::remove_file(&seg.path);
            // A new store that got nothing (every input refused) is still a store.
            if !manifest::current_path(&st.dir).exists() {
                manifest::write(&st.dir, &m)?;
            }
        }
        Ok(false) => {
            let generation = next(&m);
            let name = install(&st.dir, &seg.path, seg.conn, generation)?;
            m.generation = generation;
            m.next_id = w.next_id();
            m.modules = (m.modules as i64 + w.count_delta()).max(0) as u64;
            m.segments.push(SegRef { name, gen_lo: generation, gen_hi: generation });
            manifest::write(&st.dir, &m)?;
            w.reset_delta();
        }
        Err(e) => {
            drop(seg.conn);
            let _ = fs::remove_file(&seg.path);
            return Err(e);
        }
    }
    reload(st, m)
}

/// Makes `m` (just written, under the lock) the writer's state, with a new segment to write.
fn reload(st: &mut Store, m: Manifest) -> Result<()> {
    st.segs = open_state(&st.dir, &m)?;
    let path = st.dir.join("tmp").join(format!("new-{}.db", std::process::id()));
    let conn = create(&path)?;
    st.segs.insert(0, Segment { path, conn, gen_hi: m.generation + 1, has_removed: true });
    st.generation = m.generation;
    st.module_count = m.modules;
    st.manifest = Some(m);
    Ok(())
}

/// The last checkpoint; then the segments this writer published are merged into
/// one (O(what it wrote)) and small segments are merged (bounded work).
pub fn publish(mut st: Store) -> Result<u64> {
    checkpoint(&mut st)?;
    let first = st.writer.as_ref().map_or(u64::MAX, |w| w.first_generation());
    let seg = st.segs.remove(0);
    drop(seg.conn);
    let _ = fs::remove_file(&seg.path);
    let mut m = st.manifest.clone().unwrap_or_default();
    drop(std::mem::take(&mut st.segs));
    let mine = m.segments.iter().filter(|s| s.gen_lo >= first).count();
    if mine > 1 {
        let from = m.segments.len() - mine;
        merge_publish(&st.dir, &mut m, from, false)?;
    }
    merge_small(&st.dir, &mut m)?;
    drop(st.writer.take());
    Ok(m.generation)
}

/// The size class of a segment of `len` bytes (0 below LEVEL_BASE, then x4 each).
fn level(len: u64) -> u32 {
    let mut l = 0;
    let mut cap = LEVEL_BASE;
    while len >= cap && l < 32 {
        l += 1;
        cap = cap.saturating_mul(4);
    }
    l
}

/// Size-tiered merging at the end of a writer: while the newest FANOUT or more
/// segments are of one size class and small together, merge them into one.
/// Bounded: never more than MERGE_CAP bytes read per merge, a few merges at most.
fn merge_small(dir: &Path, m: &mut Manifest) -> Result<()> {
    let idx = manifest::index_dir(dir);
    for _ in 0..8 {
        let sizes: Vec<u64> =
            m.segments.iter().map(|s| fs::metadata(idx.join(&s.name)).map_or(u64::MAX, |md| md.len())).collect();
        let Some(&last) = sizes.last() else { break };
        let run = sizes.iter().rev().take_while(|&&s| level(s) == level(last)).count();
        let total: u64 = sizes[sizes.len() - run..].iter().sum();
        if run < FANOUT || total > MERGE_CAP {
            break;
        }
        let from = m.segments.len() - run;
        merge_publish(dir, m, from, false)?;
    }
    if m.segments.len() > MANY_SEGMENTS {
        log::warn!(
            "{}: the index has {} segments; `modcachefs compact --store {}` merges them (lookups get faster)",
            dir.display(),
            m.segments.len(),
            dir.display()
        );
    }
    Ok(())
}

/// Merges segments `from..` of the manifest into one and publishes the result as
/// the next generation. `full` (all segments): tombstones older than `keep_since`
/// (unix seconds) are dropped with what they hid.
pub(crate) fn merge_publish(dir: &Path, m: &mut Manifest, from: usize, full: bool) -> Result<()> {
    let idx = manifest::index_dir(dir);
    let inputs: Vec<SegRef> = m.segments[from..].to_vec();
    let tmp = dir.join("tmp").join(format!("merge-{}.db", std::process::id()));
    let conn = create(&tmp)?;
    let paths: Vec<PathBuf> = inputs.iter().rev().map(|s| idx.join(&s.name)).collect();
    let res = merge_into(
        &conn,
        &paths,
        if full { Some(manifest::now_secs().saturating_sub(GC_TOMBSTONE_KEEP)) } else { None },
    );
    if let Err(e) = res {
        drop(conn);
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let live: i64 = conn.query_row("SELECT count(*) FROM modules", [], |r| r.get(0))?;
    let generation = m.generation + 1;
    let name = install(dir, &tmp, conn, generation)?;
    let gen_lo = inputs.iter().map(|s| s.gen_lo).min().unwrap_or(generation);
    let gen_hi = inputs.iter().map(|s| s.gen_hi).max().unwrap_or(generation);
    let now = manifest::now_secs();
    m.generation = generation;
    m.segments.truncate(from);
    m.segments.push(SegRef { name, gen_lo, gen_hi });
    m.retired.extend(inputs.iter().map(|s| (s.name.clone(), now)));
    if full {
        m.modules = live as u64;
    }
    manifest::write(dir, m)?;
    log::info!("{}: merged {} index segments into one (generation {generation})", dir.display(), inputs.len());
    Ok(())
}

/// Tombstones a full merge keeps (seconds): readers that are behind learn of a
/// removal from them (`changes_since`). Longer than gc's default grace period.
const GC_TOMBSTONE_KEEP: u64 = 3600;

const MOD_COLS: &str = "id, path, version, mod_blob, mod_h1, mod_h1_origin, info, zip_blob, zip_h1, zip_h1_origin, \
                        zip_size, file_count, tree_size";

/// Copies `inputs` (newest first) into the fresh segment `out`: for each module
/// version the newest row or tombstone wins, and a row's entries go with it.
/// `drop_tombstones_before`: a full merge, where nothing older remains to hide.
fn merge_into(out: &Connection, inputs: &[PathBuf], drop_tombstones_before: Option<u64>) -> Result<()> {
    for p in inputs {
        // ATTACH cannot be inside a transaction: one transaction per input.
        out.execute("ATTACH ?1 AS s", [uri(p, true)])?;
        out.execute_batch("BEGIN")?;
        let has_removed: bool =
            out.query_row("SELECT EXISTS (SELECT 1 FROM s.sqlite_schema WHERE name = 'removed')", [], |r| r.get(0))?;
        // A segment converted from an older store may have no digests (its modules
        // are verified whole until imported again).
        let has_digests: bool =
            out.query_row("SELECT EXISTS (SELECT 1 FROM s.sqlite_schema WHERE name = 'digests')", [], |r| r.get(0))?;
        let digests = if has_digests {
            "INSERT INTO main.digests SELECT * FROM s.digests WHERE module_id IN (SELECT id FROM temp.pick);"
        } else {
            ""
        };
        out.execute_batch(&format!(
            "CREATE TEMP TABLE pick AS SELECT m.id FROM s.modules m \
               WHERE NOT EXISTS (SELECT 1 FROM main.modules o WHERE o.path = m.path AND o.version = m.version) \
                 AND NOT EXISTS (SELECT 1 FROM main.removed r WHERE r.path = m.path AND r.version = m.version);
             INSERT INTO main.modules ({MOD_COLS}) SELECT {MOD_COLS} FROM s.modules WHERE id IN (SELECT id FROM temp.pick);
             INSERT INTO main.entries SELECT * FROM s.entries WHERE module_id IN (SELECT id FROM temp.pick);
             {digests}
             DROP TABLE temp.pick;
             INSERT OR IGNORE INTO main.sums SELECT * FROM s.sums;"
        ))?;
        if has_removed {
            out.execute_batch(
                "INSERT OR IGNORE INTO main.removed SELECT * FROM s.removed r \
                 WHERE NOT EXISTS (SELECT 1 FROM main.modules o WHERE o.path = r.path AND o.version = r.version);",
            )?;
        }
        let has_sumdb: bool =
            out.query_row("SELECT EXISTS (SELECT 1 FROM s.sqlite_schema WHERE name = 'sumdb_tiles')", [], |r| {
                r.get(0)
            })?;
        if has_sumdb {
            out.execute_batch(
                "INSERT OR IGNORE INTO main.sumdb_keys SELECT * FROM s.sumdb_keys;
                 INSERT OR IGNORE INTO main.sumdb_trees SELECT * FROM s.sumdb_trees;
                 INSERT OR IGNORE INTO main.sumdb_records SELECT * FROM s.sumdb_records;
                 INSERT INTO main.sumdb_tiles SELECT * FROM s.sumdb_tiles WHERE true
                   ON CONFLICT (db, level, n) DO UPDATE SET data = excluded.data
                   WHERE length(excluded.data) > length(main.sumdb_tiles.data);",
            )?;
        }
        out.execute_batch("COMMIT; DETACH s;")?;
    }
    if let Some(before) = drop_tombstones_before {
        out.execute("DELETE FROM removed WHERE removed_at < ?1", [before as i64])?;
    }
    Ok(())
}

/// Merges every segment into one (`modcachefs compact`).
pub(crate) fn compact_all(dir: &Path, m: &mut Manifest) -> Result<usize> {
    let n = m.segments.len();
    if n == 0 || (n == 1 && !single_has_tombstones(dir, m)?) {
        return Ok(0);
    }
    merge_publish(dir, m, 0, true)?;
    Ok(n)
}

fn single_has_tombstones(dir: &Path, m: &Manifest) -> Result<bool> {
    let s = &m.segments[0];
    Ok(open_segment(&manifest::index_dir(dir).join(&s.name), s.gen_hi)?.has_removed)
}
