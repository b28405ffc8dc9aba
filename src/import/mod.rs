//! `modcachefs import`: fills the store from GOPROXY trees, existing GOMODCACHEs,
//! loose module zips and go.sum files.
//!
//! Worker threads read, validate and hash each module (the CPU-heavy part);
//! the calling thread checks the results against trusted sums, writes blobs and
//! records modules in batches. A batch's blobs are synced before the segment
//! that names them is published (a checkpoint after each batch), and each
//! module's row and entries land in one transaction, so a kill at any point
//! leaves either the whole module or nothing visible (at worst an unreferenced
//! blob, which the next import reuses and `gc` deletes).

pub mod input;

use crate::error::{Error, Result};
use crate::store::{self, NewModule, Store, Sum, SumKind, Upsert, ZipInfo};
use crate::zip::ModuleZip;
use rustix::fs::FileType;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

/// What one input path turned out to hold.
#[derive(Debug, Default)]
pub struct Inputs {
    pub modules: Vec<ModuleFiles>,
    pub(crate) loose_zips: Vec<PathBuf>,
    pub(crate) sum_files: Vec<PathBuf>,
    /// What the walk refused to enter (symlinked directories): one message each,
    /// reported as import errors.
    pub(crate) refused: Vec<String>,
    /// Checksum databases found (`sumdb/<db>/`), and keys to verify them with.
    pub(crate) sumdb: Vec<crate::sumdb::import::Found>,
    pub(crate) sumdb_keys: Vec<String>,
}

/// The files of one module version in an `@v` directory.
#[derive(Debug, Clone)]
pub struct ModuleFiles {
    pub path: String,
    pub version: String,
    /// The input directory the files are read through (see [`crate::import::input::Tree`]).
    pub(crate) tree: Arc<crate::import::input::Tree>,
    /// `<dir>/<escaped version>` without the extension, relative to `tree`.
    pub(crate) stem: PathBuf,
    pub(crate) has_mod: bool,
    pub(crate) has_zip: bool,
    pub(crate) has_info: bool,
    pub(crate) has_ziphash: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub added: usize,
    pub(crate) completed: usize,
    pub(crate) unchanged: usize,
    pub(crate) sums_added: usize,
    pub(crate) zip_bytes: u64,
    pub(crate) files: u64,
    pub errors: Vec<String>,
}

impl Report {
    pub(crate) fn summary(&self, secs: f64) -> String {
        format!(
            "imported {} new, {} completed, {} unchanged modules; {} new sums; {:.1} MB of zips, {} files in {:.2}s; {} errors",
            self.added,
            self.completed,
            self.unchanged,
            self.sums_added,
            self.zip_bytes as f64 / 1e6,
            self.files,
            secs,
            self.errors.len()
        )
    }

    pub(crate) fn to_json(&self, secs: f64) -> String {
        let errs: Vec<String> = self.errors.iter().map(|e| crate::gomod::info::quote(e)).collect();
        format!(
            "{{\"added\":{},\"completed\":{},\"unchanged\":{},\"sums_added\":{},\"zip_bytes\":{},\"files\":{},\"seconds\":{:.3},\"errors\":[{}]}}",
            self.added,
            self.completed,
            self.unchanged,
            self.sums_added,
            self.zip_bytes,
            self.files,
            secs,
            errs.join(",")
        )
    }
}

