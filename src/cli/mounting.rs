//! `mount` and `umount`: the checks made before anything starts (so that a bad
//! option fails the command, not a request hours later), daemonizing, serving,
//! and unmounting with a grace period for builds still reading.

use super::args::{MountArgs, UmountArgs};
use crate::gomod::gosum;
use crate::ops::daemon;
use crate::ops::stats;
use crate::ops::statsock;
use crate::vfs::content;
use crate::vfs::fs;
use crate::{error::Error, fuse, store};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// go.sum files named on the command line, directories searched for them.
pub(crate) fn collect_go_sums(paths: &[PathBuf]) -> Result<Vec<store::Sum>, Error> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
        let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&p, out)?,
                Ok(t) if t.is_file() && e.file_name() == "go.sum" => out.push(p),
                _ => {}
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files)?;
        } else {
            files.push(p.clone());
        }
    }
    let mut sums = Vec::new();
    for f in files {
        sums.extend(gosum::read(&f)?);
    }
    Ok(sums)
}

/// `--cache-dir` must take the unlinked files large files are extracted to: made
/// here by the very function the mount uses, written and read back, so that a
/// missing, read-only or unsuitable directory fails the mount now rather than
/// every large file later (with EIO).
pub(crate) fn check_cache_dir(dir: &Path) -> Result<(), Error> {
    let refuse = |why: String| {
        Err(Error::Invalid(format!(
            "--cache-dir {}: {why}; files too large for the memory cache are extracted there: give a writable directory",
            dir.display()
        )))
    };
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return refuse("does not exist".into()),
        Err(e) => return refuse(e.to_string()),
        Ok(m) if !m.is_dir() => return refuse("not a directory".into()),
        Ok(_) => {}
    }
    let probe = content::spill_file(dir).and_then(|f| {
        f.write_all_at(b"modcachefs", 0)?;
        let mut back = [0u8; 10];
        f.read_exact_at(&mut back, 0)?;
        Ok(back == *b"modcachefs")
    });
    match probe {
        Ok(true) => Ok(()),
        Ok(false) => refuse("a file written there reads back different".into()),
        Err(e) => refuse(format!("cannot create a file there: {e}")),
    }
}

pub(crate) fn cmd_mount(store_dir: &Path, mut a: MountArgs) -> Result<u8, Error> {
    // The stats socket and the default log are named after the mountpoint: name
    // them after its canonical path, as `stats`, `status` and `umount` look it up.
    a.mountpoint = a.mountpoint.canonicalize().unwrap_or(a.mountpoint);
    if a.stats_access == statsock::Access::All && !a.allow_other {
        return Err(Error::Invalid(
            "--stats-access all is for --allow-other mounts (it opens every user's module list to all)".into(),
        ));
    }
    // Before forking, so that these fail the command itself, and never reach the
    // log of a daemon already serving this mountpoint.
    fuse::check_mountpoint(&a.mountpoint)?;
    check_cache_dir(&a.cache_dir)?;
    let mut ready = daemon::Ready::none();
    let mut log = None;
    if a.daemon {
        // Fork before any thread exists; the parent returns once the mount answers.
        let path = a.log_file.clone().or_else(|| daemon::default_log(&a.mountpoint)).ok_or_else(|| {
            Error::Invalid("no private directory for the daemon's log (see the warning above); give --log-file".into())
        })?;
        match daemon::daemonize(&path)? {
            None => return Ok(0),
            Some(r) => ready = r,
        }
        log = Some(std::path::absolute(&path).unwrap_or(path).to_string_lossy().into_owned());
        if let Some(p) = &a.pidfile {
            if let Err(e) = daemon::write_pidfile(p) {
                ready.failed(&e.to_string());
                return Err(e);
            }
        }
    }
    let res = mount_and_serve(store_dir, &a, log, &mut ready);
    if let Err(e) = &res {
        ready.failed(&e.to_string());
    }
    if let (true, Some(p)) = (a.daemon, &a.pidfile) {
        daemon::remove_pidfile(p);
    }
    res
}

fn mount_and_serve(
    store_dir: &Path,
    a: &MountArgs,
    log: Option<String>,
    ready: &mut daemon::Ready,
) -> Result<u8, Error> {
    let t0 = Instant::now();
    crate::ops::process::tune_for_daemon();
    let st = store::Store::open_ro(store_dir)?;
    let sums = collect_go_sums(&a.go_sum)?;
    let stats = std::sync::Arc::new(stats::Stats::default());
    let opts = content::Options {
        verify: a.verify,
        cache_size: a.cache_size,
        spill_dir: a.cache_dir.clone(),
        spill_size: a.cache_dir_size,
    };
    let sumdb = crate::sumdb::Files::load(&st)?;
    let content = content::Content::new(st, &sums, opts, stats)?;
    let mut fs = fs::Fs::new(content);
    fs.set_sumdb(sumdb);
    fs.set_store_hint(&format!(" --store {}", store_dir.display()));
    log::info!("store {} opened in {:.1} ms", store_dir.display(), t0.elapsed().as_secs_f64() * 1e3);
    let source = store_dir.canonicalize().unwrap_or_else(|_| store_dir.to_path_buf());
    let cfg = fuse::MountConfig {
        allow_other: a.allow_other,
        workers: a.workers,
        source: source.to_string_lossy().into_owned(),
        stats_access: a.stats_access.clone(),
        log,
    };
    fuse::serve(fs, &a.mountpoint, &cfg, ready)?;
    Ok(0)
}

/// Unmounts; with `--grace`, keeps trying a plain unmount while builds still
/// have files open, then detaches lazily: open files keep working until closed
/// and the daemon exits after the last. Never leaves a dead mount behind.
pub(crate) fn cmd_umount(a: UmountArgs) -> Result<u8, Error> {
    let mnt = fuse::canonical_mountpoint(&a.mountpoint).map_err(|e| Error::io(&a.mountpoint, e))?;
    if !fuse::modcachefs_mounts().iter().any(|m| m.mountpoint == mnt) {
        return Err(Error::Invalid(format!("{}: not a modcachefs mount", mnt.display())));
    }
    let failed = |e: std::io::Error| Error::Invalid(format!("{}: cannot unmount: {e}", mnt.display()));
    let Some(grace) = a.grace else {
        fuse::unmount(&mnt, a.lazy).map_err(failed)?;
        return Ok(0);
    };
    let t0 = Instant::now();
    loop {
        match fuse::unmount(&mnt, false) {
            Ok(()) => return Ok(0),
            Err(_) if t0.elapsed() < grace => std::thread::sleep(std::time::Duration::from_millis(200)),
            Err(e) => {
                fuse::unmount(&mnt, true).map_err(failed)?;
                eprintln!(
                    "modcachefs: {}: still busy after {:.0} s ({e}); detached it: files open on it keep working until closed",
                    mnt.display(),
                    grace.as_secs_f64()
                );
                return Ok(0);
            }
        }
    }
}
