"""Roster import, first sign-in links and "forgot password" (issue 11, part A).

The file's rules are checked on :func:`grader.roster.parse` (no database); the import, the links and the
pages in process with the Flask test client on SQLite; the course of 800 students and 12 TAs on PostgreSQL,
through the command and the page alike.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import shutil
import time
from datetime import timedelta
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

import pytest
from click.testing import CliRunner
from service_fixtures import PASSWORD, People, _migrated_template, make_app
from sqlalchemy import select

from grader import auth, roster, signin
from grader.cli import main
from grader.models import ApiToken, AuditEntry, AssignmentRow, SigninLink, Submission, User, WebSession, utcnow

SITE = "https://grader.example.edu"
REAL_SCRYPT = {"test_a_link_sets_the_password_signs_in_and_works_once"}  # the product's own hashing, end to end


def csrf_token(client: Any, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def web_login(client: Any, email: str, password: str = PASSWORD) -> Any:
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)})


@pytest.fixture(autouse=True)
def cheap_hashing(request: pytest.FixtureRequest) -> Any:
    """scrypt costs about 0.2-0.4 s a password here: these tests store passwords with one round of PBKDF2 instead
    (the login still checks them with werkzeug's real check_password_hash). The tests in REAL_SCRYPT do not."""
    import functools

    from werkzeug.security import generate_password_hash

    if request.node.name in REAL_SCRYPT:
        yield
        return
    with mock.patch("grader.auth.generate_password_hash",
                    functools.partial(generate_password_hash, method="pbkdf2:sha256:1")):
        yield


def login_as(app: Any, client: Any, email: str) -> None:
    """A page session for ``email`` as the login page makes one, without hashing a password (the login itself is
    tested in test_accounts.py)."""
    from grader.dashboard import account

    with app.test_request_context():
        with app.extensions["grader"].db.session() as session:
            user = auth.find_user(session, email)
            sid = auth.create_web_session(session, user, lifetime=timedelta(hours=1))
            session.commit()
            values = {"sid": sid, "user_id": user.id, "auth": account._fingerprint(user)}
    with client.session_transaction() as cookie:
        cookie.update(values)
        cookie.permanent = True


def errors_of(data: bytes) -> list[str]:
    with pytest.raises(roster.RosterInvalid) as caught:
        roster.parse(data)
    return [str(e) for e in caught.value.errors]


def roster_file(n: int, *, role: str = "", start: int = 0, section: str = "") -> str:
    lines = ["email,name,role,section"]
    lines += [f"student{i}@example.edu,Student {i},{role},{section}" for i in range(start, start + n)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the file's rules (no database)


def test_a_good_file_with_excel_quirks_is_read() -> None:
    text = ('\ufeffEmail, Name ,Section,Role\r\n'             # Excel's BOM, blanks and capitals in the header
            'Ada@Example.edu,"Lovelace,  Ada",S1,\r\n'         # a quoted comma; an empty role is student
            ',,,\r\n'                                          # a spreadsheet's empty line
            'grace@example.edu,"Grace\r\nHopper",S2,TA\r\n'    # a name over two lines (quoted)
            '\r\n'
            'alan@example.edu,Alan Turing,,instructor\r\n')
    rows = roster.parse(text.encode("utf-8"))
    assert [(r.line, r.email, r.name, r.role, r.section) for r in rows] == [
        (2, "ada@example.edu", "Lovelace, Ada", "student", "S1"),
        (4, "grace@example.edu", "Grace Hopper", "ta", "S2"),
        (7, "alan@example.edu", "Alan Turing", "instructor", ""),
    ]


def test_every_bad_row_is_listed_with_its_line_and_reason() -> None:
    text = ("email,name,role\n"
            "ada@example.edu,Ada,student\n"
            "not-an-email,Bob,student\n"            # 3: bad email
            "carol@example.edu,Carol,admin\n"       # 4: unknown role
            "ADA@example.edu,Ada again,ta\n"        # 5: the same email as line 2 (case does not matter)
            "dave@example.edu,,student\n"           # 6: empty name
            ",Erin,student\n"                       # 7: empty email
            "frank@example.edu,Frank,student,extra\n"  # 8: more fields than the header
            "gina@example.edu,Gina,TA\n")           # fine
    assert errors_of(text.encode()) == [
        "line 3: 'not-an-email' is not an email address",
        "line 4: unknown role 'admin' (the roles are student, ta, instructor)",
        "line 5: ada@example.edu is already on line 2",
        "line 6: the name is empty",
        "line 7: the email is empty",
        "line 8: 4 fields, but the header has 3 (a name with a comma must be in double quotes)",
    ]


@pytest.mark.parametrize("header, message", [
    ("email,role", "line 1: missing column name"),
    ("role,section", "line 1: missing columns email, name"),
    ("email,name,e-mail", "line 1: unknown column 'e-mail'"),
    ("email,name,name", "line 1: column name given twice"),
    ("ada@example.edu,Ada Lovelace", "(this one looks like a person's line)"),
])
def test_missing_unknown_or_repeated_columns_are_refused(header: str, message: str) -> None:
    found = errors_of(f"{header}\nbob@example.edu,Bob\n".encode())
    assert len(found) == 1 and message in found[0], found
    assert "the first line must be the header email,name[,role][,section]" in found[0]


def test_a_file_that_is_not_utf8_names_its_first_bad_line() -> None:
    latin1 = "email,name\nada@example.edu,Ada\nzoe@example.edu,Zoë Ünal\n".encode("latin-1")
    assert errors_of(latin1) == ["line 3: this line is not UTF-8 (byte 0xeb); save the file as \"CSV UTF-8\""]
    utf16 = "email,name\nada@example.edu,Ada\n".encode("utf-16")
    assert errors_of(utf16) == ['the file is UTF-16 (Excel\'s "Unicode Text"): save it as "CSV UTF-8 (Comma '
                                'delimited)" instead']
    # The same text in UTF-8 with Excel's byte order mark is fine.
    bom = "\ufeffemail,name\nzoe@example.edu,Zoë Ünal\n".encode("utf-8")
    assert roster.parse(bom)[0].name == "Zoë Ünal"


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"\xef\xbb\xbf\r\n  \r\n", "the file is empty"),
    (b"email,name,role,section\n\n", "the file has a header but nobody in it"),
    (b"email,name\n\"ada@example.edu,Ada\n", "line 2: cannot be read as CSV"),
    (b"email,name\x00\n", "NUL bytes"),
])
def test_empty_or_broken_files_are_refused(data: bytes, message: str) -> None:
    found = errors_of(data)
    assert len(found) == 1 and message in found[0], found