/// Finds what to import under each input: a GOMODCACHE (its `cache/download`),
/// a GOPROXY tree (any directory holding `<escaped path>/@v/`), a module zip, or
/// a go.sum file. A directory named here may be a symlink; below it, symlinks
/// are never followed (see [`input`]).
pub fn discover(inputs: &[PathBuf]) -> Result<Inputs> {
    let mut out = Inputs::default();
    for input in inputs {
        let meta = fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if !meta.is_dir() {
            // Files are opened (without following symlinks) and checked when read.
            let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.ends_with(".zip") {
                out.loose_zips.push(input.clone());
            } else if name == "go.sum" || name.ends_with(".sum") {
                out.sum_files.push(input.clone());
            } else {
                return Err(Error::Invalid(format!(
                    "{}: not a module zip (*.zip), a go.sum, a GOPROXY tree or a GOMODCACHE",
                    crate::import::input::shown(input)
                )));
            }
            continue;
        }
        let tree = Arc::new(crate::import::input::Tree::open(input)?);
        let download = Path::new("cache/download");
        let (root, fd) = match tree.open_dir(download) {
            Ok(fd) => (download, fd),
            // No cache/download (or no cache): a GOPROXY tree.
            Err((r, _)) if r.is_not_found() || matches!(r, crate::import::input::Refusal::WrongType(_)) => {
                let fd = tree.open_dir(Path::new("")).map_err(|(r, _)| r.into_error(input, "a directory"))?;
                (Path::new(""), fd)
            }
            // A symlinked cache or cache/download would have import read a tree
            // that is not the one named.
            Err((r, at)) => return Err(r.into_error(&input.join(at), "a directory")),
        };
        let before = (out.modules.len(), out.refused.len(), out.sumdb.len());
        let mut walk = Walk { tree: &tree, root, out: &mut out };
        walk.dir(&fd, root, 0)?;
        out.sumdb.extend(crate::sumdb::import::discover(&input.join(root)));
        if (out.modules.len(), out.refused.len(), out.sumdb.len()) == before {
            return Err(Error::Invalid(format!(
                "{}: no modules found (expected <module>/@v/<version>.mod files, as in a GOPROXY tree or GOMODCACHE/cache/download)",
                crate::import::input::shown(input)
            )));
        }
    }
    Ok(out)
}

/// The walk of one input directory, through descriptors (see [`input`]).
struct Walk<'a> {
    tree: &'a Arc<crate::import::input::Tree>,
    /// Where module paths begin: `cache/download` or the tree itself.
    root: &'a Path,
    out: &'a mut Inputs,
}

impl Walk<'_> {
    fn refuse(&mut self, rel: &Path, r: crate::import::input::Refusal) {
        let e = r.into_error(&self.tree.path().join(rel), "a directory");
        log::error!("{e}");
        self.out.refused.push(e.to_string());
    }

    fn dir(&mut self, fd: &OwnedFd, rel: &Path, depth: usize) -> Result<()> {
        let shown = |p: &Path| crate::import::input::shown(&self.tree.path().join(p));
        let entries = crate::import::input::list(fd).map_err(|e| Error::Invalid(format!("{}: {e}", shown(rel))))?;
        for e in entries {
            let p = rel.join(&e.name);
            match e.kind {
                FileType::Symlink => {
                    // Files outside @v are never read, so only a link that may stand
                    // for a directory (of modules, or an @v) is worth an error.
                    if e.name == "@v" || fs::metadata(self.tree.path().join(&p)).is_ok_and(|m| m.is_dir()) {
                        self.refuse(&p, crate::import::input::Refusal::Symlink);
                    }
                    continue;
                }
                FileType::Directory => {}
                _ => continue,
            }
            if rel == self.root && e.name == "sumdb" {
                continue;
            }
            if depth >= crate::import::input::MAX_DEPTH {
                self.refuse(&p, crate::import::input::Refusal::WrongType("deeper than the walk descends"));
                continue;
            }
            let sub = match crate::import::input::open_subdir(fd, &e.name) {
                Ok(sub) => sub,
                Err(r) => {
                    self.refuse(&p, r);
                    continue;
                }
            };
            if e.name == "@v" {
                self.at_v(&sub, &p, rel)?;
            } else {
                self.dir(&sub, &p, depth + 1)?;
            }
        }
        Ok(())
    }

    /// `module_dir`: the directory holding `@v`, below the tree.
    fn at_v(&mut self, fd: &OwnedFd, at_v: &Path, module_dir: &Path) -> Result<()> {
        let shown = |p: &Path| crate::import::input::shown(&self.tree.path().join(p));
        let rel = module_dir.strip_prefix(self.root).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let Some(path) = crate::gomod::path::unescape(&rel) else {
            log::warn!(
                "{}: skipped: {} is not an escaped module path",
                shown(at_v),
                crate::import::input::quote_prefix(rel.as_bytes())
            );
            return Ok(());
        };
        let mut by_version: std::collections::BTreeMap<String, ModuleFiles> = Default::default();
        for e in crate::import::input::list(fd).map_err(|e| Error::Invalid(format!("{}: {e}", shown(at_v))))? {
            let name = e.name.to_string_lossy().into_owned();
            let Some((esc_v, ext)) = name.rsplit_once('.') else { continue };
            if !matches!(ext, "mod" | "zip" | "info" | "ziphash") {
                continue; // list, .lock, temp files
            }
            let Some(version) =
                crate::gomod::path::unescape(esc_v).filter(|v| crate::gomod::version::is_canonical_version(v))
            else {
                log::warn!("{}: skipped: not a canonical module version", shown(&at_v.join(&e.name)));
                continue;
            };
            // Whatever the entry is (a symlink, a FIFO), it is opened and refused
            // when the module is read, naming the file.
            let m = by_version.entry(version.clone()).or_insert_with(|| ModuleFiles {
                path: path.clone(),
                version,
                tree: self.tree.clone(),
                stem: at_v.join(esc_v),
                has_mod: false,
                has_zip: false,
                has_info: false,
                has_ziphash: false,
            });
            match ext {
                "mod" => m.has_mod = true,
                "zip" => m.has_zip = true,
                "info" => m.has_info = true,
                _ => m.has_ziphash = true,
            }
        }
        // A version is part of a cache or proxy only once its .mod exists (that is what
        // `list` means); a lone .info or .ziphash is a leftover of an interrupted download.
        self.out.modules.extend(by_version.into_values().filter(|m| m.has_mod || m.has_zip));
        Ok(())
    }
}

