//! The command line: its grammar (`args`, with option values in `values`), the
//! commands that fill and read the store (`store_read`), mounting and unmounting
//! (`mounting`), looking at running mounts (`observe`), and terminal progress.

pub(crate) mod args;
pub(crate) mod mounting;
pub(crate) mod observe;
pub(crate) mod progress;
pub(crate) mod store_read;
pub(crate) mod values;

/// Exit codes: 0 success, 1 some inputs or modules failed, 2 usage or setup error.
pub(crate) const EXIT_PARTIAL: u8 = 1;
pub(crate) const EXIT_FATAL: u8 = 2;

use modcachefs::error::Error;
use std::io::IsTerminal;
use std::path::Path;

/// Before `import` opens (and so creates) a store: a `--store` that is a new or
/// empty directory becomes a new store, which is said (on a terminal, else at info
/// level: a mistyped `--store` would otherwise silently start an empty store);
/// a non-empty directory without an index is refused, never filled.
pub fn check_new_store(dir: &Path) -> Result<(), Error> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let say = || {
        let msg = format!("creating a new store at {}", absolute.display());
        if std::io::stderr().is_terminal() {
            eprintln!("modcachefs: {msg}");
        } else {
            log::info!("{msg}");
        }
    };
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => say(),
        Ok(mut entries) => {
            if std::fs::symlink_metadata(dir.join("index.db")).is_err() {
                if entries.next().is_some() {
                    return Err(Error::Invalid(format!(
                        "{}: not a modcachefs store (no index.db) and not empty; \
                         refusing to make a store in it (check --store, or give an empty or new directory)",
                        absolute.display()
                    )));
                }
                say();
            }
        }
        // Not a directory, unreadable: opening the store says why.
        Err(_) => {}
    }
    Ok(())
}
