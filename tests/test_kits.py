"""The public kits (issue 14): what `grader fetch` downloads and `grader check` runs on a student's machine.

A kit leaks nothing (no byte of a reference, a catalogue or a hidden test's configuration: checked on every
assignment of the repository and with canaries planted in a course folder), needs a login, is 404 for
students while its assignment is unpublished, is versioned by its content, is verified when read, and its
checks give the same verdicts as the server's public tests on the same seed.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import threading
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from conftest import SUBMISSIONS, fixture_files
from grader import kits
from grader.cli import main
from service_fixtures import ROOT, People, free_port, make_app, make_course
from worker.assignments import get_assignment, list_assignment_ids, load_assignment_dir
from worker.engine import grade
from worker.sandbox import SubprocessLauncher


def _texts(kit: kits.Kit) -> str:
    return "\n".join(data.decode("utf-8") for data in kit.files.values())


def _fetch(client: Any, headers: dict[str, str], aid: str) -> kits.Kit:
    response = client.get(f"/api/v1/assignments/{aid}/kit", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/zip"
    kit = kits.read_kit(response.data, aid)
    assert response.headers["X-Kit-Version"] == kit.version and response.headers["ETag"] == f'"{kit.version}"'
    return kit


def _public_sources(folder: Path) -> str:
    """Everything a student may see anyway: the starter and provided files, and the check library."""
    paths = [*folder.glob("starter/**/*.py"), *folder.glob("provided/**/*.py"), *(ROOT / "worker").rglob("*.py")]
    return "\n".join(p.read_text(encoding="utf-8") for p in paths)


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, People, Path]]:
    """An app on a copy of the repository's assignments, plus `draft` (unpublished) and `canary` (svm with
    a marker planted in its reference, catalogue, hidden tests, policy and a hidden-only check)."""
    root = tmp_path_factory.mktemp("kits")
    folder = make_course(root / "course", assignments=tuple(list_assignment_ids()))
    shutil.copytree(folder / "svm", folder / "draft")
    toml = (folder / "draft" / "assignment.toml").read_text()
    (folder / "draft" / "assignment.toml").write_text("published = false\n" + toml)
    canary = folder / "canary"
    shutil.copytree(folder / "svm", canary)
    (canary / "reference.py").write_text((canary / "reference.py").read_text() + "\nCANARY_REF = 'kit-canary-ref'\n")
    (canary / "catalog.py").write_text((canary / "catalog.py").read_text() + "\nCANARY_CAT = 'kit-canary-cat'\n")
    (canary / "tests.py").write_text((canary / "tests.py").read_text() + (
        "\n\ndef hidden_canary_check(ctx):\n    return ctx.reference  # 'kit-canary-check'\n"))
    toml = (canary / "assignment.toml").read_text().replace(
        "[policy]\n", "[policy]\nmax_submissions_per_hour = 7  # kit-canary-policy\n", 1)
    toml = toml.replace("max_submissions_per_hour = 10\n", "")
    toml += ('\n[[tests]]\nid = "kit_canary_hidden"\nname = "kit-canary-name"\npoints = 1\nvisibility = "hidden"\n'
             'check = "hidden_canary_check"\nparams = { secret = "kit-canary-param" }\n'
             '\n[[tests]]\nid = "kit_canary_later"\nname = "kit-canary-later"\npoints = 1\n'
             'visibility = "after_due_date"\ncheck = "large_batch"\nparams = { func = "svm_loss_vectorized", '
             'naive = "svm_loss_naive", loss = "svm", n = 4096 }\n')
    (canary / "assignment.toml").write_text(toml)
    app = make_app(root / "instance", ASSIGNMENTS_DIR=str(folder))
    people = People(app)
    people.add("alice")
    people.add("prof", role="instructor")
    people.add("tess", role="ta")
    yield app, people, folder
    app.extensions["grader"].db.engine.dispose()


def test_every_kit_holds_only_public_checks_and_no_byte_of_a_reference(course: Any, tmp_path: Path) -> None:
    app, people, folder = course
    client = app.test_client()
    for aid in list_assignment_ids(ROOT / "assignments"):
        kit = _fetch(client, people.headers("alice"), aid)
        source = ROOT / "assignments" / aid
        names = set(kit.files)
        assert not {"reference.py", "catalog.py"} & {n.rsplit("/", 1)[-1] for n in names}, names
        assert names <= {"kit.json", "assignment.toml", "tests.py"} | {
            f"{part}/{p.relative_to(source / part).as_posix()}" for part in ("starter", "provided")
            for p in (source / part).rglob("*.py")}
        text = _texts(kit)
        # Every line of the reference and the catalogue that a student cannot already see elsewhere.
        public = _public_sources(source)
        secret_lines = {line.strip() for name in ("reference.py", "catalog.py")
                        for line in (source / name).read_text().splitlines()
                        if len(line.strip()) >= 16 and line.strip() not in public}
        assert len(secret_lines) > 20, aid  # the comparison has something to find
        leaked = [line for line in secret_lines if line in text]
        assert not leaked, (aid, leaked[:5])
        # Only the public tests, with their configuration as the course wrote it; nothing of the others.
        config = tomllib.loads((source / "assignment.toml").read_text())
        shipped = tomllib.loads(kit.files["assignment.toml"].decode())
        public_tests = [t for t in config["tests"] if t.get("public")]
        assert [t["id"] for t in shipped["tests"]] == [t["id"] for t in public_tests]
        assert all(s.get("params", {}) == t.get("params", {}) for s, t in zip(shipped["tests"], public_tests))
        assert "policy" not in shipped
        for test in config["tests"]:
            if not test.get("public"):
                assert test["id"] not in text and test["name"] not in text, (aid, test["id"])
        # The kit loads as an assignment folder of its own, without a reference.
        loaded = load_assignment_dir(kits.install_kit(kit, tmp_path), aid)
        assert [t.id for t in loaded.tests] == [t["id"] for t in public_tests]
        assert all(callable(loaded.check_function(t)) for t in loaded.tests)


def test_canaries_in_references_hidden_tests_and_policy_never_reach_the_kit(course: Any) -> None:
    app, people, folder = course
    client = app.test_client()
    kit = _fetch(client, people.headers("alice"), "canary")
    raw = client.get("/api/v1/assignments/canary/kit", headers=people.headers("alice")).data
    unpacked = b"".join(zipfile.ZipFile(io.BytesIO(raw)).read(n) for n in zipfile.ZipFile(io.BytesIO(raw)).namelist())
    for blob in (raw, unpacked, _texts(kit).encode()):
        assert b"kit-canary" not in blob and b"kit_canary" not in blob
    # The hidden-only check function and its import are gone; the public ones are all there.
    assert "hidden_canary_check" not in _texts(kit) and "large_batch" not in _texts(kit)
    assert "grad_consistency" in kit.files["tests.py"].decode()
    # The markers really are in the course's folder (the comparison could fail).
    assert "kit-canary-param" in (folder / "canary" / "assignment.toml").read_text()


def test_a_kit_needs_a_login_and_unpublished_or_unknown_kits_are_404_for_students(course: Any) -> None:
    app, people, _ = course
    client = app.test_client()
    assert client.get("/api/v1/assignments/svm/kit").status_code == 401
    assert client.get("/api/v1/assignments/svm/kit", headers={"Authorization": "Bearer nope"}).status_code == 401
    unknown = client.get("/api/v1/assignments/nope/kit", headers=people.headers("alice"))
    assert unknown.status_code == 404 and unknown.get_json() == {"error": "unknown assignment 'nope'"}  # no 'draft'
    hidden = client.get("/api/v1/assignments/draft/kit", headers=people.headers("alice"))
    assert hidden.status_code == 404 and hidden.get_json() == {"error": "unknown assignment 'draft'"}
    assert client.head("/api/v1/assignments/draft/kit", headers=people.headers("alice")).status_code == 404
    for staff in ("prof", "tess"):
        _fetch(client, people.headers(staff), "draft")
    # The dashboard's download is the same kit, with the same rules (the session of a logged-in user).
    page = app.test_client()
    login = page.get("/login")
    assert login.status_code == 200
    csrf = login.get_data(as_text=True).split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    from service_fixtures import PASSWORD

    assert page.post("/login", data={"email": "alice@example.edu", "password": PASSWORD, "csrf_token": csrf}
                     ).status_code in (302, 303)
    assert 'href="/assignments/svm/kit.zip"' in page.get("/assignments/svm").get_data(as_text=True)
    download = page.get("/assignments/svm/kit.zip")
    assert download.status_code == 200 and kits.read_kit(download.data, "svm").version == \
        _fetch(client, people.headers("alice"), "svm").version
    assert page.get("/assignments/draft/kit.zip").status_code == 404
    assert app.test_client().get("/assignments/svm/kit.zip").status_code in (302, 303, 401)


def test_the_version_is_the_content_hash_reproducible_with_etag_and_head(course: Any) -> None:
    app, people, folder = course
    client = app.test_client()
    first = client.get("/api/v1/assignments/svm/kit", headers=people.headers("alice"))
    again = client.get("/api/v1/assignments/svm/kit", headers=people.headers("alice"))
    assert first.data == again.data  # the same bytes: sorted entries, fixed times
    assert kits.build_kit(get_assignment("svm", folder)).zip_bytes() == first.data
    version = first.headers["X-Kit-Version"]
    assert version == kits.content_hash(kits.read_kit(first.data).files)
    cached = client.get("/api/v1/assignments/svm/kit", headers={**people.headers("alice"),
                                                                 "If-None-Match": first.headers["ETag"]})
    assert cached.status_code == 304 and cached.data == b""
    head = client.head("/api/v1/assignments/svm/kit", headers=people.headers("alice"))
    assert head.status_code == 200 and head.data == b"" and head.headers["X-Kit-Version"] == version
    # Changing what students get changes the version; changing the reference or the policy does not.
    reference = folder / "svm" / "reference.py"
    reference.write_text(reference.read_text() + "\n# a comment\n")
    assert client.head("/api/v1/assignments/svm/kit", headers=people.headers("alice")).headers["X-Kit-Version"] == version
    starter = folder / "svm" / "starter" / "linear_svm.py"
    original = starter.read_bytes()
    try:
        starter.write_bytes(original + b"\n# TODO\n")
        changed = client.head("/api/v1/assignments/svm/kit", headers=people.headers("alice"))
        assert changed.headers["X-Kit-Version"] != version
    finally:
        starter.write_bytes(original)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_damaged_or_hostile_kits_are_refused_with_a_reason() -> None:
    kit = kits.build_kit(get_assignment("svm"))
    good = {f"svm/{name}": data for name, data in kit.files.items()}
    assert kits.read_kit(_zip(good), "svm").version == kit.version
    cases = {
        "not a zip": (b"PK\x03\x04 garbage", "not a zip"),
        "altered": (_zip({**good, "svm/tests.py": good["svm/tests.py"] + b"\nx = 1\n"}), "does not match its version"),
        "escape": (_zip({**good, "svm/../evil.py": b"x"}), "no kit holds"),
        "reference": (_zip({**good, "svm/reference.py": b"x"}), "no kit holds"),
        "two folders": (_zip({**good, "other/tests.py": b"x"}), "one folder"),
        "no manifest": (_zip({k: v for k, v in good.items() if k != "svm/kit.json"}), "no kit.json"),
        "absolute": (_zip({"/etc/passwd": b"x"}), "no kit holds"),
    }
    for what, (data, message) in cases.items():
        with pytest.raises(kits.KitError, match=message):
            kits.read_kit(data, "svm")
    with pytest.raises(kits.KitError, match="not 'softmax'"):
        kits.read_kit(_zip(good), "softmax")


def test_a_public_test_that_is_not_visible_cannot_be_put_in_a_kit(tmp_path: Path) -> None:
    folder = make_course(tmp_path / "course")
    toml = folder / "svm" / "assignment.toml"
    text = toml.read_text()
    start = text.index('id = "naive_loss_at_zero"')
    toml.write_text(text[:start] + text[start:].replace('visibility = "visible"', 'visibility = "hidden"', 1))
    with pytest.raises(kits.KitError, match="is public .* but 'hidden'"):
        kits.build_kit(get_assignment("svm", folder))


# --------------------------------------------------------------------------- grader fetch and grader check


@pytest.fixture(scope="module")
def live(course: Any) -> Iterator[str]:
    from werkzeug.serving import make_server

    app = course[0]
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _runner(tmp_path: Path, server: str, token: str) -> CliRunner:
    (tmp_path / "empty").mkdir(exist_ok=True)
    return CliRunner(env={"GRADER_KIT_DIR": str(tmp_path / "kits"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
                          "GRADER_SERVER": server, "GRADER_TOKEN": token, "NO_COLOR": "1",
                          # not this clone's assignments/: a student has none
                          "GRADER_ASSIGNMENTS_DIR": str(tmp_path / "empty")})


def test_fetch_never_overwrites_and_check_uses_the_fetched_kit_and_says_when_it_is_older(
        course: Any, live: str, tmp_path: Path) -> None:
    app, people, folder = course
    runner = _runner(tmp_path, live, people.tokens["alice"])
    work = tmp_path / "work"
    missing = runner.invoke(main, ["check", "svm", str(SUBMISSIONS / "svm" / "bug_half_reg.py")])
    assert missing.exit_code == 2 and "run `grader fetch svm` first" in missing.output

    fetched = runner.invoke(main, ["fetch", "svm", "--dir", str(work)])
    assert fetched.exit_code == 0, fetched.output
    starter = (folder / "svm" / "starter" / "linear_svm.py").read_bytes()
    assert (work / "linear_svm.py").read_bytes() == starter and "wrote" in fetched.output
    mine = b"# my work, not to be lost\n" + (SUBMISSIONS / "svm" / "bug_half_reg.py").read_bytes()
    (work / "linear_svm.py").write_bytes(mine)
    again = runner.invoke(main, ["fetch", "svm", "--dir", str(work)])
    assert again.exit_code == 0 and "kept" in again.output and "it exists" in again.output
    assert (work / "linear_svm.py").read_bytes() == mine

    checked = runner.invoke(main, ["check", "svm", str(work / "linear_svm.py"), "--seed", "3"])
    assert checked.exit_code == 0, checked.output
    version = kits.build_kit(get_assignment("svm", folder)).version
    assert f"kit {version[:12]} from {live}" in checked.output
    assert "0.5*reg" in checked.output and "reference" not in checked.output.lower().split("score:")[0].replace(
        "your reference", "")  # no test that needs the reference ran
    assert "newer kit" not in checked.output

    toml = folder / "svm" / "assignment.toml"
    original = toml.read_text()
    broken = tmp_path / "linear_svm.py"
    broken.write_text("def svm_loss_naive(W, X, y, reg)\n    return 0\n")  # refused before any code runs: quick
    try:  # the course changes a public test: the server's kit is newer than the fetched one
        toml.write_text(original.replace("svm_loss_naive: loss at W = 0 is C - 1", "svm_loss_naive: loss at W = 0"))
        stale = runner.invoke(main, ["check", "svm", str(broken)])
        assert stale.exit_code == 0 and "the server has a newer kit of svm" in stale.output, stale.output
        assert "line 1" in stale.output
    finally:
        toml.write_text(original)

    unknown = runner.invoke(main, ["fetch", "nope"])
    assert unknown.exit_code == 2 and "unknown assignment 'nope'" in unknown.output
    draft = runner.invoke(main, ["fetch", "draft"])
    assert draft.exit_code == 2 and "unknown assignment 'draft'" in draft.output
    logged_out = CliRunner(env={"GRADER_KIT_DIR": str(tmp_path / "kits"), "XDG_CONFIG_HOME": str(tmp_path / "c2"),
                                "GRADER_SERVER": live, "GRADER_TOKEN": ""})
    refused = logged_out.invoke(main, ["fetch", "svm"])
    assert refused.exit_code == 1 and "not logged in" in refused.output


def test_check_offline_neither_fails_nor_hangs_when_the_server_does_not_answer(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections and never answers
    server = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        kits.install_kit(kits.build_kit(get_assignment("svm")), tmp_path / "kits", server=server)
        runner = _runner(tmp_path, server, "some-token")
        broken = tmp_path / "linear_svm.py"
        broken.write_text("def svm_loss_naive(W, X, y, reg)\n    return 0\n")  # the check itself is instant
        started = time.monotonic()
        result = runner.invoke(main, ["check", "svm", str(broken)])
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert result.exit_code == 0, result.output
    assert "line 1" in result.output and "newer" not in result.output
    assert elapsed < 5, elapsed  # the question to the server gives up after 2 s
    # An altered kit folder is refused, not run.
    (tmp_path / "kits" / "svm" / "tests.py").write_text("raise SystemExit('x')\n")
    altered = runner.invoke(main, ["check", "svm", str(SUBMISSIONS / "svm" / "correct_loops.py")])
    assert altered.exit_code == 2 and "changed since it was fetched" in altered.output


def test_kit_build_writes_the_zips_check_accepts(tmp_path: Path) -> None:
    runner = CliRunner(env={"GRADER_ASSIGNMENTS_DIR": str(ROOT / "assignments")})
    built = runner.invoke(main, ["kit", "build", "svm", "softmax", "--out", str(tmp_path / "out")])
    assert built.exit_code == 0, built.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["softmax.zip", "svm.zip"]
    version = json.loads(zipfile.ZipFile(tmp_path / "out" / "svm.zip").read("svm/kit.json"))["version"]
    assert f"version {version}" in built.output
    assert kits.read_kit((tmp_path / "out" / "svm.zip").read_bytes(), "svm").version == version
    broken = tmp_path / "linear_svm.py"
    broken.write_text("def svm_loss_naive(W, X, y, reg)\n    return 0\n")
    result = _runner(tmp_path, "http://127.0.0.1:9", "").invoke(
        main, ["check", "svm", str(broken), "--kit", str(tmp_path / "out" / "svm.zip")])
    assert result.exit_code == 0 and f"kit {version[:12]})" in result.output, result.output
    wrong = _runner(tmp_path, "http://127.0.0.1:9", "").invoke(
        main, ["check", "softmax", str(SUBMISSIONS / "svm" / "bug_half_reg.py"), "--kit", str(tmp_path / "out" / "svm.zip")])
    assert wrong.exit_code == 2 and "not 'softmax'" in wrong.output


# --------------------------------------------------------------------------- the same verdicts


# A full grading (every test, the reference, the catalogue, one memo for the run) of a 2017 file and of the
# 2021+ package with its provided file. (The two-layer net's public checks give the same verdicts too, measured
# on bug_half_reg with the grading mode on its public tests: 5 s more, so not in the suite's budget.)
PARITY = [("svm", "bug_half_reg", True), ("fc_net", "bug_relu_inplace", True)]


@pytest.mark.parametrize("assignment,name,full", PARITY)
def test_the_kit_gives_the_verdicts_of_the_servers_public_tests_on_the_same_seed(
        assignment: str, name: str, full: bool, tmp_path: Path) -> None:
    import dataclasses

    course = get_assignment(assignment)
    kit = load_assignment_dir(kits.install_kit(kits.build_kit(course), tmp_path), assignment)
    files = fixture_files(assignment, name)
    launcher = SubprocessLauncher()
    graded = course if full else dataclasses.replace(course, tests=[t for t in course.tests if t.public])
    server = grade(graded, files, seed=11, mode="grade", launcher=launcher)
    offline = grade(kit, files, seed=11, mode="check", launcher=launcher)
    public = {t.id for t in course.tests if t.public}
    assert len(server["tests"]) == (len(course.tests) if full else len(public))
    expected = [(t["id"], t["status"], t["score"]) for t in server["tests"] if t["id"] in public]
    assert [(t["id"], t["status"], t["score"]) for t in offline["tests"]] == expected
    assert offline["status"] == server["status"] == "graded" and offline["mode"] == "check"
    assert any(status != "passed" for _, status, _ in expected)  # a bug the public checks catch
    # The same messages too (what the student reads), for the failed ones.
    messages = {t["id"]: t["output"] for t in server["tests"] if t["id"] in public and t["status"] != "passed"}
    assert {t["id"]: t["output"] for t in offline["tests"] if t["status"] != "passed"} == messages


def test_a_module_missing_on_the_students_machine_gets_an_install_hint_offline_only(tmp_path: Path) -> None:
    source = b"import nonexistent_module_xyz\n" + (SUBMISSIONS / "svm" / "correct_loops.py").read_bytes()
    course = get_assignment("svm")
    kit = load_assignment_dir(kits.install_kit(kits.build_kit(course), tmp_path), "svm")
    offline = grade(kit, {"linear_svm.py": source}, seed=1, mode="check", launcher=SubprocessLauncher())
    assert offline["score"] == 0 and offline["tests"]
    assert all("not installed in this Python environment" in t["output"] and
               "pip install nonexistent_module_xyz" in t["output"] for t in offline["tests"])
    # On the server the same import is a module the grader does not have, whatever the student installs.
    hint = __import__("worker.engine", fromlist=["python3_hint"]).python3_hint
    from worker.sandbox import StudentCodeError

    err = StudentCodeError("x", "ModuleNotFoundError", "No module named 'nonexistent_module_xyz'", "", "importing")
    assert "not available in the grader" in hint(err) and "not installed" in hint(err, local=True)
