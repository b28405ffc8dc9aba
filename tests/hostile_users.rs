//! Hostile users and hostile stores against a real `--allow-other` mount: what
//! `nobody` can make the daemon spend or write with lookups, names that try to
//! forge log lines, index rows that alias a real module, store entries that are
//! cheap to plant but expensive to serve, and failures that are only transient.
//!
//! Tests that print figures (memory, log bytes, latency) print them before they
//! assert, so `MODCACHEFS_TEST_BIN=<older modcachefs> cargo test --release --test
//! hostile_users -- --nocapture` gives the figures of an older build too.

mod common;

use common::*;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const PROBE_ENV: &str = "MODCACHEFS_HOSTILE_PROBE";

// --- the part that runs as nobody ---------------------------------------------

fn stat_errno(p: &[u8]) -> i32 {
    let c = CString::new(p).expect("no NUL in probe paths");
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::stat(c.as_ptr(), &mut st) } == 0 {
        0
    } else {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    }
}

/// What the probe does, as nobody (the test binary runs itself with this test
/// selected): `many MNT N` stats N distinct missing names (half versions of a
/// known path, half paths the store lacks), `paths FILE` stats each
/// NUL-separated path in FILE, `latency MNT SECS PATH...` stats the paths in a
/// loop (each through a fresh lookup) and prints the latencies' percentiles.
#[test]
#[ignore = "run as uid 65534 by the tests below, not on its own"]
fn probe() {
    let args: Vec<String> = std::env::var(PROBE_ENV).expect("run by a test").split('\x1f').map(String::from).collect();
    assert_eq!(unsafe { (libc::getuid(), libc::geteuid()) }, (NOBODY, NOBODY));
    match args[0].as_str() {
        "many" => {
            let (mnt, n): (&str, u64) = (&args[1], args[2].parse().expect("count"));
            let mut enoent = 0u64;
            for i in 0..n {
                let p = if i % 2 == 0 {
                    format!("{mnt}/cache/download/golang.org/x/text/@v/v0.0.{i}.mod")
                } else {
                    format!("{mnt}/cache/download/github.com/probe{i}/@v/v1.0.0.mod")
                };
                enoent += (stat_errno(p.as_bytes()) == libc::ENOENT) as u64;
            }
            println!("PROBE ENOENT {enoent}");
        }
        "paths" => {
            let list = std::fs::read(&args[1]).expect("path list");
            for p in list.split(|&b| b == 0).filter(|p| !p.is_empty()) {
                println!("PROBE {} -> {}", String::from_utf8_lossy(p).escape_debug(), stat_errno(p));
            }
        }
        "latency" => {
            // Lookups of healthy files nobody has looked up yet (the kernel keeps
            // every answer for the TTL), found by listing directories, which
            // itself caches no name: each timed stat is one lookup the daemon answers.
            // Paths named `hostile` (the planted modules) are left alone.
            let (root, secs): (&str, f64) = (&args[1], args[2].parse().expect("seconds"));
            let mut lat = Vec::new();
            let mut dirs = vec![PathBuf::from(root)];
            // The clock starts at the first answer, however long that took.
            let mut t0: Option<Instant> = None;
            'walk: while let Some(d) = dirs.pop() {
                // Listing is timed too: it waits for the daemon as a lookup does.
                let t = Instant::now();
                let Ok(rd) = std::fs::read_dir(&d) else { continue };
                let listed: Vec<_> = rd.flatten().collect();
                lat.push(t.elapsed());
                let t0 = *t0.get_or_insert_with(Instant::now);
                for e in listed {
                    if t0.elapsed().as_secs_f64() > secs {
                        break 'walk;
                    }
                    let p = e.path();
                    if e.file_name() == "hostile" {
                        continue;
                    }
                    let t = Instant::now();
                    let errno = stat_errno(p.as_os_str().as_bytes());
                    lat.push(t.elapsed());
                    assert_eq!(errno, 0, "{}", p.display());
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        dirs.push(p);
                    }
                }
            }
            lat.sort();
            assert!(!lat.is_empty(), "no lookups timed");
            let pct = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
            println!("PROBE LATENCY n={} p50={:.3} p99={:.3} max={:.3}", lat.len(), pct(0.5), pct(0.99), pct(1.0));
        }
        other => panic!("unknown probe {other}"),
    }
    println!("PROBE RAN AS UID {}", unsafe { libc::geteuid() });
}

