"""The worker's side of the fork server: :class:`ForkServerLauncher`.

One launcher per worker process. It starts the fork server lazily, claims a
slot (its own uid and cgroup) per concurrent job with a lock file, hands the
server the job's pipe ends, and learns from the server how each job ended.
A dead server is restarted on the next job. ``self_test()`` runs a probe
through the same path as a submission and checks every layer the server
claims, which the worker does at start-up and ``grader doctor`` prints.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from worker.sandbox.launcher import ChildHandle, Limits, SandboxFailure, child_environment

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# /sys/fs/cgroup: every slot's limits and memory use (a job is moved into its slot by the server).
DEFAULT_HIDDEN = ["/root", "/home", "/run", "/var/run", "/var/lib", "/srv", "/mnt", "/media", "/etc/ssl/private",
                  "/sys/fs/cgroup"]
MAX_SLOTS = 64


class SandboxUnavailable(SandboxFailure):
    """No isolation is possible here; grading refuses to run unless the operator opts out explicitly."""


def hidden_paths(extra: list[str] | None = None) -> list[str]:
    """The trees a job must not see: the project (references, code, instance data) and the usual secrets."""
    paths = [str(PROJECT_ROOT), *DEFAULT_HIDDEN]
    env = os.environ.get("GRADER_SANDBOX_HIDE", "")
    paths += [p for p in env.split(os.pathsep) if p]
    for key in ("GRADER_INSTANCE_PATH", "GRADER_ASSIGNMENTS_DIR"):
        if os.environ.get(key):
            # Create it now if it does not exist yet: a tree that appears later could not be covered
            # (Landlock's deny-by-default reads protect it anyway where the kernel has Landlock).
            os.makedirs(os.environ[key], mode=0o700, exist_ok=True)
            paths.append(os.environ[key])
    paths += extra or []
    return sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})


def kept_paths() -> list[str]:
    """What must stay readable inside hidden trees: the interpreter and its packages."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}
    return sorted(os.path.realpath(p) for p in paths if os.path.isdir(p))


