//! A least-recently-used cache bounded in bytes. Values are shared handles
//! (`Arc`s): an evicted value stays alive for readers that still hold it and is
//! freed when the last one lets go.

use lru::LruCache;
use std::hash::Hash;

pub(crate) struct ByteLru<K: Hash + Eq, V: Clone> {
    map: LruCache<K, (V, u64)>,
    bytes: u64,
    /// Bytes promised to values being built (see [`ByteLru::reserve`]).
    reserved: u64,
    capacity: u64,
}

impl<K: Hash + Eq, V: Clone> ByteLru<K, V> {
    pub fn new(capacity: u64) -> Self {
        ByteLru { map: LruCache::unbounded(), bytes: 0, reserved: 0, capacity }
    }

    pub(crate) fn get(&mut self, k: &K) -> Option<V> {
        self.map.get(k).map(|(v, _)| v.clone())
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Makes room for a value of `len` bytes that is about to be built, so that
    /// what is cached plus what is being built stays within capacity; returns how
    /// many entries were evicted. The caller gives the bytes back with
    /// [`ByteLru::release`] (then usually inserts the value).
    pub(crate) fn reserve(&mut self, len: u64) -> u64 {
        self.reserved += len;
        self.evict()
    }

    pub(crate) fn release(&mut self, len: u64) {
        self.reserved = self.reserved.saturating_sub(len);
    }

    /// Inserts a value that accounts for `len` bytes, evicting the least recently
    /// used entries to stay within capacity; returns how many were evicted. A value
    /// larger than the whole capacity is not kept.
    pub(crate) fn insert(&mut self, k: K, v: V, len: u64) -> u64 {
        if len > self.capacity {
            return 0;
        }
        if let Some((_, old)) = self.map.put(k, (v, len)) {
            self.bytes -= old;
        }
        self.bytes += len;
        self.evict()
    }

    fn evict(&mut self) -> u64 {
        let mut evicted = 0;
        while self.bytes + self.reserved > self.capacity {
            match self.map.pop_lru() {
                Some((_, (_, old))) => {
                    self.bytes -= old;
                    evicted += 1;
                }
                None => break,
            }
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn stays_within_capacity() {
        let mut c: ByteLru<u32, Arc<[u8]>> = ByteLru::new(10);
        assert_eq!(c.insert(1, Arc::from(&b"aaaa"[..]), 4), 0);
        c.insert(2, Arc::from(&b"bbbb"[..]), 4);
        assert!(c.get(&1).is_some()); // 1 is now most recent
        assert_eq!(c.insert(3, Arc::from(&b"cccc"[..]), 4), 1);
        assert!(c.get(&2).is_none(), "least recently used goes first");
        assert!(c.get(&1).is_some() && c.get(&3).is_some());
        assert_eq!(c.insert(4, Arc::from(&[0u8; 11][..]), 11), 0);
        assert!(c.get(&4).is_none(), "larger than the cache: not kept");
        assert_eq!((c.bytes(), c.len()), (8, 2));
        assert_eq!(c.reserve(4), 1, "room for a value being built");
        assert_eq!((c.bytes(), c.len()), (4, 1));
        c.release(4);
        assert_eq!(c.insert(5, Arc::from(&b"eeee"[..]), 4), 0);
    }
}
