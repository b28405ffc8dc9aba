//! modcachefs: a read-only FUSE filesystem serving a verified Go module cache.
//!
//! The folders are the layers, and data flows down this list, never up:
//!
//! - [`gomod`]: Go's rules and formats (module paths and versions, file names,
//!   `h1:`, go.sum, Go-identical `.info`); [`zip`]: the strict module-zip reader.
//! - [`store`]: the archive store (content-addressed blobs, immutable index
//!   segments under a manifest), written by [`import`] and by rm/gc/compact.
//! - [`sumdb`]: checksum databases (signed notes, tlog proofs, tiles).
//! - [`verify`]: the trust rule and the verifiers (the file list against `h1:`,
//!   one entry's structure, a whole module, a whole store).
//! - [`vfs`]: the frontend-independent core: the lazy namespace, verified file
//!   contents and their bounded cache, and [`vfs::fs::Fs`], the one API frontends use.
//! - Frontends: [`fuse`] (the mount) and [`serve`] (an HTTP GOPROXY).
//! - [`ops`] (daemon, logger, counters, stats socket) and [`cli`] (the command line).

#![warn(clippy::undocumented_unsafe_blocks)]

pub mod cli;
pub mod error;
pub mod fuse;
pub mod gomod;
pub mod import;
pub mod ops;
pub mod serve;
pub mod store;
pub mod sumdb;
pub mod verify;
pub mod vfs;
pub mod zip;
