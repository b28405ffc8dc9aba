//! Vectors from golang.org/x/mod/sumdb/tlog's tests (tlog_test.go, tile paths),
//! and from scripts/sumdb-test-server -vectors (testdata/tlog-vectors.txt).

use super::*;
use std::collections::HashMap;

struct Tiles {
    m: HashMap<Tile, Vec<u8>>,
}

impl TileSource for Tiles {
    fn read_tile(&mut self, t: &Tile) -> Res<Vec<u8>> {
        self.m.get(t).cloned().ok_or_else(|| TlogError(format!("no {}", t.path())))
    }
}

/// x/mod's TestTree: 100 records, tile height 2, every proof against every tree.
#[test]
fn tree_like_x_mod() {
    const H: u32 = 2;
    let mut trees = Vec::new();
    let mut leaves = Vec::new();
    let mut storage: Vec<Hash> = Vec::new();
    let mut tiles: HashMap<Tile, Vec<u8>> = HashMap::new();
    for i in 0..100i64 {
        let data = format!("leaf {i}");
        let hashes = stored_hashes(i, data.as_bytes(), &mut storage).unwrap();
        leaves.push(record_hash(data.as_bytes()));
        storage.extend(hashes);
        assert_eq!(stored_hash_count(i + 1), storage.len() as i64);
        let th = tree_hash(i + 1, &mut storage).unwrap();
        for t in new_tiles(H, i, i + 1) {
            let data = read_tile_data(&t, &mut storage).unwrap();
            let old = Tile { w: t.w - 1, ..t };
            let old_data = tiles.get(&old).cloned().unwrap_or_default();
            assert_eq!(&data[..old_data.len()], &old_data[..], "{} extends {}", t.path(), old.path());
            tiles.insert(t, data);
        }
        for t in new_tiles(H, 0, i + 1) {
            assert_eq!(tiles[&t], read_tile_data(&t, &mut storage).unwrap());
        }
        trees.push(th);
        for j in 0..=i {
            let mut p = prove_record(i + 1, j, &mut storage).unwrap();
            assert!(check_record(&p, i + 1, &th, j, &leaves[j as usize]));
            for k in 0..p.len() {
                p[k][0] ^= 1;
                assert!(!check_record(&p, i + 1, &th, j, &leaves[j as usize]), "corrupt proof accepted");
                p[k][0] ^= 1;
            }
        }
        let mut src = Tiles { m: tiles.clone() };
        let mut thr = TileHashReader { tree: Tree { n: i + 1, hash: th }, height: H, source: &mut src, used: vec![] };
        for j in 0..=i {
            let h = thr.read_hashes(&[stored_hash_index(0, j)]).unwrap();
            assert_eq!(h[0], leaves[j as usize]);
            let p = prove_record(i + 1, j, &mut thr).unwrap();
            assert!(check_record(&p, i + 1, &th, j, &leaves[j as usize]));
        }
        assert!(thr.read_hashes(&[(i + 1) * 2]).is_err(), "index beyond the tree");
        for j in 0..=i {
            assert_eq!(tree_hash(j + 1, &mut thr).unwrap(), trees[j as usize]);
            let mut p = prove_tree(i + 1, j + 1, &mut thr).unwrap();
            assert!(check_tree(&p, i + 1, &th, j + 1, &trees[j as usize]));
            for k in 0..p.len() {
                p[k][0] ^= 1;
                assert!(!check_tree(&p, i + 1, &th, j + 1, &trees[j as usize]), "corrupt tree proof accepted");
                p[k][0] ^= 1;
            }
        }
    }
}

