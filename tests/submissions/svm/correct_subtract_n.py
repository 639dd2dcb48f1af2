# Test fixture (correct_subtract_n): correct; vectorized keeps the correct class margins (always 1) and subtracts N from the sum; mask zeroed by index
from builtins import range
import numpy as np
from random import shuffle
from past.builtins import xrange

def svm_loss_naive(W, X, y, reg):
  dW = np.zeros(W.shape)
  num_classes = W.shape[1]
  num_train = X.shape[0]
  loss = 0.0
  for i in xrange(num_train):
    scores = X[i].dot(W)
    correct_class_score = scores[y[i]]
    for j in xrange(num_classes):
      if j == y[i]:
        continue
      margin = scores[j] - correct_class_score + 1 # note delta = 1
      if margin > 0:
        loss += margin
        dW[:, j] += X[i]
        dW[:, y[i]] -= X[i]
  loss /= num_train
  dW /= num_train
  loss += reg * np.sum(W * W)
  dW += 2 * reg * W
  return loss, dW


def svm_loss_vectorized(W, X, y, reg):
  N = X.shape[0]
  S = X @ W
  M = np.maximum(0.0, S - S[np.arange(N), y].reshape(N, 1) + 1.0)
  loss = (M.sum() - N) / N          # every correct class contributes exactly delta = 1
  loss += reg * (W ** 2).sum()
  G = (M > 0) * 1.0
  G[np.arange(N), y] = 0.0
  G[np.arange(N), y] = -G.sum(axis=1)
  return loss, X.T @ G / N + 2 * reg * W
