//! The FUSE frontend: the thin adapter from kernel requests to [`crate::fs::Fs`],
//! its worker pool, the session and signal lifecycle of a mount, and the mount
//! table that `umount`, `status` and `env` read.

mod adapter;
mod mounttab;
mod pool;
mod session;

pub use adapter::Adapter;
pub use mounttab::{canonical_mountpoint, force_unmount, modcachefs_mounts, mount_table, unmount, MountEntry};
pub use session::{check_mountpoint, serve, MountConfig};