/// Runs the probe as nobody and returns its output.
fn as_nobody_probe(args: &[&str]) -> String {
    probe_as_nobody("probe", &[(PROBE_ENV, std::ffi::OsStr::new(&args.join("\x1f")))])
}

// --- helpers --------------------------------------------------------------------

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("daemon status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS kB")
}

fn log_len(m: &Mount) -> u64 {
    m.log_text().len() as u64
}

/// A scratch directory nobody can reach, with the small corpus imported into it.
fn open_store(prefix: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempdir(prefix);
    open_to_others(tmp.path());
    let store = corpus_store(tmp.path());
    (tmp, store)
}

fn mount_str(m: &Mount) -> String {
    m.dir.to_string_lossy().into_owned()
}

// --- 1. missing-name lookups: bounded memory and log ----------------------------

/// 400,000 distinct missing lookups by nobody (the kernel caches negative
/// answers, so each reaches the daemon once) grow the daemon by at most 16 MiB
/// and its log by at most 1 MiB, `modules_missing` counts every one, and the
/// hint is logged for a path the store has no version of, as well as for a
/// missing version of a path it has.
#[test]
fn missing_lookups_by_nobody_cost_bounded_memory_and_log() {
    let (tmp, store) = open_store("hostile-missing");
    let m = Mount::new(&store, &tmp.path().join("mnt"), &["--allow-other"]);
    let mnt = mount_str(&m);
    let list = tmp.path().join("first.list");
    let first = [
        format!("{mnt}/cache/download/github.com/google/btree/@v/v1.1.2.mod"),
        format!("{mnt}/github.com/google/btree@v1.1.2"),
        format!("{mnt}/cache/download/golang.org/x/text/@v/v0.99.0.info"),
    ];
    std::fs::write(&list, first.join("\0")).expect("write list");
    as_nobody_probe(&["paths", &list.to_string_lossy()]);
    let first_log = m.log_text();
    let (rss0, log0, missing0) = (rss_kib(m.pid()), log_len(&m), m.stat("modules_missing"));
    let n = 400_000u64;
    let t0 = Instant::now();
    let out = as_nobody_probe(&["many", &mnt, &n.to_string()]);
    let took = t0.elapsed();
    assert!(out.contains(&format!("PROBE ENOENT {n}")), "every name is missing:\n{out}");
    let (rss1, log1, missing1) = (rss_kib(m.pid()), log_len(&m), m.stat("modules_missing"));
    println!(
        "FIGURE missing lookups: {n} in {:.1} s; daemon RSS {rss0} -> {rss1} KiB (+{} KiB); log +{} bytes; modules_missing +{}",
        took.as_secs_f64(),
        rss1 as i64 - rss0 as i64,
        log1 - log0,
        missing1 - missing0
    );
    for want in ["missing module github.com/google/btree:", "missing module golang.org/x/text@v0.99.0:"] {
        assert!(first_log.contains(want), "no {want:?} in the log:\n{first_log}");
    }
    assert!(rss1.saturating_sub(rss0) <= 16 << 10, "RSS grew by {} KiB", rss1 - rss0);
    assert!(log1 - log0 <= 1 << 20, "log grew by {} bytes", log1 - log0);
    assert_eq!(missing1 - missing0, n, "modules_missing counts every distinct miss");
    let log = m.stop();
    assert!(log.contains("further ones are only counted"), "the log says it stopped listing misses:\n{log}");
}

// --- 2. names that try to forge log lines ---------------------------------------

