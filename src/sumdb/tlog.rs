//! The checksum database's transparency log (golang.org/x/mod/sumdb/tlog):
//! RFC 6962 record and node hashes, the stored-hash numbering, tree hashes,
//! record and tree (consistency) proofs, and tiles of stored hashes.
//!
//! Only the verifying half is compiled into the daemon: the proving half (what a
//! checksum database server computes) is kept, under `cfg(test)`, to test it with.
//!
//! Hand-written, ported from the algorithm of x/mod (no Rust crate implements Go's
//! tile layout and stored-hash numbering, and a proof is only as good as its exact
//! index arithmetic). Tested with x/mod's own vectors and with vectors made by
//! scripts/sumdb-test-server.

use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub(crate) type Hash = [u8; 32];
pub(crate) const HASH_SIZE: usize = 32;
/// The tile height every Go client and sum.golang.org use.
pub(crate) const TILE_HEIGHT: u32 = 8;

/// A log error: the message says what could not be read or proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlogError(pub String);

impl std::fmt::Display for TlogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Res<T> = std::result::Result<T, TlogError>;

fn err<T>(m: impl Into<String>) -> Res<T> {
    Err(TlogError(m.into()))
}

pub(crate) fn b64(h: &Hash) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(h)
}

pub(crate) fn parse_hash(s: &str) -> Option<Hash> {
    use base64::Engine;
    let v = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    v.try_into().ok()
}

pub(crate) fn record_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub(crate) fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (n > 1), and its log2.
fn maxpow2(n: i64) -> (i64, u32) {
    let mut l = 0;
    while (1i64 << (l + 1)) < n {
        l += 1;
    }
    (1 << l, l)
}

/// The index, in the log's sequence of stored hashes, of the hash of the subtree
/// at `level` numbered `n` (records are level 0).
pub(crate) fn stored_hash_index(level: u32, mut n: i64) -> i64 {
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut i = 0;
    while n > 0 {
        i += n;
        n >>= 1;
    }
    i + level as i64
}

pub(crate) fn split_stored_hash_index(index: i64) -> (u32, i64) {
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    loop {
        let x = index_n + 1 + (n + 1).trailing_zeros() as i64;
        if x > index {
            break;
        }
        n += 1;
        index_n = x;
    }
    let level = (index - index_n) as u32;
    (level, n >> level)
}

#[cfg(test)]
pub(crate) fn stored_hash_count(n: i64) -> i64 {
    if n == 0 {
        return 0;
    }
    let mut num = stored_hash_index(0, n - 1) + 1;
    let mut i = (n - 1) as u64;
    while i & 1 != 0 {
        num += 1;
        i >>= 1;
    }
    num
}

/// Reads stored hashes by index (in the order asked).
pub(crate) trait HashReader {
    fn read_hashes(&mut self, indexes: &[i64]) -> Res<Vec<Hash>>;
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&mut self, indexes: &[i64]) -> Res<Vec<Hash>> {
        indexes
            .iter()
            .map(|&i| self.get(i as usize).copied().ok_or_else(|| TlogError(format!("no hash {i}"))))
            .collect()
    }
}

fn read_exact(r: &mut dyn HashReader, indexes: &[i64]) -> Res<Vec<Hash>> {
    let h = r.read_hashes(indexes)?;
    if h.len() != indexes.len() {
        return err(format!("read {} hashes, asked for {}", h.len(), indexes.len()));
    }
    Ok(h)
}

/// The hashes to append to the stored hashes when record `n` (with `data`) is added.
#[cfg(test)]
pub(crate) fn stored_hashes(n: i64, data: &[u8], r: &mut dyn HashReader) -> Res<Vec<Hash>> {
    let mut h = record_hash(data);
    let mut hashes = vec![h];
    let m = (n + 1).trailing_zeros();
    let indexes: Vec<i64> = (0..m).rev().map(|i| stored_hash_index(i, (n >> i) - 1)).collect();
    let old = read_exact(r, &indexes)?;
    for i in 0..m as usize {
        h = node_hash(&old[m as usize - 1 - i], &h);
        hashes.push(h);
    }
    Ok(hashes)
}

