# base: correct_loops
# mode: check
# A loss that flips between +1.7e308 and -1.7e308 on every call: the numerical gradient overflows, inf
# lands in a test's details, `grader grade --json` died ("Out of range float values are not JSON
# compliant") and PostgreSQL refused the report.
_sign = [1.0]


def svm_loss_naive(W, X, y, reg):
    _sign[0] = -_sign[0]
    return _sign[0] * 1.7e308, np.full(W.shape, 1.7e308)
