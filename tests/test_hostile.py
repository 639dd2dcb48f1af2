"""Hostile submissions against the hardened sandbox (SANDBOX.md, "Attack families").

Every attack is a ``linear_svm.py`` graded through :func:`worker.engine.grade`, the same path as a real
submission, with a fork server started by this module *after* planting three markers:

* a secret in the worker's environment (``GRADER_SECRET_MARKER``, and inside the database/broker URLs
  and the secret key, the way a real worker holds credentials);
* a marker in a copy of the assignments tree (``reference.py`` gets a comment and a module constant),
  used for grading through ``GRADER_ASSIGNMENTS_DIR`` and placed outside the project and outside
  /tmp, so only the sandbox's hiding of that variable protects it (a control test proves that);
* a marker in an "other student's submission" under ``GRADER_INSTANCE_PATH``.

For every attack (``run()``) the test asserts that: the grading finished within its limits with a
graded report; no marker, secret or line of the reference appears anywhere in ``json.dumps(report)``;
no file appeared, changed or vanished outside the job (the project tree, the marker tree, /etc,
/root, the interpreter's site-packages; in the shared /tmp, /var/tmp, /dev/shm and /run, which every
process on the machine writes to, nothing owned by a job's uid and nothing named like the attacks'
files); no System V IPC object appeared on the host; no process of the job outlived it; the fork
server is the same, alive process; and a correct submission graded next with the same launcher gets
full marks. Network attacks also check Redis's own connection counter and PostgreSQL's session
counters before and after (another process using them at the same moment makes those checks fail).
Most attacks run once per process and print what they managed as a ``HOSTILE_RESULT`` JSON line (the
student's output is part of the report), then return correct values, so each test also asserts
exactly what was blocked, and that the rest of the grading was unaffected. ``HOSTILE_VERBOSE=1`` with
``-s`` prints those results and each report's failures.

Markers are handed to attacks split in two hex-encoded halves, so the submission never holds a
marker itself (a memory or file scan finding one therefore found a real leak).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import secrets
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from worker.assignments import get_assignment
from worker.engine import grade
from worker.sandbox import Limits, StudentProcess
from worker.sandbox.hardened import ForkServerLauncher, hidden_paths, kept_paths


@pytest.fixture(scope="module", autouse=True)
def _needs_root_on_linux() -> None:
    """Not root (or not Linux) is a failure with the reason, never a silent skip of the whole suite."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.fail("the hostile suite needs Linux and root (the hardened sandbox's full set of layers; CI runs "
                    "as root)", pytrace=False)

ROOT = Path(__file__).resolve().parents[1]
CORRECT = (ROOT / "tests" / "submissions" / "svm" / "correct_loops.py").read_text()
REAL_REFERENCE = ROOT / "assignments" / "svm" / "reference.py"
SEED = 11
SLOT_SECONDS = 60

FAST = Limits(call_seconds=2, total_seconds=20, memory_mb=512, disk_mb=16, processes=16)
NET = Limits(call_seconds=8, total_seconds=40, memory_mb=512, disk_mb=16, processes=16)  # imports psycopg, redis
SLOW_SCAN = Limits(call_seconds=12, total_seconds=40, memory_mb=1024, disk_mb=16, processes=16)

NAIVE_PUBLIC = ("naive_loss_at_zero", "naive_reg_known_value", "naive_grad_consistency", "naive_no_input_mutation")
VECTORIZED_PUBLIC = ("vectorized_loss_at_zero", "vectorized_reg_known_value", "vectorized_grad_consistency",
                     "vectorized_no_input_mutation", "vectorized_no_loops")
GRADER_PATHS = ("worker/", "site-packages", "child.py", str(ROOT))
# Shared directories that every process on the machine writes to (pip, CI logs, other test runs).
# What a job could leave there would be owned by its slot's uid (it can neither chown nor become
# root) or carry the names the attacks use; those are checked there. Everywhere else (the project,
# /etc, /root, site-packages, the marker tree) any new, changed or missing entry fails.
SHARED_DIRS = ("/tmp/", "/var/tmp/", "/dev/shm/", "/run/")
JOB_UIDS = range(61000, 61000 + 64)  # the slots' uids: nothing on the host may ever be theirs
ENV_KEYS = ("GRADER_SECRET_MARKER", "GRADER_SECRET_KEY", "GRADER_DATABASE_URL", "GRADER_BROKER_URL",
            "GRADER_ASSIGNMENTS_DIR", "GRADER_INSTANCE_PATH")


# --------------------------------------------------------------------------- the world the attacks run in


def _marker(kind: str) -> str:
    return f"HOSTILE{kind}{secrets.token_hex(12)}"


def _split_hex(marker: str) -> tuple[str, str]:
    raw = marker.encode()
    half = len(raw) // 2
    return raw[:half].hex(), raw[half:].hex()


def _site_packages() -> list[str]:
    return sorted({os.path.realpath(p) for p in site.getsitepackages() if os.path.isdir(p)})


def _marker_base() -> Path:
    """A directory outside the project and outside the temp dirs, readable by anyone: only the
    sandbox's hiding of GRADER_ASSIGNMENTS_DIR / GRADER_INSTANCE_PATH keeps a job out of it."""
    for parent in ("/var/cache", str(ROOT.parent)):
        if os.path.isdir(parent) and os.access(parent, os.W_OK):
            path = Path(tempfile.mkdtemp(prefix="cs231n-hostile-", dir=parent))
            path.chmod(0o755)
            return path
    path = Path(tempfile.mkdtemp(prefix="cs231n-hostile-"))
    path.chmod(0o755)
    return path


