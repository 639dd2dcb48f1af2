"""The trusted side of the channel to a sandboxed child.

:class:`StudentProcess` sends requests (load these modules, call this
function with these arrays, send back that stored value) and reads answers
under a wall-clock deadline. Every answer is decoded strictly by
``protocol.decode_value``; a child that hangs is killed, one that dies or
sends garbage becomes a :class:`StudentError` that the checks turn into a
per-test message. The child's stdout/stderr are drained by a thread into a
capped buffer so a flood never blocks either side.
"""

from __future__ import annotations

import ast
import errno
import os
import secrets
import select
import signal
import threading
import time
from typing import Any, Sequence

import numpy as np

from worker.sandbox import protocol
from worker.sandbox.launcher import ChildHandle, Launcher, Limits, SandboxSetupFailed
from worker.sandbox.sanitize import safe_text

READY_SECONDS = 15.0  # a job must say it is ready within this (the fork server takes a few ms)
SMALL_ANSWER_BYTES = 1 << 20  # an answer that carries no value (load, put, seed, a stored call): an error at most
ANSWER_FLOOR_BYTES = 8 << 20  # the least any value-returning request may answer with
RUNTIME_CRASHED = 122  # the runtime in the child exits with this when its own loop fails (child.py)


class StudentError(Exception):
    """Student code did not produce an answer. ``str()`` is a message for the student."""

    kind = "error"


class StudentCodeError(StudentError):
    """The student's code raised an exception."""

    kind = "exception"

    def __init__(self, message: str, exc_type: str, exc_message: str, traceback: str, during: str):
        super().__init__(message)
        self.exc_type = exc_type
        self.exc_message = exc_message
        self.traceback = traceback
        self.during = during


class StudentMissingName(StudentError):
    kind = "missing"

    def __init__(self, message: str, name: str):
        super().__init__(message)
        self.name = name


class StudentTimeout(StudentError):
    kind = "timeout"


class StudentCrashed(StudentError):
    kind = "crashed"


class StudentProtocolError(StudentError):
    """The child answered with something that is not a valid frame (forged or corrupt output)."""

    kind = "protocol"


class StudentTampered(StudentProtocolError):
    """The channel was tampered with: a frame nobody asked for, an extra frame, a forged or corrupt
    answer. Sticky: every later request of the run fails with it, and the engine fails the grading."""

    kind = "tampering"


class StudentAnswerTooLarge(StudentProtocolError):
    """The answer announced more bytes than the request can need; refused before it is read."""

    kind = "too_large"


class StudentOutputFlood(StudentError):
    """The code printed more than the run may; the job was stopped and the rest of the run fails with this."""

    kind = "output"


WINDOWS_CRASHES = {
    0xC0000005: "an access violation (segmentation fault)",
    0xC00000FD: "a stack overflow (too deep a recursion?)",
    0xC0000409: "a stack buffer overrun or a fast fail (aborted)",
    0xC0000017: "no memory left",
    0xC000001D: "an illegal instruction",
    0xC0000094: "an integer division by zero",
}


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        sig = -returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        extra = {
            "SIGKILL": " (killed: most often the memory limit)",
            "SIGSEGV": " (segmentation fault)",
            "SIGXCPU": " (CPU time limit)",
            "SIGXFSZ": " (file size limit)",
            "SIGABRT": " (aborted)",
            "SIGSYS": " (a forbidden system call)",
        }.get(name, "")
        return f"crashed with signal {sig} {name}{extra}"
    if returncode in WINDOWS_CRASHES:  # an exception status (NTSTATUS) as Windows reports a crashed process
        return f"crashed with {WINDOWS_CRASHES[returncode]} (exit status {returncode:#010x})"
    if returncode == RUNTIME_CRASHED:
        return ("stopped because the grader's runtime inside the sandbox failed (the code most likely replaced "
                "or broke part of it, e.g. sys.stdout, numpy or the channel)")
    return f"exited with code {returncode} (did the code call exit()?)"


