//! The whole-module check, one engine for the mount (`--verify=full`, and every
//! `.zip` / `.ziphash` read) and for `modcachefs verify`: streaming, so memory
//! stays bounded by a few buffers per thread whatever the module's size.
//!
//! The index was built from the zip at import, but whoever could swap the blob
//! could rewrite the index too (its sha256, sizes, entries and h1 to match): the
//! blob's sha256 and the recorded h1 then prove nothing. So the blob must hash to
//! its recorded sha256, pass the import validator's structural rules again
//! (names, declared sizes, local headers, overlaps, zip64), and the index's entry
//! list must be exactly the one the validator reads from it, before a byte is
//! inflated; then every entry is inflated and hashed, and the caller compares the
//! Hash1 with the trusted one.

use crate::store::Module;
use crate::verify::verdict::Failure;
use crate::zip::Entry;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// What a module zip hashes to.
pub(crate) struct Whole {
    /// Hash1 of every entry, directories included (as cmd/go's `HashZip`).
    pub h1: String,
    /// The sha256 of each file, in the index's order.
    pub(crate) digests: Vec<[u8; 32]>,
}

/// A hook that may extract a file itself (to keep it, say) and return its sha256:
/// `None` when it leaves the file to be streamed through the hash.
pub(crate) type Take<'a> = &'a (dyn Fn(usize, &Entry) -> Option<std::io::Result<[u8; 32]>> + Sync);

/// Trees smaller than this are hashed by one thread: starting more costs more
/// than it saves.
const PARALLEL_HASH_BYTES: u64 = 8 << 20;

/// Checks `zip` (the blob recorded as `blob_sha`) against `entries`, the module's
/// list in the index, and hashes it. Failures name what is wrong, not the module.
pub(crate) fn verify_zip(
    zip: &File,
    blob_sha: &str,
    module: &Module,
    entries: &[Entry],
    take: Option<Take<'_>>,
) -> Result<Whole, Failure> {
    let check_blob = |got: std::io::Result<String>| match got {
        Err(e) => Err(Failure::io("cannot read zip blob", &e)),
        Ok(got) if got != blob_sha => {
            Err(Failure::verdict(format!("zip blob is corrupt: its sha256 is {got}, expected {blob_sha}")))
        }
        Ok(_) => Ok(()),
    };
    let size = zip.metadata().map_err(|e| Failure::io("cannot read zip blob", &e))?.len();
    if size < PARALLEL_HASH_BYTES {
        check_blob(sha256_file(zip))?;
        return hash_tree(module, zip, entries, take);
    }
    // Two independent checks, on every core when the module is large.
    let (blob_sha, tree) = std::thread::scope(|s| {
        let blob_sha = s.spawn(|| sha256_file(zip));
        let tree = hash_tree(module, zip, entries, take);
        let panicked = || Err(std::io::Error::other("the thread hashing it panicked"));
        (blob_sha.join().unwrap_or_else(|_| panicked()), tree)
    });
    // A blob that is not the one imported says more than whatever is wrong inside it.
    check_blob(blob_sha)?;
    tree
}

fn hash_tree(module: &Module, zip: &File, entries: &[Entry], take: Option<Take<'_>>) -> Result<Whole, Failure> {
    let layout = crate::zip::check_layout_file(zip, &module.path, &module.version)
        .map_err(|e| Failure::io("cannot read zip blob", &e))?
        .map_err(|e| match &e.entry {
            Some(entry) => format!("invalid module zip: {entry}: {}", e.rule),
            None => format!("invalid module zip: {}", e.rule),
        })?;
    let files = layout.files();
    if files[..] != entries[..] {
        let differ = files.iter().zip(entries.iter()).find(|(a, b)| a != b);
        return Err(match differ {
            Some((z, i)) => {
                format!("the index disagrees with the zip blob about {:?} (index {i:?}, zip {z:?})", i.name)
            }
            None => format!("the index lists {} files, the zip blob holds {}", entries.len(), files.len()),
        }
        .into());
    }
    // Large trees are inflated in slices, one thread each (the caller's thread
    // takes the first).
    let slices = slices_for(&layout.items, layout.total_size);
    let parts: Vec<Result<Vec<Hashed>, Failure>> = std::thread::scope(|s| {
        let rest: Vec<_> = slices[1..]
            .iter()
            .map(|r| {
                let items = &layout.items[r.clone()];
                s.spawn(move || hash_items(zip, entries, items, take))
            })
            .collect();
        let mut parts = vec![hash_items(zip, entries, &layout.items[slices[0].clone()], take)];
        parts.extend(
            rest.into_iter().map(|t| t.join().unwrap_or_else(|_| Err(Failure::verdict("a hashing thread panicked")))),
        );
        parts
    });
    let mut digests = vec![[0u8; 32]; entries.len()];
    let mut named = Vec::with_capacity(layout.items.len());
    let mut items = layout.items.iter();
    for part in parts {
        for (slot, d) in part? {
            let Some(item) = items.next() else { break };
            named.push((item.full.as_str(), d));
            if let Some(i) = slot {
                digests[i] = d;
            }
        }
    }
    Ok(Whole { h1: crate::gomod::h1::hash1(&named), digests })
}

