"""Roster import: the course's list of people from one CSV file (issue 11).

The file has a header line and the columns ``email,name[,role][,section]`` in any order (roles:
student, ta, instructor; an empty role is student). :func:`parse` reads the whole file and collects
every problem (bad e-mail, unknown role, the same e-mail twice, missing or unknown columns, a file
that is not UTF-8, empty or too large) with its line number; :func:`apply` changes nothing unless
the file has none. An import is idempotent: a second one updates names, roles and sections, adds only
the people who are new, and reports added / updated / unchanged / dropped. With ``drop_missing``,
active students absent from the file are disabled (their submissions stay); anyone disabled who is in
the file again is enabled. New accounts get a first sign-in link (:mod:`grader.signin`). The
``grader users import`` command and the roster page both call :func:`import_roster`; everything
happens in the caller's one transaction, recorded in the audit log with the counts.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grader import audit, auth, signin
from grader.config import Settings
from grader.errors import Invalid
from grader.models import ROLES, ApiToken, User, WebSession, utcnow

MAX_BYTES = 1024 * 1024  # about 12,000 students: more than any course, less than a mistake
MAX_ROWS = 20_000
REQUIRED = ("email", "name")
COLUMNS = ("email", "name", "role", "section")
NAME_LENGTH = 200  # the columns' sizes (grader/models.py)
SECTION_LENGTH = 100


@dataclass(frozen=True)
class RosterRow:
    line: int
    email: str
    name: str
    role: str
    section: str


@dataclass(frozen=True)
class RowError:
    line: int  # 0: the file as a whole
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


class RosterInvalid(Invalid):
    """The file cannot be imported; ``errors`` lists every problem, each with its line."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        n = len(errors)
        super().__init__(f"the roster was not imported ({n} problem{'s' if n != 1 else ''}); nothing changed")


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # disabled: students absent from the file
    enabled: list[str] = field(default_factory=list)  # disabled before, in the file again (also in updated)
    role_changes: list[dict[str, str]] = field(default_factory=list)
    links: list[signin.IssuedLink] = field(default_factory=list)
    rows: int = 0

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "dropped": len(self.dropped)}

    def summary(self) -> str:
        """One line, the same from the CLI and the page: ``added 3, updated 1, unchanged 40, dropped 0``."""
        return ", ".join(f"{k} {v}" for k, v in self.counts().items())


# --------------------------------------------------------------------------- reading the file


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RosterInvalid([RowError(0, "the file is UTF-16 (Excel's \"Unicode Text\"): save it as "
                                         "\"CSV UTF-8 (Comma delimited)\" instead")])
    if data.startswith(b"\xef\xbb\xbf"):  # Excel's "CSV UTF-8" starts with a byte order mark
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise RosterInvalid([RowError(line, f"this line is not UTF-8 (byte 0x{data[exc.start]:02x}); save the "
                                            "file as \"CSV UTF-8\"")]) from None


def _clean(value: str) -> str:
    return " ".join(value.split())  # surrounding blanks, doubled spaces and stray tabs from a spreadsheet