def _make_world_readable(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


@dataclass
class Env:
    launcher: ForkServerLauncher
    base: Path
    markers: dict[str, str]
    reference_copy: Path
    other_submission: Path
    reference_snippets: list[str]
    server_pid: int
    basetemp: str
    extra_markers: dict[str, str] = field(default_factory=dict)

    @property
    def all_markers(self) -> dict[str, str]:
        return {**self.markers, **self.extra_markers}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    markers = {"secret": _marker("SECRET"), "reference": _marker("REFERENCE"), "other": _marker("OTHER")}
    base = _marker_base()
    launcher = None
    try:
        shutil.copytree(ROOT / "assignments", base / "assignments", ignore=shutil.ignore_patterns("__pycache__"))
        reference_copy = base / "assignments" / "svm" / "reference.py"
        with reference_copy.open("a") as f:
            f.write(f"\n# reference marker: {markers['reference']}\n"
                    f"_GRADER_REFERENCE_MARKER = {markers['reference']!r}\n")
        other = base / "instance" / "submissions" / "4242" / "linear_svm.py"
        other.parent.mkdir(parents=True)
        other.write_text(f"# another student's submission\nSTUDENT_TOKEN = {markers['other']!r}\n" + CORRECT)
        (base / "instance" / "grader.db").write_text(f"SQLite format 3\x00 rows: {markers['other']}")
        _make_world_readable(base)
        secret = markers["secret"]
        os.environ.update({
            "GRADER_SECRET_MARKER": secret,
            "GRADER_SECRET_KEY": secret,
            "GRADER_DATABASE_URL": f"postgresql://grader:{secret}@127.0.0.1:5432/grader",
            "GRADER_BROKER_URL": f"redis://:{secret}@127.0.0.1:6379/0",
            "GRADER_ASSIGNMENTS_DIR": str(base / "assignments"),
            "GRADER_INSTANCE_PATH": str(base / "instance"),
        })
        # The worker grades with the planted reference (in grade mode it is imported in this process).
        assert get_assignment("svm").reference()._GRADER_REFERENCE_MARKER == markers["reference"]
        launcher = ForkServerLauncher()
        launcher.start()
        probe = launcher.self_test()
        assert probe["ok"], probe
        snippets = [line.strip() for line in REAL_REFERENCE.read_text().splitlines()
                    if len(line.strip()) >= 30 and line.strip() not in CORRECT][:6]
        snippets.append("Trusted reference implementation")
        yield Env(launcher=launcher, base=base, markers=markers, reference_copy=reference_copy,
                  other_submission=other, reference_snippets=snippets, server_pid=launcher.server_pid,
                  basetemp=str(tmp_path_factory.getbasetemp()))
    finally:
        if launcher is not None:
            launcher.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- observing the host


def _walk(root: str, depth: int | None, out: dict[str, tuple], skip: set[str]) -> None:
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        path = entry.path
        if path in skip or entry.name in ("__pycache__", ".pytest_cache", ".git", ".venv", "venv", ".mypy_cache",
                                           ".ruff_cache", "test-artifacts") or entry.name.endswith(".egg-info"):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if entry.is_symlink():
            try:
                out[path] = ("l", os.readlink(path))
            except OSError:
                out[path] = ("l", "?")
        elif entry.is_dir(follow_symlinks=False):
            out[path] = ("d", st.st_uid)
            if depth is None or depth > 1:
                _walk(path, None if depth is None else depth - 1, out, skip)
        else:
            out[path] = ("f", st.st_size, st.st_mtime_ns, st.st_uid)


def snapshot(env: Env) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    skip = {env.basetemp, os.path.realpath(env.basetemp), sys.prefix, os.path.realpath(sys.prefix)}
    for root, depth in (("/tmp", 3), ("/var/tmp", 3), ("/dev/shm", 3), ("/etc", 1), ("/root", 1), ("/run", 2),
                        (str(ROOT), None), (str(env.base), None)):
        _walk(root, depth, out, skip)
    for sp in _site_packages():
        _walk(sp, 1, out, set())
    return out


def diff(before: dict[str, tuple], after: dict[str, tuple], names: tuple[str, ...] = ()) -> list[str]:
    """What changed between two snapshots (``names``: strings that mark an attack's own paths)."""
    problems = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old == new or (old and new and old[0] == new[0] == "d"):
            continue
        entry = new or old
        if path.startswith(SHARED_DIRS):
            owned_by_job = any(e[-1] in JOB_UIDS for e in (old, new) if e and e[0] != "l")
            named = "hostile" in path or any(n in path for n in names)
            if not (owned_by_job or named):
                continue
        what = "new" if old is None else "gone" if new is None else "changed"
        problems.append(f"{what}: {path} {entry}")
    return problems


def descendants(root_pid: int) -> dict[int, tuple[int, int]]:
    """Live descendants of ``root_pid``: host pid -> (parent pid, real uid)."""
    info: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{name}/status") as f:
                uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
        except (OSError, StopIteration, ValueError, IndexError):
            continue
        if fields[0] != "Z":
            info[int(name)] = (int(fields[1]), uid)
    out = {}
    for pid, (ppid, uid) in info.items():
        p, hops = ppid, 0
        while p and hops < 64:
            if p == root_pid:
                out[pid] = (ppid, uid)
                break
            p, hops = info.get(p, (0, 0))[0], hops + 1
    return out


def job_processes(env: Env) -> dict[int, tuple[int, int]]:
    """What is left of jobs under the fork server. The server keeps one *warm* job forked ahead of time
    (still root, not yet given a slot, a uid or student code); everything that ran student code runs
    under a slot's uid, so a process with any other uid is a leftover."""
    procs = descendants(env.server_pid)
    roots = {pid: v for pid, v in procs.items() if v[1] == 0}
    assert len(roots) <= 2, f"more root processes under the fork server than one warm job: {roots}"
    return {pid: v for pid, v in procs.items() if v[1] != 0}


def wait_for_no_jobs(env: Env, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while True:
        left = job_processes(env)
        if not left:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"job processes outlived the grading by {timeout} s: {left}")
        time.sleep(0.02)


def shown_path(path: str) -> str:
    """A path as a report shows it: the grader's installation paths are replaced by "..."."""
    from worker.sandbox.sanitize import GRADER_PATHS as installed

    for prefix in installed:
        path = path.replace(prefix, "...")
    return path


def victim_pid_alive(pids: set[int]) -> bool:
    return any(os.path.exists(f"/proc/{pid}") for pid in pids)


def wait_for_warm_job(launcher: ForkServerLauncher, timeout: float = 20.0) -> int:
    """The server's warm job, once it has finished preparing (its own mount namespace with the fresh /proc
    mounted over the host's: the last mount of ``jail.prepare_job``)."""
    server_ns = os.readlink(f"/proc/{launcher.server_pid}/ns/mnt")
    deadline = time.monotonic() + timeout
    while True:
        for pid, (_, uid) in descendants(launcher.server_pid).items():
            try:
                if uid != 0 or os.readlink(f"/proc/{pid}/ns/mnt") == server_ns:
                    continue
                mounts = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
            except OSError:
                continue
            if sum(1 for line in mounts if line.split()[4] == "/proc" and " - proc " in line) >= 2:
                return pid
        assert time.monotonic() < deadline, "the sandbox server never had a prepared warm job"
        time.sleep(0.01)


def redis_connections() -> int | None:
    """Redis's own count of accepted connections (this query counts as one), or None without Redis."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as s:
            s.sendall(b"INFO stats\r\n")
            data = b""
            while b"total_connections_received:" not in data or not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("total_connections_received:"):
            return int(line.split(":", 1)[1])
    return None


def postgres_sessions() -> dict[str, int] | None:
    """PostgreSQL's count of sessions ever established, per database (this query counts as one, in
    ``postgres``), or None without PostgreSQL."""
    if not shutil.which("psql"):
        return None
    try:
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-AtF", " ", "-c",
                              "select datname, sessions from pg_stat_database where datname is not null"],
                             capture_output=True, text=True, timeout=10, env={**os.environ, "PGCONNECT_TIMEOUT": "3"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        return {name: int(count) for name, count in (line.rsplit(" ", 1) for line in out.stdout.split("\n") if line)}
    except ValueError:
        return None


def new_postgres_sessions(before: dict[str, int], after: dict[str, int]) -> int:
    """Sessions established between the two counts, besides the second count's own (databases that were
    created or dropped meanwhile by other processes are left out)."""
    return sum(after[db] - before[db] for db in set(before) & set(after)) - 1


def sysv_ipc_keys() -> set[str]:
    keys = set()
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                next(f)
                keys.update(f"{kind}:{line.split()[0]}" for line in f if line.strip())
        except (OSError, StopIteration):
            pass
    return keys


# --------------------------------------------------------------------------- building submissions

PRELUDE = r'''
import os, sys, time, json as _json

_NEEDLES = __NEEDLES__

def _try(fn, *args, **kwargs):
    try:
        return "ok: " + repr(fn(*args, **kwargs))[:300]
    except BaseException as exc:
        return "blocked: " + type(exc).__name__ + ": " + str(exc)[:200]

def _split_find(data, a, b):
    i = data.find(a)
    while i >= 0:
        if data.startswith(b, i + len(a)):
            return True
        i = data.find(a, i + 1)
    return False

def _hits(data, only_markers=False):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    out = []
    for name, (a, b) in _NEEDLES.items():
        if only_markers and name == "reference-source":
            continue
        if _split_find(data, bytes.fromhex(a), bytes.fromhex(b)):
            out.append(name)
    return out

def _libc():
    import ctypes
    return ctypes.CDLL(None, use_errno=True)

def _sys(nr, *args):
    import ctypes
    libc = _libc()
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    e = ctypes.get_errno()
    return (r, errno_name(e) if r < 0 else "")

def errno_name(e):
    import errno
    return errno.errorcode.get(e, str(e))

def _scan_strings():
    """Every str/bytes reachable from an object the collector tracks (frozen ones too)."""
    import gc, types
    gc.unfreeze()
    found = {}
    count = 0
    for obj in gc.get_objects():
        items = ()
        t = type(obj)
        if t is dict:
            items = list(obj.keys()) + list(obj.values())
        elif t in (list, tuple, set, frozenset):
            items = obj
        elif t is types.CodeType:
            items = obj.co_consts
        elif t is types.FrameType:
            items = list(obj.f_locals.values())
        for item in items:
            if type(item) in (str, bytes, bytearray):
                count += 1
                for name in _hits(item):
                    found.setdefault(name, repr(item[:120]))
    return {"strings": count, "found": found}

def _scan_memory(budget):
    """Every readable byte of this process's address space (the fork server's heap included)."""
    import ctypes
    t0 = time.monotonic()
    _libc().prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self/mem is root's after the uid change
    found, regions, nbytes, errors = set(), 0, 0, 0
    with open("/proc/self/maps") as f:
        maps = f.read().splitlines()
    fd = os.open("/proc/self/mem", os.O_RDONLY)
    try:
        for line in maps:
            parts = line.split()
            if parts[1][0] != "r" or (len(parts) > 5 and parts[5] in ("[vvar]", "[vsyscall]", "[vvar_vclock]")):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            pos, prev = lo, b""
            while pos < hi:
                n = min(hi - pos, 8 << 20)
                try:
                    chunk = os.pread(fd, n, pos)
                except OSError:
                    errors += 1
                    break
                if not chunk:
                    break
                found.update(_hits(prev + chunk))
                prev = chunk[-256:]
                pos += len(chunk)
                nbytes += len(chunk)
            regions += 1
            if time.monotonic() - t0 > budget:
                return {"found": sorted(found), "regions": regions, "bytes": nbytes, "errors": errors,
                        "complete": False}
    finally:
        os.close(fd)
    return {"found": sorted(found), "regions": regions, "bytes": nbytes, "errors": errors, "complete": True}

def _scan_files(roots, budget, skip=("/proc", "/sys", "/dev", "/usr")):
    t0 = time.monotonic()
    found, files, denied = {}, 0, 0
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
            for name in filenames:
                path = os.path.join(dirpath, name)
                if time.monotonic() - t0 > budget:
                    return {"found": found, "files": files, "denied": denied, "complete": False}
                try:
                    if os.path.islink(path) or os.path.getsize(path) > (4 << 20):
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    denied += 1
                    continue
                files += 1
                # Only this run's markers: other copies of the project on the machine (a second
                # checkout, another run of these tests) are outside the hidden trees by design.
                for hit in _hits(data, True) + _hits(path, True):
                    found.setdefault(hit, path)
    return {"found": found, "files": files, "denied": denied, "complete": True}
'''

ONCE = r'''

_DONE = False

def svm_loss_naive(W, X, y, reg):
    global _DONE
    if not _DONE:
        _DONE = True
        try:
            _res = _attack()
        except BaseException as _exc:
            _res = {"attack raised": type(_exc).__name__ + ": " + str(_exc)[:300]}
        sys.stdout.write("HOSTILE_RESULT " + _json.dumps(_res, default=repr) + "\n")
        sys.stdout.flush()
    return _correct_naive(W, X, y, reg)
'''

NAIVE_IMPL = CORRECT.replace("def svm_loss_naive(", "def _correct_naive(", 1)
VECTORIZED = "def svm_loss_vectorized" + CORRECT.split("def svm_loss_vectorized", 1)[1]


def _indent(body: str) -> str:
    return "".join(f"    {line}\n" for line in body.strip("\n").splitlines())


def _subst(text: str, subs: dict[str, Any]) -> str:
    for key, value in subs.items():
        text = text.replace(f"__{key}__", repr(value))
    return text


def needles(env: Env) -> dict[str, tuple[str, str]]:
    out = {name: _split_hex(m) for name, m in env.all_markers.items()}
    out["reference-source"] = _split_hex("Trusted reference implementation")
    return out


def attack(env: Env, body: str, **subs: Any) -> str:
    """A linear_svm.py whose svm_loss_naive runs ``body`` (the body of ``_attack() -> dict``) once per
    process, prints what it got as a HOSTILE_RESULT line, then answers correctly."""
    prelude = PRELUDE.replace("__NEEDLES__", repr(needles(env)))
    return prelude + NAIVE_IMPL + "\n\ndef _attack():\n" + _indent(_subst(body, subs)) + ONCE


def naive_with(env: Env, body: str, **subs: Any) -> str:
    """A linear_svm.py whose svm_loss_naive runs ``body`` on every call; svm_loss_vectorized is correct."""
    prelude = PRELUDE.replace("__NEEDLES__", repr(needles(env)))
    return prelude + "import numpy as np\n\ndef svm_loss_naive(W, X, y, reg):\n" + _indent(_subst(body, subs)) \
        + "\n\n" + VECTORIZED


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in report["tests"]}


def result_of(report: dict[str, Any]) -> dict[str, Any]:
    for line in report["student_output"].splitlines():
        if line.startswith("HOSTILE_RESULT "):
            result = json.loads(line[len("HOSTILE_RESULT "):])
            if os.environ.get("HOSTILE_VERBOSE"):  # what each attack managed, for a human reading with -s
                print("\n" + json.dumps(result, indent=1)[:6000])
            return result
    raise AssertionError(f"the attack did not report (student output: {report['student_output'][:2000]!r}; "
                         f"first test: {report['tests'][0]['output'][:500]!r})")


def blocked(value: str) -> bool:
    return isinstance(value, str) and value.startswith("blocked: ")


def assert_all_blocked(res: dict[str, Any], prefix: str = "") -> None:
    open_ = {k: v for k, v in res.items() if k.startswith(prefix) and isinstance(v, str) and not blocked(v)}
    assert not open_, f"not blocked: {open_}"


def assert_full_marks(report: dict[str, Any]) -> None:
    bad = [(t["id"], t["output"][:300]) for t in report["tests"] if t["status"] != "passed" and t["max_score"] > 0]
    assert report["score"] == report["max_score"], bad


def assert_naive_failed(report: dict[str, Any], needle: str, kind: str | None = None) -> None:
    """Every public test of svm_loss_naive failed or errored with ``needle`` in its message."""
    tests = by_id(report)
    for tid in NAIVE_PUBLIC:
        t = tests[tid]
        assert t["status"] in ("failed", "error") and t["score"] == 0, (tid, t)
    first = tests["naive_loss_at_zero"]
    assert needle in first["output"], first["output"]
    if kind is not None:
        assert first["details"].get("kind") == kind, first["details"]


def assert_vectorized_fine(report: dict[str, Any]) -> None:
    tests = by_id(report)
    for tid in VECTORIZED_PUBLIC:
        assert tests[tid]["status"] == "passed", (tid, tests[tid]["output"])


# --------------------------------------------------------------------------- the harness


@dataclass
class Outcome:
    report: dict[str, Any]
    elapsed: float
    cleanup: float

    @property
    def result(self) -> dict[str, Any]:
        return result_of(self.report)

    @property
    def tests(self) -> dict[str, dict[str, Any]]:
        return by_id(self.report)


def assert_no_leak(env: Env, report: dict[str, Any], allow: tuple[str, ...] = ()) -> None:
    text = json.dumps(report, allow_nan=False)
    for name, marker in env.all_markers.items():
        if name not in allow:
            assert marker not in text, f"the {name} marker appears in the report"
    for snippet in env.reference_snippets:
        assert snippet not in text, f"reference source appears in the report: {snippet!r}"
    assert len(text) < 1_000_000, len(text)
    for t in report["tests"]:
        assert "internal grader error" not in t["output"], t["output"]
        for p in GRADER_PATHS:
            assert p not in t["output"], (p, t["output"])


def run(env: Env, source: str, *, mode: str = "check", limits: Limits = FAST, max_seconds: float | None = None,
        network: bool = False, watch: tuple[str, ...] = (), allow: tuple[str, ...] = (),
        after_grading: Any = None) -> Outcome:
    """Grade ``source`` and check every invariant of the module docstring. ``watch``: host paths the attack
    tries to create or change; they must not exist afterwards (or keep their content)."""
    watched = {p: _fingerprint(p) for p in watch}
    before = snapshot(env)
    ipc_before = sysv_ipc_keys()
    redis_before = redis_connections() if network else None
    pg_before = postgres_sessions() if network else None
    if network:  # a probe that returns nothing would turn these checks into no-ops: fail instead
        assert redis_before is not None, "Redis's connection counter is unreadable at 127.0.0.1:6379 (CI starts Redis)"
        assert pg_before is not None, "PostgreSQL's session counters are unreadable at 127.0.0.1:5432 (psql, CI)"
    started = time.monotonic()
    report = grade("svm", {"linear_svm.py": source}, seed=SEED, mode=mode, launcher=env.launcher, limits=limits)
    elapsed = time.monotonic() - started
    if after_grading is not None:
        after_grading()
    if network:
        redis_after = redis_connections()
        assert redis_after is not None, "Redis's connection counter became unreadable during the attack"
        if redis_before is not None:
            assert redis_after == redis_before + 1, (
                f"Redis accepted {redis_after - redis_before - 1} connection(s) during the attack (any other "
                "process using this Redis at the same time counts too)")
        pg_after = postgres_sessions()
        assert pg_after is not None, "PostgreSQL's session counters became unreadable during the attack"
        if pg_before is not None and pg_after is not None:
            assert new_postgres_sessions(pg_before, pg_after) == 0, (
                f"PostgreSQL counted new sessions during the attack: {pg_before} -> {pg_after} (any other "
                "process using this PostgreSQL at the same time counts too)")
    assert report["status"] == "graded", report.get("output")
    assert "error_kind" not in report
    bound = max_seconds if max_seconds is not None else limits.total_seconds + 10
    assert elapsed < bound, f"grading took {elapsed:.1f} s (bound {bound} s)"
    assert_no_leak(env, report, allow)
    cleanup = wait_for_no_jobs(env)
    # Issue 10: no hostile submission holds a slot for more than 60 s (the grading, then its job's clean-up).
    assert elapsed + cleanup < SLOT_SECONDS, f"the submission held a slot for {elapsed + cleanup:.1f} s"
    after = snapshot(env)
    problems = diff(before, after, tuple(env.all_markers.values()))
    assert not problems, "files changed outside the job:\n" + "\n".join(problems[:40])
    assert sysv_ipc_keys() == ipc_before, "System V IPC objects appeared on the host"
    for path, print_ in watched.items():
        assert _fingerprint(path) == print_, f"{path} was created or changed"
    # The worker (this process) and its fork server are alive, and the next submission grades correctly.
    assert env.launcher.server_pid == env.server_pid, "the fork server was restarted"
    os.kill(env.server_pid, 0)
    nxt = grade("svm", {"linear_svm.py": CORRECT}, seed=SEED + 1, mode="check", launcher=env.launcher, limits=FAST)
    assert_full_marks(nxt)
    assert nxt["student_output"] == "", nxt["student_output"][:500]
    assert_no_leak(env, nxt)
    assert env.launcher.server_pid == env.server_pid
    if os.environ.get("HOSTILE_VERBOSE"):
        print(f"\n[graded in {elapsed:.2f} s, job gone {cleanup:.2f} s later, score {report['score']}/"
              f"{report['max_score']}]")
        for t in report["tests"]:
            if t["status"] != "passed":
                print(f"  {t['id']}: {t['status']}: {t['output'][:200]!r}")
    return Outcome(report=report, elapsed=elapsed, cleanup=cleanup)


def _fingerprint(path: str) -> tuple | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if os.path.isdir(path):
        return ("d", st.st_mode)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if os.path.isfile(path) else ""
    return ("f", st.st_mode, st.st_uid, digest)


# =========================================================================== preconditions


def test_markers_are_planted_and_hidden(env: Env) -> None:
    """The worker's environment and assignments hold the markers, and the launcher hides the marker tree."""
    assert os.environ["GRADER_SECRET_MARKER"] == env.markers["secret"]
    assert env.markers["reference"] in env.reference_copy.read_text()
    assert env.markers["other"] in env.other_submission.read_text()
    hidden = hidden_paths()
    assert str(env.base / "assignments") in hidden and str(env.base / "instance") in hidden
    assert not str(env.base).startswith(("/tmp", "/var/tmp", str(ROOT)))
    assert env.launcher.layers.get("seccomp filter") and env.launcher.layers.get("mount/PID/IPC/UTS namespaces")


