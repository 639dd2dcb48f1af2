"""Whole-assignment archives and notebooks (issue 12, items 1 and 2), through the API on the test client.

The archives a student makes (the 2017 folder zip, the 2021+ a1_code_submission.zip) are found, ignored
and missing as they should be; every hostile archive gets its own 4xx and leaves nothing behind; a notebook
uploaded instead of its .py file is refused with the file to upload, and counts against no limit.
"""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile
from typing import Any

import pytest
from service_fixtures import SUBMISSIONS, People, make_app, make_course, svm_file, upload

from grader import archives
from grader.models import Submission

COURSE = ("svm", "softmax", "two_layer_net")
SVM = svm_file("correct_loops")
SOFTMAX = (SUBMISSIONS / "softmax" / "correct_logsumexp.py").read_bytes()
NET = (SUBMISSIONS / "two_layer_net" / "correct_canonical.py").read_bytes()
NOTEBOOK = json.dumps({"cells": [{"cell_type": "code", "source": ["x = None\n"], "outputs": [],
                                  "execution_count": None, "metadata": {}}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 2}, indent=1).encode()


def zip_of(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def folder_zip_2017(top: str = "assignment1/") -> bytes:
    """What `zip -r assignment1.zip . -x ...` makes of the 2017 folder (the datasets excluded)."""
    files = {f"{top}{nb}.ipynb": NOTEBOOK for nb in ("knn", "svm", "softmax", "two_layer_net", "features")}
    files.update({
        f"{top}cs231n/__init__.py": b"",
        f"{top}cs231n/classifiers/__init__.py": b"from cs231n.classifiers.k_nearest_neighbor import *\n",
        f"{top}cs231n/classifiers/linear_svm.py": SVM,
        f"{top}cs231n/classifiers/softmax.py": SOFTMAX,
        f"{top}cs231n/classifiers/neural_net.py": NET,
        f"{top}cs231n/classifiers/k_nearest_neighbor.py": b"class KNearestNeighbor(object):\n    pass\n",
        f"{top}cs231n/classifiers/linear_classifier.py": b"class LinearClassifier(object):\n    pass\n",
        f"{top}cs231n/data_utils.py": b"def load_CIFAR10(root):\n    pass\n",
        f"{top}cs231n/gradient_check.py": b"def grad_check_sparse():\n    pass\n",
        f"{top}cs231n/vis_utils.py": b"",
        f"{top}frameworkpython": b"#!/bin/bash\n",
        f"{top}setup_googlecloud.sh": b"#!/bin/bash\n",
        f"__MACOSX/{top}cs231n/classifiers/._linear_svm.py": b"\x00\x05\x16\x07 resource fork",
    })
    return zip_of(files)


def code_submission_2021() -> bytes:
    """collectSubmission.sh of 2021+: a fixed list of paths, flat at the top."""
    files = {f"{nb}.ipynb": NOTEBOOK for nb in ("knn", "svm", "softmax", "two_layer_net", "features")}
    files.update({
        "cs231n/classifiers/k_nearest_neighbor.py": b"class KNearestNeighbor(object):\n    pass\n",
        "cs231n/classifiers/linear_classifier.py": b"class LinearClassifier(object):\n    pass\n",
        "cs231n/classifiers/linear_svm.py": SVM,
        "cs231n/classifiers/softmax.py": SOFTMAX,
        "cs231n/classifiers/fc_net.py": b"class TwoLayerNet(object):\n    pass\n",
        "cs231n/layers.py": b"def affine_forward(x, w, b):\n    pass\n",
        "cs231n/optim.py": b"def sgd(w, dw, config=None):\n    pass\n",
        "cs231n/solver.py": b"class Solver(object):\n    pass\n",
    })
    return zip_of(files)


@pytest.fixture
def course_app(tmp_path: Any) -> Any:
    course = make_course(tmp_path / "course", "max_submissions_per_hour = 3", COURSE)
    app = make_app(tmp_path / "instance", ASSIGNMENTS_DIR=str(course), MAX_REJECTED_UPLOADS_PER_HOUR=2)
    yield app
    app.extensions["grader"].db.engine.dispose()


@pytest.fixture
def course_people(course_app: Any) -> People:
    people = People(course_app)
    people.add("alice")
    people.add("prof", role="instructor")
    return people


def post_archive(client: Any, headers: dict[str, str], data: bytes, filename: str = "assignment1.zip",
                 query: str = "") -> Any:
    return client.post("/api/v1/submissions" + query, headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), filename)})