/// One module, read, validated and hashed, not yet stored.
struct Prepared {
    path: String,
    version: String,
    mod_bytes: Vec<u8>,
    mod_h1: String,
    info: Option<Vec<u8>>,
    zip: Option<(Vec<u8>, ModuleZip)>,
    /// sha256 of the zip bytes: the blob's name (computed by the worker, not the
    /// thread that writes the store, so it runs in parallel).
    zip_blob: Option<String>,
    zip_h1_origin: &'static str,
}

impl Prepared {
    fn new(
        path: String,
        version: String,
        mod_bytes: Vec<u8>,
        info: Option<Vec<u8>>,
        zip: Option<(Vec<u8>, ModuleZip)>,
        zip_h1_origin: &'static str,
    ) -> Prepared {
        Prepared {
            mod_h1: crate::gomod::h1::hash1_gomod(&mod_bytes),
            zip_blob: zip.as_ref().map(|(b, _)| store::digest_hex(b)),
            path,
            version,
            mod_bytes,
            info,
            zip,
            zip_h1_origin,
        }
    }
}

enum Job {
    Files(ModuleFiles),
    LooseZip(PathBuf),
}

impl Job {
    fn label(&self) -> String {
        match self {
            Job::Files(m) => format!("{}@{}", m.path, m.version),
            Job::LooseZip(p) => p.display().to_string(),
        }
    }
}

fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// The go.mod cmd/go uses for a module whose zip has none.
fn synthesized_mod(path: &str) -> Vec<u8> {
    format!("module {}\n", path).into_bytes()
}

fn prepare(job: &Job) -> Result<Prepared> {
    match job {
        Job::Files(m) => prepare_files(m),
        Job::LooseZip(p) => prepare_loose_zip(p),
    }
}

