//! Opening and reading `import`'s inputs, which another user may control.
//!
//! Root often imports a tree some user owns (`modcachefs import /home/u/go/pkg/mod`),
//! and what it stores, a mount serves to everyone. So no file is read through a
//! symlink: a `.mod -> /etc/shadow` would otherwise be published world-readable.
//! A directory named on the command line is opened once, following symlinks (the
//! operator chose it); everything below it is opened relative to that descriptor one
//! component at a time with `O_NOFOLLOW` (`openat`), so a directory swapped for a
//! symlink between the walk and the read is refused too, not followed. Every file is
//! opened `O_NONBLOCK` (a FIFO cannot hang the opener), checked to be a regular file
//! with `fstat` on the opened descriptor, and read through a limit, never trusting a
//! size seen before (a file may grow after it was stat'ed).
//!
//! Hand-written on `rustix` rather than `std::fs`: std opens by path only, so it
//! cannot refuse symlinks in every component without races.

use crate::error::{Error, Result};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Largest `.info` read. Go sets none (it reads the whole file); real ones are a
/// JSON object of under 1 KiB, a few KiB with a long `Origin`.
pub const MAX_INFO_SIZE: u64 = 64 << 10;
/// Largest `.ziphash` read: one `h1:` hash (48 bytes with its newline) and room to spare.
pub const MAX_ZIPHASH_SIZE: u64 = 1 << 10;
/// Largest go.sum read. Go sets none; the go.sum of a very large project is a few MB.
pub(crate) const MAX_GO_SUM_SIZE: u64 = 64 << 20;
/// Deepest directory below an input root that the walk descends into (a module
/// path has at most a few dozen elements; an endless tree must not exhaust descriptors).
pub(crate) const MAX_DEPTH: usize = 64;

/// Renders possibly hostile bytes (a file name, say) on one line, control
/// characters escaped, so that a name cannot forge lines in a log.
pub(crate) fn shown(p: &Path) -> String {
    crate::ops::logger::printable(p.as_os_str().as_bytes())
}

/// At most the first 16 bytes of input that is not what it claims to be, escaped
/// and quoted: enough to recognise it, too little to leak a file through an error.
pub(crate) fn quote_prefix(bytes: &[u8]) -> String {
    const N: usize = 16;
    let cut = bytes.len().min(N);
    let more = if bytes.len() > N { "..." } else { "" };
    format!("\"{}\"{more}", crate::ops::logger::printable(&bytes[..cut]))
}

/// Why an input was not opened.
#[derive(Debug)]
pub(crate) enum Refusal {
    Symlink,
    /// Not what was asked for (a regular file, or a directory): the type found.
    WrongType(&'static str),
    Io(std::io::Error),
}

impl Refusal {
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Refusal::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }

    pub(crate) fn into_error(self, shown_path: &Path, wanted: &str) -> Error {
        let p = shown(shown_path);
        Error::Invalid(match self {
            Refusal::Symlink => format!(
                "{p}: is a symbolic link; import does not follow symlinks inside its inputs (import the target itself); not read"
            ),
            Refusal::WrongType(t) => format!("{p}: is {t}, not {wanted}; not read"),
            Refusal::Io(e) => format!("{p}: {e}"),
        })
    }
}

impl From<Errno> for Refusal {
    fn from(e: Errno) -> Self {
        Refusal::Io(e.into())
    }
}

fn type_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "of unknown type",
    }
}