/// A tile that does not hash to the tree is refused, with its name.
#[test]
fn altered_tile_refused() {
    let mut storage: Vec<Hash> = Vec::new();
    for i in 0..40i64 {
        let h = stored_hashes(i, format!("leaf {i}").as_bytes(), &mut storage).unwrap();
        storage.extend(h);
    }
    let th = tree_hash(40, &mut storage).unwrap();
    let mut m = HashMap::new();
    for t in new_tiles(2, 0, 40) {
        m.insert(t, read_tile_data(&t, &mut storage).unwrap());
    }
    let bad = Tile { h: 2, l: 0, n: 3, w: 4 };
    m.get_mut(&bad).unwrap()[5] ^= 1;
    let mut src = Tiles { m };
    let mut thr = TileHashReader { tree: Tree { n: 40, hash: th }, height: 2, source: &mut src, used: vec![] };
    let e = thr.read_hashes(&[stored_hash_index(0, 13)]).unwrap_err();
    assert!(e.0.contains("tile/2/0/003"), "{e}");
    assert!(thr.read_hashes(&[stored_hash_index(0, 30)]).is_ok());
}

#[test]
fn split_stored_hash_index_inverts() {
    for l in 0..10 {
        for n in 0..100 {
            let x = stored_hash_index(l, n);
            assert_eq!(split_stored_hash_index(x), (l, n));
        }
    }
}

#[test]
fn tile_paths() {
    let cases: &[(&str, Option<Tile>)] = &[
        ("tile/4/0/001", Some(Tile { h: 4, l: 0, n: 1, w: 16 })),
        ("tile/4/0/001.p/5", Some(Tile { h: 4, l: 0, n: 1, w: 5 })),
        ("tile/3/5/x123/x456/078", Some(Tile { h: 3, l: 5, n: 123456078, w: 8 })),
        ("tile/3/5/x123/x456/078.p/2", Some(Tile { h: 3, l: 5, n: 123456078, w: 2 })),
        ("tile/1/0/x003/x057/500", Some(Tile { h: 1, l: 0, n: 3057500, w: 2 })),
        ("tile/3/5/123/456/078", None),
        ("tile/3/-1/123/456/078", None),
        ("tile/1/data/x003/x057/500", Some(Tile { h: 1, l: -1, n: 3057500, w: 2 })),
        ("tile/8/0/000.p/256", None),
        ("tile/8/0/000.p/0", None),
        ("tile/8/0/00", None),
    ];
    for (p, want) in cases {
        assert_eq!(Tile::parse(p), *want, "{p}");
        if let Some(t) = want {
            assert_eq!(t.path(), *p);
        }
    }
}

/// Tree hashes and proofs computed by x/mod itself (scripts/sumdb-test-server
/// -vectors): "tree N HASH", "record T N PROOF..", "treeproof T N PROOF..".
#[test]
fn vectors_from_go() {
    let text = include_str!("testdata/tlog-vectors.txt");
    let mut storage: Vec<Hash> = Vec::new();
    let mut n = 0i64;
    let mut checked = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| f[i].parse::<i64>().unwrap();
        let proof = |from: usize| f[from..].iter().map(|s| parse_hash(s).unwrap()).collect::<Vec<_>>();
        match f[0] {
            "tree" => {
                let t = num(1);
                while n < t {
                    let h = stored_hashes(n, format!("record {n}\n").as_bytes(), &mut storage).unwrap();
                    storage.extend(h);
                    n += 1;
                }
                assert_eq!(b64(&tree_hash(t, &mut storage).unwrap()), f[2], "tree {t}");
            }
            "record" => {
                let (t, i) = (num(1), num(2));
                assert_eq!(prove_record(t, i, &mut storage).unwrap(), proof(3), "record {i} in {t}");
            }
            "treeproof" => {
                let (t, o) = (num(1), num(2));
                assert_eq!(prove_tree(t, o, &mut storage).unwrap(), proof(3), "tree {o} in {t}");
            }
            "tile" => {
                let t = Tile::parse(f[1]).unwrap();
                let data = read_tile_data(&t, &mut storage).unwrap();
                assert_eq!(b64(&Sha256::digest(&data).into()), f[2], "{}", f[1]);
            }
            _ => panic!("bad vector line {line:?}"),
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} vectors");
}
