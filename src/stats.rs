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
    dirs.push(std::env::temp_dir().join(format!("modcachefs-{uid}")).join("modcachefs"));
    dirs
}

fn socket_name(mountpoint: &Path) -> String {
    let name: String = mountpoint
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
pub fn socket_path(mountpoint: &Path) -> PathBuf {
    let dirs = socket_dirs();
    let dir = dirs
        .iter()
        .find(|d| std::fs::create_dir_all(d).is_ok())
        .cloned()
        .unwrap_or_else(|| dirs[dirs.len() - 1].clone());
    dir.join(socket_name(mountpoint))
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
    for d in socket_dirs() {
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
