//! One check of one module, run once by the first reader while the others wait
//! for its outcome: kept when it passed, tried again after [`RETRY_AFTER`] when it
//! could not read the module (verify/verdict.rs). A verdict is not kept here but in the
//! module's refusal (content/mod.rs), which every check and every cached byte obeys.

use crate::error::{Error, Result};
use crate::verify::verdict::{Failure, RETRY_AFTER};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

enum State<T> {
    Idle,
    Running,
    Ok(Arc<T>),
    /// Why the last attempt could not read the module, and when.
    Retry(Arc<str>, Instant),
    /// A verdict ended the last attempt: nothing to run again.
    Refused(Arc<str>),
}

pub(super) struct Once<T> {
    state: Mutex<State<T>>,
    done: Condvar,
}

impl<T> Default for Once<T> {
    fn default() -> Self {
        Once { state: Mutex::new(State::Idle), done: Condvar::new() }
    }
}

fn poisoned() -> Error {
    Error::Invalid("verification lock poisoned".into())
}

impl<T> Once<T> {
    /// The outcome if the check passed, without waiting.
    pub(super) fn passed(&self) -> Option<Arc<T>> {
        match &*self.state.try_lock().ok()? {
            State::Ok(v) => Some(v.clone()),
            _ => None,
        }
    }

    /// Whether the check ever started (for the list of extracted modules).
    pub(super) fn started(&self) -> bool {
        self.state.lock().map(|g| !matches!(*g, State::Idle)).unwrap_or(false)
    }

    /// Waits for (or runs) the check. `run`'s transient failures are logged here
    /// (warning) and answered until the retry time; its verdicts go to `refuse`,
    /// which logs and keeps them.
    pub(super) fn get(
        &self,
        run: impl FnOnce() -> std::result::Result<T, Failure>,
        refuse: impl FnOnce(&str) -> Arc<str>,
    ) -> Result<Arc<T>> {
        let mut g = self.state.lock().map_err(|_| poisoned())?;
        loop {
            match &*g {
                State::Ok(v) => return Ok(v.clone()),
                State::Refused(why) => return Err(Error::Invalid(why.to_string())),
                State::Retry(why, at) if at.elapsed() < RETRY_AFTER => return Err(Error::Invalid(why.to_string())),
                State::Running => g = self.done.wait(g).map_err(|_| poisoned())?,
                State::Idle | State::Retry(..) => break,
            }
        }
        *g = State::Running;
        drop(g);
        let outcome = run();
        let mut g = self.state.lock().map_err(|_| poisoned())?;
        let (state, result) = match outcome {
            Ok(v) => {
                let v = Arc::new(v);
                (State::Ok(v.clone()), Ok(v))
            }
            Err(Failure { why, transient: true }) => {
                log::warn!("{why}");
                (State::Retry(why.clone().into(), Instant::now()), Err(Error::Invalid(why)))
            }
            Err(Failure { why, transient: false }) => {
                let kept = refuse(&why);
                (State::Refused(kept.clone()), Err(Error::Invalid(kept.to_string())))
            }
        };
        *g = state;
        self.done.notify_all();
        result
    }
}
