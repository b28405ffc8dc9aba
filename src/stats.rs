//! Daemon counters, readable while mounted through a unix socket beside (not
//! inside) the mount, and logged on SIGUSR1.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($name:ident: $doc:literal),* $(,)?) => {
        #[derive(Default, Debug)]
        pub struct Stats { $(#[doc = $doc] pub $name: AtomicU64,)* }

        impl Stats {
            /// One JSON object with every counter.
            pub fn to_json(&self) -> String {
                let fields: Vec<String> = vec![$(format!("\"{}\":{}", stringify!($name), self.$name.load(Relaxed))),*];
                format!("{{{}}}", fields.join(","))
            }

            /// `name value` pairs, one per line.
            pub fn to_text(&self) -> String {
                let mut s = String::new();
                $(s.push_str(&format!("{:<22} {}\n", stringify!($name), self.$name.load(Relaxed)));)*
                s
            }
        }
    };
}

counters! {
    lookups: "FUSE lookups answered (hits and misses)",
    negative_lookups: "lookups of names that do not exist",
    getattrs: "FUSE getattr requests",
    readdirs: "FUSE readdir requests",
    ioctls: "FUSE ioctl requests, answered ENOTTY (isatty() on a file, as Python's open() does)",
    opens: "files opened",
    reads: "FUSE read requests",
    bytes_served: "file bytes returned to the kernel",
    cache_hits: "file contents found in the extracted-file cache",
    cache_misses: "file contents that had to be decompressed",
    cache_evictions: "files evicted from the cache",
    cache_bytes: "bytes currently held by the cache",
    cache_files: "files currently held by the cache",
    spill_bytes: "bytes of large files currently extracted to --cache-dir",
    spill_files: "large files currently extracted to --cache-dir (each an open descriptor)",
    modules_loaded: "modules whose file list was loaded from the index",
    modules_extracted: "modules decompressed (and verified) at least once",
    verifications_ok: "module trees whose hash matched the trusted sum",
    verifications_failed: "module trees or go.mod files refused for a hash mismatch or an unreadable blob",
    modules_missing: "distinct missing modules that were asked for",
    errors: "requests answered with EIO",
}

pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Relaxed);
}

/// The directories a stats socket may be in, preferred first: `/run/modcachefs`
/// for root (daemons started by systemd or mount(8) have no XDG_RUNTIME_DIR, and a
/// root shell may have one: both must find the same socket), else the user's
/// runtime directory, else a per-user directory under the temp dir.
fn socket_dirs() -> Vec<PathBuf> {
    let uid = unsafe { libc::geteuid() };
    let mut dirs = Vec::new();
    if uid == 0 {
        dirs.push(PathBuf::from("/run/modcachefs"));
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
        dirs.push(PathBuf::from(d).join("modcachefs"));
    }
    dirs.push(tmp_fallback().join("modcachefs"));
    dirs
}

/// The per-user directory in the shared temp directory (the last resort).
fn tmp_fallback() -> PathBuf {
    std::env::temp_dir().join(format!("modcachefs-{}", unsafe { libc::geteuid() }))
}

/// Whether `dir` (one of `socket_dirs`) may be used, creating it if `create`.
///
/// The last resort lives in the shared temp directory, where any user can make
/// `modcachefs-UID` first, or a symlink by that name: whoever owns that directory
/// could then plant a symlink where a `--daemon` log is appended (to any file of
/// ours) or a socket that answers `modcachefs stats` in our stead. So it is made
/// 0700 and used only if it is a real directory of ours that no one else can write.
/// (`/run` and `$XDG_RUNTIME_DIR` are private to their owner already.)
fn usable_dir(dir: &Path, create: bool) -> bool {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let top = tmp_fallback();
    if dir.parent() == Some(top.as_path()) {
        if create {
            // Fails harmlessly when it exists; whatever is there is checked below.
            let _ = std::fs::DirBuilder::new().mode(0o700).create(&top);
        }
        let ok = std::fs::symlink_metadata(&top)
            .is_ok_and(|m| m.file_type().is_dir() && m.uid() == unsafe { libc::geteuid() } && m.mode() & 0o022 == 0);
        if !ok {
            if create && top.exists() {
                log::warn!(
                    "{}: not a directory of ours that only we can write to; not using it for the stats socket",
                    top.display()
                );
            }
            return false;
        }
    }
    !create || std::fs::create_dir_all(dir).is_ok()
}

/// Named after the absolute, symlink-free mountpoint: `mount mnt` and `stats /abs/mnt`
/// (or `status`, which knows mounts from the mount table) must agree. Never call this
/// on a mount that this very process serves but does not answer yet (it stats it).
fn socket_name(mountpoint: &Path) -> String {
    let canonical = mountpoint.canonicalize().unwrap_or_else(|_| mountpoint.to_path_buf());
    let name: String = canonical
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    // A unix socket path must fit in 108 bytes: name long mountpoints by a hash.
    if name.len() > 60 {
        return format!("{}.sock", crate::hash::hex(&crate::hash::sha256(name.as_bytes())[..16]));
    }
    format!("{name}.sock")
}

/// Where the stats socket of a mount lives: beside (never inside) the mount.
/// None if no candidate directory is usable (see `usable_dir`).
pub fn socket_path(mountpoint: &Path) -> Option<PathBuf> {
    socket_dirs().into_iter().find(|d| usable_dir(d, true)).map(|d| d.join(socket_name(mountpoint)))
}

/// Serves `report()` (a JSON object) to every connection until the process exits.
pub fn serve(path: &Path, report: Box<dyn Fn() -> String + Send>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::thread::Builder::new().name("stats".into()).spawn(move || {
        use std::io::Write;
        for mut c in listener.incoming().flatten() {
            let _ = c.write_all(report().as_bytes());
        }
    })?;
    Ok(())
}

/// Reads the counters of a running mount.
pub fn fetch(mountpoint: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let name = socket_name(mountpoint);
    let mut last = None;
    let mut conn = None;
    for d in socket_dirs().into_iter().filter(|d| usable_dir(d, false)) {
        match UnixStream::connect(d.join(&name)) {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut c = conn.ok_or_else(|| {
        let e = last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound));
        std::io::Error::new(e.kind(), format!("{}: no modcachefs mount answers there ({e})", mountpoint.display()))
    })?;
    let mut s = String::new();
    c.read_to_string(&mut s)?;
    Ok(s)
}