/// Opens `name` (one path component) in `dir`, never following a symlink, and
/// checks on the opened descriptor that it is a directory (`want_dir`) or a
/// regular file. Files are left blocking again for reading.
fn open_at(dir: impl AsFd, name: &OsStr, want_dir: bool) -> std::result::Result<OwnedFd, Refusal> {
    let base = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    let flags = if want_dir { base | OFlags::DIRECTORY } else { base };
    let fd = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        // O_NOFOLLOW answers ELOOP for a symlink, and with O_DIRECTORY, ENOTDIR:
        // say which it was.
        Err(Errno::LOOP) => return Err(Refusal::Symlink),
        Err(Errno::NOTDIR) if want_dir => {
            let t = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode))
                .unwrap_or(FileType::Unknown);
            return Err(if t == FileType::Symlink { Refusal::Symlink } else { Refusal::WrongType(type_name(t)) });
        }
        Err(e) => return Err(e.into()),
    };
    let t = FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
    let wanted = if want_dir { FileType::Directory } else { FileType::RegularFile };
    if t != wanted {
        return Err(Refusal::WrongType(type_name(t)));
    }
    if !want_dir {
        rustix::fs::fcntl_setfl(&fd, rustix::fs::fcntl_getfl(&fd)? - OFlags::NONBLOCK)?;
    }
    Ok(fd)
}

/// Reads at most `limit` bytes of `r`, refusing it if there are more; never reads
/// more than `limit + 1` bytes. `hint` (a size from fstat) only sizes the buffer.
pub(crate) fn read_limited(r: impl Read, hint: u64, limit: u64, shown_path: &Path, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(hint.min(limit) as usize + 1);
    r.take(limit + 1).read_to_end(&mut buf).map_err(|e| Error::Invalid(format!("{}: {e}", shown(shown_path))))?;
    if buf.len() as u64 > limit {
        return Err(too_big(shown_path, what, limit));
    }
    Ok(buf)
}

fn read_fd(fd: OwnedFd, limit: u64, shown_path: &Path, what: &str) -> Result<Vec<u8>> {
    let size = rustix::fs::fstat(&fd).map(|s| s.st_size.max(0) as u64).unwrap_or(0);
    if size > limit {
        // Already too big: refused without reading a byte. A smaller size is only
        // a hint, the limit holds while reading (the file may be growing).
        return Err(too_big(shown_path, what, limit));
    }
    read_limited(std::fs::File::from(fd), size, limit, shown_path, what)
}

fn too_big(shown_path: &Path, what: &str, limit: u64) -> Error {
    Error::Invalid(format!("{}: {what} is larger than the limit of {limit} bytes; not imported", shown(shown_path)))
}

/// Reads a file named on the command line (a loose zip, a go.sum): the directories
/// on the way are the operator's choice, the file itself must not be a symlink.
pub(crate) fn read_file(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let name = path.file_name().ok_or_else(|| Error::Invalid(format!("{}: not a file name", shown(path))))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = rustix::fs::open(parent, OFlags::RDONLY | OFlags::CLOEXEC | OFlags::DIRECTORY, Mode::empty())
        .map_err(|e| Error::io(parent, e.into()))?;
    let fd = open_at(&dir, name, false).map_err(|r| r.into_error(path, &format!("a {what}")))?;
    read_fd(fd, limit, path, what)
}

/// A directory named on the command line; what is below it is opened through it.
#[derive(Debug)]
pub(crate) struct Tree {
    dir: OwnedFd,
    path: PathBuf,
}

impl Tree {
    /// Opens the input directory itself, following symlinks: the operator named it.
    pub fn open(path: &Path) -> Result<Tree> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::DIRECTORY | OFlags::NONBLOCK;
        let dir = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| Error::io(path, e.into()))?;
        Ok(Tree { dir, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the directory `rel` below the root, refusing a symlink at every step;
    /// on failure, says which component (relative to the root) was refused.
    pub(crate) fn open_dir(&self, rel: &Path) -> std::result::Result<OwnedFd, (Refusal, PathBuf)> {
        let mut fd = rustix::io::dup(&self.dir).map_err(|e| (e.into(), PathBuf::new()))?;
        let mut at = PathBuf::new();
        for c in rel.components() {
            match c {
                Component::Normal(name) => {
                    at.push(name);
                    fd = open_at(&fd, name, true).map_err(|r| (r, at.clone()))?;
                }
                Component::CurDir => {}
                // Never made by the walk; refused rather than resolved.
                _ => return Err((Refusal::WrongType("not a plain relative path"), rel.to_path_buf())),
            }
        }
        Ok(fd)
    }

    /// Reads the regular file `rel` below the root through at most `limit` bytes.
    pub fn read(&self, rel: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
        let shown_path = self.path.join(rel);
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Err(Error::Invalid(format!("{}: not a file name", shown(&shown_path))));
        };
        let dir = self.open_dir(parent).map_err(|(r, at)| r.into_error(&self.path.join(at), "a directory"))?;
        let fd =
            open_at(&dir, name, false).map_err(|r| r.into_error(&shown_path, &format!("a regular file ({what})")))?;
        read_fd(fd, limit, &shown_path, what)
    }
}

