//! The mount table (/proc/self/mountinfo) and unmounting: used by the mount's
//! lifecycle, and by `umount`, `status`, `stats` and `env` to find our mounts.

use std::path::{Path, PathBuf};

/// Is `p` the mountpoint of a FUSE filesystem whose daemon is gone
/// ("Transport endpoint is not connected")?
pub(super) fn is_stale_mount(p: &Path) -> bool {
    if matches!(std::fs::metadata(p), Err(e) if e.raw_os_error() == Some(libc::ENOTCONN)) {
        return true;
    }
    // stat alone misses most stale mounts: the kernel answers it from the root's
    // attributes, cached for TTL (a year), even after the daemon died. statfs is
    // never cached: it always reaches the daemon, so a dead one shows as ENOTCONN.
    matches!(rustix::fs::statvfs(p), Err(e) if e == rustix::io::Errno::NOTCONN)
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone)]
pub(crate) struct MountEntry {
    /// `major:minor` of the mounted filesystem: tells two mounts at one path apart.
    pub(crate) dev: String,
    pub(crate) mountpoint: PathBuf,
    pub(crate) fstype: String,
    pub source: String,
    /// The filesystem's own options (for FUSE: `user_id=`, `allow_other`, ...).
    pub(crate) super_options: String,
}

impl MountEntry {
    /// Whether users other than the daemon's may use the mount.
    pub(crate) fn allow_other(&self) -> bool {
        self.super_options.split(',').any(|o| o == "allow_other")
    }

    /// The user who mounted it (a FUSE mount's `user_id=`).
    pub(crate) fn user_id(&self) -> Option<u32> {
        self.super_options.split(',').find_map(|o| o.strip_prefix("user_id=")).and_then(|v| v.parse().ok())
    }
}

fn unescape_mountinfo(s: &str) -> String {
    // Spaces, tabs, newlines and backslashes are written as \ooo octal escapes.
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The absolute, symlink-free form of a mountpoint, as the mount table spells it.
/// Another user's FUSE mount without allow_other refuses even a stat of its root
/// (EACCES), so then its parent is resolved instead and the name appended.
pub(crate) fn canonical_mountpoint(p: &Path) -> std::io::Result<PathBuf> {
    match p.canonicalize() {
        Ok(c) => Ok(c),
        Err(e) => {
            let name = p.file_name().ok_or_else(|| std::io::Error::new(e.kind(), e.to_string()))?;
            let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let c = parent.canonicalize()?.join(name);
            if mount_table().iter().any(|m| m.mountpoint == c) {
                Ok(c)
            } else {
                Err(e)
            }
        }
    }
}

/// Everything mounted, as this process sees it.
pub(crate) fn mount_table() -> Vec<MountEntry> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-")?;
            Some(MountEntry {
                dev: f.get(2)?.to_string(),
                mountpoint: PathBuf::from(unescape_mountinfo(f.get(4)?)),
                fstype: f.get(dash + 1)?.to_string(),
                source: unescape_mountinfo(f.get(dash + 2)?),
                super_options: f.get(dash + 3).map_or_else(String::new, |o| o.to_string()),
            })
        })
        .collect()
}

/// The modcachefs mounts (type `fuse.modcachefs`).
pub(crate) fn modcachefs_mounts() -> Vec<MountEntry> {
    mount_table().into_iter().filter(|m| m.fstype == "fuse.modcachefs").collect()
}

pub(super) fn is_mountpoint(p: &Path) -> bool {
    let Ok(canon) = p.canonicalize() else { return false };
    mount_table().iter().any(|m| m.mountpoint == canon)
}

/// Detaches whatever is mounted at `p` (lazily, so open files do not block it).
pub(crate) fn force_unmount(p: &Path) -> std::io::Result<()> {
    unmount(p, true)
}

/// Unmounts `p`: directly when privileged, else through the setuid fusermount3
/// (which lets users undo their own FUSE mounts). `lazy` detaches even if busy.
pub(crate) fn unmount(p: &Path, lazy: bool) -> std::io::Result<()> {
    use rustix::mount::UnmountFlags;
    let direct = match rustix::mount::unmount(p, if lazy { UnmountFlags::DETACH } else { UnmountFlags::empty() }) {
        Ok(()) => return Ok(()),
        Err(e) => std::io::Error::from(e),
    };
    if direct.raw_os_error() == Some(libc::EBUSY) {
        return Err(std::io::Error::other("busy (files are open); use --lazy to detach anyway"));
    }
    let mut cmd = std::process::Command::new("fusermount3");
    cmd.arg("-u");
    if lazy {
        cmd.arg("-z");
    }
    let status = cmd.arg(p).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("umount: {direct}; fusermount3 -u {} failed too", p.display())))
    }
}
