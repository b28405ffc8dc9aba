//! The crate's one error type, and the one place errors become errno values.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum Error {
    /// An I/O failure on a named file.
    Io { path: PathBuf, source: io::Error },
    /// The SQLite index failed (corrupt, unreadable, locked too long).
    Db(rusqlite::Error),
    /// A module zip broke a rule; nothing of it was stored.
    Zip(crate::zip::ZipError),
    /// Input that contradicts itself or the store (hash mismatch, conflicting content,
    /// malformed names). The message names the module and the reason.
    Invalid(String),
    /// The store exists but this binary cannot use it (newer schema, not a store).
    Store(String),
    /// A module's stored bytes or index rows disagree with what is trusted: a verdict
    /// (never retried), naming the module (`path@version`) and the reason.
    Refused { module: String, reason: String },
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    /// errno for a FUSE reply. Misses are not errors (they are `Ok(None)` -> ENOENT
    /// in the fs layer); everything that reaches here is a real failure.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Io { source, .. } => match source.raw_os_error() {
                // Propagate what the kernel told us about our own files only when it
                // is meaningful to the reader; anything else is an I/O error.
                Some(libc::ENOMEM) => libc::ENOMEM,
                Some(libc::EMFILE) | Some(libc::ENFILE) => libc::ENFILE,
                _ => libc::EIO,
            },
            _ => libc::EIO,
        }
    }
}

impl Error {
    /// Whether nobody has logged this failure where it happened: I/O and index
    /// failures travel up as values; verdicts (`Refused`, `Zip`, `Invalid`) are
    /// logged once by whoever reached them.
    pub(crate) fn is_unlogged(&self) -> bool {
        matches!(self, Error::Io { .. } | Error::Db(_) | Error::Store(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {}", path.display(), source),
            Error::Db(e) => write!(f, "store index: {e}"),
            Error::Zip(e) => write!(f, "{e}"),
            Error::Invalid(m) | Error::Store(m) => f.write_str(m),
            Error::Refused { module, reason } => write!(f, "{module}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(e)
    }
}

impl From<crate::zip::ZipError> for Error {
    fn from(e: crate::zip::ZipError) -> Self {
        Error::Zip(e)
    }
}
