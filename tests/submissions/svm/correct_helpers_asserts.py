# Test fixture (correct_helpers_asserts): correct; module-level helper functions shared by both versions, asserts on the inputs (the vectorized one loops over the fixed tuple (W, X, y)).
from builtins import range
import numpy as np
from random import shuffle
from past.builtins import xrange

DELTA = 1.0


def _hinge_margins(scores, correct_scores):
  """margins max(0, s_j - s_y + delta); works for one row or for a batch."""
  return np.maximum(0, scores - correct_scores + DELTA)


def _l2(W, reg):
  """Regularization loss and its gradient."""
  return reg * np.sum(W * W), 2 * reg * W


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
  assert X.shape[1] == W.shape[0], 'X and W do not fit'
  assert X.shape[0] == y.shape[0]
  dW = np.zeros(W.shape) # initialize the gradient as zero

  # compute the loss and the gradient
  num_classes = W.shape[1]
  num_train = X.shape[0]
  loss = 0.0
  for i in xrange(num_train):
    scores = X[i].dot(W)
    margins = _hinge_margins(scores, scores[y[i]])
    for j in xrange(num_classes):
      if j == y[i]:
        continue
      if margins[j] > 0:
        loss += margins[j]
        dW[:, j] += X[i]
        dW[:, y[i]] -= X[i]

  # Right now the loss is a sum over all training examples, but we want it
  # to be an average instead so we divide by num_train.
  loss /= num_train
  dW /= num_train

  # Add regularization to the loss.
  reg_loss, reg_grad = _l2(W, reg)
  loss += reg_loss
  dW += reg_grad

  return loss, dW


def svm_loss_vectorized(W, X, y, reg):
  """
  Structured SVM loss function, vectorized implementation.

  Inputs and outputs are the same as svm_loss_naive.
  """
  for a in (W, X, y):
    assert isinstance(a, np.ndarray), 'expected numpy arrays'
  assert W.ndim == 2 and X.ndim == 2 and y.ndim == 1
  loss = 0.0
  dW = np.zeros(W.shape) # initialize the gradient as zero

  #############################################################################
  # TODO:                                                                     #
  # Implement a vectorized version of the structured SVM loss, storing the    #
  # result in loss.                                                           #
  #############################################################################
  num_train = X.shape[0]
  rows = np.arange(num_train)
  scores = X.dot(W)
  margins = _hinge_margins(scores, scores[rows, y][:, np.newaxis])
  margins[rows, y] = 0
  reg_loss, reg_grad = _l2(W, reg)
  loss = np.sum(margins) / num_train + reg_loss
  #############################################################################
  #                             END OF YOUR CODE                              #
  #############################################################################


  #############################################################################
  # TODO:                                                                     #
  # Implement a vectorized version of the gradient for the structured SVM     #
  # loss, storing the result in dW.                                           #
  #############################################################################
  binary = np.zeros_like(margins)
  binary[margins > 0] = 1
  binary[rows, y] = -np.sum(binary, axis=1)
  dW = X.T.dot(binary) / num_train + reg_grad
  assert dW.shape == W.shape
  #############################################################################
  #                             END OF YOUR CODE                              #
  #############################################################################

  return loss, dW
