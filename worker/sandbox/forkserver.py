"""The fork server: a clean process that forks one hardened child per grading job.

The worker starts it with ``subprocess`` (fork + exec: it shares no memory with
the worker) from ``/``, with an almost empty environment. It imports numpy and
matplotlib once, moves itself into an empty network namespace, compiles the
seccomp filter once and then waits on a control socket. For each ``spawn``
request it receives three pipe ends by ``SCM_RIGHTS`` (requests, answers,
output), prepares the slot's cgroup and hands it to a job that hardens itself
(:func:`~worker.sandbox.jail.prepare_job` ahead of time, :func:`~worker.sandbox.jail.finish_job`
once requested) and serves the student's calls. The worker talks to the job directly over the pipes; the server only reports exits.
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


def _decide_layers(config: dict[str, Any]) -> tuple[Any, Any, list[str]]:
    """Set up what the server itself needs (its network namespace) and decide the per-job layers."""
    from worker.sandbox import linux
    from worker.sandbox.jail import CgroupSlots, JailConfig, build_seccomp_filter

    notes: list[str] = []
    root = os.geteuid() == 0
    cfg = JailConfig(hide=config.get("hide", []), keep=config.get("keep", []),
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
            cfg.namespaces = True  # the server's user namespace gives its jobs the rights they need
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


class _Server:
    """The server's loop: spawn requests in, exit events out, and one warm job kept ready.

    A warm job is forked ahead of time and has already done the half of its hardening that needs
    neither the slot nor the channel (:func:`~worker.sandbox.jail.prepare_job`); a spawn request
    only hands it the slot, the limits and the pipe ends, so the next job starts in a fraction of
    the time. The next warm job is forked after the answer is sent.
    """

    def __init__(self, ctl: socket.socket, config: dict[str, Any]):
        from worker.sandbox import linux

        self.linux = linux
        self.ctl = ctl
        self.cfg, self.seccomp_filter, self.notes = _decide_layers(config)
        _preload()
        from worker.sandbox.child import install_compat_shims

        install_compat_shims()
        # Move everything imported so far out of the collector's sight: a job's first collection would
        # otherwise touch (and so copy-on-write) every page of the server's heap.
        gc.collect()
        gc.freeze()
        self.pid = os.getpid()
        self.own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        if self.cfg.namespaces:
            try:
                linux.setns(self.own_pid_ns, linux.CLONE_NEWPID)
            except OSError:
                self.cfg.server_pid_ns = False
        self.jobs: dict[int, int] = {}  # pid -> slot
        self.warm: tuple[int, socket.socket] | None = None
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def send(self, msg: dict[str, Any]) -> None:
        self.ctl.send(json.dumps(msg).encode())

    # ------------------------------------------------------------------ forking
    def _fork(self) -> int:
        if self.cfg.namespaces and self.cfg.server_pid_ns:
            # Make the next child PID 1 of a fresh PID namespace (one fork per job): setns back to our
            # own namespace first, as unshare(CLONE_NEWPID) refuses to run twice otherwise.
            self.linux.setns(self.own_pid_ns, self.linux.CLONE_NEWPID)
            self.linux.unshare(self.linux.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in (self.wake_r, self.wake_w, self.own_pid_ns):
                os.close(fd)
            self.ctl.close()
        return pid

    def _serve_job(self, slot: int, limits: dict[str, Any], fds: list[int]) -> None:
        """In the job, after prepare_job: finish hardening and answer the student's calls. Never returns."""
        from worker.sandbox.child import serve_or_report
        from worker.sandbox.jail import finish_job, setup_failed

        try:
            rfd, wfd = finish_job(self.cfg, slot, limits, fds[0], fds[1], fds[2], self.seccomp_filter)
        except BaseException as exc:  # noqa: BLE001
            setup_failed(exc, fds[2])
        try:
            serve_or_report(rfd, wfd)
        finally:
            os._exit(0)

    def make_warm(self) -> None:
        from worker.sandbox.jail import prepare_job, setup_failed

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = self._fork()
        if pid == 0:  # the warm job
            try:
                ours.close()
                if self.warm is not None:
                    self.warm[1].close()
                prepare_job(self.cfg, self.pid)
                data, fds, _, _ = socket.recv_fds(theirs, MAX_MESSAGE, 3)
                if not data or len(fds) != 3:
                    os._exit(0)
                theirs.close()
                request = json.loads(data)
            except BaseException as exc:  # noqa: BLE001
                setup_failed(exc, None)
            self._serve_job(int(request["slot"]), dict(request["limits"]), fds)
        theirs.close()
        self.warm = (pid, ours)

    def spawn(self, request: dict[str, Any], fds: list[int]) -> int:
        """Hand a warm job (one made now if none is ready, or if it died) the slot and the channel.

        The server moves the job into the slot's cgroup *before* the job gets its channel, so no student
        code ever runs outside it, and the job needs no view of /sys/fs/cgroup (hidden from it: the
        cgroups of other slots, their memory use and limits, are not the job's business)."""
        slot, limits = int(request["slot"]), dict(request["limits"])
        if self.cfg.cgroups is not None:
            self.cfg.cgroups.prepare(slot, limits["memory_bytes"], limits["processes"])
        for _ in range(2):
            if self.warm is None:
                self.make_warm()
            assert self.warm is not None
            pid, sock = self.warm
            self.warm = None
            try:
                if self.cfg.cgroups is not None:
                    self.cfg.cgroups.join(slot, pid)
                socket.send_fds(sock, [json.dumps({"slot": slot, "limits": limits}).encode()], fds)
                return pid
            except OSError:
                try:  # the warm job died: make another
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            finally:
                sock.close()
        raise OSError("no job could be started")

    # ------------------------------------------------------------------ the loop
    def reap(self) -> None:
        """Tell the worker how each finished job ended. As a child subreaper the server also inherits
        (and reaps here) a namespace's PID 1 whose waiting parent was killed first."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.warm is not None and pid == self.warm[0]:
                self.warm[1].close()
                self.warm = None
            if pid not in self.jobs:
                continue
            slot = self.jobs.pop(pid)
            oom = False
            if self.cfg.cgroups is not None:
                oom = self.cfg.cgroups.oom(slot)
                self.cfg.cgroups.kill_all(slot)
            self.send({"event": "exit", "pid": pid, "status": status, "oom": oom})

    def run(self) -> None:
        self.send({"event": "ready", "pid": self.pid, "layers": self.cfg.layers(), "notes": self.notes})
        self.make_warm()
        while True:
            try:
                waiting: list[Any] = [self.ctl, self.wake_r]
                readable, _, _ = select.select(waiting, [], [])
            except InterruptedError:
                continue
            if self.wake_r in readable:
                os.read(self.wake_r, 4096)
            self.reap()
            if self.ctl not in readable:
                continue
            try:
                data, fds, _, _ = socket.recv_fds(self.ctl, MAX_MESSAGE, 3)
            except OSError:
                return
            if not data:
                return  # the worker is gone
            request: Any = None
            try:
                request = json.loads(data)
                if not isinstance(request, dict) or request.get("op") != "spawn" or len(fds) != 3:
                    raise ValueError("bad request")
                pid = self.spawn(request, fds)
            except (ValueError, KeyError, TypeError, OSError) as exc:
                self.send({"event": "spawn_failed", "id": request.get("id") if isinstance(request, dict) else None,
                           "error": str(exc)})
                continue
            finally:
                for fd in fds:
                    os.close(fd)
            self.jobs[pid] = int(request["slot"])
            self.send({"event": "spawned", "id": request.get("id"), "pid": pid})
            if self.warm is None:
                self.make_warm()


def serve(ctl: socket.socket, config: dict[str, Any]) -> None:
    _Server(ctl, config).run()


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
