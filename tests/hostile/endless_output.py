# base: correct_loops
# mode: check
# Writes without end to stdout: held its slot for the assignment's whole time limit (180 s measured).
# Expected: the job is stopped once the run's output passes the stop limit, the rest fails within seconds.
def svm_loss_naive(W, X, y, reg):
    while True:
        print("spam " * 200)
