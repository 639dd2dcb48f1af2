"""Extensions, the late-day budget and the Canvas export through the service layer, the API, the pages and the CLI.

SQLite and Flask's test client (fast); the same rule end to end with a real worker and Chromium is in
tests/test_browser_course.py, and the rule itself on plain values in tests/test_late_days.py.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from grader import auth, deadlines, gradebook, submissions
from grader.cli import main
from grader.errors import Forbidden
from grader.models import AuditEntry, Extension
from service_fixtures import PASSWORD, People, iso, make_app, make_course, now, svm_file, upload

NOW = now()
SVM_DUE = NOW - timedelta(days=5)
SOFTMAX_DUE = NOW - timedelta(days=2)


def _course(root: Path, svm_extra: str = "") -> Path:
    make_course(root, f"deadline = {iso(SVM_DUE)}\nlate_penalty_per_day = 0.1\n" + svm_extra, ("svm",))
    make_course(root, f"deadline = {iso(SOFTMAX_DUE)}\nlate_penalty_per_day = 0.25", ("softmax",))
    make_course(root, "", ("two_layer_net",))
    return root


def _app(tmp_path: Path, svm_extra: str = "") -> Any:
    return make_app(tmp_path / "instance", ASSIGNMENTS_DIR=str(_course(tmp_path / "course", svm_extra)))


def _graded(app: Any, name: str, assignment: str, at: Any, score: float, max_score: float = 35.0) -> int:
    """A submission of ``name`` made at ``at`` and graded with ``score`` (the worker's part done in-process)."""
    state = app.extensions["grader"]
    files = {"svm": "linear_svm.py", "softmax": "softmax.py"}
    with state.db.session() as session:
        user = auth.find_user(session, f"{name}@example.edu")
        sub = submissions.submit(session, state.settings, user, assignment, [(files[assignment], svm_file()
                                 if assignment == "svm" else b"def softmax_loss_naive(W, X, y, reg):\n    pass\n")],
                                 None, now=at)
        claim = submissions.claim(session, state.settings, sub.id, "test")
        report = {"assignment": assignment, "status": "graded", "score": score, "max_score": max_score,
                  "tests": [{"id": "t", "name": "t", "score": score, "max_score": max_score, "status": "passed",
                             "visibility": "visible", "output": ""}]}
        assert submissions.finish(session, claim, report)
        return sub.id


def _login(app: Any, name: str) -> tuple[Any, str]:
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"email": f"{name}@example.edu", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303, response.status_code
    # the session starts anew at login: a form's token comes from a page seen after it
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/account").get_data(as_text=True)).group(1)
    return client, token


def _text(html: str, element_id: str) -> str:
    """The visible text of the element with this id (tags dropped, spaces collapsed)."""
    opening = re.search(rf'<(\w+)[^>]*\sid="{element_id}"[^>]*>', html)
    assert opening is not None, f"no element with the id {element_id}"
    start, tag = opening.end(), opening.group(1)
    end = html.index(f"</{tag}>", start)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[start:end])).strip()


def _audit(app: Any, prefix: str) -> list[AuditEntry]:
    with app.extensions["grader"].db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix))
                                    .order_by(AuditEntry.id)))


# --------------------------------------------------------------------------- the CLI


def _runner(app: Any) -> CliRunner:
    """The ``grader`` commands against this app's database and course."""
    settings = app.extensions["grader"].settings
    return CliRunner(env={"GRADER_INSTANCE_PATH": str(settings.instance_path), "GRADER_DATABASE_URL": None,
                          "GRADER_ASSIGNMENTS_DIR": str(settings.assignments_dir), "GRADER_BROKER_URL": None,
                          "GRADER_ENV": None})


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    app = _app(tmp_path, f"hard_deadline = {iso(NOW - timedelta(days=3))}")  # a migrated copy: no `db upgrade`
    people = People(app)
    people.add("ann")
    people.add("tim", role="ta")
    app.extensions["grader"].db.engine.dispose()
    return _runner(app)


