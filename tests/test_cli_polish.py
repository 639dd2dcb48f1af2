"""The command line's lists have a header, sizes are in KiB and MiB, and `grader submit --wait` ends with the
same per-test table as `grader grade`.

The student's commands run in-process (click's runner) against a real server in a thread of this process; a
thread of the test grades what is queued with the real engine, as a worker would (no worker process: the
broker is not what is tested here).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from service_fixtures import SUBMISSIONS, People, free_port, make_app, make_course
from test_stats import KEPT, keep_tests

from grader.cli import main
from grader.render import human_size, table


def test_sizes_read_in_kib_and_mib() -> None:
    assert [human_size(n) for n in (0, 1, 900, 1024, 512 * 1024, 100_000, 2 * 1024 * 1024, 16 * 2**20 + 64 * 1024)] \
        == ["0 bytes", "1 byte", "900 bytes", "1 KiB", "512 KiB", "97.7 KiB", "2 MiB", "16.1 MiB"]
    # One byte over a limit never reads as the limit itself.
    assert human_size(512 * 1024 + 1) == "524,289 bytes"


def test_a_table_has_a_header_and_aligned_columns() -> None:
    text = table(["ID", "NAME", "SCORE"], [[7, "svm", "21 / 35"], [1234, "two_layer_net\x1b[2J", None]], right=[0])
    assert text.splitlines() == ["  ID  NAME               SCORE",
                                 "   7  svm                21 / 35",
                                 "1234  two_layer_net\ufffd[2J"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, People, Path]]:
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("cli")
    course = make_course(tmp / "course")
    keep_tests(course, KEPT)
    app = make_app(tmp / "instance", ASSIGNMENTS_DIR=str(course))
    people = People(app)
    people.add("alice")
    http = make_server("127.0.0.1", free_port(), app, threaded=True)
    stop = threading.Event()
    threads = [threading.Thread(target=http.serve_forever, daemon=True),
               threading.Thread(target=_grade_queued, args=(app, course, stop), daemon=True)]
    for thread in threads:
        thread.start()
    yield app, f"http://127.0.0.1:{http.server_port}", people, course
    stop.set()
    http.shutdown()
    app.extensions["grader"].db.engine.dispose()


def _grade_queued(app: Any, course: Path, stop: threading.Event) -> None:
    from sqlalchemy import select

    from grader import submissions
    from grader.models import Submission
    from worker.assignments import get_assignment
    from worker.engine import grade

    state = app.extensions["grader"]
    while not stop.is_set():
        with state.db.session() as session:
            sid = session.scalar(select(Submission.id).where(Submission.status == "queued").limit(1))
            if sid is not None:
                claim = submissions.claim(session, state.settings, sid, "test-grader")
                if claim is not None:
                    submissions.finish(session, claim, grade(get_assignment("svm", course), claim.files, seed=11))
        time.sleep(0.05)


def _runner(url: str, token: str, tmp: Path) -> CliRunner:
    return CliRunner(env={"GRADER_SERVER": url, "GRADER_TOKEN": token, "XDG_CONFIG_HOME": str(tmp), "NO_COLOR": "1",
                          "GRADER_ASSIGNMENTS_DIR": None})


def _count(app: Any) -> int:
    from grader.models import Submission

    with app.extensions["grader"].db.session() as session:
        return session.query(Submission).count()


def test_submit_wait_ends_with_the_table_grader_grade_prints(server: Any, tmp_path: Path) -> None:
    app, url, people, course = server
    runner = _runner(url, people.tokens["alice"], tmp_path)
    source = SUBMISSIONS / "svm" / "bug_half_reg.py"
    submitted = runner.invoke(main, ["submit", "svm", str(source), "--wait", "--timeout", "120"])
    assert submitted.exit_code == 0, submitted.output
    graded = CliRunner(env={"GRADER_ASSIGNMENTS_DIR": str(course), "NO_COLOR": "1"}).invoke(
        main, ["grade", "svm", str(source), "--seed", "11"])
    assert graded.exit_code == 0, graded.output

    def rows(text: str) -> list[str]:
        """From the first test's line to the score's: the per-test table."""
        lines = text.splitlines()
        first = next(k for k, line in enumerate(lines) if line.startswith(("PASS", "FAIL", "ERR")))
        last = next(k for k, line in enumerate(lines) if line.startswith("Score: "))
        return lines[first:last + 1]

    table_rows = rows(graded.stdout)
    assert len([r for r in table_rows if r.startswith(("PASS", "FAIL"))]) == len(KEPT)
    assert any(r.startswith("FAIL") for r in table_rows) and "Score: 1 / 7" in table_rows[-1]
    assert rows(submitted.stdout) == table_rows
    # ... and it is what the output ends with: the score, then the seed and version line.
    tail = submitted.stdout.rstrip("\n").splitlines()
    assert tail[-2] == table_rows[-1] and tail[-1].startswith("seed 11  ·  ")

    listed = runner.invoke(main, ["status"])
    assert listed.exit_code == 0, listed.output
    header, *lines = listed.stdout.splitlines()
    assert header.split() == ["ID", "ASSIGNMENT", "SUBMITTED", "(UTC)", "STATUS", "SCORE", "LATE"]
    assert any(line.split()[1:2] == ["svm"] and "graded" in line and "1 / 7" in line for line in lines)


@pytest.mark.parametrize("size, shown", [(600 * 1024, "600 KiB"), (3 * 1024 * 1024, "3 MiB")])
def test_a_file_over_the_limit_is_named_with_the_512_kib_limit_before_sending(server: Any, tmp_path: Path,
                                                                             size: int, shown: str) -> None:
    app, url, people, _course = server
    big = tmp_path / "linear_svm.py"
    big.write_bytes(b"#" * (size - 1) + b"\n")
    before = _count(app)
    result = _runner(url, people.tokens["alice"], tmp_path).invoke(main, ["submit", "svm", str(big)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: linear_svm.py is {shown}; a submitted file may be at most 512 KiB"
    assert _count(app) == before  # nothing was sent


def test_the_server_names_both_limits_in_kib_and_mib(server: Any) -> None:
    """A client that sends too much anyway (curl, an old CLI) is told the request limit and the file limit."""
    import requests

    app, url, people, _course = server
    answer = requests.post(f"{url}/api/v1/assignments/svm/submissions", headers=people.headers("alice"),
                           files={"file": ("linear_svm.py", b"#" * (3 * 1024 * 1024))}, timeout=30)
    assert answer.status_code == 413
    assert answer.json()["error"] == ("the upload is larger than the limit of 2 MiB for one request "
                                      "(each file may be at most 512 KiB)")
    over = requests.post(f"{url}/api/v1/assignments/svm/submissions", headers=people.headers("alice"),
                         files={"file": ("linear_svm.py", b"#" * (600 * 1024))}, timeout=30)
    assert over.status_code == 413
    assert over.json()["error"] == "linear_svm.py is 600 KiB; a submitted file may be at most 512 KiB"


def test_account_tokens_and_users_list_have_headers(server: Any, tmp_path: Path) -> None:
    app, url, people, _course = server
    tokens = _runner(url, people.tokens["alice"], tmp_path).invoke(main, ["account", "tokens"])
    assert tokens.exit_code == 0, tokens.output
    header, *rows = tokens.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "CREATED", "LAST", "USED", "EXPIRES", "LABEL"]
    assert rows and rows[0].startswith("*")  # the token this command used

    instance = Path(app.extensions["grader"].settings.instance_path)
    admin = CliRunner(env={"GRADER_INSTANCE_PATH": str(instance), "GRADER_DATABASE_URL": None,
                           "GRADER_ASSIGNMENTS_DIR": None, "GRADER_ENV": None})
    listed = admin.invoke(main, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["EMAIL", "ROLE", "STATUS", "NAME"]
    assert rows[0].split() == ["alice@example.edu", "student", "active", "Alice"]
    assert admin.invoke(main, ["users", "list", "--role", "ta"]).stdout == "no users with the role ta\n"
