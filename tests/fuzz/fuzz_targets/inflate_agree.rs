//! Arbitrary bytes as deflate data: the two inflaters (libdeflate in one call,
//! zlib-rs streaming) give the same bytes or the same error (see `check_inflaters`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    modcachefs_fuzz::check_inflaters(data);
});