fn prepare_files(m: &ModuleFiles) -> Result<Prepared> {
    let label = format!("{}@{}", m.path, m.version);
    crate::gomod::path::check_module_version(&m.path, &m.version)
        .map_err(|e| Error::Invalid(format!("{label}: {e}")))?;
    let read = |ext: &str, limit: u64, what: &str| {
        m.tree.read(&with_ext(&m.stem, ext), limit, what).map_err(|e| Error::Invalid(format!("{label}: {e}")))
    };
    let zip = if m.has_zip {
        let bytes = read("zip", crate::gomod::MAX_ZIP_SIZE, "module zip")?;
        let mz = crate::zip::inspect(&bytes, &m.path, &m.version)?;
        Some((bytes, mz))
    } else {
        None
    };
    let mut origin = "computed";
    if m.has_ziphash {
        if let Some((_, mz)) = &zip {
            let raw = read("ziphash", crate::import::input::MAX_ZIPHASH_SIZE, ".ziphash")?;
            let recorded = std::str::from_utf8(&raw).map(str::trim).ok().filter(|h| crate::gomod::h1::is_h1(h));
            // Only a real h1: hash is quoted: the file may hold anything.
            let Some(recorded) = recorded else {
                return Err(Error::Invalid(format!(
                    "{label}: {}: .ziphash does not hold an h1: hash (it begins {}); not imported",
                    crate::import::input::shown(&m.tree.path().join(with_ext(&m.stem, "ziphash"))),
                    crate::import::input::quote_prefix(&raw)
                )));
            };
            if recorded != mz.h1 {
                return Err(Error::Invalid(format!(
                    "{label}: recorded .ziphash {recorded} disagrees with the zip's contents ({}); not imported",
                    mz.h1
                )));
            }
            origin = ".ziphash";
        }
    }
    let mod_bytes =
        if m.has_mod { read("mod", crate::gomod::MAX_GO_MOD_SIZE, "go.mod")? } else { mod_from_zip(&zip, &m.path)? };
    let info = if m.has_info {
        let p = crate::import::input::shown(&m.tree.path().join(with_ext(&m.stem, "info")));
        let text = String::from_utf8(read("info", crate::import::input::MAX_INFO_SIZE, ".info")?)
            .map_err(|_| Error::Invalid(format!("{label}: {p}: .info is not UTF-8")))?;
        Some(crate::gomod::info::canonical_info(&text, &m.version).ok_or_else(|| {
            Error::Invalid(format!("{label}: {p}: .info is not {{\"Version\":\"{}\",\"Time\":...}}", m.version))
        })?)
    } else {
        crate::gomod::version::pseudo_version_time(&m.version).map(|t| crate::gomod::info::info_for(&m.version, &t))
    };
    Ok(Prepared::new(m.path.clone(), m.version.clone(), mod_bytes, info, zip, origin))
}

fn mod_from_zip(zip: &Option<(Vec<u8>, ModuleZip)>, path: &str) -> Result<Vec<u8>> {
    if let Some((bytes, mz)) = zip {
        if let Some(e) = mz.entries.iter().find(|e| e.name == "go.mod") {
            return crate::zip::read_entry_mem(bytes, e).map_err(|e| Error::Invalid(format!("{path}: go.mod: {e}")));
        }
    }
    Ok(synthesized_mod(path))
}

fn prepare_loose_zip(p: &Path) -> Result<Prepared> {
    let bytes = crate::import::input::read_file(p, crate::gomod::MAX_ZIP_SIZE, "module zip")?;
    let (path, version): (String, String) = crate::zip::module_of(&bytes).ok_or_else(|| {
        let why = crate::zip::directory_error(&bytes).unwrap_or_else(|| "no <module>@<version>/ entries".into());
        Error::Invalid(format!("{}: not a module zip ({why})", crate::import::input::shown(p)))
    })?;
    let mz = crate::zip::inspect(&bytes, &path, &version)?;
    let zip = Some((bytes, mz));
    let mod_bytes = mod_from_zip(&zip, &path)?;
    let info = crate::gomod::version::pseudo_version_time(&version).map(|t| crate::gomod::info::info_for(&version, &t));
    Ok(Prepared::new(path, version, mod_bytes, info, zip, "computed"))
}

/// Progress callback: (done, total, what was just finished).
pub(crate) type Progress<'a> = &'a mut dyn FnMut(usize, usize, &str);

/// Blob bytes after which a batch is committed even if it has few modules.
const BATCH_BYTES: u64 = 256 << 20;
const BATCH_MODULES: usize = 512;

