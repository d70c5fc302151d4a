//! A small seccomp filter for bwrap's `--seccomp`: a classic-BPF program that makes a list of
//! rarely needed, often exploited system calls fail with `EPERM` and allows everything else
//! (a deny list in the spirit of Docker's default profile, much shorter). It narrows the
//! shared kernel's attack surface; it is no substitute for gVisor.
//!
//! Syscall numbers come from `libc` for the target the bridge is built for, so the filter
//! matches the architecture it runs on; any other architecture's calls (e.g. 32-bit ones) are
//! refused outright.

/// System calls the sandbox gets `EPERM` for. Most also need capabilities the sandbox lacks;
/// the filter keeps their kernel code unreachable all the same.
const DENIED: &[libc::c_long] = &[
    // Kernel keyrings, eBPF, perf, userfaultfd, io_uring: frequent sources of kernel exploits.
    libc::SYS_add_key,
    libc::SYS_keyctl,
    libc::SYS_request_key,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    // Namespaces and mounts: the sandbox's view of the system is fixed.
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    // Whole-machine operations.
    libc::SYS_reboot,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_syslog,
    // File handles bypass path permissions; other processes' memory.
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_lookup_dcookie,
];

/// `AUDIT_ARCH_*` of the build target.
#[cfg(target_arch = "x86_64")]
const ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const ARCH: u32 = 0xc000_00b7;

// Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
/// Offsets in `struct seccomp_data`.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
/// x86-64's x32 ABI marks its system call numbers with this bit.
const X32_BIT: u32 = 0x4000_0000;

/// One `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// The program's instructions.
fn program() -> Vec<Insn> {
    let mut p = vec![
        insn(LD_W_ABS, 0, 0, OFFSET_ARCH),
        insn(JEQ_K, 1, 0, ARCH),
        insn(RET_K, 0, 0, RET_KILL_PROCESS),
        insn(LD_W_ABS, 0, 0, OFFSET_NR),
    ];
    // Every check jumps forward to the final "deny"; `left` counts the instructions between.
    let checks = DENIED.len() + usize::from(cfg!(target_arch = "x86_64"));
    let mut left = checks; // the checks after this one, plus the "allow"
    if cfg!(target_arch = "x86_64") {
        left -= 1;
        p.push(insn(JGE_K, jump(left + 1), 0, X32_BIT));
    }
    for &nr in DENIED {
        left -= 1;
        p.push(insn(JEQ_K, jump(left + 1), 0, nr as u32));
    }
    p.push(insn(RET_K, 0, 0, RET_ALLOW));
    p.push(insn(RET_K, 0, 0, RET_ERRNO | libc::EPERM as u32));
    p
}

fn jump(distance: usize) -> u8 {
    u8::try_from(distance).expect("the deny list fits in a BPF jump")
}

/// The program as bwrap reads it: the `struct sock_filter` array in native byte order.
pub fn filter() -> Vec<u8> {
    let mut out = Vec::new();
    for i in program() {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program like the kernel would for `(arch, nr)`.
    fn run(arch: u32, nr: u32) -> u32 {
        let p = program();
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = p[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => acc = if i.k == OFFSET_ARCH { arch } else { nr },
                JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                JGE_K => pc += usize::from(if acc >= i.k { i.jt } else { i.jf }),
                RET_K => return i.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn denies_the_list_and_allows_the_rest() {
        let eperm = RET_ERRNO | libc::EPERM as u32;
        for &nr in DENIED {
            assert_eq!(run(ARCH, nr as u32), eperm, "syscall {nr}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_clone,
            libc::SYS_execve,
        ] {
            assert_eq!(run(ARCH, nr as u32), RET_ALLOW, "syscall {nr}");
        }
        assert_eq!(run(0x4000_0003, libc::SYS_read as u32), RET_KILL_PROCESS);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(run(ARCH, X32_BIT | 1), eperm);
        }
        assert_eq!(filter().len(), program().len() * 8);
    }
}
