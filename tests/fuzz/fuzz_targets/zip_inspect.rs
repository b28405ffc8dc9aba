//! Arbitrary bytes as a module zip: `zipfmt::inspect` (as example.com/m@v1.0.0, and
//! as whatever module the zip claims) never panics, and what it accepts reads back
//! consistently (see `check_zip`). Seeded by scripts/fuzz with real module zips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modcachefs_fuzz::{check_zip_both, M, V};

fuzz_target!(|data: &[u8]| {
    check_zip_both(data, M, V);
});
