//! The host binds `spin:postgres` and `spin:variables` against copies of the WIT files
//! that spin-sdk ships (`wit/deps/`). This checks the copies are still byte-identical to
//! the files of the spin-sdk version in `Cargo.lock`, so an SDK upgrade that changes an
//! interface fails here instead of at instantiation. Skipped (with a message) only when
//! that spin-sdk's sources are not in the local cargo registry.

use std::path::{Path, PathBuf};

/// Our copies, relative to `wit/deps/` here and in spin-sdk.
const COPIES: &[&str] = &[
    "spin-postgres@4.2.0/postgres.wit",
    "spin-variables@3.0.0/variables.wit",
];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The spin-sdk version the workspace's `Cargo.lock` resolved.
fn locked_spin_sdk_version() -> String {
    let lock_path = manifest_dir().join("../../Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", lock_path.display()));
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"spin-sdk\"" {
            let version = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \"")?.strip_suffix('"'));
            return version
                .expect("a version line after the spin-sdk name in Cargo.lock")
                .to_owned();
        }
    }
    panic!("Cargo.lock has no spin-sdk package");
}

/// `$CARGO_HOME/registry/src/*/spin-sdk-<version>`, if downloaded.
fn spin_sdk_sources(version: &str) -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    let registries = std::fs::read_dir(cargo_home.join("registry/src")).ok()?;
    registries
        .filter_map(Result::ok)
        .map(|index| index.path().join(format!("spin-sdk-{version}")))
        .find(|dir| dir.join("wit").is_dir())
}

#[test]
fn wit_copies_match_spin_sdk() {
    let version = locked_spin_sdk_version();
    let Some(sdk) = spin_sdk_sources(&version) else {
        eprintln!(
            "SKIPPED: spin-sdk {version} sources are not in the cargo registry \
             (run `cargo fetch` to check the WIT copies against them)"
        );
        return;
    };
    for copy in COPIES {
        let ours = manifest_dir().join("wit/deps").join(copy);
        let theirs = sdk.join("wit/deps").join(copy);
        let ours_bytes =
            std::fs::read(&ours).unwrap_or_else(|e| panic!("reading {}: {e}", ours.display()));
        let theirs_bytes = std::fs::read(&theirs).unwrap_or_else(|e| {
            panic!(
                "spin-sdk {version} no longer ships {copy} ({e}): the interface version changed; \
                 copy the new WIT into wit/deps/ and update the host's bindings"
            )
        });
        assert!(
            ours_bytes == theirs_bytes,
            "{} differs from {}: spin-sdk {version} changed the interface; copy it again and \
             update the host's bindings",
            ours.display(),
            theirs.display()
        );
    }
}