fn sub_tree_index(mut lo: i64, hi: i64, need: &mut Vec<i64>) {
    while lo < hi {
        let (k, level) = maxpow2(hi - lo + 1);
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

fn sub_tree_hash(mut lo: i64, hi: i64, hashes: &[Hash]) -> Res<(Hash, &[Hash])> {
    let mut num = 0;
    while lo < hi {
        let (k, _) = maxpow2(hi - lo + 1);
        num += 1;
        lo += k;
    }
    if num == 0 || hashes.len() < num {
        return err("bad index math in subtree hash");
    }
    let mut h = hashes[num - 1];
    for i in (0..num - 1).rev() {
        h = node_hash(&hashes[i], &h);
    }
    Ok((h, &hashes[num..]))
}

/// The root hash of the tree of the first `n` records.
pub(crate) fn tree_hash(n: i64, r: &mut dyn HashReader) -> Res<Hash> {
    if n == 0 {
        return Ok([0; 32]);
    }
    let mut idx = Vec::new();
    sub_tree_index(0, n, &mut idx);
    let hashes = read_exact(r, &idx)?;
    Ok(sub_tree_hash(0, n, &hashes)?.0)
}

#[cfg(test)]
fn leaf_proof_index(lo: i64, hi: i64, n: i64, need: &mut Vec<i64>) {
    if lo + 1 == hi {
        return;
    }
    let (k, _) = maxpow2(hi - lo);
    if n < lo + k {
        leaf_proof_index(lo, lo + k, n, need);
        sub_tree_index(lo + k, hi, need);
    } else {
        sub_tree_index(lo, lo + k, need);
        leaf_proof_index(lo + k, hi, n, need);
    }
}

#[cfg(test)]
fn leaf_proof(lo: i64, hi: i64, n: i64, hashes: &[Hash]) -> Res<(Vec<Hash>, &[Hash])> {
    if lo + 1 == hi {
        return Ok((Vec::new(), hashes));
    }
    let (k, _) = maxpow2(hi - lo);
    let (mut p, th, rest) = if n < lo + k {
        let (p, rest) = leaf_proof(lo, lo + k, n, hashes)?;
        let (th, rest) = sub_tree_hash(lo + k, hi, rest)?;
        (p, th, rest)
    } else {
        let (th, rest) = sub_tree_hash(lo, lo + k, hashes)?;
        let (p, rest) = leaf_proof(lo + k, hi, n, rest)?;
        (p, th, rest)
    };
    p.push(th);
    Ok((p, rest))
}

/// The proof that record `n` is in the tree of size `t`.
#[cfg(test)]
pub(crate) fn prove_record(t: i64, n: i64, r: &mut dyn HashReader) -> Res<Vec<Hash>> {
    if t < 0 || n < 0 || n >= t {
        return err(format!("record {n} is not in a tree of size {t}"));
    }
    let mut idx = Vec::new();
    leaf_proof_index(0, t, n, &mut idx);
    if idx.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = read_exact(r, &idx)?;
    Ok(leaf_proof(0, t, n, &hashes)?.0)
}

#[cfg(test)]
fn run_record_proof(p: &[Hash], lo: i64, hi: i64, n: i64, leaf: Hash) -> Option<Hash> {
    if lo + 1 == hi {
        return p.is_empty().then_some(leaf);
    }
    let (last, rest) = p.split_last()?;
    let (k, _) = maxpow2(hi - lo);
    if n < lo + k {
        Some(node_hash(&run_record_proof(rest, lo, lo + k, n, leaf)?, last))
    } else {
        Some(node_hash(last, &run_record_proof(rest, lo + k, hi, n, leaf)?))
    }
}

/// Checks that `p` proves record `n` with hash `h` is in the tree (`t`, `th`).
#[cfg(test)]
pub(crate) fn check_record(p: &[Hash], t: i64, th: &Hash, n: i64, h: &Hash) -> bool {
    t >= 0 && n >= 0 && n < t && run_record_proof(p, 0, t, n, *h).as_ref() == Some(th)
}

#[cfg(test)]
fn tree_proof_index(lo: i64, hi: i64, n: i64, need: &mut Vec<i64>) {
    if n == hi {
        if lo != 0 {
            sub_tree_index(lo, hi, need);
        }
        return;
    }
    let (k, _) = maxpow2(hi - lo);
    if n <= lo + k {
        tree_proof_index(lo, lo + k, n, need);
        sub_tree_index(lo + k, hi, need);
    } else {
        sub_tree_index(lo, lo + k, need);
        tree_proof_index(lo + k, hi, n, need);
    }
}

#[cfg(test)]
fn tree_proof(lo: i64, hi: i64, n: i64, hashes: &[Hash]) -> Res<(Vec<Hash>, &[Hash])> {
    if n == hi {
        if lo == 0 {
            return Ok((Vec::new(), hashes));
        }
        let (th, rest) = sub_tree_hash(lo, hi, hashes)?;
        return Ok((vec![th], rest));
    }
    let (k, _) = maxpow2(hi - lo);
    let (mut p, th, rest) = if n <= lo + k {
        let (p, rest) = tree_proof(lo, lo + k, n, hashes)?;
        let (th, rest) = sub_tree_hash(lo + k, hi, rest)?;
        (p, th, rest)
    } else {
        let (th, rest) = sub_tree_hash(lo, lo + k, hashes)?;
        let (p, rest) = tree_proof(lo + k, hi, n, rest)?;
        (p, th, rest)
    };
    p.push(th);
    Ok((p, rest))
}

/// The proof that the tree of size `n` is a prefix of the tree of size `t`.
#[cfg(test)]
pub(crate) fn prove_tree(t: i64, n: i64, r: &mut dyn HashReader) -> Res<Vec<Hash>> {
    if t < 1 || n < 1 || n > t {
        return err(format!("no consistency proof between trees of size {n} and {t}"));
    }
    let mut idx = Vec::new();
    tree_proof_index(0, t, n, &mut idx);
    if idx.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = read_exact(r, &idx)?;
    Ok(tree_proof(0, t, n, &hashes)?.0)
}

#[cfg(test)]
fn run_tree_proof(p: &[Hash], lo: i64, hi: i64, n: i64, old: Hash) -> Option<(Hash, Hash)> {
    if n == hi {
        if lo == 0 {
            return p.is_empty().then_some((old, old));
        }
        return (p.len() == 1).then(|| (p[0], p[0]));
    }
    let (last, rest) = p.split_last()?;
    let (k, _) = maxpow2(hi - lo);
    if n <= lo + k {
        let (oh, th) = run_tree_proof(rest, lo, lo + k, n, old)?;
        Some((oh, node_hash(&th, last)))
    } else {
        let (oh, th) = run_tree_proof(rest, lo + k, hi, n, old)?;
        Some((node_hash(last, &oh), node_hash(last, &th)))
    }
}

/// Checks that `p` proves the tree (`n`, `h`) is a prefix of the tree (`t`, `th`).
#[cfg(test)]
pub(crate) fn check_tree(p: &[Hash], t: i64, th: &Hash, n: i64, h: &Hash) -> bool {
    t >= 1 && n >= 1 && n <= t && run_tree_proof(p, 0, t, n, *h) == Some((*h, *th))
}

/// A tile: `w` stored hashes of level `l * h` (hash level, not tile level),
/// starting at subtree number `n << h`. `l == -1` is a data tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Tile {
    pub(crate) h: u32,
    pub(crate) l: i32,
    pub(crate) n: i64,
    pub(crate) w: u32,
}

impl Tile {
    pub(crate) fn is_full(&self) -> bool {
        self.w == 1 << self.h
    }

    /// `tile/H/L/NNN[.p/W]`, N in groups of three digits with `x` on all but the last.
    pub fn path(&self) -> String {
        let mut n = self.n;
        let mut s = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            s = format!("x{:03}/{s}", n % 1000);
        }
        let p = if self.is_full() { String::new() } else { format!(".p/{}", self.w) };
        let l = if self.l == -1 { "data".to_string() } else { self.l.to_string() };
        format!("tile/{}/{l}/{s}{p}", self.h)
    }

    /// Parses a tile path; only the canonical spelling is accepted.
    pub fn parse(path: &str) -> Option<Tile> {
        let mut f: Vec<&str> = path.split('/').collect();
        if f.len() < 4 || f[0] != "tile" {
            return None;
        }
        let h: u32 = f[1].parse().ok().filter(|h| (1..=30).contains(h))?;
        let l: i32 = if f[2] == "data" { -1 } else { f[2].parse().ok().filter(|l| (0..64).contains(l))? };
        let mut w = 1u32 << h;
        let mut last = f.len() - 1;
        let stripped;
        if let Some(dp) = f[last - 1].strip_suffix(".p") {
            let ww: u32 = f[last].parse().ok()?;
            if ww == 0 || ww >= w {
                return None;
            }
            w = ww;
            stripped = dp.to_string();
            f.truncate(last);
            last -= 1;
            f[last] = &stripped;
        }
        let mut n: i64 = 0;
        for s in &f[3..] {
            let d = s.strip_prefix('x').unwrap_or(s);
            if d.len() != 3 || !d.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            n = n.checked_mul(1000)?.checked_add(d.parse::<i64>().ok()?)?;
        }
        let t = Tile { h, l, n, w };
        (t.path() == path).then_some(t)
    }
}