pub fn import(store: &mut Store, inputs: &Inputs, threads: usize, progress: Progress<'_>) -> Result<Report> {
    let mut report = Report { errors: inputs.refused.clone(), ..Report::default() };
    import_sums(store, &inputs.sum_files, &mut report)?;
    // Before the modules: a verified record is a trusted sum they are checked against.
    if !inputs.sumdb.is_empty() {
        let keys = crate::sumdb::import::keys(store, &inputs.sumdb_keys)?;
        crate::sumdb::import::import(store, &inputs.sumdb, &keys, &mut report)?;
    }

    let jobs: Vec<Job> = inputs
        .modules
        .iter()
        .cloned()
        .map(Job::Files)
        .chain(inputs.loose_zips.iter().cloned().map(Job::LooseZip))
        .collect();
    let total = jobs.len();
    let next = AtomicUsize::new(0);
    let threads = threads.max(1).min(total.max(1));
    // Bounded so that at most a few zips are held in memory at once.
    let (tx, rx) = mpsc::sync_channel::<(usize, Result<Prepared>)>(threads);
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..threads {
            let tx = tx.clone();
            let (jobs, next) = (&jobs, &next);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                if tx.send((i, prepare(job))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut batch = store.transaction()?;
        let (mut batch_bytes, mut batch_n) = (0u64, 0usize);
        for (done, (i, res)) in rx.into_iter().enumerate() {
            let label = jobs[i].label();
            // (outcome, whether an error came from writing the store)
            let outcome = match res {
                Err(e) => Err((e, false)),
                Ok(p) => {
                    batch_bytes += p.zip.as_ref().map_or(0, |(b, _)| b.len() as u64);
                    // One savepoint per module: a failure halfway through its rows (the
                    // index's disk filling up, say) takes back all of them, never some.
                    let stored = batch.savepoint().and_then(|_| match store_module(store, &batch, p, &mut report) {
                        Ok(u) => batch.release().map(|_| u),
                        Err(e) => batch.rollback_to().and(Err(e)),
                    });
                    stored.map_err(|e| {
                        let writing = matches!(e, Error::Io { .. } | Error::Db(_));
                        (e, writing)
                    })
                }
            };
            match outcome {
                Ok(Upsert::Added) => report.added += 1,
                Ok(Upsert::Completed) => report.completed += 1,
                Ok(Upsert::Unchanged) => report.unchanged += 1,
                // Writing the store failed (disk full, I/O error, index error): every
                // module after this one would fail the same way, one error line each.
                // Stop, keeping the modules recorded so far (complete, each of them).
                Err((e, true)) => {
                    let kept = report.added + report.completed;
                    let committed = store.sync_blobs().and_then(|_| batch.commit());
                    let outcome = match committed {
                        Ok(()) => format!("the {kept} modules stored before it are kept"),
                        Err(c) => format!("the last {batch_n} modules were not recorded either ({c})"),
                    };
                    return Err(Error::Invalid(format!(
                        "{label}: cannot write to the store: {e}; import stopped, {outcome}"
                    )));
                }
                Err((e, _)) => {
                    log::error!("{e}");
                    report.errors.push(e.to_string());
                }
            }
            batch_n += 1;
            if batch_n >= BATCH_MODULES || batch_bytes >= BATCH_BYTES {
                store.sync_blobs()?;
                batch.commit()?;
                store.checkpoint()?;
                batch = store.transaction()?;
                (batch_bytes, batch_n) = (0, 0);
            }
            progress(done + 1, total, &label);
        }
        store.sync_blobs()?;
        batch.commit()?;
        Ok(())
    })?;
    Ok(report)
}

