# Test fixture (correct_helper_shadow): correct; the naive version uses the student's own loop-based helper logsumexp(v), the vectorized one calls the library's scipy.special.logsumexp, which shares the bare name.
from builtins import range
import numpy as np
import scipy.special
from random import shuffle
from past.builtins import xrange


def logsumexp(v):
  """log(sum(exp(v))) for a 1-D vector, shifted by the max so exp can't overflow."""
  m = np.max(v)
  total = 0.0
  for v_k in v:
    total += np.exp(v_k - m)
  return m + np.log(total)


def softmax_loss_naive(W, X, y, reg):
  """
  Softmax loss function, naive implementation (with loops)

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
  # Initialize the loss and gradient to zero.
  loss = 0.0
  dW = np.zeros_like(W)

  #############################################################################
  # TODO: Compute the softmax loss and its gradient using explicit loops.     #
  # Store the loss in loss and the gradient in dW. If you are not careful     #
  # here, it is easy to run into numeric instability. Don't forget the        #
  # regularization!                                                           #
  #############################################################################
  num_train = X.shape[0]
  num_classes = W.shape[1]
  for i in xrange(num_train):
    f = X[i].dot(W)
    lse = logsumexp(f)
    loss += lse - f[y[i]]
    for j in xrange(num_classes):
      p_j = np.exp(f[j] - lse)
      dW[:, j] += p_j * X[i]
    dW[:, y[i]] -= X[i]
  loss = loss / num_train + reg * np.sum(W * W)
  dW = dW / num_train + 2 * reg * W
  #############################################################################
  #                          END OF YOUR CODE                                 #
  #############################################################################

  return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
  """
  Softmax loss function, vectorized version.

  Inputs and outputs are the same as softmax_loss_naive.
  """
  # Initialize the loss and gradient to zero.
  loss = 0.0
  dW = np.zeros_like(W)

  #############################################################################
  # TODO: Compute the softmax loss and its gradient using no explicit loops.  #
  # Store the loss in loss and the gradient in dW. If you are not careful     #
  # here, it is easy to run into numeric instability. Don't forget the        #
  # regularization!                                                           #
  #############################################################################
  num_train = X.shape[0]
  f = X.dot(W)
  lse = scipy.special.logsumexp(f, axis=1)
  loss = np.mean(lse - f[np.arange(num_train), y]) + reg * np.sum(W * W)
  P = np.exp(f - lse[:, None])
  P[np.arange(num_train), y] -= 1
  dW = X.T.dot(P) / num_train + 2 * reg * W
  #############################################################################
  #                          END OF YOUR CODE                                 #
  #############################################################################

  return loss, dW
