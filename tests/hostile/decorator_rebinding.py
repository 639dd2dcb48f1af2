# base: correct_loops
# mode: check
# A decorator rebinds the loop-free svm_loss_vectorized to the looping naive function: the text of the def
# has no loop, the function the grader calls is svm_loss_naive. It scored 35/35 with "no loops" passed.
# Expected: "no loops" fails, measured on the function actually called, and names the naive version.
def _fast(f):
    return svm_loss_naive


@_fast
def svm_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    scores = X.dot(W)
    correct = scores[np.arange(N), y][:, None]
    margins = np.maximum(0, scores - correct + 1)
    margins[np.arange(N), y] = 0
    loss = margins.sum() / N + reg * np.sum(W * W)
    mask = (margins > 0).astype(float)
    mask[np.arange(N), y] = -mask.sum(axis=1)
    return loss, X.T.dot(mask) / N + 2 * reg * W
