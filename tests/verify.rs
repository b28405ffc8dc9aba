//! Verification on a real mount: damaged blobs and contradicting go.sum files make
//! exactly their module fail (EIO, a log line naming it, go build and go mod verify
//! failing on it) while every other module keeps working; concurrent first readers
//! share one verification.

mod common;
use common::damage::{blob_of, rewrite_one_go_file};
use common::*;
use std::path::{Path, PathBuf};

/// (offset, compressed size) of the largest deflated entry of a module.
fn deflated_entry(store: &Path, module: &str) -> (u64, u64) {
    index(store)
        .query_row(
            "SELECT data_offset, compressed_size FROM entries JOIN modules ON modules.id = module_id \
         WHERE path = ?1 AND method = 8 ORDER BY compressed_size DESC LIMIT 1",
            [module],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
        .unwrap()
}

/// A file of the module's tree on the mount (its go.mod or any .go file).
fn some_file(mnt: &Path, module_at_version: &str) -> PathBuf {
    let dir = mnt.join(module_at_version);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "go"))
        .unwrap_or_else(|| panic!("no .go file in {}", dir.display()))
}

#[test]
fn damaged_modules_fail_alone() {
    let tmp = tempdir("verify-damage");
    let store = corpus_store(tmp.path());

    // Four modules the app imports, four kinds of damage after import.
    let (flip, flip_mv) = blob_of(&store, "github.com/google/uuid");
    let (off, len) = deflated_entry(&store, "github.com/google/uuid");
    let mut b = std::fs::read(&flip).unwrap();
    b[(off + len / 2) as usize] ^= 0x55;
    std::fs::write(&flip, &b).unwrap();

    let (trunc, trunc_mv) = blob_of(&store, "github.com/pkg/errors");
    let b = std::fs::read(&trunc).unwrap();
    std::fs::write(&trunc, &b[..b.len() / 2]).unwrap();

    let (gone, gone_mv) = blob_of(&store, "gopkg.in/ini.v1");
    std::fs::remove_file(&gone).unwrap();

    // Same names, different content: a zip rebuilt with one file changed.
    let (rewritten, rewritten_mv) = blob_of(&store, "github.com/spf13/cast");
    rewrite_one_go_file(&rewritten);

    // The whole module on first access, as before lazy verification (the default:
    // tests/lazy_verify.rs) existed.
    let m = Mount::new(&store, &tmp.path().join("mnt"), &["--verify=full"]);
    for mv in [&flip_mv, &trunc_mv, &gone_mv, &rewritten_mv] {
        assert_eio(&some_file(&m.dir, mv));
        // The zip and ziphash of a module that failed verification are refused too.
        let (p, v) = mv.split_once('@').unwrap();
        assert_eio(&m.dir.join(format!("cache/download/{p}/@v/{v}.ziphash")));
    }
    // A healthy module is unaffected.
    let ok = some_file(&m.dir, &blob_of(&store, "github.com/spf13/pflag").1);
    assert!(!std::fs::read(&ok).unwrap().is_empty());

    let app = app_copy(tmp.path());
    let go = Go::new(&go_old(), &m.dir, &shared_gocache(), "off");
    let build = go.try_run(&app, &["build", "./..."]);
    let err = String::from_utf8_lossy(&build.stderr);
    assert!(!build.status.success(), "go build must fail on damaged modules");
    assert!(
        [&flip_mv, &trunc_mv, &gone_mv, &rewritten_mv].iter().any(|mv| err.contains(mv.as_str())),
        "go build's error names a damaged module:\n{err}"
    );
    // Packages that need none of the damaged modules still build.
    go.run(&app, &["build", "./internal/sysinfo"]);
    let verify = go.try_run(&app, &["mod", "verify"]);
    assert!(!verify.status.success(), "go mod verify must not pass damaged modules");
    let out = String::from_utf8_lossy(&verify.stdout).to_string() + &String::from_utf8_lossy(&verify.stderr);
    assert!(
        out.contains(&flip_mv.replace('@', " ")) || out.contains(flip_mv.as_str()),
        "go mod verify names uuid:\n{out}"
    );

    // A missing blob is a failure to read, not a verdict: warned about, retried on
    // a later access, not counted as a failed verification.
    assert_eq!(m.stat("verifications_failed"), 3, "{}", m.stats());
    let log = m.stop();
    let gone_line = log.lines().find(|l| l.contains(gone_mv.as_str()) && l.contains("will retry"));
    assert!(gone_line.is_some_and(|l| l.contains("cannot open zip blob")), "{gone_mv}: no retry warning:\n{log}");
    for (mv, why) in [(&flip_mv, "corrupt"), (&trunc_mv, "corrupt"), (&rewritten_mv, "corrupt")] {
        let line = log.lines().find(|l| l.contains(mv.as_str()) && l.contains("error")).unwrap_or_else(|| {
            panic!("no error line names {mv}:\n{log}");
        });
        assert!(line.contains(why), "{mv}: expected {why:?} in {line}");
        assert_eq!(
            log.lines().filter(|l| l.contains(mv.as_str()) && l.contains("error")).count(),
            1,
            "{mv} logged once:\n{log}"
        );
    }
}

/// With verification off the same damage goes unnoticed by the daemon (which says
/// so loudly at start), so the flag really is what protects the user.
#[test]
fn verify_off_is_loud() {
    let tmp = tempdir("verify-off");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &["--verify=off"]);
    let f = some_file(&m.dir, &blob_of(&store, "github.com/google/uuid").1);
    assert!(!std::fs::read(&f).unwrap().is_empty());
    let log = m.stop();
    assert!(log.contains("verification is OFF"), "{log}");
}

/// A go.sum given at mount that contradicts the store refuses that module.
#[test]
fn contradicting_go_sum_refuses_the_module() {
    let tmp = tempdir("verify-gosum");
    let store = corpus_store(tmp.path());
    let (_, mv) = blob_of(&store, "golang.org/x/text");
    let (p, v) = mv.split_once('@').unwrap();
    let sum = tmp.path().join("go.sum");
    std::fs::write(
        &sum,
        format!("{p} {v} h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n{p} {v}/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"),
    )
    .unwrap();
    let m = Mount::new(&store, &tmp.path().join("mnt"), &["--go-sum", &sum.to_string_lossy()]);
    assert_eio(&some_file(&m.dir, &mv));
    assert_eio(&m.dir.join(format!("cache/download/{p}/@v/{v}.mod")));
    let ok = some_file(&m.dir, &blob_of(&store, "github.com/google/uuid").1);
    assert!(std::fs::read(&ok).is_ok());
    let log = m.stop();
    assert!(log.contains(&mv) && log.contains("refused") && log.contains("AAAA"), "{log}");
}

/// 16 concurrent first readers of one cold module: one verification.
#[test]
fn concurrent_first_readers_share_one_verification() {
    let tmp = tempdir("verify-concurrent");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let (_, mv) = blob_of(&store, "golang.org/x/text");
    let root = m.dir.join(&mv);
    // Pick 16 files (listing the tree does not extract anything).
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if files.len() < 16 {
                files.push(p);
            }
        }
    }
    assert_eq!(files.len(), 16);
    assert_eq!(m.stat("modules_extracted"), 0, "listing must not extract");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
    let handles: Vec<_> = files
        .into_iter()
        .map(|f| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()))
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(m.stat("verifications_ok"), 1, "{}", m.stats());
    assert_eq!(m.stat("modules_extracted"), 1);
}
