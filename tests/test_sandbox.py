"""The hardened sandbox as a component: results bit-identical to an in-process run, concurrent jobs
isolated from each other, limits enforced, a dead server replaced, and the self-test.

The attack suite is tests/test_hostile.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SUBMISSIONS
from service_fixtures import fresh_postgres, postgres_url, redis_prefix, redis_url  # noqa: F401 - fixtures
from worker.engine import grade
from worker.sandbox import Limits, StudentProcess
from worker.sandbox.hardened import ForkServerLauncher
from worker.sandbox.session import StudentCrashed, StudentError



@pytest.fixture(scope="module")
def launcher():
    assert os.geteuid() == 0, "the sandbox tests need root (every layer); CI runs as root"
    launcher = ForkServerLauncher()
    launcher.start()
    yield launcher
    launcher.close()


def _import_fixture(path: Path):
    spec = importlib.util.spec_from_file_location(f"inproc_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    import numpy

    numpy.int = int  # the sandbox's compatibility alias, for the 2017 style
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("assignment,name,functions", [
    ("svm", "correct_loops", ["svm_loss_naive", "svm_loss_vectorized"]),
    ("softmax", "correct_logsumexp", ["softmax_loss_naive", "softmax_loss_vectorized"]),
])
def test_numbers_are_bit_identical_to_an_in_process_run(launcher, assignment, name, functions):
    from threadpoolctl import threadpool_limits

    path = SUBMISSIONS / assignment / f"{name}.py"
    module = _import_fixture(path)
    rng = np.random.default_rng(7)
    W = 0.01 * rng.standard_normal((30, 10))
    X = rng.standard_normal((40, 30))
    y = rng.integers(0, 10, 40)
    with StudentProcess(launcher, Limits(), {assignment: (path.name, path.read_text())}) as process, \
            threadpool_limits(1):
        for func in functions:
            for reg in (0.0, 0.1, 50.0):
                loss_s, dW_s = process.call(func, W, X, y, reg)
                loss_i, dW_i = getattr(module, func)(W.copy(), X.copy(), y.copy(), reg)
                assert loss_s == loss_i and dW_s.dtype == dW_i.dtype
                assert np.array_equal(dW_s, dW_i), func


def test_net_numbers_are_bit_identical(launcher):
    path = SUBMISSIONS / "two_layer_net" / "correct_canonical.py"
    module = _import_fixture(path)
    rng = np.random.default_rng(3)
    params = {"W1": rng.standard_normal((8, 12)), "b1": rng.standard_normal(12), "W2": rng.standard_normal((12, 4)),
              "b2": rng.standard_normal(4)}
    X, y = rng.standard_normal((15, 8)), rng.integers(0, 4, 15)
    with StudentProcess(launcher, Limits(), {"neural_net": ("neural_net.py", path.read_text())}) as process:
        process.new("net", "TwoLayerNet", 8, 12, 4)
        local = module.TwoLayerNet(8, 12, 4)
        for key, value in params.items():
            process.setitem("net", "params", key, value)
            local.params[key] = value.copy()
        loss_s, grads_s = process.call_method("net", "loss", X, y, reg=0.3)
        loss_i, grads_i = local.loss(X, y, reg=0.3)
    assert loss_s == loss_i
    assert all(np.array_equal(grads_s[k], grads_i[k]) for k in params)


@pytest.mark.parametrize("assignment,name", [("svm", "correct_choose"), ("two_layer_net", "correct_alt")])
def test_correct_submissions_get_full_marks_through_the_sandbox(launcher, assignment, name):
    from conftest import fixture_files

    report = grade(assignment, fixture_files(assignment, name), seed=17, launcher=launcher)
    assert report["sandbox"] == "forkserver"
    assert report["score"] == report["max_score"]


PEEK = """
import os
def who():
    return {"uid": os.getuid(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
            "cgroup": open("/proc/self/cgroup").read(), "tmp": sorted(os.listdir("/tmp"))}
def leave_file(name):
    open("/tmp/" + name, "w").write("secret of " + name)
    return name
def try_kill(pid):
    try:
        os.kill(pid, 9)
        return "killed"
    except OSError as exc:
        return type(exc).__name__
def spin(seconds):
    import time
    end = time.time() + seconds
    while time.time() < end:
        pass
    return seconds
"""


def test_concurrent_jobs_get_their_own_slot_and_cannot_see_each_other(launcher):
    a = StudentProcess(launcher, Limits(), {"peek": ("peek.py", PEEK)})
    b = StudentProcess(launcher, Limits(), {"peek": ("peek.py", PEEK)})
    with a, b:
        a.call("leave_file", "from_a")
        who_a, who_b = a.call("who"), b.call("who")
        assert who_a["uid"] != who_b["uid"] and min(who_a["uid"], who_b["uid"]) >= 1000
        assert who_a["cgroup"] != who_b["cgroup"]
        assert who_a["pids"] == who_b["pids"] == [1]  # each is alone in its PID namespace
        assert "from_a" in who_a["tmp"] and "from_a" not in who_b["tmp"]  # private /tmp
        assert b.call("try_kill", a.child.pid) in ("ProcessLookupError", "PermissionError")
        # One job spinning does not stop the other from answering: b answers while a is observed busy in a spin
        # far longer than any test waits (no wall-clock bound: a loaded machine only makes the spin longer).
        spun: dict = {}

        def spin() -> None:
            try:
                spun["result"] = a.call("spin", 120.0)
            except StudentError as exc:  # killed below, once b has answered
                spun["error"] = exc

        spinner = threading.Thread(target=spin, daemon=True)
        busy_before = _job_cpu_ticks(a.child.pid)
        spinner.start()
        deadline = time.monotonic() + 60
        while _job_cpu_ticks(a.child.pid) < busy_before + 20:  # 0.2 s of CPU (at 100 Hz): a is inside its spin
            assert spinner.is_alive() and time.monotonic() < deadline, ("a never started spinning", spun)
            time.sleep(0.01)
        assert b.call("who")["uid"] == who_b["uid"]
        assert spinner.is_alive() and not spun, f"b answered only once a's spin had ended: {spun}"
        a.child.kill()
        spinner.join(30)
        assert not spinner.is_alive() and "result" not in spun, spun


def _job_cpu_ticks(pid: int) -> int:
    """User + system CPU time, in clock ticks, of a job's process and everything below it (its PID 1)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += ticks.get(current, 0)
        todo += [child for child, parent in parents.items() if parent == current]
    return total


def test_nothing_a_job_writes_survives_it(launcher):
    with StudentProcess(launcher, Limits(), {"peek": ("peek.py", PEEK)}) as process:
        process.call("leave_file", "leftover")
    with StudentProcess(launcher, Limits(), {"peek": ("peek.py", PEEK)}) as process:
        assert "leftover" not in process.call("who")["tmp"]
    assert not os.path.exists("/tmp/leftover")


MEMORY = """
import numpy as np
def grab(mb):
    blocks = []
    for _ in range(mb // 16):
        blocks.append(np.ones(16 << 17))  # 16 MB each, touched
    return len(blocks)
def fill_disk(mb):
    with open("/tmp/big", "wb") as f:
        for _ in range(mb):
            f.write(b"x" * (1 << 20))
    return mb
"""


def test_memory_and_disk_limits_apply(launcher):
    limits = Limits(memory_mb=400, disk_mb=8, call_seconds=20)
    with StudentProcess(launcher, limits, {"mem": ("mem.py", MEMORY)}) as process:
        with pytest.raises(StudentError) as info:
            process.call("grab", 1000)
        assert "MemoryError" in str(info.value) or "memory limit" in str(info.value)
        with pytest.raises(StudentError) as info:
            process.call("fill_disk", 64)
        assert "No space left" in str(info.value) or "File too large" in str(info.value)
        assert process.call("grab", 48) == 3  # well under the limit: fine


def test_limits_come_from_assignment_toml():
    from worker.assignments import get_assignment

    net = get_assignment("two_layer_net")
    assert net.limits.call_seconds == 30 and net.limits.memory_mb == 2048
    # The digits training passes within the call limit read from assignment.toml (the product's promise); how far
    # below the limit it stays is speed, measured by bench/bench_grading.py (its "slowest test" column), not
    # asserted here (a loaded machine stretches it).
    from conftest import fixture_files

    report = grade("two_layer_net", fixture_files("two_layer_net", "correct_canonical"), seed=2)
    digits = next(t for t in report["tests"] if t["id"] == "train_digits")
    assert digits["status"] == "passed", digits["output"]
    print(f"train_digits: {digits['details']['seconds']:.2f} s of a {net.limits.call_seconds:g} s call limit")


def test_a_killed_server_is_replaced_and_its_jobs_die(launcher):
    process = StudentProcess(launcher, Limits(call_seconds=5), {"peek": ("peek.py", PEEK)})
    process.start()
    job_pid = process.child.pid
    os.kill(launcher.server_pid, signal.SIGKILL)
    with pytest.raises(StudentCrashed):
        process.call("spin", 3)
    process.close()
    deadline = time.monotonic() + 10  # wait for the observable event (the job gone), not a fixed sleep
    while os.path.exists(f"/proc/{job_pid}") and "Z" not in Path(f"/proc/{job_pid}/stat").read_text().split()[2]:
        assert time.monotonic() < deadline, f"job {job_pid} outlived its killed server by 10 s"
        time.sleep(0.01)
    with StudentProcess(launcher, Limits(), {"peek": ("peek.py", PEEK)}) as again:
        assert again.call("who")["pids"] == [1]


def test_self_test_passes_and_doctor_reports_it(launcher):
    result = launcher.self_test()
    assert result["ok"], result["checks"]
    assert len(result["checks"]) >= 10
    out = subprocess.run([str(Path(sys.executable).parent / "grader"), "doctor", "--json"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doctor = json.loads(out.stdout)
    assert doctor["ok"] and doctor["layers"]["seccomp filter"] and doctor["layers"]["landlock"] >= 1


# Runs a command with the seccomp filter installed by the kernel refused (the seccomp syscall and
# prctl(PR_SET_SECCOMP) fail with EPERM): the fork server still builds its filter and claims the layer, but no
# job can load it, so the self-test's probe job cannot start. A real machine where a layer the server
# reports does not hold.
NO_SECCOMP = r"""
import errno, os, sys
import pyseccomp as seccomp
f = seccomp.SyscallFilter(seccomp.ALLOW)
f.add_rule(seccomp.ERRNO(errno.EPERM), "seccomp")
f.add_rule(seccomp.ERRNO(errno.EPERM), "prctl", seccomp.Arg(0, seccomp.EQ, 22))
f.load()
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_a_cli_whose_sandbox_self_test_fails_refuses_to_grade(tmp_path):
    wrapper = tmp_path / "no_seccomp.py"
    wrapper.write_text(NO_SECCOMP)
    grader = str(Path(sys.executable).parent / "grader")
    out = subprocess.run([sys.executable, str(wrapper), grader, "grade", "svm",
                          str(SUBMISSIONS / "svm" / "correct_loops.py"), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, (out.returncode, out.stdout[:500], out.stderr[-2000:])
    assert out.stdout == ""  # no report: nothing was graded
    error = out.stderr.strip().splitlines()[-1]
    assert error.startswith("error: the sandbox self-test failed: a probe job could not start"), out.stderr
    assert "prctl(PR_SET_SECCOMP): Operation not permitted" in error, error
    assert "Traceback" not in out.stderr


def test_a_worker_whose_sandbox_self_test_fails_refuses_to_grade(tmp_path, fresh_postgres, redis_url, redis_prefix):
    """Issue 15: the real refusal path, not flags set by hand. A `grader worker` whose sandbox self-test fails
    says why in its log and never claims a submission (it stays queued, no attempt used)."""
    from grader.models import Submission
    from service_fixtures import FAST_RELIABILITY, People, Process, grader_script, make_app, service_env, upload

    wrapper = tmp_path / "no_seccomp.py"
    wrapper.write_text(NO_SECCOMP)
    # The task's time limits of FAST_RELIABILITY (8 s) cut the task's own start of the sandbox and its self-test
    # short on a loaded machine (11 s seen with 8 test runs on 2 cores): the log then blamed the time limit
    # instead of the self-test. This test is about the refusal, so the task gets the time a slow machine needs.
    reliability = {**FAST_RELIABILITY, "task_soft_time_limit": 120, "task_time_limit": 130, "lease_seconds": 140}
    settings = dict(database_url=fresh_postgres, broker_url=redis_url, broker_prefix=redis_prefix,
                    queue=redis_prefix.rstrip(":"), instance_path=tmp_path / "instance", **reliability)
    app = make_app(Path(settings["instance_path"]), **{k.upper(): v for k, v in settings.items()
                                                       if k != "instance_path"})
    people = People(app)
    people.add("alice")
    env = service_env(secret_key="test-secret-key-0123456789abcdef", worker_concurrency=1, **settings)
    worker = Process([sys.executable, str(wrapper), grader_script(), "worker", "--loglevel", "INFO"], env,
                     tmp_path / "worker.log", cwd=tmp_path)
    try:
        response = upload(app.test_client(), people.headers("alice"))
        assert response.status_code == 202, response.json
        sid = response.json["id"]
        deadline = time.monotonic() + 150
        needle = f"submission {sid}: the sandbox is unavailable (the sandbox self-test failed: a probe job could not start"
        while needle not in worker.output():
            assert worker.popen.poll() is None, worker.output()[-3000:]
            assert time.monotonic() < deadline, worker.output()[-3000:]
            time.sleep(0.2)
        with app.extensions["grader"].db.session() as session:
            sub = session.get(Submission, sid)
            assert sub.status == "queued" and sub.attempts == 0 and sub.started_at is None, (sub.status, sub.attempts)
        assert "grading svm" not in worker.output()
    finally:
        worker.stop()
        app.extensions["grader"].db.engine.dispose()


def test_two_sandbox_servers_sharing_slots_each_get_the_limits_they_ask_for():
    """Issue 10: slots are shared by every sandbox server on the machine. A server that cached the limits it
    last wrote to a slot ran a job with another server's limits (A: 512 MiB, B: 2048 MiB, A again: 2048)."""
    def kernel_limits(slot: int) -> tuple[int, int]:  # read from the cgroup files, not through the product
        v1 = Path(f"/sys/fs/cgroup/memory/cs231n-grader/slot-{slot}")
        if v1.is_dir():
            return (int((v1 / "memory.limit_in_bytes").read_text()),
                    int(Path(f"/sys/fs/cgroup/pids/cs231n-grader/slot-{slot}/pids.max").read_text()))
        v2 = Path(f"/sys/fs/cgroup/cs231n-grader/slot-{slot}")
        return int((v2 / "memory.max").read_text()), int((v2 / "pids.max").read_text())

    a, b = ForkServerLauncher(), ForkServerLauncher()
    # Other sandbox servers on this machine (a worker, another test run) take and free slots as they please, so
    # the test holds every free slot but one: both servers can only take that one, and must share it.
    import fcntl
    from worker.sandbox.hardened import MAX_SLOTS
    os.makedirs(a.slots_dir, mode=0o700, exist_ok=True)
    held: list[int] = []
    for slot in range(MAX_SLOTS):
        fd = os.open(os.path.join(a.slots_dir, f"slot-{slot}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(fd)
        except OSError:
            os.close(fd)
    assert held, "every sandbox slot on this machine is busy"
    os.close(held.pop(0))  # the one slot left free
    a.start()
    b.start()
    try:
        same_slot = False
        for _ in range(5):
            used = []
            for launcher, mb, pids in ((a, 512, 16), (b, 2048, 24), (a, 512, 16)):
                with StudentProcess(launcher, Limits(memory_mb=mb, processes=pids), {"peek": ("peek.py", PEEK)}) as p:
                    p.call("who")
                    child = p.child
                    assert kernel_limits(child.slot) == (mb << 20, pids), (launcher is a, child.slot)
                    used.append(child.slot)
                assert child.exited.wait(10)  # the slot is free again once its server reported the exit
            if used[0] == used[1] == used[2]:
                same_slot = True
                break
        assert same_slot, "the two servers never shared a slot (another process took it?): the test proved nothing"
    finally:
        a.close()
        b.close()
        for fd in held:
            os.close(fd)


STACK = """
import resource


def stack():
    return list(resource.getrlimit(resource.RLIMIT_STACK))
"""


def test_a_jobs_stack_is_8_mib_whatever_the_server_inherited():
    """A server started with an unlimited stack (a shell's `ulimit -s unlimited`) must not hand it to its jobs:
    with it a recursion bomb runs into the time limit instead of crashing at once, and the outcome of the same
    submission depends on how the worker was started."""
    import resource
    inherited = resource.getrlimit(resource.RLIMIT_STACK)
    resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    launcher = ForkServerLauncher()
    try:
        launcher.start()
    finally:
        resource.setrlimit(resource.RLIMIT_STACK, inherited)
    try:
        with StudentProcess(launcher, Limits(), {"stack": ("stack.py", STACK)}) as process:
            assert process.call("stack") == [8 << 20, 8 << 20]
    finally:
        launcher.close()
