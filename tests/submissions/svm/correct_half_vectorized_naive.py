# Test fixture (correct_half_vectorized_naive): correct; naive loops over samples only (vectorized over classes), vectorized uses bincount-free one-hot via (y[:,None] == arange(C)) and np.clip
from builtins import range
import numpy as np
from random import shuffle
from past.builtins import xrange

def svm_loss_naive(W, X, y, reg):
  num_train, num_classes = X.shape[0], W.shape[1]
  loss, dW = 0.0, np.zeros(W.shape)
  for i in xrange(num_train):
    scores = X[i].dot(W)
    margins = np.maximum(0, scores - scores[y[i]] + 1)
    margins[y[i]] = 0
    loss += margins.sum()
    active = (margins > 0).astype(np.float64)
    active[y[i]] = -active.sum()
    dW += np.outer(X[i], active)
  loss = loss / num_train + reg * np.sum(W * W)
  dW = dW / num_train + 2 * reg * W
  return loss, dW


def svm_loss_vectorized(W, X, y, reg):
  N, C = X.shape[0], W.shape[1]
  onehot = (y[:, None] == np.arange(C))
  scores = X.dot(W)
  correct = np.sum(scores * onehot, axis=1, keepdims=True)
  margins = np.clip(scores - correct + 1, 0, None) * ~onehot
  loss = float(np.sum(margins)) / N + reg * float(np.sum(W * W))
  active = (margins > 0).astype(np.float64)
  coeff = active - onehot * active.sum(axis=1, keepdims=True)
  dW = np.dot(X.T, coeff) / N + 2 * reg * W
  return loss, dW
