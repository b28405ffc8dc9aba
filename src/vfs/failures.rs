//! Requests that fail: the one place a failure becomes an errno, is counted, and
//! has its cause logged.
//!
//! A build that gets EIO shows the operator only "input/output error"; the cause
//! must be in the log, at the default level, without a hostile or broken store
//! being able to fill the log: each distinct cause (its message names the module
//! and the reason) is logged once at warning level, remembered in a bounded LRU,
//! and after `LOGGED` distinct causes only a summary line once a minute says
//! how many more there were. Both frontends (FUSE and HTTP) go through here.
//! Verdicts on a module are logged where they are reached (once per module, by
//! the verifier), so only the failures nobody has logged are logged here.

use crate::error::Error;
use crate::ops::stats::Stats;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Causes remembered so that each is logged once.
const REMEMBERED: usize = 1024;
/// Distinct causes logged one line each, per process.
const LOGGED: u64 = 200;
/// Least time between two summary lines once the budget is spent.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

struct Seen {
    causes: LruCache<String, ()>,
    logged: u64,
    unlogged: u64,
    last_summary: Option<Instant>,
}

struct Failures {
    seen: Mutex<Seen>,
}

/// One per process: a process serves one frontend (a mount, or `serve`).
static FAILURES: std::sync::LazyLock<Failures> = std::sync::LazyLock::new(Failures::default);

/// Counts a failed request (`errors`), logs its cause once, and returns the errno
/// to answer with (see [`Error::errno`]).
pub(crate) fn record(stats: &Stats, e: &Error) -> i32 {
    crate::ops::stats::inc(&stats.errors);
    FAILURES.log_once(e)
}

/// Logs a failure's cause once (for a frontend that counts failures itself) and
/// returns its errno.
pub(crate) fn log_once(e: &Error) -> i32 {
    FAILURES.log_once(e)
}

impl Default for Failures {
    fn default() -> Self {
        Failures {
            seen: Mutex::new(Seen {
                causes: LruCache::new(NonZeroUsize::new(REMEMBERED).unwrap_or(NonZeroUsize::MIN)),
                logged: 0,
                unlogged: 0,
                last_summary: None,
            }),
        }
    }
}

impl Failures {
    fn log_once(&self, e: &Error) -> i32 {
        let errno = e.errno();
        if !e.is_unlogged() {
            return errno;
        }
        let cause = e.to_string();
        let Ok(mut seen) = self.seen.lock() else { return errno };
        if seen.causes.put(cause.clone(), ()).is_some() {
            return errno;
        }
        if seen.logged < LOGGED {
            seen.logged += 1;
            log::warn!("answered {}: {cause}", errno_name(errno));
        } else {
            seen.unlogged += 1;
            if seen.last_summary.is_none_or(|t| t.elapsed() >= SUMMARY_EVERY) {
                seen.last_summary = Some(Instant::now());
                log::warn!(
                    "{} more distinct failures not logged one by one (the first {LOGGED} were); \
                     `modcachefs stats` counts them all as errors",
                    seen.unlogged
                );
            }
        }
        errno
    }
}

fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::ENOMEM => "ENOMEM",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        _ => "EIO",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_counted_always_logged_once() {
        let (f, st) = (Failures::default(), Stats::default());
        let e = Error::io("/store/blobs/ab/cd", std::io::Error::from_raw_os_error(libc::EIO));
        for _ in 0..3 {
            crate::ops::stats::inc(&st.errors);
            assert_eq!(f.log_once(&e), libc::EIO);
        }
        assert_eq!(st.errors.load(std::sync::atomic::Ordering::Relaxed), 3);
        let seen = f.seen.lock().unwrap();
        assert_eq!((seen.logged, seen.unlogged), (1, 0));
        drop(seen);
        // A verdict was logged by the verifier: not again here.
        let v = Error::Refused { module: "a.com/b@v1.0.0".into(), reason: "hash mismatch".into() };
        assert_eq!(f.log_once(&v), libc::EIO);
        assert_eq!(f.seen.lock().unwrap().logged, 1);
    }

    #[test]
    fn resource_errors_keep_their_errno() {
        let f = Failures::default();
        let e = Error::io("/var/tmp/spill", std::io::Error::from_raw_os_error(libc::EMFILE));
        assert_eq!(f.log_once(&e), libc::ENFILE);
        let e = Error::io("/var/tmp/spill", std::io::Error::from_raw_os_error(libc::ENOMEM));
        assert_eq!(f.log_once(&e), libc::ENOMEM);
    }
}