def test_control_marker_tree_is_readable_without_the_hiding(env: Env) -> None:
    """Control: the attack code does read a planted file where the job may read (a system tree), so the
    attacks below fail because of the sandbox, not because of the attack. And a sandbox that was *not*
    told about GRADER_ASSIGNMENTS_DIR/GRADER_INSTANCE_PATH still cannot read the marker tree: reading is
    denied by default (Landlock) outside the system's and the interpreter's trees."""
    control_dir = Path(tempfile.mkdtemp(prefix="cs231n-hostile-control-", dir="/usr/local/share"))
    control_dir.chmod(0o755)
    control_file = control_dir / "reference.py"
    control_file.write_text(f"# {env.markers['reference']}\n")
    control_file.chmod(0o644)
    saved = {k: os.environ.pop(k) for k in ("GRADER_ASSIGNMENTS_DIR", "GRADER_INSTANCE_PATH")}
    try:
        control = ForkServerLauncher()
    finally:
        os.environ.update(saved)
    probe = ("def read(path):\n    try:\n        with open(path) as f:\n            return f.read()\n"
             "    except OSError as exc:\n        return 'blocked: ' + type(exc).__name__\n")
    try:
        process = StudentProcess(control, FAST, {"probe": ("probe.py", probe)})
        try:
            planted = process.call("read", str(control_file))
            text = process.call("read", str(env.reference_copy))
            other = process.call("read", str(env.other_submission))
        finally:
            process.close()
    finally:
        control.close()
        shutil.rmtree(control_dir, ignore_errors=True)
    assert env.markers["reference"] in planted
    assert text.startswith("blocked") and other.startswith("blocked"), (text[:80], other[:80])


def test_correct_submission_full_marks_in_grade_mode(env: Env) -> None:
    out = run(env, CORRECT, mode="grade")
    assert_full_marks(out.report)


# =========================================================================== information

INFO_PATHS = r'''
res = {}
files = [__REF_COPY__, __REAL_REF__, __REAL_TESTS__, __OTHER__, __DB__,
         "/proc/1/root" + __REF_COPY__, "/proc/self/root" + __REAL_REF__, "/proc/self/cwd/../" + __REAL_REF__]
for p in files:
    res["read " + p] = _try(lambda: open(p, "rb").read(200))
for d in [__PROJECT__, __ASSIGN_COPY__, __INSTANCE__, __ASSIGN_COPY__ + "/svm", __PROJECT__ + "/assignments/svm",
          __PROJECT__ + "/instance", __PROJECT__ + "/worker"]:
    try:
        listing = os.listdir(d)
        res["list " + d] = "empty" if not listing else "ok: " + repr(listing)[:200]
    except OSError as exc:
        res["list " + d] = "blocked: " + type(exc).__name__
# An O_PATH handle on the hidden tree, walked through /proc/self/fd.
try:
    fd = os.open(__ASSIGN_COPY__, os.O_PATH)
    res["via O_PATH fd"] = _try(lambda: open("/proc/self/fd/%d/svm/reference.py" % fd, "rb").read(200))
except OSError as exc:
    res["via O_PATH fd"] = "blocked: " + type(exc).__name__
# Every file the job can see, except the system's and the interpreter's own trees.
res["scan"] = _scan_files(["/", "/etc", "/var", "/run", "/home", "/root", "/srv", "/opt", "/mnt", "/media",
                          "/work", os.path.dirname(__PROJECT__)], 8.0,
                         skip=("/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/bin", "/sbin",
                               "/boot", __PREFIX__, __BASE_PREFIX__))
return res
'''


def test_read_references_and_other_submissions_by_path(env: Env) -> None:
    src = attack(env, INFO_PATHS, REF_COPY=str(env.reference_copy), REAL_REF=str(REAL_REFERENCE),
                 REAL_TESTS=str(ROOT / "assignments" / "svm" / "tests.py"), OTHER=str(env.other_submission),
                 DB=str(env.base / "instance" / "grader.db"), PROJECT=str(ROOT),
                 ASSIGN_COPY=str(env.base / "assignments"), INSTANCE=str(env.base / "instance"),
                 PREFIX=os.path.realpath(sys.prefix), BASE_PREFIX=os.path.realpath(sys.base_prefix))
    out = run(env, src, mode="grade", limits=SLOW_SCAN)
    res = out.result
    reads = {k: v for k, v in res.items() if k.startswith("read ") or k == "via O_PATH fd"}
    assert reads and all(blocked(v) for v in reads.values()), reads
    lists = {k: v for k, v in res.items() if k.startswith("list ")}

    def only_kept(listed: str, value: str) -> bool:
        """A hidden tree may show the directories re-exposed inside it: the interpreter's own (a
        virtualenv inside the checkout), nothing else."""
        if not value.startswith("ok: "):
            return False
        kept = {os.path.relpath(k, listed).split(os.sep)[0] for k in kept_paths()
                if (k + os.sep).startswith(listed + os.sep)}
        return set(ast.literal_eval(value[len("ok: "):])) <= kept

    def candidates(listed: str) -> list[str]:
        """The report shows the grader's own paths as "..." (the sanitiser): try each of them in its place."""
        if "..." not in listed:
            return [listed]
        from worker.sandbox.sanitize import GRADER_PATHS

        return [listed.replace("...", path, 1) for path in GRADER_PATHS]

    assert all(v == "empty" or blocked(v) or any(only_kept(c, v) for c in candidates(k[len("list "):]))
               for k, v in lists.items()), lists
    assert res["scan"]["found"] == {}, res["scan"]
    assert res["scan"]["complete"] and res["scan"]["files"] > 10, res["scan"]  # it read all it could see
    assert_full_marks(out.report)  # the attack cost nothing else


def test_read_system_secrets(env: Env) -> None:
    body = r'''
res = {}
for p in ["/etc/shadow", "/etc/gshadow", "/etc/ssl/private", "/root/.bash_history", "/root/.ssh/id_rsa",
          "/root/.pgpass", "/var/lib/postgresql/15/main/PG_VERSION", "/etc/redis/redis.conf",
          "/run/postgresql/15-main.pid", "/etc/sudoers", "/proc/kcore", "/dev/mem", "/proc/1/root/etc/shadow"]:
    if os.path.isdir(p):
        listing = os.listdir(p) if os.access(p, os.R_OK) else None
        res["read " + p] = "ok: " + repr(listing) if listing else "blocked: empty or unreadable directory"
    else:
        res["read " + p] = _try(lambda: open(p, "rb").read(100))
res["info /etc/passwd"] = _try(lambda: len(open("/etc/passwd").read()))
res["info uid"] = os.getuid()
res["info groups"] = os.getgroups()
return res
'''
    out = run(env, attack(env, body))
    res = out.result
    missing_is_fine = {k: v for k, v in res.items() if k.startswith("read ")}
    # Reading any of these must fail (FileNotFoundError for hidden trees, PermissionError otherwise).
    assert all(blocked(v) for v in missing_is_fine.values()), missing_is_fine
    assert "PermissionError" in res["read /etc/shadow"], res["read /etc/shadow"]
    assert res["info uid"] >= 1000 and res["info groups"] == []


def test_environment_of_self_parent_and_worker_via_proc(env: Env) -> None:
    body = r'''
res = {"pid": os.getpid(), "ppid": os.getppid(), "environ keys": sorted(os.environ)}
res["own environ before PR_SET_DUMPABLE"] = _try(lambda: len(open("/proc/self/environ", "rb").read()))
_libc().prctl(4, 1, 0, 0, 0)  # after the uid change /proc/self/* belongs to root until the job is dumpable
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
res["visible pids"] = pids
texts = []
for pid in set(pids) | {os.getppid(), __WORKER_PID__, __SERVER_PID__, 1}:
    for what in ("environ", "cmdline", "status"):
        path = "/proc/%d/%s" % (pid, what)
        try:
            with open(path, "rb") as f:
                data = f.read()
            texts.append(data)
            res["read " + path] = "ok"
        except OSError as exc:
            res["read " + path] = "blocked: " + type(exc).__name__
res["found"] = sorted({h for t in texts for h in _hits(t)})
res["grader vars in /proc/self/environ"] = [k for k in open("/proc/self/environ", "rb").read().split(b"\0")
                                            if k.startswith(b"GRADER") or b"://" in k]
res["info /proc/self/environ"] = sorted(k.split(b"=")[0] for k in open("/proc/self/environ", "rb").read().split(b"\0") if k)
res["worker pid probe"] = _try(os.kill, __WORKER_PID__, 0)
return res
'''
    out = run(env, attack(env, body, WORKER_PID=os.getpid(), SERVER_PID=env.server_pid))
    res = out.result
    assert res["found"] == [], res
    assert res["grader vars in /proc/self/environ"] == []
    assert not [k for k in res["environ keys"] if k.startswith("GRADER")]
    assert res["visible pids"] == [res["pid"]], res["visible pids"]  # nobody else in the job's PID namespace
    assert res["ppid"] == 0
    for pid in (os.getpid(), env.server_pid):
        for what in ("environ", "cmdline"):
            key = f"read /proc/{pid}/{what}"
            if pid != res["pid"]:
                assert blocked(res[key]), (key, res[key])
    assert blocked(res["worker pid probe"])


def test_import_the_grader(env: Env) -> None:
    body = r'''
import importlib
res = {}
for name in ["grader", "grader.config", "worker.engine", "worker.assignments", "worker.tasks", "worker.celery_app",
             "worker.sandbox.hardened", "_grader_reference_svm", "_grader_tests_svm", "assignments", "reference"]:
    res["import " + name] = _try(lambda: importlib.import_module(name).__name__)
try:
    import worker.assignments as wa
    res["reference via worker.assignments"] = _try(lambda: wa.get_assignment("svm").reference().__file__)
except BaseException as exc:
    res["reference via worker.assignments"] = "blocked: " + type(exc).__name__
res["info modules"] = sorted(m for m in sys.modules if m.startswith(("worker", "grader", "_grader")))
return res
'''
    out = run(env, attack(env, body), mode="grade")
    res = out.result
    assert_all_blocked(res, "import ")
    assert blocked(res["reference via worker.assignments"])
    # What the job holds of the grader is the sandbox's own child-side code, none of the trusted modules.
    assert not [m for m in res["info modules"] if m.startswith(("grader", "_grader", "worker.engine",
                                                                  "worker.assignments", "worker.checks",
                                                                  "worker.sandbox.hardened"))], res["info modules"]


