import numpy as np
from random import shuffle
from past.builtins import xrange

def svm_loss_naive(W, X, y, reg):
  """
  Structured SVM loss function, naive implementation (with loops).

  Inputs have dimension D, there are C classes, and we operate on minibatches
  of N examples.

  Inputs:
  - W: A numpy array of shape (D, C) containing weights.
  - X: A numpy array of shape (N, D) containing a minibatch of data.
  - y: A numpy array of shape (N,) containing training labels; y[i] = c means
    that X[i] has label c, where 0 <= c < C.
  - reg: (float) regularization strength

  Returns a tuple of:
  - loss as single float
  - gradient with respect to weights W; an array of same shape as W
  """
  dW = np.zeros(W.shape)
  num_classes = W.shape[1]
  num_train = X.shape[0]
  loss = 0.0
  for i in range(num_train):
    scores = X[i].dot(W)
    margins = np.maximum(0, scores - scores[y[i]] + 1)
    margins[y[i]] = 0
    loss += np.sum(margins)
    for j in range(num_classes):
      if margins[j] > 0:
        dW[:, j] += X[i]
        dW[:, y[i]] -= X[i]

  loss = loss / num_train + reg * np.sum(W * W)
  dW = dW + 2 * reg * W
  return loss, dW


def svm_loss_vectorized(W, X, y, reg):
  """
  Structured SVM loss function, vectorized implementation.

  Inputs and outputs are the same as svm_loss_naive.
  """
  num_train = X.shape[0]
  scores = X.dot(W)                                   # N x C
  correct_class_scores = np.choose(y, scores.T)       # N
  margins = np.maximum(0, scores - correct_class_scores[:, np.newaxis] + 1)
  margins[np.arange(num_train), y] = 0
  loss = np.sum(margins) / num_train + reg * np.sum(W * W)

  dscores = (margins > 0).astype(float)
  dscores[np.arange(num_train), y] = -np.sum(dscores, axis=1)
  dW = X.T.dot(dscores) + 2 * reg * W
  return loss, dW