class _OutputBuffer:
    """Everything the student's processes printed in one grading run, capped as a whole."""

    def __init__(self, cap: int, stop_at: int = 0, on_flood: Any = None):
        self.cap = cap
        self.stop_at = stop_at  # 0: never stop the job, only drop
        self.on_flood = on_flood
        self.flooded = False
        self.chunks: list[bytes] = []
        self.kept = 0
        self.total = 0
        self.lock = threading.Lock()

    def add(self, data: bytes) -> None:
        with self.lock:
            self.total += len(data)
            room = self.cap - self.kept
            if room > 0:
                self.chunks.append(data[:room])
                self.kept += min(room, len(data))
            flood = bool(self.stop_at) and self.total > self.stop_at and not self.flooded
            if flood:
                self.flooded = True
        if flood and self.on_flood is not None:
            self.on_flood()

    def text(self) -> tuple[str, int]:
        with self.lock:
            raw = b"".join(self.chunks)
            dropped = self.total - self.kept
        return raw.decode("utf-8", errors="replace"), dropped


class _OutputCollector(threading.Thread):
    """Drains one child's stdout/stderr pipe so the child never blocks on a full pipe.

    It owns the pipe's read end. :meth:`settle` collects what is in the pipe now and stops, without
    waiting for the end of file that only comes once the whole job has been torn down (the child
    flushes its output before each answer, so that is everything that matters).
    """

    def __init__(self, fd: int, buffer: _OutputBuffer):
        super().__init__(daemon=True, name="student-output")
        self.fd = fd
        self.buffer = buffer
        self.wake_r, self.wake_w = os.pipe()
        self.closed = False
        self.lock = threading.Lock()
        os.set_blocking(fd, False)

    def run(self) -> None:
        try:
            stopping = False
            while True:
                if not stopping:
                    readable, _, _ = select.select([self.fd, self.wake_r], [], [])
                    stopping = self.wake_r in readable
                try:
                    data = os.read(self.fd, 1 << 16)
                except BlockingIOError:
                    if stopping:
                        return  # the pipe is empty: all that was written is stored
                    continue
                except OSError:
                    return
                if not data:
                    return
                self.buffer.add(data)
        finally:
            with self.lock:  # settle() must never write to a closed (and maybe reused) descriptor
                self.closed = True
                for fd in (self.fd, self.wake_r, self.wake_w):
                    os.close(fd)

    def settle(self, timeout: float = 2.0) -> None:
        with self.lock:
            if not self.closed:
                os.write(self.wake_w, b"x")
        self.join(timeout)


class _BlockingOutputCollector(threading.Thread):
    """Drains one child's stdout/stderr pipe with plain blocking reads: no ``select`` (which Windows has
    only for sockets), for handles that say ``blocking_output`` (the portable launcher's).

    It owns the pipe's read end and stops at end of file, which comes once the job (and whatever it
    started that shares the pipe) has exited; :meth:`settle` waits for that at most ``timeout`` seconds.
    """

    def __init__(self, fd: int, buffer: _OutputBuffer):
        super().__init__(daemon=True, name="student-output")
        self.fd = fd
        self.buffer = buffer

    def run(self) -> None:
        try:
            while True:
                try:
                    data = os.read(self.fd, 1 << 16)
                except InterruptedError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                self.buffer.add(data)
        finally:
            os.close(self.fd)

    def settle(self, timeout: float = 2.0) -> None:
        self.join(timeout)


class _PipeChannel:
    """The channel over the job's two pipes (requests in, answers out), multiplexed with ``select``:
    the hardened launcher's and the POSIX subprocess launcher's. A handle may bring its own channel
    with the same four methods instead (``handle.channel``: the portable launcher's socket)."""

    def __init__(self, request_fd: int, response_fd: int):
        self.request_fd = request_fd
        self.response_fd = response_fd

    def readable(self, timeout: float) -> bool:
        readable, _, _ = select.select([self.response_fd], [], [], timeout)
        return bool(readable)

    def read(self, n: int) -> bytes:
        """At most ``n`` bytes (b"" at end of file); raises OSError as ``os.read`` does."""
        return os.read(self.response_fd, n)

    def writable(self, timeout: float) -> bool:
        _, writable, _ = select.select([], [self.request_fd], [], timeout)
        return bool(writable)

    def write(self, data: memoryview) -> int:
        """Bytes written; raises BrokenPipeError once the job is gone."""
        return os.write(self.request_fd, data)


