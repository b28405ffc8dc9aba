//! The checksum-database files cmd/go reads, served from the store: the
//! frontend-independent API of the mount (`cache/download/sumdb/<db>/...`) and of
//! `serve` (`/sumdb/<db>/...`).
//!
//! ```text
//! supported                       empty: this proxy serves the database
//! latest                          the newest signed tree note
//! lookup/<esc path>@<esc version> the record, answered with the newest signed tree
//! tile/8/<L>/<N>[.p/<W>]          hash tiles (any width up to the stored one)
//! ```
//! Everything is verified again before it is served, as at import: the tree notes'
//! signatures and consistency when the store is opened (a few notes), each record's
//! proof and each tile's hash chain on first use (a store can hold thousands; a
//! mount must start in milliseconds). What fails is logged and never served.
//! Lookups carry the newest tree note instead of the one they came with: records
//! are proved against it where possible, and a client that sees the newest tree
//! first needs only that tree's tiles.

use super::db;
use super::note::Verifier;
use super::tlog::{Tile, Tree, HASH_SIZE, TILE_HEIGHT};
use super::verify::{self, Record, TileSet};
use crate::error::Result;
use crate::store::Store;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

struct DbFiles {
    latest: Vec<u8>,
    /// Verified signed trees, ascending.
    trees: Vec<Tree>,
    /// By `lookup/<esc path>@<esc version>`.
    records: BTreeMap<String, Record>,
    tiles: TileSet<Vec<u8>>,
    /// Proof results so far, by path below the database's directory.
    checked: Mutex<HashMap<String, bool>>,
}

/// The checksum-database files of a store.
#[derive(Default)]
pub struct Files {
    dbs: BTreeMap<String, DbFiles>,
}

/// What `Files::check` found.
#[derive(Debug, Default)]
pub(crate) struct Check {
    pub(crate) databases: usize,
    pub(crate) records: usize,
    pub(crate) tiles: usize,
    pub errors: Vec<String>,
}

fn lookup_name(path: &str, version: &str) -> Option<String> {
    Some(format!("lookup/{}@{}", crate::gomod::path::escape(path)?, crate::gomod::path::escape(version)?))
}

impl DbFiles {
    /// Whether `rel` (a lookup or the widest stored tile) is proved; the first
    /// failure is logged.
    fn proved(&self, db: &str, rel: &str) -> std::result::Result<(), String> {
        if let Some(&ok) = self.checked.lock().ok().as_ref().and_then(|c| c.get(rel)) {
            return if ok { Ok(()) } else { Err(format!("{db}: {rel}: failed verification")) };
        }
        let res = if let Some(r) = self.records.get(rel) {
            let own = self.trees.last().map_or(0, |t| t.n);
            verify::prove_record(&self.trees, own, &self.tiles, r.id, r.text.as_bytes())
                .map(|_| ())
                .map_err(|e| format!("{db}: {}@{}: {e}", r.path, r.version))
        } else {
            match Tile::parse(rel).and_then(|t| self.tiles.widest(t.l, t.n)) {
                Some((t, _)) => verify::prove_tile(&self.trees, &self.tiles, &t).map_err(|e| format!("{db}: {e}")),
                None => Err(format!("{db}: {rel}: not in the store")),
            }
        };
        if let Err(e) = &res {
            log::error!("{e}; not served");
        }
        if let Ok(mut c) = self.checked.lock() {
            c.insert(rel.to_string(), res.is_ok());
        }
        res
    }
}

impl Files {
    /// Opens every database of the store: keys and signed trees are verified now,
    /// records and tiles when first asked for. Problems are logged.
    pub fn load(store: &Store) -> Result<Files> {
        let (f, errors) = Files::open(store)?;
        for e in &errors {
            log::error!("{e}; not served");
        }
        Ok(f)
    }

