"""Running student code out of the grader's process.

The engine only ever sees :class:`Launcher` (start a child for one grading
job) and :class:`StudentProcess` (talk to that child over pipes). Replacing
the plain subprocess launcher with a hardened one changes nothing in the
checks.
"""

import os

from worker.sandbox.launcher import (
    ChildHandle,
    Launcher,
    Limits,
    SandboxFailure,
    SandboxSetupFailed,
    SubprocessLauncher,
)
from worker.sandbox.session import (
    StudentCodeError,
    StudentCrashed,
    StudentError,
    StudentMissingName,
    StudentProcess,
    StudentProtocolError,
    StudentTimeout,
)



_default: tuple[int, Launcher] | None = None


def unsafe_opt_out() -> bool:
    """The operator's explicit opt-out of isolation (``GRADER_UNSAFE_NO_SANDBOX=1``)."""
    return os.environ.get("GRADER_UNSAFE_NO_SANDBOX", "") in ("1", "true", "yes")


def default_launcher() -> Launcher:
    """The launcher for grading in this process: the hardened fork server, created once per process
    (a forked worker gets its own). Raises :class:`~worker.sandbox.hardened.SandboxUnavailable` when
    nothing can be isolated, unless the operator opted out with ``GRADER_UNSAFE_NO_SANDBOX=1``."""
    global _default
    if _default is not None and _default[0] == os.getpid():
        return _default[1]
    launcher: Launcher
    if unsafe_opt_out():
        launcher = SubprocessLauncher()
    else:
        from worker.sandbox.hardened import ForkServerLauncher

        launcher = ForkServerLauncher()
        launcher.start()
    _default = (os.getpid(), launcher)
    return launcher


__all__ = [
    "default_launcher",
    "unsafe_opt_out",
    "ChildHandle",
    "Launcher",
    "Limits",
    "SandboxFailure",
    "SandboxSetupFailed",
    "SubprocessLauncher",
    "StudentCodeError",
    "StudentCrashed",
    "StudentError",
    "StudentMissingName",
    "StudentProcess",
    "StudentProtocolError",
    "StudentTimeout",
]
