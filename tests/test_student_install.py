"""What students install (issue 14): `pip install cs231n-grader` is the CLI and the public checks, nothing of the
server, and no reference or hidden test.

- The wheel, built from this tree: no reference.py, catalog.py, assignments/ or tests; the server's packages
  required only under the ``server`` extra.
- The student commands in a process where every server module, and the Unix-only modules a Windows machine
  lacks (fcntl, resource, pwd, grp, termios, the Linux sandbox), cannot be imported.
- End to end from a fresh virtual environment with only the wheel installed: `grader login`, `grader fetch svm`,
  `grader check svm linear_svm.py`, `grader submit svm linear_svm.py --wait` against a running server (the web app and a real
  Celery worker grading in the sandbox).
"""

from __future__ import annotations

import email.parser
import hashlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from service_fixtures import (
    FAST_RELIABILITY,
    PASSWORD,
    ROOT,
    SUBMISSIONS,
    People,
    Process,
    free_port,
    make_app,
    start_worker,
    wait_for_heartbeat,
)

SERVER_PACKAGES = {"flask", "sqlalchemy", "alembic", "celery", "psycopg", "gunicorn", "flask-wtf", "limits",
                   "pyseccomp", "scikit-learn", "matplotlib", "tomli-w", "pylti1p3"}
STUDENT_PACKAGES = {"numpy", "click", "requests", "future", "platformdirs"}
# Never importable on the student's check path: the server, and what only Unix (or only Linux) has.
BLOCKED = ["flask", "werkzeug", "jinja2", "sqlalchemy", "alembic", "celery", "kombu", "billiard", "redis", "psycopg",
           "gunicorn", "flask_wtf", "wtforms", "limits", "pyseccomp", "sklearn", "scipy", "matplotlib",
           "pylti1p3", "jwt", "jwcrypto", "copydetect",
           "fcntl", "resource", "pwd", "grp", "termios",
           "worker.sandbox.hardened", "worker.sandbox.jail", "worker.sandbox.linux", "worker.sandbox.forkserver",
           "worker.celery_app", "worker.tasks", "worker.hidden_key"]

BLOCKER = textwrap.dedent(f"""
    import sys

    BLOCKED = {BLOCKED!r}

    class _Blocker:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not on a student's machine)",
                                          name=name)
            return None

    sys.meta_path.insert(0, _Blocker())
    for _name in list(sys.modules):
        if any(_name == b or _name.startswith(b + ".") for b in BLOCKED):
            raise SystemExit(f"{{_name}} was imported before the blocker")
""")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this tree, built from a copy (the build writes build/ and egg-info beside the sources)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("grader", "worker"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # The PEP 517 hook pip calls for `pip wheel --no-deps --no-build-isolation`, without pip's own start (2.5 s).
    subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                    "build_meta.build_wheel(sys.argv[1])", str(root / "dist")],
                   check=True, capture_output=True, timeout=120, cwd=source)
    (built,) = (root / "dist").glob("cs231n_grader-*.whl")
    return built


def _requirement_name(line: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_the_wheel_holds_no_reference_and_requires_the_server_only_as_an_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode())
    assert any(n.startswith("grader/kits.py") for n in names) and "worker/checks/linear.py" in names
    assert "grader/templates/assignment.html" in names  # package data still ships for the server extra
    for name in names:
        assert name.rsplit("/", 1)[-1] != "reference.py" and name != "worker/catalog.py", name
        assert not name.startswith(("assignments/", "tests/", "instance/", "migrations/", "bench/")), name
    # No file of an assignment folder under any name (references, catalogues, tests.py, hidden tests' config).
    with zipfile.ZipFile(wheel) as archive:
        shipped = {hashlib.sha256(archive.read(n)).hexdigest() for n in names}
    course = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in (ROOT / "assignments").rglob("*") if p.is_file()}
    assert len(course) > 20 and not set(course) & shipped, [course[h] for h in set(course) & shipped]
    requires = metadata.get_all("Requires-Dist") or []
    base = {_requirement_name(r) for r in requires if "extra ==" not in r}
    server = {_requirement_name(r) for r in requires if re.search(r"""extra\s*==\s*["']server["']""", r)}
    assert base == STUDENT_PACKAGES, base
    assert SERVER_PACKAGES <= server, SERVER_PACKAGES - server
    assert "server" in (metadata.get_all("Provides-Extra") or [])


RUN_COMMANDS = textwrap.dedent("""
    import json, sys
    from grader.cli import main

    results = []
    for args in json.loads(sys.argv[1]):
        for stream in (sys.stdout, sys.stderr):
            print(f"=== {' '.join(args)}", file=stream, flush=True)
        try:
            main(args, prog_name="grader")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        results.append(code)
    leaked = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))
    print("=== RESULT " + json.dumps({"codes": results, "leaked": leaked}), flush=True)
""")


