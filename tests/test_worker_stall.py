"""A worker whose pool cannot run tasks must not look alive (README: reliability model, "no worker is running").

The worker's heartbeat is written by its main process, which keeps running when its pool does not: a pool
process that never starts, or (seen with Celery 5.7 / billiard 4.3 on the filesystem broker, under load) a pool
process the hard time limit killed while it held the lock of the queues the threaded pool's processes share, so
that the next one blocks with the task it took. Here a real worker (prefork,
one process, with beat) loses its pool process; the replacement hangs while it starts (injected with a
``sitecustomize`` on the worker's PYTHONPATH, so no product code knows about the test). The received tasks
then never start: after ``GRADER_WORKER_STALL_SECONDS`` the worker stops beating and says why in its log.
Run on the embedded defaults (SQLite, filesystem broker) and on Redis.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from service_fixtures import (
    FAST_RELIABILITY,
    People,
    Process,
    grader_script,
    make_app,
    make_course,
    service_env,
    upload,
    wait_for,
    wait_for_heartbeat,
)

SITECUSTOMIZE = '''
import os

if os.environ.get("G_TEST_POOL_LOG"):
    from celery import signals

    @signals.worker_process_init.connect(weak=False)
    def _pool_process_starts(**_):
        with open(os.environ["G_TEST_POOL_LOG"], "a") as log:
            log.write(f"{os.getpid()}\\n")
        if os.path.exists(os.environ["G_TEST_POOL_HANG"]):  # this pool process never becomes ready
            import time
            while True:
                time.sleep(3600)
'''

STALL_SECONDS = 15


def _alive(app: Any) -> bool:
    from grader import submissions

    with app.extensions["grader"].db.session() as session:
        return submissions.worker_alive(session, app.extensions["grader"].settings)


@pytest.mark.parametrize("broker", ["filesystem", "redis"])
def test_a_worker_whose_pool_stopped_taking_tasks_stops_its_heartbeat(tmp_path: Path, broker: str,
                                                                     request: pytest.FixtureRequest) -> None:
    from grader.models import Submission

    course = make_course(tmp_path / "course", "max_submissions_per_hour = 0")
    settings: dict[str, Any] = dict(FAST_RELIABILITY, instance_path=tmp_path / "instance", assignments_dir=course,
                                    worker_stall_seconds=STALL_SECONDS)
    if broker == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        settings.update(broker_url=request.getfixturevalue("redis_url"), broker_prefix=prefix,
                        queue=prefix.rstrip(":"))
    app = make_app(tmp_path / "instance", **{k.upper(): v for k, v in settings.items() if k != "instance_path"})
    people = People(app)
    people.add("alice")
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(SITECUSTOMIZE)
    pool_log, hang = tmp_path / "pool-processes.log", tmp_path / "hang"
    pool_log.touch()
    env = service_env(secret_key="test-secret-key-0123456789abcdef", worker_concurrency=1, **settings)
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(inject), env.get("PYTHONPATH")])),
               G_TEST_POOL_LOG=str(pool_log), G_TEST_POOL_HANG=str(hang))
    worker = Process([grader_script(), "worker", "--loglevel", "INFO", "--beat"], env, tmp_path / "worker.log",
                     cwd=tmp_path)
    try:
        wait_for_heartbeat(app, timeout=90, process=worker)
        first = wait_for(lambda: pool_log.read_text().split(), 90, "the pool process to start")
        # The pool runs tasks: a submission is graded.
        client = app.test_client()
        response = upload(client, people.headers("alice"))
        assert response.status_code == 202, response.get_data(as_text=True)
        graded = response.json["id"]

        def status(sid: int) -> str:
            with app.extensions["grader"].db.session() as session:
                return session.get(Submission, sid).status

        wait_for(lambda: status(graded) == "graded", 180, "the first submission to be graded")
        assert _alive(app)

        # The pool process dies; its replacement never becomes ready.
        hang.touch()
        lost = time.monotonic()  # from here every task the worker receives stays unstarted (beat's sweeps first)
        os.kill(int(first[0]), signal.SIGKILL)
        wait_for(lambda: len(pool_log.read_text().split()) >= 2, 60, "the replacement pool process to start")
        response = upload(client, people.headers("alice"))
        assert response.status_code == 202
        stuck = response.json["id"]
        # Beat's sweeps (every second) and the submission are received and never start: within the stall bound
        # (plus beats and a loaded machine's slack) the worker no longer counts as running. The bound counts from
        # the loss of the pool process, since the first sweep received after it starts the clock (the upload may
        # come seconds later, on a machine slow to start the replacement).
        wait_for(lambda: not _alive(app), STALL_SECONDS + 60, "the stalled worker to stop counting as alive")
        took = time.monotonic() - lost
        assert status(stuck) == "queued"
        assert took >= STALL_SECONDS - 2 * FAST_RELIABILITY["heartbeat_seconds"], took  # not before the bound
        log = worker.output()
        assert "the pool has not started" in log and "this worker stops its heartbeat" in log, log[-3000:]
        # It stays that way while the pool does not run anything (no beat comes back).
        time.sleep(3 * FAST_RELIABILITY["heartbeat_seconds"] + 1)
        assert not _alive(app)
        print(f"{broker}: heartbeat gone {took:.1f} s after the pool process was lost (bound {STALL_SECONDS} s)")
    finally:
        worker.kill()  # a worker holding a task its pool never ran does not finish a warm shutdown
        worker.log_file.close()
        app.extensions["grader"].db.engine.dispose()