def test_scan_interpreter_memory_for_secrets(env: Env) -> None:
    """gc (frozen objects included), caller frames and every readable byte of the address space."""
    body = r'''
res = {"gc": _scan_strings()}
frames, f = [], sys._getframe()
while f is not None:
    frames.append((f.f_code.co_filename, sorted(f.f_locals)[:20]))
    f = f.f_back
res["frames"] = frames
res["memory"] = _scan_memory(8.0)
return res
'''
    out = run(env, attack(env, body), mode="grade", limits=SLOW_SCAN)
    res = out.result
    assert res["gc"]["found"] == {}, res["gc"]
    assert res["gc"]["strings"] > 1000
    assert res["memory"]["found"] == [], res["memory"]
    assert res["memory"]["complete"] and res["memory"]["bytes"] > 10 << 20, res["memory"]


VICTIM = r'''
import builtins
_T1, _T2 = bytes.fromhex(__H1__).decode(), bytes.fromhex(__H2__).decode()
_SECRET = _T1 + _T2
import os
builtins._victim_secret = _SECRET
os.environ["VICTIM"] = _SECRET
for p in ("/tmp/victim.txt", "/dev/shm/victim.txt", "/var/tmp/victim.txt"):
    try:
        with open(p, "w") as f:
            f.write(_SECRET)
    except OSError:
        pass
try:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    shmid = libc.shmget(0x5EED, 4096, 0o1666)
    if shmid >= 0:
        libc.shmat.restype = ctypes.c_void_p
        addr = libc.shmat(shmid, None, 0)
        ctypes.memmove(addr, _SECRET.encode(), len(_SECRET))
except Exception:
    pass
'''


def test_previous_submission_leaves_nothing_for_the_next(env: Env) -> None:
    mark = _marker("VICTIM")
    h1, h2 = _split_hex(mark)
    victim = _subst(VICTIM, {"H1": h1, "H2": h2}) + "\n" + CORRECT
    run(env, victim, allow=("victim",))
    env.extra_markers["victim"] = mark
    body = r'''
import builtins, ctypes
res = {"builtins": hasattr(builtins, "_victim_secret"), "env": "VICTIM" in os.environ}
res["files"] = _scan_files(["/tmp", "/dev/shm", "/var/tmp"], 2.0)
libc = _libc()
shmid = libc.shmget(0x5EED, 0, 0)
res["shm"] = shmid
res["gc"] = _scan_strings()
res["memory"] = _scan_memory(8.0)
return res
'''
    out = run(env, attack(env, body), limits=SLOW_SCAN)
    res = out.result
    assert not res["builtins"] and not res["env"]
    assert res["files"]["found"] == {} and res["shm"] == -1, res
    assert res["gc"]["found"] == {} and res["memory"]["found"] == [], res


def test_concurrent_job_cannot_see_or_touch_another(env: Env) -> None:
    """A second job running at the same time (another slot) is invisible: /proc, kill and its memory."""
    mark = _marker("PEER")
    h1, h2 = _split_hex(mark)
    # The victim holds its slot at import until the test releases it with SIGUSR1, so the attack always runs
    # while the victim is alive, however slow the machine (no sleep standing in for synchronisation).
    hold = ("import signal as _signal\n_signal.pthread_sigmask(_signal.SIG_BLOCK, [_signal.SIGUSR1])\n"
            "_HELD = _signal.sigtimedwait([_signal.SIGUSR1], 50)\n")
    victim = _subst(VICTIM, {"H1": h1, "H2": h2}) + "\n" + hold + CORRECT
    peer: dict[str, Any] = {}
    before = set(job_processes(env))

    def grade_victim() -> None:
        peer["report"] = grade("svm", {"linear_svm.py": victim}, seed=SEED, mode="check", launcher=env.launcher,
                               limits=Limits(call_seconds=55, total_seconds=90, memory_mb=512))

    thread = threading.Thread(target=grade_victim)
    thread.start()
    deadline = time.monotonic() + 20
    while not (victims := set(job_processes(env)) - before):  # the victim's job runs under a slot's uid
        assert thread.is_alive() and time.monotonic() < deadline, "the victim's job never started"
        time.sleep(0.01)
    (victim_pid,) = victims
    victim_start = Path(f"/proc/{victim_pid}/stat").read_text().rsplit(")", 1)[1].split()[19]

    def release_victim() -> None:
        stat = Path(f"/proc/{victim_pid}/stat").read_text()
        assert stat.rsplit(")", 1)[1].split()[19] == victim_start, "the victim was gone before the attack ended"
        os.kill(victim_pid, signal.SIGUSR1)

    env.extra_markers["peer"] = mark
    body = r'''
import glob, signal
res = {"visible pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
hostpids = set()
for path in glob.glob("/sys/fs/cgroup/*/cs231n-grader/slot-*/cgroup.procs"):
    try:
        hostpids.update(int(p) for p in open(path).read().split())
    except (OSError, ValueError):
        pass
# cgroup.procs is translated into the reader's PID namespace: other jobs should not show up at all.
res["pids read from cgroupfs"] = sorted(hostpids)
for pid in sorted(hostpids - {os.getpid()}):
    res["kill %d" % pid] = _try(os.kill, pid, signal.SIGKILL)
    res["mem %d" % pid] = _try(lambda: open("/proc/%d/mem" % pid, "rb").read(1))
    res["environ %d" % pid] = _try(lambda: open("/proc/%d/environ" % pid, "rb").read(1))
killed = []
for pid in range(2, 4096):
    try:
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
    except OSError:
        pass
res["killed in own namespace"] = killed
res["kill -1"] = _try(os.kill, -1, signal.SIGKILL)
res["files"] = _scan_files(["/tmp", "/dev/shm", "/var/tmp"], 1.0)
res["shm"] = _libc().shmget(0x5EED, 0, 0)
return res
'''
    try:
        out = run(env, attack(env, body), limits=Limits(call_seconds=5, total_seconds=30, memory_mb=512),
                  after_grading=release_victim)
    finally:
        if thread.is_alive() and victim_pid_alive(victims):
            for pid in victims:
                os.kill(pid, signal.SIGUSR1)
        thread.join(60)
    res = out.result
    assert res["visible pids"] == [1], res["visible pids"]
    assert res["pids read from cgroupfs"] in ([], [1]), res["pids read from cgroupfs"]
    for key, value in res.items():
        if key.startswith(("kill ", "mem ", "environ ")) and key != "kill -1":
            assert blocked(value), (key, value)
    assert res["killed in own namespace"] == []
    assert res["files"]["found"] == {} and res["shm"] == -1, res
    victim_report = peer["report"]
    assert_full_marks(victim_report)  # the peer was not disturbed
    assert "_HELD" not in victim_report["student_output"]
    assert_no_leak(env, victim_report, allow=("peer",))


# =========================================================================== network


def test_tcp_to_redis_and_postgres_on_loopback(env: Env) -> None:
    body = r'''
import socket
res = {}
for host, port in [("127.0.0.1", 6379), ("127.0.0.1", 5432), ("localhost", 6379), ("0.0.0.0", 6379),
                   ("127.0.0.1", 5672), ("127.0.0.1", 3306)]:
    def go():
        s = socket.create_connection((host, port), timeout=1)
        s.sendall(b"INFO\r\n")
        return s.recv(100)
    res["tcp %s:%d" % (host, port)] = _try(go)
res["raw syscall socket"] = str(_sys(41, 2, 1, 0))
try:
    import psycopg
    res["psycopg"] = _try(lambda: psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                                                  connect_timeout=1).execute("select 1").fetchone())
except ImportError as exc:
    res["psycopg"] = "blocked: not importable " + str(exc)
try:
    import redis
    res["redis-py"] = _try(lambda: redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1).ping())
except ImportError as exc:
    res["redis-py"] = "blocked: not importable " + str(exc)
return res
'''
    out = run(env, attack(env, body), network=True, limits=NET)
    res = out.result
    assert_all_blocked({k: v for k, v in res.items() if k != "raw syscall socket"})
    assert "PermissionError" in res["tcp 127.0.0.1:6379"], res
    assert res["raw syscall socket"] == str((-1, "EPERM")), res["raw syscall socket"]


def test_udp_and_ipv6_loopback(env: Env) -> None:
    body = r'''
import socket
res = {}
res["udp sendto 127.0.0.1:53"] = _try(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", 53)))
res["udp sendto ::1:6379"] = _try(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b"x", ("::1", 6379)))
res["tcp6 ::1:6379"] = _try(lambda: socket.create_connection(("::1", 6379), timeout=1))
res["tcp6 v4-mapped"] = _try(lambda: socket.create_connection(("::ffff:127.0.0.1", 6379), timeout=1))
res["sctp"] = _try(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132))
return res
'''
    out = run(env, attack(env, body), network=True, limits=NET)
    assert_all_blocked(out.result)


def test_dns_lookups(env: Env) -> None:
    body = r'''
import socket
res = {}
for name in ["redis", "postgres", "db", "example.com", "pypi.org"]:
    res["resolve " + name] = _try(socket.getaddrinfo, name, 80)
res["info localhost"] = _try(socket.gethostbyname, "localhost")  # /etc/hosts: no network needed
res["connect by name"] = _try(lambda: socket.create_connection(("localhost", 6379), timeout=1))
res["info resolv.conf"] = _try(lambda: open("/etc/resolv.conf").read(60))
return res
'''
    out = run(env, attack(env, body), network=True, limits=NET)
    res = out.result
    assert_all_blocked(res, "resolve ")
    assert blocked(res["connect by name"])


def test_unix_sockets_by_path(env: Env) -> None:
    body = r'''
import socket, glob
res = {}
paths = ["/run/postgresql/.s.PGSQL.5432", "/var/run/postgresql/.s.PGSQL.5432", "/tmp/.s.PGSQL.5432",
         "/run/mysqld/mysqld.sock", "/var/run/redis/redis-server.sock", "/run/redis/redis.sock",
         "/var/run/docker.sock", "/run/systemd/private", "/dev/log"]
for p in paths:
    res["exists " + p] = os.path.exists(p)
    def go():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(p)
        return s.fileno()
    res["connect " + p] = _try(go)
import stat
found = []
for root in ("/run", "/var/run", "/var/lib", "/tmp", "/var/tmp", "/dev/shm"):
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            try:
                if stat.S_ISSOCK(os.lstat(os.path.join(dirpath, name)).st_mode):
                    found.append(os.path.join(dirpath, name))
            except OSError:
                pass
res["sockets found on the file system"] = found[:20]
return res
'''
    out = run(env, attack(env, body), network=True, limits=NET)
    res = out.result
    assert_all_blocked(res, "connect ")
    # Second layer: /run (and /var/run) are hidden, so the paths do not even exist in the job.
    assert not any(v for k, v in res.items() if k.startswith("exists /run") or k.startswith("exists /var/run")), res
    assert res["sockets found on the file system"] == [], res


def test_abstract_unix_sockets_and_socketpair(env: Env) -> None:
    body = r'''
import socket
res = {}
for name in [b"\0cs231n-grader", b"\0/tmp/.X11-unix/X0", b"\0dbus-system", b"\0redis"]:
    def go():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(name)
        return s.fileno()
    res["connect %r" % name] = _try(go)
def listen():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(b"\0hostile-listener")
    s.listen(1)
    return s.fileno()
res["bind abstract"] = _try(listen)
res["socketpair"] = _try(socket.socketpair)
res["info /proc/net/unix"] = _try(lambda: open("/proc/net/unix").read().count("\n"))
return res
'''
    out = run(env, attack(env, body), network=True, limits=NET)
    res = out.result
    assert_all_blocked(res, "connect ")
    assert blocked(res["bind abstract"]) and blocked(res["socketpair"])


def test_raw_packet_and_netlink_sockets(env: Env) -> None:
    body = r'''
import socket
res = {}
res["raw icmp"] = _try(socket.socket, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
res["raw ipv6"] = _try(socket.socket, socket.AF_INET6, socket.SOCK_RAW, 58)
res["packet"] = _try(socket.socket, 17, socket.SOCK_RAW, 0x0300)
res["netlink route"] = _try(socket.socket, 16, socket.SOCK_RAW, 0)
res["vsock"] = _try(socket.socket, 40, socket.SOCK_STREAM, 0)
res["syscall socketpair"] = str(_sys(53, 1, 1, 0, 0))
return res
'''
    out = run(env, attack(env, body), network=True, limits=NET)
    res = out.result
    assert_all_blocked({k: v for k, v in res.items() if not k.startswith("syscall")})
    assert res["syscall socketpair"].startswith("(-1, "), res


