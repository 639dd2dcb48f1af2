"""The audit log: each recorded action (regrades from the pages, the API and the CLI; role changes; disabling
and enabling; a password reset and a user added by staff; policy changes from assignment.toml), the page
(instructors only) and ``grader audit``. Roles themselves are in tests/test_staff_roles.py.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from service_fixtures import People, iso, make_app, make_course, now
from test_dashboard import csrf_token, login
from test_staff_roles import graded

from grader import audit, catalog, submissions
from grader.cli import main
from grader.models import AuditEntry, Submission


def _entries(app: Any, action: str | None = None) -> list[AuditEntry]:
    with app.extensions["grader"].db.session() as session:
        return list(reversed(audit.entries(session, action=action, limit=10000)))  # oldest first


@pytest.fixture
def course(tmp_path: Path) -> Iterator[tuple[Any, People, CliRunner]]:
    """An app, its people (alice, bob, tara the TA, prof), and a CLI runner on the same database."""
    app = make_app(tmp_path / "instance")
    people = People(app)
    for name, role in (("alice", "student"), ("bob", "student"), ("tara", "ta"), ("prof", "instructor")):
        people.add(name, role)
    env = {key: None for key in ("GRADER_DATABASE_URL", "GRADER_BROKER_URL", "GRADER_ENV", "GRADER_ASSIGNMENTS_DIR")}
    yield app, people, CliRunner(env={**env, "GRADER_INSTANCE_PATH": str(tmp_path / "instance")})
    app.extensions["grader"].db.engine.dispose()


# --------------------------------------------------------------------------- regrades


def test_regrades_are_recorded_from_the_pages_the_api_and_the_cli(course):
    app, people, runner = course
    web, api, cli, other = (graded(app, "alice") for _ in range(4))
    prof = login(app, "prof")
    assert prof.post(f"/instructor/submissions/{web}/regrade",
                     data={"csrf_token": csrf_token(prof, "/instructor/gradebook")}).status_code == 303
    assert app.test_client().post(f"/api/v1/submissions/{api}/regrade",
                                  headers=people.headers("tara")).status_code == 202
    done = runner.invoke(main, ["regrade", str(cli)])
    assert done.exit_code == 0, done.output
    entries = _entries(app, "regrade")
    assert [(e.actor, e.target) for e in entries] == [
        ("prof@example.edu", f"submission {web}"), ("tara@example.edu", f"submission {api}"),
        (entries[2].actor, f"submission {cli}")]
    assert entries[2].actor.startswith("cli") and entries[2].actor_id is None
    assert entries[0].actor_id == people.ids["prof"]
    assert all(e.details == {"assignment": "svm", "student": "alice@example.edu"} for e in entries)
    with app.extensions["grader"].db.session() as session:
        assert session.get(Submission, other).status == "graded"  # only what was regraded


def test_a_regrade_that_changes_nothing_records_nothing(course):
    app, _people, _runner = course
    state = app.extensions["grader"]
    sid = graded(app, "alice")
    with state.db.session() as session:
        submissions.regrade(session, sid, None, actor="test")  # queued again: recorded
        submissions.regrade(session, sid, None, actor="test")  # still queued: published again, nothing changes
        claim = submissions.claim(session, state.settings, sid, "worker")
        assert claim is not None
        with pytest.raises(Exception, match="is running"):
            submissions.regrade(session, sid, None, actor="test")
        with pytest.raises(Exception, match="no submission 99999"):
            submissions.regrade(session, 99999, None, actor="test")
    assert len(_entries(app, "regrade")) == 1


def test_regrading_an_assignment_is_one_entry_with_the_count(course):
    app, _people, runner = course
    first, second = graded(app, "alice"), graded(app, "bob")
    state = app.extensions["grader"]
    with state.db.session() as session:  # bob's is being graded: skipped, not counted
        submissions.regrade(session, second, None)
        assert submissions.claim(session, state.settings, second, "worker") is not None
    done = runner.invoke(main, ["regrade", "--assignment", "svm"])
    assert done.exit_code == 0 and done.output == "queued 1 submission for regrading\n"
    entry = _entries(app, "regrade_all")[-1]
    assert entry.target == "assignment svm" and entry.actor.startswith("cli")
    assert entry.details == {"assignment": "svm", "submissions": 1, "first": first, "last": first}
    assert _entries(app, "regrade")[-1].actor == "system"  # the test's own regrade, without an actor


# --------------------------------------------------------------------------- users


def test_disabling_enabling_password_resets_and_added_users_are_recorded(course):
    app, _people, runner = course
    prof = login(app, "prof")
    token = csrf_token(prof, "/instructor/users")
    for action in ("disable", "disable", "enable"):  # the second disable changes nothing: not recorded
        assert prof.post("/instructor/users/access", data={"csrf_token": token, "email": "alice@example.edu",
                                                           "action": action}).status_code == 303
    assert runner.invoke(main, ["users", "disable", "bob@example.edu"]).exit_code == 0
    assert runner.invoke(main, ["users", "enable", "bob@example.edu"]).exit_code == 0
    assert runner.invoke(main, ["users", "password", "bob@example.edu"]).exit_code == 0
    assert runner.invoke(main, ["users", "add", "new@example.edu", "--role", "ta"]).exit_code == 0
    assert runner.invoke(main, ["users", "disable", "nobody@example.edu"]).exit_code == 2
    got = [(e.action, e.target, e.actor if not e.actor.startswith("cli") else "cli") for e in _entries(app)]
    assert got == [("user.disable", "alice@example.edu", "prof@example.edu"),
                   ("user.enable", "alice@example.edu", "prof@example.edu"),
                   ("user.disable", "bob@example.edu", "cli"), ("user.enable", "bob@example.edu", "cli"),
                   ("password.reset", "bob@example.edu", "cli"), ("user.add", "new@example.edu", "cli")]
    assert _entries(app, "user.add")[0].details == {"role": "ta"}


def test_revoking_someones_tokens_is_recorded(course):
    app, people, runner = course
    client = app.test_client()
    alice = client.get("/api/v1/tokens", headers=people.headers("alice")).json["tokens"][0]["id"]
    revoked = runner.invoke(main, ["tokens", "revoke", "alice@example.edu"])
    assert revoked.exit_code == 0 and revoked.output == f"revoked 1 token of alice@example.edu ({alice})\n"
    assert client.get("/api/v1/me", headers=people.headers("alice")).status_code == 401
    again = runner.invoke(main, ["tokens", "revoke", "alice@example.edu"])
    assert again.output == "revoked 0 tokens of alice@example.edu (none was active)\n"
    bob = client.get("/api/v1/tokens", headers=people.headers("bob")).json["tokens"][0]["id"]
    assert runner.invoke(main, ["tokens", "revoke", "alice@example.edu", "--id", str(bob)]).exit_code == 2
    assert client.get("/api/v1/me", headers=people.headers("bob")).status_code == 200  # not alice's token: kept
    assert runner.invoke(main, ["tokens", "revoke", "bob@example.edu", "--id", str(bob)]).exit_code == 0
    assert client.get("/api/v1/me", headers=people.headers("bob")).status_code == 401
    assert runner.invoke(main, ["tokens", "revoke", "nobody@example.edu"]).exit_code == 2
    assert [(e.target, e.details) for e in _entries(app, "token.revoke")] == [
        ("alice@example.edu", {"tokens": [alice]}),
        ("bob@example.edu", {"tokens": [bob]})]


# --------------------------------------------------------------------------- policy changes


def _toml(folder: Path, aid: str = "svm") -> Path:
    return folder / aid / "assignment.toml"


def test_a_policy_change_in_assignment_toml_is_recorded_once_with_old_and_new_values(tmp_path):
    t = now().replace(microsecond=0)
    old_deadline, new_deadline = t + timedelta(days=3), t + timedelta(days=5)
    folder = make_course(tmp_path / "course", f"deadline = {iso(old_deadline)}\nlate_penalty_per_day = 0.1")
    app = make_app(tmp_path / "instance", ASSIGNMENTS_DIR=str(folder))
    state = app.extensions["grader"]
    with state.db.session() as session:
        # The first sync creates the row: no change to record. (The hourly limit is the server's default.)
        hourly = catalog.get(session, state.settings, "svm").policy.max_submissions_per_hour
        session.commit()
    assert _entries(app) == [] and hourly != 4
    toml = _toml(folder)
    toml.write_text(toml.read_text().replace(iso(old_deadline), iso(new_deadline))
                    .replace("late_penalty_per_day = 0.1", "late_penalty_per_day = 0.25\nmax_submissions_per_hour = 4"))
    for _ in range(3):  # every page, request and command syncs; only the one that applies the change records it
        with state.db.session() as session:
            assert catalog.get(session, state.settings, "svm").policy.deadline == new_deadline
            session.commit()
    entries = _entries(app)
    assert [(e.action, e.target, e.actor) for e in entries] == [("policy.change", "assignment svm", "assignment.toml")]
    assert entries[0].details == {
        "deadline": {"old": old_deadline.isoformat(), "new": new_deadline.isoformat()},
        "late_penalty_per_day": {"old": 0.1, "new": 0.25},
        "max_submissions_per_hour": {"old": hourly, "new": 4}}
    toml.write_text(toml.read_text().replace('title = "', 'title = "Renamed: '))  # not a policy
    with state.db.session() as session:
        assert catalog.get(session, state.settings, "svm").spec.title.startswith("Renamed: ")
        session.commit()
    assert len(_entries(app)) == 1
    prof_page = _page_as_instructor(app)
    assert "late penalty per day: 0.1 → 0.25" in prof_page and f"max submissions per hour: {hourly} → 4" in prof_page
    app.extensions["grader"].db.engine.dispose()


def _page_as_instructor(app: Any) -> str:
    People(app).add("prof", "instructor")
    return str(login(app, "prof").get("/instructor/audit").get_data(as_text=True))


def test_two_processes_syncing_one_policy_change_record_it_once_on_postgres(tmp_path, fresh_postgres):
    t = now().replace(microsecond=0)
    folder = make_course(tmp_path / "course", f"deadline = {iso(t + timedelta(days=3))}")
    app = make_app(tmp_path / "instance", DATABASE_URL=fresh_postgres, ASSIGNMENTS_DIR=str(folder))
    state = app.extensions["grader"]
    with state.db.session() as session:
        catalog.get(session, state.settings, "svm")
        session.commit()
    _toml(folder).write_text(_toml(folder).read_text().replace(iso(t + timedelta(days=3)), iso(t + timedelta(days=4))))
    first, second = state.db.sessionmaker(), state.db.sessionmaker()
    catalog.get(first, state.settings, "svm")  # first applies the change; its transaction is still open
    second_pid = second.execute(text("SELECT pg_backend_pid()")).scalar()
    done = threading.Event()

    def other() -> None:  # second read the old hash too: its UPDATE waits for the first's row lock
        catalog.get(second, state.settings, "svm")
        second.commit()
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    # Observed, not slept on: PostgreSQL shows the second session waiting on a lock (a slow machine only makes it
    # take longer to get there); only then may the first commit.
    deadline = time.monotonic() + 30
    while True:
        with state.db.engine.connect() as conn:
            waiting = conn.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"),
                                   {"p": second_pid}).scalar()
        if waiting == "Lock":
            break
        assert not done.is_set(), "the second sync finished while the first one's change was not committed"
        assert thread.is_alive() and time.monotonic() < deadline, "the second sync never waited for the row lock"
        time.sleep(0.01)
    assert not done.is_set()
    first.commit()
    thread.join(10)
    assert done.is_set()
    first.close(), second.close()
    assert [e.action for e in _entries(app)] == ["policy.change"]
    state.db.engine.dispose()


# --------------------------------------------------------------------------- the page and the command


def _fill(app: Any, n: int) -> None:
    with app.extensions["grader"].db.session() as session:
        base = now() - timedelta(hours=1)
        for i in range(n):
            audit.record(session, "prof@example.edu", "regrade" if i % 2 else "role.change", f"target {i}",
                         at=base + timedelta(seconds=i), old="student", new="ta", note=f"n{i}")
        session.commit()


def test_the_audit_page_newest_first_filtered_paginated_and_for_instructors_only(course):
    app, _people, _runner = course
    _fill(app, 120)
    prof = login(app, "prof")
    html = prof.get("/instructor/audit").get_data(as_text=True)
    assert "120 entries." in html and html.index("target 119") < html.index("target 118")
    assert "target 69<" not in html and "target 70<" in html  # 50 to a page
    assert "student → ta" in html and "note: n119" in html and "prof@example.edu" in html
    assert 'href="/instructor/audit?page=2"' in html
    page3 = prof.get("/instructor/audit?page=3").get_data(as_text=True)
    assert "Page 3 of 3" in page3 and "target 0<" in page3 and "target 20<" not in page3
    only = prof.get("/instructor/audit?action=regrade").get_data(as_text=True)
    assert "60 entries of regrade." in only and "target 118<" not in only and "target 119<" in only
    assert 'href="/instructor/audit?page=2&amp;action=regrade"' in only
    assert '<option value="regrade" selected>' in only
    none = prof.get("/instructor/audit?action=nothing.such").get_data(as_text=True)
    assert "Nothing recorded for nothing.such yet." in none
    assert prof.get("/instructor/audit?page=0").status_code == 400
    assert prof.get("/instructor/audit?page=99999999999").status_code == 400
    for who in ("tara", "alice"):
        refused = login(app, who).get("/instructor/audit")
        assert refused.status_code == 403 and "This page is for instructors." in refused.get_data(as_text=True)
    assert app.test_client().get("/instructor/audit").status_code == 302  # a visitor goes to the login page


def test_the_audit_command_prints_filters_limits_and_writes_json(course):
    app, _people, runner = course
    empty = runner.invoke(main, ["audit"])
    assert empty.exit_code == 0 and "no audit entries" in empty.output
    _fill(app, 7)
    text = runner.invoke(main, ["audit", "--limit", "3"])
    header, *lines = text.output.splitlines()
    assert text.exit_code == 0 and len(lines) == 3 and header.split() == ["WHEN", "(UTC)", "WHO", "ACTION", "TARGET",
                                                                          "(DETAILS)"]
    assert "target 6" in lines[0] and "target 4" in lines[2] and "student → ta; note: n6" in lines[0]
    assert "prof@example.edu" in lines[0] and " role.change " in lines[0]
    as_json = runner.invoke(main, ["audit", "--action", "regrade", "--json"])
    rows = [json.loads(line) for line in as_json.output.splitlines()]
    assert [r["target"] for r in rows] == ["target 5", "target 3", "target 1"]
    assert rows[0]["details"] == {"old": "student", "new": "ta", "note": "n5"} and rows[0]["action"] == "regrade"
    missing = runner.invoke(main, ["audit", "--action", "nothing.such"])
    assert "no audit entries for nothing.such (recorded actions: regrade, role.change)" in missing.output
    assert runner.invoke(main, ["audit", "--limit", "0"]).exit_code == 2


def test_describe_reads_details_as_sentences():
    assert audit.describe({"old": "ta", "new": "instructor"}) == ["ta → instructor"]
    assert audit.describe({"deadline": {"old": None, "new": "2026-04-01T00:00:00+00:00"}, "files": ["a.py", "b.py"],
                           "added": 3}) == ["deadline: none → 2026-04-01T00:00:00+00:00", "files: a.py, b.py",
                                            "added: 3"]
    assert audit.describe({"before": 3, "after": 5, "by": "prof"}) == ["3 → 5", "by: prof"]
    assert audit.describe(None) == [] and audit.describe({}) == []