def rows(app: Any) -> list[Submission]:
    with app.extensions["grader"].db.session() as session:
        return list(session.query(Submission).order_by(Submission.id))


def stored_files(app: Any, sid: int) -> dict[str, bytes]:
    with app.extensions["grader"].db.session() as session:
        return {f.filename: f.content for f in session.get(Submission, sid).files}


# --------------------------------------------------------------------------- the archives students make


def test_the_2017_folder_zip_makes_one_submission_per_assignment(course_app, course_people):
    client = course_app.test_client()
    answer = post_archive(client, course_people.headers("alice"), folder_zip_2017())
    assert answer.status_code == 202, answer.json
    body = answer.json
    assert [s["assignment"] for s in body["submissions"]] == ["softmax", "svm", "two_layer_net"]
    assert all(s["status"] == "queued" and s["url"].endswith(f"/api/v1/submissions/{s['id']}")
               for s in body["submissions"])
    assert body["missing"] == []
    by_assignment = {s["assignment"]: s for s in body["submissions"]}
    assert by_assignment["svm"]["files"] == {"assignment1/cs231n/classifiers/linear_svm.py": "linear_svm.py"}
    ignored = {i["path"]: i["reason"] for i in body["ignored"]}
    assert "assignment1/svm.ipynb" in ignored and "notebook" in ignored["assignment1/svm.ipynb"]
    assert "assignment1/cs231n/classifiers/k_nearest_neighbor.py" in ignored
    assert not any(p.startswith("__MACOSX") for p in ignored)  # resource forks are not even mentioned
    # Each submission is exactly a single upload of its file: same name, same bytes.
    assert stored_files(course_app, by_assignment["svm"]["id"]) == {"linear_svm.py": SVM}
    assert stored_files(course_app, by_assignment["two_layer_net"]["id"]) == {"neural_net.py": NET}
    single = upload(client, course_people.headers("alice"), files=[("linear_svm.py", SVM)])
    assert single.status_code == 202
    svm_rows = [r for r in rows(course_app) if r.assignment_id == "svm"]
    assert [(r.status, r.user_id) for r in svm_rows] == [("queued", course_people.ids["alice"])] * 2


def test_the_archive_answer_has_the_shape_of_the_contract(course_app, course_people):
    """DESIGN.md: 202 {"submissions": [{"id", "assignment", "status", "url"}], "ignored": [...], "missing": [...]}.
    The only additions are documented in the README: each submission's "files" (archive path -> stored name), and
    "warning" while no worker is running (none is here)."""
    answer = post_archive(course_app.test_client(), course_people.headers("alice"), code_submission_2021(),
                          "a1_code_submission.zip")
    assert answer.status_code == 202 and answer.mimetype == "application/json"
    body = answer.json
    assert set(body) == {"submissions", "ignored", "missing", "warning"}, body
    assert "no grading worker is running" in body["warning"]
    assert len(body["submissions"]) == 2
    for sub in body["submissions"]:
        assert set(sub) == {"id", "assignment", "status", "url", "files"}, sub
        assert isinstance(sub["id"], int) and sub["status"] == "queued"
        assert sub["url"] == f"http://localhost/api/v1/submissions/{sub['id']}"
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in sub["files"].items())
    assert {row.id for row in rows(course_app)} == {sub["id"] for sub in body["submissions"]}
    assert all(set(item) == {"path", "reason"} for item in body["ignored"]) and len(body["ignored"]) == 11
    assert body["missing"] == [{"assignment": "two_layer_net", "files": ["neural_net.py"]}]


def test_the_2021_code_submission_finds_the_assignments_that_exist_here(course_app, course_people):
    answer = post_archive(course_app.test_client(), course_people.headers("alice"), code_submission_2021(),
                          "a1_code_submission.zip")
    assert answer.status_code == 202, answer.json
    assert sorted(s["assignment"] for s in answer.json["submissions"]) == ["softmax", "svm"]
    assert answer.json["missing"] == [{"assignment": "two_layer_net", "files": ["neural_net.py"]}]
    ignored = {i["path"] for i in answer.json["ignored"]}
    assert {"cs231n/classifiers/fc_net.py", "cs231n/layers.py", "two_layer_net.ipynb"} <= ignored


