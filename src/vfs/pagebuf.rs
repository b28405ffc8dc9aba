//! Buffers for cached file contents that give their memory back exactly.
//!
//! The cache frees buffers in LRU order, which leaves holes all over a malloc heap
//! that the allocator keeps mapped: the daemon's RSS then drifts far above what
//! the cache holds. Contents of 16 KiB and more therefore live in their own
//! anonymous mappings (unmapped on drop, so RSS follows the cache exactly), and the
//! cache charges them their page-rounded size. Smaller contents stay on the heap,
//! where same-sized replacements reuse the holes. The size floor also keeps the
//! number of mappings (65,530 by default per process) far below the limit: a 512 MiB
//! cache holds at most 32,768 of them.

use std::ops::Deref;
use std::ptr::NonNull;

const MAPPED_FROM: usize = 16 << 10;
/// Allocator bookkeeping and alignment of a heap buffer, roughly.
const HEAP_OVERHEAD: u64 = 32;

pub(crate) enum PageBuf {
    Heap(Vec<u8>),
    Mapped { ptr: NonNull<u8>, len: usize, cap: usize },
}

// SAFETY: a `Mapped` buffer owns its mapping exclusively (nothing else holds the
// pointer); it is written only through `&mut self`, before it is shared, and read
// only afterwards, so moving it to or sharing it with another thread is as safe as
// for the `Vec<u8>` it replaces.
unsafe impl Send for PageBuf {}
// SAFETY: see `Send`: `&PageBuf` gives read-only access to memory nobody writes.
unsafe impl Sync for PageBuf {}

fn page_size() -> usize {
    rustix::param::page_size()
}

impl PageBuf {
    /// Takes a file's contents, moving large ones into a mapping of their own.
    pub fn new(data: Vec<u8>) -> PageBuf {
        match Self::map(data.len()) {
            Some(mut m) => {
                m.as_mut_slice().copy_from_slice(&data);
                m
            }
            None => PageBuf::Heap(data),
        }
    }

    /// A zero-filled buffer of `len` bytes to extract a file into, so large files
    /// are written once, straight into their own mapping, with no heap copy.
    pub(crate) fn zeroed(len: usize) -> PageBuf {
        Self::map(len).unwrap_or_else(|| PageBuf::Heap(vec![0; len]))
    }

    /// What a buffer of `len` bytes will occupy: the cache reserves this before
    /// extracting, so bytes in flight count against its bound too.
    pub(crate) fn footprint_of(len: usize) -> u64 {
        if len < MAPPED_FROM {
            len as u64 + HEAP_OVERHEAD
        } else {
            len.div_ceil(page_size()) as u64 * page_size() as u64
        }
    }

    /// A private anonymous mapping for `len` bytes (None: too small to deserve one,
    /// or out of mappings or memory, in which case the heap still works).
    fn map(len: usize) -> Option<PageBuf> {
        if len < MAPPED_FROM {
            return None;
        }
        let page = page_size();
        let cap = len.div_ceil(page) * page;
        // SAFETY: a new private anonymous mapping (no address hint, no file) aliases
        // no existing memory; the result is checked for MAP_FAILED below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                cap,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(p as *mut u8).map(|ptr| PageBuf::Mapped { ptr, len, cap })
    }

    /// Writable while still owned by one extractor (before it is shared).
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            PageBuf::Heap(v) => v,
            // SAFETY: `ptr` is a live mapping of `cap >= len` readable and writable
            // bytes owned by `self`, and `&mut self` makes this the only reference.
            PageBuf::Mapped { ptr, len, .. } => unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), *len) },
        }
    }

    /// Bytes of memory this buffer really occupies (what the cache charges).
    pub(crate) fn footprint(&self) -> u64 {
        match self {
            PageBuf::Heap(v) => v.capacity() as u64 + HEAP_OVERHEAD,
            PageBuf::Mapped { cap, .. } => *cap as u64,
        }
    }
}

impl Deref for PageBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            PageBuf::Heap(v) => v,
            // SAFETY: `ptr` is a live mapping of `cap >= len` bytes owned by `self`
            // (initialised: zero-filled by mmap, then written), unmapped only on drop.
            PageBuf::Mapped { ptr, len, .. } => unsafe { std::slice::from_raw_parts(ptr.as_ptr(), *len) },
        }
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        if let PageBuf::Mapped { ptr, cap, .. } = self {
            // SAFETY: the mapping of `cap` bytes at `ptr` was made by `map` and is
            // unmapped exactly once, here; no slice of it outlives `self`.
            unsafe { libc::munmap(ptr.as_ptr() as *mut libc::c_void, *cap) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_stays_on_heap_large_is_mapped() {
        let small = PageBuf::new(vec![7u8; 100]);
        assert!(matches!(small, PageBuf::Heap(_)));
        assert_eq!(&small[..], &[7u8; 100][..]);
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let big = PageBuf::new(data.clone());
        assert!(matches!(big, PageBuf::Mapped { .. }));
        assert_eq!(&big[..], &data[..]);
        assert_eq!(big.footprint() % page_size() as u64, 0);
        assert!(big.footprint() >= 100_000);
        assert_eq!(big.footprint(), PageBuf::footprint_of(100_000));
        assert_eq!(small.footprint(), PageBuf::footprint_of(100));
        let mut z = PageBuf::zeroed(70_000);
        assert!(matches!(z, PageBuf::Mapped { .. }) && z.iter().all(|&b| b == 0));
        z.as_mut_slice()[69_999] = 1;
        assert_eq!((z.len(), z[69_999]), (70_000, 1));
    }
}
