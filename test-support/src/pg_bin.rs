//! Finds the PostgreSQL server binaries.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Environment variable naming a directory holding `initdb`, `pg_ctl` and `postgres`; overrides
/// the search below (e.g. to test against another major version).
pub const PG_BINDIR_ENV: &str = "PG_BINDIR";

/// The directory of `initdb`, `pg_ctl`, `postgres` and `psql`: `$PG_BINDIR` when set, else the
/// directory of the `initdb` found on `PATH` (symlinks resolved, so the other tools of the same
/// installation are used), else the highest version under `/usr/lib/postgresql/*/bin` (Debian's
/// layout, which does not put `initdb` on `PATH`).
pub fn pg_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(PG_BINDIR_ENV) {
        let dir = PathBuf::from(dir);
        if !dir.join("initdb").is_file() {
            bail!("{PG_BINDIR_ENV}={} holds no initdb", dir.display());
        }
        return Ok(dir);
    }
    if let Some(initdb) = find_on_path("initdb") {
        let real = std::fs::canonicalize(&initdb)
            .with_context(|| format!("resolving {}", initdb.display()))?;
        if let Some(dir) = real.parent() {
            return Ok(dir.to_path_buf());
        }
    }
    if let Some(dir) = highest_debian_version(Path::new("/usr/lib/postgresql")) {
        return Ok(dir);
    }
    bail!(
        "PostgreSQL server binaries not found: no initdb on PATH or under \
         /usr/lib/postgresql/*/bin. Install PostgreSQL 15 (Debian: `apt-get install postgresql`), \
         set {PG_BINDIR_ENV}, or run `scripts/test`, which installs it when run as root."
    )
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `<root>/<major>/bin` with the highest numeric `<major>` that has an `initdb`.
fn highest_debian_version(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = version_key(&entry.file_name().to_string_lossy())?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// "15" -> [15], "9.6" -> [9, 6]; None for names that are not versions.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_key("15") > version_key("9.6"));
        assert!(version_key("16") > version_key("15"));
        assert_eq!(version_key("common"), None);
    }

    #[test]
    fn picks_the_highest_debian_version() {
        let root = tempfile::tempdir().unwrap();
        for version in ["9.6", "15", "13", "common"] {
            let bin = root.path().join(version).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("initdb"), "").unwrap();
        }
        // A newer version without initdb (only the client installed) does not count.
        std::fs::create_dir_all(root.path().join("17/bin")).unwrap();
        assert_eq!(
            highest_debian_version(root.path()),
            Some(root.path().join("15/bin"))
        );
    }
}
