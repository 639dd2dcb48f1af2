"""Running student code out of the grader's process.

The engine only ever sees :class:`Launcher` (start a child for one grading
job) and :class:`StudentProcess` (talk to that child over pipes). Replacing
the plain subprocess launcher with a hardened one changes nothing in the
checks.
"""

import logging
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
    StudentAnswerTooLarge,
    StudentMissingName,
    StudentOutputFlood,
    StudentProcess,
    StudentProtocolError,
    StudentTampered,
    StudentTimeout,
)



log = logging.getLogger(__name__)
_default: tuple[int, Launcher] | None = None


def unsafe_opt_out() -> bool:
    """The operator's explicit opt-out of isolation (``GRADER_UNSAFE_NO_SANDBOX=1``)."""
    return os.environ.get("GRADER_UNSAFE_NO_SANDBOX", "") in ("1", "true", "yes")


def default_launcher() -> Launcher:
    """The launcher for grading in this process: the hardened fork server, created and self-tested
    once per process (a forked worker gets its own).

    Raises :class:`~worker.sandbox.hardened.SandboxUnavailable` when nothing can be isolated or the
    self-test finds a layer that does not hold what it promises, so the worker refuses to grade
    (the task fails as an infrastructure error and is retried), unless the operator opted out with
    ``GRADER_UNSAFE_NO_SANDBOX=1``.
    """
    global _default
    if _default is not None and _default[0] == os.getpid():
        return _default[1]
    launcher: Launcher
    if unsafe_opt_out():
        log.warning("GRADER_UNSAFE_NO_SANDBOX is set: student code runs WITHOUT the sandbox")
        launcher = SubprocessLauncher()
    else:
        from worker.sandbox.hardened import ForkServerLauncher, SandboxUnavailable

        launcher = ForkServerLauncher()
        launcher.start()
        try:
            result = launcher.self_test()
        except SandboxFailure as exc:  # the probe job itself could not start: a layer the server claims fails
            result = {"ok": False, "checks": [], "error": f"a probe job could not start ({exc})"}
        if not result["ok"]:
            failed = [name for name, ok, _ in result["checks"] if not ok] or [result.get("error", "?")]
            launcher.close()
            raise SandboxUnavailable(f"the sandbox self-test failed: {'; '.join(failed)}")
        missing = [name for name, value in launcher.layers.items() if not value]
        log.info("sandbox ready (%s); self-test passed (%d checks)%s", launcher.name, len(result["checks"]),
                 f"; missing layers: {', '.join(missing)}" if missing else "")
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
    "StudentTampered",
    "StudentOutputFlood",
    "StudentAnswerTooLarge",
    "StudentTimeout",
]
