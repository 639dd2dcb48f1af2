"""Upload limits are checked before an upload is compiled, and rejected uploads count against their
own looser limit (issue 10, item 8)."""

from __future__ import annotations

import io
import time
from typing import Any
from unittest import mock

from service_fixtures import People, make_app, make_course, svm_file, upload

from grader import submissions

BIG = ("x = [" + "1, " * 170_000 + "]\n").encode()  # ~500 KiB of valid Python that takes a while to compile
SYNTAX_ERROR = b"def svm_loss_naive(W, X, y, reg)\n    pass\n"


def _app(tmp_path: Any, policy: str, **config: Any) -> tuple[Any, People]:
    course = make_course(tmp_path / "course", policy)
    app = make_app(tmp_path / "instance", ASSIGNMENTS_DIR=str(course / "."), **config)
    people = People(app)
    people.add("alice")
    people.add("bob")
    people.add("prof", role="instructor")
    return app, people


def test_an_upload_over_the_rate_limit_is_refused_before_it_is_compiled(tmp_path):
    app, people = _app(tmp_path, "max_submissions_per_hour = 1")
    client = app.test_client()
    assert len(BIG) <= 512 * 1024
    assert upload(client, people.headers("alice")).status_code == 202
    with mock.patch("grader.submissions.prepare_files", wraps=submissions.prepare_files) as compiling:
        started = time.perf_counter()
        refused = upload(client, people.headers("alice"), files=[("linear_svm.py", BIG)])
        refused_seconds = time.perf_counter() - started
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert compiling.call_count == 0
        started = time.perf_counter()
        assert upload(client, people.headers("bob"), files=[("linear_svm.py", BIG)]).status_code == 202
        compiled_seconds = time.perf_counter() - started
        assert compiling.call_count == 1  # compiled once, not once to check and once to store
    print(f"500 KiB upload over the limit: {refused_seconds * 1000:.1f} ms; compiled and stored: "
          f"{compiled_seconds * 1000:.1f} ms")
    assert refused_seconds < compiled_seconds


def test_rejected_uploads_have_their_own_limit(tmp_path):
    app, people = _app(tmp_path, "max_submissions_per_hour = 5", MAX_REJECTED_UPLOADS_PER_HOUR=3)
    client = app.test_client()
    for _ in range(3):
        bad = upload(client, people.headers("alice"), files=[("linear_svm.py", SYNTAX_ERROR)])
        assert bad.status_code == 400 and "SyntaxError" in bad.json["error"]
    with mock.patch("grader.submissions.prepare_files", wraps=submissions.prepare_files) as compiling:
        for files in ([("linear_svm.py", SYNTAX_ERROR)], [("linear_svm.py", svm_file())]):
            limited = upload(client, people.headers("alice"), files=files)
            assert limited.status_code == 429, limited.json
            assert "could not be graded" in limited.json["error"]
            assert 1 <= int(limited.headers["Retry-After"]) <= 3600
        assert compiling.call_count == 0
    # Another student, and instructors, are not affected; the rejections never counted as submissions.
    assert upload(client, people.headers("bob")).status_code == 202
    assert upload(client, people.headers("prof"), files=[("linear_svm.py", SYNTAX_ERROR)]).status_code == 400
    assert upload(client, people.headers("prof")).status_code == 202
    with app.extensions["grader"].db.session() as session:
        from grader.models import Submission

        assert session.query(Submission).count() == 2


def test_the_upload_page_uses_the_same_limits(tmp_path):
    import re

    app, people = _app(tmp_path, "max_submissions_per_hour = 5", MAX_REJECTED_UPLOADS_PER_HOUR=1)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    from service_fixtures import PASSWORD

    assert client.post("/login", data={"email": "alice@example.edu", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 303
    page = client.get("/assignments/svm").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def post(content: bytes) -> Any:
        return client.post("/assignments/svm/submissions", data={"csrf_token": token,
                                                           "file": (io.BytesIO(content), "linear_svm.py")},
                           content_type="multipart/form-data")

    assert post(SYNTAX_ERROR).status_code == 400
    limited = post(svm_file())
    assert limited.status_code == 429 and "could not be graded" in limited.get_data(as_text=True)
