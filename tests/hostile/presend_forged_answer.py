# base: correct_loops
# mode: check
# The runtime's writer is replaced: after the real answer to this call it writes a forged answer for the
# NEXT request (a zero loss and gradient), and then swallows the real answers. A pre-sent answer earned
# credit for the next test. Expected: tampering, the whole run fails with that reason, nothing counts.
import json as _json
import struct as _struct
import sys as _sys

_armed = [False]


def _forged(seq):
    header = {"seq": seq, "ok": True,
              "value": {"t": "tuple", "items": [{"t": "float", "v": 0.0}, {"t": "array", "ref": 0}], "len": 2},
              "arrays": [{"dtype": "float64", "shape": [1]}]}
    h = _json.dumps(header).encode()
    body = b"GRD1" + _struct.pack(">I", len(h)) + h + bytes(8)
    return _struct.pack(">Q", len(body)) + body


def _arm():
    for module in list(_sys.modules.values()):
        if getattr(module, "MAGIC", None) == b"GRD1" and hasattr(module, "write_frame"):
            original = module.write_frame

            def write_frame(fd, data, _original=original):
                h = _json.loads(data[16:16 + _struct.unpack(">I", data[12:16])[0]])
                if not _armed[0]:
                    _armed[0] = True
                    _original(fd, data)
                    _original(fd, _forged(h["seq"] + 1))
                # later answers are swallowed: the forged one stands in for the next

            module.write_frame = write_frame


_correct_naive = svm_loss_naive


def svm_loss_naive(W, X, y, reg):
    _arm()
    return _correct_naive(W, X, y, reg)
