# Test fixture (correct_sparse_onehot): correct; scipy.sparse one-hot matrix, default_rng-free, verbose guard, log via logsumexp written by hand
from builtins import range
import numpy as np
from random import shuffle
from past.builtins import xrange

def softmax_loss_naive(W, X, y, reg):
  loss = 0.0
  dW = np.zeros_like(W)
  num_train = X.shape[0]
  num_classes = W.shape[1]
  for i in range(num_train):
    scores = X[i].dot(W)
    scores -= np.max(scores)
    p = np.exp(scores) / np.sum(np.exp(scores))
    loss += -np.log(p[y[i]])
    for j in range(num_classes):
      dW[:, j] += (p[j] - (j == y[i])) * X[i]
  loss /= num_train
  dW /= num_train
  loss += reg * np.sum(W * W)
  dW += 2 * reg * W
  return loss, dW


import scipy.sparse as sp

def softmax_loss_vectorized(W, X, y, reg, verbose=False):
  N, C = X.shape[0], W.shape[1]
  Y = sp.csr_matrix((np.ones(N), (np.arange(N), y)), shape=(N, C))
  S = X.dot(W)
  m = S.max(axis=1, keepdims=True)
  lse = m[:, 0] + np.log(np.exp(S - m).sum(axis=1))
  correct = np.asarray(Y.multiply(S).sum(axis=1)).ravel()
  loss = np.mean(lse - correct) + reg * np.sum(W * W)
  P = np.exp(S - lse[:, None])
  dS = P - Y.toarray()
  if verbose:
    print('loss', loss)
  return loss, X.T.dot(dS) / N + 2 * reg * W