    fn open(store: &Store) -> Result<(Files, Vec<String>)> {
        let mut files = Files::default();
        let mut errors = Vec::new();
        let keys = db::keys(store)?;
        for name in db::databases(store)? {
            let verifiers: Vec<Verifier> = keys
                .iter()
                .filter(|(d, _)| *d == name)
                .filter_map(|(_, k)| match Verifier::parse(k) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        errors.push(format!("{name}: stored key: {e}"));
                        None
                    }
                })
                .collect();
            let stored = db::load(store, &name)?;
            let (v, refused) = verify::verify(&name, &verifiers, &stored.notes, &[], &stored.tiles);
            errors.extend(refused.iter().map(|r| r.message.clone()));
            if refused.iter().any(|r| r.fatal) {
                continue;
            }
            let Some((_, (_, latest))) = v.trees.iter().next_back() else {
                errors.push(format!("{name}: no stored tree note verifies with the stored keys"));
                continue;
            };
            let mut tiles = TileSet::new();
            for (t, data) in stored.tiles {
                if data.len() == t.w as usize * HASH_SIZE {
                    tiles.insert(t, data);
                } else {
                    errors.push(format!("{name}: {}: {} bytes stored, not a whole tile", t.path(), data.len()));
                }
            }
            let records =
                stored.records.into_iter().filter_map(|r| Some((lookup_name(&r.path, &r.version)?, r))).collect();
            let d = DbFiles {
                latest: latest.clone(),
                trees: v.trees.iter().map(|(&n, (h, _))| Tree { n, hash: *h }).collect(),
                records,
                tiles,
                checked: Mutex::new(HashMap::new()),
            };
            files.dbs.insert(name, d);
        }
        Ok((files, errors))
    }

    /// Verifies everything of every database of the store, now (`modcachefs verify`).
    pub(crate) fn check(store: &Store) -> Result<(Files, Check)> {
        let (files, errors) = Files::open(store)?;
        let mut check = Check { errors, ..Default::default() };
        check.databases = db::databases(store)?.len();
        for (name, d) in &files.dbs {
            for rel in d.records.keys() {
                match d.proved(name, rel) {
                    Ok(()) => check.records += 1,
                    Err(e) => check.errors.push(e),
                }
            }
            for t in d.tiles.tiles() {
                match d.proved(name, &t.path()) {
                    Ok(()) => check.tiles += 1,
                    Err(e) => check.errors.push(e),
                }
            }
        }
        Ok((files, check))
    }

    /// Opens the store read-only and checks every database in it.
    pub(crate) fn check_store(dir: &std::path::Path) -> Result<Check> {
        Ok(Files::check(&Store::open_ro(dir)?)?.1)
    }

    /// Whether the store serves database `db` (a proxy's `/sumdb/<db>/supported`).
    pub(crate) fn supported(&self, db: &str) -> bool {
        self.dbs.contains_key(db)
    }

    /// The file `rel` of database `db` (`supported`, `latest`, `lookup/...`,
    /// `tile/...`), or None when the store has no such file or it fails verification.
    pub fn get(&self, db: &str, rel: &str) -> Option<Vec<u8>> {
        let d = self.dbs.get(db)?;
        match rel {
            "supported" => Some(Vec::new()),
            "latest" => Some(d.latest.clone()),
            _ if rel.starts_with("lookup/") => {
                let r = d.records.get(rel)?;
                d.proved(db, rel).ok()?;
                let mut msg = format!("{}\n{}\n", r.id, r.text).into_bytes();
                msg.extend_from_slice(&d.latest);
                Some(msg)
            }
            _ => {
                let t = Tile::parse(rel).filter(|t| t.h == TILE_HEIGHT && t.l >= 0)?;
                let (stored, data) = d.tiles.widest(t.l, t.n)?;
                if t.w > stored.w {
                    return None;
                }
                d.proved(db, &stored.path()).ok()?;
                Some(data[..t.w as usize * HASH_SIZE].to_vec())
            }
        }
    }

    /// Every file as the mount lists it: (db, relative path). Tiles are listed at
    /// their stored width (what a client of the newest tree asks for).
    pub fn paths(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, d) in &self.dbs {
            out.push((name.clone(), "supported".to_string()));
            out.extend(d.records.keys().map(|k| (name.clone(), k.clone())));
            out.extend(d.tiles.tiles().into_iter().map(|t| (name.clone(), t.path())));
        }
        out
    }
}
