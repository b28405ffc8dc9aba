//! Module zip rules (src/zipfmt.rs): a good zip round-trips, Go's own hash vectors
//! match, and adversarial zips built here (tests/common/zipgen.rs; never committed
//! as binaries) are each refused with their own message.

mod common;

use std::io::Write;

use common::zipgen::*;
use modcachefs::gomod::{MAX_GO_MOD_SIZE, MAX_ZIP_SIZE};
use modcachefs::zip::{Entry, ZipError};

#[track_caller]
fn refused(zip: &[u8], needle: &str) -> ZipError {
    refused_as(zip, M, V, needle)
}

#[track_caller]
fn refused_as(zip: &[u8], module: &str, version: &str, needle: &str) -> ZipError {
    match modcachefs::zip::inspect(zip, module, version) {
        Ok(mz) => panic!("accepted, want error containing {needle:?}: {:?}", mz.entries),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(needle), "error {msg:?} does not contain {needle:?}");
            assert!(msg.starts_with(&format!("{module}@{version}: ")), "{msg}");
            assert!(!msg.contains('\n'), "{msg:?}");
            e
        }
    }
}

// --- good zips -------------------------------------------------------------

#[test]
fn good_zip_entries_hash_and_round_trip() {
    let gomod = b"module example.com/m\n\ngo 1.13\n".to_vec();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let zip = build_with(|w| {
        w.start_file(full("go.mod"), deflated()).unwrap();
        w.write_all(&gomod).unwrap();
        w.start_file(full("b.go"), deflated()).unwrap();
        w.write_all(&big).unwrap();
        w.add_directory(full("a/"), stored()).unwrap();
        w.start_file(full("a/c.go"), stored()).unwrap();
        w.write_all(b"package a\n").unwrap();
        w.start_file(full("LICENSE"), deflated()).unwrap();
        w.write_all(b"").unwrap();
    });
    let mz = modcachefs::zip::inspect(&zip, M, V).unwrap();
    let names: Vec<&str> = mz.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["LICENSE", "a/c.go", "b.go", "go.mod"]);
    assert_eq!(mz.total_size, (gomod.len() + big.len() + 10) as u64);
    let by_name = |n: &str| mz.entries.iter().find(|e| e.name == n).unwrap();
    assert_eq!(by_name("b.go").method, 8);
    assert_eq!(by_name("a/c.go").method, 0);
    assert_eq!(by_name("b.go").size, big.len() as u64);

    // dirhash.HashZip: every zip entry by full name, the directory included.
    let want = h1_of(&[
        (&full("go.mod"), &gomod),
        (&full("b.go"), &big),
        (&full("a/"), b""),
        (&full("a/c.go"), b"package a\n"),
        (&full("LICENSE"), b""),
    ]);
    assert_eq!(mz.h1, want);

    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&zip).unwrap();
    let contents: [(&str, &[u8]); 4] =
        [("go.mod", &gomod), ("b.go", &big), ("a/c.go", b"package a\n"), ("LICENSE", b"")];
    for (name, data) in contents {
        let e = by_name(name);
        assert_eq!(modcachefs::zip::read_entry_mem(&zip, e).unwrap(), data, "{name}");
        assert_eq!(modcachefs::zip::read_entry(&file, e).unwrap(), data, "{name}");
    }
    assert_eq!(modcachefs::zip::module_of(&zip), Some((M.to_string(), V.to_string())));
}

