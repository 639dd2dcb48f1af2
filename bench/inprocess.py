"""A launcher that runs the child runtime in a thread of *this* process: no isolation at all.

For benchmarks and tests only (the baseline "in-process, without any sandbox"). Never use it for
student code: the code would run with the grader's memory, files and credentials.
"""

from __future__ import annotations

import os
import threading

from worker.sandbox.child import Child, install_compat_shims
from worker.sandbox.launcher import ChildHandle, Limits


class InProcessChild(ChildHandle):
    def __init__(self, thread: threading.Thread, fds: tuple[int, int, int], own: tuple[int, ...]):
        super().__init__(os.getpid(), *fds)
        self.thread = thread
        self.own = own

    def kill(self) -> None:
        """A thread cannot be killed; a call that never returns keeps it (benchmarks use correct code)."""

    def wait(self, timeout: float | None = None) -> int | None:
        self.thread.join(timeout)
        return None if self.thread.is_alive() else 0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        os.close(self.request_fd)  # end of requests: the serve() loop returns
        self.thread.join(5)
        for fd in (self.response_fd, *self.own):
            try:
                os.close(fd)
            except OSError:
                pass


class InProcessLauncher:
    name = "in-process (benchmark only)"

    def __init__(self) -> None:
        install_compat_shims()

    def close(self) -> None:
        pass

    def spawn(self, limits: Limits) -> ChildHandle:
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        os.close(out_w)  # prints go to this process's stdout; the report's output stays empty

        def run() -> None:
            try:
                Child(req_r, resp_w).serve()
            except OSError:
                pass

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return InProcessChild(thread, (req_w, resp_r, out_r), (req_r, resp_w))
