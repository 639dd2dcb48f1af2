"""The code that runs inside the sandbox, next to the student's modules.

It is deliberately small and self-contained (standard library, numpy and the
wire format of ``protocol.py``): it receives requests over one pipe, calls the
student's code and answers over another (or both over one loopback socket:
:class:`SocketChild`, the portable launcher's). Everything it sends is *claimed* by
the child; the trusted side validates every frame (the student can replace
this code at will, so nothing here is a security boundary).

Requests (JSON header, arrays attached):
  load    {"modules": {name: source}, "files": {name: filename}}
  put     {"name": str, "value": v}                  store a value in the child
  call    {"target": {...}, "args": [v], "kwargs": {k: v}, "store": name|null, "reply": bool}
  get     {"name": str, "attr": str|null}            send back a stored value (or an attribute of it)
  setitem {"name": str, "attr": str, "key": str, "value": v}
  seed    {"seed": int}                              np.random.seed and random.seed
Answers: {"seq", "ok": true, "value"} or {"seq", "ok": false, "error": {...}}.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import os
import random
import socket
import sys
import traceback
import types
from typing import Any

import numpy as np

if __package__:  # imported as part of the worker package (tests, a fork server)
    from worker.sandbox import protocol
else:  # run as a script in a fresh interpreter: load the wire format from beside this file
    import importlib.util

    _spec = importlib.util.spec_from_file_location(
        "_grader_protocol", os.path.join(os.path.dirname(os.path.abspath(__file__)), "protocol.py")
    )
    assert _spec and _spec.loader
    protocol = importlib.util.module_from_spec(_spec)
    sys.modules["_grader_protocol"] = protocol
    _spec.loader.exec_module(protocol)

MAX_REQUEST_BYTES = 512 << 20
# Captured before any student module runs, so that a module rebinding sys.settrace cannot fool op_trace.
_settrace = sys.settrace
_gettrace = sys.gettrace


def install_compat_shims() -> None:
    """Make 2017-era code import on a current numpy (``np.int`` and friends)."""
    aliases: dict[str, object] = {"int": int, "float": float, "bool": bool, "object": object, "long": int,
               "str": str, "unicode": str, "complex": complex}
    for name, value in aliases.items():
        if name not in np.__dict__:
            setattr(np, name, value)
    for name, value in {"float_": np.float64, "NaN": np.nan, "Inf": np.inf, "NAN": np.nan,
                        "PINF": np.inf, "NINF": -np.inf, "infty": np.inf}.items():
        if name not in np.__dict__:
            setattr(np, name, value)


class Child:
    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self.modules: dict[str, types.ModuleType] = {}
        self.filenames: set[str] = set()
        self.store: dict[str, Any] = {}
        self.missing: str | None = None  # set by target() when the function itself is not there
        self.null = _Discard()

    # ------------------------------------------------------------------ plumbing
    def serve(self) -> None:
        # "Ready": everything before this line is the sandbox's setup; a death before it is the
        # sandbox's failure, a death after it is the student's.
        self.send(protocol.encode_frame({"seq": 0, "ok": True, "hello": True}, []))
        while True:
            try:
                body = self.receive()
            except EOFError:
                return
            header, arrays = protocol.decode_frame(body, MAX_REQUEST_BYTES)
            seq = header.get("seq")
            self.missing = None
            try:
                value = getattr(self, "op_" + str(header.get("op")))(header, arrays)
                out_arrays: list[np.ndarray] = []
                node = protocol.encode_value(value, out_arrays)
                answer = {"seq": seq, "ok": True, "value": node}
            except BaseException as exc:  # noqa: BLE001 - student code may raise anything, even SystemExit
                out_arrays = []
                answer = {"seq": seq, "ok": False, "error": self.describe(exc)}
                if self.missing is not None:
                    answer["error"]["missing"] = self.missing
            answer["nonce"] = header.get("nonce")
            _flush_std()
            self.send(protocol.encode_frame(answer, out_arrays))

    def receive(self) -> bytes:
        """The next request's frame body; EOFError when the trusted side closed the channel."""
        return protocol.read_frame_blocking(self.rfd, MAX_REQUEST_BYTES)

    def send(self, frame: bytes) -> None:
        protocol.write_frame(self.wfd, frame)

    def describe(self, exc: BaseException) -> dict[str, Any]:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in self.filenames]
        lines = traceback.format_list(frames)
        try:
            message = str(exc)
        except BaseException:  # noqa: BLE001
            message = "<str() of the exception failed>"
        info: dict[str, Any] = {
            "type": type(exc).__name__,
            "message": message[:4000],
            "traceback": "".join(lines)[-8000:],
            "student_frames": len(frames),
        }
        if isinstance(exc, SyntaxError):
            info.update(filename=exc.filename, lineno=exc.lineno, text=(exc.text or "")[:400])
        if isinstance(exc, NameError):
            info["name"] = getattr(exc, "name", None)
        if isinstance(exc, (ImportError, ModuleNotFoundError)):
            info["name"] = getattr(exc, "name", None)
        return info

    def decode(self, node: Any, arrays: list[np.ndarray]) -> Any:
        value = protocol.decode_value(node, arrays, allow_refs=True)
        return self.resolve(value)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, protocol.Ref):
            return self.store[value.name]
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    # ------------------------------------------------------------------ operations
    def op_load(self, header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
        sources: dict[str, str] = header["modules"]
        filenames: dict[str, str] = header["files"]
        self.filenames.update(filenames.values())
        # Register every module before executing any, so that one student file can import another. Dotted
        # names (cs231n.classifiers.fc_net) get their parent packages, so that the course's relative imports
        # (from ..layers import *) work as in the course's folder.
        for name, source in sources.items():
            parts = name.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent not in sys.modules:
                    package = types.ModuleType(parent)
                    package.__path__ = []
                    package.__package__ = parent
                    sys.modules[parent] = package
                    if i > 1:
                        setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], package)
            module = types.ModuleType(name)
            module.__file__ = filenames[name]
            module.__package__ = ".".join(parts[:-1])
            sys.modules[name] = module
            if len(parts) > 1:
                setattr(sys.modules[".".join(parts[:-1])], parts[-1], module)
            self.modules[name] = module
            linecache.cache[filenames[name]] = (len(source), None, source.splitlines(True), filenames[name])
        for name, source in sources.items():
            code = compile(source, filenames[name], "exec", dont_inherit=True)
            exec(code, self.modules[name].__dict__)  # noqa: S102 - this *is* the sandbox
        return None

    def target(self, spec: dict[str, Any]) -> Any:
        if "module" in spec:
            module = self.modules[spec["module"]]
            try:
                return getattr(module, spec["name"])
            except AttributeError:
                self.missing = spec["name"]  # the runtime's own finding, not the text of an exception
                raise
        obj = self.store[spec["object"]]
        return getattr(obj, spec["method"])

    def op_call(self, header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
        func = self.target(header["target"])
        args = [self.decode(a, arrays) for a in header.get("args", [])]
        kwargs = {k: self.decode(v, arrays) for k, v in header.get("kwargs", {}).items()}
        if header.get("quiet"):
            # Timed calls measure computation, not printing: the prints go nowhere (a sink opened once, so a
            # call still works when the code has used up its descriptors).
            with contextlib.redirect_stdout(self.null), contextlib.redirect_stderr(self.null):
                result = func(*args, **kwargs)
        else:
            result = func(*args, **kwargs)
        if header.get("store"):
            self.store[header["store"]] = result
            return None
        return result if header.get("reply", True) else None

    def op_trace(self, header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
        """Call like ``op_call`` (prints discarded, result dropped) while counting the line events that
        run in the student's files, whatever function object runs them (decorators, rebinding, helpers,
        lambdas called back by numpy). Answers ``{"lines": total, "top": [[line, count], ...],
        "intact": bool}``; ``intact`` is false when the code replaced or removed the tracer. Like every
        answer, the counts are the child's claim: the trusted side validates their types and sizes."""
        func = self.target(header["target"])
        args = [self.decode(a, arrays) for a in header.get("args", [])]
        kwargs = {k: self.decode(v, arrays) for k, v in header.get("kwargs", {}).items()}
        files = frozenset(self.filenames)
        counts: dict[int, int] = {}

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "line":
                counts[frame.f_lineno] = counts.get(frame.f_lineno, 0) + 1
            return local

        def tracer(frame: Any, event: str, arg: Any) -> Any:
            if frame.f_code.co_filename not in files:
                return None  # library code: not traced line by line (a call back into student code is)
            return local(frame, event, arg)

        intact = True
        with contextlib.redirect_stdout(self.null), contextlib.redirect_stderr(self.null):
            _settrace(tracer)
            try:
                func(*args, **kwargs)
            finally:
                intact = _gettrace() is tracer
                _settrace(None)
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
        return {"lines": int(sum(counts.values())), "top": [[int(k), int(v)] for k, v in top], "intact": intact}

    def op_put(self, header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
        self.store[header["name"]] = self.decode(header["value"], arrays)

    def op_get(self, header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
        value = self.store[header["name"]]
        if header.get("attr"):
            value = getattr(value, header["attr"])
        return value

    def op_batch(self, header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
        """Several calls of one target in one request, each with one input replaced: ``slot`` is ``{"arg": i}``
        (positional argument i) or ``{"item": [name, attr, key]}`` (``store[name].attr[key]``, assigned like
        ``op_setitem``). Each call gets fresh copies of the array arguments, as separate requests would."""
        func = self.target(header["target"])
        slot = header["slot"]
        values = [self.decode(node, arrays) for node in header["values"]]
        results = []
        for value in values:
            args = [_fresh(self.decode(a, arrays)) for a in header.get("args", [])]
            kwargs = {k: _fresh(self.decode(v, arrays)) for k, v in header.get("kwargs", {}).items()}
            if "arg" in slot:
                args[slot["arg"]] = _fresh(value)
            else:
                name, attr, key = slot["item"]
                self.assign(getattr(self.store[name], attr), key, _fresh(value))
            results.append(func(*args, **kwargs))
        return results

    def op_setitem(self, header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
        container = getattr(self.store[header["name"]], header["attr"])
        self.assign(container, header["key"], self.decode(header["value"], arrays))

    def op_setitems(self, header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
        """``op_setitem`` for several keys of one container, in the order given."""
        container = getattr(self.store[header["name"]], header["attr"])
        for key, node in header["items"]:
            self.assign(container, key, self.decode(node, arrays))

    @staticmethod
    def assign(container: Any, key: Any, value: Any) -> None:
        try:
            current = container[key]
        except Exception:
            current = None
        # An array of the same shape and dtype is overwritten in place, as the course's notebook does (its
        # gradient check and the student's train change net.params' arrays in place): code that keeps aliases of
        # those arrays (self.W1 = self.params['W1']) sees the grader's values, as it would in the notebook.
        if (type(current) is np.ndarray and type(value) is np.ndarray and current.shape == value.shape
                and current.dtype == value.dtype and current.flags.writeable):
            current[...] = value
        else:
            container[key] = value

    def op_seed(self, header: dict[str, Any], arrays: list[np.ndarray]) -> Any:
        np.random.seed(header["seed"])
        random.seed(header["seed"])


def _fresh(value: Any) -> Any:
    """A copy of every array in ``value`` (lists, tuples and dicts rebuilt), anything else as it is."""
    if type(value) is np.ndarray:
        return value.copy()
    if type(value) in (list, tuple):
        return type(value)(_fresh(v) for v in value)
    if type(value) is dict:
        return {k: _fresh(v) for k, v in value.items()}
    return value


class SocketChild(Child):
    """The same runtime over one connected socket instead of two pipes: the portable launcher's channel
    (``portable.py``; Windows has ``select`` only for sockets, and no ``pass_fds``). The frames and
    their limits are those of the pipes."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(-1, -1)
        self.sock = sock

    def receive(self) -> bytes:
        (n,) = protocol.LENGTH_PREFIX.unpack(self._recv_exact(protocol.LENGTH_PREFIX.size))
        if n > MAX_REQUEST_BYTES:
            raise protocol.ProtocolError("frame too large")
        return self._recv_exact(n)

    def _recv_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            try:
                chunk = self.sock.recv(min(n, 1 << 20))
            except (ConnectionResetError, ConnectionAbortedError):
                chunk = b""
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def send(self, frame: bytes) -> None:
        self.sock.sendall(frame)


def connect_back(port: int, token: str, timeout: float = 15.0) -> socket.socket:
    """Connect to the trusted side listening on the loopback interface and prove who we are with the
    one-time token it gave us (``portable.py`` closes any connection that does not start with it)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small answers go out at once
    sock.sendall(token.encode("ascii"))
    sock.settimeout(None)  # blocking: the trusted side keeps the deadlines
    return sock


class _Discard(io.TextIOBase):
    """A text sink that keeps nothing (no descriptor needed)."""

    def write(self, text: str) -> int:
        return len(text)

    def writable(self) -> bool:
        return True


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the student may have replaced or closed it
            pass


def prepare_process(limits: dict[str, int]) -> None:
    """Last steps before student code: resource limits (where the platform has them: not on Windows, where
    the offline check runs the student's own code without them) and the compatibility shims."""
    try:
        import resource
    except ImportError:
        install_compat_shims()
        return

    def cap(which: int, value: int) -> None:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    if limits.get("memory_bytes"):
        cap(resource.RLIMIT_AS, limits["memory_bytes"])
    if limits.get("cpu_seconds"):
        cap(resource.RLIMIT_CPU, limits["cpu_seconds"])
    if limits.get("file_bytes"):
        cap(resource.RLIMIT_FSIZE, limits["file_bytes"])
    if limits.get("processes"):
        cap(resource.RLIMIT_NPROC, limits["processes"])
    cap(resource.RLIMIT_CORE, 0)
    install_compat_shims()


TOKEN_VARIABLE = "GRADER_CHANNEL_TOKEN"  # portable.py: the one-time token, passed in the environment


def main() -> None:  # pragma: no cover - runs in the child process
    """``child.py RFD WFD [LIMITS]``: serve over two inherited pipes; ``child.py --connect PORT [LIMITS]``:
    connect back to the trusted side on 127.0.0.1:PORT with the token of ``$GRADER_CHANNEL_TOKEN``."""
    import json

    if sys.argv[1] == "--connect":
        # Taken out of the environment before any student code runs (nothing the code starts inherits it).
        token = os.environ.pop(TOKEN_VARIABLE, "")
        port = int(sys.argv[2])
        limits = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
        prepare_process(limits)
        try:
            sock = connect_back(port, token)
        except OSError as exc:
            os.write(2, f"grader runtime could not connect to the grader: {exc}\n".encode("utf-8", "replace"))
            os._exit(RUNTIME_CRASHED)
        _serve_or_report(SocketChild(sock))
        return
    rfd, wfd = int(sys.argv[1]), int(sys.argv[2])
    limits = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    prepare_process(limits)
    serve_or_report(rfd, wfd)


RUNTIME_CRASHED = 122  # session.RUNTIME_CRASHED: the runtime's own loop failed (not the student's exit)


def serve_or_report(rfd: int, wfd: int) -> None:
    """Serve until the trusted side closes the channel (exit 0); if the runtime's own loop fails (a
    request it cannot read, an answer it cannot write: most often because the student replaced part of
    it), say so on stderr and exit with :data:`RUNTIME_CRASHED`, never with 0."""
    _serve_or_report(Child(rfd, wfd))


def _serve_or_report(child: Child) -> None:
    try:
        child.serve()
    except BaseException as exc:  # noqa: BLE001
        try:
            os.write(2, f"grader runtime failed: {type(exc).__name__}\n".encode())
        except BaseException:  # noqa: BLE001
            pass
        os._exit(RUNTIME_CRASHED)
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
