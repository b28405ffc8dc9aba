//! Lazy verification on a real mount (the default `--verify`): a module's file list
//! is checked against its trusted `h1:` on first access, each file as it is read,
//! the whole zip before `.zip` or `.ziphash` is served. Tampering makes exactly
//! the tampered module fail (EIO, one log line naming it, and the file when one is
//! to blame), untouched files of untampered modules read fine, `go build` fails
//! naming a damaged module, and modules without digests (an older store) are
//! verified whole.

mod common;
use common::damage::{blob_of, rewrite_one_go_file};
use common::*;
use std::io::Read;
use std::path::{Path, PathBuf};

/// (name, offset, compressed size) of a module's largest deflated entry.
fn largest_deflated(store: &Path, module: &str) -> (String, u64, u64) {
    let conn = rusqlite::Connection::open(common::index_db(store)).unwrap();
    conn.query_row(
        "SELECT name, data_offset, compressed_size FROM entries JOIN modules ON modules.id = module_id \
         WHERE path = ?1 AND method = 8 ORDER BY compressed_size DESC LIMIT 1",
        [module],
        |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
    )
    .unwrap()
}

/// Flips a byte in the middle of the module's largest deflated entry; returns its name.
fn flip_entry(store: &Path, module: &str) -> String {
    let (blob, _) = blob_of(store, module);
    let (name, off, len) = largest_deflated(store, module);
    let mut b = std::fs::read(&blob).unwrap();
    b[(off + len / 2) as usize] ^= 0x55;
    std::fs::write(&blob, &b).unwrap();
    name
}

/// The .go files at the root of the module's tree other than `not`, sorted.
fn go_files(mnt: &Path, mv: &str, not: &str) -> Vec<PathBuf> {
    let dir = mnt.join(mv);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "go") && p.strip_prefix(&dir).is_ok_and(|r| r != Path::new(not)))
        .collect();
    out.sort();
    out
}

/// Some file of the module's tree (the first a walk meets).
fn any_file(mnt: &Path, mv: &str) -> PathBuf {
    let mut stack = vec![mnt.join(mv)];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        if let Some(f) = entries.iter().find(|p| p.is_file()) {
            return f.clone();
        }
        stack.extend(entries);
    }
    panic!("no file in {mv}")
}

/// A .go file at the root of the module's tree other than `not`.
fn other_go_file(mnt: &Path, mv: &str, not: &str) -> PathBuf {
    go_files(mnt, mv, not).into_iter().next().unwrap_or_else(|| panic!("no other .go file in {mv}"))
}

fn download(mnt: &Path, mv: &str, ext: &str) -> PathBuf {
    let (p, v) = mv.split_once('@').unwrap();
    mnt.join(format!("cache/download/{p}/@v/{v}.{ext}"))
}

/// The module's file `name` as the original zip of the corpus holds it.
fn original(mv: &str, name: &str) -> Vec<u8> {
    let (p, v) = mv.split_once('@').unwrap();
    let zip = proxy().join(format!("{p}/@v/{v}.zip"));
    let mut za = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut f = za.by_name(&format!("{mv}/{name}")).unwrap();
    let mut out = Vec::new();
    f.read_to_end(&mut out).unwrap();
    out
}

/// The module's log lines at error level.
fn error_lines<'a>(log: &'a str, mv: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(&format!("{mv}:")) && l.contains("error")).collect()
}

