//! The store and importer against the real `go` command (Debian Go 1.19) on the
//! small real-code corpus.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;

fn counts(report: &str) -> (u64, u64, u64) {
    let n = |k: &str| json_num(report, k).unwrap_or_else(|| panic!("no {k} in {report}"));
    (n("added"), n("completed"), n("unchanged"))
}

/// go resolves and builds the app offline from the corpus; the go.sum it writes
/// has exactly the hashes our import computed. Then the GOMODCACHE that go filled
/// imports to the same modules, and re-imports change nothing.
#[test]
fn go_sum_agrees_with_import_and_modcache_import_matches_proxy_import() {
    let tmp = tempdir("store-oracle");
    let store = corpus_store(tmp.path());
    let stored = ls_json(&store);
    assert!(stored.len() > 100, "small corpus has >100 module versions, got {}", stored.len());

    let app = app_copy(tmp.path());
    let modcache = tmp.path().join("gomodcache");
    let proxy_url = format!("file://{}", proxy().display());
    let go = Go::new(&go_old(), &modcache, &shared_gocache(), &proxy_url);
    go.run(&app, &["build", "./..."]);
    // Every zip-backed module of the corpus (go.mod-only versions have no zip to fetch).
    let zip_modules: Vec<&String> = stored.iter().filter(|(_, l)| l.contains("zip_size")).map(|(k, _)| k).collect();
    let mut args = vec!["mod", "download"];
    args.extend(zip_modules.iter().map(|s| s.as_str()));
    go.run(&app, &args);

    let sum = std::fs::read_to_string(app.join("go.sum")).expect("go wrote go.sum");
    let mut checked = 0;
    for line in sum.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 3, "go.sum line {line:?}");
        let (v, key) = match f[1].strip_suffix("/go.mod") {
            Some(v) => (v, "mod_h1"),
            None => (f[1], "zip_h1"),
        };
        let row = stored
            .get(&format!("{}@{v}", f[0]))
            .unwrap_or_else(|| panic!("go.sum names {} {v}, not in the store", f[0]));
        assert_eq!(json_str(row, key), Some(f[2]), "hash for {line:?}; store has {row}");
        checked += 1;
    }
    assert!(checked > 50, "only {checked} go.sum lines");

    // Importing the GOMODCACHE go filled: same modules, same hashes and blobs.
    let store2 = tmp.path().join("store2");
    let rep = import(&store2, &[&modcache]);
    let from_cache = ls_json(&store2);
    assert!(from_cache.len() > 50, "{rep}");
    for (k, line) in &from_cache {
        let want = stored.get(k).unwrap_or_else(|| panic!("{k} from GOMODCACHE is not in the proxy import"));
        for f in ["mod_h1", "zip_h1"] {
            assert_eq!(json_str(line, f), json_str(want, f), "{k} {f}");
        }
        assert!(
            line.contains("\"zip_h1_origin\":\".ziphash\"") || !line.contains("zip_h1_origin"),
            "a zip imported from a GOMODCACHE records its .ziphash as origin: {line}"
        );
    }
    let zips_in_cache = from_cache.values().filter(|l| l.contains("zip_size")).count();
    let zips_in_store = stored.values().filter(|l| l.contains("zip_size")).count();
    assert_eq!(zips_in_cache, zips_in_store, "go mod download all fetched every zip of the corpus");

    // Re-importing changes nothing, whichever source.
    let before = std::fs::read_to_string(store.join("index/CURRENT")).expect("index");
    for src in [proxy(), modcache.clone()] {
        let rep = import(&store, &[&src]);
        let (added, completed, _) = counts(&rep);
        assert_eq!((added, completed), (0, 0), "re-import of {} changed the store: {rep}", src.display());
    }
    assert_eq!(ls_json(&store), stored);
    let after = std::fs::read_to_string(store.join("index/CURRENT")).expect("index");
    assert_eq!(before, after, "a no-op re-import made a new generation of the index");
}

