# Test fixture (bug_log_of_mean_exp): vectorized normalises with np.mean instead of np.sum over classes (loss off by log C per sample; gradient right)
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


def softmax_loss_vectorized(W, X, y, reg):
  num_train = X.shape[0]
  scores = X.dot(W)
  scores -= scores.max(axis=1, keepdims=True)
  exp_scores = np.exp(scores)
  log_probs = scores - np.log(np.mean(exp_scores, axis=1, keepdims=True))
  loss = -np.sum(log_probs[np.arange(num_train), y]) / num_train + reg * np.sum(W * W)
  dscores = exp_scores / exp_scores.sum(axis=1, keepdims=True)
  dscores[np.arange(num_train), y] -= 1
  dW = X.T.dot(dscores) / num_train + 2 * reg * W
  return loss, dW
