"""Starting the child process that runs student code.

:class:`Launcher` is the one seam between the grading engine and process
isolation: ``spawn(limits)`` returns a :class:`ChildHandle` with three pipes
(requests in, answers out, merged stdout/stderr out) and a way to kill
everything the child started. :class:`SubprocessLauncher` is the plain
version: a fresh interpreter per job, its own session (process group), an
almost empty environment, a private working directory and rlimits. It is not
a security boundary on its own; the hardened launcher replaces it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CHILD_SCRIPT = Path(__file__).with_name("child.py")


class SandboxFailure(RuntimeError):
    """The sandbox itself failed (not the student's code): the grading is an infrastructure error
    and is retried, never scored."""


class SandboxSetupFailed(SandboxFailure):
    """A job died or hung before its runtime said it was ready."""


@dataclass(frozen=True)
class Limits:
    """What one grading job may use. Defaults suit CS231n assignment 1."""

    call_seconds: float = 30.0  # wall clock for one call into student code
    total_seconds: float = 300.0  # wall clock for the whole grading run
    memory_mb: int = 2048  # address space of the child
    cpu_seconds: int = 600
    output_bytes: int = 64 * 1024  # stdout+stderr kept for the report; the rest is counted and dropped
    output_stop_bytes: int = 16 << 20  # stdout+stderr of the whole run past which the job is stopped (0: never)
    frame_mb: int = 256  # largest answer frame accepted from the child
    processes: int = 32
    disk_mb: int = 64

    @classmethod
    def from_mapping(cls, data: dict[str, object]) -> "Limits":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown limits: {', '.join(sorted(unknown))}")
        return cls(**data)  # type: ignore[arg-type]


class ChildHandle:
    """One running job: three pipe ends for the trusted side, and how to stop it.

    ``close()`` closes the request and answer pipes; the output pipe belongs to whoever drains it
    (the session's output collector closes it at end of file).
    """

    def __init__(self, pid: int, request_fd: int, response_fd: int, output_fd: int):
        self.pid = pid
        self.request_fd = request_fd
        self.response_fd = response_fd
        self.output_fd = output_fd
        self.oom = False  # set when the memory cgroup's OOM killer struck
        self._closed = False

    def kill(self) -> None:
        """SIGKILL the job and everything it started."""
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status as ``subprocess`` reports it (negative: killed by that signal), or None."""
        raise NotImplementedError

    def _release(self) -> None:
        """Launcher-specific cleanup after the job is gone."""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.kill()
        self.wait(5)
        for fd in (self.request_fd, self.response_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self._release()


class SubprocessChild(ChildHandle):
    def __init__(self, process: subprocess.Popen[bytes], workdir: str, request_fd: int, response_fd: int,
                 output_fd: int):
        super().__init__(process.pid, request_fd, response_fd, output_fd)
        self.process = process
        self.workdir = workdir

    def kill(self) -> None:
        try:
            if hasattr(os, "killpg"):
                os.killpg(self.pid, signal.SIGKILL)
            else:  # no process groups (Windows): the job itself
                self.process.kill()
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _release(self) -> None:
        # rmtree does not follow symlinks the child may have planted.
        shutil.rmtree(self.workdir, ignore_errors=True)


class Launcher(Protocol):
    """Starts one child per grading job."""

    name: str

    def spawn(self, limits: Limits) -> ChildHandle: ...

    def close(self) -> None: ...


def child_environment(workdir: str) -> dict[str, str]:
    """The whole environment of the child: nothing of the worker's leaks in."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": workdir,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "LANG": "C.UTF-8",
    }
    # Some CPUs need these for OpenBLAS to pick a working kernel; they hold no secrets.
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


class SubprocessLauncher:
    """A fresh ``python -I child.py`` per job (no isolation beyond rlimits).

    For the student's offline ``grader check`` (their own code on their own machine) and as the
    explicit, unsafe fallback; graders use :class:`~worker.sandbox.hardened.ForkServerLauncher`.
    """

    name = "subprocess (no sandbox)"

    def close(self) -> None:
        pass

    def spawn(self, limits: Limits) -> ChildHandle:
        import json

        workdir = tempfile.mkdtemp(prefix="grader-job-")
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        child_limits = {
            "memory_bytes": limits.memory_mb << 20,
            "cpu_seconds": limits.cpu_seconds,
            "file_bytes": limits.disk_mb << 20,
            "processes": limits.processes,
        }
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", str(CHILD_SCRIPT), str(req_r), str(resp_w), json.dumps(child_limits)],
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                pass_fds=(req_r, resp_w),
                cwd=workdir,
                env=child_environment(workdir),
                start_new_session=True,
                close_fds=True,
            )
        except BaseException:
            for fd in (req_r, req_w, resp_r, resp_w, out_r, out_w):
                os.close(fd)
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        for fd in (req_r, resp_w, out_w):
            os.close(fd)
        return SubprocessChild(proc, workdir, request_fd=req_w, response_fd=resp_r, output_fd=out_r)
