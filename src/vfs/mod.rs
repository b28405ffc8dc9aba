//! The frontend-independent core: what a mount or `serve` shows, as Results.
//!
//! [`fs::Fs`] is the only thing a frontend touches: lookup, getattr, readdir,
//! open and read, with errors that carry their errno ([`failures`] counts and
//! logs them). Below it, the lazy [`namespace`] of names and inode numbers, the
//! verified file [`content`] and its byte-bounded [`cache`] of extracted files
//! ([`pagebuf`]), the bounded log of [`missing`] modules, and [`live`], which
//! follows the store as imports commit.

pub mod cache;
pub mod content;
pub mod failures;
pub mod fs;
pub mod live;
pub(crate) mod missing;
pub mod namespace;
pub mod pagebuf;