/// A zip entry's slot in the module's (sorted) entry list, None for a directory
/// entry, and the sha256 of its contents.
type Hashed = (Option<usize>, [u8; 32]);

/// The slot and sha256 of each of `items`, directory entries too (Hash1 names them:
/// leaving them out would refuse a valid module).
fn hash_items(
    zip: &File,
    entries: &[Entry],
    items: &[crate::zip::LayoutItem],
    take: Option<Take<'_>>,
) -> Result<Vec<Hashed>, Failure> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let e = &item.entry;
        // The index is sorted by name and equal to the layout's files: a file's slot.
        let slot = match item.is_file {
            true => Some(
                entries
                    .binary_search_by(|x| x.name.as_str().cmp(&e.name))
                    .map_err(|_| format!("{}: not in the index", crate::ops::logger::printable_str(&e.name)))?,
            ),
            false => None,
        };
        let taken = match (slot, take) {
            (Some(slot), Some(take)) => take(slot, e),
            _ => None,
        };
        let d = match taken {
            Some(got) => got.map_err(|err| Failure::io("cannot extract", &err))?,
            None => {
                // Streamed: a large file never sits in memory whole just to be hashed.
                let mut h = Sha256::new();
                crate::zip::stream_entry(zip, e, &mut |chunk| h.update(chunk))
                    .map_err(|err| Failure::io("cannot extract", &err))?;
                h.finalize().into()
            }
        };
        out.push((slot, d));
    }
    Ok(out)
}

/// Splits `items` into contiguous slices of about equal uncompressed size, one per
/// core (at most 4), so a large module's verification uses the whole machine.
fn slices_for(items: &[crate::zip::LayoutItem], total_size: u64) -> Vec<std::ops::Range<usize>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) as u64;
    if total_size < PARALLEL_HASH_BYTES || cores < 2 || items.len() < 2 {
        return std::iter::once(0..items.len()).collect();
    }
    let share = total_size.div_ceil(cores);
    let (mut out, mut start, mut acc) = (Vec::new(), 0, 0u64);
    for (i, item) in items.iter().enumerate() {
        acc += item.entry.size;
        if acc >= share && out.len() + 1 < cores as usize && i + 1 < items.len() {
            out.push(start..i + 1);
            (start, acc) = (i + 1, 0);
        }
    }
    out.push(start..items.len());
    out
}

/// sha256 of a whole file, by pread so the shared handle's offset never matters.
fn sha256_file(f: &File) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut off = 0u64;
    loop {
        let n = f.read_at(&mut buf, off)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        off += n as u64;
    }
    Ok(crate::gomod::h1::hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(size: u64) -> crate::zip::LayoutItem {
        let entry = Entry { name: String::new(), data_offset: 0, compressed_size: size, size, method: 8, crc32: 0 };
        crate::zip::LayoutItem { full: String::new(), label: String::new(), is_file: true, entry }
    }

    /// Slices cover every item once, in order, and share the bytes about evenly.
    #[test]
    fn hashing_slices_are_contiguous_and_balanced() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
        // Small trees: one slice, however many items.
        let small: Vec<_> = (0..1000).map(|_| item(1000)).collect();
        assert_eq!(slices_for(&small, 1_000_000), vec![0..1000]);
        // 40 files of 1 MiB and one of 9 MiB at the end.
        let mut big: Vec<_> = (0..40).map(|_| item(1 << 20)).collect();
        big.push(item(9 << 20));
        let total: u64 = big.iter().map(|i| i.entry.size).sum();
        let slices = slices_for(&big, total);
        assert!(!slices.is_empty() && slices.len() <= cores, "{slices:?}");
        assert_eq!(slices.first().map(|r| r.start), Some(0));
        assert_eq!(slices.last().map(|r| r.end), Some(big.len()));
        assert!(slices.windows(2).all(|w| w[0].end == w[1].start && w[0].start < w[0].end), "{slices:?}");
        let share = total.div_ceil(cores as u64);
        for r in &slices[..slices.len() - 1] {
            let bytes: u64 = big[r.clone()].iter().map(|i| i.entry.size).sum();
            assert!(bytes >= share && bytes < share + (9 << 20), "{r:?}: {bytes} bytes, share {share}");
        }
    }
}