BAD_EXTENSIONS = [
    (["nobody@example.edu", "svm", "--days", "2"], "no user with the email 'nobody@example.edu'"),
    (["tim@example.edu", "svm", "--days", "2"], "tim@example.edu is a ta; extensions are for students"),
    (["ann@example.edu", "nope", "--days", "2"], "unknown assignment 'nope'"),
    (["ann@example.edu", "two_layer_net", "--days", "2"], "two_layer_net has no deadline, so there is nothing to extend"),
    (["ann@example.edu", "svm"], "give a number of days or a new deadline (--days N or --until ISO)"),
    (["ann@example.edu", "svm", "--days", "2", "--until", "2030-01-01T00:00:00Z"], "not both"),
    (["ann@example.edu", "svm", "--days", "0"], "an extension is more than 0 and at most 365 days"),
    (["ann@example.edu", "svm", "--days", "400"], "an extension is more than 0 and at most 365 days"),
    (["ann@example.edu", "svm", "--until", "2030-01-01T00:00:00"], "has no UTC offset"),
    (["ann@example.edu", "svm", "--until", "next friday"], "is not an ISO date and time"),
    (["ann@example.edu", "svm", "--until", iso(SVM_DUE - timedelta(hours=1))], "an extension moves the deadline later"),
    (["ann@example.edu", "svm", "--days", "2", "--hard-until", iso(SVM_DUE)], "is before the deadline"),
    (["ann@example.edu", "svm", "--days", "2", "--reason", "x" * 501], "the reason is 501 characters; at most 500"),
]