class ForkServerChild(ChildHandle):
    def __init__(self, launcher: "ForkServerLauncher", pid: int, slot: int, slot_lock: int, fds: tuple[int, int, int]):
        super().__init__(pid, *fds)
        self.launcher = launcher
        self.slot = slot
        self.slot_lock = slot_lock
        self.exited = threading.Event()
        self.status: int | None = None

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)  # PID 1 of the job's namespace follows (parent-death signal)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self, timeout: float | None = None) -> int | None:
        if not self.exited.wait(timeout):
            return None
        return self.status

    def _exit(self, raw: int, oom: bool) -> None:
        self.oom = oom
        self.status = -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
        with self.launcher._pending_cv:
            release = self._closed and self.slot_lock >= 0
            lock, self.slot_lock = self.slot_lock, (-1 if release else self.slot_lock)
            if release:
                os.close(lock)  # the slot's uid and cgroup are free again, before anyone waiting hears of the exit
            self.exited.set()

    def close(self) -> None:
        """Kill the job and close the pipes without waiting: the slot is released when the server
        reports the exit (a slot is never reused while its job might still run)."""
        if self._closed:
            return
        self.kill()
        for fd in (self.request_fd, self.response_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        with self.launcher._pending_cv:
            self._closed = True
            release = self.exited.is_set() and self.slot_lock >= 0
            lock, self.slot_lock = self.slot_lock, (-1 if release else self.slot_lock)
        if release:
            os.close(lock)


class ForkServerLauncher:
    """Jobs forked by a hardened fork server (see worker/sandbox/forkserver.py and jail.py)."""

    name = "forkserver"

    def __init__(self, *, hide: list[str] | None = None, slots_dir: str | None = None, start_timeout: float = 60.0):
        self.hide = hidden_paths(hide)
        self.keep = kept_paths()
        self.slots_dir = slots_dir or (
            "/run/cs231n-grader" if os.geteuid() == 0 and os.path.isdir("/run")
            else os.path.join(tempfile.gettempdir(), f"cs231n-grader-{os.geteuid()}"))
        self.start_timeout = start_timeout
        self.layers: dict[str, Any] = {}
        self.notes: list[str] = []
        self.server_pid: int | None = None
        self._lock = threading.Lock()
        self._ctl: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, dict[str, Any]] = {}
        self._pending_cv = threading.Condition()
        self._children: dict[int, ForkServerChild] = {}
        self._early_exits: dict[int, tuple[int, bool]] = {}
        self._leaked: list[int] = []
        self._mpl_dir: str | None = None

    # ------------------------------------------------------------------ server lifecycle
    def start(self) -> None:
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._proc is not None and self._proc.poll() is None and self._ctl is not None:
            return
        self._stop_locked()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"hide": self.hide, "keep": self.keep, "parent": os.getpid()}
        env = child_environment("/tmp")
        env.pop("HOME", None)
        env.pop("TMPDIR", None)
        self._mpl_dir = tempfile.mkdtemp(prefix="grader-mpl-")
        env["MPLCONFIGDIR"] = self._mpl_dir
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "worker.sandbox.forkserver", str(theirs.fileno())],
                stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), cwd="/", env=env, close_fds=True,
            )
        finally:
            theirs.close()
        ours.settimeout(self.start_timeout)
        try:
            ours.send(json.dumps(config).encode())
            ready = json.loads(ours.recv(1 << 16) or b"{}")
        except (OSError, ValueError) as exc:
            self._proc.kill()
            raise SandboxUnavailable(f"the sandbox server did not start: {exc}") from None
        if ready.get("event") != "ready":
            self._proc.kill()
            raise SandboxUnavailable(f"the sandbox server did not start (exit code {self._proc.wait(5)})")
        ours.settimeout(None)
        self.layers = ready["layers"]
        self.notes = ready.get("notes", [])
        self.server_pid = ready["pid"]
        if not self.isolates():
            self._proc.kill()
            raise SandboxUnavailable("no isolation is possible on this machine (no namespaces, no seccomp, no "
                                     "Landlock): refusing to run student code. " + "; ".join(self.notes))
        self._ctl = ours
        self._reader = threading.Thread(target=self._read_events, args=(ours,), daemon=True,
                                        name="forkserver-events")
        self._reader.start()

    def isolates(self) -> bool:
        return bool(self.layers.get("mount/PID/IPC/UTS namespaces") or self.layers.get("seccomp filter")
                    or self.layers.get("landlock"))

    def _stop_locked(self) -> None:
        if self._ctl is not None:
            try:
                self._ctl.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait(10)
            self._proc = None
        if self._mpl_dir:
            shutil.rmtree(self._mpl_dir, ignore_errors=True)
            self._mpl_dir = None

    def close(self) -> None:
        with self._lock:
            self._stop_locked()

    def _read_events(self, ctl: socket.socket) -> None:
        while True:
            try:
                data = ctl.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            try:
                msg = json.loads(data)
            except ValueError:
                continue
            event = msg.get("event")
            if event in ("spawned", "spawn_failed"):
                with self._pending_cv:
                    self._pending[msg.get("id")] = msg
                    self._pending_cv.notify_all()
            elif event == "exit":
                pid = msg["pid"]
                with self._pending_cv:
                    child = self._children.pop(pid, None)
                    if child is None:
                        self._early_exits[pid] = (msg["status"], bool(msg.get("oom")))
                if child is not None:
                    child._exit(msg["status"], bool(msg.get("oom")))
        # The server is gone: every job it forked died with it (parent-death signal).
        with self._pending_cv:
            children = list(self._children.values())
            self._children.clear()
            self._pending_cv.notify_all()
        for child in children:
            child._exit(signal.SIGKILL, False)

    # ------------------------------------------------------------------ slots
    def _claim_slot(self) -> tuple[int, int]:
        os.makedirs(self.slots_dir, mode=0o700, exist_ok=True)
        for slot in range(MAX_SLOTS):
            if slot in self._leaked:
                continue
            fd = os.open(os.path.join(self.slots_dir, f"slot-{slot}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                         0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    continue
                raise
            return slot, fd
        raise SandboxUnavailable(f"all {MAX_SLOTS} sandbox slots are busy")

    def _leak_slot(self, slot: int, fd: int) -> None:
        self._leaked.append(slot)
        os.close(fd)

    # ------------------------------------------------------------------ jobs
    def spawn(self, limits: Limits) -> ChildHandle:
        with self._lock:
            self._start_locked()
            ctl = self._ctl
        assert ctl is not None
        slot, slot_lock = self._claim_slot()
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        for fd in (req_w, resp_r, out_r):
            os.set_inheritable(fd, False)
        request_id = next(self._ids)
        message = {"op": "spawn", "id": request_id, "slot": slot, "limits": {
            "memory_bytes": limits.memory_mb << 20, "cpu_seconds": limits.cpu_seconds,
            "file_bytes": limits.disk_mb << 20, "processes": limits.processes}}
        try:
            socket.send_fds(ctl, [json.dumps(message).encode()], [req_r, resp_w, out_w])
        except OSError as exc:
            for fd in (req_r, req_w, resp_r, resp_w, out_r, out_w):
                os.close(fd)
            os.close(slot_lock)
            with self._lock:
                self._stop_locked()
            raise SandboxUnavailable(f"the sandbox server is not reachable: {exc}") from None
        finally:
            for fd in (req_r, resp_w, out_w):
                try:
                    os.close(fd)
                except OSError:
                    pass
        deadline = time.monotonic() + 30
        with self._pending_cv:
            while request_id not in self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._ctl is not ctl:
                    break
                self._pending_cv.wait(min(remaining, 1.0))
            answer = self._pending.pop(request_id, None)
            if answer is not None and answer.get("event") == "spawned":
                child = ForkServerChild(self, answer["pid"], slot, slot_lock, (req_w, resp_r, out_r))
                early = self._early_exits.pop(answer["pid"], None)
                if early is None:
                    self._children[answer["pid"]] = child
        if answer is None or answer.get("event") != "spawned":
            for fd in (req_w, resp_r, out_r):
                os.close(fd)
            os.close(slot_lock)
            error = answer.get("error") if answer else "no answer from the sandbox server"
            raise SandboxUnavailable(f"could not start a sandboxed job: {error}")
        if early is not None:
            child._exit(*early)
        return child

    # ------------------------------------------------------------------ self-test
    def self_test(self) -> dict[str, Any]:
        """Run the probe through a real job and compare what it could do with what the layers promise."""
        from worker.sandbox.selftest import run_self_test

        return run_self_test(self)


def describe_layers(layers: dict[str, Any]) -> list[tuple[str, bool, str]]:
    out = []
    for name, value in layers.items():
        if name == "landlock":
            out.append((name, bool(value), f"ABI {value}" if value else "unavailable"))
        else:
            out.append((name, bool(value), "active" if value else "missing"))
    return out


__all__ = ["ForkServerLauncher", "SandboxUnavailable", "describe_layers", "hidden_paths", "kept_paths"]
