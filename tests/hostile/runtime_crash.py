# base: correct_loops
# mode: check
# The code breaks the runtime's frame encoder, so the runtime itself fails after the call: reported as
# "exited with code 0 (did the code call exit()?)". Expected: the runtime's failure named as such.
import sys as _sys


def _break():
    for module in list(_sys.modules.values()):
        if getattr(module, "MAGIC", None) == b"GRD1" and hasattr(module, "encode_frame"):
            def encode_frame(header, arrays):
                raise RuntimeError("broken")

            module.encode_frame = encode_frame


def svm_loss_naive(W, X, y, reg):
    _break()
    return 0.0, np.zeros(W.shape)
