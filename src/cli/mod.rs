//! The command line's pieces beyond parsing: option values (`values`), mounting
//! and unmounting (`mounting`), and looking at running mounts (`observe`).

pub mod mounting;
pub mod observe;
pub mod store_cmds;
pub mod values;

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
            if !modcachefs::store::exists(dir) {
                if entries.next().is_some() {
                    return Err(Error::Invalid(format!(
                        "{}: not a modcachefs store (no index) and not empty; \
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
