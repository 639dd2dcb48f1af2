"""Running a course in a real browser (issue 11): the roster page and a sign-in link; extensions and late days.

Headless Chromium (Playwright) against the shared real server and worker of :mod:`browser_fixtures` (one
``site`` for this module). Checks are on the page itself; screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from browser_fixtures import (  # noqa: F401 - fixtures are used by name
    TIMEOUT_MS,
    Site,
    artifacts,
    browser,
    log_in,
    no_horizontal_scroll,
    shoot,
    site,
)

from grader import signin

# --------------------------------------------------------------------------- roster and sign-in links (part A)


def _page(browser: Any, **options: Any) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, **options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return context, page, errors


def test_an_instructor_imports_a_roster_and_a_student_signs_in_with_the_link(site: Site, browser: Any,
                                                                             tmp_path: Path) -> None:
    context, page, errors = _page(browser)
    log_in(page, site, "prof")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Roster").click()
    page.wait_for_url(site.url("/instructor/roster"))
    assert page.get_by_role("heading", name="Import a roster").is_visible()

    # A file with mistakes first: nothing is imported, and every bad line is listed with its number.
    bad = tmp_path / "roster-with-mistakes.csv"
    bad.write_text("email,name,role,section\nnew1@example.edu,Nia Newton,,A\nnew1@example.edu,Nia Again,,A\n"
                   "nobody-at-example.edu,No Body,,A\nnew2@example.edu,Ned,professor,B\n", encoding="utf-8")
    page.get_by_label("Roster file (CSV)").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    page.wait_for_load_state()
    alert = page.locator("#roster-errors")
    assert "Nothing was imported from roster-with-mistakes.csv" in alert.inner_text()
    rows = page.locator("#roster-error-rows tbody tr").all_inner_texts()
    assert [r.split("\t")[0] for r in rows] == ["3", "4", "5"], rows
    assert "already on line 2" in rows[0] and "not an email address" in rows[1] and "unknown role" in rows[2]
    shoot(page, "roster-errors")
    assert errors == ["Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]
    errors.clear()  # the refused file's page is a 400, on purpose

    # The corrected file, as Excel saves it (UTF-8 with a byte order mark, CRLF).
    good = tmp_path / "roster.csv"
    good.write_bytes("\ufeffemail,name,role,section\r\nnew1@example.edu,Nia Newton,,A\r\n"
                     "new2@example.edu,Ned Ng,ta,B\r\nalice@example.edu,Alice,,A\r\n".encode("utf-8"))
    page.get_by_label("Roster file (CSV)").set_input_files(str(good))
    page.get_by_role("button", name="Import").click()
    page.wait_for_load_state()
    assert "added 2, updated 1, unchanged 0, dropped 0" in page.locator("#roster-result").inner_text()
    counts = dict(zip(page.locator("#roster-counts dt").all_inner_texts(),
                      page.locator("#roster-counts dd").all_inner_texts()))
    assert {k.lower(): v for k, v in counts.items()} == {"added": "2", "updated": "1", "unchanged": "0",
                                                         "dropped": "0"}
    assert no_horizontal_scroll(page)
    shoot(page, "roster-imported")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the sign-in links (CSV)").click()
    assert download.value.suggested_filename == "signin-links.csv"
    links = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [(r["email"], r["role"], r["section"]) for r in links] == [("new1@example.edu", "student", "A"),
                                                                      ("new2@example.edu", "ta", "B")]
    link = links[0]["link"]
    assert link.startswith(site.url("/signin/sl_"))
    page.goto(site.url("/instructor/roster"))  # the links are shown once: a new visit to the page has none
    assert page.locator("#links-download").count() == 0
    assert errors == []
    context.close()

    # Nia opens her link in her own browser, sets her password and is signed in.
    context, page, errors = _page(browser)
    page.goto(link)
    assert page.get_by_role("heading", name="Welcome: set your password").is_visible()
    assert page.locator("#signin-email").inner_text() == "new1@example.edu"
    shoot(page, "signin-link")
    page.get_by_label("New password (at least 8 characters)").fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_load_state()
    assert "at least 8 characters" in page.locator("#signin-error").inner_text()  # the link is still usable
    page.get_by_label("New password (at least 8 characters)").fill("nia's new password")
    page.get_by_label("New password again").fill("nia's new password")
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_url(site.url("/assignments"))
    assert "Your password is set and you are signed in" in page.locator(".flash").inner_text()
    assert page.get_by_role("link", name="Nia Newton").is_visible()
    shoot(page, "signin-done", full_page=False)
    # The same link again: refused, with the one message that says nothing about the account.
    page.goto(link)
    assert page.get_by_role("heading", name="This link cannot be used").is_visible()
    assert signin.UNUSABLE in page.locator("#signin-unusable").inner_text()
    shoot(page, "signin-link-used", full_page=False)
    # Only the two answers meant to be errors: the short password (400) and the used link (404).
    assert errors == [f"Failed to load resource: the server responded with a status of {code}"
                      for code in ("400 (BAD REQUEST)", "404 (NOT FOUND)")]
    context.close()

    # She forgot the password: the login page sends her to the staff, who make a reset link on the users page.
    context, page, errors = _page(browser)
    page.goto(site.url("/login"))
    assert "Ask the course staff for a sign-in link" in page.locator("#forgot-password").inner_text()
    log_in(page, site, "prof")
    page.goto(site.url("/instructor/users?q=new1"))
    page.get_by_role("button", name="Sign-in link").click()
    page.wait_for_load_state()
    reset = page.locator("#signin-link").inner_text()
    assert reset.startswith(site.url("/signin/sl_")) and reset != link
    shoot(page, "signin-reset-link", full_page=False)
    context.close()
    context, page, errors = _page(browser)
    page.goto(reset)
    assert page.get_by_role("heading", name="Set a new password").is_visible()
    context.close()
