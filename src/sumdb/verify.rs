//! Offline verification of one checksum database's files, the way cmd/go's
//! client (golang.org/x/mod/sumdb.Client) checks them online:
//!
//! - every lookup answer's tree note must be signed by a key of the database;
//! - all signed trees must be consistent: two of the same size with different
//!   hashes, or a smaller tree whose hash, computed from the tiles of a larger
//!   one, differs, is a forked (misbehaving) database: a fatal error;
//! - every record must be included in a signed tree, proved from the tiles;
//! - every tile used must hash to the signed tree (`tlog::TileHashReader`).
//!
//! The same function checks an import (new files plus what the store holds),
//! `modcachefs verify`, and a mount's start (only verified files are served).

use super::format::{parse_record, parse_tree};
use super::note::{self, Verifier};
use super::tlog::{self, HashReader, Tile, TileHashReader, TileSource, TlogError, Tree};
use std::collections::{BTreeMap, HashMap};

/// One lookup answer, as read from a file or the store.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    pub path: String,
    pub version: String,
    /// `<id>\n<record text>\n<signed tree note>`.
    pub(crate) msg: Vec<u8>,
}

/// A verified record: its id in the log and its go.sum lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub path: String,
    pub version: String,
    pub id: i64,
    pub(crate) text: String,
}

/// What passed, for one database.
#[derive(Debug, Default)]
pub(crate) struct Verified {
    /// Signed trees by size: (root hash, the signed note).
    pub(crate) trees: BTreeMap<i64, (tlog::Hash, Vec<u8>)>,
    pub(crate) records: Vec<Record>,
    /// The widest verified data of each tile, by (level, number).
    pub(crate) tiles: BTreeMap<(i32, i64), Vec<u8>>,
    /// `name+hash` of the keys whose signatures were checked.
    pub(crate) keys_used: Vec<String>,
}

/// Why something was refused. `fatal`: the database's trees contradict each
/// other (or cannot be shown not to): nothing new of it may be trusted.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) fatal: bool,
    pub(crate) message: String,
}

/// Tiles available for the proofs: exact files, or a wider one's prefix (a
/// tile's first W hashes never change as the log grows).
pub(crate) struct TileSet<D> {
    /// By (level, number): (width, bytes) of each file.
    by_slot: HashMap<(i32, i64), Vec<(u32, D)>>,
}

impl<D: AsRef<[u8]>> TileSet<D> {
    pub fn new() -> Self {
        TileSet { by_slot: HashMap::new() }
    }

    /// Adds a tile whose length has been checked (`w` hashes).
    pub(crate) fn insert(&mut self, t: Tile, data: D) {
        self.by_slot.entry((t.l, t.n)).or_default().push((t.w, data));
    }

    /// The widest tile held at (level, number).
    pub(crate) fn widest(&self, l: i32, n: i64) -> Option<(Tile, &[u8])> {
        let (w, d) = self.by_slot.get(&(l, n))?.iter().max_by_key(|(w, _)| *w)?;
        Some((Tile { h: tlog::TILE_HEIGHT, l, n, w: *w }, d.as_ref()))
    }

    /// The widest tile of every (level, number), in order.
    pub(crate) fn tiles(&self) -> Vec<Tile> {
        let mut v: Vec<Tile> = self.by_slot.keys().filter_map(|&(l, n)| Some(self.widest(l, n)?.0)).collect();
        v.sort();
        v
    }
}

impl<D: AsRef<[u8]>> Default for TileSet<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: AsRef<[u8]>> TileSource for &TileSet<D> {
    fn read_tile(&mut self, t: &Tile) -> Result<Vec<u8>, TlogError> {
        let cands = self.by_slot.get(&(t.l, t.n)).map(Vec::as_slice).unwrap_or(&[]);
        // Narrowest that is wide enough (an exact file first).
        cands
            .iter()
            .filter(|(w, _)| *w >= t.w)
            .min_by_key(|(w, _)| *w)
            .map(|(_, d)| d.as_ref()[..t.w as usize * tlog::HASH_SIZE].to_vec())
            .ok_or_else(|| TlogError(format!("{} is missing", t.path())))
    }
}