def test_seccomp_bypass_through_the_32_bit_syscall_abi(env: Env) -> None:
    """``int 0x80`` enters the kernel with the i386 syscall table (socket is 359 there): a filter that
    only knows x86_64 numbers would let it through. x32 (nr | 0x40000000) is tried too."""
    body = r'''
import ctypes, mmap
res = {}
res["x32 socket"] = str(_sys(0x40000000 | 41, 2, 1, 0))
code = bytes([0x53, 0xb8, 0x67, 0x01, 0, 0, 0xbb, 2, 0, 0, 0, 0xb9, 1, 0, 0, 0, 0x31, 0xd2, 0xcd, 0x80, 0x5b, 0xc3])
buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
buf.write(code)
fn = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))
sys.stdout.write("about to int 0x80\n")
sys.stdout.flush()
res["i386 socket"] = fn()
return res
'''
    out = run(env, attack(env, body), network=True, limits=NET)
    first = out.tests["naive_loss_at_zero"]
    if "HOSTILE_RESULT" in out.report["student_output"]:
        res = out.result
        assert res["i386 socket"] < 0, f"the i386 ABI created a socket: {res}"
    else:  # the filter killed the process for using a foreign syscall ABI
        assert first["status"] == "error" and "crashed with signal" in first["output"], first["output"]
    assert_vectorized_fine(out.report)


# =========================================================================== processes


def test_fork_bomb(env: Env) -> None:
    body = r'''
import subprocess, multiprocessing, pty
res = {}
children = []
def bomb():
    for _ in range(200):
        pid = os.fork()
        if pid == 0:
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        children.append(pid)
res["fork"] = _try(bomb)
res["children"] = children
res["posix_spawn"] = _try(os.posix_spawn, "/bin/true", ["true"], {})
res["subprocess"] = _try(subprocess.run, ["/bin/true"])
rc = os.system("true")
res["os.system"] = ("blocked: exit status %r" % rc) if rc != 0 else "ok: 0"
res["multiprocessing"] = _try(lambda: multiprocessing.Process(target=print).start())
res["pty.fork"] = _try(pty.fork)
res["syscall fork"] = str(_sys(57))
res["syscall vfork"] = str(_sys(58))
res["syscall clone"] = str(_sys(56, 17, 0, 0, 0, 0))
return res
'''
    out = run(env, attack(env, body))
    res = out.result
    assert res["children"] == []
    assert_all_blocked({k: v for k, v in res.items() if not k.startswith(("syscall", "children"))})
    assert "PermissionError" in res["fork"]
    for key in ("syscall fork", "syscall vfork", "syscall clone"):
        assert res[key] == str((-1, "EPERM")), (key, res[key])
    assert_full_marks(out.report)


def test_thread_bomb(env: Env) -> None:
    body = r'''
import threading
res = {}
started = []
def bomb():
    for i in range(2000):
        t = threading.Thread(target=time.sleep, args=(60,), daemon=True)
        t.start()
        started.append(i)
res["threads"] = _try(bomb)
res["started"] = len(started)
from concurrent.futures import ThreadPoolExecutor
res["executor"] = _try(lambda: ThreadPoolExecutor(8).submit(time.sleep, 60).result(0.1))
return res
'''
    out = run(env, attack(env, body))
    res = out.result
    assert res["started"] == 0 and blocked(res["threads"]) and blocked(res["executor"]), res
    assert_full_marks(out.report)


def test_exec_a_shell(env: Env) -> None:
    body = r'''
import subprocess, ctypes
res = {}
res["execv"] = _try(os.execv, "/bin/sh", ["sh", "-c", "touch /tmp/hostile-exec"])
res["execve syscall"] = str(_sys(59, 0, 0, 0))
res["execveat syscall"] = str(_sys(322, -100, 0, 0, 0, 0))
res["subprocess shell"] = _try(subprocess.check_output, "id; cat /etc/shadow", shell=True)
res["popen"] = _try(lambda: os.popen("id").read())
return res
'''
    out = run(env, attack(env, body), watch=("/tmp/hostile-exec",))
    res = out.result
    assert blocked(res["execv"]) and "PermissionError" in res["execv"]
    assert res["execve syscall"] == str((-1, "EPERM")) and res["execveat syscall"] == str((-1, "EPERM"))
    assert blocked(res["subprocess shell"])
    assert res["popen"] in ("ok: ''",) or blocked(res["popen"]), res["popen"]
    assert_full_marks(out.report)


def test_kill_parent_group_and_everyone(env: Env) -> None:
    body = r'''
import signal
res = {"ppid": os.getppid(), "pid": os.getpid(), "pgrp": os.getpgrp(), "sid": os.getsid(0)}
res["kill worker"] = _try(os.kill, __WORKER_PID__, signal.SIGKILL)
res["kill server"] = _try(os.kill, __SERVER_PID__, signal.SIGKILL)
res["info kill ppid"] = _try(os.kill, os.getppid(), signal.SIGTERM)
res["info killpg own group"] = _try(os.killpg, os.getpgrp(), signal.SIGTERM)
res["info kill 0"] = _try(os.kill, 0, signal.SIGTERM)
res["info kill -1"] = _try(os.kill, -1, signal.SIGKILL)
res["killpg worker group"] = _try(os.killpg, __WORKER_PGRP__, signal.SIGKILL)
res["tgkill worker"] = str(_sys(234, __WORKER_PID__, __WORKER_PID__, 9))
return res
'''
    out = run(env, attack(env, body, WORKER_PID=os.getpid(), SERVER_PID=env.server_pid, WORKER_PGRP=os.getpgrp()))
    res = out.result
    assert_all_blocked({k: v for k, v in res.items() if k.startswith(("kill ", "killpg "))})
    assert res["tgkill worker"].startswith("(-1, "), res
    assert res["ppid"] == 0 and res["pid"] == 1
    assert_full_marks(out.report)  # the job survived its own signals too (it is its namespace's init)


def test_job_that_kills_itself(env: Env) -> None:
    """A job that really dies by its own hand (SIGSEGV with the default action restored) costs only itself."""
    body = "import signal\nsignal.signal(signal.SIGSEGV, signal.SIG_DFL)\nos.kill(os.getpid(), signal.SIGSEGV)\n" \
           "import ctypes\nctypes.string_at(0)"
    out = run(env, naive_with(env, body))
    assert_naive_failed(out.report, "crashed with signal", kind="crashed")
    assert_vectorized_fine(out.report)


def test_ptrace_and_process_vm_readv(env: Env) -> None:
    body = r'''
import ctypes
res = {}
for name, pid in [("worker", __WORKER_PID__), ("server", __SERVER_PID__), ("self-ns-1", 1)]:
    res["ptrace attach " + name] = str(_sys(101, 16, pid, 0, 0))
    res["ptrace seize " + name] = str(_sys(101, 0x4206, pid, 0, 0))
    buf = ctypes.create_string_buffer(64)
    class IOV(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    local = IOV(ctypes.addressof(buf), 64)
    remote = IOV(0x400000, 64)
    res["process_vm_readv " + name] = str(_sys(310, pid, ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0))
res["ptrace traceme"] = str(_sys(101, 0, 0, 0, 0))
res["pidfd_open worker"] = str(_sys(434, __WORKER_PID__, 0))
res["kcmp"] = str(_sys(312, 1, __WORKER_PID__, 0, 0, 0))
return res
'''
    out = run(env, attack(env, body, WORKER_PID=os.getpid(), SERVER_PID=env.server_pid))
    res = out.result
    for key, value in res.items():
        assert value == str((-1, "EPERM")), (key, value)


def test_proc_pid_mem_of_other_processes(env: Env) -> None:
    body = r'''
res = {}
for name, pid in [("worker", __WORKER_PID__), ("server", __SERVER_PID__), ("init", 1)]:
    def go():
        fd = os.open("/proc/%d/mem" % pid, os.O_RDWR)
        return os.pread(fd, 16, 0x400000)
    res["mem " + name] = _try(go)
    res["maps " + name] = _try(lambda: open("/proc/%d/maps" % pid).read(80))
res["info own pid"] = os.getpid()
return res
'''
    out = run(env, attack(env, body, WORKER_PID=os.getpid(), SERVER_PID=env.server_pid))
    res = out.result
    for name in ("worker", "server"):
        assert blocked(res[f"mem {name}"]) and blocked(res[f"maps {name}"]), res
    # pid 1 is the job itself: its own memory is all it can see.
    assert res["info own pid"] == 1


def test_setuid_root_and_capabilities(env: Env) -> None:
    body = r'''
res = {"uid": os.getuid(), "euid": os.geteuid()}
res["setuid 0"] = _try(os.setuid, 0)
res["seteuid 0"] = _try(os.seteuid, 0)
res["setresuid 0"] = _try(os.setresuid, 0, 0, 0)
res["setgid 0"] = _try(os.setgid, 0)
res["setgroups"] = _try(os.setgroups, [0])
res["capset"] = str(_sys(126, 0, 0))
res["sudo"] = _try(lambda: __import__("subprocess").check_output(["sudo", "id"]))
res["after uid"] = os.getuid()
status = open("/proc/self/status").read()
res["caps"] = [l for l in status.splitlines() if l.startswith(("CapEff", "CapPrm", "NoNewPrivs", "Seccomp"))]
return res
'''
    out = run(env, attack(env, body))
    res = out.result
    assert_all_blocked({k: v for k, v in res.items() if k.startswith(("set", "sudo"))})
    assert res["after uid"] == res["uid"] >= 1000
    assert "CapEff:\t0000000000000000" in res["caps"] and "NoNewPrivs:\t1" in res["caps"], res["caps"]


def test_raise_rlimits(env: Env) -> None:
    body = r'''
import resource
res = {}
before = {}
for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CORE"):
    which = getattr(resource, name)
    soft, hard = resource.getrlimit(which)
    before[name] = [soft, hard]
    res["raise " + name] = _try(resource.setrlimit, which, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    res["prlimit " + name] = _try(resource.prlimit, 0, which, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    after = list(resource.getrlimit(which))
    res["unchanged " + name] = after == [soft, hard] or after
res["limits"] = before
import numpy as np
res["allocate past the limit"] = _try(lambda: np.ones(2 * before["RLIMIT_AS"][0] // 8).sum())
return res
'''
    out = run(env, attack(env, body))
    res = out.result
    assert_all_blocked(res, "raise ")
    assert_all_blocked(res, "prlimit ")
    assert all(v is True for k, v in res.items() if k.startswith("unchanged ")), res
    assert "MemoryError" in res["allocate past the limit"], res
    assert res["limits"]["RLIMIT_AS"][1] == FAST.memory_mb << 20


def test_unshare_mount_chroot_setns(env: Env) -> None:
    body = r'''
import ctypes
libc = _libc()
res = {}
def call(fn, *args):
    r = fn(*args)
    return (r, errno_name(ctypes.get_errno()) if r < 0 else "")
res["unshare user+mount"] = str(call(libc.unshare, 0x10000000 | 0x00020000))
res["unshare net"] = str(call(libc.unshare, 0x40000000))
res["mount tmpfs"] = str(call(libc.mount, b"none", b"/tmp", b"tmpfs", 0, None))
res["umount /tmp (would reveal the host's)"] = str(call(libc.umount2, b"/tmp", 2))
res["umount hidden tree"] = str(call(libc.umount2, __PROJECT__.encode(), 2))
res["chroot"] = str(call(libc.chroot, b"/tmp"))
fd = os.open("/proc/self/ns/mnt", os.O_RDONLY)
res["setns"] = str(call(libc.setns, fd, 0))
res["pivot_root"] = str(_sys(155, 0, 0))
res["open_tree"] = str(_sys(428, -100, 0, 0))
res["fsopen"] = str(_sys(430, 0, 0))
res["mknod"] = str(call(libc.mknod, b"/tmp/sda", 0o60600, 0x0800))
res["sethostname"] = str(call(libc.sethostname, b"pwned", 5))
return res
'''
    out = run(env, attack(env, body, PROJECT=str(ROOT)))
    res = out.result
    for key, value in res.items():
        assert value == str((-1, "EPERM")), (key, value)


def test_kernel_attack_surface_syscalls(env: Env) -> None:
    body = r'''
import fcntl
res = {}
calls = {"io_uring_setup": (425, 8, 0), "io_uring_enter": (426, 0, 0, 0, 0, 0), "io_uring_register": (427, 0, 0, 0, 0),
         "bpf": (321, 0, 0, 0), "userfaultfd": (323, 0), "perf_event_open": (298, 0, 0, -1, -1, 0),
         "keyctl": (250, 0, 0, 0, 0, 0), "add_key": (248, 0, 0, 0, 0, 0), "request_key": (249, 0, 0, 0, 0),
         "kexec_load": (246, 0, 0, 0, 0), "init_module": (175, 0, 0, 0), "finit_module": (313, 0, 0, 0),
         "delete_module": (176, 0, 0), "reboot": (169, 0, 0, 0, 0), "open_by_handle_at": (304, 0, 0, 0),
         "name_to_handle_at": (303, 0, 0, 0, 0, 0), "fanotify_init": (300, 0, 0), "swapon": (167, 0, 0),
         "syslog": (103, 3, 0, 0), "acct": (163, 0), "settimeofday": (164, 0, 0), "iopl": (172, 3),
         "ioperm": (173, 0, 1, 1), "personality": (135, 0x0040000), "pidfd_getfd": (438, 0, 0, 0)}
for name, (nr, *args) in calls.items():
    res[name] = str(_sys(nr, *args))
res["clone3"] = str(_sys(435, 0, 0))
res["TIOCSTI"] = _try(fcntl.ioctl, 1, 0x5412, b"x")
res["TIOCLINUX"] = _try(fcntl.ioctl, 1, 0x541C, b"\x06")
return res
'''
    out = run(env, attack(env, body))
    res = out.result
    for key, value in res.items():
        if key == "clone3":
            assert value == str((-1, "ENOSYS")), value
        elif key.startswith("TIOC"):
            assert blocked(value) and "Operation not permitted" in value, (key, value)
        else:
            assert value == str((-1, "EPERM")), (key, value)


