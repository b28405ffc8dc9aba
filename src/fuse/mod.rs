//! The FUSE frontend: the thin adapter from kernel requests to [`crate::vfs::fs::Fs`],
//! the session and signal lifecycle of a mount, and the mount table that
//! `umount`, `status` and `env` read.

mod adapter;
mod mounttab;
mod pool;
mod session;

pub(crate) use mounttab::{canonical_mountpoint, modcachefs_mounts, unmount};
pub(crate) use session::{check_mountpoint, serve, MountConfig};