/// Names with newlines, carriage returns and terminal escapes, looked up by
/// nobody where the daemon logs missing modules: the log holds no forged line and
/// no raw control character.
#[test]
fn looked_up_names_cannot_forge_log_lines() {
    let (tmp, store) = open_store("hostile-logname");
    let m = Mount::new(&store, &tmp.path().join("mnt"), &["--allow-other"]);
    let mnt = mount_str(&m);
    let evil = ["x\n modcachefs: error: forged", "y\nmodcachefs: error: forged", "z\x1b[2J", "w\r\u{9b}31m"];
    let mut paths = Vec::new();
    for (i, e) in evil.iter().enumerate() {
        paths.push(format!("{mnt}/golang.org/{e}@v1.0.{i}"));
        paths.push(format!("{mnt}/github.com/{e}@v1.0.{i}"));
        paths.push(format!("{mnt}/cache/download/github.com/{e}/@v/v1.0.{i}.mod"));
        paths.push(format!("{mnt}/cache/download/golang.org/x/text/@v/v1.0.{i}{e}.mod"));
        paths.push(format!("{mnt}/cache/download/golang.org/x/{e}/@v/v1.0.{i}.mod"));
    }
    let list = tmp.path().join("evil.list");
    std::fs::write(&list, paths.join("\0")).expect("write list");
    as_nobody_probe(&["paths", &list.to_string_lossy()]);
    let log = m.stop();
    for (i, line) in log.lines().enumerate() {
        assert!(!line.contains("forged") || !line.starts_with("modcachefs: error"), "line {i} forged: {line:?}");
    }
    assert!(
        !log.chars().any(|c| c != '\n' && (c.is_control() || c == '\u{9b}')),
        "a raw control character reached the log:\n{}",
        log.escape_debug()
    );
}

// --- 3. index rows that alias a real module ---------------------------------------

/// Writes `data` as a blob of `store` (named by its sha256) and returns the name.
fn put_blob(store: &std::path::Path, data: &[u8]) -> String {
    let sha = modcachefs::gomod::h1::hex(&modcachefs::gomod::h1::sha256(data));
    let p = modcachefs::store::blob_path(store, &sha);
    std::fs::create_dir_all(p.parent().expect("fan-out dir")).expect("mkdir blob dir");
    std::fs::write(&p, data).expect("write blob");
    sha
}

/// Plants a go.mod-only module row for `path@version` whose .mod is `gomod`.
fn plant_mod_row(store: &std::path::Path, path: &str, version: &str, gomod: &[u8]) {
    let blob = put_blob(store, gomod);
    let h1 = modcachefs::gomod::h1::hash1_gomod(gomod);
    index(store)
        .execute(
            "INSERT INTO modules (path, version, mod_blob, mod_h1, mod_h1_origin, info) VALUES (?1, ?2, ?3, ?4, 'computed', ?5)",
            rusqlite::params![path, version, blob, h1, format!("{{\"Version\":\"{version}\",\"Time\":\"2023-01-01T00:00:00Z\"}}").into_bytes()],
        )
        .expect("plant row");
}

fn proxy_versions(path: &str) -> Vec<String> {
    let mut vs: Vec<String> = std::fs::read_dir(proxy().join(path).join("@v"))
        .expect("corpus @v")
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".mod").map(String::from))
        .collect();
    modcachefs::gomod::version::sort_versions(&mut vs);
    vs
}

