"""The fork server: a clean process that forks one hardened child per grading job.

The worker starts it with ``subprocess`` (fork + exec: it shares no memory with
the worker) from ``/``, with an almost empty environment. It imports numpy and
matplotlib once, moves itself into an empty network namespace, compiles the
seccomp filter once and then waits on a control socket. For each ``spawn``
request it receives three pipe ends by ``SCM_RIGHTS`` (requests, answers,
output), prepares the slot's cgroup and forks a job that hardens itself
(:func:`worker.sandbox.jail.enter_job`) and serves the student's calls. The
worker talks to the job directly over the pipes; the server only reports exits.
It holds no reference solutions, no student data and no credentials.

Control messages (JSON over a SOCK_SEQPACKET socketpair):
  worker -> server  {"op": "spawn", "id": n, "slot": k, "limits": {...}}  + 3 fds
  server -> worker  {"event": "ready", "layers": {...}, "pid": p}
                    {"event": "spawned", "id": n, "pid": p} | {"event": "spawn_failed", "id": n, "error": "..."}
                    {"event": "exit", "pid": p, "status": raw_wait_status, "oom": bool}
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys
from typing import Any

MAX_MESSAGE = 1 << 16


def _preload() -> None:
    """What every job would otherwise import itself (about 0.4 s per job)."""
    import numpy  # noqa: F401

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401
    except ImportError:
        pass
    for name in ("past.builtins", "builtins", "scipy.special", "random", "math", "collections", "itertools",
                 "functools", "time", "contextlib"):
        try:
            __import__(name)
        except ImportError:
            pass


def _tune_malloc() -> None:
    """Keep freed memory for reuse instead of returning it to the kernel.

    numpy's large arrays are mmap'ed and unmapped by default, so a fresh job pays page faults (and
    cgroup charges) on every allocation, where a long-running process would have raised glibc's
    dynamic threshold long ago. Jobs are short and capped by their cgroup, so holding memory is fine.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)
        libc.mallopt(m_trim_threshold, 256 << 20)
    except (OSError, AttributeError):
        pass


def _decide_layers(config: dict[str, Any]) -> tuple[Any, Any, list[str]]:
    """Set up what the server itself needs (its network namespace) and decide the per-job layers."""
    from worker.sandbox import linux
    from worker.sandbox.jail import CgroupSlots, JailConfig, build_seccomp_filter

    notes: list[str] = []
    root = os.geteuid() == 0
    cfg = JailConfig(root=root, hide=config.get("hide", []), keep=config.get("keep", []),
                     uid_base=config.get("uid_base", 61000))
    if root:
        linux.unshare(linux.CLONE_NEWNET)
        cfg.namespaces = True
        cfg.drop_uid = True
        try:
            cfg.cgroups = CgroupSlots()
        except OSError as exc:
            notes.append(f"cgroups unavailable ({exc.strerror or exc}): memory is limited by rlimits only")
    else:
        cfg.drop_uid = False
        cfg.unprivileged = True
        try:
            uid, gid = os.getuid(), os.getgid()
            linux.unshare(linux.CLONE_NEWUSER | linux.CLONE_NEWNET)
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"0 {uid} 1")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"0 {gid} 1")
            cfg.namespaces = True
            cfg.userns = False  # the server's user namespace already gives jobs the rights they need
            cfg.root = True
            notes.append("not root: running in a user namespace; no cgroups and no per-slot uid")
        except OSError as exc:
            cfg.namespaces = False
            notes.append(f"not root and no user namespaces ({exc.strerror or exc}): no network, mount or PID "
                         "isolation")
    cfg.landlock_abi = linux.landlock_abi()
    seccomp_filter = None
    try:
        seccomp_filter = build_seccomp_filter()
        cfg.seccomp = True
    except Exception as exc:  # noqa: BLE001 - libseccomp missing or unusable
        cfg.seccomp = False
        notes.append(f"seccomp unavailable: {exc}")
    return cfg, seccomp_filter, notes