def _split(output: str) -> dict[str, str]:
    parts = re.split(r"^=== (.*)$", output, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_the_student_commands_need_no_server_and_nothing_unix_only(tmp_path: Path) -> None:
    import json

    from grader import kits
    from worker.assignments import get_assignment

    zip_path = tmp_path / "svm.zip"
    zip_path.write_bytes(kits.build_kit(get_assignment("svm")).zip_bytes())
    unreachable = f"http://127.0.0.1:{free_port()}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}, "NO_COLOR": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "GRADER_ASSIGNMENTS_DIR": str(tmp_path / "none"), "GRADER_SERVER": unreachable, "GRADER_TOKEN": "t"}
    mine = tmp_path / "linear_svm.py"
    mine.write_bytes((SUBMISSIONS / "svm" / "bug_half_reg.py").read_bytes())
    network = [["login", "--server", unreachable, "--email", "a@example.edu", "--password", "pw"],
               ["fetch", "svm"], ["submit", "svm", str(mine)], ["status"]]
    commands = [["--help"], ["check", "svm", str(mine), "--kit", str(zip_path), "--seed", "3"], *network, ["serve"]]
    ran = subprocess.run([sys.executable, "-c", BLOCKER + RUN_COMMANDS, json.dumps(commands)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    out, err = _split(ran.stdout), _split(ran.stderr)
    result = json.loads(next(k for k in out if k.startswith("RESULT "))[len("RESULT "):])
    assert result["leaked"] == []
    codes = dict(zip((" ".join(c) for c in commands), result["codes"]))

    assert codes["--help"] == 0
    for command in ("login", "submit", "status", "fetch", "check"):
        assert re.search(rf"^\s+{command}\s", out["--help"], re.M), command
    check = " ".join(commands[1])
    assert codes[check] == 0, err[check]
    assert "Score: 11 / 13" in out[check] and "0.5*reg" in out[check]
    # Every network command gets as far as the network (the server is not there), importing nothing it lacks.
    for args in network:
        name = " ".join(args)
        assert codes[name] == 1 and "cannot reach the grader" in err[name], (name, err[name])
        assert "Traceback" not in err[name] and "ModuleNotFoundError" not in err[name]
    # A server command says what to install instead of a traceback.
    assert codes["serve"] == 1
    assert err["serve"].strip() == "error: `grader serve` is part of the server: pip install 'cs231n-grader[server]'"

    # The child's setup without resource limits (Windows): the compatibility shims only, no error.
    shims = subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent("""
        from worker.sandbox import child
        child.prepare_process({"memory_bytes": 1 << 30, "cpu_seconds": 5})
        import numpy as np
        assert np.int is int
        print("ok")
    """)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert shims.returncode == 0 and shims.stdout.strip() == "ok", shims.stderr


# --------------------------------------------------------------------------- end to end, from a fresh venv


@pytest.fixture
def course_server(tmp_path: Path) -> Iterator[tuple[str, Any, Process]]:
    """The service on its embedded defaults (SQLite and the filesystem broker in one instance folder): the web
    app in a thread, a real Celery worker grading in the sandbox, and a student with a password."""
    from werkzeug.serving import make_server

    instance = tmp_path / "instance"
    app = make_app(instance, **{k.upper(): v for k, v in FAST_RELIABILITY.items()})
    People(app).add("alice")
    worker = start_worker(tmp_path, "worker", instance_path=instance, **FAST_RELIABILITY)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app, worker
    finally:
        server.shutdown()
        worker.kill()  # SIGKILL to its process group (the sandbox's jobs die with it): no warm shutdown to wait for
        worker.stop()
        app.extensions["grader"].db.engine.dispose()


def test_a_fresh_venv_with_the_wheel_logs_in_fetches_checks_and_submits(
        wheel: Path, course_server: tuple[str, Any, Process], tmp_path: Path) -> None:
    url, app, worker = course_server
    venv = tmp_path / "venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    # The base dependencies come from the package index (or pip's cache); no .pyc compiled ahead (they are
    # written when first imported), which is most of pip's own time here.
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-compile",
                                "--disable-pip-version-check", str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    print(f"fresh venv + pip install of the wheel: {time.monotonic() - started:.1f} s")
    nothing = subprocess.run([str(python), "-c", "import importlib.util as u; print(sorted(n for n in "
                              f"{sorted(n.replace('-', '_') for n in SERVER_PACKAGES)!r} if u.find_spec(n)))"],
                             capture_output=True, text=True, timeout=60,
                             env={"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")})
    assert nothing.returncode == 0 and nothing.stdout.strip() == "[]", (nothing.stdout, nothing.stderr)
    # On the student's side the Unix-only modules are blocked too (as on Windows), in the child as well.
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "sitecustomize.py").write_text(BLOCKER)

    wait_for_heartbeat(app, process=worker)
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path / "home"), "NO_COLOR": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    grader = str(venv / "bin" / "grader")

    def student(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([grader, *args], capture_output=True, text=True, timeout=120, cwd=work, env=env)

    login = student("login", "--server", url, "--email", "alice@example.edu", "--password", PASSWORD)
    assert login.returncode == 0, login.stderr
    fetched = student("fetch", "svm")
    assert fetched.returncode == 0, fetched.stderr
    cache = tmp_path / "cache" / "cs231n-grader" / "kits" / "svm"
    assert f"public checks in {cache}" in fetched.stdout and (cache / "kit.json").is_file()
    starter = work / "linear_svm.py"
    assert "def svm_loss_naive" in starter.read_text()
    starter.write_bytes((SUBMISSIONS / "svm" / "bug_half_reg.py").read_bytes())  # the student's work
    checked = student("check", "svm", "linear_svm.py", "--seed", "3")
    assert checked.returncode == 0, checked.stderr
    assert "Score: 11 / 13" in checked.stdout and "0.5*reg" in checked.stdout and f"from {url}" in checked.stderr
    assert "newer kit" not in checked.stderr and "blocked" not in checked.stdout + checked.stderr
    submitted = student("submit", "svm", "linear_svm.py", "--wait")
    assert submitted.returncode == 0, submitted.stderr + worker.output()[-3000:]
    assert "Score:" in submitted.stdout and "[hidden]" in submitted.stdout and "Hint:" in submitted.stdout
