"""End to end (issue 16): a correct submission that prints NUL, ESC and a bidi override is graded by a real
`grader worker` on PostgreSQL and Redis, and shown (API and page) within seconds.

Before the report boundary's sanitiser, PostgreSQL refused the report (``\\u0000 cannot be converted to
text``): the row stayed ``running`` until its lease expired, was retried, and ended as an infrastructure error.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from typing import Any

from service_fixtures import (  # noqa: F401 - fixtures
    FAST_RELIABILITY,
    PASSWORD,
    People,
    fresh_postgres,
    make_app,
    postgres_url,
    redis_prefix,
    redis_url,
    start_worker,
    upload,
    wait_for_heartbeat,
    wait_for_status,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "hostile" / "prints_nul_esc_bidi.py"
CORRECT = ROOT / "tests" / "submissions" / "svm" / "correct_loops.py"
# How long the test waits for the grading: a deadline so that a broken run fails instead of hanging, not a
# promise of the product (a loaded machine takes longer; speed is measured in bench/).
WAIT_SECONDS = 180.0
# What the issue promises: such a report is stored and shown "within seconds", never after a lease expired and a
# retry (the bug it guards against took the lease, then a retry, then ended in error). The grading itself takes
# about 1 s on an idle machine; the bound leaves room for a busy one while staying far below any lease.
SHOWN_WITHIN = 45.0


def _login(app: Any, name: str) -> Any:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": f"{name}@example.edu", "password": PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)[:1000]
    return client


def test_prints_nul_esc_and_bidi_graded_and_shown_on_postgresql(tmp_path, fresh_postgres, redis_url,  # noqa: F811
                                                                 redis_prefix) -> None:  # noqa: F811
    settings = dict(database_url=fresh_postgres, broker_url=redis_url, broker_prefix=redis_prefix,
                    queue=redis_prefix.rstrip(":"), instance_path=tmp_path / "instance",
                    # graded at the first attempt however loaded the machine: FAST_RELIABILITY's 8 s task limit is
                    # not what this test is about
                    **{**FAST_RELIABILITY, "task_soft_time_limit": 60, "task_time_limit": 70, "lease_seconds": 80})
    config = {k.upper(): v for k, v in settings.items()}
    app = make_app(Path(config.pop("INSTANCE_PATH")), **config)
    people = People(app)
    people.add("alice")
    people.add("prof", role="instructor")
    source = CORRECT.read_bytes() + b"\n\n" + FIXTURE.read_bytes()
    worker = start_worker(tmp_path, "worker", **settings)
    try:
        wait_for_heartbeat(app, process=worker, timeout=60)
        started = time.monotonic()
        response = upload(app.test_client(), people.headers("alice"), files=[("linear_svm.py", source)])
        assert response.status_code == 202, response.json
        sid = response.json["id"]
        sub = wait_for_status(app, sid, timeout=WAIT_SECONDS, process=worker)
        # Students' view of a report with hidden tests leaves the printed output out; the staff see it.
        mine = app.test_client().get(f"/api/v1/submissions/{sid}", headers=people.headers("alice")).json
        shown = app.test_client().get(f"/api/v1/submissions/{sid}", headers=people.headers("prof")).json
        page = _login(app, "prof").get(f"/submissions/{sid}")
        student_page = _login(app, "alice").get(f"/submissions/{sid}")
        elapsed = time.monotonic() - started
        assert sub.status == "graded" and sub.attempts == 1, (sub.status, sub.error)
        assert elapsed < SHOWN_WITHIN, f"graded and shown after {elapsed:.1f} s"
        report = shown["report"]
        assert report["status"] == "graded" and report["score"] == report["max_score"], report.get("output")
        assert mine["status"] == "graded" and student_page.status_code == 200
        assert not re.search("[\x00\x1b\u202e]", student_page.get_data(as_text=True))
        printed = report["student_output"]
        assert "import:\\x00NUL \\x1b[2J\\x1b]0;owned\\x07 ESC \\u202eevil\\u202c bidi" in printed, printed[:500]
        assert not re.search("[\x00\x1b\u202e\u202c]", printed)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert html.escape("\\x00NUL \\x1b[2J", quote=False) in text or "\\x00NUL \\x1b[2J" in text, \
            "the page does not show the escaped output"
        assert not re.search("[\x00\x1b\u202e]", text)
        log = worker.output()
        assert "cannot be converted" not in log and "lease lost" not in log
    finally:
        worker.stop()
        app.extensions["grader"].db.engine.dispose()
