//! The importer against hostile input *trees*, run as the real binary, as root
//! would run it on a GOMODCACHE another user controls: symlinks to a root-only
//! file (as `.mod`, `.ziphash`, go.sum, loose zip), a symlinked `cache/download`,
//! module directory and `@v` are refused, each with a message naming the file and
//! the reason, and the file's bytes appear nowhere (store, stdout, stderr,
//! `--json`); FIFOs, devices and oversized files are refused at their limits
//! without hanging or reading past them.

mod common;

use common::daemon::output_within;
use common::zipgen::{deflated, module_zip};
use common::*;
use modcachefs::gomod::h1::{hex, sha256};
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `modcachefs --store S import --json PATHS`, killed (and the test failed) if it
/// takes over 60 s: a FIFO or an endless file must not hang import.
fn import_json(store: &Path, paths: &[&Path]) -> Run {
    let mut c = Command::new(BIN);
    c.arg("--store").arg(store).arg("import").arg("--json").args(paths).env_remove("MODCACHEFS_LOG");
    Run::of(output_within(&mut c, 60, &format!("import {paths:?}")), "import")
}

/// A root-only (0600) file holding a random token, and the token.
fn secret(dir: &Path) -> (PathBuf, String) {
    let seed = format!("{:?}{}", Instant::now(), std::process::id());
    let token = format!("SECRET{}", &hex(&sha256(seed.as_bytes()))[..32]);
    let p = dir.join("shadow");
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&p).unwrap();
    use std::io::Write;
    // Shaped like a go.sum line and an h1 hash, so that a parser would quote it.
    writeln!(f, "{token} v1.0.0 h1:{token}=\nroot:{token}:19000:0:99999:7:::").unwrap();
    (p, token)
}

/// Panics if `token`, or any 10-byte piece of it, is in `hay`.
#[track_caller]
fn assert_absent(hay: &[u8], token: &str, what: &str) {
    for piece in token.as_bytes().windows(10) {
        assert!(!hay.windows(piece.len()).any(|w| w == piece), "{what} holds bytes of the secret");
    }
}

/// Every byte of every file under `dir`.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let files = tree(dir).into_iter().filter(|(_, m)| m.is_file());
    files.flat_map(|(rel, _)| std::fs::read(dir.join(rel)).unwrap()).collect()
}

/// `<download>/<module>/@v/v1.0.0.{mod,zip}` of a good module; returns the @v directory.
fn put_good(download: &Path, module: &str) -> PathBuf {
    put_module(download, module, "v1.0.0", &module_zip(module, "v1.0.0", "package a\n", deflated()))
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo {}", p.display());
}

fn ls(store: &Path) -> String {
    ok(&modcachefs(&["--store", &store.to_string_lossy(), "ls", "--json"]), "ls")
}