#[test]
fn tampered_modules_are_refused_when_read() {
    let tmp = tempdir("lazy-tamper");
    let store = corpus_store(tmp.path());

    // A flipped byte in one entry; in another module, the same, found by a .zip read.
    let (_, flip_mv) = blob_of(&store, "github.com/google/uuid");
    let flipped = flip_entry(&store, "github.com/google/uuid");
    let (_, zipread_mv) = blob_of(&store, "github.com/google/go-cmp");
    flip_entry(&store, "github.com/google/go-cmp");
    // A truncated blob, a deleted one.
    let (trunc, trunc_mv) = blob_of(&store, "github.com/pkg/errors");
    let b = std::fs::read(&trunc).unwrap();
    std::fs::write(&trunc, &b[..b.len() / 2]).unwrap();
    let (gone, gone_mv) = blob_of(&store, "gopkg.in/ini.v1");
    std::fs::remove_file(&gone).unwrap();
    // Same names, different content: a zip rebuilt with one file changed.
    let (rewritten, rewritten_mv) = blob_of(&store, "github.com/spf13/cast");
    rewrite_one_go_file(&rewritten);
    // The index's digest list edited: two files' digests swapped, blob untouched.
    let (_, edited_mv) = blob_of(&store, "github.com/magiconair/properties");
    let conn = rusqlite::Connection::open(common::index_db(&store)).unwrap();
    let id: i64 = conn
        .query_row(
            "SELECT id FROM modules WHERE path = 'github.com/magiconair/properties' AND zip_blob IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut files: Vec<u8> =
        conn.query_row("SELECT files FROM digests WHERE module_id = ?1", [id], |r| r.get(0)).unwrap();
    assert!(files.len() >= 64, "properties has at least two files");
    let (a, b) = files.split_at_mut(32);
    a.swap_with_slice(&mut b[..32]);
    conn.execute("UPDATE digests SET files = ?1 WHERE module_id = ?2", rusqlite::params![files, id]).unwrap();
    drop(conn);

    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    // An untouched entry of the flipped module reads fine (and is the original),
    // the flipped one fails, and from then on the whole module does (but for what
    // the kernel's page cache holds already: verified bytes).
    let root = m.dir.join(&flip_mv);
    let others = go_files(&m.dir, &flip_mv, &flipped);
    assert!(others.len() >= 2, "{others:?}");
    let name = others[0].strip_prefix(&root).unwrap().to_string_lossy().into_owned();
    assert_eq!(std::fs::read(&others[0]).unwrap(), original(&flip_mv, &name), "{name}");
    assert_eio(&root.join(&flipped));
    assert_eio(&others[1]);
    assert_eio(&download(&m.dir, &flip_mv, "ziphash"));
    assert_eio(&download(&m.dir, &flip_mv, "zip"));
    // The .zip is verified whole before it is served: refused at once, then its tree.
    assert_eio(&download(&m.dir, &zipread_mv, "zip"));
    assert_eio(&any_file(&m.dir, &zipread_mv));
    for mv in [&trunc_mv, &gone_mv, &rewritten_mv, &edited_mv] {
        assert_eio(&other_go_file(&m.dir, mv, ""));
        assert_eio(&download(&m.dir, mv, "ziphash"));
    }
    // Untouched modules are served, to the byte.
    let ok_mv = blob_of(&store, "github.com/spf13/pflag").1;
    let ok = other_go_file(&m.dir, &ok_mv, "");
    let ok_name = ok.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(std::fs::read(&ok).unwrap(), original(&ok_mv, &ok_name));
    assert!(std::fs::read(download(&m.dir, &ok_mv, "zip")).unwrap().starts_with(b"PK"));

    let app = app_copy(tmp.path());
    let go = Go::new(&go_old(), &m.dir, &shared_gocache(), "off");
    let build = go.try_run(&app, &["build", "./..."]);
    let err = String::from_utf8_lossy(&build.stderr);
    assert!(!build.status.success(), "go build must fail on damaged modules");
    let damaged = [&flip_mv, &zipread_mv, &trunc_mv, &gone_mv, &rewritten_mv, &edited_mv];
    assert!(damaged.iter().any(|mv| err.contains(mv.as_str())), "go build's error names a damaged module:\n{err}");
    go.run(&app, &["build", "./internal/sysinfo"]);

    // A missing blob is a failure to read (retried), not a verdict.
    assert_eq!(m.stat("verifications_failed"), 5, "{}", m.stats());
    let log = m.stop();
    let gone_line = log.lines().find(|l| l.contains(gone_mv.as_str()) && l.contains("will retry"));
    assert!(gone_line.is_some_and(|l| l.contains("cannot open zip blob")), "{gone_mv}: no retry warning:\n{log}");
    for (mv, why) in [
        (&flip_mv, flipped.as_str()),
        (&zipread_mv, "zip blob is corrupt"),
        (&trunc_mv, "zip blob is corrupt"),
        (&rewritten_mv, "zip blob is corrupt"),
        (&edited_mv, "hashes to"),
    ] {
        let lines = error_lines(&log, mv);
        assert_eq!(lines.len(), 1, "{mv} logged once:\n{log}");
        assert!(lines[0].contains(why) && lines[0].contains("refused"), "{mv}: expected {why:?} in {}", lines[0]);
    }

    // `modcachefs verify` finds the same damage, the edited digest list included.
    let v = modcachefs(&["--store", &store.to_string_lossy(), "verify"]);
    let text = String::from_utf8_lossy(&v.stderr);
    assert!(!v.status.success(), "{text}");
    for mv in damaged {
        assert!(text.lines().any(|l| l.contains(mv.as_str())), "verify does not name {mv}:\n{text}");
    }
    assert!(text.lines().any(|l| l.contains(&edited_mv) && l.contains("digests")), "{text}");
}

/// Modules imported before the index kept digests are verified whole, once: a
/// damaged one is refused before any of its files is served, a sound one reads.
/// Importing again records the digests.
#[test]
fn modules_without_digests_are_verified_whole() {
    let tmp = tempdir("lazy-old");
    let store = corpus_store(tmp.path());
    let (_, flip_mv) = blob_of(&store, "github.com/google/uuid");
    let flipped = flip_entry(&store, "github.com/google/uuid");
    let ok_mv = blob_of(&store, "github.com/spf13/pflag").1;
    // As a schema-2 store: no digests table.
    let conn = rusqlite::Connection::open(common::index_db(&store)).unwrap();
    conn.execute_batch("DROP TABLE digests; PRAGMA user_version = 2;").unwrap();
    drop(conn);

    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    assert_eio(&other_go_file(&m.dir, &flip_mv, &flipped));
    let ok = other_go_file(&m.dir, &ok_mv, "");
    assert!(!std::fs::read(&ok).unwrap().is_empty());
    let log = m.stop();
    assert_eq!(log.lines().filter(|l| l.contains("no per-file digests")).count(), 1, "{log}");
    let lines = error_lines(&log, &flip_mv);
    assert!(lines.len() == 1 && lines[0].contains("zip blob is corrupt"), "{log}");

    let v = modcachefs(&["--store", &store.to_string_lossy(), "verify"]);
    let text = String::from_utf8_lossy(&v.stderr);
    assert!(text.contains("have no per-file digests"), "{text}");

    // Importing the sources again upgrades the store and records the digests.
    import(&store, &[&proxy()]);
    let conn = rusqlite::Connection::open(common::index_db(&store)).unwrap();
    let (with, zips): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM digests), (SELECT count(*) FROM modules WHERE zip_blob IS NOT NULL)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(with, zips, "every zip has digests after a new import");
    let v = modcachefs(&["--store", &store.to_string_lossy(), "verify"]);
    let text = String::from_utf8_lossy(&v.stderr);
    assert!(!text.contains("no per-file digests") && text.contains(&flip_mv), "{text}");
}

/// `--verify=full` verifies the whole module on first access: one flipped byte
/// anywhere refuses every file of it, untouched ones included.
#[test]
fn verify_full_checks_the_whole_module_first() {
    let tmp = tempdir("lazy-full");
    let store = corpus_store(tmp.path());
    let (_, flip_mv) = blob_of(&store, "github.com/google/uuid");
    let flipped = flip_entry(&store, "github.com/google/uuid");
    let m = Mount::new(&store, &tmp.path().join("mnt"), &["--verify=full"]);
    assert_eio(&other_go_file(&m.dir, &flip_mv, &flipped));
    let ok_mv = blob_of(&store, "github.com/spf13/pflag").1;
    assert!(!std::fs::read(other_go_file(&m.dir, &ok_mv, "")).unwrap().is_empty());
    assert_eq!(m.stat("verifications_ok"), 1);
    let log = m.stop();
    let lines = error_lines(&log, &flip_mv);
    assert!(lines.len() == 1 && lines[0].contains("zip blob is corrupt"), "{log}");
}