/// A store writer adds rows for `golang.org/x//text` (an alias of the real
/// module's directories, sorting first) and `golang.org/x/text/`, with a go.mod
/// that adds a requirement, and one whose path would forge a log line. With the
/// real module pinned by `--go-sum`, the mount serves the real go.mod, `@v/list`
/// keeps every real version and nothing else, each planted row is refused with
/// one escaped log line, and `verify` reports each and exits 1.
#[test]
fn index_rows_aliasing_a_module_are_refused() {
    let tmp = tempdir("hostile-alias");
    let store = corpus_store(tmp.path());
    let (real, v) = ("golang.org/x/text", "v0.7.0");
    let real_mod = std::fs::read(proxy().join(real).join(format!("@v/{v}.mod"))).expect("corpus .mod");
    let evil = format!("module {real}\n\nrequire evil.example/pwn v1.0.0\n");
    plant_mod_row(&store, "golang.org/x//text", v, evil.as_bytes());
    plant_mod_row(&store, "golang.org/x/text/", "v0.99.0", evil.as_bytes());
    plant_mod_row(&store, "golang.org/x/te\nmodcachefs: error: forged", v, evil.as_bytes());
    let gosum = tmp.path().join("go.sum");
    std::fs::write(&gosum, format!("{real} {v}/go.mod {}\n", modcachefs::gomod::h1::hash1_gomod(&real_mod))).unwrap();

    let m = Mount::new(&store, &tmp.path().join("mnt"), &["--go-sum", &gosum.to_string_lossy()]);
    // The mount reads the store a directory at a time: rows are judged when the
    // directory holding them is read (here, listed).
    let listed: Vec<String> = std::fs::read_dir(m.dir.join("golang.org/x"))
        .expect("list golang.org/x")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(listed.iter().all(|n| n != "text@v0.99.0" && !n.is_empty() && !n.contains('\n')), "{listed:?}");
    let at_v = m.dir.join(format!("cache/download/{real}/@v"));
    let served = std::fs::read(at_v.join(format!("{v}.mod")));
    let list = std::fs::read_to_string(at_v.join("list")).unwrap_or_default();
    let log = m.stop();
    assert_eq!(served.expect("the real .mod is served"), real_mod, "the planted go.mod was served");
    let want: String = proxy_versions(real).iter().map(|v| format!("{v}\n")).collect();
    assert_eq!(list, want, "@v/list is the real module's");
    for planted in ["golang.org/x//text@v0.7.0", "golang.org/x/text/@v0.99.0", "golang.org/x/te\\nmodcachefs"] {
        let lines = log.lines().filter(|l| l.contains(planted) && l.contains("refused")).count();
        assert_eq!(lines, 1, "one log line refusing {planted}:\n{log}");
    }
    assert!(!log.lines().any(|l| l.starts_with("modcachefs: error: forged")), "forged line:\n{log}");

    let out = Command::new(BIN).arg("--store").arg(&store).args(["verify"]).output().expect("run verify");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "verify exits 1:\n{said}");
    for planted in ["golang.org/x//text@v0.7.0", "golang.org/x/text/@v0.99.0", "golang.org/x/te\\nmodcachefs"] {
        assert!(said.contains(planted), "verify names {planted}:\n{said}");
    }
}

// --- 5. transient failures are not verdicts ---------------------------------------

fn blob_of(store: &std::path::Path, col: &str, path: &str, version: &str) -> PathBuf {
    let sha: String = index(store)
        .query_row(&format!("SELECT {col} FROM modules WHERE path = ?1 AND version = ?2"), [path, version], |r| {
            r.get(0)
        })
        .expect("module in the index");
    modcachefs::store::blob_path(store, &sha)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("daemon fds").count()
}

