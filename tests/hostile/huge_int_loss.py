# base: correct_loops
# mode: check
# The loss is a 401-digit integer: nine "internal grader error" results whose details showed the
# grader's own traceback and paths. Expected: a clear per-test failure, no grader traceback.
def svm_loss_naive(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    return 10 ** 400, dW
