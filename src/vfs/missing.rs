//! Lookups of modules the store does not have: counted, and logged with a hint,
//! within fixed bounds whoever asks and however often.
//!
//! A lookup is cheap for anyone on an `allow_other` mount, so a user who stats
//! millions of distinct `name@version`s must cost the daemon neither memory nor
//! log space in proportion: the names remembered (to log each once) are a bounded
//! LRU, at most [`LOGGED`] distinct lines are written, and after that a summary
//! line at most every [`SUMMARY_EVERY`]. `modules_missing` counts every distinct
//! miss (a name forgotten by the LRU and asked again counts again).

use crate::ops::logger::printable_str;
use crate::ops::stats::Stats;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Names remembered so that each is logged (and counted) once.
const REMEMBERED: usize = 4096;
/// Distinct missing modules logged one line each, per mount.
pub(crate) const LOGGED: u64 = 100;
/// Least time between two summary lines once the budget is spent.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// What is missing: one version of a module, or every version of a path.
pub(crate) enum Wanted<'a> {
    Version { path: &'a str, version: &'a str },
    Path(&'a str),
}

struct Seen {
    names: LruCache<Box<str>, ()>,
    /// Distinct misses so far, and how many of them were not logged on their own.
    distinct: u64,
    unlogged: u64,
    unlogged_at_summary: u64,
    last_summary: Option<Instant>,
}

pub(crate) struct Missing {
    seen: Mutex<Seen>,
    /// ` --store DIR`, for the hint.
    store_hint: String,
}

impl Missing {
    pub fn new() -> Missing {
        let cap = NonZeroUsize::new(REMEMBERED).unwrap_or(NonZeroUsize::MIN);
        Missing {
            seen: Mutex::new(Seen {
                names: LruCache::new(cap),
                distinct: 0,
                unlogged: 0,
                unlogged_at_summary: 0,
                last_summary: None,
            }),
            store_hint: String::new(),
        }
    }

    pub(crate) fn set_store_hint(&mut self, hint: &str) {
        self.store_hint = hint.to_string();
    }

    /// Forgets a name (`path@version` or `path`): the store changed there, so a
    /// later miss of it is news again.
    pub(crate) fn forget(&self, key: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.names.pop(key);
        }
    }

    /// Counts and logs a miss not noted before. `still_missing` is asked only
    /// then (it may read the store): false leaves the name unrecorded.
    pub(crate) fn note(&self, wanted: Wanted<'_>, stats: &Stats, still_missing: impl FnOnce() -> bool) {
        let key = match wanted {
            Wanted::Version { path, version } => format!("{path}@{version}"),
            Wanted::Path(path) => path.to_string(),
        };
        let Ok(mut seen) = self.seen.lock() else { return };
        if seen.names.get(key.as_str()).is_some() || !still_missing() {
            return;
        }
        seen.names.put(key.as_str().into(), ());
        seen.distinct += 1;
        crate::ops::stats::inc(&stats.modules_missing);
        if seen.distinct <= LOGGED {
            let store = &self.store_hint;
            match wanted {
                Wanted::Version { version, .. } => log::warn!(
                    "missing module {}: not in the store; add it with `modcachefs import{store} <GOPROXY dir, GOMODCACHE or {}.zip>`",
                    printable_str(&key),
                    printable_str(version)
                ),
                Wanted::Path(_) => log::warn!(
                    "missing module {}: no version of this module path is in the store; add it with `modcachefs import{store} <GOPROXY dir or GOMODCACHE holding it>`",
                    printable_str(&key)
                ),
            }
            if seen.distinct == LOGGED {
                log::warn!(
                    "missing modules: {LOGGED} logged; further ones are only counted (modules_missing in `modcachefs stats`), with a summary here at most every {} s",
                    SUMMARY_EVERY.as_secs()
                );
                seen.last_summary = Some(Instant::now());
            }
            return;
        }
        seen.unlogged += 1;
        if seen.last_summary.is_none_or(|t| t.elapsed() >= SUMMARY_EVERY) {
            log::warn!(
                "missing modules: {} more not logged since the last summary, {} distinct in all; the latest: {}",
                seen.unlogged - seen.unlogged_at_summary,
                seen.distinct,
                printable_str(&key)
            );
            seen.unlogged_at_summary = seen.unlogged;
            seen.last_summary = Some(Instant::now());
        }
    }
}