/// The tile holding stored hash `index`, and the byte range of its hash there.
fn tile_for_index(h: u32, index: i64) -> (Tile, usize, usize) {
    let (level, n) = split_stored_hash_index(index);
    let l = level / h;
    let lvl = level - l * h; // level within the tile
    let tn = (n << lvl) >> h;
    let nin = n - ((tn << h) >> lvl); // n within the tile at that level
    let w = ((nin + 1) << lvl) as u32;
    let t = Tile { h, l: l as i32, n: tn, w };
    (t, (nin << lvl) as usize * HASH_SIZE, ((nin + 1) << lvl) as usize * HASH_SIZE)
}

fn tile_hash(data: &[u8]) -> Hash {
    if data.len() == HASH_SIZE {
        let mut h = [0; 32];
        h.copy_from_slice(data);
        return h;
    }
    let n = data.len() / 2;
    node_hash(&tile_hash(&data[..n]), &tile_hash(&data[n..]))
}

/// Stored hash `index`, computed from the data of tile `t` that contains it.
pub(crate) fn hash_from_tile(t: &Tile, data: &[u8], index: i64) -> Res<Hash> {
    if t.h < 1 || t.h > 30 || t.l < 0 || t.w < 1 || t.w > 1 << t.h {
        return err(format!("invalid tile {}", t.path()));
    }
    if data.len() < t.w as usize * HASH_SIZE {
        return err(format!("{} is {} bytes, too short", t.path(), data.len()));
    }
    let (t1, start, end) = tile_for_index(t.h, index);
    if t.l != t1.l || t.n != t1.n || t.w < t1.w {
        return err(format!("stored hash {index} is in {}, not {}", t1.path(), t.path()));
    }
    Ok(tile_hash(&data[start..end]))
}

