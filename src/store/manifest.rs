//! The manifest `index/CURRENT`: which immutable segments make up the store's
//! current state, and the writers' lock `<store>/lock`.
//!
//! The manifest is a few lines of text, replaced whole by rename (written to
//! `tmp/`, fsynced, renamed over, the directory fsynced): a reader on any host
//! reads either the old or the new one, never a mix. It is small on purpose, so
//! that polling it (`Store::current_generation`) costs one read.
//!
//! ```text
//! modcachefs-store 3
//! generation 12
//! next-id 3401                  the next module id: ids are never reused
//! modules 3390                  live module versions (for logs and stats)
//! segment seg-000000000003.db 0 3     name, generations whose changes it holds (oldest first)
//! segment seg-000000000012.db 12 12
//! retired seg-000000000002.db 1764600000   out of the state since (unix seconds); gc deletes it later
//! end
//! ```

use crate::error::{Error, Result};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub(crate) const FORMAT: &str = "modcachefs-store 3";
const MAX_MANIFEST: u64 = 1 << 20;

/// One segment of a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegRef {
    pub name: String,
    /// The generations whose changes the segment holds: an import's segment holds
    /// one, a merged segment the range of its inputs.
    pub(crate) gen_lo: u64,
    pub(crate) gen_hi: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub generation: u64,
    pub(crate) next_id: i64,
    pub modules: u64,
    /// Oldest first; lookups go newest first.
    pub(crate) segments: Vec<SegRef>,
    /// Segments no longer in the state, with when they left it: readers on other
    /// hosts may still read them, so `gc` deletes them only after its grace period.
    pub(crate) retired: Vec<(String, u64)>,
}

pub(crate) fn index_dir(store: &Path) -> PathBuf {
    store.join("index")
}

pub(crate) fn current_path(store: &Path) -> PathBuf {
    index_dir(store).join("CURRENT")
}

/// Segment names are made by the writer; anything else in a manifest (a path with
/// a slash, say) is refused rather than opened.
pub(crate) fn is_segment_name(s: &str) -> bool {
    s.strip_prefix("seg-")
        .and_then(|r| r.strip_suffix(".db"))
        .is_some_and(|d| !d.is_empty() && d.len() <= 20 && d.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn segment_name(generation: u64) -> String {
    format!("seg-{generation:012}.db")
}

/// The manifest, or None when the store has none (a store of the single-index
/// format, or no store at all).
pub fn read(store: &Path) -> Result<Option<Manifest>> {
    let p = current_path(store);
    let f = match fs::File::open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&p, e)),
    };
    let mut text = String::new();
    f.take(MAX_MANIFEST).read_to_string(&mut text).map_err(|e| Error::io(&p, e))?;
    parse(&text).map(Some).map_err(|why| Error::Store(format!("{}: unreadable store manifest: {why}", p.display())))
}

pub(crate) fn parse(text: &str) -> std::result::Result<Manifest, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some(FORMAT) => {}
        Some(l) if l.starts_with("modcachefs-store ") => {
            return Err(format!(
                "store made by a newer modcachefs ({l:?}; this binary knows {FORMAT:?}); upgrade modcachefs"
            ))
        }
        _ => return Err("not a modcachefs store manifest".into()),
    }
    let mut m = Manifest::default();
    let mut ended = false;
    for l in lines {
        let f: Vec<&str> = l.split(' ').collect();
        let num = |i: usize| -> std::result::Result<u64, String> {
            f.get(i).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad line {l:?}"))
        };
        match f[0] {
            "generation" if f.len() == 2 => m.generation = num(1)?,
            "next-id" if f.len() == 2 => m.next_id = num(1)? as i64,
            "modules" if f.len() == 2 => m.modules = num(1)?,
            "segment" if f.len() == 4 && is_segment_name(f[1]) => {
                m.segments.push(SegRef { name: f[1].to_string(), gen_lo: num(2)?, gen_hi: num(3)? })
            }
            "retired" if f.len() == 3 && is_segment_name(f[1]) => m.retired.push((f[1].to_string(), num(2)?)),
            "end" if f.len() == 1 => ended = true,
            _ => return Err(format!("bad line {l:?}")),
        }
    }
    if !ended {
        return Err("truncated (no end line)".into());
    }
    Ok(m)
}

