# base: correct_loops
# mode: check
# The runtime's encoder is replaced so the answer claims types it is not: a loss tagged "int" with 401
# digits, then a float64 scalar whose value does not fit. Expected: a clear failure, never an internal error.
import sys as _sys


def _lie():
    for module in list(_sys.modules.values()):
        if getattr(module, "MAGIC", None) == b"GRD1" and hasattr(module, "encode_value"):
            original = module.encode_value

            def encode_value(value, arrays, depth=0, _original=original):
                if type(value) is tuple and len(value) == 2:
                    return {"t": "tuple", "len": 2,
                            "items": [{"t": "int", "v": 10 ** 400}, _original(value[1], arrays, depth + 1)]}
                return _original(value, arrays, depth)

            module.encode_value = encode_value


_correct_naive = svm_loss_naive


def svm_loss_naive(W, X, y, reg):
    _lie()
    return _correct_naive(W, X, y, reg)