/// The tile `k` levels above `t` in a tree of `n` records (`None`: beyond the tree).
fn tile_parent(mut t: Tile, k: u32, n: i64) -> Option<Tile> {
    t.l += k as i32;
    t.n >>= k * t.h;
    t.w = 1 << t.h;
    let max = n >> (t.l as u32 * t.h);
    if (t.n << t.h) + t.w as i64 >= max {
        if t.n << t.h >= max {
            return None;
        }
        t.w = (max - (t.n << t.h)) as u32;
    }
    Some(t)
}

/// Where tiles come from: the bytes of a tile, or an error saying why not.
pub(crate) trait TileSource {
    fn read_tile(&mut self, t: &Tile) -> Res<Vec<u8>>;
}

/// A signed tree head: size and root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tree {
    pub(crate) n: i64,
    pub(crate) hash: Hash,
}

/// Reads stored hashes for a tree out of tiles, checking every tile it uses
/// against the tree's root hash (tlog.TileHashReader): the tiles on the tree's
/// right edge must combine into the root, and every other tile must hash to the
/// entry its parent tile holds for it. `used` collects the tiles that passed.
pub(crate) struct TileHashReader<'a> {
    pub(crate) tree: Tree,
    /// Tile height ([`TILE_HEIGHT`] for every real database).
    pub(crate) height: u32,
    pub source: &'a mut dyn TileSource,
    pub(crate) used: Vec<(Tile, Vec<u8>)>,
}