/// Vectors from golang.org/x/mod/zip/testdata (unzip/*.txt and create/*.txt).
#[test]
fn h1_matches_x_mod_test_vectors() {
    let empty = build(&[], stored());
    assert_eq!(
        modcachefs::zip::inspect(&empty, "example.com/empty", V).unwrap().h1,
        "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );

    let hello =
        "package main\n\nimport (\n  \"fmt\"\n  \"example.com/m\"\n)\n\nfunc main() {\n  fmt.Println(m.Foo())\n}\n";
    let simple = build(
        &[
            (&full("go.mod"), b"module example.com/m\n\ngo 1.13\n"),
            (&full("m.go"), b"package m\n\nfunc Foo() int { return 42 }\n"),
            (&full("cmd/hello/hello.go"), hello.as_bytes()),
        ],
        deflated(),
    );
    assert_eq!(modcachefs::zip::inspect(&simple, M, V).unwrap().h1, "h1:tpqYOOmuilagXzyqoJ3roUjp8gneQeTv5YVpL6BG7/k=");

    // A directory named go.mod is not a go.mod file.
    let go_mod_dir = build(&[(&full("go.mod/a.go"), b"package a\n")], stored());
    let mz = modcachefs::zip::inspect(&go_mod_dir, M, V).unwrap();
    assert_eq!(mz.h1, "h1:Mun5l9cBlDnnV6JasTpio2aZJSbFj++h+814mnKC/OM=");
}

#[test]
fn go_style_zip_with_data_descriptors_and_zip64_end() {
    let files: [(&[u8], &[u8], bool); 3] = [
        (b"example.com/m@v1.0.0/go.mod", b"module example.com/m\n", true),
        (b"example.com/m@v1.0.0/sub/", b"", false),
        (b"example.com/m@v1.0.0/sub/a.go", b"package sub\n", true),
    ];
    let raws: Vec<Raw> =
        files.iter().map(|&(name, data, deflate)| Raw { name, data, deflate, descriptor: deflate }).collect();
    let want = h1_of(&[
        (&full("go.mod"), b"module example.com/m\n"),
        (&full("sub/"), b""),
        (&full("sub/a.go"), b"package sub\n"),
    ]);
    for (zip64, comment) in
        [(false, &b""[..]), (true, b""), (false, b"a comment PK\x05\x06 with a fake end"), (true, b"c")]
    {
        let zip = raw_zip(&raws, zip64, comment);
        let mz = modcachefs::zip::inspect(&zip, M, V).unwrap_or_else(|e| panic!("zip64={zip64}: {e}"));
        assert_eq!(mz.h1, want);
        assert_eq!(mz.entries.len(), 2);
        assert_eq!(modcachefs::zip::read_entry_mem(&zip, &mz.entries[1]).unwrap(), b"package sub\n");
    }
}

/// Our h1 against the real `go` command, on a zip written by Go's own archive/zip
/// (data descriptors, deflate, a directory entry), served from a GOPROXY=file://
/// tree. Needs `go` (Debian's golang-go, installed by .ci/run): fails without it,
/// so it is part of the real-mount suite (`scripts/test`, feature `integration`).
#[cfg(feature = "integration")]
#[test]
fn h1_matches_cmd_go() {
    use std::path::Path;
    use std::process::Command;
    let have_go = Command::new("go").arg("version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(have_go, "no `go` command on PATH: install golang-go (scripts/test and .ci/run expect it)");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let go = |dir: &Path, args: &[&str], extra: &[(&str, String)]| {
        let mut cmd = Command::new("go");
        cmd.args(args).current_dir(dir).env_clear();
        cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        for (k, v) in [
            ("HOME", t.display().to_string()),
            ("GOCACHE", t.join("gocache").display().to_string()),
            ("GOPATH", t.join("gopath").display().to_string()),
            ("GOMODCACHE", t.join("modcache").display().to_string()),
            ("GOENV", "off".into()),
            ("GOTOOLCHAIN", "local".into()),
        ] {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "go {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let gen = r#"package main

import (
	"archive/zip"
	"os"
)

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	zw := zip.NewWriter(f)
	p := "example.com/m@v1.0.0/"
	for _, e := range [][2]string{
		{p + "go.mod", "module example.com/m\n"},
		{p + "sub/", ""},
		{p + "sub/a.go", "package sub\n"},
		{p + "m.go", "package m\n\nfunc Big() string { return `" + string(make([]byte, 5000)) + "` }\n"},
	} {
		w, err := zw.Create(e[0])
		if err != nil {
			panic(err)
		}
		w.Write([]byte(e[1]))
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	if err := f.Close(); err != nil {
		panic(err)
	}
}
"#;
    let gen_dir = t.join("gen");
    let at_v = t.join("proxy/example.com/m/@v");
    std::fs::create_dir_all(&gen_dir).unwrap();
    std::fs::create_dir_all(&at_v).unwrap();
    std::fs::write(gen_dir.join("gen.go"), gen).unwrap();
    let zip_path = at_v.join("v1.0.0.zip");
    go(&gen_dir, &["run", "gen.go", zip_path.to_str().unwrap()], &[("GO111MODULE", "off".into())]);
    std::fs::write(at_v.join("v1.0.0.mod"), "module example.com/m\n").unwrap();
    std::fs::write(at_v.join("v1.0.0.info"), r#"{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}"#).unwrap();
    std::fs::write(at_v.join("list"), "v1.0.0\n").unwrap();
    let json = go(
        &gen_dir,
        &["mod", "download", "-json", "example.com/m@v1.0.0"],
        &[
            ("GO111MODULE", "on".into()),
            ("GOPROXY", format!("file://{}", t.join("proxy").display())),
            ("GOSUMDB", "off".into()),
        ],
    );
    let sum = json
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"Sum\": \""))
        .and_then(|s| s.strip_suffix("\","))
        .unwrap_or_else(|| panic!("no Sum in {json}"));

    let zip = std::fs::read(&zip_path).unwrap();
    let mz = modcachefs::zip::inspect(&zip, M, V).unwrap();
    assert_eq!(mz.h1, sum);
    let names: Vec<&str> = mz.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["go.mod", "m.go", "sub/a.go"]);
    let file = std::fs::File::open(&zip_path).unwrap();
    assert_eq!(modcachefs::zip::read_entry(&file, &mz.entries[2]).unwrap(), b"package sub\n");
}

#[test]
fn accepted_names_and_versions() {
    for name in ["a b.go", "é.go", "GIT~1/x.go", ".gitignore", "-dash.go", "x/go.mod.go", "con1.go", "日本語.go"] {
        let zip = build(&[(&full(name), b"x")], stored());
        modcachefs::zip::inspect(&zip, M, V).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (module, version) in [
        ("example.com/m", "v2.0.0+incompatible"),
        ("example.com/m/v2", "v2.1.0"),
        ("example.com/m", "v0.0.0-20210604000000-d5e0c0615ace"),
        ("gopkg.in/yaml.v2", "v2.4.0"),
        ("gopkg.in/check.v1", "v0.0.0-20161208181325-20d25e280405"),
    ] {
        let zip = build(&[(&format!("{module}@{version}/x.go"), b"x")], stored());
        modcachefs::zip::inspect(&zip, module, version).unwrap_or_else(|e| panic!("{module}@{version}: {e}"));
    }
}

// --- names -----------------------------------------------------------------

#[test]
fn refuses_zip_slip() {
    let e = refused(&build(&[(&full("../x"), b"x")], stored()), "escapes the module directory");
    assert_eq!(e.entry.as_deref(), Some("../x"));
}

#[test]
fn refuses_absolute_path() {
    refused(&build(&[(&full("/etc/passwd"), b"x")], stored()), "absolute path");
}

#[test]
fn refuses_dotdot_element() {
    refused(&build(&[(&full("a/../b.go"), b"x")], stored()), "\"..\" path element");
}

#[test]
fn refuses_dot_and_empty_elements() {
    refused(&build(&[(&full("a/./b.go"), b"x")], stored()), "\".\" path element");
    refused(&build(&[(&full("a//b.go"), b"x")], stored()), "empty path element");
    refused(&build(&[(&full("a/.../b.go"), b"x")], stored()), "invalid path element");
    refused(&build(&[(&full("a./b.go"), b"x")], stored()), "trailing dot");
}

#[test]
fn refuses_backslash() {
    refused(&build(&[(&full("a\\b.go"), b"x")], stored()), "backslash");
}

#[test]
fn refuses_nul_in_name() {
    let mut zip = build(&[(&full("aXb.go"), b"x")], stored());
    patch_name(&mut zip, 0, b"X", b"\0");
    let e = refused(&zip, "NUL byte");
    assert_eq!(e.entry.as_deref(), Some("a\\u{0}b.go"));
}

#[test]
fn refuses_invalid_utf8_in_name() {
    let mut zip = build(&[(&full("aXb.go"), b"x")], stored());
    patch_name(&mut zip, 0, b"X", b"\xff");
    let e = refused(&zip, "invalid UTF-8");
    assert!(e.to_string().contains("a\\xffb.go"), "{e}");
}

#[test]
fn refuses_go_invalid_chars() {
    refused(&build(&[(&full("a'b.go"), b"x")], stored()), "invalid char '\\''");
    refused(&build(&[(&full("a:b.go"), b"x")], stored()), "invalid char ':'");
    refused(&build(&[(&full("a\nb.go"), b"x")], stored()), "invalid char '\\n'");
    // U+093E DEVANAGARI VOWEL SIGN AA: alphabetic to Rust, not a letter to Go.
    refused(&build(&[(&full("\u{915}\u{93e}.go"), b"x")], stored()), "invalid char");
}

#[test]
fn refuses_windows_reserved_names() {
    refused(&build(&[(&full("aux.go"), b"x")], stored()), "\"aux\" is a reserved file name on Windows");
    refused(&build(&[(&full("x/COM1/y.go"), b"x")], stored()), "reserved file name on Windows");
    refused(&build(&[(&full("Nul"), b"x")], stored()), "reserved file name on Windows");
}

#[test]
fn refuses_wrong_prefix() {
    let zip = build(&[("example.com/other@v1.0.0/x.go", b"x")], stored());
    refused(&zip, "path does not have prefix \"example.com/m@v1.0.0/\"");
    // The prefix without its slash (x/mod's prefix_only test).
    refused(&build(&[(&format!("{M}@{V}"), b"")], stored()), "does not have prefix");
}

#[test]
fn refuses_duplicate_names() {
    let mut zip = build(&[(&full("a.go"), b"x"), (&full("b.go"), b"y")], stored());
    patch_name(&mut zip, 1, b"b.go", b"a.go");
    refused(&zip, "multiple entries for file \"a.go\"");
}

#[test]
fn refuses_case_collisions() {
    refused(&build(&[(&full("m.go"), b"x"), (&full("M.GO"), b"y")], stored()), "case-insensitive file name collision");
    // Through a parent directory.
    refused(&build(&[(&full("a/x.go"), b"x"), (&full("A/y.go"), b"y")], stored()), "\"a\" and \"A\"");
    // Unicode simple folding, as strings.EqualFold: s and long s, σ and ς, k and Kelvin.
    refused(&build(&[(&full("s.go"), b"x"), (&full("ſ.go"), b"y")], stored()), "collision");
    refused(&build(&[(&full("σ.go"), b"x"), (&full("ς.go"), b"y")], stored()), "collision");
    refused(&build(&[(&full("k.go"), b"x"), (&full("\u{212a}.go"), b"y")], stored()), "collision");
}

#[test]
fn refuses_file_dir_clash() {
    refused(&build(&[(&full("a.go"), b"x"), (&full("a.go/b.go"), b"y")], stored()), "both a file and a directory");
    let zip = build_with(|w| {
        w.start_file(full("a"), stored()).unwrap();
        w.add_directory(full("a/"), stored()).unwrap();
    });
    refused(&zip, "entry \"a\" is both a file and a directory");
}

#[test]
fn refuses_nested_and_miscased_go_mod() {
    refused(
        &build(&[(&full("go.mod"), b"module m\n"), (&full("sub/go.mod"), b"module m/sub\n")], stored()),
        "go.mod file not in module root directory",
    );
    refused(&build(&[(&full("b/GO.MOD"), b"x")], stored()), "not in module root directory");
    refused(&build(&[(&full("GO.MOD"), b"x")], stored()), "go.mod files must have lowercase names");
}

/// A symlink entry is what Go's Unzip makes of it: a regular file holding the link
/// text, hashed as those bytes (tests/mount.rs checks it against `go mod download`).
#[test]
fn symlink_entries_are_regular_files_holding_the_link_text() {
    let zip = build_with(|w| {
        w.start_file(full("a.go"), stored()).unwrap();
        w.write_all(b"package a\n").unwrap();
        w.add_symlink(full("link.go"), "a.go", stored()).unwrap();
        w.add_symlink(full("sub/abs"), "/etc/passwd", deflated()).unwrap();
    });
    let c = centrals(&zip)[1];
    assert_eq!(le32(&zip, c + 38) >> 16 & 0o170000, 0o120000, "the entry is a symlink (S_IFLNK)");
    let mz = modcachefs::zip::inspect(&zip, M, V).unwrap();
    let names: Vec<&str> = mz.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a.go", "link.go", "sub/abs"]);
    let by_name = |n: &str| mz.entries.iter().find(|e| e.name == n).unwrap();
    assert_eq!(modcachefs::zip::read_entry_mem(&zip, by_name("link.go")).unwrap(), b"a.go");
    assert_eq!(modcachefs::zip::read_entry_mem(&zip, by_name("sub/abs")).unwrap(), b"/etc/passwd");
    let want =
        h1_of(&[(&full("a.go"), b"package a\n"), (&full("link.go"), b"a.go"), (&full("sub/abs"), b"/etc/passwd")]);
    assert_eq!(mz.h1, want);
}

#[test]
fn refuses_non_regular_files() {
    let mut zip = build(&[(&full("fifo"), b"")], stored().unix_permissions(0o644));
    let c = centrals(&zip)[0];
    assert_eq!(le16(&zip, c + 4) >> 8, 3, "made by unix");
    put32(&mut zip, c + 38, (0o010644u32) << 16); // S_IFIFO
    refused(&zip, "not a regular file");
}

#[test]
fn directory_entries() {
    // Tolerated (and hashed, as dirhash.HashZip does) like Go, even repeated.
    let root = format!("{M}@{V}/");
    let d = full("d/");
    let raws = [
        Raw { name: root.as_bytes(), data: b"", deflate: false, descriptor: false },
        Raw { name: d.as_bytes(), data: b"", deflate: false, descriptor: false },
        Raw { name: d.as_bytes(), data: b"", deflate: false, descriptor: false },
    ];
    let mz = modcachefs::zip::inspect(&raw_zip(&raws, false, b""), M, V).unwrap();
    assert!(mz.entries.is_empty());
    assert_eq!(mz.h1, h1_of(&[(&root, b""), (&d, b""), (&d, b"")]));

    // Written by the zip crate (unix directory mode).
    let zip = build_with(|w| w.add_directory(full("d/"), stored()).unwrap());
    assert_eq!(modcachefs::zip::inspect(&zip, M, V).unwrap().h1, h1_of(&[(&d, b"")]));

    // With content they are refused: Go would hash bytes it never extracts.
    let mut zip = build(&[(&full("dX"), b"content")], stored());
    patch_name(&mut zip, 0, b"X", b"/");
    refused(&zip, "directory entry has content");
}

// --- module path and version -----------------------------------------------

#[test]
fn refuses_non_canonical_version() {
    let zip = build(&[("example.com/m@v1.0/x.go", b"x")], stored());
    refused_as(&zip, M, "v1.0", "version \"v1.0\" is not canonical");
    refused_as(&zip, M, "v1.0.0+meta", "not canonical");
}

#[test]
fn refuses_major_version_mismatch() {
    let zip = build(&[("example.com/m@v2.0.0/x.go", b"x")], stored());
    refused_as(&zip, M, "v2.0.0", "should be v0 or v1, not v2");
    let zip = build(&[("example.com/m/v3@v2.0.0/x.go", b"x")], stored());
    refused_as(&zip, "example.com/m/v3", "v2.0.0", "should be v3, not v2");
}

#[test]
fn refuses_bad_module_paths() {
    let zip = build(&[("cache@v1.0.0/x.go", b"x")], stored());
    refused_as(&zip, "cache", V, "missing dot in first path element");
    refused_as(&zip, "Example.com/m", V, "invalid char 'E' in first path element");
    refused_as(&zip, "example.com/m/v1", V, "invalid version suffix");
    refused_as(&zip, "example.com/git~1", V, "trailing tilde and digits");
    refused_as(&zip, "example.com/a b", V, "malformed module path");
}

// --- sizes -----------------------------------------------------------------

#[test]
fn refuses_oversize_go_mod_and_license() {
    let big = vec![0u8; MAX_GO_MOD_SIZE as usize + 1];
    refused(&build(&[(&full("go.mod"), &big)], stored()), "go.mod file too large");
    refused(&build(&[(&full("LICENSE"), &big)], stored()), "LICENSE file too large");
    // Only at the root, like Go.
    modcachefs::zip::inspect(&build(&[(&full("x/LICENSE"), &big)], stored()), M, V).unwrap();
}

#[test]
fn refuses_total_size_over_limit() {
    // Declared sizes are checked before anything is inflated.
    let mut zip = build(&[(&full("a.go"), b"x"), (&full("b.go"), b"y")], stored());
    for c in centrals(&zip) {
        put32(&mut zip, c + 20, 300 << 20);
        put32(&mut zip, c + 24, 300 << 20);
    }
    refused(&zip, "total uncompressed size of module contents too large");
}

#[test]
fn refuses_zip_over_limit() {
    let zip = vec![0u8; MAX_ZIP_SIZE as usize + 1]; // calloc: no real memory touched
    refused(&zip, "module zip file is too large");
}

#[test]
fn refuses_zip_bomb_with_lying_size() {
    let zeros = vec![0u8; 4 << 20];
    let mut zip = build(&[(&full("bomb.go"), &zeros)], deflated());
    patch32_both(&mut zip, 0, 24, 22, 100); // declared uncompressed size: 100
    refused(&zip, "larger than the declared size of 100 bytes");
}

#[test]
fn refuses_size_smaller_than_declared() {
    let mut zip = build(&[(&full("a.go"), &[b'a'; 1000])], deflated());
    patch32_both(&mut zip, 0, 24, 22, 2000);
    refused(&zip, "smaller than declared: 1000 bytes, header says 2000");
}

#[test]
fn refuses_bad_crc() {
    let mut zip = build(&[(&full("a.go"), b"package a\n")], stored());
    let at = zip.windows(9).position(|w| w == b"package a").unwrap();
    zip[at] = b'P';
    refused(&zip, "CRC-32 mismatch");
}

#[test]
fn refuses_corrupt_and_truncated_deflate() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 97) as u8).collect();
    let zip = build(&[(&full("a.go"), &data)], deflated());
    let c = centrals(&zip)[0];
    let l = local_of(&zip, c);
    let start = l + 30 + le16(&zip, l + 26) + le16(&zip, l + 28);
    let mut bad = zip.clone();
    bad[start] = 0xff; // block type 3: invalid
    refused(&bad, "corrupt deflate data");

    // Shrink the declared compressed size: the stream ends early.
    let mut short = zip.clone();
    let csize = le32(&zip, c + 20) as u32;
    patch32_both(&mut short, 0, 20, 18, csize / 2);
    refused(&short, "deflate stream is truncated");
}

