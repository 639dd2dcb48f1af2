# Test fixture (bug_loss_from_mask): vectorized turns margins into the 0/1 mask in place before summing the loss (loss = count of violations)
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
  num_train = X.shape[0]
  scores = X.dot(W)
  correct = scores[np.arange(num_train), y][:, np.newaxis]
  margins = np.maximum(0, scores - correct + 1)
  margins[np.arange(num_train), y] = 0
  margins[margins > 0] = 1
  loss = np.sum(margins) / num_train + reg * np.sum(W * W)
  margins[np.arange(num_train), y] = -np.sum(margins, axis=1)
  dW = X.T.dot(margins) / num_train + 2 * reg * W
  return loss, dW