def test_leaked_file_descriptors(env: Env) -> None:
    body = r'''
import stat
res = {}
names = sorted(int(n) for n in os.listdir("/proc/self/fd"))
fds = {}
for fd in names:
    try:
        st = os.fstat(fd)
    except OSError:
        continue
    try:
        target = os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        target = "?"
    kind = "pipe" if stat.S_ISFIFO(st.st_mode) else "chr" if stat.S_ISCHR(st.st_mode) else \
        "sock" if stat.S_ISSOCK(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
    fds[fd] = [kind, target.split(":")[0]]
res["fds"] = fds
res["fstat 5..255"] = [fd for fd in range(5, 256) if _try(os.fstat, fd).startswith("ok")]
res["read fd 3 (requests) flags"] = _try(lambda: __import__("fcntl").fcntl(3, 3) & 3)
return res
'''
    out = run(env, attack(env, body))
    res = out.result
    fds = {int(k): v for k, v in res["fds"].items()}
    assert set(fds) == {0, 1, 2, 3, 4}, fds
    assert fds[0] == ["chr", "/dev/null"] and fds[3][0] == "pipe" and fds[4][0] == "pipe", fds
    assert fds[1][0] == fds[2][0] == "pipe"
    assert res["fstat 5..255"] == []


def test_daemon_that_outlives_the_job(env: Env) -> None:
    """Timers and alarms set to write later: the job is gone before they fire, and nothing survives it."""
    body = r'''
import signal, threading, atexit
res = {}
def late(*_):
    for p in ("/tmp/hostile-late", "/dev/shm/hostile-late"):
        try:
            open(p, "w").write("late")
        except OSError:
            pass
    os.write(1, b"LATE WRITE\n")
    os.write(4, b"\0\0\0\0\0\0\0\x10GRD1" + b"\0" * 12)
res["timer thread"] = _try(lambda: threading.Timer(3.0, late).start())
signal.signal(signal.SIGALRM, late)
res["alarm"] = _try(signal.alarm, 2)
atexit.register(late)
res["setsid"] = _try(os.setsid)
res["daemon fork"] = _try(os.fork)
return res
'''
    out = run(env, attack(env, body), watch=("/tmp/hostile-late", "/dev/shm/hostile-late"))
    res = out.result
    assert blocked(res["timer thread"]) and blocked(res["daemon fork"])
    assert_full_marks(out.report)
    # Nothing can fire later: no process of the job is left (the server is a subreaper, so an orphan would
    # still be its descendant). Observed, rather than sleeping past the alarm and hoping the machine was fast
    # (the next submission's job, graded by run(), may still be exiting: waited for with a deadline).
    wait_for_no_jobs(env)
    assert not os.path.exists("/tmp/hostile-late") and not os.path.exists("/dev/shm/hostile-late")
    assert "LATE WRITE" not in out.report["student_output"]
    nxt = grade("svm", {"linear_svm.py": CORRECT}, seed=SEED, mode="check", launcher=env.launcher, limits=FAST)
    assert_full_marks(nxt)
    assert nxt["student_output"] == ""


def test_cgroup_escape_and_limit_raising(env: Env) -> None:
    body = r'''
import glob
res = {"cgroup": open("/proc/self/cgroup").read().splitlines()[:6]}
own = [l.split(":")[2] for l in res["cgroup"] if "memory" in l.split(":")[1]]
res["own memory cgroup"] = own
for path in glob.glob("/sys/fs/cgroup/memory/cs231n-grader/slot-*/memory.limit_in_bytes")[:4] + \
        glob.glob("/sys/fs/cgroup/pids/cs231n-grader/slot-*/pids.max")[:4] + \
        glob.glob("/sys/fs/cgroup/cs231n-grader/slot-*/memory.max")[:4]:
    res["write " + path] = _try(lambda: open(path, "w").write("max"))
for path in ["/sys/fs/cgroup/memory/cgroup.procs", "/sys/fs/cgroup/pids/cgroup.procs", "/sys/fs/cgroup/cgroup.procs",
             "/sys/fs/cgroup/memory/cs231n-grader/cgroup.procs"]:
    res["escape via " + path] = _try(lambda: open(path, "w").write("1"))
res["write /proc/sys/kernel/core_pattern"] = _try(lambda: open("/proc/sys/kernel/core_pattern", "w").write("|/bin/sh"))
res["write /proc/sysrq-trigger"] = _try(lambda: open("/proc/sysrq-trigger", "w").write("b"))
# Lowering its own OOM score would make the kernel pick someone else when memory runs out.
res["write /proc/self/oom_score_adj"] = _try(lambda: open("/proc/self/oom_score_adj", "w").write("-1000"))
res["after"] = open("/proc/self/cgroup").read().splitlines()[:6]
return res
'''
    out = run(env, attack(env, body))
    res = out.result
    assert_all_blocked(res, "write ")
    assert_all_blocked(res, "escape via ")
    assert res["after"] == res["cgroup"]


# =========================================================================== resources


@pytest.mark.parametrize("body, expect", [
    pytest.param("while True:\n    pass", "did not finish within 2 s", id="busy-loop"),
    pytest.param("import signal\nfor s in range(1, 65):\n    try:\n        signal.signal(s, signal.SIG_IGN)\n"
                 "    except (OSError, ValueError, RuntimeError):\n        pass\nx = 0\nwhile True:\n    x += 1",
                 "did not finish within 2 s", id="loop-ignoring-signals"),
    pytest.param("time.sleep(1000)", "did not finish within 2 s", id="sleep"),
    pytest.param("import select\nselect.select([], [], [], 1000)", "did not finish within 2 s", id="select-forever"),
    pytest.param("os.read(3, 1)\nos.read(3, 1 << 20)", "did not finish within 2 s", id="steal-requests-and-block"),
])
def test_hangs_are_killed_at_the_deadline(env: Env, body: str, expect: str) -> None:
    out = run(env, naive_with(env, body), max_seconds=12)
    assert_naive_failed(out.report, expect, kind="timeout")
    assert_vectorized_fine(out.report)


def test_long_blas_call(env: Env) -> None:
    """One matrix product that runs for seconds inside OpenBLAS (no Python bytecode to interrupt)."""
    limits = Limits(call_seconds=2, total_seconds=20, memory_mb=1024, disk_mb=16, processes=16)
    body = "a = np.ones((4000, 4000))\nfor _ in range(20):\n    a = a @ a / 4000.0\nreturn 0.0, a"
    started = time.monotonic()
    out = run(env, naive_with(env, body), limits=limits, max_seconds=12)
    assert_naive_failed(out.report, "did not finish within 2 s", kind="timeout")
    assert time.monotonic() - started < 20


def test_memory_bomb_gradual(env: Env) -> None:
    body = "hoard = []\nwhile True:\n    hoard.append(b'x' * (8 << 20))"
    out = run(env, naive_with(env, body), max_seconds=15)
    first = out.tests["naive_loss_at_zero"]
    assert first["status"] == "error"
    assert "MemoryError" in first["output"] or "memory limit" in first["output"], first["output"]
    assert "memory" in first["output"].lower()
    assert_vectorized_fine(out.report)


def test_memory_bomb_one_allocation(env: Env) -> None:
    out = run(env, naive_with(env, "a = np.ones(10 ** 11)\nreturn 0.0, a"))
    first = out.tests["naive_loss_at_zero"]
    assert first["status"] == "error" and "MemoryError" in first["output"], first["output"]
    assert "Hint:" in first["output"]
    assert_vectorized_fine(out.report)


def test_memory_bomb_outside_the_address_space(env: Env) -> None:
    """Memory the address-space limit does not see: shared memory written through memfds (each under the
    file-size limit). Only the slot's memory cgroup stops it."""
    body = r'''
held = []
chunk = b"x" * (1 << 20)
for i in range(100):
    fd = os.memfd_create("bomb%d" % i)
    for _ in range(15):
        os.write(fd, chunk)
    held.append(fd)
return 0.0, np.zeros(W.shape)
'''
    limits = Limits(call_seconds=10, total_seconds=60, memory_mb=512, disk_mb=16, processes=16)
    out = run(env, naive_with(env, body), limits=limits, max_seconds=40)  # room for the kernel's reclaim
    first = out.tests["naive_loss_at_zero"]
    assert first["status"] == "error", first
    # memfd_create is not on the seccomp allowlist (ENOSYS); were it allowed, the memory cgroup stops it.
    assert "memory limit" in first["output"] or "MemoryError" in first["output"] \
        or "[Errno 38] Function not implemented" in first["output"], first["output"]
    assert_vectorized_fine(out.report)


def test_one_huge_file(env: Env) -> None:
    body = r'''
res = {}
written = 0
chunk = b"\0" * (1 << 20)
try:
    with open("/tmp/hostile-huge", "wb") as f:
        for _ in range(4096):
            f.write(chunk)
            written += len(chunk)
    res["result"] = "ok"
except OSError as exc:
    res["result"] = "blocked: " + errno_name(exc.errno)
res["written MB"] = written >> 20
res["shm"] = _try(lambda: open("/dev/shm/hostile-huge", "wb").write(b"\0" * (64 << 20)))
return res
'''
    out = run(env, attack(env, body), watch=("/tmp/hostile-huge", "/dev/shm/hostile-huge"))
    res = out.result
    assert res["result"] in ("blocked: EFBIG", "blocked: ENOSPC"), res
    assert res["written MB"] <= FAST.disk_mb, res
    assert blocked(res["shm"])
    assert_full_marks(out.report)


def test_many_small_files(env: Env) -> None:
    body = r'''
res = {"created": 0}
t0 = time.monotonic()
try:
    os.mkdir("/tmp/hostile-many")
    for i in range(200000):
        if time.monotonic() - t0 > 1.2:
            break
        with open("/tmp/hostile-many/%d" % i, "w") as f:
            f.write("x")
        res["created"] = i + 1
    res["stopped"] = "time budget"
except OSError as exc:
    res["stopped"] = errno_name(exc.errno)
return res
'''
    out = run(env, attack(env, body), watch=("/tmp/hostile-many",))
    res = out.result
    assert res["created"] > 100, res  # the private tmpfs is usable
    assert_full_marks(out.report)


def test_writes_into_shared_temp_dirs_and_system_paths(env: Env) -> None:
    sp = _site_packages()[0]
    targets = ["/tmp/hostile-pwned", "/dev/shm/hostile-pwned", "/var/tmp/hostile-pwned", "/root/.bashrc",
               "/etc/cron.d/hostile", "/etc/ld.so.preload", str(ROOT / "hostile-pwned.py"),
               str(ROOT / "worker" / "hostile.py"), str(ROOT / "assignments" / "svm" / "reference.py"),
               str(env.reference_copy), os.path.join(sp, "sitecustomize.py"), os.path.join(sp, "hostile.pth"),
               "/usr/lib/python3/dist-packages/hostile.pth", "/opt/hostile-pwned", "/var/cache/hostile-pwned",
               str(ROOT.parent / "hostile-pwned")]
    body = r'''
res = {}
for p in __TARGETS__:
    res["write " + p] = _try(lambda: open(p, "a").write("import os; os.system('touch /tmp/hostile-owned')\n"))
res["info HOME"] = os.environ.get("HOME")
res["home bashrc"] = _try(lambda: open(os.path.expanduser("~/.bashrc"), "a").write("x"))
return res
'''
    watch = tuple(targets) + ("/tmp/hostile-owned",)
    out = run(env, attack(env, body, TARGETS=targets), watch=watch)
    res = out.result
    private = {"/tmp/hostile-pwned", "/dev/shm/hostile-pwned", "/var/tmp/hostile-pwned"}
    for p in targets:
        value = res[f"write {shown_path(p)}"]  # the report never shows the grader's own paths
        if p in private:
            assert value.startswith("ok"), (p, value)  # allowed: the job's own private tmpfs
        else:
            assert blocked(value), (p, value)
    assert res["home bashrc"].startswith("ok") and res["info HOME"] == "/tmp"  # HOME is the private /tmp


