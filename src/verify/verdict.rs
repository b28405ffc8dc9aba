//! Verdicts and transient failures of the mount's checks.
//!
//! Only what a module's bytes are can condemn it: a hash or structure mismatch,
//! a blob over the limits, a refused index row. Those are kept until the mount
//! ends, so a bad module costs its check once. A failure to read (a blob moved
//! away for a moment, EMFILE or ENFILE when descriptors run short, EIO from the
//! disk) says nothing about the module: it is answered with an error and tried
//! again on the next access, but not before [`RETRY_AFTER`], so a storm of
//! requests does not re-verify on every one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Least time between two attempts after a transient failure.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why a check did not pass.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) why: String,
    /// A failure to read, not a verdict on the content.
    pub(crate) transient: bool,
}

impl Failure {
    pub(crate) fn verdict(why: impl Into<String>) -> Failure {
        Failure { why: why.into(), transient: false }
    }

    /// An I/O error: transient when the kernel reported it (ENOENT, EMFILE, EIO...),
    /// a verdict when it is about the bytes read (bad deflate data, a short file,
    /// a refused symlink).
    pub(crate) fn io(what: &str, e: &std::io::Error) -> Failure {
        Failure { why: format!("{what}: {e}"), transient: e.raw_os_error().is_some() }
    }

    pub(crate) fn map(self, f: impl FnOnce(String) -> String) -> Failure {
        Failure { why: f(self.why), transient: self.transient }
    }
}

impl From<String> for Failure {
    fn from(why: String) -> Failure {
        Failure::verdict(why)
    }
}

/// The last transient failure of one check, remembered for [`RETRY_AFTER`].
#[derive(Default)]
pub(crate) struct Backoff(Mutex<Option<(Instant, Arc<str>)>>);

impl Backoff {
    /// Why the last attempt failed, if it was too recent to try again.
    pub(crate) fn recent(&self) -> Option<Arc<str>> {
        let g = self.0.lock().ok()?;
        g.as_ref().filter(|(at, _)| at.elapsed() < RETRY_AFTER).map(|(_, why)| why.clone())
    }

    pub(crate) fn failed(&self, why: &str) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((Instant::now(), why.into()));
        }
    }
}
