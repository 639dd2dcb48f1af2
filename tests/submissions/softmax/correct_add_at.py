# Test fixture (correct_add_at): correct; np.add.at for the one-hot subtraction, @ operator, naive half-vectorized (loop over samples only)
from builtins import range
import numpy as np
from random import shuffle
from past.builtins import xrange

def softmax_loss_naive(W, X, y, reg):
  N = X.shape[0]
  loss, dW = 0.0, np.zeros(W.shape)
  for i in range(N):
    s = X[i] @ W
    s = s - s.max()
    p = np.exp(s) / np.exp(s).sum()
    loss -= np.log(p[y[i]])
    p[y[i]] -= 1
    dW += np.outer(X[i], p)
  return loss / N + reg * (W * W).sum(), dW / N + 2 * reg * W


def softmax_loss_vectorized(W, X, y, reg):
  N = X.shape[0]
  s = X @ W
  s -= s.max(axis=1)[:, None]
  p = np.exp(s)
  p /= p.sum(axis=1)[:, None]
  loss = -np.log(p[np.arange(N), y]).mean() + reg * (W * W).sum()
  np.add.at(p, (np.arange(N), y), -1)
  return loss, X.T @ p / N + 2 * reg * W