def test_huge_stdout(env: Env) -> None:
    body = "import sys\nif not globals().get('PRINTED'):\n    globals()['PRINTED'] = True\n" \
           "    sys.stdout.write('x' * (50 << 20))\n    sys.stderr.write('y' * (10 << 20))\n" \
           "return svm_loss_vectorized(W, X, y, reg)"
    out = run(env, naive_with(env, body), max_seconds=15)
    report = out.report
    assert len(report["student_output"].encode()) <= FAST.output_bytes
    # Past the run's stop limit the job is stopped and the remaining tests fail at once (issue 10).
    assert report["student_output_truncated_bytes"] >= FAST.output_stop_bytes - FAST.output_bytes
    assert "Grading stopped early: the code printed more than 16 MB" in report["output"], report["output"]
    assert out.tests["naive_loss_at_zero"]["details"]["kind"] == "output"


def test_huge_exception_message(env: Env) -> None:
    out = run(env, naive_with(env, "raise ValueError('m' * (10 << 20))"))
    first = out.tests["naive_loss_at_zero"]
    assert first["status"] == "error" and first["output"].startswith("svm_loss_naive raised ValueError: mmm")
    assert len(first["output"]) < 20_000
    assert_vectorized_fine(out.report)


def test_exception_whose_str_hangs(env: Env) -> None:
    body = "class Nasty(Exception):\n    def __str__(self):\n        while True:\n            pass\nraise Nasty()"
    out = run(env, naive_with(env, body), max_seconds=12)
    assert_naive_failed(out.report, "did not finish within 2 s", kind="timeout")


def test_too_many_open_files(env: Env) -> None:
    body = r'''
res = {}
held = []
try:
    for _ in range(100000):
        held.append(os.open("/dev/null", os.O_RDONLY))
    res["stopped"] = "never"
except OSError as exc:
    res["stopped"] = errno_name(exc.errno)
res["opened"] = len(held)
for fd in held:
    os.close(fd)
return res
'''
    out = run(env, attack(env, body))
    res = out.result
    assert res["stopped"] == "EMFILE" and res["opened"] < 256, res
    assert_full_marks(out.report)


def test_too_many_open_files_kept_open(env: Env) -> None:
    """The descriptors stay open: the job's later calls may fail, the grading and the worker do not."""
    body = "held = globals().setdefault('HELD', [])\nif not held:\n    try:\n        while True:\n" \
           "            held.append(os.open('/dev/null', os.O_RDONLY))\n    except OSError:\n        pass\n" \
           "return svm_loss_vectorized(W, X, y, reg)"
    out = run(env, naive_with(env, body))
    tests = out.tests
    for tid in ("naive_loss_at_zero", "naive_reg_known_value", "naive_grad_consistency"):
        assert tests[tid]["status"] == "passed", (tid, tests[tid]["output"])
    assert_vectorized_fine(out.report)


# What each way a recursion bomb can end must be reported as (kind -> accepted messages).
RECURSION_OUTCOMES = {
    "crashed": ("crashed with signal 11 SIGSEGV (segmentation fault)",),
    "exception": ("raised RecursionError", "raised MemoryError"),
    "timeout": (f"did not finish within {FAST.call_seconds:g} s",),
}


def test_deep_recursion(env: Env) -> None:
    """A recursion bomb is contained: its call ends in a per-test error named for what happened, the job is
    gone (``run``), and the rest of the submission is graded.

    Which of the contained endings it is depends on the machine, not on the grader, so the test accepts each
    one, reported exactly. CPython 3.11's ``repr`` checks only the recursion limit (raised to 10**6 here),
    so it recurses until the C stack (RLIMIT_STACK, 8 MB, inherited) overflows: a SIGSEGV somewhere between
    40,000 and 80,000 levels. It gets there in quadratic time, since ``Py_ReprEnter`` scans the list of the
    objects being repr'd at every level (outside the sandbox, in CPU time: 0.09 s at a depth of
    10,000, 0.26 s at 20,000, 1.36 s at 40,000), after 0.6 s of CPU to build the list (0.2 s without the
    garbage collector). That is about 2.4 s of CPU against the call's 2 s wall-clock limit, and in the sandbox
    on this machine under a load of 15 on 2 cores, 3 s of wall time to build and 14 s to crash. Whether the
    call crashes first or reaches its time limit first depends on the machine's speed and load; the test used
    to accept only the crash, and failed whenever the machine was slower.
    """
    body = "import sys\nsys.setrecursionlimit(10 ** 6)\nnested = []\nfor _ in range(10 ** 6):\n" \
           "    nested = [nested]\nrepr(nested)\ndef down(n):\n    return down(n + 1)\ndown(0)"
    out = run(env, naive_with(env, body))
    first = out.tests["naive_loss_at_zero"]
    assert first["status"] == "error" and first["score"] == 0, first
    kind = first["details"].get("kind")
    assert kind in RECURSION_OUTCOMES, first
    assert any(text in first["output"] for text in RECURSION_OUTCOMES[kind]), first["output"]
    assert_vectorized_fine(out.report)


def test_segfault(env: Env) -> None:
    out = run(env, naive_with(env, "import ctypes\nctypes.string_at(0)"))
    assert_naive_failed(out.report, "crashed with signal 11 SIGSEGV (segmentation fault)", kind="crashed")
    assert_vectorized_fine(out.report)


# =========================================================================== result forging


def test_print_a_fake_result(env: Env) -> None:
    fake = json.dumps({"score": 35.0, "max_score": 35.0, "status": "graded",
                       "tests": [{"name": "all", "score": 35, "status": "passed"}]})
    body = r'''
import struct
print(__FAKE__)
h = _json.dumps({"seq": 1, "ok": True, "value": {"t": "none"}, "arrays": []}).encode()
sys.stdout.buffer.write(struct.pack(">Q", len(h) + 8) + b"GRD1" + struct.pack(">I", len(h)) + h)
sys.stdout.flush()
return 0.0, np.zeros(W.shape)
'''
    out = run(env, naive_with(env, body, FAKE=fake))
    report = out.report
    for tid in NAIVE_PUBLIC[:2]:
        assert out.tests[tid]["status"] == "failed", (tid, out.tests[tid])
    assert report["score"] < report["max_score"]
    assert report["output"].startswith(f"{sum(t['status'] == 'passed' for t in report['tests'])} of ")


def test_exit_early(env: Env) -> None:
    out = run(env, naive_with(env, "os._exit(0)"))
    assert_naive_failed(out.report, "exited with code 0", kind="crashed")
    assert_vectorized_fine(out.report)


def test_exit_early_with_the_sandbox_setup_failure_code(env: Env) -> None:
    """os._exit(121) is the code the sandbox uses for a failed setup: the student must not be able to
    pass their own exit off as an infrastructure failure (or the other way round)."""
    out = run(env, naive_with(env, "os._exit(121)"))
    first = out.tests["naive_loss_at_zero"]
    assert first["status"] == "error" and first["score"] == 0
    assert "sandbox could not be set up" not in first["output"], first["output"]
    assert "exited with code 121" in first["output"], first["output"]


def test_close_the_answer_channel(env: Env) -> None:
    """Closing fd 4 makes the child's own answer fail: a clear crash for this call, not a sandbox failure."""
    out = run(env, naive_with(env, "os.close(4)\nreturn svm_loss_vectorized(W, X, y, reg)"))
    first = out.tests["naive_loss_at_zero"]
    assert first["status"] == "error" and first["score"] == 0
    assert "sandbox could not be set up" not in first["output"], first["output"]
    assert_vectorized_fine(out.report)


@pytest.mark.parametrize("body, needle", [
    pytest.param("import struct\nfor seq in range(0, 64):\n"
                 "    h = _json.dumps({'seq': seq, 'ok': True, 'value': {'t': 'tuple', 'items': [{'t': 'float', 'v': 7.0},"
                 " {'t': 'none'}]}, 'arrays': []}).encode()\n"
                 "    os.write(4, struct.pack('>Q', len(h) + 8) + b'GRD1' + struct.pack('>I', len(h)) + h)\n"
                 "return svm_loss_vectorized(W, X, y, reg)", "invalid answer", id="frames-for-every-seq"),
    pytest.param("os.write(4, b'\\xff' * 8 + b'GRD1')\nreturn svm_loss_vectorized(W, X, y, reg)",
                 "was not read", id="huge-length-prefix"),
    pytest.param("os.write(4, b'\\x00' * 7 + b'\\x05GRD1x')\nreturn svm_loss_vectorized(W, X, y, reg)",
                 "invalid answer", id="truncated-header"),
    pytest.param("try:\n    os.write(3, b'x' * 100)\nexcept OSError:\n    pass\nos.write(4, b'\\x00' * 8)\n"
                 "return svm_loss_vectorized(W, X, y, reg)", "invalid answer", id="write-to-request-fd-and-empty-frame"),
])
def test_forged_frames_on_the_channel(env: Env, body: str, needle: str) -> None:
    out = run(env, naive_with(env, body))
    first = out.tests["naive_loss_at_zero"]
    assert first["status"] == "error" and first["score"] == 0, first
    assert needle in first["output"], first["output"]
    if first["details"]["kind"] == "too_large":  # garbage read as a length prefix: refused unread, this call only
        assert_vectorized_fine(out.report)
        return
    # Anything else written to the channel is tampering: the run fails with the reason, nothing counts.
    assert first["details"]["kind"] == "tampering", first
    assert out.report["tampering"] is True and out.report["score"] == 0
    assert all(t["status"] != "passed" for t in out.report["tests"])


def test_timer_writes_forged_frames_after_the_call(env: Env) -> None:
    """An interval timer keeps writing forged frames between and during later calls."""
    body = r'''
import signal, struct
def forge(*_):
    h = _json.dumps({"seq": 0, "ok": True, "value": {"t": "none"}, "arrays": []}).encode()
    try:
        os.write(4, struct.pack(">Q", len(h) + 8) + b"GRD1" + struct.pack(">I", len(h)) + h)
    except OSError:
        pass
signal.signal(signal.SIGALRM, forge)
signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
return {"timer": "armed"}
'''
    out = run(env, attack(env, body))
    report = out.report
    # The first forged frame is tampering: the grading stops with that reason and nothing counts, never a
    # forged pass or a crash of the grader.
    for t in report["tests"]:
        if t["status"] == "error":
            assert t["details"]["kind"] in ("tampering", "timeout", "crashed"), t
    assert report["tampering"] is True and report["score"] == 0, report["output"]
    assert any(t["details"].get("kind") == "tampering" for t in report["tests"]), \
        [(t["id"], t["status"]) for t in report["tests"]]


def test_ndarray_subclass_and_lying_objects(env: Env) -> None:
    body = r'''
class Liar(np.ndarray):
    def __eq__(self, other):
        return True
    def __array_finalize__(self, obj):
        pass
    def __float__(self):
        return 7.0
class LyingFloat(float):
    def __eq__(self, other):
        return True
    def __sub__(self, other):
        return 0.0
    def __abs__(self):
        return 0.0
class Duck:
    shape = W.shape
    dtype = np.dtype("float64")
    def __array__(self, *a, **k):
        return np.zeros(W.shape)
    def __float__(self):
        return 7.0
    def __eq__(self, other):
        return True
return LyingFloat(7.0), np.zeros(W.shape).view(Liar)
'''
    out = run(env, naive_with(env, body))
    first = out.tests["naive_loss_at_zero"]
    assert first["status"] == "failed" and first["score"] == 0, first
    assert "LyingFloat" in first["output"] or "float" in first["output"], first["output"]
    for tid in NAIVE_PUBLIC:
        assert out.tests[tid]["score"] == 0
    body2 = body.replace("return LyingFloat(7.0), np.zeros(W.shape).view(Liar)", "return Duck(), Duck()")
    out2 = run(env, naive_with(env, body2))
    assert out2.tests["naive_loss_at_zero"]["status"] == "failed"
    assert "Duck" in out2.tests["naive_loss_at_zero"]["output"], out2.tests["naive_loss_at_zero"]["output"]


def test_objects_whose_unpickling_runs_code(env: Env) -> None:
    token = f"/tmp/hostile-reduce-{secrets.token_hex(6)}"
    body = r'''
class Boom:
    def __reduce__(self):
        return (os.system, ("touch " + __TOKEN__,))
class Boom2:
    def __reduce__(self):
        return (open, (__TOKEN__ + "-open", "w"))
obj = np.empty(1, dtype=object)
obj[0] = Boom()
return Boom(), [Boom2(), obj, np.zeros(3, dtype=[("a", "O")]), np.array([1 + 2j]),
                np.array(["2020-01-01"], dtype="datetime64[D]")]
'''
    out = run(env, naive_with(env, body, TOKEN=token), watch=(token, token + "-open"))
    first = out.tests["naive_loss_at_zero"]
    assert first["status"] == "failed" and "Boom" in first["output"], first["output"]
    assert not os.path.exists(token) and not os.path.exists(token + "-open")
    body3 = "obj = np.empty(W.shape, dtype=object)\nobj[...] = 0.0\nreturn 1.0, obj"
    out3 = run(env, naive_with(env, body3))
    first3 = out3.tests["naive_loss_at_zero"]
    assert first3["status"] == "failed" and "object" in first3["output"], first3["output"]


