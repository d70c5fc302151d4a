// Finds the real Spin CLI for the tests that run on both hosts. Plain `std` only, with no
// inner doc comment, so the build scripts of the test crates include this very file
// (`#[path] mod`) to set the `spin_cli` cfg, and the tests find the same binary at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The oldest Spin that serves spin-sdk 7 (WASI 0.3) components; 4.0 refuses them.
pub const MIN_SPIN: (u64, u64) = (4, 1);

/// The environment variable that names the Spin binary (else `spin` on `PATH`).
pub const SPIN_BIN_ENV: &str = "SPIN_BIN";

/// The Spin CLI to test against: `$SPIN_BIN`, else `spin` on `PATH`, if it is Spin 4.1 or
/// later. `Err` says, in one line, why there is none.
pub fn find_spin() -> Result<PathBuf, String> {
    let candidate = match std::env::var_os(SPIN_BIN_ENV).filter(|v| !v.is_empty()) {
        Some(bin) => PathBuf::from(bin),
        None => on_path("spin").ok_or_else(|| {
            format!("the real Spin CLI was not found ({SPIN_BIN_ENV} unset, no `spin` on PATH)")
        })?,
    };
    let output = Command::new(&candidate)
        .arg("--version")
        .output()
        .map_err(|e| format!("{} --version failed: {e}", candidate.display()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    match parse_spin_version(&text) {
        Some(v) if v >= MIN_SPIN => Ok(candidate),
        Some((major, minor)) => Err(format!(
            "{} is Spin {major}.{minor}; the tests need {}.{} or later",
            candidate.display(),
            MIN_SPIN.0,
            MIN_SPIN.1
        )),
        None => Err(format!(
            "{} --version printed {:?}, not a Spin version",
            candidate.display(),
            text.trim()
        )),
    }
}

/// `(major, minor)` of `spin --version` output such as `spin 4.1.0-pre0 (94a8fc8a 2026-08-21)`.
pub fn parse_spin_version(text: &str) -> Option<(u64, u64)> {
    let version = text
        .trim()
        .strip_prefix("spin ")?
        .split_whitespace()
        .next()?;
    let mut parts = version.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// For the build script of a crate whose tests use `#[each_host]`: sets the `spin_cli` cfg
/// when [`find_spin`] finds Spin, says in one warning line when it does not, and asks cargo
/// to look again when `SPIN_BIN` or `PATH` change.
#[allow(dead_code)] // used by the build scripts that include this file
pub fn emit_build_cfg() {
    println!("cargo::rustc-check-cfg=cfg(spin_cli)");
    println!("cargo::rerun-if-env-changed={SPIN_BIN_ENV}");
    println!("cargo::rerun-if-env-changed=PATH");
    match find_spin() {
        Ok(spin) => {
            println!("cargo::rerun-if-changed={}", spin.display());
            println!("cargo::rustc-cfg=spin_cli");
        }
        Err(why) => println!("cargo::warning={why}: the tests on the real Spin are skipped"),
    }
}
