//! What a change of the store does to a running mount: the directories of module
//! paths it touched are read again on their next lookup, and the kernel is told
//! to forget what it cached of them (names, negative entries included, directory
//! listings, `@v/list`'s size and bytes), so that new modules appear and removed
//! ones disappear without a remount. Nodes stay: a file opened before a module
//! was removed keeps reading (by inode) until it is closed.

use super::Fs;
use crate::store::Changes;
use crate::vfs::namespace::ino_of_path;
use std::collections::BTreeSet;

/// One FUSE invalidation notification for the kernel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Inval {
    /// `inval_entry(parent, name)`: the name's cached lookup, positive or negative.
    Entry(u64, String),
    /// `inval_inode(ino)`: its attributes and cached contents (a listing, `list`).
    Inode(u64),
}

const DOWNLOAD: &str = "cache/download";

impl Fs {
    /// Forgets what the namespace loaded of the changed module paths (the new
    /// store must already be in place) and returns the notifications that make
    /// the kernel ask again.
    pub(crate) fn apply_changes(&self, changes: &Changes) -> Vec<Inval> {
        let mut prefixes: BTreeSet<String> = BTreeSet::new();
        let mut out: BTreeSet<Inval> = BTreeSet::new();
        for (path, version) in changes.added.iter().chain(&changes.removed) {
            self.missing.forget(&format!("{path}@{version}"));
            self.missing.forget(path);
            let (Some(ep), Some(ev)) = (crate::gomod::path::escape(path), crate::gomod::path::escape(version)) else {
                continue;
            };
            let elems: Vec<&str> = path.split('/').collect();
            let esc: Vec<&str> = ep.split('/').collect();
            if elems.len() != esc.len() {
                continue;
            }
            prefixes.insert(String::new());
            for i in 1..=elems.len() {
                prefixes.insert(elems[..i].join("/"));
            }
            for i in 0..esc.len() {
                let under = esc[..i].join("/");
                // The extracted-tree side: `<prefix>/<elem>`, and the module's root.
                let tree = ino_of_path(&under);
                out.insert(Inval::Entry(tree, esc[i].to_string()));
                out.insert(Inval::Inode(tree));
                if i + 1 == esc.len() {
                    out.insert(Inval::Entry(tree, format!("{}@{ev}", esc[i])));
                }
                // The download side: `cache/download/<prefix>/<elem>`.
                let dl =
                    ino_of_path(&if under.is_empty() { DOWNLOAD.to_string() } else { format!("{DOWNLOAD}/{under}") });
                out.insert(Inval::Entry(dl, esc[i].to_string()));
                out.insert(Inval::Inode(dl));
            }
            let module_dir = format!("{DOWNLOAD}/{ep}");
            let at_v = format!("{module_dir}/@v");
            out.insert(Inval::Entry(ino_of_path(&module_dir), "@v".into()));
            out.insert(Inval::Inode(ino_of_path(&module_dir)));
            for ext in ["mod", "info", "zip", "ziphash"] {
                out.insert(Inval::Entry(ino_of_path(&at_v), format!("{ev}.{ext}")));
            }
            out.insert(Inval::Inode(ino_of_path(&at_v)));
            out.insert(Inval::Inode(ino_of_path(&format!("{at_v}/list"))));
        }
        if let Ok(ns) = self.ns.read() {
            ns.drop_dirs(prefixes.iter().map(String::as_str));
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::{NewModule, Store};
    use crate::vfs::content::{Content, Options};
    use crate::vfs::namespace::ROOT;
    use std::path::Path;

    /// A store holding go.mod-only rows for `modules` (path, version).
    pub(crate) fn store_with(dir: &Path, modules: &[(&str, &str)]) {
        let st = Store::open_writer(dir, "test", true).unwrap();
        let tx = st.transaction().unwrap();
        let h1 = format!("h1:{}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]));
        for (p, v) in modules {
            let gomod = format!("module {p} // {v}\n");
            let blob = crate::store::digest_hex(gomod.as_bytes());
            st.put_blob(&blob, gomod.as_bytes()).unwrap();
            let m = NewModule {
                path: p,
                version: v,
                mod_blob: &blob,
                mod_h1: &h1,
                mod_h1_origin: "computed",
                info: None,
                zip: None,
                digests: None,
            };
            tx.upsert_module(&m).unwrap();
        }
        tx.commit().unwrap();
        st.publish().unwrap();
    }

    fn fs_of(dir: &std::path::Path) -> Fs {
        let opts = Options {
            verify: crate::vfs::content::Verify::Lazy,
            cache_size: 1 << 20,
            spill_dir: std::env::temp_dir(),
            spill_size: 0,
        };
        Fs::new(Content::new(Store::open_ro(dir).unwrap(), &[], opts, Default::default()).unwrap())
    }

    fn lookup_path(fs: &Fs, path: &str) -> Option<u64> {
        path.split('/').try_fold(ROOT, |ino, name| fs.lookup(ino, name).unwrap().map(|a| a.ino))
    }

    /// A removed module disappears for new lookups once its change is applied
    /// (as the store's `rm` reports it), an added one appears, and the kernel is
    /// told about both, along both sides.
    #[test]
    fn removed_and_added_modules_after_changes() {
        let tmp = tempfile::tempdir().unwrap();
        store_with(tmp.path(), &[("example.com/a/b", "v1.0.0")]);
        let fs = fs_of(tmp.path());
        let at_v = "cache/download/example.com/a/b/@v";
        let mod_ino = lookup_path(&fs, &format!("{at_v}/v1.0.0.mod")).expect("served");
        assert_eq!(fs.read(ino_of_path(&format!("{at_v}/list")), 0, 100).unwrap(), None, "list not looked up yet");
        lookup_path(&fs, &format!("{at_v}/list")).expect("list");
        // One added, one removed; the new state replaces the old one, then the change applies.
        store_with(tmp.path(), &[("example.com/c", "v1.2.0")]);
        crate::store::rm(tmp.path(), &["example.com/a/b".to_string()], false, true).unwrap();
        let new = Store::open_ro(tmp.path()).unwrap();
        let changes = fs.content.replace_store(new, |new, old| new.changes_since(old)).unwrap();
        assert_eq!(changes.added, vec![("example.com/c".to_string(), "v1.2.0".to_string())]);
        assert_eq!(changes.removed, vec![("example.com/a/b".to_string(), "v1.0.0".to_string())]);
        let inval = fs.apply_changes(&changes);
        assert_eq!(lookup_path(&fs, &format!("{at_v}/v1.0.0.mod")), None, "gone for new lookups");
        assert_eq!(lookup_path(&fs, "cache/download/example.com/a"), None);
        for p in ["cache/download/example.com", "cache/download/example.com/c", "cache/download/example.com/c/@v"] {
            assert!(lookup_path(&fs, p).is_some(), "{p}");
        }
        assert!(lookup_path(&fs, "cache/download/example.com/c/@v/v1.2.0.mod").is_some(), "the new one is served");
        // An inode looked up before the removal still names its file.
        assert!(fs.getattr(mod_ino).unwrap().is_some());
        let dl = ino_of_path("cache/download/example.com/a");
        for want in [
            Inval::Entry(dl, "b".into()),
            Inval::Entry(ino_of_path(at_v), "v1.0.0.mod".into()),
            Inval::Inode(ino_of_path(&format!("{at_v}/list"))),
            Inval::Entry(ino_of_path("example.com/a"), "b@v1.0.0".into()),
            Inval::Entry(ino_of_path("cache/download"), "example.com".into()),
            Inval::Entry(ROOT, "example.com".into()),
        ] {
            assert!(inval.contains(&want), "{want:?} not in {inval:?}");
        }
    }
}
