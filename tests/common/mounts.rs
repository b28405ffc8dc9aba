//! The mount table as the tests read it (`/proc/self/mountinfo`): whether
//! something is mounted at a path, how many mounts are stacked there, and the
//! options and source each was mounted with.

use std::path::Path;

/// One line of `/proc/self/mountinfo`, the fields the tests look at. Paths are as
/// the kernel writes them (a space as `\040`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mountpoint: String,
    /// Per-mount options (`ro,nosuid,...`).
    pub options: String,
    pub fstype: String,
    pub source: String,
    /// The filesystem's own options (`allow_other,default_permissions,...`).
    pub super_options: String,
}

/// Every mount this process sees.
pub fn mountinfo() -> Vec<MountInfo> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("/proc/self/mountinfo");
    info.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-")?;
            let get = |i: usize| f.get(i).map(|s| s.to_string());
            Some(MountInfo {
                mountpoint: get(4)?,
                options: get(5)?,
                fstype: get(dash + 1)?,
                source: get(dash + 2)?,
                super_options: get(dash + 3)?,
            })
        })
        .collect()
}

/// The mounts at `dir` (its canonical path), the last mounted last; more than one
/// when mounts are stacked there.
pub fn mounts_at(dir: &Path) -> Vec<MountInfo> {
    let want = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).to_string_lossy().replace(' ', "\\040");
    mountinfo().into_iter().filter(|m| m.mountpoint == want).collect()
}

pub fn is_mounted(dir: &Path) -> bool {
    if dir.canonicalize().is_err() {
        // ENOTCONN on a dead mount: still mounted as far as cleanup is concerned.
        return std::fs::metadata(dir).is_err();
    }
    !mounts_at(dir).is_empty()
}
