//! Faults, on real mounts and real stores: hostile zips planted in a store behind
//! the importer's back (blob and index rewritten to agree with each other), the
//! daemon SIGKILLed during a build and remounted in place, the store's disk filling
//! up during an import, an index that cannot be read, and a store on a read-only
//! filesystem.

mod common;

use common::zipgen::{build_with, hostile_zips, module_zip, stored, Hostile, V};
use common::*;
use modcachefs::gomod::h1::{hash1, hex, sha256};
use modcachefs::store;
use modcachefs::zip::Entry;
use sha2::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// --- helpers -----------------------------------------------------------------

/// A valid module zip: go.mod and a.go.
fn good_zip(module: &str) -> Vec<u8> {
    module_zip(module, V, "package a\n", stored())
}

/// Runs `f` on its own thread; panics if it has not answered within `limit`. (A
/// reader stuck on the mount is released when the test's Mount guard kills the daemon.)
fn within<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("{what}: no answer within {limit:?} (hung)"))
}

/// A filesystem mounted for the test (tmpfs, bind mount), lazily unmounted on drop.
struct Mounted(PathBuf);

impl Mounted {
    fn new(dir: &Path, args: &[&str], source: &Path) -> Mounted {
        std::fs::create_dir_all(dir).expect("mkdir");
        let st = Command::new("mount").args(args).arg(source).arg(dir).status().expect("run mount");
        assert!(st.success(), "mount {args:?} {} {} failed", source.display(), dir.display());
        Mounted(dir.to_path_buf())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Lazily detaches whatever FUSE mount is left at a path (a stale one) on drop.
struct DetachOnDrop(PathBuf);

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        if is_mounted(&self.0) {
            let _ = Command::new("fusermount3").arg("-u").arg("-z").arg(&self.0).status();
        }
    }
}

// --- 1. hostile blobs planted at serve time ------------------------------------