def parse(data: bytes) -> list[RosterRow]:
    """Every row of a roster file, or :class:`RosterInvalid` listing every problem with its line number."""
    if len(data) > MAX_BYTES:
        raise RosterInvalid([RowError(0, f"the file is {len(data):,} bytes; a roster may be at most "
                                         f"{MAX_BYTES // (1024 * 1024)} MiB")])
    text = _decode(data)
    if "\x00" in text:
        raise RosterInvalid([RowError(0, "the file has NUL bytes: it is not a CSV file")])
    if not text.strip():
        raise RosterInvalid([RowError(0, "the file is empty: it needs the header line email,name[,role][,section] "
                                         "and one line per person")])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[RowError] = []
    try:
        header = next(reader)
    except csv.Error as exc:
        raise RosterInvalid([RowError(1, f"the header line cannot be read as CSV: {exc}")]) from None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in COLUMNS]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if missing or unknown or repeated:
        problems = []
        if missing:
            problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column{'s' if len(unknown) > 1 else ''} "
                            + ", ".join(repr(h) for h in unknown))
        if repeated:
            problems.append(f"column{'s' if len(repeated) > 1 else ''} {', '.join(repeated)} given twice")
        hint = "the first line must be the header email,name[,role][,section]"
        if any("@" in h for h in columns):
            hint += " (this one looks like a person's line)"
        raise RosterInvalid([RowError(1, "; ".join(problems) + f": {hint}")])
    index = {c: columns.index(c) for c in COLUMNS if c in columns}

    rows: list[RosterRow] = []
    seen: dict[str, int] = {}
    line = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(line, f"cannot be read as CSV: {exc}"))
            break  # the reader cannot go on after a broken quote
        start, line = line, reader.line_num + 1
        if not any(value.strip() for value in record):
            continue  # a blank line, or a spreadsheet's empty ",,,"
        if len(rows) + len(errors) >= MAX_ROWS:
            errors.append(RowError(start, f"more than {MAX_ROWS:,} people in one file"))
            break
        if len(record) > len(columns) and any(v.strip() for v in record[len(columns):]):
            errors.append(RowError(start, f"{len(record)} fields, but the header has {len(columns)} "
                                          "(a name with a comma must be in double quotes)"))
            continue
        value = {c: (record[i] if i < len(record) else "") for c, i in index.items()}
        reasons = []
        raw_email = value["email"].strip()
        email = ""
        if not raw_email:
            reasons.append("the email is empty")
        else:
            try:
                email = auth.normalize_email(raw_email)
            except Invalid:
                reasons.append(f"{raw_email[:100]!r} is not an email address")
        name = _clean(value["name"])
        if not name:
            reasons.append("the name is empty")
        elif len(name) > NAME_LENGTH:
            reasons.append(f"the name is longer than {NAME_LENGTH} characters")
        role = value.get("role", "").strip().lower() or "student"
        if role not in ROLES:
            reasons.append(f"unknown role {value['role'].strip()[:50]!r} (the roles are {', '.join(ROLES)})")
        section = _clean(value.get("section", ""))
        if len(section) > SECTION_LENGTH:
            reasons.append(f"the section is longer than {SECTION_LENGTH} characters")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in name + section):
            reasons.append("control characters in the name or the section")
        if email:
            if email in seen:
                reasons.append(f"{email} is already on line {seen[email]}")
            else:
                seen[email] = start
        if reasons:
            errors.append(RowError(start, "; ".join(reasons)))
        else:
            rows.append(RosterRow(start, email, name, role, section))
    if errors:
        raise RosterInvalid(errors)
    if not rows:
        raise RosterInvalid([RowError(0, "the file has a header but nobody in it")])
    return rows


# --------------------------------------------------------------------------- applying it