impl HashReader for TileHashReader<'_> {
    fn read_hashes(&mut self, indexes: &[i64]) -> Res<Vec<Hash>> {
        let h = self.height;
        let n = self.tree.n;
        let mut order: HashMap<Tile, usize> = HashMap::new();
        let mut tiles: Vec<Tile> = Vec::new();
        let mut stx = Vec::new();
        sub_tree_index(0, n, &mut stx);
        let mut stx_order = Vec::with_capacity(stx.len());
        for &x in &stx {
            let t = tile_parent(tile_for_index(h, x).0, 0, n).ok_or_else(|| TlogError("bad tile math".into()))?;
            let j = *order.entry(t).or_insert_with(|| {
                tiles.push(t);
                tiles.len() - 1
            });
            stx_order.push(j);
        }
        let mut index_order = Vec::with_capacity(indexes.len());
        for &x in indexes {
            if x >= stored_hash_index(0, n) {
                return err(format!("stored hash {x} is not in the tree of size {n}"));
            }
            let t = tile_for_index(h, x).0;
            let mut k = 0;
            let found = loop {
                let p = tile_parent(t, k, n).ok_or_else(|| TlogError("bad tile math".into()))?;
                if let Some(&j) = order.get(&p) {
                    break j;
                }
                k += 1;
            };
            let mut at = found;
            for kk in (0..k).rev() {
                let p = tile_parent(t, kk, n).ok_or_else(|| TlogError("bad tile math".into()))?;
                if !p.is_full() {
                    return err(format!("bad tile math: {} in tree {n}", p.path()));
                }
                order.insert(p, tiles.len());
                at = tiles.len();
                tiles.push(p);
            }
            index_order.push(at);
        }
        let mut data = Vec::with_capacity(tiles.len());
        for t in &tiles {
            let d = self.source.read_tile(t)?;
            if d.len() != t.w as usize * HASH_SIZE {
                return err(format!("{} is {} bytes, want {}", t.path(), d.len(), t.w as usize * HASH_SIZE));
            }
            data.push(d);
        }
        // The right edge of the tree: its tiles must give the signed root.
        let last = stx.len() - 1;
        let mut th = hash_from_tile(&tiles[stx_order[last]], &data[stx_order[last]], stx[last])?;
        for i in (0..last).rev() {
            let hh = hash_from_tile(&tiles[stx_order[i]], &data[stx_order[i]], stx[i])?;
            th = node_hash(&hh, &th);
        }
        if th != self.tree.hash {
            let mut edge: Vec<usize> = stx_order.clone();
            edge.sort_unstable();
            edge.dedup();
            let names: Vec<String> = edge.iter().map(|&j| tiles[j].path()).collect();
            return err(format!(
                "tiles {} do not hash to the signed tree (size {n}, hash {})",
                names.join(", "),
                b64(&self.tree.hash)
            ));
        }
        // Every other tile must hash to what its parent holds for it.
        // (The edge's tiles come first. x/mod starts this loop at len(stx), which
        // skips a tile when two edge hashes share one; here every tile is checked.)
        let first_other = stx_order.iter().max().map_or(0, |m| m + 1);
        for i in first_other..tiles.len() {
            let t = tiles[i];
            let p = tile_parent(t, 1, n).ok_or_else(|| TlogError("bad tile math: lost parent".into()))?;
            let j = *order.get(&p).ok_or_else(|| TlogError("bad tile math: lost parent".into()))?;
            let want = hash_from_tile(&p, &data[j], stored_hash_index(p.l as u32 * p.h, t.n))?;
            if want != tile_hash(&data[i]) {
                return err(format!(
                    "{} does not hash to the signed tree (size {n}): its parent {} disagrees",
                    t.path(),
                    p.path()
                ));
            }
        }
        let mut out = Vec::with_capacity(indexes.len());
        for (i, &x) in indexes.iter().enumerate() {
            let j = index_order[i];
            out.push(hash_from_tile(&tiles[j], &data[j], x)?);
        }
        self.used.extend(tiles.into_iter().zip(data));
        Ok(out)
    }
}

/// The tiles of height `h` that a log of `new` records has and one of `old` lacks.
#[cfg(test)]
pub(crate) fn new_tiles(h: u32, old: i64, new: i64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    let mut level = 0u32;
    while new >> (h * level) > 0 {
        let old_n = old >> (h * level);
        let new_n = new >> (h * level);
        for n in (old_n >> h)..(new_n >> h) {
            tiles.push(Tile { h, l: level as i32, n, w: 1 << h });
        }
        let n = new_n >> h;
        let max_w = (new_n - (n << h)) as u32;
        let min_w = if old_n > n << h { (old_n - (n << h)) as u32 } else { 1 };
        for w in min_w..=max_w {
            tiles.push(Tile { h, l: level as i32, n, w });
        }
        level += 1;
    }
    tiles
}

/// The bytes of tile `t`, from stored hashes.
#[cfg(test)]
pub(crate) fn read_tile_data(t: &Tile, r: &mut dyn HashReader) -> Res<Vec<u8>> {
    let start = t.n << t.h;
    let idx: Vec<i64> = (0..t.w as i64).map(|i| stored_hash_index(t.h * t.l as u32, start + i)).collect();
    Ok(read_exact(r, &idx)?.concat())
}

#[cfg(test)]
#[path = "tlog_tests.rs"]
mod tests;
