import numpy as np


def svm_loss_naive(W, X, y, reg):
    """Multiclass SVM loss, one sample and one class at a time."""
    n_samples, n_classes = X.shape[0], W.shape[1]
    total = 0.0
    grad = np.zeros_like(W)
    for n in range(n_samples):
        s = W.T @ X[n]
        true_score = s[y[n]]
        hinge_count = 0
        for c in range(n_classes):
            if c != y[n]:
                gap = 1.0 + s[c] - true_score
                if gap > 0.0:
                    total = total + gap
                    grad[:, c] = grad[:, c] + X[n]
                    hinge_count = hinge_count + 1
        grad[:, y[n]] = grad[:, y[n]] - hinge_count * X[n]
    avg_loss = total / n_samples + reg * (W ** 2).sum()
    avg_grad = grad / n_samples + reg * 2.0 * W
    return avg_loss, avg_grad


def svm_loss_vectorized(W, X, y, reg):
    """The same loss without loops, with a one-hot matrix of the labels."""
    n_samples = len(y)
    onehot = np.eye(W.shape[1], dtype=bool)[y]
    s = X @ W
    true_score = s[onehot][:, None]
    gaps = np.where(onehot, 0.0, np.clip(s - true_score + 1.0, 0.0, None))
    avg_loss = gaps.sum() / n_samples + reg * (W ** 2).sum()
    weights = (gaps > 0).astype(X.dtype)
    weights -= onehot * weights.sum(axis=1, keepdims=True)
    avg_grad = X.T @ weights / n_samples + reg * 2.0 * W
    return avg_loss, avg_grad
