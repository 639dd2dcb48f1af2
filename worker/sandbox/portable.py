"""A launcher for the offline ``grader check`` that runs on Windows as well as on Linux and macOS.

The plain :class:`~worker.sandbox.launcher.SubprocessLauncher` hands the child two pipes with
``pass_fds`` and the session multiplexes them with ``select``: neither exists on Windows (its
``select`` takes sockets only). :class:`PortableLauncher` keeps the same child runtime, the same
frames and the same limits (frame sizes, nonces, deadlines: the session's code does not change) and
changes only the transport:

- The trusted side listens on 127.0.0.1, port 0 (the system picks one), and gives the child a random
  one-time token in its environment. The child connects back and starts with the token; a connection
  that does not start with it (another local program) is closed and never read further, and the
  listener is closed as soon as the child is in. Requests and answers then travel over that one
  socket, which ``select`` handles on every platform.
- The child's stdout and stderr still go to one OS pipe, read by a thread with blocking reads (no
  ``select`` on it), so prints are captured as before.
- Process control uses what the platform has: a new session killed as a group where ``os.setsid`` and
  ``os.killpg`` exist, else ``Popen.kill`` (on Windows the job gets its own process group, so a Ctrl+C
  in the student's console reaches the grader, which then stops the job). No ``preexec_fn``, no
  ``pass_fds``; resource limits are set by the child where ``resource`` exists (not on Windows).
- The interpreter runs in UTF-8 mode (``-X utf8``), so a print of any text works whatever the console's
  code page.

``grader check`` uses it on native Windows always and elsewhere when ``GRADER_CHECK_TRANSPORT=socket``
(:func:`check_launcher`); the pipes stay the default on Linux and macOS because a pipe needs no token
(nothing else can open it). The server's hardened sandbox does not use this module.
"""

from __future__ import annotations

import errno
import hmac
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from worker.sandbox.child import TOKEN_VARIABLE
from worker.sandbox.launcher import CHILD_SCRIPT, ChildHandle, Launcher, Limits, SubprocessLauncher, child_environment

TRANSPORT_VARIABLE = "GRADER_CHECK_TRANSPORT"
TRANSPORTS = ("socket", "pipes")
MAX_PENDING = 8  # connections that have not (yet) shown the token; the oldest is dropped beyond this
POLL_SECONDS = 0.05  # while waiting for the child to connect: how often to see whether it died


class TransportError(ValueError):
    """``GRADER_CHECK_TRANSPORT`` names no transport this platform has."""


def _native_windows() -> bool:
    return os.name == "nt"


def check_launcher(environ: Mapping[str, str] | None = None, windows: bool | None = None) -> Launcher:
    """The launcher of the offline check: the portable one on native Windows or when
    ``GRADER_CHECK_TRANSPORT=socket``, else the pipes. Raises :class:`TransportError` for a value
    that names nothing, and for ``pipes`` on Windows."""
    environ = os.environ if environ is None else environ
    windows = _native_windows() if windows is None else windows
    raw = environ.get(TRANSPORT_VARIABLE, "")
    choice = raw.strip().lower()
    if choice and choice not in TRANSPORTS:
        raise TransportError(f"{TRANSPORT_VARIABLE}={raw[:40]!r} is not a transport: use 'socket' or 'pipes' "
                             "(or leave it unset)")
    if choice == "pipes" and windows:
        raise TransportError(f"{TRANSPORT_VARIABLE}=pipes does not work on Windows (its select() takes sockets "
                             "only): leave it unset or use 'socket'")
    if choice == "socket" or windows:
        return PortableLauncher()
    return SubprocessLauncher()