/// The entry list an attacker would write into the index for a zip: read leniently
/// from its central directory (or, when it has none, its local headers), names with
/// the module prefix stripped, regular files only, one row per name.
fn claimed_entries(zip: &[u8], prefix: &str) -> Vec<Entry> {
    let u16_at = |at: usize| zip.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |at: usize| zip.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as u64);
    let name_of = |raw: &[u8]| {
        let full = String::from_utf8_lossy(raw).into_owned();
        full.strip_prefix(prefix).map(str::to_string).unwrap_or(full)
    };
    let data_of = |lh: usize| -> Option<u64> {
        (u32_at(lh)? == 0x0403_4b50).then_some(())?;
        Some((lh + 30 + u16_at(lh + 26)? + u16_at(lh + 28)?) as u64)
    };
    let mut out = Vec::new();
    let eocd = (0..zip.len().saturating_sub(21)).rev().find(|&i| zip[i..i + 4] == [0x50, 0x4b, 5, 6]);
    if let Some(e) = eocd {
        let mut at = u32_at(e + 16).unwrap_or(0) as usize;
        if at == 0xFFFF_FFFF {
            let rec = zip.windows(4).rposition(|w| w == [0x50, 0x4b, 6, 6]).expect("zip64 end record");
            at = u64::from_le_bytes(zip[rec + 48..rec + 56].try_into().unwrap()) as usize;
        }
        while u32_at(at) == Some(0x0201_4b50) {
            let (Some(n), Some(x), Some(c)) = (u16_at(at + 28), u16_at(at + 30), u16_at(at + 32)) else { break };
            let Some(raw) = zip.get(at + 46..at + 46 + n) else { break };
            let method = u16_at(at + 10).unwrap_or(0) as u16;
            let size = u32_at(at + 24).unwrap_or(0);
            let mut csize = u32_at(at + 20).unwrap_or(0);
            if csize == 0xFFFF_FFFF && method == 0 {
                csize = size;
            }
            let name = name_of(raw);
            if let (false, Some(data_offset)) =
                (name.is_empty() || name.ends_with('/'), data_of(u32_at(at + 42).unwrap_or(0) as usize))
            {
                out.push(Entry {
                    name,
                    data_offset,
                    compressed_size: csize,
                    size,
                    method,
                    crc32: u32_at(at + 16).unwrap_or(0) as u32,
                });
            }
            at += 46 + n + x + c;
        }
    } else {
        let mut at = 0usize;
        while let Some(data_offset) = data_of(at) {
            let csize = u32_at(at + 18).unwrap_or(0);
            if data_offset + csize > zip.len() as u64 {
                break;
            }
            let name = name_of(&zip[at + 30..at + 30 + u16_at(at + 26).unwrap_or(0)]);
            out.push(Entry {
                name,
                data_offset,
                compressed_size: csize,
                size: u32_at(at + 22).unwrap_or(0),
                method: u16_at(at + 8).unwrap_or(0) as u16,
                crc32: u32_at(at + 14).unwrap_or(0) as u32,
            });
            at = (data_offset + csize) as usize;
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// Plants `c.zip` as the zip of `c.module` (imported at V as a good module): the blob
/// at its own content address, and the module's index rows rewritten to describe it
/// as the attacker would (sha256, size, version, entries, their digests, and the h1
/// those hash to), so that neither the blob's sha256, the recorded h1 nor the digest
/// list gives it away. Returns the claimed entries.
fn plant(store: &Path, c: &Hostile) -> Vec<Entry> {
    let sha = hex(&sha256(&c.zip));
    let p = store::blob_path(store, &sha);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, &c.zip).unwrap();
    let claimed = claimed_entries(&c.zip, &format!("{}@{}/", c.module, c.version));
    let f = std::fs::File::open(&p).unwrap();
    let named: Vec<(String, [u8; 32])> = claimed
        .iter()
        .map(|e| {
            let mut h = sha2::Sha256::new();
            let d: [u8; 32] = match modcachefs::zip::stream_entry(&f, e, &mut |chunk| h.update(chunk)) {
                Ok(()) => h.finalize().into(),
                Err(_) => [0; 32], // no h1 can make it decode: the daemon's own checks will do
            };
            (format!("{}@{}/{}", c.module, c.version, e.name), d)
        })
        .collect();
    let conn = index(store);
    let id: i64 = conn
        .query_row("SELECT id FROM modules WHERE path = ?1 AND version = ?2", [&c.module, V], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{}: not imported: {e}", c.module));
    let tree: u64 = claimed.iter().map(|e| e.size).sum();
    conn.execute(
        "UPDATE modules SET version = ?1, zip_blob = ?2, zip_h1 = ?3, zip_size = ?4, file_count = ?5, tree_size = ?6 \
         WHERE id = ?7",
        rusqlite::params![c.version, sha, hash1(&named), c.zip.len() as i64, claimed.len() as i64, tree as i64, id],
    )
    .unwrap();
    let digests: Vec<u8> = named.iter().flat_map(|(_, d)| *d).collect();
    conn.execute("UPDATE digests SET files = ?1, dirs = '' WHERE module_id = ?2", rusqlite::params![digests, id])
        .unwrap();
    conn.execute("DELETE FROM entries WHERE module_id = ?1", [id]).unwrap();
    for e in &claimed {
        conn.execute(
            "INSERT INTO entries (module_id, name, data_offset, compressed_size, size, method, crc32) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                id,
                e.name,
                e.data_offset as i64,
                e.compressed_size as i64,
                e.size as i64,
                e.method as i64,
                e.crc32 as i64
            ],
        )
        .unwrap();
    }
    claimed
}

/// Overwrites the bytes of `module`'s zip blob in place, index untouched.
fn swap_blob(store: &Path, module: &str, zip: &[u8]) {
    let conn = index(store);
    let sha: String = conn.query_row("SELECT zip_blob FROM modules WHERE path = ?1", [module], |r| r.get(0)).unwrap();
    std::fs::write(store::blob_path(store, &sha), zip).unwrap();
}

/// The path of a tree file on the mount, if a path can name it at all.
fn tree_path(root: &Path, name: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    let nameable =
        !parts.is_empty() && parts.iter().all(|p| *p != "." && *p != ".." && !p.contains('\0') && p.len() <= 255);
    nameable.then(|| parts.iter().fold(root.to_path_buf(), |acc, p| acc.join(p)))
}

#[track_caller]
fn assert_eio_within(p: &Path, limit: Duration) {
    let q = p.to_path_buf();
    let t0 = Instant::now();
    let r = within(limit, &p.display().to_string(), move || std::fs::read(&q));
    match r {
        Ok(data) => panic!("{}: served {} bytes of a hostile module", p.display(), data.len()),
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EIO), "{}: {e} (after {:?})", p.display(), t0.elapsed()),
    }
}

/// Whether the mount refused `who`'s index row outright, when it read it (see rows.rs).
fn row_refused(log: &str, who: &str) -> bool {
    log.lines().any(|l| l.contains(&format!("{who}: store index row")))
}

