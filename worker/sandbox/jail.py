"""What one sandboxed job does to itself between ``fork()`` and the student's first line.

Runs in the fork server's child. Order matters (SANDBOX.md's traps):
session and cgroup slot first, then new mount/PID/IPC/UTS namespaces (a second
fork makes the student PID 1 of its namespace, so killing it kills everything it
started), private size-limited tmpfs and the project's trees hidden, a fresh
``/proc``, rlimits, the slot's unprivileged uid with the parent-death signal
re-armed (the kernel clears it on a uid change), ``no_new_privs``, Landlock,
only the channel descriptors, and the seccomp filter last.

Every layer the server reported as available is mandatory here: if one fails
the job exits with :data:`SETUP_FAILED` and says why on its stderr, rather than
run student code with less protection than ``grader doctor`` promised.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.sandbox import linux

SETUP_FAILED = 121
UID_BASE = 61000


@dataclass
class JailConfig:
    """Decided once by the fork server; every job applies the same layers."""

    unprivileged: bool = False  # the server is not root: it runs in a user namespace of its own
    # True: the server forks each job as PID 1 of a fresh PID namespace (one fork). False (in a user
    # namespace, where setns on the server's own PID namespace is refused): the job unshares its PID
    # namespace itself and forks PID 1, then waits for it and exits the same way.
    server_pid_ns: bool = True
    namespaces: bool = True
    cgroups: "CgroupSlots | None" = None
    drop_uid: bool = True
    landlock_abi: int = 0
    seccomp: bool = True
    hide: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    uid_base: int = UID_BASE

    def layers(self) -> dict[str, bool | int]:
        extra: dict[str, bool | int] = {"user namespace (not root)": self.namespaces} if self.unprivileged else {}
        return extra | {
            "network namespace (empty)": True,
            "own session": True,
            "mount/PID/IPC/UTS namespaces": self.namespaces,
            "private tmpfs, project trees hidden, fresh /proc": self.namespaces,
            "cgroup slot (memory, pids)": self.cgroups is not None,
            "unprivileged per-slot uid": self.drop_uid,
            "parent-death signal": True,
            "no_new_privs": True,
            "landlock": self.landlock_abi,
            "seccomp filter": self.seccomp,
            "rlimits": True,
        }


# --------------------------------------------------------------------------- cgroups


class CgroupSlots:
    """One memory + pids cgroup per slot, under ``grader/`` (v1 hierarchy or v2 unified)."""

    def __init__(self, base: str = "/sys/fs/cgroup", name: str = "cs231n-grader"):
        self.v2 = os.path.exists(os.path.join(base, "cgroup.controllers")) and not os.path.isdir(
            os.path.join(base, "memory"))
        if self.v2:
            self.roots = {"unified": os.path.join(base, name)}
        else:
            self.roots = {"memory": os.path.join(base, "memory", name), "pids": os.path.join(base, "pids", name)}
        for root in self.roots.values():
            os.makedirs(root, exist_ok=True)
        self._oom_baseline: dict[int, int] = {}
        if self.v2:
            _write(os.path.join(self.roots["unified"], "cgroup.subtree_control"), "+memory +pids")

    def dirs(self, slot: int) -> dict[str, str]:
        return {k: os.path.join(root, f"slot-{slot}") for k, root in self.roots.items()}

    def prepare(self, slot: int, memory_bytes: int, pids: int) -> None:
        """Make the slot's cgroups exist with these limits and remember its OOM count (called before each job).

        The limits are written every time: slots are shared by every sandbox server on the machine (one per
        worker process), so what this server wrote last may since have been overwritten by another."""
        self.kill_all(slot)
        for kind, d in self.dirs(slot).items():
            os.makedirs(d, exist_ok=True)
            if self.v2:
                _write(os.path.join(d, "memory.max"), str(memory_bytes))
                _write(os.path.join(d, "memory.swap.max"), "0", missing_ok=True)
                _write(os.path.join(d, "pids.max"), str(pids))
            elif kind == "memory":
                # memsw (memory + swap) must be raised after and lowered before the memory limit.
                _write(os.path.join(d, "memory.memsw.limit_in_bytes"), "-1", missing_ok=True)
                _write(os.path.join(d, "memory.limit_in_bytes"), str(memory_bytes))
                _write(os.path.join(d, "memory.memsw.limit_in_bytes"), str(memory_bytes), missing_ok=True)
            else:
                _write(os.path.join(d, "pids.max"), str(pids))
        self._oom_baseline[slot] = self._oom_kills(slot)

    def limits(self, slot: int) -> tuple[int, int]:
        """The slot's (memory bytes, pids) limits as the kernel has them now."""
        d = self.dirs(slot)
        if self.v2:
            memory = Path(d["unified"], "memory.max").read_text().strip()
            pids = Path(d["unified"], "pids.max").read_text().strip()
        else:
            memory = Path(d["memory"], "memory.limit_in_bytes").read_text().strip()
            pids = Path(d["pids"], "pids.max").read_text().strip()
        return int(memory), int(pids)

    def join(self, slot: int, pid: int | None = None) -> None:
        """Move ``pid`` (default: this process) into the slot. The server moves each job before the job is
        given its channel, so the job itself never needs to see /sys/fs/cgroup (hidden from it)."""
        for d in self.dirs(slot).values():
            _write(os.path.join(d, "cgroup.procs"), str(pid or os.getpid()))

    def _oom_kills(self, slot: int) -> int:
        d = self.dirs(slot)
        path = Path(d["unified"], "memory.events") if self.v2 else Path(d["memory"], "memory.oom_control")
        try:
            for line in path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def oom(self, slot: int) -> bool:
        """Did the kernel's OOM killer kill something in the slot since :meth:`prepare`?"""
        return self._oom_kills(slot) > self._oom_baseline.get(slot, 0)

    def pids(self, slot: int) -> list[int]:
        out: set[int] = set()
        for d in self.dirs(slot).values():
            try:
                out.update(int(p) for p in Path(d, "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(out)

    def kill_all(self, slot: int) -> None:
        """SIGKILL whatever is left in the slot (nothing should be: PID 1 of the job's namespace took it along)."""
        if self.v2:
            _write(os.path.join(self.dirs(slot)["unified"], "cgroup.kill"), "1", missing_ok=True)
        for _ in range(3):
            pids = self.pids(slot)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _write(path: str, value: str, missing_ok: bool = False) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except FileNotFoundError:
        if not missing_ok:
            raise
    except OSError as exc:
        if not (missing_ok and exc.errno in (errno.EINVAL, errno.EACCES, errno.EPERM)):
            raise


# --------------------------------------------------------------------------- seccomp

# The filter is an allowlist: the system calls a job running Python and numpy needs (measured with
# strace on gradings of every assignment, plus what the standard library's file, time and signal
# functions use), and nothing else. Everything not named here fails with ENOSYS ("Function not
# implemented"), so a system call added to a future kernel is denied by default.
ALLOWED_SYSCALLS = [
    # memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mbind", "get_mempolicy",
    # descriptors and files (inside the job's private, size-limited tmpfs and read-only trees)
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
    "open", "openat", "creat", "close", "close_range", "lseek", "dup", "dup2", "dup3", "pipe", "pipe2",
    "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2",
    "getdents64", "readlink", "readlinkat", "getcwd", "chdir", "fchdir", "umask",
    "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "ftruncate", "truncate", "fallocate", "fsync", "fdatasync", "fadvise64", "sendfile", "copy_file_range",
    "chmod", "fchmod", "fchmodat", "utimensat", "symlink", "symlinkat", "link", "linkat",
    "select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait", "epoll_pwait2",
    # time and signals (its own process only: a PID namespace of one)
    "clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
    "getitimer", "setitimer", "alarm", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
    "rt_sigtimedwait", "rt_sigsuspend", "sigaltstack", "pause", "kill", "tgkill", "tkill", "restart_syscall",
    # identity and limits, read only (prlimit64 can only lower: the hard limits are set)
    "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
    "getgroups", "getpgrp", "getpgid", "getsid", "uname", "sysinfo", "getrusage", "times", "prlimit64",
    "getrlimit", "sched_getaffinity", "sched_yield", "getcpu", "getrandom",
    # threads' bookkeeping (creating a thread is refused: clone)
    "futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
    # waiting for children it cannot have
    "wait4", "waitid",
    "exit", "exit_group",
]
# Allowed only with these arguments (the rest of each call's operations fall to the default).
ALLOWED_IOCTLS = {"TCGETS": 0x5401, "TIOCGWINSZ": 0x5413, "FIONREAD": 0x541B, "FIONBIO": 0x5421,
                  "FIONCLEX": 0x5450, "FIOCLEX": 0x5451}
# fcntl without record locks, leases or directory notifications: those reach other jobs through files
# every job can read (the interpreter's), a channel between concurrent jobs.
ALLOWED_FCNTLS = {"F_DUPFD": 0, "F_GETFD": 1, "F_SETFD": 2, "F_GETFL": 3, "F_SETFL": 4, "F_DUPFD_CLOEXEC": 1030,
                  "F_GETPIPE_SZ": 1032}
# prctl: names, read-only queries and PR_SET_DUMPABLE (only lets the job read its own /proc files: it is
# alone in its PID namespace and ptrace is refused). Not PR_SET_PDEATHSIG (a job must die with the
# server), not PR_SET_PTRACER, PR_SET_MM, PR_SET_CHILD_SUBREAPER, ...
ALLOWED_PRCTLS = {"PR_GET_PDEATHSIG": 2, "PR_GET_DUMPABLE": 3, "PR_SET_DUMPABLE": 4, "PR_SET_NAME": 15,
                  "PR_GET_NAME": 16,
                  "PR_GET_SECCOMP": 21, "PR_CAPBSET_READ": 23, "PR_GET_TIMERSLACK": 30,
                  "PR_GET_CHILD_SUBREAPER": 37, "PR_GET_NO_NEW_PRIVS": 39, "PR_GET_THP_DISABLE": 42,
                  "PR_SET_VMA": 0x53564D41}
PR_SET_PDEATHSIG = 1
TIOCSTI = 0x5412
TIOCLINUX = 0x541C

# Named here so the student gets a clear PermissionError ("Operation not permitted") rather than ENOSYS.
DENIED_SYSCALLS = [
    # network
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    # new processes and programs
    "fork", "vfork", "clone", "execve", "execveat",
    # other processes' memory and descriptors
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_open", "pidfd_getfd",
    # namespaces and mounts
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
    # kernel attack surface
    "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "keyctl", "add_key", "request_key",
    "userfaultfd", "perf_event_open", "fanotify_init", "name_to_handle_at", "open_by_handle_at",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "syslog", "settimeofday", "clock_settime", "adjtimex",
    "sethostname", "setdomainname", "iopl", "ioperm", "mknod", "mknodat", "personality",
    # identity
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
    "capset",
    # channels between concurrent jobs: locks and change notifications on files they all can read, and
    # page-cache residency of shared files
    "flock", "inotify_init", "inotify_init1", "inotify_add_watch", "mincore",
]


def build_seccomp_filter() -> bytes:
    """Compile the filter once in the server (pyseccomp: ctypes bindings of libseccomp) and return the
    BPF program; each job installs it with :func:`linux.seccomp_load_bpf`."""
    import tempfile

    import pyseccomp as seccomp

    f = seccomp.SyscallFilter(seccomp.ERRNO(errno.ENOSYS))

    def rule(action: Any, name: str, *args: Any) -> None:
        try:
            f.add_rule(action, name, *args)
        except (RuntimeError, ValueError, OSError):
            pass  # a syscall this architecture does not have

    for name in ALLOWED_SYSCALLS:
        rule(seccomp.ALLOW, name)
    for name in DENIED_SYSCALLS:
        rule(seccomp.ERRNO(errno.EPERM), name)
    # glibc falls back from clone3 to clone on ENOSYS (the default), which is denied above.
    for request in ALLOWED_IOCTLS.values():
        f.add_rule(seccomp.ALLOW, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request))
    for command in ALLOWED_FCNTLS.values():
        f.add_rule(seccomp.ALLOW, "fcntl", seccomp.Arg(1, seccomp.EQ, command))
    for option in ALLOWED_PRCTLS.values():
        f.add_rule(seccomp.ALLOW, "prctl", seccomp.Arg(0, seccomp.EQ, option))
    f.add_rule(seccomp.ERRNO(errno.EPERM), "prctl", seccomp.Arg(0, seccomp.EQ, PR_SET_PDEATHSIG))
    for request in (TIOCSTI, TIOCLINUX):  # faking terminal input: named, for a clear PermissionError
        f.add_rule(seccomp.ERRNO(errno.EPERM), "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request))
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()


# --------------------------------------------------------------------------- the job


def _mount_tmpfs(target: str, size_bytes: int, mode: str = "1777", readonly: bool = False) -> None:
    flags = linux.MS_NOSUID | linux.MS_NODEV | (linux.MS_RDONLY if readonly else 0)
    linux.mount("tmpfs", target, "tmpfs", flags, f"size={max(size_bytes, 4096)},mode={mode}")


STAGING_CANDIDATES = ("/mnt", "/media", "/srv", "/opt", "/boot")
SYSTEM_READ_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc", "/proc", "/sys",
                     "/dev", "/tmp", "/var/tmp", "/dev/shm")
TMP_DIRS = ("/tmp", "/dev/shm", "/var/tmp")


def _cover_trees(hide: list[str], keep: list[str], tmp_bytes: int) -> None:
    """Cover each hidden tree with an empty read-only tmpfs and each temp directory with a private
    size-limited one, re-exposing the ``keep`` paths inside them read-only (so a virtualenv inside
    the project directory, or under /tmp, still works)."""
    stage_root = next((p for p in STAGING_CANDIDATES if os.path.isdir(p)), None)
    if stage_root is None:
        raise OSError(errno.ENOENT, "no directory to stage mounts on")
    _mount_tmpfs(stage_root, 1 << 20, mode="0700")
    candidates = [(os.path.realpath(h), False) for h in hide if os.path.isdir(h)]
    candidates += [(t, True) for t in TMP_DIRS if os.path.isdir(t)]
    covers: list[tuple[str, bool]] = []
    for target, writable in sorted(set(candidates), key=lambda c: len(c[0])):
        # A tree inside one already covered is hidden with it (and its mount point is gone).
        if not any((target + "/").startswith(done + "/") for done, _ in covers):
            covers.append((target, writable))
    keep_real = [os.path.realpath(k) for k in keep if os.path.isdir(k)]
    for i, (target, writable) in enumerate(covers):
        if os.path.realpath(stage_root) == target:
            continue
        staged = []
        for j, k in enumerate(p for p in keep_real if (p + "/").startswith(target + "/")):
            stage = os.path.join(stage_root, f"keep-{i}-{j}")
            os.mkdir(stage)
            linux.mount(k, stage, None, linux.MS_BIND | linux.MS_REC)
            staged.append((stage, k))
        _mount_tmpfs(target, tmp_bytes if writable else 1 << 20, mode="1777" if writable else "0755")
        for stage, k in staged:
            os.makedirs(k, mode=0o755, exist_ok=True)
            linux.mount(stage, k, None, linux.MS_MOVE)
            linux.mount("none", k, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_REC)
        if not writable:
            linux.mount("none", target, None, linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV)
    linux.umount(stage_root)
    if any(os.path.realpath(stage_root) == t for t, _ in covers):
        _mount_tmpfs(stage_root, 1 << 20, mode="0755", readonly=True)


JOB_STACK_BYTES = 8 << 20


def _set_rlimits(limits: dict[str, int]) -> None:
    def cap(which: int, value: int) -> None:
        resource.setrlimit(which, (value, value))

    cap(resource.RLIMIT_AS, limits["memory_bytes"])
    cap(resource.RLIMIT_CPU, limits["cpu_seconds"])
    cap(resource.RLIMIT_FSIZE, limits["file_bytes"])
    cap(resource.RLIMIT_NOFILE, 256)
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_NPROC, limits["processes"])
    # The job's stack is the same everywhere (8 MiB, the usual default), whatever the server inherited: with an
    # unlimited stack a recursion bomb runs into the time limit instead of crashing at once.
    hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
    cap(resource.RLIMIT_STACK, JOB_STACK_BYTES if hard == resource.RLIM_INFINITY else min(JOB_STACK_BYTES, hard))


