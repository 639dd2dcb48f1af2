# base: correct_loops
# mode: check
# A job clears its parent-death signal (prctl(PR_SET_PDEATHSIG, 0)) so it would outlive a killed server.
import ctypes as _ctypes
import json as _json

_done = [False]
_correct_naive = svm_loss_naive


def _prctl(option, arg):
    libc = _ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, arg, 0, 0, 0) == 0:
        return "ok"
    return "blocked: errno %d" % _ctypes.get_errno()


def _get_pdeathsig():
    libc = _ctypes.CDLL(None, use_errno=True)
    out = _ctypes.c_int(-1)
    libc.prctl(2, _ctypes.byref(out), 0, 0, 0)
    return out.value


def svm_loss_naive(W, X, y, reg):
    if not _done[0]:
        _done[0] = True
        res = {"clear": _prctl(1, 0), "set_other": _prctl(1, 15), "after": _get_pdeathsig(),
               "subreaper": _prctl(36, 1), "dumpable": _prctl(4, 1)}
        print("HOSTILE_RESULT " + _json.dumps(res))
    return _correct_naive(W, X, y, reg)
