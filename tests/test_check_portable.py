"""`grader check` on native Windows (issue 14): the portable transport of worker/sandbox/portable.py.

The offline check's child talks to the trusted side over a loopback socket it connects back to with a
one-time token, instead of two pipes multiplexed with select() (Windows' select takes sockets only).
Windows itself is not available here, so:

- the same fixtures graded through both transports on Linux give the same report (timings aside);
- the check path is run in a fresh interpreter where what Windows lacks is taken away (see
  ``WINDOWS_SIMULATION``: what it blocks and what it cannot simulate), the child included; it completes
  with the same report, while the pipe transport under the same simulation fails (so the simulation
  bites);
- the token keeps other local programs off the channel, a job that dies or hangs before it connects is
  the sandbox's failure as with the pipes, and the CLI picks the transport (and refuses `grade` on
  Windows, which needs the Linux sandbox).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import SUBMISSIONS
from grader import cli
from worker.assignments import load_assignment_dir
from worker.engine import grade
from worker.sandbox import Limits, SandboxSetupFailed, StudentProcess, SubprocessLauncher, portable, session
from worker.sandbox.portable import PortableLauncher, TransportError, check_launcher, portable_environment

ROOT = Path(__file__).resolve().parents[1]
SEED = 5
FAST = Limits(call_seconds=1.0, total_seconds=60.0)
# A few public tests of svm (the whole kit takes 1.5 s a run): the naive loss twice, the vectorized loss once.
# The course folder of `svm_subset` is svm's with the other tests no longer public, so `grader check` runs these.
SUBSET = ("naive_loss_at_zero", "naive_reg_known_value", "vectorized_loss_at_zero")

CORRECT = (SUBMISSIONS / "svm" / "correct_loops.py").read_text()
FIXTURES = {
    "buggy": (SUBMISSIONS / "svm" / "bug_half_reg.py").read_text(),
    "crash": CORRECT + (
        "\n\ndef svm_loss_vectorized(W, X, y, reg):\n"
        "    import ctypes\n"
        "    ctypes.string_at(0)  # a segmentation fault\n"),
    "infinite_loop": CORRECT + (
        "\n\ndef svm_loss_vectorized(W, X, y, reg):\n"
        "    while True:\n"
        "        pass\n"),
    # A correct file that prints NUL, ESC and a bidi override (the hostile fixture, on its base).
    "prints_nul_esc": CORRECT + "\n" + (ROOT / "tests" / "hostile" / "prints_nul_esc_bidi.py").read_text(),
    # The runtime's own writer (whichever transport: found by type, not by descriptor number) sends a forged
    # answer before the real one.
    "forged_frame": CORRECT + r'''

_correct_vectorized = svm_loss_vectorized


def svm_loss_vectorized(W, X, y, reg):
    import gc, json, struct
    h = json.dumps({"seq": 3, "ok": True, "value": {"t": "tuple", "items": [{"t": "float", "v": 0.0},
                   {"t": "none"}], "len": 2}, "arrays": []}).encode()
    body = b"GRD1" + struct.pack(">I", len(h)) + h
    for obj in gc.get_objects():
        if type(obj).__name__ in ("Child", "SocketChild") and hasattr(obj, "send"):
            obj.send(struct.pack(">Q", len(body)) + body)
    return _correct_vectorized(W, X, y, reg)
''',
}


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what differs between two runs of the same code: timings, the launcher's name."""
    out = {k: v for k, v in report.items() if k not in ("execution_time", "student_time", "sandbox")}
    out["tests"] = [dict(t, details={k: v for k, v in t["details"].items() if k != "seconds"})
                    for t in report["tests"]]
    return out


