//! Resource limits through cgroups: which hierarchies exist (v2 or v1, per controller), making
//! one cgroup per sandbox with its memory, pids and CPU limits, killing everything in it and
//! removing it.
//!
//! The layout is `<mount>/<parent>/<session>`: under cgroup v2 one directory (the controllers
//! are enabled in `<parent>`'s `cgroup.subtree_control`), under v1 one directory in each of the
//! `memory`, `pids` and `cpu` hierarchies. The sandbox's first process joins them itself before
//! it executes anything (see `spawn`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::Limits;

/// One resource a cgroup can limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Controller {
    Memory,
    Pids,
    Cpu,
}

impl Controller {
    pub const ALL: [Controller; 3] = [Controller::Memory, Controller::Pids, Controller::Cpu];

    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
        }
    }
}

/// Where a controller's hierarchy is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    V1(PathBuf),
    V2(PathBuf),
}

/// The cgroup hierarchies found on this machine.
#[derive(Debug, Clone, Default)]
pub struct Cgroups {
    hierarchies: BTreeMap<Controller, Hierarchy>,
    /// The directory, relative to each mount, that holds the sandboxes' cgroups.
    parent: String,
}

/// The cgroups made for one sandbox.
#[derive(Debug, Default)]
pub struct SandboxCgroups {
    /// Every directory made (what `kill` and `remove` act on).
    pub dirs: Vec<PathBuf>,
    /// The controllers whose limit is in force.
    pub limited: Vec<Controller>,
}

