//! Live updates: a running mount (or `serve`) follows its store as imports (and
//! `rm`) commit, without a remount and without disturbing reads in flight.
//!
//! No notification crosses a read-only bind mount or NFS, so the store is polled:
//! every second, `Store::current_generation` (a stat or two, no SQLite). When it
//! differs from the generation being served, the new state is opened, what
//! changed is computed by the store (`changes_since`), the namespace forgets the
//! directories it touched (fs/changes.rs), and the kernel is told to forget the
//! names it cached there, negative entries included (FUSE invalidation
//! notifications). SIGHUP (see fuse/session.rs) polls at once. One log line per change.

use crate::error::Result;
use crate::store::{Changes, Store};
use crate::vfs::fs::{Fs, Inval};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the store is polled.
pub(crate) const POLL_EVERY: Duration = Duration::from_secs(1);

/// Where invalidations go: the kernel for a mount, nowhere for tests of the core.
pub(crate) trait Notify: Send + 'static {
    fn inval_entry(&self, parent: u64, name: &str) -> std::io::Result<()>;
    fn inval_inode(&self, ino: u64) -> std::io::Result<()>;
}

impl Notify for fuser::Notifier {
    fn inval_entry(&self, parent: u64, name: &str) -> std::io::Result<()> {
        fuser::Notifier::inval_entry(self, fuser::INodeNo(parent), std::ffi::OsStr::new(name))
    }

    fn inval_inode(&self, ino: u64) -> std::io::Result<()> {
        // Offset 0, length 0: the attributes and every cached page.
        fuser::Notifier::inval_inode(self, fuser::INodeNo(ino), 0, 0)
    }
}

/// The poller of a running mount; dropping it stops the thread.
pub(crate) struct Live {
    wake: Mutex<mpsc::Sender<()>>,
}

impl Live {
    /// Re-reads the store now (SIGHUP).
    pub(crate) fn reload_now(&self) {
        if let Ok(tx) = self.wake.lock() {
            let _ = tx.send(());
        }
    }
}

/// Starts polling the store `fs` serves.
pub(crate) fn start(fs: Arc<Fs>, notify: Option<Box<dyn Notify>>) -> std::io::Result<Live> {
    let (tx, rx) = mpsc::channel::<()>();
    let mut served = fs.content.with_store(|s| Ok(s.generation())).unwrap_or(0);
    std::thread::Builder::new().name("live".into()).spawn(move || {
        let mut failing = false;
        loop {
            let asked = match rx.recv_timeout(POLL_EVERY) {
                Ok(()) => true,
                Err(mpsc::RecvTimeoutError::Timeout) => false,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            if asked {
                log::info!("SIGHUP: re-reading the store");
            }
            match follow(&fs, &mut served, asked, notify.as_deref()) {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    // Once per failing spell: an import may be between two steps.
                    log::warn!(
                        "store {}: cannot read its new state ({e}); still serving the previous one",
                        fs.content.store_dir().display()
                    );
                    failing = true;
                }
                Err(_) => {}
            }
        }
    })?;
    Ok(Live { wake: Mutex::new(tx) })
}

/// One poll: if the store's generation moved (or `asked`), serves the new state.
pub(crate) fn follow(fs: &Fs, served: &mut u64, asked: bool, notify: Option<&dyn Notify>) -> Result<()> {
    let dir = fs.content.store_dir().to_path_buf();
    let now = Store::current_generation(&dir)?;
    if now == *served && !asked {
        return Ok(());
    }
    let t0 = Instant::now();
    let new = Store::open_ro(&dir)?;
    let generation = new.generation();
    let changes = fs.content.replace_store(new, |new, old| new.changes_since(old))?;
    let from = std::mem::replace(served, generation);
    if changes.added.is_empty() && changes.removed.is_empty() {
        log::debug!("store generation {from} -> {generation}: no module added or removed");
        return Ok(());
    }
    let inval = fs.apply_changes(&changes);
    let (mut sent, mut unknown) = (0, 0);
    if let Some(n) = notify {
        for i in &inval {
            let r = match i {
                Inval::Entry(parent, name) => n.inval_entry(*parent, name),
                Inval::Inode(ino) => n.inval_inode(*ino),
            };
            match r {
                Ok(()) => sent += 1,
                // The kernel never looked it up, or forgot it: nothing to forget.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => unknown += 1,
                Err(e) => log::debug!("invalidation {i:?}: {e}"),
            }
        }
    }
    log::info!(
        "store changed (generation {from} -> {generation}): {}; {sent} kernel entries invalidated ({unknown} not cached) in {:.1} ms",
        describe(&changes),
        t0.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// `N added (a@v1, b@v2, ...), M removed (...)`: counts and a few names.
pub(crate) fn describe(c: &Changes) -> String {
    let few = |v: &[(String, String)]| {
        let mut s: Vec<String> =
            v.iter().take(3).map(|(p, ver)| crate::ops::logger::printable_str(&format!("{p}@{ver}"))).collect();
        if v.len() > 3 {
            s.push("...".into());
        }
        s.join(", ")
    };
    let mut out = format!("{} added", c.added.len());
    if !c.added.is_empty() {
        out.push_str(&format!(" ({})", few(&c.added)));
    }
    out.push_str(&format!(", {} removed", c.removed.len()));
    if !c.removed.is_empty() {
        out.push_str(&format!(" ({})", few(&c.removed)));
    }
    out
}
