# Test fixture (correct_add_at_ge): correct; naive uses margin >= 0 (the other subgradient), vectorized uses np.add.at for the correct column and np.where
from builtins import range
import numpy as np
from random import shuffle
from past.builtins import xrange

def svm_loss_naive(W, X, y, reg):
  dW = np.zeros_like(W)
  C = W.shape[1]
  N = X.shape[0]
  loss = 0.0
  for i in range(N):
    s = X[i] @ W
    for j in range(C):
      if j != y[i]:
        m = s[j] - s[y[i]] + 1
        if m >= 0:
          loss += m
          dW[:, j] += X[i]
          dW[:, y[i]] -= X[i]
  return loss / N + reg * np.sum(W * W), dW / N + 2 * reg * W


def svm_loss_vectorized(W, X, y, reg):
  N = X.shape[0]
  S = X.dot(W)
  idx = (np.arange(N), y)
  M = np.where(S - S[idx][:, None] + 1 > 0, S - S[idx][:, None] + 1, 0.0)
  M[idx] = 0
  loss = M.sum() / N + reg * np.sum(W * W)
  coef = np.where(M > 0, 1.0, 0.0)
  np.add.at(coef, idx, -coef.sum(axis=1))
  dW = X.T.dot(coef) / N + 2 * reg * W
  return loss, dW