def test_too_large_a_file_is_refused_before_it_is_read() -> None:
    data = roster_file(1).encode() + b"#" * roster.MAX_BYTES
    with mock.patch.object(roster, "_decode", wraps=roster._decode) as decode:
        assert errors_of(data) == [f"the file is {len(data):,} bytes; a roster may be at most 1 MiB"]
        assert decode.call_count == 0


# --------------------------------------------------------------------------- the import (SQLite, in process)


@pytest.fixture
def course(tmp_path: Path) -> tuple[Any, People]:
    app = make_app(tmp_path / "instance")
    people = People(app)
    people.add("prof", role="instructor")
    people.add("alice")
    return app, people


def run_import(app: Any, text: str | bytes, **options: Any) -> roster.ImportResult:
    data = text.encode() if isinstance(text, str) else text
    state = app.extensions["grader"]
    with state.db.session() as session:
        result = roster.import_roster(session, state.settings, data, actor="cli", **options)
        session.commit()
        return result


def users(app: Any) -> dict[str, User]:
    with app.extensions["grader"].db.session() as session:
        return {u.email: u for u in session.scalars(select(User))}


def test_import_is_idempotent_and_updates_names_roles_and_sections(course) -> None:
    app, _ = course
    first = run_import(app, "email,name,role,section\nada@example.edu,Ada,,S1\nbob@example.edu,Bob,ta,\n"
                            "alice@example.edu,Alice Liddell,,S2\n")
    assert first.counts() == {"added": 2, "updated": 1, "unchanged": 0, "dropped": 0}
    assert sorted(link.user.email for link in first.links) == ["ada@example.edu", "bob@example.edu"]
    again = run_import(app, "email,name,role,section\nada@example.edu,Ada,,S1\nbob@example.edu,Bob,ta,\n"
                            "alice@example.edu,Alice Liddell,,S2\n")
    assert again.counts() == {"added": 0, "updated": 0, "unchanged": 3, "dropped": 0} and again.links == []
    changed = run_import(app, "email,name,role,section\nada@example.edu,Ada Lovelace,,S1\nbob@example.edu,Bob,"
                              "instructor,\nalice@example.edu,Alice Liddell,,S3\n")
    assert changed.counts() == {"added": 0, "updated": 3, "unchanged": 0, "dropped": 0}
    assert changed.role_changes == [{"email": "bob@example.edu", "from": "ta", "to": "instructor"}]
    people = users(app)
    assert len(people) == 4  # prof, alice, ada, bob: nobody twice
    assert (people["ada@example.edu"].name, people["bob@example.edu"].role, people["alice@example.edu"].section) \
        == ("Ada Lovelace", "instructor", "S3")
    assert people["alice@example.edu"].password_hash  # an import never touches a password
    with app.extensions["grader"].db.session() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "roster.import")
                                       .order_by(AuditEntry.id)))
    assert [(e.actor, e.details["added"], e.details["updated"], e.details["unchanged"]) for e in entries] == [
        ("cli", 2, 1, 0), ("cli", 0, 0, 3), ("cli", 0, 3, 0)]
    assert entries[2].details["role_changes"] == changed.role_changes
    with app.extensions["grader"].db.session() as session:  # and one entry per role change, as the users page makes
        [role] = session.scalars(select(AuditEntry).where(AuditEntry.action == "role.change"))
        assert (role.target, role.details["old"], role.details["new"]) == ("bob@example.edu", "ta", "instructor")