/// Proves that record `id` with `text` is in one of `trees` (ascending): the
/// newest first (what a client holding the newest note checks), then `own` (the
/// tree its lookup came with), then the others. Returns the tiles it used.
pub(crate) fn prove_record<D: AsRef<[u8]>>(
    trees: &[Tree],
    own: i64,
    tiles: &TileSet<D>,
    id: i64,
    text: &[u8],
) -> Result<Vec<(Tile, Vec<u8>)>, String> {
    let leaf = tlog::record_hash(text);
    let newest = trees.last().map_or(0, |t| t.n);
    let mut order: Vec<Tree> = trees.iter().rev().copied().collect();
    order.sort_by_key(|t| (t.n != newest, t.n != own));
    let mut why = format!("record {id} is beyond every signed tree");
    for u in order.iter().filter(|u| id < u.n) {
        let mut src = tiles;
        let mut r = TileHashReader { tree: *u, height: tlog::TILE_HEIGHT, source: &mut src, used: vec![] };
        match r.read_hashes(&[tlog::stored_hash_index(0, id)]) {
            Ok(h) if h[0] == leaf => return Ok(r.used),
            Ok(_) => {
                return Err(format!("record {id} does not match signed tree {} (its go.sum lines were altered)", u.n))
            }
            Err(e) => why = format!("record {id} cannot be proved in signed tree {}: {e}", u.n),
        }
    }
    Err(why)
}

/// Proves a stored tile (`t.w` hashes) against the tree whose edge gives it that
/// width (every byte of a tile read that way is checked against the root).
pub(crate) fn prove_tile<D: AsRef<[u8]>>(trees: &[Tree], tiles: &TileSet<D>, t: &Tile) -> Result<(), String> {
    let width_in = |n: i64| {
        let max = n >> (t.l as u32 * tlog::TILE_HEIGHT);
        (max - (t.n << tlog::TILE_HEIGHT)).clamp(0, 1 << tlog::TILE_HEIGHT)
    };
    let mut why = format!("{} belongs to no signed tree", t.path());
    for u in trees.iter().rev().filter(|u| width_in(u.n) == t.w as i64) {
        let mut src = tiles;
        let mut r = TileHashReader { tree: *u, height: tlog::TILE_HEIGHT, source: &mut src, used: vec![] };
        let first = tlog::stored_hash_index(t.l as u32 * tlog::TILE_HEIGHT, t.n << tlog::TILE_HEIGHT);
        match r.read_hashes(&[first]) {
            Ok(_) => return Ok(()),
            Err(e) => why = e.0,
        }
    }
    Err(why)
}

fn record_lines_ok(path: &str, version: &str, text: &str) -> Result<(), String> {
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let ok = f.len() == 3
            && f[0] == path
            && (f[1] == version || f[1].strip_suffix("/go.mod") == Some(version))
            && crate::gomod::h1::is_h1(f[2]);
        if !ok {
            return Err(format!("record line {line:?} is not a go.sum line of {path}@{version}"));
        }
    }
    Ok(())
}

fn keep(used: Vec<(Tile, Vec<u8>)>, out: &mut Verified) {
    for (t, d) in used {
        let e = out.tiles.entry((t.l, t.n)).or_default();
        if d.len() > e.len() {
            *e = d;
        }
    }
}

