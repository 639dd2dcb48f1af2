# Test fixture (bug_int_sample_losses): naive keeps per-sample losses in np.zeros_like(y) (an int array): each sample loss is truncated
from builtins import range
import numpy as np
from random import shuffle
from past.builtins import xrange

def svm_loss_naive(W, X, y, reg):
  dW = np.zeros(W.shape)
  num_classes = W.shape[1]
  num_train = X.shape[0]
  losses = np.zeros_like(y)
  for i in range(num_train):
    scores = X[i].dot(W)
    correct_class_score = scores[y[i]]
    for j in range(num_classes):
      if j == y[i]:
        continue
      margin = scores[j] - correct_class_score + 1
      if margin > 0:
        losses[i] += margin
        dW[:, j] += X[i]
        dW[:, y[i]] -= X[i]
  loss = np.sum(losses) / num_train
  dW /= num_train
  loss += reg * np.sum(W * W)
  dW += 2 * reg * W
  return loss, dW


def svm_loss_vectorized(W, X, y, reg):
  num_train = X.shape[0]
  scores = X.dot(W)
  correct = scores[np.arange(num_train), y][:, np.newaxis]
  margins = np.maximum(0, scores - correct + 1)
  margins[np.arange(num_train), y] = 0
  loss = np.sum(margins) / num_train + reg * np.sum(W * W)
  binary = (margins > 0).astype(float)
  binary[np.arange(num_train), y] = -np.sum(binary, axis=1)
  dW = X.T.dot(binary) / num_train + 2 * reg * W
  return loss, dW
