//! Checking modules against what is trusted: the one trust rule (a stored hash
//! must agree with every trusted sum), verdicts versus retryable failures, and the
//! verifiers built on the store's records: a module's file list against its `h1:`
//! (digests), one entry's structure at extraction (entry), a whole module
//! streamed from its blob (whole), and `modcachefs verify` over a store (store).

pub mod digests;
pub mod entry;
pub mod store;
pub mod trust;
pub mod verdict;
pub mod whole;
