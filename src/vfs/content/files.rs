//! File helpers of the content layer: positioned reads of shared handles, the
//! nameless files large extractions spill into.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};

pub(crate) fn pread(f: &File, offset: u64, size: u32) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; size as usize];
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], offset + got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// A file in `dir` that has no name: gone when its last descriptor closes, so a
/// crash leaves nothing behind.
pub(crate) fn spill_file(dir: &std::path::Path) -> std::io::Result<File> {
    let tmpfile = std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_TMPFILE).open(dir);
    match tmpfile {
        Ok(f) => Ok(f),
        // Filesystems without O_TMPFILE: create, then unlink at once.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)) => {
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = dir.join(format!(".modcachefs-{}-{n}", std::process::id()));
            let f = std::fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&p)?;
            std::fs::remove_file(&p)?;
            Ok(f)
        }
        Err(e) => Err(e),
    }
}