/// One entry of a directory being walked, with its type as seen without following it.
pub struct DirEntry {
    pub name: std::ffi::OsString,
    pub kind: FileType,
}

/// The entries of an opened directory, sorted by name ("." and ".." left out).
pub(crate) fn list(dir: &OwnedFd) -> std::io::Result<Vec<DirEntry>> {
    let mut out = Vec::new();
    for e in Dir::read_from(dir)? {
        let e = e?;
        let name = OsStr::from_bytes(e.file_name().to_bytes());
        if name == "." || name == ".." {
            continue;
        }
        let mut kind = e.file_type();
        if kind == FileType::Unknown {
            // Some filesystems leave d_type empty: ask, without following.
            kind = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode))
                .unwrap_or(FileType::Unknown);
        }
        out.push(DirEntry { name: name.to_os_string(), kind });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Opens the subdirectory `name` of an opened directory, never following a symlink.
pub(crate) fn open_subdir(dir: &OwnedFd, name: &OsStr) -> std::result::Result<OwnedFd, Refusal> {
    open_at(dir, name, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the bytes handed out by the reader it wraps.
    struct Counting<R>(R, std::rc::Rc<std::cell::Cell<u64>>);
    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.set(self.1.get() + n as u64);
            Ok(n)
        }
    }

    #[test]
    fn reads_no_more_than_the_limit_plus_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.mod");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(1 << 30).unwrap(); // sparse: 1 GiB of zeroes
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let r = Counting(std::fs::File::open(&p).unwrap(), read.clone());
        let e = read_limited(r, 1 << 30, 1000, &p, "go.mod").unwrap_err().to_string();
        assert!(e.contains("larger than the limit of 1000 bytes"), "{e}");
        assert_eq!(read.get(), 1001, "read exactly limit + 1 bytes");
        // At the limit exactly: accepted.
        std::fs::write(&p, vec![b'x'; 1000]).unwrap();
        assert_eq!(read_file(&p, 1000, "go.mod").unwrap().len(), 1000);
    }

    #[test]
    fn refuses_symlinks_and_fifos_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"s3cr3t").unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join("link")).unwrap();
        let e = read_file(&dir.path().join("link"), 100, "go.sum").unwrap_err().to_string();
        assert!(e.contains("link: is a symbolic link") && !e.contains("s3cr3t"), "{e}");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from(0o644), 0)
            .unwrap();
        let e = read_file(&fifo, 100, "go.sum").unwrap_err().to_string();
        assert!(e.contains("is a FIFO, not a go.sum"), "{e}");
        // Below a tree: a symlinked directory on the way is refused as well.
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::fs::write(dir.path().join("real/f"), b"x").unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("via")).unwrap();
        let t = Tree::open(dir.path()).unwrap();
        assert_eq!(t.read(Path::new("real/f"), 10, "x").unwrap(), b"x");
        let e = t.read(Path::new("via/f"), 10, "x").unwrap_err().to_string();
        assert!(e.contains("/via: is a symbolic link"), "{e}");
    }

    #[test]
    fn quotes_only_a_short_escaped_prefix() {
        assert_eq!(quote_prefix(b"abc"), "\"abc\"");
        assert_eq!(quote_prefix(b"root:$6$0123456789abcdef:"), "\"root:$6$01234567\"...");
        assert_eq!(quote_prefix(b"\x1b[2J\n"), "\"\\u{1b}[2J\\n\"");
    }
}