/// A blob moved away for a moment (zip and .mod), and a daemon out of file
/// descriptors: the read fails with EIO and the log says it will retry; once the
/// blob is back (or descriptors are free again) the same mount serves the module.
#[test]
fn transient_failures_are_retried_on_the_same_mount() {
    let tmp = tempdir("hostile-transient");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let retry = std::time::Duration::from_millis(1100);

    // A zip blob missing for a moment.
    let (text, tv) = ("golang.org/x/text", "v0.7.0");
    let zip = blob_of(&store, "zip_blob", text, tv);
    let away = zip.with_extension("away");
    let file = m.dir.join(format!("{text}@{tv}/go.mod"));
    std::fs::rename(&zip, &away).expect("move the zip blob away");
    assert_eq!(read_errno(&file).err(), Some(libc::EIO), "a module whose blob is missing");
    std::fs::rename(&away, &zip).expect("put it back");
    std::thread::sleep(retry);
    let got = read_errno(&file)
        .unwrap_or_else(|e| panic!("{}: errno {e} after the blob came back:\n{}", file.display(), m.log_text()));
    assert!(got.starts_with(b"module golang.org/x/text"), "go.mod served");

    // A .mod blob missing for a moment.
    let (uuid, uv) = ("github.com/google/uuid", "v1.3.0");
    let gomod = blob_of(&store, "mod_blob", uuid, uv);
    let away = gomod.with_extension("away");
    let modfile = m.dir.join(format!("cache/download/{uuid}/@v/{uv}.mod"));
    std::fs::rename(&gomod, &away).expect("move the .mod blob away");
    assert_eq!(read_errno(&modfile).err(), Some(libc::EIO), "a .mod whose blob is missing");
    std::fs::rename(&away, &gomod).expect("put it back");
    std::thread::sleep(retry);
    assert_eq!(read_errno(&modfile).expect(".mod after its blob came back"), std::fs::read(&gomod).unwrap());

    // Out of descriptors while verifying: no descriptor is free until the limit is raised.
    let (other, ov) = ("golang.org/x/sync", "v0.1.0");
    let file = m.dir.join(format!("{other}@{ov}/go.mod"));
    assert!(std::fs::metadata(&file).is_ok(), "{} exists", file.display());
    let pid = m.pid().to_string();
    let limit = |n: &str| {
        let out =
            Command::new("prlimit").args(["--pid", &pid, &format!("--nofile={n}")]).output().expect("run prlimit");
        ok(&out, "prlimit");
    };
    let before = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let soft_hard: Vec<&str> =
        before.lines().find(|l| l.starts_with("Max open files")).unwrap().split_whitespace().skip(3).take(2).collect();
    limit(&format!("{}:{}", open_fds(m.pid()), soft_hard[1]));
    let starved = read_errno(&file);
    limit(&format!("{}:{}", soft_hard[0], soft_hard[1]));
    assert_eq!(starved.err(), Some(libc::EIO), "a module read while out of descriptors");
    std::thread::sleep(retry);
    assert!(
        read_errno(&file).is_ok_and(|b| b.starts_with(b"module golang.org/x/sync")),
        "served once descriptors are free:\n{}",
        m.log_text()
    );

    let log = m.stop();
    let retried = log.lines().filter(|l| l.contains("will retry")).count();
    assert!(retried >= 3, "each transient failure logged as one to retry:\n{log}");
    assert!(log.contains("Too many open files"), "the log names EMFILE:\n{log}");
    assert!(!log.lines().any(|l| l.contains("refused")), "no verdict on a module that could not be read:\n{log}");
}

// --- 4. cheap store entries that would force expensive inline work ------------------

/// Modules planted with a long entry list each.
const MANY: usize = 4;

/// Plants, behind import's back: a module whose .mod blob is a 3 GiB sparse file,
/// one whose .info is 100 MB, and [`MANY`] whose index lists `files` entries each.
fn plant_expensive(store: &std::path::Path, files: u64) {
    let conn = index(store);
    let h1 = modcachefs::gomod::h1::hash1_gomod(b"module example.com/hostile/bigmod\n");
    let sparse = "f".repeat(64);
    let p = store.join("blobs").join(&sparse[..2]).join(&sparse[2..]);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::File::create(&p).and_then(|f| f.set_len(3 << 30)).expect("sparse blob");
    let small = put_blob(store, b"module example.com/hostile/x\n");
    let ins = "INSERT INTO modules (path, version, mod_blob, mod_h1, mod_h1_origin, info, zip_blob, zip_h1, \
               zip_h1_origin, zip_size, file_count, tree_size) VALUES (?1, 'v1.0.0', ?2, ?3, 'computed', ?4, ?5, ?6, \
               'computed', ?7, ?8, ?9)";
    let row = |path: &str, blob: &str, info: Option<Vec<u8>>, zip: Option<(String, i64, i64)>| {
        let (zb, zh, zs, n) = match &zip {
            Some((b, s, n)) => (Some(b.clone()), Some(h1.clone()), Some(*s), Some(*n)),
            None => (None, None, None, None),
        };
        conn.execute(ins, rusqlite::params![path, blob, h1, info, zb, zh, zs, n, n]).expect("plant row");
        conn.last_insert_rowid()
    };
    row("example.com/hostile/bigmod", &sparse, None, None);
    let info =
        format!("{{\"Version\":\"v1.0.0\",\"Time\":\"2023-01-01T00:00:00Z\",\"x\":\"{}\"}}", "a".repeat(100 << 20));
    row("example.com/hostile/biginfo", &small, Some(info.into_bytes()), None);
    let mut names: Vec<String> = (0..files).map(|i| format!("d{:04}/f{i}.go", i / 1000)).collect();
    names.sort();
    conn.execute_batch("BEGIN").unwrap();
    for k in 0..MANY {
        let id =
            row(&format!("example.com/hostile/many{k}"), &small, None, Some(("e".repeat(64), 500 << 20, files as i64)));
        let mut st = conn
            .prepare_cached(
                "INSERT INTO entries (module_id, name, data_offset, compressed_size, size, method, crc32) \
                 VALUES (?1, ?2, ?3, 1, 1, 0, 0)",
            )
            .unwrap();
        for (i, n) in names.iter().enumerate() {
            st.execute(rusqlite::params![id, n, 200 + 200 * i as i64]).unwrap();
        }
    }
    conn.execute_batch("COMMIT").unwrap();
}