/// A store opens for serving from a read-only directory, and a store from a
/// newer schema is refused with a clear message.
#[test]
fn read_only_store_and_newer_schema() {
    let tmp = tempdir("store-ro");
    let store = corpus_store(tmp.path());
    // Checkpoint happened at close; make the whole store read-only for everyone
    // but root... root ignores modes, so use a read-only bind mount instead.
    let ro = tmp.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let st = std::process::Command::new("mount").args(["--bind", "-o", "ro"]).arg(&store).arg(&ro).status().unwrap();
    assert!(st.success(), "bind mount");
    let out = modcachefs(&["--store", &ro.to_string_lossy(), "ls", "--json"]);
    let out2 = modcachefs(&["--store", &ro.to_string_lossy(), "verify"]);
    let _ = std::process::Command::new("umount").arg(&ro).status();
    assert!(out.status.success(), "ls on read-only store: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() > 100);
    assert!(out2.status.success(), "verify on read-only store: {}", String::from_utf8_lossy(&out2.stderr));

    let conn = index(&store);
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let out = modcachefs(&["--store", &store.to_string_lossy(), "ls"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer modcachefs") && err.contains("schema 99"), "{err}");
}

/// `verify` finds a corrupted blob and a missing blob, and says which module.
#[test]
fn verify_reports_damaged_blobs() {
    let tmp = tempdir("store-verify");
    let store = corpus_store(tmp.path());
    let out = modcachefs(&["--store", &store.to_string_lossy(), "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = ls_json(&store);
    let (victim, line) =
        rows.iter().find(|(k, l)| k.starts_with("github.com/google/uuid@") && l.contains("zip_size")).unwrap();
    let conn = index(&store);
    let blob: String = conn
        .query_row("SELECT zip_blob FROM modules WHERE path || '@' || version = ?1", [victim], |r| r.get(0))
        .unwrap();
    let p = store.join("blobs").join(&blob[..2]).join(&blob[2..]);
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();
    let out = modcachefs(&["--store", &store.to_string_lossy(), "verify"]);
    assert_eq!(out.status.code(), Some(1), "{line}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(victim.as_str()) && err.contains("corrupt"), "{err}");
    std::fs::remove_file(&p).unwrap();
    let out = modcachefs(&["--store", &store.to_string_lossy(), "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let js = String::from_utf8_lossy(&out.stdout);
    assert!(js.contains(victim.as_str()) && js.contains("missing"), "{js}");
}

/// Names, sizes and modification times of every file in the store directory.
fn store_files(store: &Path) -> BTreeMap<String, (u64, std::time::SystemTime)> {
    tree(store)
        .into_iter()
        .filter(|(_, m)| !m.is_dir())
        .map(|(rel, m)| (rel, (m.len(), m.modified().unwrap())))
        .collect()
}

/// Pages of `table` in an index file that do not follow the previous one.
fn page_runs(index: &Path, table: &str) -> usize {
    let conn = rusqlite::Connection::open(index).unwrap();
    let mut st = conn.prepare("SELECT pageno FROM dbstat WHERE name = ?1 ORDER BY pageno").unwrap();
    let pages: Vec<i64> = st.query_map([table], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    assert!(!pages.is_empty(), "no pages for {table}");
    1 + pages.windows(2).filter(|w| w[1] != w[0] + 1).count()
}

/// An import publishes its index segment compact (the module list in one run of
/// pages, not one page per module scattered among the entries), and readers (a
/// mount, `ls`, `verify`) leave every file of the store untouched. A store of the
/// older single-index format (an `index.db`, here with the hot journal of an
/// interrupted rewrite) is read as before, the rewrite rolled back, and the next
/// import migrates it into the segment format with the same modules.
#[test]
fn readers_write_nothing_and_an_old_format_store_is_read_and_migrated() {
    let tmp = tempdir("store-settle");
    let store = corpus_store(tmp.path());
    let index = index_db(&store);
    assert!(page_runs(&index, "modules") <= 2, "modules table not contiguous after import");
    let before = store_files(&store);
    assert!(!before.keys().any(|k| k.contains("-journal") || k.contains("-wal")), "journal files left: {before:?}");

    let s = store.to_string_lossy();
    let listed = ok(&modcachefs(&["--store", &s, "ls"]), "ls");
    ok(&modcachefs(&["--store", &s, "verify"]), "verify");
    {
        let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
        let gomod = std::fs::read_to_string(m.dir.join("github.com/!burnt!sushi/toml@v1.2.0/go.mod"));
        assert!(gomod.is_ok_and(|t| t.contains("module github.com/BurntSushi/toml")));
    }
    assert_eq!(store_files(&store), before, "a reader changed the store");

    // The same index as a store of the old format (schema 2: no tombstones).
    let old = tmp.path().join("old");
    std::fs::create_dir_all(&old).unwrap();
    copy_tree(&store.join("blobs"), &old.join("blobs"));
    let old_index = old.join("index.db");
    std::fs::copy(&index, &old_index).unwrap();
    rusqlite::Connection::open(&old_index)
        .unwrap()
        .execute_batch("DROP TABLE removed; PRAGMA user_version = 2;")
        .unwrap();
    let o = old.to_string_lossy();
    assert_eq!(ok(&modcachefs(&["--store", &o, "ls"]), "ls of the old format"), listed);

    // A crash in the middle of a rollback-mode write: the index file half rewritten,
    // its journal complete. Made by copying both while a big update is spilling pages.
    let (half, journal) = {
        let conn = rusqlite::Connection::open(&old_index).unwrap();
        conn.pragma_update(None, "cache_size", 2).unwrap();
        conn.execute_batch("BEGIN; UPDATE entries SET size = size + 1; UPDATE modules SET version = version || 'x';")
            .unwrap();
        let copies = (std::fs::read(&old_index).unwrap(), std::fs::read(old.join("index.db-journal")).unwrap());
        conn.execute_batch("ROLLBACK").unwrap();
        copies
    };
    assert_ne!(half, std::fs::read(&old_index).unwrap(), "the update never reached the index file");
    std::fs::write(&old_index, half).unwrap();
    std::fs::write(old.join("index.db-journal"), journal).unwrap();
    let out = modcachefs(&["--store", &o, "ls"]);
    assert_eq!(ok(&out, "ls after a crash"), listed, "the interrupted write was not rolled back");
    assert!(text(&out.stderr).contains("rolling back an interrupted write"), "{}", text(&out.stderr));
    ok(&modcachefs(&["--store", &o, "verify"]), "verify after the roll-back");

    // The next writer migrates it: same modules, the old index gone, nothing new to add.
    let rep = import(&old, &[&proxy()]);
    assert_eq!(counts(&rep), (0, 0, listed.lines().count() as u64 - 1), "{rep}");
    assert!(!old_index.exists() && old.join("index/CURRENT").is_file(), "not migrated: {:?}", store_files(&old));
    assert_eq!(ok(&modcachefs(&["--store", &o, "ls"]), "ls after the migration"), listed);
    ok(&modcachefs(&["--store", &o, "verify"]), "verify after the migration");
}