def test_a_file_that_demotes_the_last_instructor_is_refused(course) -> None:
    app, _ = course
    with pytest.raises(roster.RosterInvalid) as caught:
        run_import(app, "email,name,role\nalice@example.edu,Alice,\nprof@example.edu,Prof,ta\n")
    assert [str(e) for e in caught.value.errors] == [
        "line 3: prof@example.edu is the last instructor who can log in: the course would have nobody to manage it"]
    assert users(app)["prof@example.edu"].role == "instructor"
    # With another instructor in the same file, it is fine.
    result = run_import(app, "email,name,role\nnew@example.edu,New Prof,instructor\nprof@example.edu,Prof,ta\n")
    assert result.role_changes == [{"email": "prof@example.edu", "from": "instructor", "to": "ta"}]


def test_a_file_with_one_bad_row_changes_nothing(course) -> None:
    app, _ = course
    before = {e: (u.name, u.role, u.section) for e, u in users(app).items()}
    with pytest.raises(roster.RosterInvalid) as caught:
        run_import(app, "email,name,role\nalice@example.edu,Renamed,ta\nnew@example.edu,New,\n"
                        "bad@,Bad,student\n", drop_missing=True)
    assert [str(e) for e in caught.value.errors] == ["line 4: 'bad@' is not an email address"]
    assert {e: (u.name, u.role, u.section) for e, u in users(app).items()} == before
    with app.extensions["grader"].db.session() as session:
        assert session.scalar(select(SigninLink.id)) is None
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "roster.import")) is None


def test_dropping_disables_students_only_and_a_later_import_enables_them(course) -> None:
    app, people = course
    state = app.extensions["grader"]
    with state.db.session() as session:  # alice has a submission, a page session and a token
        session.add(AssignmentRow(id="svm", title="SVM", files=["linear_svm.py"], max_score=35))
        session.add(Submission(user_id=people.ids["alice"], assignment_id="svm", status="graded", score=30))
        auth.create_web_session(session, session.get(User, people.ids["alice"]), lifetime=timedelta(hours=1))
        session.commit()
    run_import(app, "email,name,role\nta1@example.edu,Tess,ta\nbob@example.edu,Bob,\n")
    result = run_import(app, "email,name\nbob@example.edu,Bob\n", drop_missing=True)
    assert result.counts() == {"added": 0, "updated": 0, "unchanged": 1, "dropped": 1}
    assert result.dropped == ["alice@example.edu"]  # not prof (instructor) nor ta1 (TA)
    everyone = users(app)
    assert everyone["alice@example.edu"].disabled and not everyone["ta1@example.edu"].disabled
    assert not everyone["prof@example.edu"].disabled
    with state.db.session() as session:
        assert session.scalar(select(Submission.score).where(Submission.user_id == people.ids["alice"])) == 30
        assert all(t.revoked_at for t in session.scalars(select(ApiToken).where(
            ApiToken.user_id == people.ids["alice"])))
        assert all(s.revoked_at for s in session.scalars(select(WebSession).where(
            WebSession.user_id == people.ids["alice"])))
    assert app.test_client().post("/api/v1/tokens", json={"email": "alice@example.edu", "password": PASSWORD}
                                  ).status_code == 403
    back = run_import(app, "email,name\nbob@example.edu,Bob\nalice@example.edu,Alice\n")
    assert back.counts() == {"added": 0, "updated": 1, "unchanged": 1, "dropped": 0} and back.enabled == [
        "alice@example.edu"]
    assert not users(app)["alice@example.edu"].disabled
    with state.db.session() as session:
        assert [(e.action, e.target) for e in session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["user.disable", "user.enable"])).order_by(AuditEntry.id))] == [
            ("user.disable", "alice@example.edu"), ("user.enable", "alice@example.edu")]
    assert back.links == []  # alice has her password: no link unless asked for one


def test_relink_makes_new_links_for_who_has_not_signed_in_and_ends_the_old_ones(course) -> None:
    app, _ = course
    first = run_import(app, "email,name\nada@example.edu,Ada\nalice@example.edu,Alice\n")
    [old] = first.links
    again = run_import(app, "email,name\nada@example.edu,Ada\nalice@example.edu,Alice\n", relink=True)
    assert [link.user.email for link in again.links] == ["ada@example.edu"]  # alice has a password
    with app.extensions["grader"].db.session() as session:
        with pytest.raises(signin.LinkUnusable):
            signin.check(session, old.token)
        assert signin.check(session, again.links[0].token).user.email == "ada@example.edu"


