"""Batched evaluations (``call_each``, ``call_method_each``, ``setitems``): a numerical gradient check sends
all its perturbed inputs to the student's code in one request. The batch must give exactly what separate
calls give, keep every evaluation independent, fail the way a call fails, and be checked like any other
answer the child sends (its length and type are the child's claim).

Through the machine's default sandbox, as gradings use it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from worker.sandbox import default_launcher
from worker.sandbox.launcher import Limits
from worker.sandbox.session import StudentCodeError, StudentProcess, StudentTampered, StudentTimeout

CODE = '''
import time
import numpy as np

calls = []

def loss(W, X, y, reg):
    X -= 1.0                      # mutates its input: each evaluation must still get the caller's X
    calls.append(float(X.sum()))
    scores = X.dot(W)
    return float(np.sum(scores ** 2) / len(y) + reg * np.sum(W * W)), 2 * X.T.dot(scores) / len(y)

def boom_at_third(W, X, y, reg):
    calls.append(1)
    if len(calls) == 3:
        raise ZeroDivisionError("third evaluation")
    return 0.0, W

def slow_at_third(W, X, y, reg):
    calls.append(1)
    if len(calls) == 3:
        time.sleep(60)
    return 0.0, W

def reset():
    calls.clear()

def count():
    return len(calls)

class Net:
    def __init__(self):
        self.params = {"W": np.zeros((3, 2)), "b": np.zeros(2)}
        self.W = self.params["W"]   # an alias, as some students keep

    def loss(self, X, reg=0.0):
        out = X.dot(self.W) + self.params["b"]
        return float(np.sum(out) + reg), None
'''

TAMPER = '''
import gc
import numpy as np

def loss(W, X, y, reg):
    for obj in gc.get_objects():
        if type(obj).__name__ == "Child" and hasattr(obj, "op_batch"):
            obj.op_batch = lambda header, arrays: [0.0]   # one result, whatever was asked
    return 0.0, W
'''


@pytest.fixture(scope="module")
def launcher():
    return default_launcher()


def _problem():
    rng = np.random.default_rng(3)
    return rng.standard_normal((4, 3)), rng.standard_normal((5, 4)), np.array([0, 1, 2, 1, 0])


def test_a_batch_gives_exactly_what_separate_calls_give_each_on_fresh_inputs(launcher):
    W, X, y = _problem()
    points = [W + 1e-5 * k for k in range(4)]
    with StudentProcess(launcher, Limits(), {"m": ("m.py", CODE)}) as process:
        separate = [process.call("loss", p, X, y, 0.5) for p in points]
        process.call("reset")
        batched = process.call_each("loss", (W, X, y, 0.5), 0, points)
        seen = process.call("count")
    assert len(batched) == len(points) and seen == len(points)
    for (loss_a, grad_a), (loss_b, grad_b) in zip(separate, batched):
        assert loss_a == loss_b  # bit for bit: the loss mutates X, yet every evaluation saw the caller's X
        assert np.array_equal(grad_a, grad_b)


def test_a_method_batch_assigns_in_place_so_aliases_see_each_value(launcher):
    X = np.ones((2, 3))
    values = [np.full((3, 2), float(k)) for k in range(3)]
    with StudentProcess(launcher, Limits(), {"m": ("m.py", CODE)}) as process:
        process.new("net", "Net")
        answers = process.call_method_each("net", "loss", (X,), "params", "W", values, reg=0.25)
        assert [a[0] for a in answers] == [12.0 * k + 0.25 for k in range(3)]
        process.setitems("net", "params", {"W": values[0], "b": np.array([1.0, 2.0])})
        assert process.call_method("net", "loss", X)[0] == 6.0
        assert np.array_equal(process.get("net", "W"), values[0])  # written in place: the alias follows


def test_an_exception_in_one_evaluation_fails_the_batch_like_a_call(launcher):
    W, X, y = _problem()
    with StudentProcess(launcher, Limits(), {"m": ("m.py", CODE)}) as process:
        with pytest.raises(StudentCodeError) as info:
            process.call_each("boom_at_third", (W, X, y, 0.0), 0, [W] * 5)
        assert info.value.exc_type == "ZeroDivisionError"
        assert "boom_at_third raised ZeroDivisionError: third evaluation" in str(info.value)
        assert process.call("count") == 3  # stopped at the failing evaluation
        assert process.call("boom_at_third", W, X, y, 0.0)[0] == 0.0  # the process is still usable


def test_a_hanging_evaluation_times_out_the_batch_and_is_not_called_again(launcher):
    W, X, y = _problem()
    limits = Limits(call_seconds=1, total_seconds=30)
    with StudentProcess(launcher, limits, {"m": ("m.py", CODE)}) as process:
        started = time.monotonic()
        with pytest.raises(StudentTimeout) as info:
            process.call_each("slow_at_third", (W, X, y, 0.0), 0, [W] * 4)
        spent = time.monotonic() - started
        assert "slow_at_third did not finish within 4 s" in str(info.value)  # n evaluations, n times the limit
        assert spent < 30
        with pytest.raises(StudentTimeout, match="not called again"):
            process.call_each("slow_at_third", (W, X, y, 0.0), 0, [W])


def test_a_batch_answer_of_the_wrong_length_is_tampering(launcher):
    W, X, y = _problem()
    with StudentProcess(launcher, Limits(), {"t": ("t.py", TAMPER)}) as process:
        process.call("loss", W, X, y, 0.0)  # replaces the runtime's batch operation
        with pytest.raises(StudentTampered, match="answered 3 evaluations of loss"):
            process.call_each("loss", (W, X, y, 0.0), 0, [W, W, W])
