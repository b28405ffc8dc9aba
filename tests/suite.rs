//! What a plain `cargo test` runs, and what it leaves to `scripts/test`.
//!
//! A plain `cargo test` on a fresh checkout runs the unit tests, the zip rules
//! (tests/zip_rules.rs) and the in-process tests of the core (tests/core.rs):
//! no FUSE, no `go`, no corpus, no root. The real-mount suite (real mounts, both
//! Go versions, the corpus, `nobody`) is behind the cargo feature `integration`,
//! which `scripts/test` (and so `.ci/run`) turns on. The test below keeps that
//! split honest: every test file that needs the real environment is gated, so a
//! plain `cargo test` keeps passing, and the script really runs them.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Calls into tests/common that need the real environment: they panic (loudly,
/// naming `scripts/test`) where it is missing.
const NEEDS_REAL_ENV: &[&str] = &[
    "corpus()",
    "proxy()",
    "corpus_store(",
    "app_copy(",
    "gos()",
    "go_old()",
    "Mount::new(",
    "as_nobody(",
    "setpriv_nobody(",
    "fusermount3",
    "Serve::start(",
];

/// The `[[test]]` targets of Cargo.toml that require the feature `integration`.
fn gated_targets(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    for block in manifest.split("\n[").filter(|b| b.starts_with("[test]]")) {
        let name = block.lines().find_map(|l| l.trim().strip_prefix("name = ")).map(|n| n.trim_matches('"'));
        let gated = block.lines().any(|l| l.trim().starts_with("required-features") && l.contains("\"integration\""));
        if let (Some(name), true) = (name, gated) {
            out.push(name.to_string());
        }
    }
    out
}

#[test]
fn real_mount_suite_needs_scripts_test_or_feature_integration() {
    let read = |rel: &str| std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let gated = gated_targets(&read("Cargo.toml"));
    assert!(gated.iter().any(|t| t == "mount"), "Cargo.toml gates no `mount` test target: {gated:?}");
    let mut ungated = Vec::new();
    for e in std::fs::read_dir(Path::new(ROOT).join("tests")).expect("tests/") {
        let p = e.expect("entry").path();
        let Some(stem) = p.file_stem().and_then(|s| s.to_str()).filter(|_| p.extension().is_some_and(|x| x == "rs"))
        else {
            continue;
        };
        let src = std::fs::read_to_string(&p).expect("read test file");
        let self_gated = src.contains("#![cfg(feature = \"integration\")]");
        let needs: Vec<&str> = NEEDS_REAL_ENV.iter().copied().filter(|n| src.contains(n)).collect();
        if !needs.is_empty() && !self_gated && !gated.iter().any(|t| t == stem) && stem != "suite" {
            ungated.push(format!("tests/{stem}.rs (calls {})", needs.join(", ")));
        }
    }
    assert!(
        ungated.is_empty(),
        "these test files need the real-mount environment but a plain `cargo test` would build and run them; \
         add a [[test]] entry with required-features = [\"integration\"] to Cargo.toml:\n{}",
        ungated.join("\n")
    );
    // The script runs the gated suite, and CI runs the script.
    let script = read("scripts/test");
    assert!(
        script.lines().any(|l| l.starts_with("cargo test") && l.contains("--features integration")),
        "scripts/test does not run `cargo test --features integration`:\n{script}"
    );
    assert!(read(".ci/run").lines().any(|l| l.trim() == "scripts/test"), ".ci/run does not run scripts/test");
    if cfg!(not(feature = "integration")) {
        eprintln!(
            "note: the real-mount suite ({} test binaries: {}) was not built; run it with scripts/test",
            gated.len(),
            gated.join(", ")
        );
    }
}