/// With `--verify=full`: every file of a hostile module fails, each for the rule
/// its zip breaks.
#[test]
fn hostile_blobs_planted_in_the_store_fail_alone_at_serve_time() {
    hostile_blobs(false)
}

/// With lazy verification (the default): the `.zip` and `.ziphash` of every hostile
/// module fail (they are verified whole); a tree file is served only if it is the
/// exact decoding of its entry and hashes to the listed digest (rules about the
/// zip as a whole, like overlapping entries, refuse the module when its zip is
/// read), and every hostile module is refused, logged once.
#[test]
fn hostile_blobs_planted_in_the_store_fail_alone_at_serve_time_lazy() {
    hostile_blobs(true)
}

fn hostile_blobs(lazy: bool) {
    let tmp = tempdir(if lazy { "faults-hostile-lazy" } else { "faults-hostile" });
    let proxy = tmp.path().join("proxy");
    // Planted: blob and index rewritten to agree. Swapped: only the blob's bytes.
    let planted = hostile_zips(|case| format!("example.com/planted/{case}"));
    let swapped = hostile_zips(|case| format!("example.com/swapped/{case}"));
    for c in planted.iter().chain(&swapped) {
        put_module(&proxy, &c.module, V, &good_zip(&c.module));
    }
    // Neighbours that must keep working: a plain module, and one whose zip holds a
    // directory entry (hashed by h1 as cmd/go does; the daemon must agree).
    let healthy = "example.com/healthy";
    put_module(&proxy, healthy, V, &good_zip(healthy));
    let withdir = "example.com/withdir";
    let withdir_zip = build_with(|w| {
        w.add_directory(format!("{withdir}@{V}/sub/"), stored()).unwrap();
        w.start_file(format!("{withdir}@{V}/sub/x.go"), stored()).unwrap();
        w.write_all(b"package sub\n").unwrap();
    });
    put_module(&proxy, withdir, V, &withdir_zip);
    let store = tmp.path().join("store");
    import(&store, &[&proxy]);

    let mut claims = Vec::new();
    for c in &planted {
        claims.push(plant(&store, c));
    }
    for c in &swapped {
        swap_blob(&store, &c.module, &c.zip);
    }

    let m = Mount::new(&store, &tmp.path().join("mnt"), if lazy { &[] } else { &["--verify=full"] });
    let healthy_file = m.dir.join(format!("{healthy}@{V}/a.go"));
    let mut served = Vec::new();
    let limit = Duration::from_secs(10);
    let mut table = Vec::new();
    let cases = planted.iter().zip(claims.iter().map(Some)).chain(swapped.iter().zip(std::iter::repeat(None)));
    for (c, claim) in cases {
        let version = if claim.is_some() { c.version.as_str() } else { V };
        let (ep, ev) =
            (modcachefs::gomod::path::escape(&c.module).unwrap(), modcachefs::gomod::path::escape(version).unwrap());
        let root = m.dir.join(format!("{ep}@{ev}"));
        let names: Vec<String> = match claim {
            Some(entries) => entries.iter().map(|e| e.name.clone()).collect(),
            None => vec!["go.mod".into(), "a.go".into()],
        };
        let mut paths: Vec<PathBuf> = names.iter().filter_map(|n| tree_path(&root, n)).collect();
        // Lazily, a tree file may be served, but only as its entry decodes.
        let tree = paths.len();
        let decoded = |i: usize| -> Option<Vec<u8>> {
            let entries = claim.as_ref()?;
            let name = names.get(i)?;
            let e = entries.iter().find(|e| &e.name == name)?;
            let f = std::fs::File::open(store::blob_path(&store, &hex(&sha256(&c.zip)))).ok()?;
            modcachefs::zip::read_entry(&f, e).ok()
        };
        let dl = m.dir.join(format!("cache/download/{ep}/@v"));
        paths.push(dl.join(format!("{ev}.zip")));
        paths.push(dl.join(format!("{ev}.ziphash")));
        let t0 = Instant::now();
        // Rows are judged when the mount first reads the module's directory.
        let _ = std::fs::metadata(&dl);
        if row_refused(&m.log_text(), &format!("{}@{version}", c.module)) {
            // A row import would not have written (a non-canonical version, more
            // files than a zip of its size can hold) is not served at all.
            for p in &paths {
                assert_eq!(std::fs::metadata(p).err().and_then(|e| e.raw_os_error()), Some(libc::ENOENT), "{p:?}");
            }
        } else {
            for (i, p) in paths.iter().enumerate() {
                if !lazy || i >= tree || claim.is_none() {
                    assert_eio_within(p, limit);
                    continue;
                }
                let q = p.clone();
                match within(limit, &p.display().to_string(), move || std::fs::read(&q)) {
                    Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EIO), "{}: {e}", p.display()),
                    Ok(data) => {
                        assert_eq!(Some(data), decoded(i), "{}: served bytes that are not its entry's", p.display());
                        served.push(format!("{}@{version}: {}", c.module, names[i]));
                    }
                }
            }
        }
        // Listing the module's tree never hangs, whatever it answers.
        let r = root.clone();
        let _ = within(limit, &format!("readdir {}", root.display()), move || std::fs::read_dir(&r).map(|d| d.count()));
        // Every other module is still served.
        let h = healthy_file.clone();
        let got = within(limit, "healthy module", move || std::fs::read(&h));
        assert_eq!(got.unwrap_or_else(|e| panic!("after {}: healthy module: {e}", c.module)), b"package a\n");
        table.push((format!("{}@{version}", c.module), paths.len(), t0.elapsed()));
    }
    let x = m.dir.join(format!("{withdir}@{V}/sub/x.go"));
    assert_eq!(std::fs::read(&x).expect("module with a directory entry"), b"package sub\n");
    assert_eq!(
        std::fs::read(m.dir.join(format!("cache/download/{withdir}/@v/{V}.ziphash"))).unwrap(),
        modcachefs::zip::inspect(&withdir_zip, withdir, V).unwrap().h1.as_bytes()
    );

    // One error line per hostile module, naming it and why.
    let log = m.log_text();
    for (c, planted_case) in planted.iter().map(|c| (c, true)).chain(swapped.iter().map(|c| (c, false))) {
        let who = format!("{}@{}", c.module, if planted_case { c.version.as_str() } else { V });
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(&format!("{who}:")) && l.contains("error")).collect();
        assert_eq!(lines.len(), 1, "{who}: want one error line:\n{log}");
        let why = match (planted_case, c.case) {
            (true, _) if row_refused(&log, &who) => "store index row",
            // Entries that cannot lie in a zip of the row's size and module prefix
            // (rows.rs) are refused before the blob is opened.
            (true, _) if lines[0].contains("the store index lists files no module zip could hold") => "could hold",
            (false, _) => "zip blob is corrupt",
            // Lazily, a rule is named by the check that met it first (a file's, or the
            // whole zip's on the .zip read): "refused" is what every one says.
            (true, _) if lazy => "refused",
            // The attacker's index holds the name as text: U+FFFD, not a letter.
            (true, "invalid-utf8") => "invalid char",
            (true, _) => c.needle,
        };
        assert!(lines[0].contains(why), "{who}: {why:?} not in {}", lines[0]);
    }
    assert_eq!(m.stat("verifications_failed") as usize, planted.len() + swapped.len(), "{}", m.stats());
    assert!(std::fs::read(&healthy_file).is_ok(), "daemon still serving at the end");
    if lazy {
        eprintln!("tree files served lazily (their entries decode to their listed digests): {served:?}");
    }
    let slowest = table.iter().map(|t| t.2).max().unwrap();
    eprintln!("{} hostile modules refused, slowest {:?}:", table.len(), slowest);
    for (who, n, t) in &table {
        eprintln!("  {who}: {n} reads EIO in {t:?}");
    }
    let log = m.stop();
    assert!(!log.contains("panicked"), "{log}");
}