# --------------------------------------------------------------------------- sign-in links (pages)


def link_for(app: Any, email: str, *, purpose: str = "first", valid_for: timedelta = timedelta(days=1),
             ago: timedelta = timedelta(0)) -> str:
    with app.extensions["grader"].db.session() as session:
        user = auth.find_user(session, email)
        [link] = signin.issue(session, [user], purpose=purpose, valid_for=valid_for, now=utcnow() - ago)
        session.commit()
        return link.token


def set_password(client: Any, token: str, password: str, confirm: str | None = None) -> Any:
    form = client.get(f"/signin/{token}")  # the form, as a browser gets it (or the "cannot be used" page)
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.get_data(as_text=True))
    if match is None or form.status_code != 200:  # any page's form has the session's token
        match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login", follow_redirects=True)
                          .get_data(as_text=True))
    token_field = match.group(1)
    return client.post(f"/signin/{token}", data={"new_password": password, "confirm_password": confirm or password,
                                                 "csrf_token": token_field})


def test_a_link_sets_the_password_signs_in_and_works_once(course) -> None:
    app, _ = course
    run_import(app, "email,name\nada@example.edu,Ada\n")
    token = link_for(app, "ada@example.edu")
    client = app.test_client()
    # Opening it (a mail scanner does) uses nothing; the form says whose account it is.
    for _ in range(2):
        page = client.get(f"/signin/{token}")
        assert page.status_code == 200 and "ada@example.edu" in page.get_data(as_text=True)
    answer = set_password(client, token, "ada's own password")
    assert answer.status_code == 303 and answer.headers["Location"] == "/assignments"
    assert client.get("/assignments").status_code == 200  # signed in
    with app.extensions["grader"].db.session() as session:
        row = session.scalar(select(SigninLink).where(SigninLink.token_hash == auth.token_digest(token)))
        assert row.used_at is not None and row.token_hash != token and token not in row.token_hash
    used = app.test_client().get(f"/signin/{token}")
    assert used.status_code == 404 and signin.UNUSABLE in used.get_data(as_text=True)
    assert set_password(app.test_client(), token, "another password").status_code == 404
    # The password set through the link is the one that logs in.
    assert web_login(app.test_client(), "ada@example.edu", "ada's own password").status_code == 303


def test_used_expired_unknown_replaced_and_disabled_links_get_the_same_answer(course) -> None:
    app, _ = course
    run_import(app, "email,name\nada@example.edu,Ada\nbob@example.edu,Bob\ncarl@example.edu,Carl\n")
    used = link_for(app, "ada@example.edu")
    assert set_password(app.test_client(), used, "a good password").status_code == 303
    expired = link_for(app, "bob@example.edu", valid_for=timedelta(days=14), ago=timedelta(days=14, seconds=1))
    replaced = link_for(app, "carl@example.edu")
    link_for(app, "carl@example.edu")  # a newer link for carl ends the older one
    disabled = link_for(app, "alice@example.edu", purpose="reset")
    with app.extensions["grader"].db.session() as session:
        auth.set_disabled(session, "alice@example.edu", True)
        session.commit()
    bodies = set()
    for token in (used, expired, replaced, disabled, "sl_" + "x" * 43, "nonsense", "sl_" + "y" * 500):
        answer = app.test_client().get(f"/signin/{token}")
        assert answer.status_code == 404, token
        body = answer.get_data(as_text=True)
        bodies.add(re.sub(r'name="csrf_token" value="[^"]+"', "", body))
        assert "@example.edu" not in body
    assert len(bodies) == 1  # nothing tells one case from another
    assert signin.UNUSABLE in bodies.pop()


def test_a_refused_password_keeps_the_link_usable(course) -> None:
    app, _ = course
    run_import(app, "email,name\nada@example.edu,Ada\n")
    token = link_for(app, "ada@example.edu")
    client = app.test_client()
    short = set_password(client, token, "short")
    assert short.status_code == 400 and "at least 8 characters" in short.get_data(as_text=True)
    differ = set_password(client, token, "long enough 1", "long enough 2")
    assert differ.status_code == 400 and "differ" in differ.get_data(as_text=True)
    too_long = set_password(client, token, "x" * 2000)
    assert too_long.status_code == 400 and "too long" in too_long.get_data(as_text=True)
    assert users(app)["ada@example.edu"].password_hash is None
    assert set_password(client, token, "long enough 1").status_code == 303


