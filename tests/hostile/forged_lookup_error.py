# base: correct_loops
# mode: check
# The function raises the exception the runtime used to signal a missing function: it was reported as
# "linear_svm.py does not define svm_loss_naive". Expected: the exception the code really raised.
def svm_loss_naive(W, X, y, reg):
    raise LookupError("missing:svm_loss_naive")
