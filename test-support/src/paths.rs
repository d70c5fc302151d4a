//! Where the workspace and its build artifacts are.

use std::path::{Path, PathBuf};

/// The workspace root (the directory of the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support lives one level below the workspace root")
        .to_path_buf()
}

/// The directory of the current test executable's profile, e.g. `<target>/debug` (or
/// `<target>/<triple>/debug`). Cargo puts test executables in its `deps/` subdirectory (and
/// examples, such as the benchmarks, in `examples/`) and the
/// workspace's binaries in the directory itself; this follows `CARGO_TARGET_DIR` by
/// construction.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the current test executable");
    let dir = exe.parent().expect("an executable lives in a directory");
    if dir
        .file_name()
        .is_some_and(|name| name == "deps" || name == "examples")
    {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// Cargo's target directory (the one holding `CACHEDIR.TAG`), found from the current test
/// executable, so it matches whatever `CARGO_TARGET_DIR` the tests were built with.
pub fn target_dir() -> PathBuf {
    let profile = profile_dir();
    profile
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .or_else(|| profile.parent().map(Path::to_path_buf))
        .unwrap_or(profile)
}

/// Path of the workspace binary `name` built with the same profile as the running test (e.g.
/// `<target>/debug/terminal-bridge`).
///
/// Inside the package that defines the binary, prefer `env!("CARGO_BIN_EXE_<name>")`; this is for
/// tests of other packages, which cargo does not build that binary for.
///
/// # Panics
/// If the binary has not been built, with a message saying how to build it.
pub fn binary(name: &str) -> PathBuf {
    let path = profile_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "binary `{name}` not found at {}. Build the workspace binaries first \
         (`cargo build --bins` with the same profile and CARGO_TARGET_DIR), or run every test \
         with `scripts/test`, which does.",
        path.display()
    );
    path
}

/// Path of the Spin component `name` (crate name, `-` becoming `_`) built by
/// `cargo build --target wasm32-wasip2 --release -p <name>`.
///
/// # Panics
/// If it has not been built, with a message saying how to build it.
pub fn wasm_component(name: &str) -> PathBuf {
    let file = format!("{}.wasm", name.replace('-', "_"));
    let path = target_dir()
        .join("wasm32-wasip2")
        .join("release")
        .join(file);
    assert!(
        path.is_file(),
        "component `{name}` not found at {}. Build the components first \
         (`cargo build --target wasm32-wasip2 --release -p {name}` with the same \
         CARGO_TARGET_DIR), or run every test with `scripts/test`, which does.",
        path.display()
    );
    path
}

/// The repository's `spin.toml` with its `source = "target/wasm32-wasip2/release/..."` paths
/// pointing into this build's target directory, so the deployed manifest can be served wherever
/// the build is.
///
/// # Panics
/// If `spin.toml` cannot be read.
pub fn spin_manifest() -> String {
    let text =
        std::fs::read_to_string(workspace_root().join("spin.toml")).expect("reading spin.toml");
    let release = target_dir().join("wasm32-wasip2").join("release");
    text.replace(
        "source = \"target/wasm32-wasip2/release/",
        &format!("source = \"{}/", release.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }

    #[test]
    fn target_dir_contains_the_running_test() {
        let exe = std::env::current_exe().unwrap();
        assert!(exe.starts_with(target_dir()));
        assert!(target_dir().join("CACHEDIR.TAG").is_file());
    }

    #[test]
    #[should_panic(expected = "scripts/test")]
    fn missing_binary_panics_with_instructions() {
        binary("no-such-binary-in-this-workspace");
    }
}