def test_the_link_form_needs_its_csrf_token(course) -> None:
    app, _ = course
    token = link_for(app, "alice@example.edu", purpose="reset")
    before = users(app)["alice@example.edu"].password_hash
    client = app.test_client()
    client.get(f"/signin/{token}")
    answer = client.post(f"/signin/{token}", data={"new_password": "new password!", "confirm_password":
                                                   "new password!"})
    assert answer.status_code == 400 and "Form expired" in answer.get_data(as_text=True)
    assert users(app)["alice@example.edu"].password_hash == before  # the password is unchanged


def test_guessing_links_is_limited_like_logins(tmp_path: Path) -> None:
    app = make_app(tmp_path / "instance", LOGIN_RATE_LIMIT="5/minute")
    People(app).add("alice")
    token = link_for(app, "alice@example.edu", purpose="reset")
    client = app.test_client()
    codes = [client.get(f"/signin/sl_guess{i}", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code
             for i in range(7)]
    assert codes == [404] * 5 + [429] * 2
    # Even a real link waits from that address; from another it works.
    assert client.get(f"/signin/{token}", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 429
    assert app.test_client().get(f"/signin/{token}", environ_base={"REMOTE_ADDR": "198.51.100.1"}).status_code == 200


def test_a_reset_ends_every_other_session_and_token(course) -> None:
    app, people = course
    old = app.test_client()
    login_as(app, old, "alice@example.edu")
    assert old.get("/assignments").status_code == 200
    token = link_for(app, "alice@example.edu", purpose="reset")
    assert set_password(app.test_client(), token, "a brand new password").status_code == 303
    assert old.get("/assignments").status_code == 302  # back to the login page
    assert app.test_client().get("/api/v1/me", headers=people.headers("alice")).status_code == 401


# --------------------------------------------------------------------------- forgot password, the pages


def test_forgot_password_the_login_page_says_ask_the_staff_who_make_a_link(course) -> None:
    app, _ = course
    client = app.test_client()
    assert "Ask the course staff for a sign-in link" in client.get("/login").get_data(as_text=True)
    login_as(app, client, "prof@example.edu")
    users_page = client.get("/instructor/users").get_data(as_text=True)
    assert "/instructor/users/link" in users_page and "Sign-in link" in users_page
    answer = client.post("/instructor/users/link", data={"email": "alice@example.edu",
                                                         "csrf_token": csrf_token(client, "/instructor/users")})
    assert answer.status_code == 200
    url = re.search(r'<code id="signin-link">([^<]+)</code>', answer.get_data(as_text=True)).group(1)
    assert url.startswith("http://localhost/signin/sl_")  # no GRADER_EXTERNAL_URL: the request's host
    with app.extensions["grader"].db.session() as session:
        row = session.scalar(select(SigninLink).order_by(SigninLink.id.desc()))
        assert row.purpose == "reset" and row.created_by is not None
        hours = (row.expires_at - row.created_at).total_seconds() / 3600
        assert hours == app.extensions["grader"].settings.reset_link_hours == 72
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "signin.link"))
        assert (entry.actor, entry.target, entry.details["purpose"]) == ("prof@example.edu", "alice@example.edu",
                                                                         "reset")
    assert set_password(app.test_client(), url.rsplit("/", 1)[1], "alice's new one").status_code == 303
    missing = client.post("/instructor/users/link", data={"email": "nobody@example.edu",
                                                          "csrf_token": csrf_token(client, "/instructor/users")})
    assert missing.status_code == 404


def test_links_use_the_configured_external_url(tmp_path: Path) -> None:
    app = make_app(tmp_path / "instance", EXTERNAL_URL=SITE + "/")
    People(app).add("prof", role="instructor")
    client = app.test_client()
    client.environ_base["HTTP_HOST"] = "evil.example.net"  # a forged Host header must not steer the links
    login_as(app, client, "prof@example.edu")
    answer = page_import(client, b"email,name\nada@example.edu,Ada\n")
    assert answer.status_code == 200
    links = download_links(answer.get_data(as_text=True))
    assert [row["link"].rsplit("/", 1)[0] for row in links] == [SITE + "/signin"]


def test_students_and_tas_cannot_import_or_make_links(course) -> None:
    app, people = course
    people.add("tess", role="ta")
    for who in ("alice", "tess"):
        client = app.test_client()
        login_as(app, client, f"{who}@example.edu")
        token = csrf_token(client, "/account")
        assert client.get("/instructor/roster").status_code == 403
        assert client.post("/instructor/roster", data={"csrf_token": token}).status_code == 403
        assert client.post("/instructor/users/link", data={"email": "prof@example.edu", "csrf_token": token}
                           ).status_code == 403
    assert app.test_client().get("/instructor/roster").status_code == 302  # a visitor logs in first


def download_links(html: str) -> list[dict[str, str]]:
    href = re.search(r'id="links-download" href="data:text/csv;charset=utf-8;base64,([^"]+)"', html).group(1)
    return list(csv.DictReader(io.StringIO(base64.b64decode(href).decode("utf-8"))))


