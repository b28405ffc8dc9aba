//! `<v>.mod` files: read from their blob (at most Go's go.mod limit), checked
//! against the trusted `/go.mod` hash, kept in memory once they pass. A verdict
//! (too large, hash mismatch, not a regular file) is kept and logged once; a
//! failure to read is tried again after a back-off (see verify/verdict.rs).

use super::{bytes, Bytes, Content};
use crate::error::{Error, Result};
use crate::gomod::h1 as hash;
use crate::ops::stats;
use crate::store;
use crate::store::rows::MAX_MOD_SIZE;
use crate::verify::verdict::Failure;

impl Content {
    /// The `.mod` bytes, checked against their trusted hash.
    pub(crate) fn mod_file(&self, m: u32) -> Result<Bytes> {
        let st = self.state(m)?;
        if let Some(b) = st.gomod.get() {
            return Ok(b.clone());
        }
        self.mod_refusal(m)?;
        let module = self.module(m)?;
        let expected = self.trust[m as usize].module.clone().map_err(Error::Invalid)?;
        let p = store::blob_path(&self.store_dir, &module.mod_blob);
        let data = store::read_blob_limited(&self.store_dir, &module.mod_blob, MAX_MOD_SIZE)
            .map_err(|e| self.mod_failed(m, Failure::io(&format!(".mod blob {}", p.display()), &e)))?;
        if self.opts.verify != super::Verify::Off {
            let got = hash::hash1_gomod(&data);
            if got != expected {
                let why = format!("go.mod checksum mismatch: expected {expected}, got {got} (blob {})", p.display());
                return Err(self.mod_failed(m, Failure::verdict(why)));
            }
        }
        Ok(st.gomod.get_or_init(|| bytes(data)).clone())
    }

    /// The size of the `.mod`, for its attributes, without reading it: a lookup
    /// must not read (or hash) a blob that may be gigabytes of sparse file. The
    /// blob is opened (no symlink followed) and its size checked against the limit.
    pub(crate) fn mod_size(&self, m: u32) -> Result<u64> {
        let st = self.state(m)?;
        if let Some(b) = st.gomod.get() {
            return Ok(b.len() as u64);
        }
        self.mod_refusal(m)?;
        let module = self.module(m)?;
        let p = store::blob_path(&self.store_dir, &module.mod_blob);
        let what = format!(".mod blob {}", p.display());
        let f = store::open_blob(&self.store_dir, &module.mod_blob)
            .map_err(|e| self.mod_failed(m, Failure::io(&what, &e)))?;
        let len = f.metadata().map_err(|e| self.mod_failed(m, Failure::io(&what, &e)))?.len();
        if len > MAX_MOD_SIZE {
            return Err(self.mod_failed(m, Failure::io(&what, &store::over_limit(len, MAX_MOD_SIZE))));
        }
        Ok(len)
    }

    /// Whether the .mod is already checked and in memory.
    pub(crate) fn has_mod(&self, m: u32) -> bool {
        self.states.get(m as usize).is_some_and(|st| st.gomod.get().is_some())
    }

    /// The kept verdict, or the recent failure to read, that answers for the .mod now.
    fn mod_refusal(&self, m: u32) -> Result<()> {
        let st = self.state(m)?;
        match st.gomod_refused.get().cloned().or_else(|| st.gomod_backoff.recent()) {
            Some(why) => Err(Error::Invalid(why.to_string())),
            None => Ok(()),
        }
    }

    /// Records and logs why the .mod cannot be served: a verdict once and for
    /// good, a failure to read for the back-off.
    fn mod_failed(&self, m: u32, f: Failure) -> Error {
        let name = self.module(m).map(store::Module::label).unwrap_or_default();
        let Ok(st) = self.state(m) else { return Error::Invalid(f.why) };
        if f.transient {
            let why = format!("{name}: could not read the .mod (will retry on the next access): {}", f.why);
            log::warn!("{why}");
            st.gomod_backoff.failed(&why);
            return Error::Invalid(why);
        }
        let why = format!("{name}: refused: {}; the .mod fails with EIO", f.why);
        let mut first = false;
        let kept = st
            .gomod_refused
            .get_or_init(|| {
                first = true;
                why.as_str().into()
            })
            .clone();
        if first {
            // Logged, not just answered with EIO: the store is damaged (or tampered with).
            log::error!("{kept}");
            stats::inc(&self.stats.verifications_failed);
        }
        Error::Invalid(kept.to_string())
    }
}