@pytest.fixture(scope="module")
def course_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course folder with a copy of svm whose public tests (what `grader check` runs) are SUBSET only."""
    folder = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "assignments" / "svm", folder / "svm", ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "svm" / "assignment.toml"
    head, *blocks = toml.read_text().split("\n[[tests]]\n")
    for i, block in enumerate(blocks):
        if not any(f'id = "{tid}"\n' in block for tid in SUBSET):
            blocks[i] = block.replace("public = true", "public = false")
    toml.write_text("\n[[tests]]\n".join([head, *blocks]))
    return folder


@pytest.fixture(scope="module")
def svm_subset(course_folder: Path) -> Any:
    course = load_assignment_dir(course_folder / "svm")
    assert [t.id for t in course.tests if t.public] == list(SUBSET)
    return course


@pytest.mark.parametrize("name", list(FIXTURES))
def test_the_socket_transport_gives_the_report_of_the_pipes(svm_subset: Any, name: str) -> None:
    files = {"linear_svm.py": FIXTURES[name]}
    # The two runs side by side (the engine grades in any thread; only its CPU bound on the grader's own
    # work, which these runs never approach, is kept to the main thread).
    with ThreadPoolExecutor(1) as pool:
        later = pool.submit(grade, svm_subset, files, seed=SEED, mode="check", launcher=SubprocessLauncher(),
                            limits=FAST)
        sockets = grade(svm_subset, files, seed=SEED, mode="check", launcher=PortableLauncher(), limits=FAST)
        pipes = later.result(timeout=120)
    assert sockets["sandbox"] == PortableLauncher.name and pipes["sandbox"] == SubprocessLauncher.name
    assert _stable(sockets) == _stable(pipes)
    tests = {t["id"]: t for t in sockets["tests"]}
    assert [t["id"] for t in sockets["tests"]] == list(SUBSET)
    # What each fixture is for, so that the equality above compares the cases it names.
    if name == "buggy":
        assert tests["naive_reg_known_value"]["status"] == "failed" and tests["naive_loss_at_zero"]["status"] == "passed"
    elif name == "crash":
        assert tests["naive_loss_at_zero"]["status"] == "passed"
        assert "SIGSEGV" in tests["vectorized_loss_at_zero"]["output"], tests["vectorized_loss_at_zero"]
    elif name == "infinite_loop":
        assert tests["naive_loss_at_zero"]["status"] == "passed"
        assert "did not finish within 1 s" in tests["vectorized_loss_at_zero"]["output"]
    elif name == "prints_nul_esc":
        assert sockets["score"] == sockets["max_score"] == 3
        shown = sockets["student_output"]
        assert "import:" in shown and "call:" in shown and "stderr:" in shown
        assert not any(c in shown for c in "\x00\x1b\u202e"), shown
    elif name == "forged_frame":
        assert sockets["tampering"] is True and sockets["score"] == 0
        assert tests["vectorized_loss_at_zero"]["details"]["kind"] == "tampering"


# --------------------------------------------------------------------------- without what Windows lacks

WINDOWS_SIMULATION = r'''
"""Run Python code without what native Windows lacks (a simulation on Linux; see the test's docstring).

Blocked: the modules fcntl, resource, pwd, grp, termios, tty, pty, syslog (ImportError); os.fork, forkpty,
killpg, setsid, setpgid, setpgrp, getpgid, getsid, register_at_fork, set_blocking, get_blocking,
getuid/geteuid/getgid/getegid (absent); signal.SIGKILL and every signal and timer Windows has not
(absent: Windows has SIGINT, SIGTERM, SIGABRT, SIGFPE, SIGILL, SIGSEGV, SIGBREAK); select.poll/epoll
(absent) and select.select on anything but a socket (OSError 10038, as Windows raises); Popen's POSIX-only
arguments pass_fds, preexec_fn, start_new_session, process_group, user, group, extra_groups, umask
(refused). Not simulated: os.name stays "posix", paths stay POSIX paths, and underneath Popen is still
the POSIX implementation (Popen.kill, which is TerminateProcess on Windows, is replaced by a kill with
signal number 9 so the blocked signal.SIGKILL is not needed); no Windows console, code page or firewall.

Usage: python sim.py parent -- ARGS (runs `grader ARGS` with the child started under this file too) or
python sim.py child CHILD_SCRIPT ARGS (runs the sandbox's child runtime).
"""
import importlib.abc
import os
import sys

BLOCKED_MODULES = {"fcntl", "resource", "pwd", "grp", "termios", "tty", "pty", "syslog"}
BLOCKED_OS = ["fork", "forkpty", "killpg", "setsid", "setpgid", "setpgrp", "getpgid", "getsid",
              "register_at_fork", "set_blocking", "get_blocking", "getuid", "geteuid", "getgid", "getegid"]
WINDOWS_SIGNALS = {"SIGINT", "SIGTERM", "SIGABRT", "SIGFPE", "SIGILL", "SIGSEGV", "SIGBREAK", "SIG_DFL", "SIG_IGN"}
POSIX_POPEN = {"pass_fds": (), "preexec_fn": None, "start_new_session": False, "process_group": None,
               "user": None, "group": None, "extra_groups": None, "umask": -1}
attempts = []


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in BLOCKED_MODULES:
            attempts.append("import " + name)
            raise ModuleNotFoundError(f"No module named {name!r} (simulated Windows)", name=name)
        return None


def install():
    for name in BLOCKED_MODULES:
        sys.modules.pop(name, None)
    sys.meta_path.insert(0, _Blocker())
    for name in BLOCKED_OS:
        if hasattr(os, name):
            delattr(os, name)
    import signal
    for name in list(vars(signal)):
        if name.startswith("SIG") and name not in WINDOWS_SIGNALS and not name.startswith("SIG_"):
            delattr(signal, name)
    for name in ("setitimer", "getitimer", "alarm", "pause", "pthread_kill", "pthread_sigmask", "siginterrupt",
                 "sigwait", "sigpending", "ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF"):
        if hasattr(signal, name):
            delattr(signal, name)
    import select
    import socket
    import stat
    for name in ("poll", "epoll", "devpoll", "kqueue", "kevent"):
        if hasattr(select, name):
            delattr(select, name)
    real_select = select.select

    def select_sockets_only(rlist, wlist, xlist, *timeout):
        for obj in (*rlist, *wlist, *xlist):
            fd = obj if isinstance(obj, int) else obj.fileno()
            if not isinstance(obj, socket.socket) and not stat.S_ISSOCK(os.fstat(fd).st_mode):
                attempts.append("select on a non-socket")
                raise OSError(10038, "An operation was attempted on something that is not a socket "
                                     "(simulated Windows)")
        return real_select(rlist, wlist, xlist, *timeout)

    select.select = select_sockets_only
    import subprocess
    real_init = subprocess.Popen.__init__

    def init(self, *args, **kwargs):
        for key, default in POSIX_POPEN.items():
            if key in kwargs and kwargs[key] != default:
                attempts.append("Popen " + key)
                raise ValueError(f"{key} is not supported on Windows platforms (simulated Windows)")
        real_init(self, *args, **kwargs)

    def kill(self):  # TerminateProcess on Windows
        self.send_signal(9)

    subprocess.Popen.__init__ = init
    subprocess.Popen.kill = kill


def report():
    sys.stderr.write("simulated-windows: blocked attempts: " + json.dumps(sorted(set(attempts))) + "\n")


if __name__ == "__main__":
    import json
    role = sys.argv[1]
    install()
    if role == "child":
        import runpy
        sys.argv = sys.argv[2:]
        runpy.run_path(sys.argv[0], run_name="__main__")
    else:
        import atexit
        atexit.register(report)
        import worker.sandbox.portable as portable
        here = os.path.abspath(__file__)

        def child_command(port, limits_json):
            command = original(port, limits_json)
            return [*command[:4], here, "child", *command[4:]]

        original = portable.child_command
        portable.child_command = child_command
        from grader.cli import main
        main(sys.argv[3:], prog_name="grader")
'''

# Imported at the top of the file the simulated check runs: what the child could use, tried in the child.
PROBE = r'''
import os as _os, select as _select, signal as _signal
_tried = []
for _name in ("fcntl", "resource", "pwd", "termios"):
    try:
        __import__(_name)
        _tried.append(_name + " present")
    except ImportError:
        _tried.append(_name + " blocked")
_tried.append("fork " + ("present" if hasattr(_os, "fork") else "blocked"))
_tried.append("SIGKILL " + ("present" if hasattr(_signal, "SIGKILL") else "blocked"))
_r, _w = _os.pipe()
try:
    _select.select([_r], [], [], 0)
    _tried.append("select-on-pipe present")
except OSError:
    _tried.append("select-on-pipe blocked")
print("probe:", ", ".join(_tried))
'''


def _simulated_check(tmp_path: Path, course: Path, transport: str, source: str) -> subprocess.Popen[str]:
    """`grader check svm` in a fresh interpreter under the simulation, started (the caller waits)."""
    folder = tmp_path / transport
    folder.mkdir()
    sim = folder / "sim.py"
    sim.write_text(WINDOWS_SIMULATION)
    student = folder / "linear_svm.py"
    student.write_text(source)
    env = dict(os.environ, GRADER_CHECK_TRANSPORT=transport, GRADER_ASSIGNMENTS_DIR=str(course))
    return subprocess.Popen([sys.executable, str(sim), "parent", "--", "check", "svm", str(student), "--json",
                             "--seed", str(SEED)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8")


def _attempts(stderr: str) -> list[str]:
    assert "simulated-windows: blocked attempts: " in stderr, stderr[-3000:]  # the parent ran under the simulation
    return json.loads(stderr.split("simulated-windows: blocked attempts: ")[1].splitlines()[0])


def test_the_check_completes_without_what_windows_lacks(tmp_path: Path, course_folder: Path, svm_subset: Any) -> None:
    """The check through the portable transport, parent and child under the simulation, gives the report of the
    pipes without it; the pipes under the same simulation fail (the simulation bites). Both simulated runs go
    side by side, with the reference run in this process meanwhile."""
    source = PROBE + CORRECT
    runs = {t: _simulated_check(tmp_path, course_folder, t, source) for t in ("socket", "pipes")}
    pipes = grade(svm_subset, {"linear_svm.py": source}, seed=SEED, mode="check", launcher=SubprocessLauncher())
    out = {t: run.communicate(timeout=120) for t, run in runs.items()}
    # Today's transport on Linux, whose child has all of it (the probe says so).
    assert "probe: fcntl present" in pipes["student_output"] and pipes["score"] == pipes["max_score"] == 3

    stdout, stderr = out["socket"]
    assert runs["socket"].returncode == 0, stderr[-3000:]
    report = json.loads(stdout)
    # The child ran under the simulation too: everything the probe tried is missing there.
    assert "probe: fcntl blocked, resource blocked, pwd blocked, termios blocked, fork blocked, SIGKILL blocked, " \
           "select-on-pipe blocked" in report["student_output"], report["student_output"]
    assert report["sandbox"] == PortableLauncher.name
    strip = lambda r: {k: v for k, v in _stable(r).items() if k != "student_output"}  # noqa: E731
    assert strip(report) == strip(pipes)
    # Nothing on the check's own path tried what was blocked: only the standard library's optional imports
    # (subprocess's POSIX half tries fcntl, getpass tries termios; both go on without them).
    assert set(_attempts(stderr)) <= {"import fcntl", "import termios"}, _attempts(stderr)

    # Today's transport does not get through the same simulation: pass_fds is refused, every test fails.
    stdout, stderr = out["pipes"]
    assert "Popen pass_fds" in _attempts(stderr)
    failed = json.loads(stdout)
    assert failed["score"] == 0 and len(failed["tests"]) == len(SUBSET)
    assert all(t["status"] == "error" and "internal grader error in this check (ValueError)" in t["output"]
               for t in failed["tests"]), failed["tests"][0]


# --------------------------------------------------------------------------- the token and the job's start

PROBE_MODULE = {"probe": ("probe.py", "def double(x):\n    return 2 * x\n")}


class _Intruding:
    """The portable launcher, with three other local connections made to its port before the child's own:
    one with a wrong token of the right length, one with a short wrong prefix that then closes, one silent."""

    name = "intruding"

    def __init__(self) -> None:
        self.inner = PortableLauncher()
        self.strangers: list[socket.socket] = []
        self.child: Any = None

    def spawn(self, limits: Limits) -> Any:
        child = self.child = self.inner.spawn(limits)
        port = child.channel.port
        wrong = socket.create_connection(("127.0.0.1", port))
        wrong.sendall(b"0" * 64)
        short = socket.create_connection(("127.0.0.1", port))
        short.sendall(b"GRD1")
        short.shutdown(socket.SHUT_WR)
        silent = socket.create_connection(("127.0.0.1", port))
        self.strangers = [wrong, short, silent]
        return child

    def close(self) -> None:
        pass


def test_other_local_connections_never_reach_the_channel() -> None:
    launcher = _Intruding()
    with StudentProcess(launcher, Limits(), PROBE_MODULE) as process:
        assert process.call("double", 21) == 42
        channel = launcher.child.channel
        assert channel.listener is None and not channel.pending  # nobody else can come in any more
        assert channel.refused == 2  # the wrong token and the short one; the silent one closed with the listener
    for stranger in launcher.strangers:
        stranger.settimeout(5)
        assert stranger.recv(100) == b""  # closed, and never a byte of the channel (no hello, no answer)
        stranger.close()


CHATTY = {"chatty": ("chatty.py", """
def double(x):
    print("r\u00e9sultat \u2713 \u5b66\u751f")
    return 2 * x


def flood():
    while True:
        print("x" * 4096)
""")}


def test_big_arrays_text_and_an_output_flood_over_the_socket() -> None:
    import numpy as np

    from worker.sandbox import StudentOutputFlood

    big = np.arange(512 * 512, dtype=np.float64).reshape(512, 512)  # 2 MB each way: many chunks and reads
    limits = Limits(call_seconds=10, output_stop_bytes=1 << 20)
    with StudentProcess(PortableLauncher(), limits, CHATTY) as process:
        assert np.array_equal(process.call("double", big), 2 * big)
        with pytest.raises(StudentOutputFlood, match="printed more than 1 MB"):
            process.call("flood")
        with pytest.raises(StudentOutputFlood):  # the rest of the run fails with it
            process.call("double", 1)
    text, dropped = process.output_text()
    assert text.startswith("r\u00e9sultat \u2713 \u5b66\u751f\n") and dropped > 0
    # Here the child's locale is UTF-8 anyway; on Windows the console's code page (cp1252, ...) would refuse
    # such a print, so the child runs in UTF-8 mode (not testable here beyond its command line).
    assert portable.child_command(1, "{}")[1:4] == ["-I", "-X", "utf8"]


def test_a_job_that_dies_before_it_connects_is_the_sandboxs_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(portable, "child_command", lambda port, limits: [
        sys.executable, "-I", "-c", "import sys; print('numpy is missing here'); sys.exit(3)"])
    with pytest.raises(SandboxSetupFailed, match="numpy is missing here"):
        StudentProcess(PortableLauncher(), Limits(), PROBE_MODULE).start()


def test_a_job_that_never_connects_is_stopped_at_the_ready_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "READY_SECONDS", 0.5)
    monkeypatch.setattr(portable, "child_command", lambda port, limits: [
        sys.executable, "-I", "-c", "print('stuck', flush=True); import time; time.sleep(60)"])
    launcher = PortableLauncher()
    started = time.monotonic()
    with pytest.raises(SandboxSetupFailed, match="stuck"):
        StudentProcess(launcher, Limits(), PROBE_MODULE).start()
    assert time.monotonic() - started < 10


# --------------------------------------------------------------------------- choosing the transport


def test_the_transport_of_the_offline_check() -> None:
    assert type(check_launcher({}, windows=False)) is SubprocessLauncher
    assert type(check_launcher({"GRADER_CHECK_TRANSPORT": "pipes"}, windows=False)) is SubprocessLauncher
    assert type(check_launcher({"GRADER_CHECK_TRANSPORT": " Socket "}, windows=False)) is PortableLauncher
    assert type(check_launcher({}, windows=True)) is PortableLauncher
    assert type(check_launcher({"GRADER_CHECK_TRANSPORT": "socket"}, windows=True)) is PortableLauncher
    with pytest.raises(TransportError, match="'carrier-pigeon' is not a transport"):
        check_launcher({"GRADER_CHECK_TRANSPORT": "carrier-pigeon"}, windows=False)
    with pytest.raises(TransportError, match="does not work on Windows"):
        check_launcher({"GRADER_CHECK_TRANSPORT": "pipes"}, windows=True)


def test_the_childs_environment_on_windows_keeps_what_python_needs_and_nothing_else(tmp_path: Path) -> None:
    worker_env = {"SYSTEMROOT": r"C:\Windows", "WINDIR": r"C:\Windows", "PATH": r"C:\Python\Library\bin",
                  "GRADER_SECRET_KEY": "s3cret", "GRADER_TOKEN": "t0ken", "APPDATA": r"C:\Users\a\AppData"}
    env = portable_environment(str(tmp_path), worker_env, windows=True)
    assert env["SYSTEMROOT"] == r"C:\Windows" and env["PATH"] == r"C:\Python\Library\bin"
    assert env["TEMP"] == env["TMP"] == env["USERPROFILE"] == str(tmp_path)
    assert not {"GRADER_SECRET_KEY", "GRADER_TOKEN", "APPDATA"} & set(env)
    assert portable_environment(str(tmp_path), worker_env, windows=False) == \
        __import__("worker.sandbox.launcher", fromlist=["child_environment"]).child_environment(str(tmp_path))


def test_in_a_windows_venv_the_job_is_the_interpreter_itself_not_the_venvs_launcher(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", r"C:\course\.venv\Scripts\python.exe")
    monkeypatch.setattr(sys, "_base_executable", r"C:\Python311\python.exe", raising=False)
    assert portable.child_interpreter(windows=True) == (
        r"C:\Python311\python.exe", {"__PYVENV_LAUNCHER__": r"C:\course\.venv\Scripts\python.exe"})
    assert portable.child_interpreter(windows=False) == (r"C:\course\.venv\Scripts\python.exe", {})
    monkeypatch.setattr(sys, "_base_executable", sys.executable)  # no venv: nothing to bypass
    assert portable.child_interpreter(windows=True) == (r"C:\course\.venv\Scripts\python.exe", {})


def test_windows_crash_statuses_are_named() -> None:
    assert "access violation (segmentation fault)" in session.describe_exit(0xC0000005)
    assert "stack overflow" in session.describe_exit(0xC00000FD)
    assert session.describe_exit(3) == "exited with code 3 (did the code call exit()?)"


@pytest.fixture
def fake_grade(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """grade() replaced by a recorder: these tests are about which launcher the CLI builds."""
    launchers: list[Any] = []

    def recorder(assignment: Any, files: Any, **kwargs: Any) -> dict[str, Any]:
        launchers.append(kwargs["launcher"])
        return {"assignment": "svm", "title": "t", "score": 1.0, "max_score": 1.0, "status": "graded", "tests": [],
                "output": "", "mode": kwargs["mode"], "seed": 1}

    monkeypatch.setattr("worker.engine.grade", recorder)
    return launchers


def test_the_cli_checks_on_windows_and_still_refuses_to_grade_there(
        monkeypatch: pytest.MonkeyPatch, fake_grade: list[Any]) -> None:
    monkeypatch.setattr(cli, "_native_windows", lambda: True)
    monkeypatch.delenv("GRADER_CHECK_TRANSPORT", raising=False)
    student = str(SUBMISSIONS / "svm" / "correct_loops.py")
    runner = CliRunner()
    checked = runner.invoke(cli.main, ["check", "svm", student, "--json"])
    assert checked.exit_code == 0, checked.stderr
    assert [type(x) for x in fake_grade] == [PortableLauncher] and "WSL" not in checked.stderr
    graded = runner.invoke(cli.main, ["grade", "svm", student, "--json"])
    assert graded.exit_code == 1 and "`grader grade` does not run on native Windows: use WSL" in graded.stderr
    assert len(fake_grade) == 1  # nothing graded
    monkeypatch.setenv("GRADER_CHECK_TRANSPORT", "pipes")
    refused = runner.invoke(cli.main, ["check", "svm", student])
    assert refused.exit_code == 2 and "GRADER_CHECK_TRANSPORT=pipes does not work on Windows" in refused.stderr


def test_the_cli_on_linux_keeps_the_pipes_unless_told(monkeypatch: pytest.MonkeyPatch, fake_grade: list[Any]) -> None:
    monkeypatch.setattr(cli, "_native_windows", lambda: False)
    student = str(SUBMISSIONS / "svm" / "correct_loops.py")
    runner = CliRunner()
    monkeypatch.delenv("GRADER_CHECK_TRANSPORT", raising=False)
    assert runner.invoke(cli.main, ["check", "svm", student, "--json"]).exit_code == 0
    monkeypatch.setenv("GRADER_CHECK_TRANSPORT", "socket")
    assert runner.invoke(cli.main, ["check", "svm", student, "--json"]).exit_code == 0
    assert [type(x) for x in fake_grade] == [SubprocessLauncher, PortableLauncher]
    monkeypatch.setenv("GRADER_CHECK_TRANSPORT", "smoke-signals")
    bad = runner.invoke(cli.main, ["check", "svm", student, "--json"])
    assert bad.exit_code == 2 and "GRADER_CHECK_TRANSPORT='smoke-signals' is not a transport" in bad.stderr
    assert bad.stdout == "" and len(fake_grade) == 2
