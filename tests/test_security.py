"""Smaller holes of issue 10: timings of hidden tests (item 5), huge integers in URLs (10), huge files in
the code view (11), formulas in the CSV export (12), absolute URLs from the Host header (13)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from typing import Any

import pytest
from click.testing import CliRunner
from service_fixtures import PASSWORD, People, make_app, svm_file, upload

from grader import auth, submissions

HUGE = "99999999999999999999999"


@pytest.fixture
def course(tmp_path: Any) -> tuple[Any, People]:
    app = make_app(tmp_path / "instance")
    people = People(app)
    people.add("alice")
    people.add("prof", role="instructor")
    return app, people


def _login(app: Any, name: str) -> Any:
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    r = client.post("/login", data={"email": f"{name}@example.edu", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303
    return client


def _stored(app: Any, name: str, content: bytes, report: dict[str, Any] | None = None,
            finished: datetime | None = None) -> int:
    state = app.extensions["grader"]
    with state.db.session() as session:
        user = auth.find_user(session, f"{name}@example.edu")
        sid = submissions.submit(session, state.settings, user, "svm", [("linear_svm.py", content)], None).id
        if report is not None:
            claim = submissions.claim(session, state.settings, sid, "w")
            assert claim is not None and submissions.finish(session, claim, report, now=finished)
    return sid


def _test(tid: str, visibility: str, seconds: float) -> dict[str, Any]:
    return {"id": tid, "name": tid, "score": 1.0, "max_score": 1.0, "status": "passed", "visibility": visibility,
            "output": "ok", "details": {"seconds": seconds, "error": 1e-12}}


REPORT = {"assignment": "svm", "status": "graded", "score": 3.0, "max_score": 3.0, "seed": 7,
          "execution_time": 12.3456, "student_time": 11.1, "grader_version": "x", "output": "",
          "tests": [_test("before", "visible", 0.25), _test("secret", "hidden", 9.75),
                    _test("after", "visible", 1.5)]}


# --------------------------------------------------------------------------- item 5: timings


def test_students_see_no_timing_that_depends_on_a_hidden_test(course):
    app, people = course
    finished = datetime(2026, 11, 29, 12, 34, 56, 789000, tzinfo=timezone.utc)
    sid = _stored(app, "alice", svm_file(), REPORT, finished)
    client = app.test_client()
    student = client.get(f"/api/v1/submissions/{sid}", headers=people.headers("alice")).json
    assert student["finished_at"] == "2026-11-29T12:34:00+00:00"
    report = student["report"]
    assert "execution_time" not in report and "student_time" not in report
    tests = {t["id"]: t for t in report["tests"]}
    assert tests["before"]["details"]["seconds"] == 0.25  # ran before any hidden test: its own time only
    assert "seconds" not in tests["after"]["details"] and tests["after"]["details"]["error"] == 1e-12
    assert tests["secret"]["details"] == {}
    page = _login(app, "alice").get(f"/submissions/{sid}").get_data(as_text=True)
    assert "12.35" not in page and "graded in" not in page and "9.75" not in page and "1.5 s" not in page
    instructor = client.get(f"/api/v1/submissions/{sid}", headers=people.headers("prof")).json
    assert instructor["finished_at"].startswith("2026-11-29T12:34:56")
    assert instructor["report"]["execution_time"] == 12.3456
    assert instructor["report"]["tests"][2]["details"]["seconds"] == 1.5


# --------------------------------------------------------------------------- item 10: huge integers


def test_huge_integers_in_urls_are_404_or_400_never_500(course):
    app, people = course
    sid = _stored(app, "alice", svm_file(), REPORT)
    client = app.test_client()
    for path in (f"/api/v1/submissions/{HUGE}", "/api/v1/submissions/2147483648",
                 f"/api/v1/submissions/{HUGE}/regrade"):
        method = "POST" if path.endswith("regrade") else "GET"
        r = client.open(path, method=method, headers=people.headers("prof"))
        assert r.status_code == 404 and "error" in r.json, (path, r.status_code)
    assert client.delete(f"/api/v1/tokens/{HUGE}", headers=people.headers("alice")).status_code == 404
    prof, alice = _login(app, "prof"), _login(app, "alice")
    for who, path, expected in (
            (alice, f"/submissions/{HUGE}", 404), (alice, f"/submissions/{HUGE}/status.json", 404),
            (alice, f"/submissions/{HUGE}/files/linear_svm.py", 404), (alice, f"/submissions/{sid}?report={HUGE}", 404),
            (prof, f"/instructor/submissions?page={HUGE}", 400), (prof, "/instructor/submissions?page=-3", 400),
            (prof, f"/instructor/audit?page={HUGE}", 400),
            (prof, f"/instructor/similarity/svm/compare/{HUGE}/{sid}", 404),
            (prof, f"/instructor/similarity/svm/compare/{sid}/{HUGE}", 404),
            (prof, f"/instructor/assignments/svm/regrade?since=2026-01-01T00:00:00%2B00:00&upto={HUGE}&total=1", 400),
            (prof, f"/instructor/assignments/svm/regrade.json?since=2026-01-01T00:00:00%2B00:00&upto=1&total={HUGE}",
             400)):
        assert who.get(path).status_code == expected, path
    r = alice.post("/account/tokens/revoke", data={"token_id": HUGE, "csrf_token": re.search(
        r'name="csrf_token" value="([^"]+)"', alice.get("/account").get_data(as_text=True)).group(1)})
    assert r.status_code == 404


# --------------------------------------------------------------------------- item 11: the code view


def test_a_huge_file_is_shown_capped_with_a_download_link(course):
    app, people = course
    clients = {name: _login(app, name) for name in ("alice", "prof")}
    # The file, 512 KiB of newlines (14 MB of HTML before; a file of nothing else is refused as empty,
    # so it ends with one statement), and 512 KiB of short lines.
    newlines = b"\n" * (512 * 1024 - 6) + b"X = 1\n"
    for content, lines in ((newlines, 524283), (b"#\n" * (256 * 1024), 262144)):
        assert len(content) == 512 * 1024 and content.count(b"\n") == lines
        sid = _stored(app, "alice", content, REPORT)
        for name, client in clients.items():
            page = client.get(f"/submissions/{sid}")
            assert page.status_code == 200
            html = page.get_data(as_text=True)
            assert len(html) < 300_000, (name, lines, len(html))
            assert f"{lines} lines" in html and "download the whole file" in html
            assert client.get(f"/submissions/{sid}/files/linear_svm.py").data == content


# --------------------------------------------------------------------------- item 12: CSV formulas


NAMES = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\tTab", "\rReturn",
         "\uff1dfullwidth", "Ada Lovelace"]


def test_the_csv_export_neutralises_formulas(course, monkeypatch):
    app, people = course
    with app.extensions["grader"].db.session() as session:
        for i, name in enumerate(NAMES):
            auth.create_user(session, f"s{i}@example.edu", name=name)
        auth.create_user(session, "=cmd@example.edu", name="x")
        session.commit()
    prof = _login(app, "prof")
    monkeypatch.setenv("GRADER_INSTANCE_PATH", str(app.instance_path))
    exported = CliRunner().invoke(__import__("grader.cli", fromlist=["main"]).main, ["gradebook", "export"])
    assert exported.exit_code == 0, exported.output
    for body in (app.test_client().get("/api/v1/gradebook?format=csv", headers=people.headers("prof")).get_data(
            as_text=True), prof.get("/instructor/gradebook.csv").get_data(as_text=True), exported.stdout):
        rows = {r["email"]: r for r in csv.DictReader(io.StringIO(body))}
        for i, name in enumerate(NAMES):
            cell = rows[f"s{i}@example.edu"]["name"]
            if name == "Ada Lovelace":
                assert cell == name
            else:
                assert cell == "'" + name.replace("\r", " "), (name, cell)
        assert "'=cmd@example.edu" in rows


# --------------------------------------------------------------------------- item 13: absolute URLs


def test_absolute_urls_use_the_configured_external_url_not_the_host_header(tmp_path):
    app = make_app(tmp_path / "instance", EXTERNAL_URL="https://grader.example.edu/")
    people = People(app)
    people.add("alice")
    client = app.test_client()
    r = upload(client, {**people.headers("alice"), "Host": "evil.example"})
    assert r.status_code == 202
    assert r.json["url"] == f"https://grader.example.edu/api/v1/submissions/{r.json['id']}"
    assert r.headers["Location"] == r.json["url"]
    listed = client.get("/api/v1/submissions", headers={**people.headers("alice"), "Host": "evil.example"}).json
    assert all(s["url"].startswith("https://grader.example.edu/api/v1/") for s in listed["submissions"])
    login = client.get("/login", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "grader login --server https://grader.example.edu<" in login and "evil.example" not in login
    # Without the setting the request's host is used, as before (behind GRADER_PROXY_COUNT's proxies).
    plain = make_app(tmp_path / "plain")
    plain_people = People(plain)
    plain_people.add("bob")
    r = upload(plain.test_client(), {**plain_people.headers("bob"), "Host": "grader.local"})
    assert r.status_code == 202 and r.json["url"].startswith("http://grader.local/api/v1/submissions/")
    from grader.config import ConfigError

    with pytest.raises(ConfigError, match="GRADER_EXTERNAL_URL"):
        make_app(tmp_path / "bad", EXTERNAL_URL="grader.example.edu")