// --- structure -------------------------------------------------------------

#[test]
fn refuses_truncated_archive() {
    let zip = two_files();
    refused(&zip[..zip.len() / 2], "truncated zip archive");
    refused(&zip[..zip.len() - 1], "end of central directory record");
    refused(b"hello, world", "not a zip archive");
}

#[test]
fn refuses_encrypted_entry() {
    let mut zip = two_files();
    let c = centrals(&zip)[1];
    let flags = le16(&zip, c + 8) as u16;
    patch16_both(&mut zip, 1, 8, 6, flags | 1);
    refused(&zip, "encrypted entries are not supported");
}

#[test]
fn refuses_unsupported_method() {
    let mut zip = two_files();
    patch16_both(&mut zip, 0, 10, 8, 12); // bzip2
    refused(&zip, "unsupported compression method 12");
}

#[test]
fn refuses_overlapping_entries() {
    let mut zip = two_files();
    let [c0, c1] = centrals(&zip)[..] else { panic!() };
    let first_local = local_of(&zip, c0) as u32;
    put32(&mut zip, c1 + 42, first_local);
    let e = refused(&zip, "overlaps");
    assert!(e.to_string().contains("a.go"), "{e}");
}

#[test]
fn refuses_local_central_name_disagreement() {
    let mut zip = two_files();
    let [_, local] = name_ranges(&zip, 1);
    let at = local.end - 4;
    zip[at] = b'x'; // local "xb.go"-style change, central untouched
    refused(&zip, "local file header name");
}