def test_an_archive_counts_against_each_assignments_limit_all_or_nothing(course_app, course_people):
    client = course_app.test_client()
    headers = course_people.headers("alice")
    for _ in range(3):
        assert upload(client, headers, files=[("linear_svm.py", SVM)]).status_code == 202
    refused = post_archive(client, headers, folder_zip_2017())
    assert refused.status_code == 429 and "svm" in refused.json["error"], refused.json
    assert len(rows(course_app)) == 3  # softmax and two_layer_net were not submitted either
    # The instructor is not limited.
    assert post_archive(client, course_people.headers("prof"), folder_zip_2017()).status_code == 202


def test_an_archive_with_an_ungradable_file_submits_nothing(course_app, course_people):
    bad = zip_of({"cs231n/classifiers/linear_svm.py": SVM,
                  "cs231n/classifiers/softmax.py": b"def softmax_loss_naive(W, X, y, reg)\n    pass\n"})
    answer = post_archive(course_app.test_client(), course_people.headers("alice"), bad)
    assert answer.status_code == 400 and answer.json["error"].startswith("softmax (cs231n/classifiers/softmax.py)")
    assert "SyntaxError" in answer.json["error"] and "nothing in the archive was submitted" in answer.json["error"]
    assert rows(course_app) == []


def test_two_equally_good_copies_of_a_file_are_ambiguous(course_app, course_people):
    twice = zip_of({"a/cs231n/classifiers/linear_svm.py": SVM, "b/cs231n/classifiers/linear_svm.py": SVM})
    answer = post_archive(course_app.test_client(), course_people.headers("alice"), twice)
    assert answer.status_code == 400 and "could be svm's linear_svm.py" in answer.json["error"]
    # cs231n/classifiers/ is preferred over a stray copy elsewhere.
    preferred = zip_of({"cs231n/classifiers/linear_svm.py": SVM, "old/linear_svm.py": b"broken("})
    answer = post_archive(course_app.test_client(), course_people.headers("alice"), preferred)
    assert answer.status_code == 202 and answer.json["ignored"] == [
        {"path": "old/linear_svm.py", "reason": "not a file of any assignment here"}]


def test_an_archive_of_notebooks_only_submits_nothing_and_says_what_it_looked_for(course_app, course_people):
    answer = post_archive(course_app.test_client(), course_people.headers("alice"),
                          zip_of({"svm.ipynb": NOTEBOOK, "cs231n/classifiers/linear_svm.py": NOTEBOOK}))
    assert answer.status_code == 400, answer.json
    assert "holds no file of any assignment" in answer.json["error"] and "linear_svm.py" in answer.json["error"]
    assert rows(course_app) == []


def test_a_py_file_that_is_a_notebook_inside_an_archive_is_ignored(course_app, course_people):
    answer = post_archive(course_app.test_client(), course_people.headers("alice"),
                          zip_of({"cs231n/classifiers/linear_svm.py": NOTEBOOK, "cs231n/classifiers/softmax.py": SOFTMAX}))
    assert answer.status_code == 202
    assert [s["assignment"] for s in answer.json["submissions"]] == ["softmax"]
    assert {"assignment": "svm", "files": ["linear_svm.py"]} in answer.json["missing"]
    reasons = {i["path"]: i["reason"] for i in answer.json["ignored"]}
    assert "notebook JSON" in reasons["cs231n/classifiers/linear_svm.py"]


# --------------------------------------------------------------------------- hostile archives


def _entry(name: str, mode: int, data: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("cs231n/classifiers/linear_svm.py", SVM)
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = mode << 16
        zf.writestr(info, data)
    return buffer.getvalue()


def _duplicate() -> bytes:
    buffer = io.BytesIO()
    with pytest.warns(UserWarning), zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("cs231n/classifiers/linear_svm.py", SVM)
        zf.writestr("cs231n/classifiers/linear_svm.py", b"import os\n")
    return buffer.getvalue()


def _many(n: int) -> bytes:
    return zip_of({f"f{i}.txt": b"" for i in range(n)} | {"cs231n/classifiers/linear_svm.py": SVM})


def _zeros(name: str, size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cs231n/classifiers/linear_svm.py", SVM)
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as member:
            chunk = bytes(1024 * 1024)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return buffer.getvalue()


def _lying_header() -> bytes:
    """linear_svm.py is 600 KiB (over the 512 KiB cap) but both its headers say 1,000 bytes."""
    big = b"#" * (600 * 1024) + b"\n" + SVM
    data = bytearray(zip_of({"cs231n/classifiers/linear_svm.py": big}))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature)
        assert struct.unpack_from("<I", data, at + offset)[0] == len(big)
        struct.pack_into("<I", data, at + offset, 1000)
    return bytes(data)


def _encrypted() -> bytes:
    """linear_svm.py with the 'encrypted' flag set in both its headers (zipfile cannot write encrypted entries)."""
    data = bytearray(zip_of({"cs231n/classifiers/linear_svm.py": SVM}))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature)
        struct.pack_into("<H", data, at + offset, struct.unpack_from("<H", data, at + offset)[0] | 0x1)
    return bytes(data)