def page_import(client: Any, data: bytes, **form: str) -> Any:
    return client.post("/instructor/roster", data={"roster": (io.BytesIO(data), "roster.csv"), **form,
                                                   "csrf_token": csrf_token(client, "/instructor/roster")},
                       content_type="multipart/form-data")


def page_counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'<dd data-count="(\w+)">(\d+)</dd>', html)}


def test_the_page_imports_lists_bad_rows_and_offers_the_links_once(course) -> None:
    app, _ = course
    client = app.test_client()
    login_as(app, client, "prof@example.edu")
    bad = page_import(client, b"email,name,role\nada@example.edu,Ada,\nada@example.edu,Ada,\nbob@x,Bob,boss\n")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "Nothing was imported from roster.csv" in html
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]+)</td></tr>', html)
    assert rows == [("3", "ada@example.edu is already on line 2"),
                    ("4", "&#39;bob@x&#39; is not an email address; unknown role &#39;boss&#39; (the roles are "
                          "student, ta, instructor)")]
    assert "ada@example.edu" not in users(app)
    empty = client.post("/instructor/roster", data={"csrf_token": csrf_token(client, "/instructor/roster")})
    assert empty.status_code == 400 and "choose the roster file" in empty.get_data(as_text=True)

    good = page_import(client, b"email,name,role,section\nada@example.edu,Ada,,S1\nalice@example.edu,Alice,,S1\n")
    html = good.get_data(as_text=True)
    assert good.status_code == 200 and page_counts(html) == {"added": 1, "updated": 1, "unchanged": 0, "dropped": 0}
    [link] = download_links(html)
    assert (link["email"], link["name"], link["section"]) == ("ada@example.edu", "Ada", "S1")
    assert "links-download" not in client.get("/instructor/roster").get_data(as_text=True)  # shown once only
    assert set_password(app.test_client(), link["link"].rsplit("/", 1)[1], "ada's password").status_code == 303

    dropped = page_import(client, b"email,name\nada@example.edu,Ada\n", drop_missing="1")
    assert page_counts(dropped.get_data(as_text=True)) == {"added": 0, "updated": 1, "unchanged": 0, "dropped": 1}
    assert users(app)["alice@example.edu"].disabled
    with app.extensions["grader"].db.session() as session:
        assert [e.actor for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "roster.import"))] \
            == ["prof@example.edu"] * 2


def test_a_file_over_the_sites_request_limit_gets_the_rosters_message(course) -> None:
    app, _ = course
    client = app.test_client()
    login_as(app, client, "prof@example.edu")
    answer = page_import(client, roster_file(1).encode() + b"#" * (3 * 1024 * 1024))
    assert answer.status_code == 413
    assert "the file is over the 1 MiB a roster may have" in answer.get_data(as_text=True)
    assert "Nothing was imported" in answer.get_data(as_text=True)
    student = app.test_client()  # the same request from a student shows nothing of the roster page
    login_as(app, student, "alice@example.edu")
    refused = page_import(student, b"#" * (3 * 1024 * 1024))
    assert refused.status_code == 413 and "roster-overview" not in refused.get_data(as_text=True)


def test_an_instructor_cannot_change_their_own_role_by_import(course) -> None:
    app, _ = course
    client = app.test_client()
    login_as(app, client, "prof@example.edu")
    answer = page_import(client, b"email,name,role\nprof@example.edu,Prof,student\n")
    assert answer.status_code == 400 and "this is you" in answer.get_data(as_text=True)
    assert users(app)["prof@example.edu"].role == "instructor"


# --------------------------------------------------------------------------- the commands


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"GRADER_INSTANCE_PATH": str(tmp_path / "instance"), "GRADER_DATABASE_URL": "",
                          "GRADER_EXTERNAL_URL": ""})


