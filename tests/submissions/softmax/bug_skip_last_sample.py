# Test fixture (bug_skip_last_sample): naive loops over range(num_train - 1) (skips the last sample) but divides by num_train
from builtins import range
import numpy as np
from random import shuffle
from past.builtins import xrange

def softmax_loss_naive(W, X, y, reg):
  loss = 0.0
  dW = np.zeros_like(W)
  num_train = X.shape[0]
  num_classes = W.shape[1]
  for i in range(num_train - 1):
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


def softmax_loss_vectorized(W, X, y, reg):
  num_train = X.shape[0]
  scores = X.dot(W)
  scores -= scores.max(axis=1, keepdims=True)
  probs = np.exp(scores)
  probs /= probs.sum(axis=1, keepdims=True)
  loss = -np.sum(np.log(probs[np.arange(num_train), y])) / num_train + reg * np.sum(W * W)
  dscores = probs.copy()
  dscores[np.arange(num_train), y] -= 1
  dW = X.T.dot(dscores) / num_train + 2 * reg * W
  return loss, dW