def portable_environment(workdir: str, environ: Mapping[str, str] | None = None,
                         windows: bool | None = None) -> dict[str, str]:
    """The child's whole environment: :func:`child_environment`, plus on Windows what a Python there
    cannot start without (``SYSTEMROOT`` for its sockets and random numbers, ``PATH`` for numpy's DLLs
    in some installs) and its temporary folders moved to the job's folder."""
    environ = os.environ if environ is None else environ
    windows = _native_windows() if windows is None else windows
    env = child_environment(workdir)
    if windows:
        for key in ("SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "PATH", "PATHEXT"):
            if key in environ:
                env[key] = environ[key]
        env.update(TEMP=workdir, TMP=workdir, USERPROFILE=workdir)
    return env


def child_interpreter(windows: bool | None = None) -> tuple[str, dict[str, str]]:
    """The interpreter that runs the child, and the variables its environment needs for it.

    In a virtual environment on Windows, ``python.exe`` is a launcher that starts the base interpreter as
    a process of its own: killing the launcher would leave the job running. So the base interpreter is
    started directly and told which environment it runs for (``__PYVENV_LAUNCHER__``, which Python reads
    even in isolated mode), as ``multiprocessing`` does on Windows (bpo-35797)."""
    windows = _native_windows() if windows is None else windows
    base = getattr(sys, "_base_executable", "") or sys.executable
    if windows and os.path.normcase(os.path.abspath(base)) != os.path.normcase(os.path.abspath(sys.executable)):
        return base, {"__PYVENV_LAUNCHER__": sys.executable}
    return sys.executable, {}


def child_command(port: int, limits_json: str) -> list[str]:
    """The child's command line: the runtime of ``child.py`` in an isolated interpreter in UTF-8 mode."""
    return [child_interpreter()[0], "-I", "-X", "utf8", str(CHILD_SCRIPT), "--connect", str(port), limits_json]


class SocketChannel:
    """The trusted side's end of the channel: accepts the child's connection (checking its token) on
    first use, then reads and writes frames over it without blocking (the session keeps the deadlines).

    Same four methods as the session's pipe channel: ``readable``/``writable`` wait up to a timeout,
    ``read`` gives b"" at end of file (a reset connection included), ``write`` raises BrokenPipeError
    once the child is gone. If the child exits before it connects, the channel reads as end of file, so
    the session reports the job's death (with what it printed) exactly as for the pipes.
    """

    def __init__(self, listener: socket.socket, token: str, process: subprocess.Popen[bytes]):
        self.listener: socket.socket | None = listener
        self.token = token.encode("ascii")
        self.process = process
        self.sock: socket.socket | None = None
        self.pending: dict[socket.socket, bytes] = {}
        self.refused = 0  # connections closed for a wrong token (tests read it)
        self.dead = False  # the child exited without connecting
        listener.setblocking(False)

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1] if self.listener is not None else 0

    # ------------------------------------------------------------------ the child connects
    def _connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the child's authenticated connection; True once it is there or the
        child has exited without it."""
        deadline = time.monotonic() + timeout
        while self.sock is None and not self.dead:
            assert self.listener is not None
            waiting = [self.listener, *self.pending]
            readable, _, _ = select.select(waiting, [], [], max(0.0, min(deadline - time.monotonic(), POLL_SECONDS)))
            for sock in readable:
                if sock is self.listener:
                    self._accept()
                else:
                    self._check_token(sock)
                if self.sock is not None:
                    break
            if self.sock is None and self.process.poll() is not None:
                self.dead = True
            if self.sock is None and not self.dead and time.monotonic() >= deadline:
                return False
        return True

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionError):
            return
        conn.setblocking(False)
        if len(self.pending) >= MAX_PENDING:
            oldest = next(iter(self.pending))
            del self.pending[oldest]
            oldest.close()
            self.refused += 1
        self.pending[conn] = b""

    def _check_token(self, sock: socket.socket) -> None:
        got = self.pending[sock]
        try:
            data = sock.recv(len(self.token) - len(got))  # never a byte past the token: the frames follow it
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        got += data
        if data and len(got) < len(self.token):
            self.pending[sock] = got
            return
        del self.pending[sock]
        if data and hmac.compare_digest(got, self.token):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = sock
            self._close_listening()
            return
        sock.close()  # a wrong token, or closed before it: not our child
        self.refused += 1

    def _close_listening(self) -> None:
        for other in self.pending:
            other.close()
        self.pending.clear()
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    # ------------------------------------------------------------------ the session's channel
    def readable(self, timeout: float) -> bool:
        started = time.monotonic()
        if not self._connected(timeout):
            return False
        if self.sock is None:
            return True  # exited without connecting: end of file
        readable, _, _ = select.select([self.sock], [], [], max(0.0, timeout - (time.monotonic() - started)))
        return bool(readable)

    def read(self, n: int) -> bytes:
        if self.sock is None:
            return b""
        try:
            return self.sock.recv(n)
        except (ConnectionResetError, ConnectionAbortedError):
            return b""  # Windows reports a child that died with a reset, not an end of file
        except BlockingIOError:
            # select said readable but nothing came (a spurious wakeup): the session waits again.
            raise InterruptedError(errno.EINTR, "nothing to read yet") from None

    def writable(self, timeout: float) -> bool:
        started = time.monotonic()
        if not self._connected(timeout):
            return False
        if self.sock is None:
            return True  # the write reports the death
        _, writable, _ = select.select([], [self.sock], [], max(0.0, timeout - (time.monotonic() - started)))
        return bool(writable)

    def write(self, data: memoryview) -> int:
        if self.sock is None:
            raise BrokenPipeError(errno.EPIPE, "the job exited before it connected")
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0
        except ConnectionError as exc:  # reset or aborted (Windows), broken pipe (POSIX)
            raise BrokenPipeError(errno.EPIPE, str(exc)) from None

    def close(self) -> None:
        self._close_listening()
        if self.sock is not None:
            self.sock.close()


class PortableChild(ChildHandle):
    """One job of the portable launcher: its process, its socket channel, its output pipe."""

    blocking_output = True  # the session reads the output pipe without select

    def __init__(self, process: subprocess.Popen[bytes], workdir: str, channel: SocketChannel, output_fd: int,
                 group: bool):
        super().__init__(process.pid, -1, -1, output_fd)
        self.process = process
        self.workdir = workdir
        self.channel = channel
        self.group = group

    def kill(self) -> None:
        """The job and everything it started where it leads its own session (POSIX); else the job itself."""
        if self.group:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            return
        try:
            self.process.kill()
        except OSError:
            pass

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.kill()
        self.wait(5)
        self.channel.close()
        # rmtree does not follow symlinks the child may have planted; on Windows a file the job's own
        # children still hold open stays behind in the temporary folder.
        shutil.rmtree(self.workdir, ignore_errors=True)


class PortableLauncher:
    """A fresh ``python -I -X utf8 child.py --connect PORT`` per job, over a loopback socket (see the module)."""

    name = "subprocess (no sandbox, socket channel)"

    def close(self) -> None:
        pass

    def spawn(self, limits: Limits) -> PortableChild:
        workdir = tempfile.mkdtemp(prefix="grader-job-")
        token = secrets.token_hex(32)
        child_limits = {
            "memory_bytes": limits.memory_mb << 20,
            "cpu_seconds": limits.cpu_seconds,
            "file_bytes": limits.disk_mb << 20,
            "processes": limits.processes,
        }
        env = portable_environment(workdir)
        env.update(child_interpreter()[1])
        env[TOKEN_VARIABLE] = token
        # Its own session where the platform has them (killed as a group), else its own process group
        # on Windows; neither needs preexec_fn.
        group = hasattr(os, "setsid") and hasattr(os, "killpg")
        options: dict[str, Any] = {"start_new_session": True} if group else {
            "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        out_r = out_w = -1
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(MAX_PENDING)
            out_r, out_w = os.pipe()
            process = subprocess.Popen(
                child_command(listener.getsockname()[1], json.dumps(child_limits)),
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                cwd=workdir,
                env=env,
                close_fds=True,
                **options,
            )
        except BaseException:
            listener.close()
            for fd in (out_r, out_w):
                if fd >= 0:
                    os.close(fd)
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        os.close(out_w)
        return PortableChild(process, workdir, SocketChannel(listener, token, process), out_r, group)