def _close_fds_except(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


DEFAULT_TMP_BYTES = 64 << 20


def prepare_job(cfg: JailConfig, server_pid: int, tmp_bytes: int = DEFAULT_TMP_BYTES) -> None:
    """The first half, which needs neither the slot nor the channel: it can run before a job is
    requested (a warm job). Session, parent-death signal, namespaces, covered trees, /proc."""
    os.setsid()
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    # The server died before the parent-death signal was armed? (As PID 1 of a new namespace
    # the parent is outside it and getppid() is 0.)
    if os.getppid() not in (server_pid, 0):
        os._exit(SETUP_FAILED)
    if cfg.namespaces:
        # As PID 1 of a new PID namespace, killing us kills everything we start.
        flags = linux.CLONE_NEWNS | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
        if cfg.server_pid_ns:
            linux.unshare(flags)  # the server already made us PID 1
        else:
            linux.unshare(flags | linux.CLONE_NEWPID)
            pid = os.fork()
            if pid:
                _wait_and_mirror(pid)
            linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the waiting parent
        linux.mount("none", "/", None, linux.MS_REC | linux.MS_PRIVATE)
        _cover_trees(cfg.hide, cfg.keep, tmp_bytes)
        linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
        linux.sethostname("sandbox")


def finish_job(cfg: JailConfig, slot: int, limits: dict[str, int], req_fd: int, resp_fd: int, out_fd: int,
               seccomp_filter: bytes | None, tmp_bytes: int = DEFAULT_TMP_BYTES) -> tuple[int, int]:
    """The second half, once the slot and the channel are known: cgroup, limits, the slot's uid,
    no_new_privs, Landlock, only the channel descriptors, seccomp last. Returns the channel fds (3, 4)."""
    # The server has already moved this process into the slot's cgroup (CgroupSlots.join).
    if cfg.namespaces and limits["file_bytes"] != tmp_bytes:
        for target in TMP_DIRS:
            if os.path.isdir(target):
                linux.mount("tmpfs", target, None, linux.MS_REMOUNT | linux.MS_NOSUID | linux.MS_NODEV,
                            f"size={max(limits['file_bytes'], 4096)}")
    _set_rlimits(limits)
    os.chdir("/tmp")
    if cfg.drop_uid:
        uid = cfg.uid_base + slot
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # cleared by the uid change: re-arm
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    if cfg.landlock_abi:
        # Reading is denied by default: the system's directories and the interpreter's own trees
        # only, so a copy of the references anywhere else (a second checkout, /opt, /var/cache)
        # stays out of reach even where no mount covers it.
        linux.landlock_restrict(read_paths=[p for p in (*SYSTEM_READ_PATHS, *cfg.keep) if os.path.exists(p)],
                                write_paths=list(TMP_DIRS),
                                device_paths=["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"])
    # stdin from /dev/null, stdout/stderr into the capped output pipe, the channel on 3 and 4.
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.dup2(req_fd, 3)
    os.dup2(resp_fd, 4)
    _close_fds_except({0, 1, 2, 3, 4})
    os.environ.clear()
    os.environ.update({"HOME": "/tmp", "TMPDIR": "/tmp", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp",
                       "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    sys.dont_write_bytecode = True
    if cfg.seccomp and seccomp_filter:
        linux.seccomp_load_bpf(seccomp_filter)
    return 3, 4


def setup_failed(exc: BaseException, out_fd: int | None) -> None:
    """Refuse to run the student unprotected: say why on the job's output, exit with SETUP_FAILED."""
    message = f"sandbox setup failed: {exc!r}\n".encode()
    for fd in (out_fd, 2):  # the output pipe may already have been renumbered to 2
        if fd is None:
            continue
        try:
            os.write(fd, message)
            break
        except OSError:
            pass
    os._exit(SETUP_FAILED)


def _wait_and_mirror(pid: int) -> None:
    """The job's first process (user-namespace mode): wait for PID 1 and exit the same way it did."""
    _close_fds_except(set())
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(SETUP_FAILED)
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else SETUP_FAILED)