/// Verifies `lookups` and `tiles` (exact tile -> bytes) of database `db` with
/// `keys`, with `notes` (tree notes known already, from the store) as further
/// signed trees. Returns what passed and what was refused (each message names the
/// database, the module or tile, and the reason).
pub(crate) fn verify(
    db: &str,
    keys: &[Verifier],
    notes: &[Vec<u8>],
    lookups: &[Lookup],
    tiles: &[(Tile, Vec<u8>)],
) -> (Verified, Vec<Refusal>) {
    let mut out = Verified::default();
    let mut refused = Vec::new();
    let refuse = |refused: &mut Vec<Refusal>, m: String| refused.push(Refusal { fatal: false, message: m });
    let keys: Vec<Verifier> = keys.iter().filter(|k| k.name == db).cloned().collect();

    if keys.is_empty() && !lookups.is_empty() {
        refused.push(Refusal {
            fatal: true,
            message: format!(
                "{db}: no key known for this checksum database (give it with --sumdb-key {db}+HASH+KEY or in GOSUMDB); its {} lookups were not imported",
                lookups.len()
            ),
        });
        return (out, refused);
    }
    // 1. Notes known already, then lookups: syntax, the record's lines, the note's signature.
    for msg in notes {
        match note::open(msg, &keys).map(|n| (parse_tree(&n.text), n.signed_by)) {
            Ok((Some(t), by)) => {
                for k in by {
                    if !out.keys_used.contains(&k) {
                        out.keys_used.push(k);
                    }
                }
                if let Some((h, _)) = out.trees.get(&t.n) {
                    if *h != t.hash {
                        refused.push(Refusal {
                            fatal: true,
                            message: format!(
                                "{db}: SECURITY ERROR: two signed trees of size {} with different hashes",
                                t.n
                            ),
                        });
                        return (Verified::default(), refused);
                    }
                } else {
                    out.trees.insert(t.n, (t.hash, msg.clone()));
                }
            }
            Ok((None, _)) => refuse(&mut refused, format!("{db}: a stored tree note is not a tree head")),
            Err(e) => refuse(&mut refused, format!("{db}: a stored tree note: {e}")),
        }
    }
    let mut parsed: Vec<(usize, i64, String, Tree)> = Vec::new();
    for (i, l) in lookups.iter().enumerate() {
        let what = format!("{db}: {}@{}", l.path, l.version);
        let Some((id, text, note_msg)) = parse_record(&l.msg) else {
            refuse(&mut refused, format!("{what}: malformed lookup answer; not imported"));
            continue;
        };
        let text = String::from_utf8_lossy(text).into_owned();
        if let Err(e) = record_lines_ok(&l.path, &l.version, &text) {
            refuse(&mut refused, format!("{what}: {e}; not imported"));
            continue;
        }
        let n = match note::open(note_msg, &keys) {
            Ok(n) => n,
            Err(e) => {
                let have: Vec<&str> = keys.iter().map(|k| k.text.as_str()).collect();
                let with =
                    if have.is_empty() { "no key known".to_string() } else { format!("keys {}", have.join(", ")) };
                refuse(&mut refused, format!("{what}: tree note: {e} ({with}); not imported"));
                continue;
            }
        };
        for k in n.signed_by {
            if !out.keys_used.contains(&k) {
                out.keys_used.push(k);
            }
        }
        let Some(tree) = parse_tree(&n.text) else {
            refuse(&mut refused, format!("{what}: the signed note is not a tree head; not imported"));
            continue;
        };
        match out.trees.get(&tree.n) {
            Some((h, _)) if *h != tree.hash => {
                refused.push(Refusal {
                    fatal: true,
                    message: format!(
                        "{db}: SECURITY ERROR: two signed trees of size {} with different hashes ({} and {}): the database forked; nothing new of {db} imported",
                        tree.n,
                        tlog::b64(h),
                        tlog::b64(&tree.hash)
                    ),
                });
                return (Verified::default(), refused);
            }
            Some(_) => {}
            None => {
                out.trees.insert(tree.n, (tree.hash, note_msg.to_vec()));
            }
        }
        parsed.push((i, id, text, tree));
    }

    // 2. Tiles: a file must have exactly the bytes its name promises.
    let mut set: TileSet<&[u8]> = TileSet::new();
    for (t, data) in tiles {
        if t.h != tlog::TILE_HEIGHT || t.l < 0 {
            continue; // data tiles and other heights: cmd/go never reads them
        }
        if data.len() != t.w as usize * tlog::HASH_SIZE {
            refuse(
                &mut refused,
                format!(
                    "{db}: {}: {} bytes, want {} (truncated or padded); not imported",
                    t.path(),
                    data.len(),
                    t.w as usize * 32
                ),
            );
            continue;
        }
        set.insert(*t, data.as_slice());
    }
    let mut src = &set;

    // 3. Consistency of the signed trees: each with a larger one (transitively
    // with the largest), from the larger one's tiles.
    let trees: Vec<Tree> = out.trees.iter().map(|(&n, (h, _))| Tree { n, hash: *h }).collect();
    for (i, t) in trees.iter().enumerate() {
        if t.n == 0 || i + 1 == trees.len() {
            continue;
        }
        let mut last_err = String::new();
        let mut proved = false;
        for u in trees[i + 1..].iter().rev() {
            let mut r = TileHashReader { tree: *u, height: tlog::TILE_HEIGHT, source: &mut src, used: vec![] };
            match tlog::tree_hash(t.n, &mut r) {
                Ok(h) if h == t.hash => {
                    let used = std::mem::take(&mut r.used);
                    keep(used, &mut out);
                    proved = true;
                    break;
                }
                Ok(h) => {
                    refused.push(Refusal {
                        fatal: true,
                        message: format!(
                            "{db}: SECURITY ERROR: signed tree {} (hash {}) is not a prefix of signed tree {} (whose tiles give {}): the database forked; nothing new of {db} imported",
                            t.n,
                            tlog::b64(&t.hash),
                            u.n,
                            tlog::b64(&h)
                        ),
                    });
                    return (Verified::default(), refused);
                }
                Err(e) => last_err = format!("with tree {}: {e}", u.n),
            }
        }
        if !proved {
            refused.push(Refusal {
                fatal: true,
                message: format!(
                    "{db}: signed tree {} cannot be proved consistent with the newer trees ({last_err}); nothing new of {db} imported",
                    t.n
                ),
            });
            return (Verified::default(), refused);
        }
    }

    // 4. Each record's inclusion.
    for (i, id, text, own) in parsed {
        let l = &lookups[i];
        match prove_record(&trees, own.n, &set, id, text.as_bytes()) {
            Ok(used) => {
                keep(used, &mut out);
                out.records.push(Record { path: l.path.clone(), version: l.version.clone(), id, text });
            }
            Err(why) => refuse(&mut refused, format!("{db}: {}@{}: {why}; not imported", l.path, l.version)),
        }
    }
    (out, refused)
}