#[test]
fn refuses_local_central_field_disagreement() {
    let mut zip = two_files();
    let l = local_of(&zip, centrals(&zip)[0]);
    put32(&mut zip, l + 14, 0xdead_beef); // local CRC
    refused(&zip, "local file header CRC-32 or sizes disagree");

    let mut zip = two_files();
    let l = local_of(&zip, centrals(&zip)[0]);
    put16(&mut zip, l + 8, 8); // local method deflate, central stored
    refused(&zip, "local file header compression method 8 disagrees");

    let mut zip = two_files();
    let l = local_of(&zip, centrals(&zip)[0]);
    put32(&mut zip, l, 0x1234_5678);
    refused(&zip, "bad local file header signature");
}

#[test]
fn refuses_bad_data_descriptor() {
    let raw = [Raw { name: b"example.com/m@v1.0.0/a.go", data: b"package a\n", deflate: true, descriptor: true }];
    let mut zip = raw_zip(&raw, false, b"");
    let at = zip.windows(4).position(|w| w == [0x50, 0x4b, 7, 8]).unwrap();
    zip[at + 4] ^= 1;
    refused(&zip, "data descriptor CRC-32 disagrees");
}

#[test]
fn refuses_bad_central_directory() {
    let zip = two_files();
    let e = eocd(&zip);

    let mut bad = zip.clone();
    put32(&mut bad, e + 16, 0x0100_0000); // directory offset far out
    refused(&bad, "central directory out of range");

    let mut bad = zip.clone();
    put16(&mut bad, e + 8, 3);
    put16(&mut bad, e + 10, 3);
    refused(&bad, "entry count mismatch");

    let mut bad = zip.clone();
    put16(&mut bad, e + 8, 1);
    put16(&mut bad, e + 10, 1);
    refused(&bad, "entry count mismatch");

    let mut bad = zip.clone();
    put16(&mut bad, e + 4, 1); // disk number
    refused(&bad, "multi-disk");

    let mut bad = zip.clone();
    let c1 = centrals(&zip)[1];
    put32(&mut bad, c1 + 42, (e + 100) as u32);
    refused(&bad, "local file header out of range");
}