impl Cgroups {
    /// Finds the mounted hierarchies from `/proc/self/mountinfo`. A controller available both
    /// in cgroup v2 and v1 is used through v2.
    pub fn detect(parent: &str) -> Cgroups {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut hierarchies = BTreeMap::new();
        for (fstype, mount, options) in parse_mountinfo(&mountinfo) {
            match fstype {
                "cgroup2" => {
                    let available = std::fs::read_to_string(mount.join("cgroup.controllers"))
                        .unwrap_or_default();
                    for controller in Controller::ALL {
                        if available.split_whitespace().any(|c| c == controller.name()) {
                            hierarchies.insert(controller, Hierarchy::V2(mount.clone()));
                        }
                    }
                }
                "cgroup" => {
                    for controller in Controller::ALL {
                        if options.split(',').any(|o| o == controller.name()) {
                            hierarchies
                                .entry(controller)
                                .or_insert(Hierarchy::V1(mount.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
        Cgroups {
            hierarchies,
            parent: parent.trim_matches('/').to_owned(),
        }
    }

    /// The hierarchy used for `controller`, if any.
    pub fn hierarchy(&self, controller: Controller) -> Option<&Hierarchy> {
        self.hierarchies.get(&controller)
    }

    /// The directories `name`'s cgroups have (or would have), existing or not.
    pub fn dirs_of(&self, name: &str) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for hierarchy in self.hierarchies.values() {
            let (Hierarchy::V1(mount) | Hierarchy::V2(mount)) = hierarchy;
            let dir = mount.join(&self.parent).join(name);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// Makes `name`'s cgroups and writes `limits` into them. A controller that cannot be used
    /// (not mounted, not writable) is left out of `limited`, with a warning; the caller falls
    /// back to rlimits for it.
    pub fn create(&self, name: &str, limits: &Limits) -> SandboxCgroups {
        let mut made = SandboxCgroups::default();
        for controller in Controller::ALL {
            if !limits.wants(controller) {
                continue;
            }
            let Some(hierarchy) = self.hierarchies.get(&controller) else {
                tracing::warn!(
                    controller = controller.name(),
                    "no cgroup hierarchy for this controller: falling back to rlimits"
                );
                continue;
            };
            match self.limit(hierarchy, controller, name, limits, &mut made.dirs) {
                Ok(()) => made.limited.push(controller),
                Err(err) => tracing::warn!(
                    controller = controller.name(),
                    "cannot use the cgroup ({err:#}): falling back to rlimits"
                ),
            }
        }
        made
    }

    fn limit(
        &self,
        hierarchy: &Hierarchy,
        controller: Controller,
        name: &str,
        limits: &Limits,
        dirs: &mut Vec<PathBuf>,
    ) -> anyhow::Result<()> {
        let dir = match hierarchy {
            Hierarchy::V1(mount) => mount.join(&self.parent).join(name),
            Hierarchy::V2(mount) => {
                enable_v2(mount, &self.parent, controller)?;
                mount.join(&self.parent).join(name)
            }
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        if !dirs.contains(&dir) {
            dirs.push(dir.clone());
        }
        let v2 = matches!(hierarchy, Hierarchy::V2(_));
        match (controller, v2) {
            (Controller::Memory, true) => {
                write(&dir, "memory.max", limits.memory_bytes)?;
                let _ = write(&dir, "memory.swap.max", 0);
            }
            (Controller::Memory, false) => {
                write(&dir, "memory.limit_in_bytes", limits.memory_bytes)?;
                // Without swap accounting this file does not exist; with it, no swap either.
                let _ = write(&dir, "memory.memsw.limit_in_bytes", limits.memory_bytes);
            }
            (Controller::Pids, _) => write(&dir, "pids.max", limits.pids)?,
            (Controller::Cpu, true) => write(
                &dir,
                "cpu.max",
                format!("{} {CPU_PERIOD_US}", limits.cpu_quota_us()),
            )?,
            (Controller::Cpu, false) => {
                write(&dir, "cpu.cfs_period_us", CPU_PERIOD_US)?;
                write(&dir, "cpu.cfs_quota_us", limits.cpu_quota_us())?;
            }
        }
        Ok(())
    }
}

/// The CPU accounting period; the quota is cores × this.
const CPU_PERIOD_US: u64 = 100_000;

impl Limits {
    fn cpu_quota_us(&self) -> u64 {
        ((self.cpu_cores * CPU_PERIOD_US as f64).round() as u64).max(1000)
    }
}

/// Makes `<mount>/<parent>` and enables `controller` for its children (v2 only lets a cgroup
/// use a controller its parent enabled in `cgroup.subtree_control`).
fn enable_v2(mount: &Path, parent: &str, controller: Controller) -> anyhow::Result<()> {
    let mut dir = mount.to_path_buf();
    for part in Path::new(parent).components() {
        let control = dir.join("cgroup.subtree_control");
        let enabled = std::fs::read_to_string(&control).unwrap_or_default();
        if !enabled.split_whitespace().any(|c| c == controller.name()) {
            std::fs::write(&control, format!("+{}", controller.name())).with_context(|| {
                format!("enabling {} in {}", controller.name(), control.display())
            })?;
        }
        dir.push(part);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let control = dir.join("cgroup.subtree_control");
    std::fs::write(&control, format!("+{}", controller.name()))
        .with_context(|| format!("enabling {} in {}", controller.name(), control.display()))
}

fn write(dir: &Path, file: &str, value: impl ToString) -> anyhow::Result<()> {
    let path = dir.join(file);
    std::fs::write(&path, value.to_string()).with_context(|| format!("writing {}", path.display()))
}

/// The pids in a cgroup directory.
pub fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// SIGKILLs every process in `dirs` until they are empty (or `timeout` passes).
pub async fn kill_all(dirs: &[PathBuf], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let mut left = false;
        for dir in dirs {
            if !dir.exists() {
                continue;
            }
            // cgroup v2 (5.14+) kills the whole tree in one write.
            let _ = std::fs::write(dir.join("cgroup.kill"), "1");
            for pid in procs(dir) {
                left = true;
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if !left || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Removes the (empty) cgroup directories, retrying while the killed processes finish exiting.
pub async fn remove_all(dirs: &[PathBuf], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for dir in dirs {
        loop {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => break,
                Err(err) if Instant::now() > deadline => {
                    tracing::warn!("cannot remove cgroup {}: {err}", dir.display());
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

/// `(fstype, mount point, super options)` of each line of a mountinfo file.
fn parse_mountinfo(text: &str) -> impl Iterator<Item = (&str, PathBuf, &str)> {
    text.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mount = left.split(' ').nth(4)?;
        let mut right = right.split(' ');
        let fstype = right.next()?;
        let _source = right.next()?;
        let options = right.next().unwrap_or("");
        Some((fstype, PathBuf::from(mount), options))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_type_mount_and_options() {
        let text = "\
35 24 0:30 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
36 24 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
37 24 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
38 24 8:1 / / rw - ext4 /dev/vda rw";
        let parsed: Vec<_> = parse_mountinfo(text).collect();
        assert_eq!(parsed.len(), 4);
        assert_eq!(
            parsed[1],
            (
                "cgroup",
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
                "rw,cpu,cpuacct"
            )
        );
        assert_eq!(parsed[2].0, "cgroup2");
    }

    #[test]
    fn cpu_quota_is_cores_times_the_period() {
        let limits = Limits {
            memory_bytes: 0,
            pids: 0,
            cpu_cores: 1.5,
            tmp_bytes: 0,
        };
        assert_eq!(limits.cpu_quota_us(), 150_000);
    }
}