/// Symlinks inside a GOMODCACHE to a root-only file, or to directories outside
/// it, are refused one by one (the good module beside them is imported); a
/// symlinked cache/download refuses the whole input; the input directory named on
/// the command line may itself be a symlink.
#[test]
fn symlinks_inside_the_input_are_refused_and_never_read() {
    let tmp = tempdir("inputs-symlink");
    let (shadow, token) = secret(tmp.path());
    let gmc = tmp.path().join("gomodcache");
    let dl = gmc.join("cache/download");
    put_good(&dl, "example.com/good");
    // .mod -> the secret (with a real .zip beside it).
    let x = put_good(&dl, "example.com/x");
    std::fs::remove_file(x.join("v1.0.0.mod")).unwrap();
    symlink(&shadow, x.join("v1.0.0.mod")).unwrap();
    // .ziphash -> the secret.
    let y = put_good(&dl, "example.com/y");
    symlink(&shadow, y.join("v1.0.0.ziphash")).unwrap();
    // .info -> the secret.
    let i = put_good(&dl, "example.com/i");
    symlink(&shadow, i.join("v1.0.0.info")).unwrap();
    // A module directory, and an @v, that are symlinks to trees outside holding
    // the secret's bytes as a regular .mod.
    let outside = tmp.path().join("outside");
    let out_at_v = outside.join("z/@v");
    std::fs::create_dir_all(&out_at_v).unwrap();
    std::fs::copy(&shadow, out_at_v.join("v1.0.0.mod")).unwrap();
    symlink(outside.join("z"), dl.join("example.com/z")).unwrap();
    std::fs::create_dir_all(dl.join("example.com/w")).unwrap();
    symlink(&out_at_v, dl.join("example.com/w/@v")).unwrap();

    let store = tmp.path().join("store");
    let r = import_json(&store, &[&gmc]);
    assert_eq!(r.code, 1, "some inputs refused:\n{}", r.stderr);
    let dl_shown = dl.display().to_string();
    for (who, what) in [
        (format!("{dl_shown}/example.com/x/@v/v1.0.0.mod"), "is a symbolic link"),
        (format!("{dl_shown}/example.com/y/@v/v1.0.0.ziphash"), "is a symbolic link"),
        (format!("{dl_shown}/example.com/i/@v/v1.0.0.info"), "is a symbolic link"),
        (format!("{dl_shown}/example.com/z:"), "is a symbolic link"),
        (format!("{dl_shown}/example.com/w/@v:"), "is a symbolic link"),
    ] {
        stderr_line(&r.stderr, &who, &[what]);
        assert!(r.stdout.contains(&who), "--json errors lack {who}: {}", r.stdout);
    }
    assert_eq!(r.stdout.matches("is a symbolic link").count(), 5, "{}", r.stdout);
    let listed = ls(&store);
    assert!(listed.contains("example.com/good"), "the good module is imported: {listed}");
    for m in ["example.com/x", "example.com/y", "example.com/i", "example.com/z", "example.com/w"] {
        assert!(!listed.contains(&format!("\"{m}\"")), "{m} imported: {listed}");
    }
    assert_absent(r.stdout.as_bytes(), &token, "import --json stdout");
    assert_absent(r.stderr.as_bytes(), &token, "import stderr");
    assert_absent(&all_bytes(&store), &token, "the store");

    // A symlinked cache/download: the whole input is refused before anything is read.
    let gmc2 = tmp.path().join("gomodcache2");
    std::fs::create_dir_all(gmc2.join("cache")).unwrap();
    symlink(&outside, gmc2.join("cache/download")).unwrap();
    let store2 = tmp.path().join("store2");
    let r = import_json(&store2, &[&gmc2]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    stderr_line(&r.stderr, &format!("{}/cache/download:", gmc2.display()), &["is a symbolic link"]);
    assert_absent(format!("{}{}", r.stdout, r.stderr).as_bytes(), &token, "import output");
    assert_absent(&all_bytes(&store2), &token, "the second store");

    // Files named on the command line are not followed either; directories are.
    let zip_link = tmp.path().join("link.zip");
    symlink(&shadow, &zip_link).unwrap();
    let sum_link = tmp.path().join("go.sum");
    symlink(&shadow, &sum_link).unwrap();
    let gmc_link = tmp.path().join("gomodcache-link");
    symlink(&gmc, &gmc_link).unwrap();
    let store3 = tmp.path().join("store3");
    let r = import_json(&store3, &[&gmc_link, &zip_link, &sum_link]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    stderr_line(&r.stderr, &zip_link.display().to_string(), &["is a symbolic link"]);
    stderr_line(&r.stderr, &sum_link.display().to_string(), &["is a symbolic link"]);
    assert!(ls(&store3).contains("example.com/good"), "the symlinked input directory is followed");
    assert_absent(format!("{}{}", r.stdout, r.stderr).as_bytes(), &token, "import output");
    assert_absent(&all_bytes(&store3), &token, "the third store");
}

/// A FIFO (as .mod, .zip, loose zip or go.sum) never hangs import; a device and
/// a symlink to /dev/zero are refused; files over their limit (go.mod 16 MiB,
/// .info, .ziphash, zip 500 MiB) are refused naming the limit, the others stored.
#[test]
fn fifos_devices_and_oversized_inputs_are_refused_at_their_limits() {
    use modcachefs::gomod::{MAX_GO_MOD_SIZE, MAX_ZIP_SIZE};
    use modcachefs::import::input::{MAX_INFO_SIZE, MAX_ZIPHASH_SIZE};
    let tmp = tempdir("inputs-limits");
    let proxy = tmp.path().join("proxy");
    put_good(&proxy, "example.com/good");
    let fifo_mod = put_good(&proxy, "example.com/fifomod").join("v1.0.0.mod");
    std::fs::remove_file(&fifo_mod).unwrap();
    mkfifo(&fifo_mod);
    let fifo_zip = put_good(&proxy, "example.com/fifozip").join("v1.0.0.zip");
    std::fs::remove_file(&fifo_zip).unwrap();
    mkfifo(&fifo_zip);
    let zero = put_good(&proxy, "example.com/zero").join("v1.0.0.mod");
    std::fs::remove_file(&zero).unwrap();
    symlink("/dev/zero", &zero).unwrap();
    let dev = put_good(&proxy, "example.com/dev").join("v1.0.0.info");
    let c = std::ffi::CString::new(dev.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 5)) }, 0, "mknod");
    // Sparse files one byte over each limit.
    let sparse = |p: PathBuf, len: u64| std::fs::File::create(p).unwrap().set_len(len).unwrap();
    sparse(put_good(&proxy, "example.com/bigmod").join("v1.0.0.mod"), MAX_GO_MOD_SIZE + 1);
    sparse(put_good(&proxy, "example.com/bigzip").join("v1.0.0.zip"), MAX_ZIP_SIZE + 1);
    sparse(put_good(&proxy, "example.com/biginfo").join("v1.0.0.info"), MAX_INFO_SIZE + 1);
    sparse(put_good(&proxy, "example.com/bighash").join("v1.0.0.ziphash"), MAX_ZIPHASH_SIZE + 1);
    let loose_fifo = tmp.path().join("loose.zip");
    mkfifo(&loose_fifo);
    let sum_fifo = tmp.path().join("go.sum");
    mkfifo(&sum_fifo);

    let store = tmp.path().join("store");
    let t0 = Instant::now();
    let r = import_json(&store, &[&proxy, &loose_fifo, &sum_fifo]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(t0.elapsed() < Duration::from_secs(30), "import took {:?}", t0.elapsed());
    let p = proxy.display().to_string();
    stderr_line(&r.stderr, &format!("{p}/example.com/fifomod/@v/v1.0.0.mod"), &["is a FIFO, not a regular file"]);
    stderr_line(&r.stderr, &format!("{p}/example.com/fifozip/@v/v1.0.0.zip"), &["is a FIFO, not a regular file"]);
    stderr_line(&r.stderr, &loose_fifo.display().to_string(), &["is a FIFO, not a module zip"]);
    stderr_line(&r.stderr, &sum_fifo.display().to_string(), &["is a FIFO, not a go.sum"]);
    stderr_line(&r.stderr, &format!("{p}/example.com/zero/@v/v1.0.0.mod"), &["is a symbolic link"]);
    stderr_line(&r.stderr, &format!("{p}/example.com/dev/@v/v1.0.0.info"), &["is a character device"]);
    for (m, ext, limit) in [
        ("bigmod", "mod", MAX_GO_MOD_SIZE),
        ("bigzip", "zip", MAX_ZIP_SIZE),
        ("biginfo", "info", MAX_INFO_SIZE),
        ("bighash", "ziphash", MAX_ZIPHASH_SIZE),
    ] {
        stderr_line(
            &r.stderr,
            &format!("{p}/example.com/{m}/@v/v1.0.0.{ext}"),
            &[&format!("is larger than the limit of {limit} bytes")],
        );
    }
    let listed = ls(&store);
    assert!(listed.contains("\"example.com/good\""), "{listed}");
    assert_eq!(listed.lines().count(), 1, "only the good module is stored: {listed}");
}