def test_every_bad_extension_is_one_clear_line_and_stores_nothing(runner):
    for args, message in BAD_EXTENSIONS:
        result = runner.invoke(main, ["extensions", "add", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and "Traceback" not in result.output, (args, result.stderr)
    assert runner.invoke(main, ["extensions", "list", "--json"]).stdout == ""
    listed = runner.invoke(main, ["audit", "--action", "extension.add", "--json"])
    assert listed.exit_code == 0 and listed.stdout == ""


def test_extensions_and_the_budget_from_the_cli_are_stored_listed_replaced_removed_and_audited(runner):
    added = runner.invoke(main, ["extensions", "add", "Ann@Example.edu", "svm", "--days", "2", "--reason", "flu"])
    assert added.exit_code == 0, added.output
    # --days moves both deadlines: the hard deadline keeps its distance
    assert f"due {(SVM_DUE + timedelta(days=2)).isoformat()}" in added.stdout
    assert f"submissions close {(NOW - timedelta(days=1)).isoformat()}" in added.stdout
    (row,) = [json.loads(line) for line in runner.invoke(main, ["extensions", "list", "--json"]).stdout.splitlines()]
    assert row["email"] == "ann@example.edu" and row["assignment"] == "svm" and row["reason"] == "flu"
    assert row["created_by"] == "cli"  # no user of the grader acted; the audit log names the login
    # --until replaces it (one extension per student and assignment), keeping the assignment's 2-day window
    until = NOW + timedelta(days=1)
    replaced = runner.invoke(main, ["extensions", "add", "ann@example.edu", "svm", "--until", iso(until)])
    assert replaced.exit_code == 0, replaced.output
    (row,) = [json.loads(line) for line in runner.invoke(main, ["extensions", "list", "--json"]).stdout.splitlines()]
    assert row["deadline"] == until.isoformat() and row["hard_deadline"] == (until + timedelta(days=2)).isoformat()
    table = runner.invoke(main, ["extensions", "list"]).stdout
    assert "ann@example.edu" in table and "svm" in table
    assert runner.invoke(main, ["extensions", "remove", "ann@example.edu", "svm"]).exit_code == 0
    again = runner.invoke(main, ["extensions", "remove", "ann@example.edu", "svm"])
    assert again.exit_code == 2 and "ann@example.edu has no extension for svm" in again.stderr
    assert runner.invoke(main, ["extensions", "list", "--json"]).stdout == ""

    assert runner.invoke(main, ["late-days", "set", "4"]).stdout.startswith("late-day budget: 4 days per student")
    assert "late-day budget: 4 days" in runner.invoke(main, ["late-days", "show"]).stdout
    for days in ("400", "-1"):
        bad = runner.invoke(main, ["late-days", "set", days])
        assert bad.exit_code == 2 and "a whole number of days from 0 to 365" in bad.stderr, bad.output
    not_a_number = runner.invoke(main, ["late-days", "set", "three"])
    assert not_a_number.exit_code == 2 and "'three' is not a valid integer" in not_a_number.stderr
    assert "was 4" in runner.invoke(main, ["late-days", "clear"]).stdout
    assert "no late-day budget" in runner.invoke(main, ["late-days", "show"]).stdout

    entries = [json.loads(line) for line in runner.invoke(main, ["audit", "--json", "--limit", "20"]).stdout.splitlines()]
    actions = [e["action"] for e in reversed(entries) if e["action"].startswith(("extension", "policy.late"))]
    assert actions == ["extension.add", "extension.add", "extension.remove", "policy.late_days", "policy.late_days"]
    assert all(e["actor"].startswith("cli") for e in entries)


# --------------------------------------------------------------------------- where a deadline matters


def test_an_extension_reopens_the_hard_deadline_at_submit_time_for_that_student_only(tmp_path):
    app = _app(tmp_path, f"hard_deadline = {iso(NOW - timedelta(days=1))}")
    people = People(app)
    for name in ("alice", "bob"):
        people.add(name)
    client = app.test_client()
    refused = upload(client, people.headers("alice"))
    assert refused.status_code == 403 and "hard deadline" in refused.json["error"]
    state = app.extensions["grader"]
    with state.db.session() as session:
        row = deadlines.add_extension(session, state.settings, "test", "alice@example.edu", "svm", days=6)
        session.commit()
        assert row.hard_deadline == NOW + timedelta(days=5)
    accepted = upload(client, people.headers("alice"))
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    mine = client.get(f"/api/v1/submissions/{accepted.json['id']}", headers=people.headers("alice")).json
    assert mine["late_days"] == 0  # due a day from now for her
    assert upload(client, people.headers("bob")).status_code == 403  # everyone else: closed
    with state.db.session() as session:
        deadlines.remove_extension(session, "test", "alice@example.edu", "svm")
        session.commit()
        with pytest.raises(Forbidden, match="hard deadline"):
            submissions.check_policy(session, submissions.catalog.get(session, state.settings, "svm"),
                                     people.ids["alice"], now())


def test_after_due_date_tests_are_shown_after_the_students_own_deadline(tmp_path):
    app = _app(tmp_path)
    people = People(app)
    for name in ("alice", "bob"):
        people.add(name)
    state = app.extensions["grader"]
    ids = {}
    for name in ("alice", "bob"):
        with state.db.session() as session:
            user = auth.find_user(session, f"{name}@example.edu")
            sub = submissions.submit(session, state.settings, user, "svm", [("linear_svm.py", svm_file())], None,
                                     now=SVM_DUE - timedelta(hours=1))
            claim = submissions.claim(session, state.settings, sub.id, "test")
            submissions.finish(session, claim, {
                "assignment": "svm", "status": "graded", "score": 3.0, "max_score": 5.0, "tests": [
                    {"id": "v", "name": "visible", "score": 2.0, "max_score": 2.0, "status": "passed",
                     "visibility": "visible", "output": ""},
                    {"id": "late", "name": "after the deadline", "score": 1.0, "max_score": 3.0, "status": "failed",
                     "visibility": "after_due_date", "output": "the secret detail"}]})
            ids[name] = sub.id
    with state.db.session() as session:
        deadlines.add_extension(session, state.settings, "test", "alice@example.edu", "svm", days=7)
        session.commit()
    client = app.test_client()
    bob = client.get(f"/api/v1/submissions/{ids['bob']}", headers=people.headers("bob")).json
    assert [t["status"] for t in bob["report"]["tests"]] == ["passed", "failed"]  # his deadline has passed
    alice = client.get(f"/api/v1/submissions/{ids['alice']}", headers=people.headers("alice")).json
    assert [t["status"] for t in alice["report"]["tests"]] == ["passed", "hidden"]  # hers is in two days
    assert "the secret detail" not in json.dumps(alice)
    page, _ = _login(app, "alice")
    assert "the secret detail" not in page.get(f"/submissions/{ids['alice']}").get_data(as_text=True)


# --------------------------------------------------------------------------- the gradebook


@pytest.fixture
def term(tmp_path: Path) -> Any:
    """A term: a budget of 2 late days; alice spends both on the SVM and is penalised on the softmax; bob has a
    2-day SVM extension, so his SVM is on time and his softmax day is free; carol handed in nothing."""
    return _term(_app(tmp_path))


def _term(app: Any) -> Any:
    people = People(app)
    for name in ("alice", "bob", "carol"):
        people.add(name)
    people.add("prof", role="instructor")
    people.add("tina", role="ta")
    state = app.extensions["grader"]
    with state.db.session() as session:
        deadlines.set_late_day_budget(session, "test", 2)
        deadlines.add_extension(session, state.settings, "test", "bob@example.edu", "svm", days=2, reason="flu")
        alice = auth.find_user(session, "alice@example.edu")
        alice.section, alice.name = "Section 2", "=HYPERLINK(\"x\")"
        session.commit()
    app.ids = {  # type: ignore[attr-defined]
        "alice_svm_on_time": _graded(app, "alice", "svm", SVM_DUE - timedelta(hours=2), 20.0),
        "alice_svm": _graded(app, "alice", "svm", SVM_DUE + timedelta(hours=30), 30.0),  # 2 days late, free
        "alice_softmax": _graded(app, "alice", "softmax", SOFTMAX_DUE + timedelta(hours=1), 35.0),  # 1 day, -25%
        "bob_svm": _graded(app, "bob", "svm", SVM_DUE + timedelta(hours=30), 33.0),  # on time for him
        "bob_softmax": _graded(app, "bob", "softmax", SOFTMAX_DUE + timedelta(hours=1), 35.0),  # 1 day, free
    }
    app.people = people  # type: ignore[attr-defined]
    return app


def test_the_gradebook_spends_late_days_in_deadline_order_with_extensions(term):
    state = term.extensions["grader"]
    with state.db.session() as session:
        book = gradebook.build(session, state.settings)
    assert book.late_day_budget == 2
    rows = {s.email.split("@")[0]: s for s in book.students}
    alice, bob, carol = rows["alice"], rows["bob"], rows["carol"]
    assert (alice.grades["svm"].submission_id, alice.grades["svm"].score) == (term.ids["alice_svm"], 30.0)
    assert (alice.grades["svm"].late_days, alice.grades["svm"].late_days_used) == (2, 2)
    assert (alice.grades["softmax"].score, alice.grades["softmax"].late_days,
            alice.grades["softmax"].late_days_used) == (26.25, 1, 0)
    assert alice.late_days_used == 2 and alice.total == 56.25
    assert (bob.grades["svm"].late_days, bob.grades["svm"].score) == (0, 33.0)
    assert (bob.grades["softmax"].late_days_used, bob.grades["softmax"].score) == (1, 35.0)
    assert bob.late_days_used == 1
    assert carol.late_days_used == 0 and all(g is None for g in carol.grades.values())

    csv_rows = list(csv.DictReader(io.StringIO(book.to_csv())))
    by_email = {r["email"]: r for r in csv_rows}
    a = by_email["alice@example.edu"]
    assert (a["svm"], a["softmax"], a["svm_late_days"], a["svm_late_days_used"], a["softmax_late_days_used"],
            a["late_days_used"]) == ("30", "26.25", "2", "2", "0", "2")
    assert by_email["bob@example.edu"]["late_days_used"] == "1"
    assert by_email["carol@example.edu"]["late_days_used"] == "0" and by_email["carol@example.edu"]["svm"] == ""

    # the API and both CSV downloads carry the same numbers
    api = term.test_client().get("/api/v1/gradebook", headers=term.people.headers("prof")).json
    assert api["late_day_budget"] == 2
    api_alice = next(s for s in api["students"] if s["email"] == "alice@example.edu")
    assert api_alice["late_days_used"] == 2 and api_alice["grades"]["softmax"]["late_days_used"] == 0
    page, _ = _login(term, "prof")
    assert page.get("/instructor/gradebook.csv").get_data(as_text=True) == book.to_csv()
    html = page.get("/instructor/gradebook").get_data(as_text=True)
    assert "2 d late, 2 free" in html and "1 d late (raw 35)" in html and "2 of 2 late days" in html
    # a submission's page tells the staff what it is worth were it the one that counts, by the same rule
    svm = page.get(f"/submissions/{term.ids['alice_svm']}").get_data(as_text=True)
    assert _text(svm, "adjusted-score") == "(30 after the late penalty; 2 of its 2 late days free if it counts)"
    softmax = page.get(f"/submissions/{term.ids['alice_softmax']}").get_data(as_text=True)
    assert _text(softmax, "adjusted-score") == "(26.25 after the late penalty)"


def test_the_gradebook_is_the_same_on_postgresql(term, tmp_path, fresh_postgres):
    """Production's database: the rows come back from PostgreSQL with their own time zones and types."""
    on_postgres = _term(make_app(tmp_path / "pg", DATABASE_URL=fresh_postgres,
                                 ASSIGNMENTS_DIR=str(term.extensions["grader"].settings.assignments_dir)))
    books = []
    for app in (term, on_postgres):
        state = app.extensions["grader"]
        with state.db.session() as session:
            book = gradebook.build(session, state.settings)
            books.append((book.as_dict(), book.to_csv(), book.to_canvas_csv(),
                          gradebook.late_days_of(session, state.settings, app.people.ids["alice"])))
    on_postgres.extensions["grader"].db.engine.dispose()
    assert books[0] == books[1]
    assert books[1][0]["students"][0]["late_days_used"] == 2  # alice's, as on SQLite


def test_a_budget_of_zero_and_no_budget_give_the_plain_late_penalty(term):
    state = term.extensions["grader"]
    for budget in (0, None):
        with state.db.session() as session:
            deadlines.set_late_day_budget(session, "test", budget)
            session.commit()
            book = gradebook.build(session, state.settings)
        alice = next(s for s in book.students if s.email == "alice@example.edu")
        # 30 * (1 - 2 * 0.1) = 24 beats the on-time 20; the softmax keeps its -25%
        assert (alice.grades["svm"].score, alice.grades["softmax"].score, alice.late_days_used) == (24.0, 26.25, 0)
        header = book.to_csv().splitlines()[0]
        assert header.endswith("late_days_used") == (budget is not None)


def test_the_student_sees_their_deadline_and_their_late_days_on_the_assignment_page(term):
    alice, _ = _login(term, "alice")
    html = alice.get("/assignments/softmax").get_data(as_text=True)
    assert "0 of your 2 free late days left this term (2 used)" in _text(html, "late-days")
    this = _text(html, "late-days-this")
    assert f"#{term.ids['alice_softmax']}" in this and "is 1 day late: 0 late days used, 1 day beyond your budget" \
        in this and "−25% each (scored 26.25 of 35)" in this
    # the deadline has passed and submissions are open: what a submission now would cost
    now_text = _text(html, "late-days-now")
    assert "A submission now is 3 days late" in now_text and "0 of your late days cover it and 3 days cost −25% each" \
        in now_text
    svm = alice.get("/assignments/svm").get_data(as_text=True)
    assert "is 2 days late: 2 late days used." in _text(svm, "late-days-this")
    bob, _ = _login(term, "bob")
    svm = bob.get("/assignments/svm").get_data(as_text=True)
    assert "your extension" in _text(svm, "your-deadline") and "flu" in _text(svm, "your-deadline")
    assert "on time: no late day spent" in _text(svm, "late-days-this")
    # the budget's days available to the SVM are the term's two: one is spent on the later softmax
    assert "1 of your 2 free late days left" in _text(svm, "late-days")
    listed = bob.get("/assignments").get_data(as_text=True)  # the list shows his own deadline too
    assert re.search(r"<h2><a[^>]*>Multiclass SVM: loss and gradient</a></h2>\s*<dl class=\"facts\">\s*<div><dt>Due</dt>"
                     r"<dd><time[^>]*>[^<]*</time> <span class=\"muted\">[^<]*</span> <span class=\"tag\">your extension</span>", listed)
    staff, _ = _login(term, "prof")
    assert 'id="late-days"' not in staff.get("/assignments/svm").get_data(as_text=True)
    # the staff's list of submissions counts each student's late days from their own deadline
    html = staff.get("/instructor/submissions?assignment=svm").get_data(as_text=True)
    late = {int(sid): re.sub(r"<[^>]+>", "", cells[-1]).strip()
            for sid, row in re.findall(r'<tr>\s*<td><a href="/submissions/(\d+)">#\d+</a></td>(.*?)</tr>', html, re.S)
            for cells in [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]}
    assert late == {term.ids["alice_svm_on_time"]: "—", term.ids["alice_svm"]: "2 d", term.ids["bob_svm"]: "—"}


# --------------------------------------------------------------------------- the page


def test_the_extensions_page_staff_see_instructors_change_and_bad_input_changes_nothing(term):
    assert _login(term, "alice")[0].get("/instructor/extensions").status_code == 403
    ta, ta_token = _login(term, "tina")
    seen = ta.get("/instructor/extensions")
    assert seen.status_code == 200
    html = seen.get_data(as_text=True)
    assert "bob@example.edu" in html and "flu" in html and "Give an extension" not in html
    assert "Save the budget" not in html
    for path, data in (("/instructor/extensions", {"email": "alice@example.edu", "assignment": "svm", "days": "3"}),
                       ("/instructor/extensions/remove", {"email": "bob@example.edu", "assignment": "svm"}),
                       ("/instructor/late-days", {"late_days": "9"})):
        assert ta.post(path, data={**data, "csrf_token": ta_token}).status_code == 403  # TAs change no policy

    prof, token = _login(term, "prof")
    assert prof.post("/instructor/late-days", data={"late_days": "5"}).status_code == 400  # no CSRF token
    for data, status, message in (
        ({"email": "nobody@example.edu", "assignment": "svm", "mode": "days", "days": "2"}, 404, "no user with"),
        ({"email": "alice@example.edu", "assignment": "svm", "mode": "days", "days": "soon"}, 400, "must be a number"),
        ({"email": "alice@example.edu", "assignment": "svm", "mode": "until", "until": "2030-01-01"}, 400,
         "no UTC offset"),
        ({"email": "alice@example.edu", "assignment": "two_layer_net", "mode": "days", "days": "1"}, 400,
         "has no deadline"),
    ):
        response = prof.post("/instructor/extensions", data={**data, "csrf_token": token})
        assert response.status_code == status
        assert message in _text(response.get_data(as_text=True), "extensions-error")
    bad_budget = prof.post("/instructor/late-days", data={"late_days": "-1", "csrf_token": token})
    assert bad_budget.status_code == 400 and "whole number of days" in bad_budget.get_data(as_text=True)
    with term.extensions["grader"].db.session() as session:
        assert session.scalar(select(func.count()).select_from(Extension)) == 1  # bob's, from the fixture
        assert deadlines.late_day_budget(session) == 2

    added = prof.post("/instructor/extensions", data={"email": "alice@example.edu", "assignment": "softmax",
                                                      "mode": "until", "until": iso(NOW + timedelta(days=1)),
                                                      "reason": "family", "csrf_token": token})
    assert added.status_code == 303
    assert "Extension for alice@example.edu on softmax" in prof.get("/instructor/extensions").get_data(as_text=True)
    assert prof.post("/instructor/extensions/remove", data={"email": "bob@example.edu", "assignment": "svm",
                                                            "csrf_token": token}).status_code == 303
    assert prof.post("/instructor/late-days", data={"late_days": "3", "csrf_token": token}).status_code == 303
    with term.extensions["grader"].db.session() as session:
        rows = deadlines.list_extensions(session)
        assert [(r.email, r.assignment_id, r.reason, r.created_by) for r in rows] == [
            ("alice@example.edu", "softmax", "family", "prof@example.edu")]
        assert deadlines.late_day_budget(session) == 3
    entries = [(e.actor, e.action, e.target) for e in _audit(term, "extension") + _audit(term, "policy.late")
               if e.actor == "prof@example.edu"]
    assert sorted(entries) == [("prof@example.edu", "extension.add", "alice@example.edu softmax"),
                               ("prof@example.edu", "extension.remove", "bob@example.edu svm"),
                               ("prof@example.edu", "policy.late_days", "course")]
    # alice's softmax is now due tomorrow: on time, no late day, no penalty
    state = term.extensions["grader"]
    with state.db.session() as session:
        alice = next(s for s in gradebook.build(session, state.settings).students if s.email == "alice@example.edu")
    assert (alice.grades["softmax"].score, alice.grades["softmax"].late_days) == (35.0, 0)


# --------------------------------------------------------------------------- Canvas


def test_the_canvas_export_is_the_same_from_the_page_and_the_cli_and_has_canvas_columns(term, tmp_path):
    state = term.extensions["grader"]
    with state.db.session() as session:
        gradebook.set_canvas_ids(session, state.settings, "test", {"svm": "4242"})
        session.commit()
    page, _ = _login(term, "tina")  # TAs may download it, as the gradebook's CSV
    response = page.get("/instructor/gradebook.canvas.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment; filename=gradebook-canvas-" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "Softmax classifier: loss and gradient", "Multiclass SVM: loss and gradient (4242)",
                       "Two-layer neural network"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "39", "35", "29"]
    students = {r[3]: r for r in rows[2:]}
    assert set(students) == {"alice@example.edu", "bob@example.edu", "carol@example.edu"}  # no staff
    assert students["alice@example.edu"] == ["'=HYPERLINK(\"x\")", "", "", "alice@example.edu", "Section 2",
                                             "26.25", "30", ""]
    assert students["bob@example.edu"][5:] == ["35", "33", ""]
    assert students["carol@example.edu"][5:] == ["", "", ""]  # nothing counted: Canvas leaves the cell as it is

    runner = _runner(term)
    exported = runner.invoke(main, ["gradebook", "export", "--format", "canvas"])
    assert exported.exit_code == 0, exported.output
    assert exported.stdout == body
    assert runner.invoke(main, ["gradebook", "--format", "canvas"]).stdout == body  # the short form
    api = term.test_client().get("/api/v1/gradebook?format=canvas", headers=term.people.headers("tina"))
    assert api.status_code == 200 and api.mimetype == "text/csv" and api.get_data(as_text=True) == body
    out = tmp_path / "canvas.csv"
    assert "(3 students)" in runner.invoke(main, ["gradebook", "export", "--format", "canvas", "--csv",
                                                  str(out)]).stderr
    assert out.read_text() == body
    assert runner.invoke(main, ["gradebook", "canvas-ids"]).stdout == "svm=4242\n"
    bad = runner.invoke(main, ["gradebook", "canvas-ids", "svm=abc"])
    assert bad.exit_code == 2 and "a Canvas assignment id is a number" in bad.stderr
    unknown = runner.invoke(main, ["gradebook", "canvas-ids", "nope=1"])
    assert unknown.exit_code == 2 and "no assignment 'nope'" in unknown.stderr
    assert runner.invoke(main, ["gradebook", "canvas-ids", "svm="]).exit_code == 0  # forgotten
    assert "Multiclass SVM: loss and gradient," in runner.invoke(main, ["gradebook", "export", "--format",
                                                                        "canvas"]).stdout


def test_a_title_ending_in_a_number_in_parentheses_is_never_read_as_a_canvas_id():
    assert gradebook.canvas_column("Two-layer net (2017)", None) == "Two-layer net [2017]"
    assert gradebook.canvas_column("Two-layer net (2017)", "99") == "Two-layer net [2017] (99)"
    assert gradebook.canvas_column("Modular layers (2021+ edition)", None) == "Modular layers (2021+ edition)"