def serve(ctl: socket.socket, config: dict[str, Any]) -> None:
    from worker.sandbox import linux
    from worker.sandbox.child import Child, install_compat_shims
    from worker.sandbox.jail import SETUP_FAILED, enter_job

    cfg, seccomp_filter, notes = _decide_layers(config)
    _preload()
    install_compat_shims()
    # Move everything imported so far out of the collector's sight: a job's first collection would
    # otherwise touch (and so copy-on-write) every page of the server's heap.
    gc.collect()
    gc.freeze()
    _tune_malloc()
    server_pid = os.getpid()
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    if cfg.namespaces:
        try:
            linux.setns(own_pid_ns, linux.CLONE_NEWPID)
        except OSError:
            cfg.server_pid_ns = False
    jobs: dict[int, int] = {}  # pid -> slot

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)

    def send(msg: dict[str, Any]) -> None:
        ctl.send(json.dumps(msg).encode())

    send({"event": "ready", "pid": server_pid, "layers": cfg.layers(), "notes": notes})

    while True:
        try:
            readable, _, _ = select.select([ctl, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in readable:
            os.read(wake_r, 4096)
        # Reap every finished job and tell the worker how it ended. As a child subreaper the server
        # also inherits (and reaps here) a job's namespace PID 1 whose parent was killed first.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid not in jobs:
                continue
            slot = jobs.pop(pid)
            oom = False
            if cfg.cgroups is not None:
                oom = cfg.cgroups.oom(slot)
                cfg.cgroups.kill_all(slot)
            send({"event": "exit", "pid": pid, "status": status, "oom": oom})
        if ctl not in readable:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(ctl, MAX_MESSAGE, 3)
        except OSError:
            return
        if not data:
            return  # the worker is gone
        try:
            request = json.loads(data)
            if request.get("op") != "spawn" or len(fds) != 3:
                raise ValueError("bad request")
            slot, limits = int(request["slot"]), dict(request["limits"])
            if cfg.cgroups is not None:
                cfg.cgroups.prepare(slot, limits["memory_bytes"], limits["processes"])
        except (ValueError, KeyError, TypeError, OSError) as exc:
            for fd in fds:
                os.close(fd)
            send({"event": "spawn_failed", "id": request.get("id") if isinstance(request, dict) else None,
                  "error": str(exc)})
            continue
        req_fd, resp_fd, out_fd = fds
        if cfg.namespaces and cfg.server_pid_ns:
            # Make the next child PID 1 of a fresh PID namespace (one fork per job, no intermediate):
            # setns back to our own namespace first, because unshare(CLONE_NEWPID) refuses to run
            # twice while the namespace for children differs from our own.
            linux.setns(own_pid_ns, linux.CLONE_NEWPID)
            linux.unshare(linux.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:  # the job
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                ctl.close()
                os.close(wake_r)
                os.close(wake_w)
                os.close(own_pid_ns)
                rfd, wfd = enter_job(cfg, slot, limits, req_fd, resp_fd, out_fd, seccomp_filter, server_pid)
                Child(rfd, wfd).serve()
            except BaseException:  # noqa: BLE001
                os._exit(SETUP_FAILED)
            os._exit(0)
        for fd in fds:
            os.close(fd)
        jobs[pid] = slot
        send({"event": "spawned", "id": request.get("id"), "pid": pid})


def main() -> None:  # pragma: no cover - runs as its own process
    from worker.sandbox import linux

    ctl_fd = int(sys.argv[1])
    ctl = socket.socket(fileno=ctl_fd)
    config = json.loads(ctl.recv(MAX_MESSAGE))  # not on the command line: jobs can read /proc/self/cmdline
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the worker
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    if os.getppid() != config.get("parent"):
        sys.exit(1)
    sys.argv[:] = ["sandbox"]
    serve(ctl, config)


if __name__ == "__main__":  # pragma: no cover
    main()