#[test]
fn refuses_junk_before_end_record() {
    let zip = two_files();
    let e = eocd(&zip);
    let mut bad = zip[..e].to_vec();
    bad.extend_from_slice(b"JUNK");
    bad.extend_from_slice(&zip[e..]);
    // The end record's offset and size no longer reach it.
    refused(&bad, "unaccounted bytes between the central directory and the end record");
}

/// No input may panic: every truncation, and every single-byte corruption of the
/// headers, of a small zip with a deflated and a stored entry.
#[test]
fn never_panics_on_corruption() {
    let raws = [
        Raw { name: b"example.com/m@v1.0.0/go.mod", data: b"module example.com/m\n", deflate: true, descriptor: true },
        Raw { name: b"example.com/m@v1.0.0/a/", data: b"", deflate: false, descriptor: false },
        Raw { name: b"example.com/m@v1.0.0/a/b.go", data: b"package b\n", deflate: false, descriptor: false },
    ];
    for zip64 in [false, true] {
        let zip = raw_zip(&raws, zip64, b"");
        let good = modcachefs::zip::inspect(&zip, M, V).unwrap();
        for n in 0..zip.len() {
            assert!(modcachefs::zip::inspect(&zip[..n], M, V).is_err());
        }
        for i in 0..zip.len() {
            for v in [0x00, 0xff, zip[i] ^ 0x80, zip[i].wrapping_add(1)] {
                let mut bad = zip.clone();
                bad[i] = v;
                if let Ok(mz) = modcachefs::zip::inspect(&bad, M, V) {
                    // Whatever still passes must still read back consistently.
                    for e in &mz.entries {
                        modcachefs::zip::read_entry_mem(&bad, e).unwrap();
                    }
                }
                let _ = modcachefs::zip::module_of(&bad);
            }
        }
        for e in &good.entries {
            assert!(modcachefs::zip::read_entry_mem(&zip, e).is_ok());
            assert!(modcachefs::zip::read_entry_mem(&zip[..e.data_offset as usize], e).is_err());
        }
    }
}

