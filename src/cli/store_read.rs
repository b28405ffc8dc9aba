//! `import`, `ls` and `verify`: the commands that fill the store or read it
//! without mounting.

use crate::error::Error;
use crate::verify::store as store_check;
use crate::{import, store};
use std::io::{IsTerminal, Write};
use std::time::Instant;

use super::args::{ImportArgs, LsArgs, VerifyArgs};
use super::progress::Bar;
use super::EXIT_PARTIAL;

pub(crate) fn threads(n: Option<usize>) -> usize {
    n.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

pub(crate) fn cmd_import(store_dir: &std::path::Path, a: ImportArgs) -> Result<u8, Error> {
    let t0 = Instant::now();
    let mut inputs = import::discover(&a.paths)?;
    inputs.sumdb_keys = a.sumdb_keys;
    super::check_new_store(store_dir)?;
    let mut st = store::Store::open_writer(store_dir, "import", !a.no_wait)?;
    let mut bar = Bar::new(!a.json);
    let res = import::import(&mut st, &inputs, threads(a.threads), &mut |d, t, w| bar.show(d, t, w));
    // What was recorded before a failure to write is kept (published) too.
    let published = st.publish();
    let report = res?;
    published?;
    let secs = t0.elapsed().as_secs_f64();
    if a.json {
        println!("{}", report.to_json(secs));
    } else {
        eprintln!("modcachefs: {}", report.summary(secs));
    }
    Ok(if report.errors.is_empty() { 0 } else { EXIT_PARTIAL })
}

pub(crate) fn cmd_ls(store_dir: &std::path::Path, a: LsArgs) -> Result<u8, Error> {
    let st = store::Store::open_ro(store_dir)?;
    let rows: Vec<store::Module> =
        st.modules()?.into_iter().filter(|m| a.filter.as_ref().is_none_or(|f| m.path.contains(f.as_str()))).collect();
    match print_ls(&rows, a.json) {
        // `modcachefs ls | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Error::io("stdout", e)),
        Ok(()) => Ok(0),
    }
}

pub(crate) fn print_ls(rows: &[store::Module], json_out: bool) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !json_out {
        writeln!(out, "{:<60} {:<40} {:>6} {:>10} {:>10}  ZIP HASH FROM", "MODULE", "VERSION", "FILES", "ZIP", "TREE")?;
    }
    for m in rows {
        let line = if json_out {
            let mut o = serde_json::json!({
                "path": m.path,
                "version": m.version,
                "mod_h1": m.mod_h1,
                "mod_h1_origin": m.mod_h1_origin,
                "has_info": m.info.is_some(),
                "zip_h1": null,
            });
            if let Some(z) = &m.zip {
                o["zip_h1"] = z.h1.clone().into();
                o["zip_h1_origin"] = z.h1_origin.clone().into();
                o["zip_size"] = z.size.into();
                o["files"] = z.file_count.into();
                o["tree_size"] = z.tree_size.into();
            }
            o.to_string()
        } else {
            match &m.zip {
                Some(z) => format!(
                    "{:<60} {:<40} {:>6} {:>10} {:>10}  {}",
                    m.path, m.version, z.file_count, z.size, z.tree_size, z.h1_origin
                ),
                None => format!("{:<60} {:<40} {:>6} {:>10} {:>10}  (go.mod only)", m.path, m.version, "-", "-", "-"),
            }
        };
        writeln!(out, "{line}")?;
    }
    out.flush()
}

pub(crate) fn cmd_verify(store_dir: &std::path::Path, a: VerifyArgs) -> Result<u8, Error> {
    let t0 = Instant::now();
    let on_tty = !a.json && std::io::stderr().is_terminal();
    let mut report = store_check::verify(store_dir, threads(a.threads), &|d, t| {
        if on_tty && (d == t || d % 64 == 0) {
            eprint!("\r\x1b[Kverifying {d}/{t}");
        }
    })?;
    // Checksum databases: signatures, record proofs, tiles and tree consistency again.
    let sumdb = crate::sumdb::Files::check_store(store_dir)?;
    report.problems.extend(sumdb.errors.iter().cloned());
    if on_tty {
        eprintln!();
    }
    let secs = t0.elapsed().as_secs_f64();
    if report.without_digests > 0 && !a.json {
        eprintln!(
            "modcachefs: {} zips have no per-file digests in the index (imported by an older modcachefs): mounts verify them whole; importing their sources again records them",
            report.without_digests
        );
    }
    if a.json {
        let out = serde_json::json!({
            "modules": report.modules,
            "zips": report.zips,
            "bytes": report.bytes,
            "sumdb_records": sumdb.records,
            "sumdb_tiles": sumdb.tiles,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "problems": report.problems,
        });
        println!("{out}");
    } else {
        for p in &report.problems {
            eprintln!("modcachefs: {p}");
        }
        if sumdb.databases > 0 {
            eprintln!(
                "modcachefs: checked {} checksum database(s): {} records proved, {} tiles",
                sumdb.databases, sumdb.records, sumdb.tiles
            );
        }
        eprintln!(
            "modcachefs: verified {} modules ({} zips, {:.1} MB) in {secs:.2}s: {}",
            report.modules,
            report.zips,
            report.bytes as f64 / 1e6,
            if report.problems.is_empty() {
                "all good".to_string()
            } else {
                format!("{} problems", report.problems.len())
            }
        );
    }
    Ok(if report.problems.is_empty() { 0 } else { EXIT_PARTIAL })
}
