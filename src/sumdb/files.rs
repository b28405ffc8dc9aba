//! The checksum-database files cmd/go reads, served from the store: the
//! frontend-independent API of the mount (`cache/download/sumdb/<db>/...`) and of
//! `serve` (`/sumdb/<db>/...`).
//!
//! ```text
//! supported                       empty: this proxy serves the database
//! latest                          the newest signed tree note
//! lookup/<esc path>@<esc version> the record, answered with the newest signed tree
//! tile/8/<L>/<N>[.p/<W>]          hash tiles (any width up to the verified one)
//! ```
//! Everything is verified again when loaded (`verify::verify` over the stored
//! notes, records and tiles); what fails is logged and not served. Lookups carry
//! the newest tree note instead of the one they came with: the record was proved
//! against that tree where possible, and a client that sees the newest tree first
//! needs only that tree's tiles.

use super::db;
use super::note::Verifier;
use super::tlog::{Tile, HASH_SIZE, TILE_HEIGHT};
use super::verify::{self, Lookup};
use crate::error::Result;
use crate::modpath;
use crate::store::Store;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
struct DbFiles {
    vkey: String,
    latest: Vec<u8>,
    lookups: BTreeMap<String, Vec<u8>>,
    tiles: BTreeMap<(i32, i64), Vec<u8>>,
}

/// The verified checksum-database files of a store.
#[derive(Debug, Default)]
pub struct Files {
    dbs: BTreeMap<String, DbFiles>,
}

/// What `Files::check` found.
#[derive(Debug, Default)]
pub struct Check {
    pub databases: usize,
    pub records: usize,
    pub tiles: usize,
    pub errors: Vec<String>,
}

fn lookup_name(path: &str, version: &str) -> Option<String> {
    Some(format!("lookup/{}@{}", modpath::escape(path)?, modpath::escape(version)?))
}

impl Files {
    /// Loads and verifies every database of the store (refusals are logged).
    pub fn load(store: &Store) -> Result<Files> {
        let (f, check) = Files::check(store)?;
        for e in &check.errors {
            log::error!("{e}; not served");
        }
        Ok(f)
    }

    /// Loads and verifies every database of the store, returning what failed.
    pub fn check(store: &Store) -> Result<(Files, Check)> {
        let c = store.conn();
        let mut files = Files::default();
        let mut check = Check::default();
        let keys = db::keys(c)?;
        for name in db::databases(c)? {
            check.databases += 1;
            let verifiers: Vec<Verifier> = keys
                .iter()
                .filter(|(d, _)| *d == name)
                .filter_map(|(_, k)| match Verifier::parse(k) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        check.errors.push(format!("{name}: stored key: {e}"));
                        None
                    }
                })
                .collect();
            let stored = db::load(c, &name)?;
            // The newest note whose signature verifies answers every lookup.
            let (trees, _) = verify::verify(&name, &verifiers, &stored.notes, &[], &stored.tiles);
            let Some((_, (_, newest))) = trees.trees.iter().next_back() else {
                check.errors.push(format!("{name}: no stored tree note verifies with the stored keys"));
                continue;
            };
            let newest = newest.clone();
            let lookups: Vec<Lookup> = stored
                .records
                .iter()
                .map(|r| {
                    let mut msg = format!("{}\n{}\n", r.id, r.text).into_bytes();
                    msg.extend_from_slice(&newest);
                    Lookup { path: r.path.clone(), version: r.version.clone(), msg }
                })
                .collect();
            let (v, refused) = verify::verify(&name, &verifiers, &stored.notes, &lookups, &stored.tiles);
            check.errors.extend(refused.into_iter().map(|r| r.message));
            let mut d = DbFiles {
                vkey: verifiers.first().map(|v| v.text.clone()).unwrap_or_default(),
                latest: newest.clone(),
                ..Default::default()
            };
            for r in &v.records {
                if let Some(n) = lookup_name(&r.path, &r.version) {
                    let mut msg = format!("{}\n{}\n", r.id, r.text).into_bytes();
                    msg.extend_from_slice(&newest);
                    d.lookups.insert(n, msg);
                }
            }
            check.records += v.records.len();
            check.tiles += v.tiles.len();
            d.tiles = v.tiles;
            files.dbs.insert(name, d);
        }
        Ok((files, check))
    }

    /// Opens the store read-only and checks every database in it (`modcachefs verify`).
    pub fn check_store(dir: &std::path::Path) -> Result<Check> {
        Ok(Files::check(&Store::open_ro(dir)?)?.1)
    }

    /// The databases served, with the key they verify with (GOSUMDB's `name+hash+key`).
    pub fn databases(&self) -> Vec<(String, String)> {
        self.dbs.iter().map(|(n, d)| (n.clone(), d.vkey.clone())).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    /// Whether the store serves database `db` (a proxy's `/sumdb/<db>/supported`).
    pub fn supported(&self, db: &str) -> bool {
        self.dbs.contains_key(db)
    }

    /// The file `rel` of database `db` (`supported`, `latest`, `lookup/...`,
    /// `tile/...`), or None when the store has no such (verified) file.
    pub fn get(&self, db: &str, rel: &str) -> Option<Vec<u8>> {
        let d = self.dbs.get(db)?;
        match rel {
            "supported" => Some(Vec::new()),
            "latest" => Some(d.latest.clone()),
            _ if rel.starts_with("lookup/") => d.lookups.get(rel).cloned(),
            _ => {
                let t = Tile::parse(rel).filter(|t| t.h == TILE_HEIGHT && t.l >= 0)?;
                let data = d.tiles.get(&(t.l, t.n))?;
                let want = t.w as usize * HASH_SIZE;
                (data.len() >= want).then(|| data[..want].to_vec())
            }
        }
    }

    /// Every file as the mount lists it: (db, relative path). Tiles are listed at
    /// their verified width (what a client of the newest tree asks for).
    pub fn paths(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, d) in &self.dbs {
            out.push((name.clone(), "supported".to_string()));
            out.extend(d.lookups.keys().map(|k| (name.clone(), k.clone())));
            for ((l, n), data) in &d.tiles {
                let w = (data.len() / HASH_SIZE) as u32;
                out.push((name.clone(), Tile { h: TILE_HEIGHT, l: *l, n: *n, w }.path()));
            }
        }
        out
    }
}
