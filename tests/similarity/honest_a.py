from builtins import range
import numpy as np
from random import shuffle
from past.builtins import xrange

def svm_loss_naive(W, X, y, reg):
  """
  Structured SVM loss function, naive implementation (with loops).
  """
  dW = np.zeros(W.shape) # initialize the gradient as zero

  # compute the loss and the gradient
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
        # every class over the margin pushes its column up and the true column down
        dW[:, j] += X[i]
        dW[:, y[i]] -= X[i]

  # Right now the loss is a sum over all training examples, but we want it
  # to be an average instead so we divide by num_train.
  loss /= num_train
  dW /= num_train

  # Add regularization to the loss.
  loss += reg * np.sum(W * W)
  dW += 2 * reg * W

  return loss, dW


def svm_loss_vectorized(W, X, y, reg):
  """
  Structured SVM loss function, vectorized implementation.

  Inputs and outputs are the same as svm_loss_naive.
  """
  loss = 0.0
  dW = np.zeros(W.shape) # initialize the gradient as zero

  num_train = X.shape[0]
  scores = X.dot(W)
  rows = np.arange(num_train)
  correct = scores[rows, y].reshape(-1, 1)
  margins = np.maximum(0, scores - correct + 1)
  margins[rows, y] = 0
  loss = np.sum(margins) / num_train + reg * np.sum(W * W)

  # the gradient: +X[i] for each positive margin, -count * X[i] for the true class
  binary = (margins > 0).astype(float)
  binary[rows, y] = -np.sum(binary, axis=1)
  dW = X.T.dot(binary) / num_train + 2 * reg * W

  return loss, dW