def scrub(text: str, limit: int = 20_000) -> str:
    """A message from the child, safe to show: the boundary's one sanitiser (see ``sanitize.py``)."""
    return safe_text(text, limit)


class StudentProcess:
    """One child running the student's modules, restarted after a crash or a timeout."""

    MAX_RESTARTS = 20

    def __init__(self, launcher: Launcher, limits: Limits, modules: dict[str, tuple[str, str]]):
        """``modules`` maps module name to ``(filename, source)``."""
        self.launcher = launcher
        self.limits = limits
        self.modules = modules
        self.child: ChildHandle | None = None
        self.channel: Any = None  # the child's channel: handle.channel, or a _PipeChannel over its pipes
        self.output: _OutputCollector | _BlockingOutputCollector | None = None
        self._output = _OutputBuffer(limits.output_bytes, limits.output_stop_bytes, self._flooded)
        self.flood_error: StudentOutputFlood | None = None
        self.tampered: StudentTampered | None = None
        self.seq = 0
        self.restarts = 0
        self.load_error: StudentError | None = None
        self.student_seconds = 0.0
        self.channel_seconds = 0.0  # wall time spent waiting on the child: what the total limit counts
        self.timed_out: set[str] = set()
        self.deadline = time.monotonic() + limits.total_seconds
        self.call_limit: float = limits.call_seconds  # the limit of the request in flight (a batch gets more)
        self._child_lock = threading.Lock()
        self._put_bytes: dict[str, int] = {}

    # ------------------------------------------------------------------ lifecycle
    def _flooded(self) -> None:
        """The output collector saw the run's output go past ``output_stop_bytes``: stop the job now."""
        self.flood_error = StudentOutputFlood(
            f"the code printed more than {_mb(self.limits.output_stop_bytes)} in this run (the first "
            f"{_mb(self.limits.output_bytes)} are kept); the process was stopped and the remaining tests "
            "were not run")
        with self._child_lock:
            if self.child is not None:
                self.child.kill()

    def _sticky(self) -> None:
        if self.tampered is not None:
            raise self.tampered
        if self.flood_error is not None:
            raise self.flood_error

    def start(self) -> None:
        self._sticky()
        if self.child is not None:
            return
        if self.load_error is not None:
            # Importing failed in a fresh process before; it would fail (or hang) the same way again.
            raise self.load_error
        if self.restarts > self.MAX_RESTARTS:
            raise StudentCrashed("the submission crashed its process too many times; grading stopped")
        self.restarts += 1
        # Counted before the job exists: what it prints while setting up (why it failed) may be collected
        # before _await_ready runs.
        output_before = self._output.total
        child = self.launcher.spawn(self.limits)
        with self._child_lock:
            self.child = child
        self.channel = getattr(child, "channel", None) or _PipeChannel(child.request_fd, child.response_fd)
        if getattr(child, "blocking_output", False):
            self.output = _BlockingOutputCollector(child.output_fd, self._output)
        else:
            self.output = _OutputCollector(child.output_fd, self._output)
        self.output.start()
        self._await_ready(output_before)
        try:
            self._request(
                {
                    "op": "load",
                    "modules": {name: src for name, (_, src) in self.modules.items()},
                    "files": {name: fname for name, (fname, _) in self.modules.items()},
                },
                [],
                during="importing your files",
                timed=True,
            )
        except StudentError as exc:
            self.load_error = exc

    def _await_ready(self, output_before: int) -> None:
        """The runtime's hello frame: a job that dies or hangs before it is the sandbox's failure."""
        assert self.child is not None
        deadline = time.monotonic() + READY_SECONDS
        try:
            body = self._receive(deadline, "starting the sandbox", SMALL_ANSWER_BYTES)
            header, _ = protocol.decode_frame(body, 1 << 20)
            if header.get("hello") is not True or header.get("seq") != 0:
                raise protocol.ProtocolError("no hello")
        except (StudentError, protocol.ProtocolError) as exc:
            if self.child is not None and self.output is not None:
                # The job said why on its output before it exited: collect that before building the message
                # (on a loaded machine the collector may not have read it yet within stop()'s short wait).
                self.child.wait(5)
                self.output.settle(timeout=10)
            self.stop()
            said = self._output.text()[0][-2000:] if self._output.total > output_before else ""
            said = scrub(said).strip()
            raise SandboxSetupFailed(f"the sandbox could not start a job: {said or exc}") from None

    def stop(self) -> None:
        if self.child is not None:
            self.child.close()
            if self.output is not None:
                self.output.settle()
            with self._child_lock:
                self.child = None

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> "StudentProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def output_text(self) -> tuple[str, int]:
        """Everything the student's code printed (capped for the whole run), and how many bytes were dropped."""
        return self._output.text()

    # ------------------------------------------------------------------ operations
    def call(self, name: str, *args: Any, module: str | None = None, reply: bool = True, quiet: bool = False,
             answer_bytes: int | None = None, **kwargs: Any) -> Any:
        """Call ``module.name(*args, **kwargs)``; ``reply=False`` discards the result, ``quiet`` the prints.
        ``answer_bytes``: the largest answer this call can legitimately need (default: see ``_answer_cap``)."""
        module = module or next(iter(self.modules))
        return self._call({"module": module, "name": name}, name, args, kwargs, reply=reply, quiet=quiet,
                          answer_bytes=answer_bytes)

    def trace(self, name: str, *args: Any, module: str | None = None, **kwargs: Any) -> Any:
        """Call ``module.name(*args, **kwargs)`` with the child counting the line events of the student's
        files (``child.Child.op_trace``); returns the child's claimed counts, unvalidated."""
        module = module or next(iter(self.modules))
        arrays: list[np.ndarray] = []
        header = _call_header("trace", {"module": module, "name": name}, args, kwargs, arrays)
        return self._timed(name, header, arrays, SMALL_ANSWER_BYTES)

    def new(self, store_as: str, class_name: str, *args: Any, module: str | None = None, **kwargs: Any) -> None:
        module = module or next(iter(self.modules))
        self._call({"module": module, "name": class_name}, class_name, args, kwargs, store=store_as)

    def call_method(self, obj: str, method: str, *args: Any, label: str | None = None, reply: bool = True,
                    answer_bytes: int | None = None, **kwargs: Any) -> Any:
        return self._call({"object": obj, "method": method}, label or method, args, kwargs, reply=reply,
                          answer_bytes=answer_bytes)

    def put(self, name: str, value: Any) -> None:
        arrays: list[np.ndarray] = []
        node = protocol.encode_value(value, arrays)
        self._put_bytes[name] = sum(a.nbytes for a in arrays)
        self._op({"op": "put", "name": name, "value": node}, arrays, during="preparing inputs")

    def get(self, name: str, attr: str | None = None, label: str | None = None, answer_bytes: int | None = None) -> Any:
        return self._op({"op": "get", "name": name, "attr": attr}, [], during=label or f"reading {attr or name}",
                        answer_bytes=answer_bytes or max(ANSWER_FLOOR_BYTES, self._put_bytes.get(name, 0) * 2))

    def setitem(self, name: str, attr: str, key: str, value: Any) -> None:
        arrays: list[np.ndarray] = []
        node = protocol.encode_value(value, arrays)
        self._op(
            {"op": "setitem", "name": name, "attr": attr, "key": key, "value": node},
            arrays,
            during=f"setting {attr}[{key!r}]",
        )

    def setitems(self, name: str, attr: str, items: dict[str, Any]) -> None:
        """``setitem`` for each key of ``items``, in one request."""
        arrays: list[np.ndarray] = []
        pairs = [[key, protocol.encode_value(value, arrays)] for key, value in items.items()]
        self._op({"op": "setitems", "name": name, "attr": attr, "items": pairs}, arrays,
                 during=f"setting {attr}[{', '.join(map(repr, items))}]")

    def seed(self, seed: int) -> None:
        self._op({"op": "seed", "seed": int(seed)}, [], during="seeding")

    def call_each(self, name: str, args: Sequence[Any], vary: int, values: Sequence[Any], *,
                  module: str | None = None, **kwargs: Any) -> list[Any]:
        """``[name(*args with args[vary] = v, **kwargs) for v in values]`` in one request: the perturbed inputs of
        a numerical gradient check. Each evaluation gets its own copies of the array arguments, as separate calls
        would; the first exception ends the request (and is raised as a call's would be)."""
        module = module or next(iter(self.modules))
        if not 0 <= vary < len(args):
            raise ValueError(f"no argument {vary} to vary")
        return self._batch({"module": module, "name": name}, name, args, kwargs, {"arg": int(vary)}, values)

    def call_method_each(self, obj: str, method: str, args: Sequence[Any], attr: str, key: str,
                         values: Sequence[Any], *, label: str | None = None, **kwargs: Any) -> list[Any]:
        """For each value v, in one request: ``obj.attr[key] = v`` (in place when shape and dtype match, as
        ``setitem``), then ``obj.method(*args, **kwargs)``; the list of results. ``obj.attr[key]`` keeps the
        last value: the caller restores it."""
        return self._batch({"object": obj, "method": method}, label or method, args, kwargs,
                           {"item": [obj, attr, key]}, values)

    def _batch(self, target: dict[str, Any], label: str, args: Sequence[Any], kwargs: dict[str, Any],
               slot: dict[str, Any], values: Sequence[Any]) -> list[Any]:
        if not values:
            return []
        arrays: list[np.ndarray] = []
        header = _call_header("batch", target, args, kwargs, arrays, slot=slot,
                              values=[protocol.encode_value(v, arrays) for v in values])
        # Each answer can need about as much as one call's inputs (a loss and a gradient of the varied array).
        per_call = max(ANSWER_FLOOR_BYTES // 4, 2 * sum(a.nbytes for a in arrays))
        answer = self._timed(label, header, arrays, max(ANSWER_FLOOR_BYTES, per_call * len(values)),
                             call_seconds=self.limits.call_seconds * len(values))
        if type(answer) is not list or len(answer) != len(values):
            self._tamper(f"the process answered {len(values)} evaluations of {scrub(label)[:100]} with something "
                         "else than a list of as many results")
        return answer

    # ------------------------------------------------------------------ internals
    def _call(self, target: dict[str, Any], label: str, args: Any, kwargs: dict[str, Any], *,
              store: str | None = None, reply: bool = True, quiet: bool = False,
              answer_bytes: int | None = None) -> Any:
        arrays: list[np.ndarray] = []
        header = _call_header("call", target, args, kwargs, arrays, store=store, reply=reply, quiet=quiet)
        if store or not reply:
            cap = SMALL_ANSWER_BYTES
        elif answer_bytes is not None:
            cap = answer_bytes
        else:
            # What a loss/gradient/prediction can need: about as much as its inputs, never less than the floor.
            cap = max(ANSWER_FLOOR_BYTES, 2 * sum(a.nbytes for a in arrays))
        return self._timed(label, header, arrays, cap)

    def _timed(self, label: str, header: dict[str, Any], arrays: list[np.ndarray], cap: int,
               call_seconds: float | None = None) -> Any:
        """A request into the student's code; a target that once timed out is not called again."""
        if label in self.timed_out:
            raise StudentTimeout(f"{label} was not called again: it exceeded the time limit earlier in this run")
        try:
            return self._op(header, arrays, during=label, timed=True, answer_bytes=cap, call_seconds=call_seconds)
        except StudentTimeout as exc:
            if exc is not self.load_error:
                self.timed_out.add(label)
            raise

    def _op(self, header: dict[str, Any], arrays: list[np.ndarray], during: str, timed: bool = False,
            answer_bytes: int = SMALL_ANSWER_BYTES, call_seconds: float | None = None) -> Any:
        self.start()
        if self.load_error is not None:
            raise self.load_error
        return self._request(header, arrays, during, timed, answer_bytes, call_seconds)


    def _request(self, header: dict[str, Any], arrays: list[np.ndarray], during: str, timed: bool = False,
                 answer_bytes: int = SMALL_ANSWER_BYTES, call_seconds: float | None = None) -> Any:
        """Send one request and read exactly one answer to it (within ``call_seconds``, by default the per-call
        limit; a batch of n evaluations gets n times that, always within what is left of the total limit).

        Each request carries a fresh nonce the answer must echo, so an answer written ahead of its request
        cannot match; bytes on the answer pipe before a request or after its answer are tampering. The
        total time limit counts only the time spent waiting on the child, never the grader's own work.
        """
        assert self.child is not None
        self.seq += 1
        seq = self.seq
        nonce = secrets.token_hex(8)
        frame = protocol.encode_frame(dict(header, seq=seq, nonce=nonce), arrays)
        remaining_total = self.limits.total_seconds - self.channel_seconds
        if remaining_total <= 0:
            raise StudentTimeout(f"the grading time limit ({self.limits.total_seconds:g} s) was used up before {during}")
        started = time.monotonic()
        self.deadline = started + remaining_total
        self.call_limit = self.limits.call_seconds if call_seconds is None else call_seconds
        deadline = min(started + self.call_limit, self.deadline)
        cap = min(answer_bytes, (self.limits.frame_mb << 20) + protocol.MAX_HEADER_BYTES)
        try:
            self._unsolicited(during, after=False)
            self._send(frame, deadline, during)
            body = self._receive(deadline, during, cap)
        finally:
            spent = time.monotonic() - started
            self.channel_seconds += spent
            if timed:
                self.student_seconds += spent
        try:
            answer, out_arrays = protocol.decode_frame(body, cap)
            if answer.get("seq") != seq or answer.get("nonce") != nonce:
                raise protocol.ProtocolError("an answer to another request (out of sequence, or written ahead)")
            self._unsolicited(during, after=True)
            if answer.get("ok") is True:
                return protocol.decode_value(answer.get("value"), out_arrays)
            if answer.get("ok") is not False or not isinstance(answer.get("error"), dict):
                raise protocol.ProtocolError("answer is neither a value nor an error")
        except (protocol.ProtocolError, TypeError, ValueError, KeyError, RecursionError, OverflowError,
                MemoryError) as exc:
            self._tamper(f"the process sent an invalid answer while {during} ({scrub(str(exc))[:200]})")
        return self._raise_error(answer["error"], during, header)

    def _tamper(self, what: str) -> None:
        """The channel carried something the runtime would never send: stop the job and fail the run."""
        if self.child is not None:
            self._kill()
        self.tampered = StudentTampered(
            f"grading stopped: {what}; did the code write to the grader's channel or replace its internals? "
            "The results of this run do not count.")
        raise self.tampered

    def _unsolicited(self, during: str, after: bool) -> None:
        """Exactly one answer per request: any byte on the answer pipe now is a frame nobody asked for."""
        assert self.child is not None
        if not self.channel.readable(0):
            return
        try:
            data = self.channel.read(1)
        except OSError:
            return
        if not data:
            return  # end of file: the job died, which the next read or write reports
        when = f"after its answer while {during}" if after else f"before it was asked for anything ({during})"
        self._tamper(f"the process wrote to the grader's channel {when}")

    def _raise_error(self, err: dict[str, Any], during: str, header: dict[str, Any]) -> Any:
        raise self._error_from(err, during, header)

    def _defines(self, module: str, name: str) -> bool:
        """Does the module's source bind ``name`` at top level? (The trusted side's own reading.)"""
        source = self.modules.get(module, ("", ""))[1]
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                return True
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                    return True
            targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
            for target in targets:
                if target is not None and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target)):
                    return True
        return False

    def _error_from(self, err: dict[str, Any], during: str, header: dict[str, Any] | None = None) -> StudentError:
        exc_type = scrub(str(err.get("type", "Exception"))[:100])
        message = scrub(str(err.get("message", ""))[:4000])
        tb = scrub(str(err.get("traceback", ""))[:8000])
        target = (header or {}).get("target") or {}
        missing = err.get("missing")
        if isinstance(missing, str) and "module" in target and missing == target.get("name"):
            # Set by the runtime when looking the function up failed (never taken from the exception's
            # text, which the student controls), and checked against the source, which the child cannot change.
            name = missing
            module = str(target["module"])
            filename = self.modules.get(module, (module + ".py", ""))[0]
            if self._defines(module, name):
                return StudentMissingName(
                    f"{filename} defines {name}, but it was gone when the grader called it (deleted or replaced "
                    "at import time, or hidden by a module __getattr__?)", name)
            return StudentMissingName(f"{filename} does not define {name}", name)
        if exc_type == "SyntaxError" and during == "importing your files":
            text = f"SyntaxError: {message}"
            return StudentCodeError(text, exc_type, message, tb, during)
        head = f"{exc_type}: {message}" if message else exc_type
        text = f"{during} raised {head}"
        if tb:
            text += "\nTraceback (your code, most recent call last):\n" + tb.rstrip()
        return StudentCodeError(text, exc_type, message, tb, during)

    def _kill(self) -> int | None:
        assert self.child is not None
        self.child.kill()
        code = self.child.wait(5)
        self.stop()
        return code

    def _send(self, frame: bytes, deadline: float, during: str) -> None:
        assert self.child is not None
        channel = self.channel
        view = memoryview(frame)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._timeout(during)
            if not channel.writable(remaining):
                continue
            try:
                n = channel.write(view[: 1 << 16])
            except BrokenPipeError:
                self._died(during)
            view = view[n:]

    def _receive(self, deadline: float, during: str, max_bytes: int) -> bytes:
        """One frame body, its announced length checked against ``max_bytes`` before anything else is read."""
        assert self.child is not None
        prefix = self._read_exact(protocol.LENGTH_PREFIX.size, deadline, during)
        (n,) = protocol.LENGTH_PREFIX.unpack(prefix)
        if n > max_bytes:
            self._kill()
            raise StudentAnswerTooLarge(
                f"while {during}, the process announced an answer of {n} bytes, more than the {_mb(max_bytes)} "
                "this request can need (an array far larger than the inputs?, or garbage written to the "
                "grader's channel); it was not read and the process was stopped"
            )
        return self._read_exact(n, deadline, during)

    def _read_exact(self, n: int, deadline: float, during: str) -> bytes:
        assert self.child is not None
        channel = self.channel
        chunks: list[bytes] = []
        while n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._timeout(during)
            if not channel.readable(remaining):
                continue
            try:
                chunk = channel.read(min(n, 1 << 20))
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            if not chunk:
                self._died(during)
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _timeout(self, during: str) -> None:
        self._kill()
        if self.flood_error is not None:
            raise self.flood_error
        if time.monotonic() >= self.deadline - 1e-3:
            raise StudentTimeout(
                f"the grading time limit ({self.limits.total_seconds:g} s) was reached while {during}"
            )
        raise StudentTimeout(
            f"{during} did not finish within {self.call_limit:g} s "
            "(an infinite loop, a sleep, or code far too slow for these inputs?); the process was killed"
        )

    def _died(self, during: str) -> None:
        assert self.child is not None
        child = self.child
        code = child.wait(2)  # the real exit status, before our own SIGKILL could mask it
        killed = self._kill()
        code = killed if code is None else code
        if self.flood_error is not None:
            raise self.flood_error
        if child.oom:
            raise StudentCrashed(f"the process was killed for exceeding the memory limit "
                                 f"({self.limits.memory_mb} MB) while {during}")
        raise StudentCrashed(f"the process {describe_exit(code)} while {during}")


def _call_header(op: str, target: dict[str, Any], args: Sequence[Any], kwargs: dict[str, Any],
                 arrays: list[np.ndarray], **extra: Any) -> dict[str, Any]:
    return {
        "op": op,
        "target": target,
        "args": [protocol.encode_value(a, arrays) for a in args],
        "kwargs": {k: protocol.encode_value(v, arrays) for k, v in kwargs.items()},
        **extra,
    }


def _mb(n: int) -> str:
    return f"{n / (1 << 20):g} MB" if n >= (1 << 20) else f"{n} bytes"