// --- 2. SIGKILL during a build, then a remount in place ---------------------------

#[test]
fn killed_daemon_during_build_then_remount_in_place() {
    let tmp = tempdir("faults-kill");
    let store = corpus_store(tmp.path());
    let mnt = tmp.path().join("mnt");
    let _detach = DetachOnDrop(mnt.clone());
    let app = app_copy(tmp.path());
    let go = Go::new(&go_old(), &mnt, &shared_gocache(), "off");

    let m = Mount::new(&store, &mnt, &[]);
    let mut build = go
        .cmd(&app, &["build", "./..."])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while m.stat("modules_extracted") < 1 {
        assert!(build.try_wait().unwrap().is_none(), "go build ended before reading any module");
        assert!(t0.elapsed() < Duration::from_secs(120), "go build read no module in 120 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(build.try_wait().unwrap().is_none(), "go build ended before the kill");
    let log = m.kill9();
    // The build fails (the mount is gone under it) rather than hanging.
    let Some(status) = common::daemon::wait_child(&mut build, 120) else {
        let _ = build.kill();
        panic!("go build hung after the daemon was killed");
    };
    let mut err = String::new();
    std::io::Read::read_to_string(build.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "go build passed without its module cache");
    // A stale mount is left. (stat may still answer from the kernel's attribute
    // cache; statfs always asks the dead daemon.)
    let c = std::ffi::CString::new(mnt.to_string_lossy().as_bytes()).unwrap();
    let mut sfs: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_ne!(unsafe { libc::statvfs(c.as_ptr(), &mut sfs) }, 0, "statfs answered on a dead mount");
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::ENOTCONN));
    assert!(is_mounted(&mnt), "the stale mount is still in the mount table");
    assert!(!log.contains("panicked"), "{log}");

    let m = Mount::new(&store, &mnt, &[]);
    // Mount::new may see the stale mount's cached entries as "up": wait until the
    // new daemon answers statfs. (Between its detaching the stale mount and
    // mounting, statfs answers for the bare directory: wait for a mount there too.)
    let t2 = Instant::now();
    while unsafe { libc::statvfs(c.as_ptr(), &mut sfs) } != 0 || mounts_at(&mnt).is_empty() {
        assert!(t2.elapsed() < Duration::from_secs(20), "the new daemon never answered:\n{}", m.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(m.log_text().contains("stale mount"), "the stale mount was detected:\n{}", m.log_text());
    assert_eq!(mounts_at(&mnt).len(), 1, "the stale mount was replaced, not stacked under");
    // The new mount serves tree files before the build starts (a read, not a stat,
    // which the kernel may answer from its caches).
    let probe = mnt.join("github.com/pkg/errors@v0.9.1/errors.go");
    let t3 = Instant::now();
    while let Err(e) = std::fs::read(&probe) {
        assert!(t3.elapsed() < Duration::from_secs(20), "{}: {e}\n{}", probe.display(), m.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = go.try_run(&app, &["build", "./..."]);
    if !out.status.success() && text(&out.stderr).contains("transport endpoint is not connected") {
        // Go 1.19+ keeps an index of module-cache packages in GOCACHE, errors
        // included: a file the first build was reading when the daemon died stays
        // "not connected" there for good (README: after a killed daemon). The new
        // mount serves it: the same build without that index must pass.
        let mut fresh = Go::new(&go_old(), &mnt, &shared_gocache(), "off");
        fresh.envs.push(("GODEBUG".into(), "goindex=0".into()));
        out = fresh.try_run(&app, &["build", "./..."]);
    }
    assert!(
        out.status.success(),
        "go build after the remount failed:\n{}\ndaemon log:\n{}\nmounts:\n{}",
        text(&out.stderr),
        m.log_text(),
        std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
    );
    assert_eq!(m.stat("verifications_failed"), 0);
    let log = m.stop();
    assert!(!log.contains("error"), "{log}");
    eprintln!("first build after SIGKILL ({status}):\n{}", err.lines().take(3).collect::<Vec<_>>().join("\n"));
}

// --- 3. disk full during import ----------------------------------------------------

#[test]
fn disk_full_during_import_stops_cleanly() {
    let tmp = tempdir("faults-full");
    let small = Mounted::new(&tmp.path().join("small"), &["-t", "tmpfs", "-o", "size=8m"], Path::new("tmpfs"));
    let store = small.0.join("store");
    // A few modules first, committed before the disk fills.
    let first = tmp.path().join("first");
    for i in 0..3 {
        let m = format!("example.com/first/m{i}");
        put_module(&first, &m, V, &good_zip(&m));
    }
    import(&store, &[&first]);

    let t0 = Instant::now();
    let r = run_store(&store, &["import"], &[&proxy()]);
    let took = t0.elapsed();
    assert_ne!(r.code, 0, "an import that cannot fit succeeded:\n{}", r.stderr);
    assert_eq!(r.code, 2, "a store that cannot be written is a setup error:\n{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one error line:\n{}", r.stderr);
    let line = lines[0];
    assert!(
        line.contains("No space left on device") || line.contains("disk is full"),
        "the error says the disk is full: {line}"
    );
    assert!(
        line.contains(&store.display().to_string()) || line.contains("store index"),
        "says what it was writing: {line}"
    );

    // The store opens, verifies, and holds only complete modules.
    let ls = run_store(&store, &["ls", "--json"], &[]);
    assert_eq!(ls.code, 0, "ls after disk full: {}", ls.stderr);
    let v = run_store(&store, &["verify"], &[]);
    assert_eq!(v.code, 0, "verify after disk full:\n{}", v.stderr);
    let st = modcachefs::store::Store::open_ro(&store).unwrap();
    let listed: Vec<&str> = ls.stdout.lines().collect();
    for l in &listed {
        let field = |k: &str| json_str(l, k).unwrap_or_else(|| panic!("no {k} in {l}"));
        let Some(files) = json_num(l, "files") else {
            continue;
        };
        let m = st.find_module(field("path"), field("version")).unwrap().expect("a listed module");
        let rows = st.entries(m.id).unwrap().len();
        assert_eq!(rows as u64, files, "half a module: {l}");
    }
    for i in 0..3 {
        assert!(ls.stdout.contains(&format!("example.com/first/m{i}\"")), "committed module lost:\n{}", ls.stdout);
    }
    let tmp_left: Vec<_> = std::fs::read_dir(store.join("tmp")).unwrap().collect();
    assert!(tmp_left.is_empty(), "partial blobs left in tmp/: {tmp_left:?}");
    eprintln!("disk full after {took:?}, {} modules stored: {line}", listed.len());
}

// --- 4. an index that cannot be read -------------------------------------------------

#[test]
fn unreadable_index_refuses_to_mount() {
    let tmp = tempdir("faults-index");
    let proxy = tmp.path().join("proxy");
    for i in 0..300 {
        let m = format!("example.com/idx/m{i:03}");
        put_module(&proxy, &m, V, &good_zip(&m));
    }
    let good = tmp.path().join("good");
    import(&good, &[&proxy]);
    // A copy of its index, damaged, as the index.db of a store of the single-index format.
    let index = std::fs::read(index_db(&good)).unwrap();
    assert!(index.len() > 16 * 4096, "index.db is only {} bytes", index.len());
    let mut garbage = index.clone();
    for (i, b) in garbage[..100].iter_mut().enumerate() {
        *b = (i * 37 % 251) as u8;
    }
    let damages: [(&str, Option<Vec<u8>>); 5] = [
        ("empty", Some(Vec::new())),
        ("truncated-at-page", Some(index[..index.len() / 2 / 4096 * 4096].to_vec())),
        ("truncated-mid-page", Some(index[..index.len() / 2 + 1234].to_vec())),
        ("garbage-header", Some(garbage)),
        ("directory", None),
    ];
    for (name, bytes) in damages {
        let store = tmp.path().join(name);
        std::fs::create_dir_all(store.join("blobs")).unwrap();
        let idx = store.join("index.db");
        match bytes {
            Some(b) => std::fs::write(&idx, b).unwrap(),
            None => std::fs::create_dir_all(idx.join("sub")).unwrap(),
        }
        let mnt = tmp.path().join(format!("mnt-{name}"));
        std::fs::create_dir_all(&mnt).unwrap();
        let _detach = DetachOnDrop(mnt.clone());
        let mut child = Command::new(BIN)
            .arg("--store")
            .arg(&store)
            .arg("mount")
            .arg(&mnt)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let Some(status) = common::daemon::wait_child(&mut child, 10) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: modcachefs mount did not exit within 10 s (mounted: {})", is_mounted(&mnt));
        };
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(status.code(), Some(2), "{name}: exit status {status}:\n{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: want one line of error:\n{err}");
        assert!(lines[0].contains(&idx.display().to_string()), "{name}: the error names index.db: {}", lines[0]);
        assert!(!is_mounted(&mnt), "{name}: mounted anyway");
        eprintln!("{name}: {}", lines[0]);
    }
}

// --- 5. a store on a read-only filesystem ----------------------------------------------

#[test]
fn read_only_store_mounts_and_builds() {
    let tmp = tempdir("faults-ro");
    let store = corpus_store(tmp.path());
    let ro = Mounted::new(&tmp.path().join("ro"), &["--bind", "-o", "ro"], &store);
    let before: Vec<_> = std::fs::read_dir(&store).unwrap().map(|e| e.unwrap().file_name()).collect();
    let m = Mount::new(&ro.0, &tmp.path().join("mnt"), &[]);
    let app = app_copy(tmp.path());
    let go = Go::new(&go_old(), &m.dir, &shared_gocache(), "off");
    go.run(&app, &["build", "./..."]);
    go.run(&app, &["mod", "verify"]);
    assert!(m.stat("verifications_ok") > 0);
    let log = m.stop();
    assert!(!log.contains("error"), "{log}");
    let after: Vec<_> = std::fs::read_dir(&store).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before, after, "the store directory changed");
}