/// Checks one prepared module against the trusted sums, writes its blobs and
/// records it in the batch's transaction.
fn store_module(store: &Store, tx: &store::Tx<'_>, p: Prepared, report: &mut Report) -> Result<Upsert> {
    let label = format!("{}@{}", p.path, p.version);
    let mod_origin = check_against_sums(tx, &p.path, &p.version, SumKind::Mod, &p.mod_h1, &label)?;
    let mut zip_origin = p.zip_h1_origin.to_string();
    if let Some((_, mz)) = &p.zip {
        if let Some(o) = check_against_sums(tx, &p.path, &p.version, SumKind::Zip, &mz.h1, &label)? {
            zip_origin = o;
        }
    }
    let mod_blob = store::digest_hex(&p.mod_bytes);
    store.put_blob(&mod_blob, &p.mod_bytes)?;
    let prefix = format!("{}@{}/", p.path, p.version);
    let digests = p.zip.as_ref().and_then(|(_, mz)| store::ZipDigests::from_hashed(&prefix, &mz.entries, &mz.hashed));
    let zip = match &p.zip {
        Some((bytes, mz)) => {
            let blob = p.zip_blob.clone().unwrap_or_else(|| store::digest_hex(bytes));
            store.put_blob(&blob, bytes)?;
            report.zip_bytes += bytes.len() as u64;
            report.files += mz.entries.len() as u64;
            Some((
                ZipInfo {
                    blob,
                    h1: mz.h1.clone(),
                    h1_origin: zip_origin,
                    size: bytes.len() as u64,
                    file_count: mz.entries.len() as u64,
                    tree_size: mz.total_size,
                },
                mz.entries.as_slice(),
            ))
        }
        None => None,
    };
    tx.upsert_module(&NewModule {
        path: &p.path,
        version: &p.version,
        mod_blob: &mod_blob,
        mod_h1: &p.mod_h1,
        mod_h1_origin: mod_origin.as_deref().unwrap_or("computed"),
        info: p.info.as_deref(),
        zip,
        digests: digests.as_ref(),
    })
}

/// Err when a trusted sum contradicts `h1`; Ok(Some(origin)) when one confirms it.
fn check_against_sums(
    tx: &store::Tx<'_>,
    path: &str,
    version: &str,
    kind: SumKind,
    h1: &str,
    label: &str,
) -> Result<Option<String>> {
    let sums = tx.sums_for(path, version, kind)?;
    crate::verify::trust::check(label, kind, h1, &sums)
        .map_err(|why| Error::Invalid(format!("{why}; not imported")))?;
    Ok(crate::sumdb::import::origin_of(&sums))
}

fn import_sums(store: &Store, files: &[PathBuf], report: &mut Report) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let tx = store.transaction()?;
    for f in files {
        let sums = match crate::gomod::gosum::read(f) {
            Ok(s) => s,
            Err(e) => {
                log::error!("{e}");
                report.errors.push(e.to_string());
                continue;
            }
        };
        for s in sums {
            match record_sum(&tx, &s) {
                Ok(true) => report.sums_added += 1,
                Ok(false) => {}
                Err(e) => {
                    log::error!("{e}");
                    report.errors.push(e.to_string());
                }
            }
        }
    }
    tx.commit()
}

/// A go.sum line is trusted only if it agrees with what the store holds (and with
/// other go.sum lines for the same module).
fn record_sum(tx: &store::Tx<'_>, s: &Sum) -> Result<bool> {
    let label = format!("{}@{}", s.path, s.version);
    if let Some(m) = tx.module(&s.path, &s.version)? {
        let stored = match s.kind {
            SumKind::Mod => Some(m.mod_h1.as_str()),
            SumKind::Zip => m.zip.as_ref().map(|z| z.h1.as_str()),
        };
        if let Some(h) = stored {
            if h != s.h1 {
                return Err(Error::Invalid(format!(
                    "{label}: {} says {} but the stored module hashes to {h}; sum not recorded",
                    s.source, s.h1
                )));
            }
            tx.confirm_origin(&s.path, &s.version, s.kind, &format!("go.sum:{}", s.source))?;
        }
    }
    if let Some((other, from)) = tx.sums_for(&s.path, &s.version, s.kind)?.into_iter().find(|(h, _)| *h != s.h1) {
        return Err(Error::Invalid(format!(
            "{label}: {} says {} but {from} says {other}; sum not recorded",
            s.source, s.h1
        )));
    }
    tx.add_sum(s)
}