def apply(session: Session, settings: Settings, rows: list[RosterRow], *, actor: User | str,
          drop_missing: bool = False, relink: bool = False, now: datetime | None = None) -> ImportResult:
    """Make the users match ``rows`` (flushed, not committed: the caller commits it all, or rolls it all back).

    New users get a first sign-in link; with ``relink``, so does everyone in the file who has no password yet
    (their older links stop working). Nobody's password or submissions are touched.
    """
    now = now or utcnow()
    result = ImportResult(rows=len(rows))
    actor_user = actor if isinstance(actor, User) else None
    emails = [r.email for r in rows]
    # Every user at once: one plain query (a course has thousands at most), and the students to drop are among them.
    everyone = list(session.scalars(select(User)))
    existing = {user.email: user for user in everyone}
    if actor_user is not None:
        mine = next((r for r in rows if r.email == actor_user.email), None)
        if mine is not None and mine.role != actor_user.role:
            raise RosterInvalid([RowError(mine.line, f"this is you: the file would make you {mine.role}; "
                                                     "ask another instructor to change your role")])
    new_users: list[User] = []
    link_users: list[User] = []
    for row in rows:
        user = existing.get(row.email)
        if user is None:
            user = User(email=row.email, name=row.name, role=row.role, section=row.section, password_hash=None,
                        failed_logins=0, created_at=now)
            new_users.append(user)
            result.added.append(row.email)
            continue
        changed = False
        if user.role != row.role:
            result.role_changes.append({"email": row.email, "from": user.role, "to": row.role})
            user.role = row.role
            changed = True
        if user.name != row.name or (user.section or "") != row.section:
            user.name, user.section = row.name, row.section
            changed = True
        if user.disabled_at is not None:
            user.disabled_at = None
            result.enabled.append(row.email)
            changed = True
        (result.updated if changed else result.unchanged).append(row.email)
        if relink and user.password_hash is None:
            link_users.append(user)
    _keep_an_instructor(everyone, new_users, rows, result)
    session.add_all(new_users)
    session.flush()
    if drop_missing:
        listed = set(emails)
        dropped = [u for u in everyone if u.role == "student" and u.disabled_at is None and u.email not in listed]
        for user in dropped:
            user.disabled_at = now
        ids = [u.id for u in dropped]
        for start in range(0, len(ids), 1000):  # their sessions and tokens end now, as `users disable` does
            chunk = ids[start:start + 1000]
            for table in (ApiToken, WebSession):
                session.execute(update(table).where(table.user_id.in_(chunk), table.revoked_at.is_(None))
                                .values(revoked_at=now).execution_options(synchronize_session=False))
        result.dropped = sorted(u.email for u in dropped)
    result.links = signin.issue(session, new_users + link_users, purpose="first",
                                valid_for=signin.lifetime(settings, "first"), created_by=actor_user, now=now)
    audit.record(session, actor, "roster.import", f"{len(rows)} people", at=now, **result.counts(),
                 links=len(result.links), drop_missing=drop_missing, relink=relink,
                 added_emails=result.added, updated_emails=result.updated, dropped_emails=result.dropped,
                 enabled_emails=result.enabled, role_changes=result.role_changes)
    # The changes the audit log lists one by one wherever they are made (grader/roles.py) get their own entries.
    for change in result.role_changes:
        audit.record(session, actor, "role.change", change["email"], at=now, old=change["from"], new=change["to"],
                     via="roster import")
    for email in result.dropped:
        audit.record(session, actor, "user.disable", email, at=now, via="roster import (not in the file)")
    for email in result.enabled:
        audit.record(session, actor, "user.enable", email, at=now, via="roster import")
    session.flush()
    return result


def _keep_an_instructor(everyone: list[User], new_users: list[User], rows: list[RosterRow],
                        result: ImportResult) -> None:
    """Refuse a file that demotes the last instructor who can log in (as grader/roles.py refuses it)."""
    demoted = [c["email"] for c in result.role_changes if c["from"] == "instructor"]
    if not demoted or any(u.role == "instructor" and u.disabled_at is None for u in everyone + new_users):
        return
    line = {r.email: r.line for r in rows}
    raise RosterInvalid([RowError(line[email], f"{email} is the last instructor who can log in: the course would "
                                               "have nobody to manage it") for email in demoted])


def import_roster(session: Session, settings: Settings, data: bytes, *, actor: User | str,
                  drop_missing: bool = False, relink: bool = False, now: datetime | None = None) -> ImportResult:
    """:func:`parse` then :func:`apply` (not committed)."""
    return apply(session, settings, parse(data), actor=actor, drop_missing=drop_missing, relink=relink, now=now)


def links_csv(links: list[signin.IssuedLink], base_url: str) -> str:
    """The links to hand out, one line per person (for a mail merge): ``email,name,role,section,link,expires_at``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "role", "section", "link", "expires_at"])
    for link in links:
        u = link.user
        writer.writerow([u.email, _safe_cell(u.name), u.role, _safe_cell(u.section or ""), link.url(base_url),
                         link.expires_at.isoformat(timespec="seconds")])
    return out.getvalue()


def _safe_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (=, +, -, @ at the start)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
