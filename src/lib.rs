//! modcachefs: a read-only FUSE filesystem serving a verified Go module cache.
//!
//! Data flows one way: the CLI fills the `store` (`import`, validated by `zipfmt`,
//! hashed by `hash`); a mount reads the store into a `namespace` and serves file
//! `content` (verified on first access, cached in `cache`) through the `fs` core
//! and the thin `fuse` adapter.

pub mod cache;
pub mod content;
pub mod daemon;
pub mod error;
pub mod fs;
pub mod fsck;
pub mod fuse;
pub mod gosum;
pub mod hash;
pub mod import;
pub mod input;
pub mod json;
pub mod live;
pub mod logger;
pub(crate) mod missing;
pub mod modpath;
pub mod namespace;
pub mod pagebuf;
pub mod rows;
pub mod serve;
pub mod stats;
pub mod statsock;
pub mod store;
pub mod sumdb;
pub(crate) mod verdict;
pub mod zipfmt;