#[test]
fn read_entry_errors_name_the_entry() {
    let zip = build(&[(&full("a.go"), b"package a\n")], deflated());
    let good = modcachefs::zip::inspect(&zip, M, V).unwrap().entries.remove(0);
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&zip).unwrap();

    let cases = [
        (Entry { crc32: good.crc32 ^ 1, ..good.clone() }, "CRC-32 mismatch"),
        (Entry { size: 3, ..good.clone() }, "larger than the declared size"),
        (Entry { size: 30, ..good.clone() }, "smaller than declared"),
        (Entry { data_offset: 1 << 40, ..good.clone() }, "a.go"),
        (Entry { data_offset: u64::MAX, ..good.clone() }, "a.go"),
        (Entry { size: u64::MAX, ..good.clone() }, "over the module zip limit"),
        (Entry { method: 12, ..good.clone() }, "unsupported compression method"),
        (Entry { compressed_size: u64::MAX, ..good.clone() }, "a.go"),
    ];
    for (e, needle) in cases {
        for err in [
            modcachefs::zip::read_entry_mem(&zip, &e).unwrap_err(),
            modcachefs::zip::read_entry(&file, &e).unwrap_err(),
        ] {
            let msg = err.to_string();
            assert!(msg.contains("\"a.go\"") && msg.contains(needle), "{e:?}: {msg}");
        }
    }
}

#[test]
fn module_of_reads_first_entry() {
    let zip = build(&[("golang.org/x/text@v0.3.0/go.mod", b"module golang.org/x/text\n")], stored());
    assert_eq!(modcachefs::zip::module_of(&zip), Some(("golang.org/x/text".into(), "v0.3.0".into())));
    assert_eq!(modcachefs::zip::module_of(&build(&[("nothing-here", b"")], stored())), None);
    assert_eq!(modcachefs::zip::module_of(b"not a zip"), None);
}