def test_monkeypatched_numpy_and_builtins(env: Env) -> None:
    """The child's numpy and builtins are the student's to break; every comparison happens on the trusted side."""
    body = r'''
import builtins, math
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: np.True_
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.linalg.norm = lambda *a, **k: 0.0
np.max = lambda *a, **k: 0.0
math.isclose = lambda *a, **k: True
builtins.abs = lambda x: 0.0
loss, dW = svm_loss_vectorized(W, X, y, reg)
return loss + 1.0, 2.0 * dW
'''
    out = run(env, naive_with(env, body), mode="grade")
    tests = out.tests
    for tid in ("naive_loss_at_zero", "naive_reg_known_value", "naive_loss_reference_noreg",
                "naive_loss_reference_reg", "naive_grad_reference_noreg", "naive_grad_reference_reg"):
        assert tests[tid]["status"] == "failed" and tests[tid]["score"] == 0, (tid, tests[tid]["output"])


def test_symlinks_planted_for_the_trusted_side(env: Env) -> None:
    passwd_before = _fingerprint("/etc/passwd")
    body = r'''
res = {}
links = {"/tmp/grader-mpl-x": "/etc", "/tmp/cs231n-grader": "/etc/passwd", "/tmp/slot-0.lock": "/etc/passwd",
         "/tmp/hostile-link-project": __PROJECT__, "/dev/shm/hostile-link": "/etc/shadow",
         "/var/tmp/hostile-link": "/root", "/tmp/hostile-link-ref": __REF__}
for src, dst in links.items():
    res["symlink " + src] = _try(os.symlink, dst, src)
res["hardlink passwd"] = _try(os.link, "/etc/passwd", "/tmp/hostile-hardlink")
res["symlink into project"] = _try(os.symlink, "/etc/passwd", __PROJECT__ + "/hostile-link")
res["symlink into /run"] = _try(os.symlink, "/etc/passwd", "/run/cs231n-grader/slot-0.lock")
res["rename over /tmp"] = _try(os.rename, "/tmp/grader-mpl-x", "/tmp/hostile-renamed")
return res
'''
    watch = ("/tmp/cs231n-grader", "/tmp/slot-0.lock", "/tmp/hostile-link-project", "/dev/shm/hostile-link",
             "/var/tmp/hostile-link", "/tmp/hostile-hardlink", str(ROOT / "hostile-link"), "/tmp/hostile-renamed",
             "/run/cs231n-grader/slot-0.lock")
    out = run(env, attack(env, body, PROJECT=str(ROOT), REF=str(env.reference_copy)), watch=watch)
    res = out.result
    assert blocked(res["hardlink passwd"]) and blocked(res["symlink into project"]) and blocked(res["symlink into /run"])
    assert _fingerprint("/etc/passwd") == passwd_before
    assert_full_marks(out.report)


def test_terminal_escape_injection_in_the_rendered_report(env: Env) -> None:
    """An exception message is the student's text: in the terminal report (`grader grade`, `grader check`,
    `grader status`) it must not carry escape sequences that retitle or clear the terminal, move the
    cursor or overwrite lines, which would let a submission draw a fake result over the real one."""
    from grader.render import render_report

    payload = "\\x1b]0;owned\\x07\\x1b[2J\\x1b[H\\rPASS     35/35  all tests passed\\x1b[1A\\x08\\x08"
    out = run(env, naive_with(env, f"raise ValueError('{payload}')"))
    first = out.tests["naive_loss_at_zero"]
    assert first["status"] == "error" and first["score"] == 0
    text = render_report(out.report, color=False)
    controls = sorted({f"0x{ord(c):02x}" for c in text if (ord(c) < 0x20 and c not in "\n\t") or ord(c) == 0x7f})
    assert not controls, f"control characters from the submission reach the terminal: {controls}"


def test_attacks_at_import_time(env: Env) -> None:
    """The jail is complete before the student's first line runs: the same attacks at import time."""
    body = r'''
import socket
_R = {}
_R["secret env"] = [k for k in os.environ if k.startswith("GRADER")]
_R["reference"] = _try(lambda: open(__REF__).read(50))
_R["socket"] = _try(socket.socket)
_R["fork"] = _try(os.fork)
_R["uid"] = os.getuid()
_R["seccomp"] = [l for l in open("/proc/self/status") if l.startswith("Seccomp:")]
print("HOSTILE_RESULT " + _json.dumps(_R))
'''
    src = PRELUDE.replace("__NEEDLES__", repr(needles(env))) + _subst(body, {"REF": str(env.reference_copy)}) + CORRECT
    out = run(env, src, mode="grade")
    res = out.result
    assert res["secret env"] == [] and blocked(res["reference"]) and blocked(res["socket"]) and blocked(res["fork"])
    assert res["uid"] >= 1000 and res["seccomp"] == ["Seccomp:\t2\n"], res
    assert_full_marks(out.report)


def test_hang_at_import_time(env: Env) -> None:
    out = run(env, "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n" + CORRECT,
              max_seconds=12)
    assert "could not be imported" in out.report["output"]
    for t in out.report["tests"]:
        if t["id"] == "vectorized_no_loops":
            continue  # a static check of the source
        assert t["status"] == "error" and "import" in t["output"], (t["id"], t["output"])


def test_slow_calls_hit_the_total_time_limit(env: Env) -> None:
    """Every call stays under the per-call limit, together they exceed the whole grading's budget."""
    limits = Limits(call_seconds=1.5, total_seconds=4, memory_mb=512, disk_mb=16, processes=16)
    slow = CORRECT.replace("  dW = np.zeros(W.shape) # initialize the gradient as zero\n",
                           "  import time\n  time.sleep(1.0)\n  dW = np.zeros(W.shape) # initialize the gradient as zero\n", 1)
    started = time.monotonic()
    out = run(env, slow, limits=limits, max_seconds=limits.total_seconds + 4)
    assert time.monotonic() - started < limits.total_seconds + 6
    messages = [t["output"] for t in out.report["tests"] if t["status"] == "error"]
    assert any("grading time limit (4 s)" in m for m in messages), messages


def test_devices_and_terminals(env: Env) -> None:
    body = r'''
import glob
res = {}
for p in ["/dev/kmsg", "/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/port", "/dev/fuse", "/dev/net/tun", "/dev/kvm"]:
    if os.path.exists(p):
        res["read " + p] = _try(lambda: open(p, "rb").read(16))
for p in ["/dev/tty", "/dev/console"] + sorted(glob.glob("/dev/pts/[0-9]*"))[:4] + sorted(glob.glob("/dev/tty[0-9]*"))[:2]:
    res["write " + p] = _try(lambda: open(p, "wb", buffering=0).write(b"\x1b]0;owned\x07hostile\n"))
res["info /dev/urandom"] = _try(lambda: len(open("/dev/urandom", "rb").read(8)))
return res
'''
    out = run(env, attack(env, body))
    res = out.result
    assert_all_blocked(res, "read ")
    assert_all_blocked(res, "write ")


LATE_READER = r'''
res = {}
for p in __PATHS__:
    try:
        with open(p, "rb") as f:
            res[p] = f.read(200).decode(errors="replace")
    except OSError as exc:
        res[p] = "blocked: " + type(exc).__name__
return res
'''


def _late_tree_leak(env: Env, create_before_start: bool) -> tuple[dict[str, Any], str]:
    """A launcher whose GRADER_INSTANCE_PATH is empty (or missing) when its server starts; the tree is
    filled afterwards, the way a fresh deployment's instance or assignments folder fills up."""
    late = Path(tempfile.mkdtemp(prefix="cs231n-late-", dir=str(env.base.parent)))
    late.chmod(0o755)
    tree = late / "instance"
    if create_before_start:
        tree.mkdir()
        tree.chmod(0o755)
    mark = _marker("LATE")
    saved = os.environ.get("GRADER_INSTANCE_PATH")
    os.environ["GRADER_INSTANCE_PATH"] = str(tree)
    launcher = None
    try:
        launcher = ForkServerLauncher()
        launcher.start()
        wait_for_warm_job(launcher)  # observed: the server has forked and prepared its warm job
        tree.mkdir(exist_ok=True)
        tree.chmod(0o755)
        secret_file = tree / "grader.sqlite3"
        secret_file.write_text(f"SQLite format 3 {mark}")
        secret_file.chmod(0o644)
        src = attack(env, LATE_READER, PATHS=[str(secret_file)])
        started = time.monotonic()
        report = grade("svm", {"linear_svm.py": src}, seed=SEED, mode="check", launcher=launcher, limits=FAST)
        held = time.monotonic() - started  # this launcher's only job; closing it below ends the job's processes
        assert report["status"] == "graded"
        assert held < SLOT_SECONDS, f"the submission held a slot for {held:.1f} s"  # issue 10, as in run()
        return {"report": report, "leaked": mark in json.dumps(report), "file": str(secret_file)}, mark
    finally:
        if launcher is not None:
            launcher.close()
        if saved is None:
            os.environ.pop("GRADER_INSTANCE_PATH", None)
        else:
            os.environ["GRADER_INSTANCE_PATH"] = saved
        shutil.rmtree(late, ignore_errors=True)


def test_hidden_tree_that_was_empty_when_the_warm_job_was_prepared(env: Env) -> None:
    """jail._cover_trees skips hidden trees that are empty when a job is prepared; the warm job is
    prepared ahead of time, so files written into the tree before it is used must stay hidden."""
    outcome, mark = _late_tree_leak(env, create_before_start=True)
    assert not outcome["leaked"], f"the job read {outcome['file']} (written after its warm job was prepared)"


def test_hidden_tree_created_after_the_server_started(env: Env) -> None:
    """hardened.hidden_paths drops configured trees that do not exist yet when the launcher is made."""
    outcome, mark = _late_tree_leak(env, create_before_start=False)
    assert not outcome["leaked"], f"the job read {outcome['file']} (its tree was created after the server started)"


def test_server_start_and_close_leave_no_files(env: Env) -> None:
    """The trusted side cleans up after itself too: a server's temporary directories go with it (a worker
    restarts its server after a crash, and every test run and `grader doctor` starts one)."""
    launcher = ForkServerLauncher()
    launcher.start()
    try:
        with open(f"/proc/{launcher.server_pid}/environ", "rb") as f:
            environ = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    finally:
        launcher.close()
    leftovers = [v.decode() for k, v in environ.items() if k in (b"MPLCONFIGDIR", b"TMPDIR", b"HOME")
                 and v.startswith((b"/tmp/", b"/var/tmp/")) and os.path.exists(v)]
    assert not leftovers, f"left behind by a closed launcher: {leftovers} ({os.listdir(leftovers[0])})"


def test_world_writable_directories_of_the_host(env: Env) -> None:
    """A covert channel between jobs, or persistence for the next one: every directory the job sees as
    writable, outside its own private temp dirs."""
    planted = Path(tempfile.mkdtemp(prefix="cs231n-world-writable-", dir=str(env.base.parent)))
    planted.chmod(0o1777)  # like /var/crash or /run/lock on some hosts: writable by every uid
    body = r'''
import stat
res = {"candidates": 0, "written": []}
res["planted"] = _try(lambda: open(__PLANTED__ + "/hostile-drop", "w").write("x"))
t0 = time.monotonic()
for dirpath, dirnames, filenames in os.walk("/"):
    dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in ("/proc", "/sys", "/tmp", "/dev/shm", "/var/tmp")]
    if time.monotonic() - t0 > 5:
        res["incomplete"] = True
        break
    try:
        mode = os.stat(dirpath).st_mode
    except OSError:
        continue
    if mode & stat.S_IWOTH or os.access(dirpath, os.W_OK):
        res["candidates"] += 1
        path = os.path.join(dirpath, "hostile-drop")
        try:
            with open(path, "w") as f:
                f.write("x")
            res["written"].append(dirpath)
        except OSError:
            pass
return res
'''
    try:
        out = run(env, attack(env, body, PLANTED=str(planted)), limits=SLOW_SCAN)
        assert os.listdir(planted) == []
    finally:
        shutil.rmtree(planted, ignore_errors=True)
    res = out.result
    # Landlock: writes only in the job's own temp dirs. (Reads are denied by default too, so the walk
    # may not even see the planted directory; the direct attempt above is the one that must fail.)
    assert blocked(res["planted"]), res
    assert res["written"] == [], res
    assert "incomplete" not in res, res
