//! Checks of the host's directories: bwrap runs as the sandbox's unprivileged uid and resolves
//! the paths it binds, so those paths must be reachable by a uid that owns none of them.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The first directory above `path` (or `path` itself) that users other than its owner
/// cannot pass through.
pub fn unreachable_dir(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .filter(|dir| {
            std::fs::metadata(dir).map_or(true, |meta| meta.permissions().mode() & 0o001 == 0)
        })
        .last()
        .map(Path::to_path_buf)
}

/// `agent` if sandboxes can reach and execute it, else a copy in the sandbox directory.
pub fn reachable_agent(agent: &Path, sandbox_dir: &Path) -> anyhow::Result<PathBuf> {
    let executable =
        std::fs::metadata(agent).is_ok_and(|meta| meta.permissions().mode() & 0o001 != 0);
    let dir = agent.parent().unwrap_or(Path::new("/"));
    if executable && unreachable_dir(dir).is_none() {
        return Ok(agent.to_path_buf());
    }
    let bin = sandbox_dir.join(".bin");
    std::fs::create_dir_all(&bin)?;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o711))?;
    let copy = bin.join("pod-agent");
    let tmp = bin.join(format!("pod-agent.{}", std::process::id()));
    std::fs::copy(agent, &tmp).with_context(|| format!("copying {}", agent.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, &copy)?;
    tracing::info!(
        "sandboxes cannot reach {}: using a copy at {}",
        agent.display(),
        copy.display()
    );
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_parent_makes_a_directory_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private");
        let inner = private.join("sandboxes");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o711)).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(unreachable_dir(&inner), Some(private.clone()));
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o711)).unwrap();
        assert_eq!(unreachable_dir(&inner), None);
    }

    #[test]
    fn an_unreachable_agent_is_copied_into_the_sandbox_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let hidden = dir.path().join("hidden");
        std::fs::create_dir(&hidden).unwrap();
        std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o700)).unwrap();
        let agent = hidden.join("pod-agent");
        std::fs::write(&agent, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
        let copy = reachable_agent(&agent, dir.path()).unwrap();
        assert_eq!(copy, dir.path().join(".bin/pod-agent"));
        assert_eq!(std::fs::read(&copy).unwrap(), b"#!/bin/sh\n");
        std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(reachable_agent(&agent, dir.path()).unwrap(), agent);
    }
}