HOSTILE = {
    "absolute path": (lambda: zip_of({"/etc/cron.d/linear_svm.py": SVM}), 400, "an absolute path"),
    "windows drive": (lambda: zip_of({"C:/work/cs231n/classifiers/linear_svm.py": SVM}), 400, "an absolute path"),
    "dot-dot": (lambda: zip_of({"../../cs231n/classifiers/linear_svm.py": SVM}), 400, "'..' in its path"),
    "dot-dot backslash": (lambda: zip_of({"a\\..\\..\\linear_svm.py": SVM}), 400, "'..' in its path"),
    "symlink": (lambda: _entry("cs231n/layers.py", stat.S_IFLNK | 0o777, b"/etc/passwd"), 400, "is a symlink"),
    "character device": (lambda: _entry("dev/zero", stat.S_IFCHR | 0o666), 400, "is a device"),
    "fifo": (lambda: _entry("pipe", stat.S_IFIFO | 0o644), 400, "is a FIFO"),
    "block device": (lambda: _entry("dev/sda", stat.S_IFBLK | 0o660), 400, "is a device"),
    "socket": (lambda: _entry("run/sock", stat.S_IFSOCK | 0o777), 400, "is a socket"),
    "too deep": (lambda: zip_of({"a/" * 40 + "linear_svm.py": SVM}), 400, "more than 32 folders deep"),
    "graded file too large": (lambda: zip_of({"cs231n/classifiers/linear_svm.py": b"#" * (600 * 1024) + b"\n" + SVM}),
                              413, "classifiers/linear_svm.py is 604.4 KiB; a submitted file may be at most 512 KiB"),
    "duplicate name": (_duplicate, 400, "appears twice"),
    "control character": (lambda: zip_of({"cs231n/classifiers/linear_svm.py\x1b[2J": SVM}), 400, "control character"),
    "too many entries": (lambda: _many(archives.MAX_ENTRIES), 413, "entries; an archive may have at most"),
    "entry too large": (lambda: _zeros("big.npy", archives.MAX_MEMBER_BYTES + 1024 * 1024), 413,
                        "an entry may be at most"),
    "compression ratio": (lambda: _zeros("bomb.txt", 4 * 1024 * 1024), 413, "a zip bomb?"),
    "lying header": (_lying_header, 400, "cannot be read from the archive"),
    "encrypted": (_encrypted, 400, "is encrypted; zip the folder without a password"),
    "not a zip": (lambda: b"PK\x03\x04 definitely not a zip", 400, "not a readable zip archive"),
    "tar.gz": (lambda: b"\x1f\x8b\x08\x00" + bytes(100), 400, "upload a .zip"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_archive_is_refused_and_nothing_is_submitted(course_app, course_people, kind):
    make, status, message = HOSTILE[kind]
    answer = post_archive(course_app.test_client(), course_people.headers("alice"), make())
    assert answer.status_code == status, answer.json
    assert message in answer.json["error"], answer.json
    assert rows(course_app) == []


def test_the_total_uncompressed_size_is_capped(course_app, course_people, monkeypatch):
    monkeypatch.setattr(archives, "MAX_TOTAL_BYTES", 3 * 1024 * 1024)
    parts = {f"part{i}.bin": bytes(range(256)) * 4096 for i in range(4)}  # 1 MiB each, stored
    answer = post_archive(course_app.test_client(), course_people.headers("alice"),
                          zip_of(parts | {"cs231n/classifiers/linear_svm.py": SVM}, compression=zipfile.ZIP_STORED))
    assert answer.status_code == 413 and "add up to more than" in answer.json["error"], answer.json
    assert rows(course_app) == []


def test_an_upload_larger_than_the_archive_cap_is_refused(course_app, course_people):
    client = course_app.test_client()
    over = post_archive(client, course_people.headers("alice"), bytes(archives.MAX_ARCHIVE_BYTES + 1))
    assert over.status_code == 413 and "an archive may be at most 16 MiB" in over.json["error"]
    # Far over: refused by the request's own cap while it is read (the archive's, not the 2 MiB of a file).
    far = post_archive(client, course_people.headers("alice"), bytes(archives.MAX_ARCHIVE_BYTES + 256 * 1024))
    assert far.status_code == 413 and "larger than the limit of 16.1 MiB" in far.json["error"], far.json
    assert rows(course_app) == []


def test_hostile_archives_count_against_the_rejected_uploads_limit(course_app, course_people):
    client = course_app.test_client()
    headers = course_people.headers("alice")
    for _ in range(2):
        assert post_archive(client, headers, zip_of({"../x.py": SVM})).status_code == 400
    limited = post_archive(client, headers, folder_zip_2017())
    assert limited.status_code == 429 and "could not be graded" in limited.json["error"]


# --------------------------------------------------------------------------- notebooks instead of .py files


@pytest.mark.parametrize("name", ["svm.ipynb", "linear_svm.py"])
def test_a_notebook_is_refused_with_the_file_to_upload_and_counts_for_nothing(course_app, course_people, name):
    client = course_app.test_client()
    headers = course_people.headers("alice")
    for _ in range(4):  # more than the hourly limit (3) and the rejected-uploads limit (2)
        answer = upload(client, headers, files=[(name, NOTEBOOK)])
        assert answer.status_code == 400, answer.json
        assert "Jupyter notebook" in answer.json["error"] and "Upload linear_svm.py instead" in answer.json["error"]
        assert "does not count" in answer.json["error"]
    if name == "svm.ipynb":
        assert "cs231n/classifiers/linear_svm.py" in answer.json["error"]
    assert rows(course_app) == []
    assert upload(client, headers, files=[("linear_svm.py", SVM)]).status_code == 202


def test_a_notebook_sent_as_an_archive_is_refused_with_the_files_to_upload(course_app, course_people):
    client = course_app.test_client()
    headers = course_people.headers("alice")
    answer = post_archive(client, headers, NOTEBOOK, "svm.ipynb")
    assert answer.status_code == 400 and "Jupyter notebook" in answer.json["error"]
    # It counts against no limit, and keeps its message once the rejected-uploads limit (2) is reached.
    for _ in range(3):
        assert post_archive(client, headers, zip_of({"../x.py": SVM})).status_code in (400, 429)
    assert post_archive(client, headers, folder_zip_2017()).status_code == 429
    again = post_archive(client, headers, NOTEBOOK, "svm.ipynb")
    assert again.status_code == 400 and "svm.ipynb is a Jupyter notebook" in again.json["error"], again.json
    assert "does not count against your limits" in again.json["error"]
    assert rows(course_app) == []


def test_python_that_merely_starts_with_a_dict_is_not_a_notebook():
    assert not archives.is_notebook("linear_svm.py", b'{"a": 1}\nimport numpy as np\n')
    assert not archives.is_notebook("linear_svm.py", SVM)
    assert archives.is_notebook("linear_svm.py", b"\xef\xbb\xbf" + NOTEBOOK)
    assert archives.is_notebook("SVM.IPYNB", b"")


def test_the_course_notebooks_are_data_of_each_assignment(tmp_path):
    """Item 4: which notebook calls which files comes from assignment.toml (`notebooks`), not from the engine: both
    editions' two_layer_net.ipynb name their files, and a course folder that lists no notebook gets no hint."""
    import shutil

    from worker.assignments import AssignmentError, get_assignment, load_assignment_dir

    hints = archives.notebook_hints(get_assignment(a) for a in ("svm", "two_layer_net", "fc_net"))
    assert hints == {"svm.ipynb": ["cs231n/classifiers/linear_svm.py"],
                     "two_layer_net.ipynb": ["cs231n/classifiers/neural_net.py", "cs231n/layers.py",
                                             "cs231n/classifiers/fc_net.py"]}
    message = archives.notebook_message("Two_Layer_Net.ipynb", ["neural_net.py"], hints=hints)
    assert message.startswith("Two_Layer_Net.ipynb is a Jupyter notebook, not Python source")
    assert "Upload neural_net.py instead (Two_Layer_Net.ipynb only calls the functions you write in " \
           "cs231n/classifiers/neural_net.py / cs231n/layers.py / cs231n/classifiers/fc_net.py)." in message
    assert "only calls" not in archives.notebook_message("svm.ipynb", ["linear_svm.py"], hints={})
    assert "only calls" not in archives.notebook_message("knn.ipynb", ["linear_svm.py"], hints=hints)
    folder = tmp_path / "svm"
    shutil.copytree(archives.__file__.rsplit("/grader/", 1)[0] + "/assignments/svm", folder)
    toml = folder / "assignment.toml"
    toml.write_text(toml.read_text().replace('notebooks = ["svm.ipynb"]', 'notebooks = ["../svm.py"]'))
    with pytest.raises(AssignmentError, match="'notebooks' must list notebook file names"):
        load_assignment_dir(folder)


# --------------------------------------------------------------------------- the web form


def page_login(app: Any, name: str) -> Any:
    import re

    from service_fixtures import PASSWORD

    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post("/login", data={"email": f"{name}@example.edu", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 303
    return client


def form_post(client: Any, url: str, page: str, filename: str, data: bytes) -> Any:
    import re

    html = client.get(page).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    return client.post(url, data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def test_the_web_form_takes_an_archive_and_says_what_it_found_ignored_and_missed(course_app, course_people):
    client = page_login(course_app, "alice")
    answer = form_post(client, "/submissions/archive", "/assignments", "a1_code_submission.zip",
                       code_submission_2021())
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/submissions")
    html = client.get("/submissions").get_data(as_text=True)
    ids = {s.assignment_id: s.id for s in rows(course_app)}
    assert set(ids) == {"svm", "softmax"}
    assert f"#{ids['svm']} svm (cs231n/classifiers/linear_svm.py)" in html
    assert "Not in the archive, so not submitted: two_layer_net (no neural_net.py)." in html
    assert "Ignored 11 files" in html and "knn.ipynb" in html and "and 3 more" in html


def test_the_web_form_refuses_a_hostile_archive_with_its_reason(course_app, course_people):
    client = page_login(course_app, "alice")
    answer = form_post(client, "/submissions/archive", "/assignments", "assignment1.zip",
                       _entry("cs231n/layers.py", stat.S_IFLNK | 0o777, b"/etc/passwd"))
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert 'id="archive-error"' in html and "is a symlink, not a regular file; nothing was submitted" in html
    assert rows(course_app) == []


def test_the_web_form_takes_an_archive_larger_than_the_file_cap(course_app, course_people):
    """3 MiB of notebook plots (incompressible) with the code: over the 2 MiB request cap of single files."""
    import os

    files = {"cs231n/classifiers/linear_svm.py": SVM, "features.ipynb": os.urandom(3 * 1024 * 1024)}
    client = page_login(course_app, "alice")
    answer = form_post(client, "/submissions/archive", "/assignments", "assignment1.zip", zip_of(files))
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    assert [r.assignment_id for r in rows(course_app)] == ["svm"]


def test_the_single_file_form_refuses_a_notebook_naming_the_file_to_upload(course_app, course_people):
    client = page_login(course_app, "alice")
    # More than the hourly limit (3) and the rejected-uploads limit (2): a notebook counts against neither.
    for name in ("svm.ipynb", "linear_svm.py", "svm.ipynb", "linear_svm.py"):
        answer = form_post(client, "/assignments/svm/submissions", "/assignments/svm", name, NOTEBOOK)
        assert answer.status_code == 400, (name, answer.status_code)
        html = answer.get_data(as_text=True)
        assert f"{name} {'is a Jupyter notebook' if name.endswith('.ipynb') else 'contains a Jupyter notebook'}" in html
        assert "Upload linear_svm.py instead" in html and "does not count against your limits" in html
    assert rows(course_app) == []
    answer = form_post(client, "/assignments/svm/submissions", "/assignments/svm", "linear_svm.py", SVM)
    assert answer.status_code == 303 and [r.assignment_id for r in rows(course_app)] == ["svm"]


def test_only_a_logged_in_user_may_send_a_large_archive_to_the_web_form(course_app, course_people):
    big = {"file": (io.BytesIO(bytes(3 * 1024 * 1024)), "assignment1.zip")}
    anonymous = course_app.test_client().post("/submissions/archive", data=big, content_type="multipart/form-data")
    assert anonymous.status_code == 413  # the 2 MiB cap of any request, before the CSRF check reads the form


def test_an_assignment_with_paths_in_its_files_is_matched_by_path_suffix():
    """The 2021+ convention (files = ["cs231n/layers.py", "cs231n/classifiers/fc_net.py"]): each path must end an
    archive path; an assignment with one of its files absent is missing, naming that file."""
    course = [("fc_net", ["cs231n/layers.py", "cs231n/classifiers/fc_net.py"]), ("svm", ["linear_svm.py"])]
    both = zip_of({"a1/cs231n/layers.py": b"x = 1\n", "a1/cs231n/classifiers/fc_net.py": b"y = 2\n",
                   "a1/layers.py": b"z = 3\n", "a1/cs231n/classifiers/linear_svm.py": SVM})
    plan = archives.plan(both, "a1.zip", course, 512 * 1024)
    assert [f.as_dict() for f in plan.found] == [
        {"assignment": "fc_net", "files": {"a1/cs231n/layers.py": "cs231n/layers.py",
                                           "a1/cs231n/classifiers/fc_net.py": "cs231n/classifiers/fc_net.py"}},
        {"assignment": "svm", "files": {"a1/cs231n/classifiers/linear_svm.py": "linear_svm.py"}}]
    assert plan.found[0].files == {"cs231n/layers.py": b"x = 1\n", "cs231n/classifiers/fc_net.py": b"y = 2\n"}
    assert plan.ignored == [{"path": "a1/layers.py", "reason": "not a file of any assignment here"}]
    provided = archives.plan(zip_of({"a1/cs231n/layer_utils.py": b"", "cs231n/classifiers/linear_svm.py": SVM}),
                             "a1.zip", course, 512 * 1024, provided=["cs231n/layer_utils.py"])
    assert provided.ignored == [{"path": "a1/cs231n/layer_utils.py",
                                 "reason": "provided by the course: the grader uses its own copy"}]
    half = archives.plan(zip_of({"cs231n/layers.py": b"x = 1\n", "mylayers.py": b""}), "a.zip", course, 512 * 1024)
    assert half.found == []
    assert half.missing == [{"assignment": "fc_net", "files": ["cs231n/classifiers/fc_net.py"]},
                            {"assignment": "svm", "files": ["linear_svm.py"]}]
    assert half.ignored == [
        {"path": "cs231n/layers.py", "reason": "a file of fc_net, which is not submitted without cs231n/classifiers/fc_net.py"},
        {"path": "mylayers.py", "reason": "not a file of any assignment here"}]


def test_a_dry_run_says_what_would_be_submitted_and_stores_nothing(course_app, course_people):
    client = course_app.test_client()
    answer = client.post("/api/v1/submissions?dry_run=1", headers=course_people.headers("alice"),
                         content_type="multipart/form-data",
                         data={"file": (io.BytesIO(code_submission_2021()), "a1_code_submission.zip")})
    assert answer.status_code == 200, answer.json
    assert answer.json["dry_run"] is True and answer.json["submissions"] == []
    assert answer.json["found"] == [
        {"assignment": "softmax", "files": {"cs231n/classifiers/softmax.py": "softmax.py"}},
        {"assignment": "svm", "files": {"cs231n/classifiers/linear_svm.py": "linear_svm.py"}}]
    assert answer.json["missing"] == [{"assignment": "two_layer_net", "files": ["neural_net.py"]}]
    # The same checks as a real upload: a file that cannot be graded is reported now.
    bad = post_archive(client, course_people.headers("alice"), zip_of({"linear_svm.py": b"def f(:\n"}),
                       query="?dry_run=1")
    assert bad.status_code == 400 and "SyntaxError" in bad.json["error"]
    assert rows(course_app) == []
    # On the page: the second button of the form.
    page = page_login(course_app, "alice")
    html_page = page.get("/assignments").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', html_page).group(1)
    shown = page.post("/submissions/archive", content_type="multipart/form-data",
                      data={"csrf_token": token, "dry_run": "1",
                            "file": (io.BytesIO(folder_zip_2017()), "assignment1.zip")})
    assert shown.status_code == 200
    html = shown.get_data(as_text=True)
    preview = html[html.index('id="archive-preview"'):]
    preview = preview[:preview.index("</div>")]
    assert "<strong>assignment1.zip</strong> was checked and nothing was submitted" in preview
    assert "<code>svm</code> from <code>assignment1/cs231n/classifiers/linear_svm.py</code>" in preview
    assert "Ignored 14 files" in preview and "and 6 more" in preview
    assert rows(course_app) == []