pub(crate) fn render(m: &Manifest) -> String {
    let mut s = format!("{FORMAT}\ngeneration {}\nnext-id {}\nmodules {}\n", m.generation, m.next_id, m.modules);
    for seg in &m.segments {
        s.push_str(&format!("segment {} {} {}\n", seg.name, seg.gen_lo, seg.gen_hi));
    }
    for (name, at) in &m.retired {
        s.push_str(&format!("retired {name} {at}\n"));
    }
    s.push_str("end\n");
    s
}

/// Replaces the manifest atomically and durably.
pub(crate) fn write(store: &Path, m: &Manifest) -> Result<()> {
    let tmp = store.join("tmp").join(format!("CURRENT.{}", std::process::id()));
    let dest = current_path(store);
    let go = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(render(m).as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &dest)?;
        sync_dir(&index_dir(store))
    };
    go().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(&dest, e)
    })
}

pub(crate) fn sync_dir(d: &Path) -> std::io::Result<()> {
    fs::File::open(d)?.sync_all()
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The writers' lock: an exclusive `flock` on `<store>/lock`, held by import, rm,
/// gc and compact for as long as they write. Readers never take it. The file
/// holds the holder's pid and command, for the message a second writer prints.
pub(crate) struct WriteLock {
    _file: fs::File,
}

pub(crate) fn lock(store: &Path, what: &str, wait: bool) -> Result<WriteLock> {
    use std::os::unix::fs::OpenOptionsExt;
    let p = store.join("lock");
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&p)
        .map_err(|e| Error::io(&p, e))?;
    use rustix::fs::{flock, FlockOperation};
    if let Err(e) = flock(&f, FlockOperation::NonBlockingLockExclusive) {
        if e != rustix::io::Errno::WOULDBLOCK {
            return Err(Error::io(&p, e.into()));
        }
        let mut holder = String::new();
        let _ = (&f).take(200).read_to_string(&mut holder);
        let holder = holder.trim();
        let who = match holder.split_once(' ') {
            Some((pid, cmd)) => format!("modcachefs {cmd} (pid {pid})"),
            None => "modcachefs writer".to_string(),
        };
        if !wait {
            return Err(Error::Store(format!(
                "another {who} holds {}; try again when it ends (or leave out --no-wait to wait for it)",
                store.display()
            )));
        }
        eprintln!("modcachefs: waiting for another {who} that holds {}", store.display());
        loop {
            match flock(&f, FlockOperation::LockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(Error::io(&p, e.into())),
            }
        }
    }
    let mut note = || -> std::io::Result<()> {
        f.set_len(0)?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0))?;
        f.write_all(format!("{} {what}\n", std::process::id()).as_bytes())
    };
    note().map_err(|e| Error::io(&p, e))?;
    Ok(WriteLock { _file: f })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_refuses_bad_names() {
        let m = Manifest {
            generation: 7,
            next_id: 42,
            modules: 40,
            segments: vec![
                SegRef { name: segment_name(3), gen_lo: 0, gen_hi: 3 },
                SegRef { name: segment_name(7), gen_lo: 7, gen_hi: 7 },
            ],
            retired: vec![(segment_name(2), 1_700_000_000)],
        };
        assert_eq!(parse(&render(&m)).unwrap(), m);
        assert!(parse(&render(&m).replace("end\n", "")).unwrap_err().contains("truncated"));
        assert!(parse(&render(&m).replace("seg-000000000003.db", "../../etc/passwd")).is_err());
        assert!(parse("modcachefs-store 4\n").unwrap_err().contains("newer"));
    }
}
