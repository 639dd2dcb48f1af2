# base: correct_loops
# mode: check
# The loss is an object whose class name carries control characters, an OSC title escape and a bidi
# override: the type name reached the test output unscrubbed (exception messages were scrubbed).
Evil = type("Evil\x1b]0;owned\x07\x1b[2J\u202eniamod\x7f", (), {"__repr__": lambda self: "\x1b[31mred\x00"})


def svm_loss_naive(W, X, y, reg):
    return Evil(), np.zeros(W.shape)
