# base: correct_loops
# mode: check
# limits: memory_mb=2048 call_seconds=20
# A legal but maximal answer: a 248 MB gradient, under the 256 MB frame limit. The grading process grew
# to 582 MB reading it, outside the job's cgroup. Expected: refused from its length prefix, unread.
def svm_loss_naive(W, X, y, reg):
    return 0.0, np.ones(31_000_000)