/// While the planted entries are touched in a loop (the 3 GiB .mod stat'ed, the
/// huge module's tree and the 100 MB .info looked up), nobody's first lookups of
/// healthy modules' files keep answering quickly; the huge .mod is refused without
/// being read, once and for good.
#[test]
fn expensive_store_entries_do_not_stall_other_users() {
    let (tmp, store) = open_store("hostile-expensive");
    let files: u64 = 250_000;
    let t0 = Instant::now();
    plant_expensive(&store, files);
    eprintln!("planted in {:.1} s", t0.elapsed().as_secs_f64());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &["--allow-other"]);
    let dl = m.dir.join("cache/download/example.com/hostile");
    let mut hostile = vec![dl.join("bigmod/@v/v1.0.0.mod"), dl.join("biginfo/@v/v1.0.0.info")];
    hostile.extend((0..MANY).map(|k| m.dir.join(format!("example.com/hostile/many{k}@v1.0.0/d0000/f0.go"))));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (stop2, touched) = (stop.clone(), hostile.clone());
    let toucher = std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            for p in &touched {
                let t = Instant::now();
                let _ = std::fs::metadata(p);
                if t.elapsed().as_millis() > 100 {
                    eprintln!("touch {} took {:?}", p.display(), t.elapsed());
                }
                n += 1;
            }
        }
        n
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = as_nobody_probe(&["latency", &mount_str(&m), "6"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let touches = toucher.join().expect("toucher");
    let line = out.lines().find_map(|l| l.split_once("PROBE LATENCY")).map(|(_, f)| f.trim().to_string());
    let line = line.unwrap_or_else(|| panic!("no latency figures:\n{out}"));
    let rss = rss_kib(m.pid());
    println!(
        "FIGURE healthy lookups while hostile entries are touched ({touches} touches): {line}; daemon RSS {rss} KiB"
    );
    let field = |k: &str| -> f64 {
        line.split_whitespace().find_map(|f| f.strip_prefix(k)).and_then(|v| v.parse().ok()).expect("figure")
    };
    assert!(field("n=") >= 500.0, "too few lookups timed: {line}");
    assert!(field("p99=") < 250.0, "p99 of healthy lookups: {line}");
    assert!(field("max=") < 2000.0, "slowest healthy lookup: {line}");
    let log = m.stop();
    let refused = |what: &str| log.lines().filter(|l| l.contains(what) && l.contains("refused")).count();
    assert_eq!(refused("example.com/hostile/bigmod@v1.0.0"), 1, "the 3 GiB .mod refused once:\n{log}");
    assert_eq!(refused("example.com/hostile/biginfo@v1.0.0"), 1, "the 100 MB .info refused once:\n{log}");
}