def test_the_commands_import_write_links_and_make_one_link(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "instance").mkdir()
    shutil.copyfile(_migrated_template(), tmp_path / "instance" / "grader.sqlite3")  # what `grader db upgrade` makes
    file = tmp_path / "roster.csv"
    file.write_text("email,name,role,section\nada@example.edu,Ada,,S1\ntess@example.edu,Tess,ta,\n")
    no_site = runner.invoke(main, ["users", "import", str(file)])
    assert no_site.exit_code == 2 and "set GRADER_EXTERNAL_URL or pass --base-url (nothing was imported)" in \
        no_site.output
    nowhere_to_write = runner.invoke(main, ["users", "import", str(file), "--base-url", SITE,
                                            "--links", str(tmp_path / "no-such-folder" / "links.csv")])
    assert nowhere_to_write.exit_code == 2 and "(nothing was imported)" in nowhere_to_write.output
    dry = runner.invoke(main, ["users", "import", str(file), "--dry-run"])
    assert dry.exit_code == 0 and "would be: added 2, updated 0, unchanged 0, dropped 0" in dry.output
    links = tmp_path / "links.csv"
    done = runner.invoke(main, ["users", "import", str(file), "--links", str(links), "--base-url", SITE])
    assert done.exit_code == 0, done.output
    assert "added 2, updated 0, unchanged 0, dropped 0 (2 in the file)" in done.output
    rows = list(csv.DictReader(links.open()))
    assert [(r["email"], r["role"], r["link"][:len(SITE) + 11]) for r in rows] == [
        ("ada@example.edu", "student", SITE + "/signin/sl_"), ("tess@example.edu", "ta", SITE + "/signin/sl_")]
    again = runner.invoke(main, ["users", "import", str(file)], env={"GRADER_EXTERNAL_URL": SITE})
    assert again.exit_code == 0 and "added 0, updated 0, unchanged 2, dropped 0" in again.output
    assert "no new sign-in links" in again.output
    # Without --links, the links go to stdout (the counts to stderr).
    runner.invoke(main, ["users", "add", "prof@example.edu", "--role", "instructor", "--password", "prof pass 1"])
    file.write_text("email,name\nada@example.edu,Ada\nnew@example.edu,New\n")
    out = runner.invoke(main, ["users", "import", str(file), "--drop-missing", "--base-url", SITE])
    assert out.exit_code == 0 and "dropped (disabled): tess@example.edu" not in out.output  # a TA is not dropped
    assert "new@example.edu,New,student,," + SITE + "/signin/sl_" in out.output
    bad = tmp_path / "bad.csv"
    bad.write_text("email,name,role\nx,X,\ny@example.edu,Y,dean\n")
    refused = runner.invoke(main, ["users", "import", str(bad), "--base-url", SITE])
    assert refused.exit_code == 2
    assert f"{bad}: line 2: 'x' is not an email address" in refused.output
    assert f"{bad}: line 3: unknown role 'dean'" in refused.output
    assert "the roster was not imported (2 problems); nothing changed" in refused.output
    missing = runner.invoke(main, ["users", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "cannot read" in missing.output

    one = runner.invoke(main, ["users", "link", "ada@example.edu", "--base-url", SITE, "--hours", "5"])
    assert one.exit_code == 0 and "first sign-in link for ada@example.edu" in one.output
    assert re.search(r"^https://grader\.example\.edu/signin/sl_[\w-]{43}$", one.output, re.M)
    unknown = runner.invoke(main, ["users", "link", "nobody@example.edu", "--base-url", SITE])
    assert unknown.exit_code == 2 and "no user with the email 'nobody@example.edu'" in unknown.output
    nowhere = runner.invoke(main, ["users", "link", "ada@example.edu"])
    assert nowhere.exit_code == 2 and "GRADER_EXTERNAL_URL" in nowhere.output


# --------------------------------------------------------------------------- a real course, on PostgreSQL


def course_file(students: int = 800, tas: int = 12) -> bytes:
    lines = ["email,name,role,section"]
    lines += [f"s{i:04d}@stanford.edu,\"Student {i:04d}, Jr.\",student,Section {i % 20 + 1:02d}" for i in range(students)]
    lines += [f"ta{i:02d}@stanford.edu,TA {i:02d},ta," for i in range(tas)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")  # as Excel writes it


def cli_counts(output: str) -> dict[str, int]:
    match = re.search(r"added (\d+), updated (\d+), unchanged (\d+), dropped (\d+)", output)
    assert match, output
    return dict(zip(("added", "updated", "unchanged", "dropped"), map(int, match.groups())))


#: Far fewer than the 812 users of the course file: one statement per user (or per link, per audit entry) fails.
MAX_IMPORT_STATEMENTS = 100


@contextmanager
def sql_statements() -> Iterator[list[str]]:
    """The SQL statements every engine of this process runs inside the block (the app's and the CLI's own)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_a_course_of_800_students_and_12_tas_on_postgresql(tmp_path: Path, fresh_postgres: str) -> None:
    from sqlalchemy import delete, func

    app = make_app(tmp_path / "instance", DATABASE_URL=fresh_postgres, EXTERNAL_URL=SITE)
    People(app).add("prof", role="instructor")
    db = app.extensions["grader"].db
    data = course_file()
    file = tmp_path / "cs231n-roster.csv"
    file.write_bytes(data)
    runner = CliRunner(env={"GRADER_DATABASE_URL": fresh_postgres, "GRADER_INSTANCE_PATH": str(tmp_path / "instance"),
                            "GRADER_EXTERNAL_URL": SITE})

    # The page first: one upload of the whole file.
    client = app.test_client()
    login_as(app, client, "prof@example.edu")
    started = time.perf_counter()
    with sql_statements() as page_statements:
        answer = page_import(client, data)
    page_seconds = time.perf_counter() - started
    assert answer.status_code == 200, answer.get_data(as_text=True)[:2000]
    page_first = page_counts(answer.get_data(as_text=True))
    assert len(download_links(answer.get_data(as_text=True))) == 812
    # The same file on the same empty course through the command: the rows the page made are removed first.
    with db.session() as session:
        session.execute(delete(SigninLink))
        session.execute(delete(AuditEntry))
        session.execute(delete(User).where(User.email != "prof@example.edu"))
        session.commit()
    links_file = tmp_path / "links.csv"
    started = time.perf_counter()
    with sql_statements() as cli_statements:
        done = runner.invoke(main, ["users", "import", str(file), "--links", str(links_file)])
    cli_seconds = time.perf_counter() - started
    assert done.exit_code == 0, done.output
    print(f"\nimport of 800 students and 12 TAs on PostgreSQL: page {page_seconds:.2f} s, "
          f"{len(page_statements)} SQL statements; grader users import {cli_seconds:.2f} s (the whole command), "
          f"{len(cli_statements)} SQL statements")
    assert cli_counts(done.output) == page_first == {"added": 812, "updated": 0, "unchanged": 0, "dropped": 0}
    # A whole course in one go, not one user at a time: counted in SQL statements (each executemany counts once),
    # not in seconds (a loaded machine is slow; speed is for bench/).
    assert len(page_statements) < MAX_IMPORT_STATEMENTS, page_statements[:40]
    assert len(cli_statements) < MAX_IMPORT_STATEMENTS, cli_statements[:40]
    # Again: nothing changes, and the page says so.
    again = page_counts(page_import(client, data).get_data(as_text=True))
    assert again == {"added": 0, "updated": 0, "unchanged": 812, "dropped": 0}
    with db.session() as session:
        roles = dict(session.execute(select(User.role, func.count()).group_by(User.role)).all())
        assert roles == {"student": 800, "ta": 12, "instructor": 1}
        assert session.scalar(select(func.count()).select_from(User).where(User.section == "Section 07")) == 40
        assert session.scalar(select(User.name).where(User.email == "s0006@stanford.edu")) == "Student 0006, Jr."
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "roster.import")) == 2

    links = list(csv.DictReader(links_file.open(encoding="utf-8")))
    assert len(links) == 812 and len({row["link"] for row in links}) == 812
    tokens = {row["email"]: row["link"].rsplit("/", 1)[1] for row in links}
    # A sample signs in through the pages, each from their own machine: four TAs and four students.
    sample = ["ta00@stanford.edu", "ta05@stanford.edu", "ta11@stanford.edu", "ta07@stanford.edu",
              "s0000@stanford.edu", "s0123@stanford.edu", "s0456@stanford.edu", "s0799@stanford.edu"]
    started = time.perf_counter()
    for n, email in enumerate(sample):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"10.1.0.{n + 1}"
        assert set_password(browser, tokens[email], f"pw of {email}").status_code == 303
        assert browser.get("/assignments").status_code == 200
        assert set_password(browser, tokens[email], "second try!").status_code == 404
        assert web_login(app.test_client(), email, f"pw of {email}").status_code == 303
    pages_seconds = time.perf_counter() - started
    # Two requests racing with one link: the second waits for the first's row lock, then finds the link used.
    import threading

    racer = "s0001@stanford.edu"
    with db.session() as first:
        signin.consume(first, tokens[racer])  # not committed yet: holds the row
        outcome: list[str] = []

        def second() -> None:
            with db.session() as session:
                try:
                    signin.consume(session, tokens[racer])
                    session.commit()
                    outcome.append("used it too")
                except signin.LinkUnusable:
                    outcome.append("refused")

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # blocked on the first request's UPDATE
        first.commit()
        thread.join(10)
    assert outcome == ["refused"]
    sample.append(racer)
    # Every link works exactly once. The other 803 are used through the single-use step the page's redeem makes
    # (signin.consume: the same look-up and conditional UPDATE, without a password to hash and store), in one
    # transaction; then a second use of each of the 812 is refused.
    started = time.perf_counter()
    with db.session() as session:
        for email, token in tokens.items():
            if email not in sample:
                assert signin.consume(session, token).user.email == email
        for token in tokens.values():
            with pytest.raises(signin.LinkUnusable):
                signin.consume(session, token)
        session.commit()
    print(f"{len(sample) - 1} links used through the pages ({pages_seconds:.2f} s), 1 in a race, {812 - len(sample)} "
          f"through the service, all 812 refused the second time ({time.perf_counter() - started:.2f} s)")
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SigninLink).where(SigninLink.used_at.is_(None))) == 0
        assert session.scalar(select(func.count()).select_from(User).where(User.password_hash.is_not(None))) == 9
