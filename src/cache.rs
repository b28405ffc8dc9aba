//! A least-recently-used cache of extracted, verified file contents, bounded in
//! bytes. Values are `Arc`s: an evicted file stays alive for readers that still
//! hold it and is freed when the last one lets go.

use crate::stats::Stats;
use lru::LruCache;
use std::hash::Hash;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

pub struct ByteLru<K: Hash + Eq> {
    map: LruCache<K, Arc<[u8]>>,
    bytes: u64,
    capacity: u64,
}

impl<K: Hash + Eq> ByteLru<K> {
    pub fn new(capacity: u64) -> Self {
        ByteLru { map: LruCache::unbounded(), bytes: 0, capacity }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn get(&mut self, k: &K) -> Option<Arc<[u8]>> {
        self.map.get(k).cloned()
    }

    /// Inserts, evicting the least recently used entries to stay within capacity.
    /// A value larger than the whole capacity is not kept.
    pub fn insert(&mut self, k: K, v: Arc<[u8]>, stats: &Stats) {
        let len = v.len() as u64;
        if len > self.capacity {
            return;
        }
        if let Some(old) = self.map.put(k, v) {
            self.bytes -= old.len() as u64;
        }
        self.bytes += len;
        while self.bytes > self.capacity {
            match self.map.pop_lru() {
                Some((_, old)) => {
                    self.bytes -= old.len() as u64;
                    stats.cache_evictions.fetch_add(1, Relaxed);
                }
                None => break,
            }
        }
        stats.cache_bytes.store(self.bytes, Relaxed);
        stats.cache_files.store(self.map.len() as u64, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_capacity() {
        let stats = Stats::default();
        let mut c = ByteLru::new(10);
        c.insert(1, Arc::from(&b"aaaa"[..]), &stats);
        c.insert(2, Arc::from(&b"bbbb"[..]), &stats);
        assert!(c.get(&1).is_some()); // 1 is now most recent
        c.insert(3, Arc::from(&b"cccc"[..]), &stats);
        assert!(c.get(&2).is_none(), "least recently used goes first");
        assert!(c.get(&1).is_some() && c.get(&3).is_some());
        c.insert(4, Arc::from(&[0u8; 11][..]), &stats);
        assert!(c.get(&4).is_none(), "larger than the cache: not kept");
        assert_eq!(stats.cache_bytes.load(Relaxed), 8);
        assert_eq!(stats.cache_evictions.load(Relaxed), 1);
    }
}
