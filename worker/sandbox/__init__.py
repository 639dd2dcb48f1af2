"""Running student code out of the grader's process.

The engine only ever sees :class:`Launcher` (start a child for one grading
job) and :class:`StudentProcess` (talk to that child over pipes). Replacing
the plain subprocess launcher with a hardened one changes nothing in the
checks.
"""

from worker.sandbox.launcher import ChildHandle, Launcher, Limits, SubprocessLauncher
from worker.sandbox.session import (
    StudentCodeError,
    StudentCrashed,
    StudentError,
    StudentMissingName,
    StudentProcess,
    StudentProtocolError,
    StudentTimeout,
)



def default_launcher() -> Launcher:
    """The launcher a worker process should use (one per process; reuse it for every job)."""
    return SubprocessLauncher()


__all__ = [
    "default_launcher",
    "ChildHandle",
    "Launcher",
    "Limits",
    "SubprocessLauncher",
    "StudentCodeError",
    "StudentCrashed",
    "StudentError",
    "StudentMissingName",
    "StudentProcess",
    "StudentProtocolError",
    "StudentTimeout",
]
