# Test fixture (bug_log_epsilon): softmax_loss_vectorized adds 1e-12 inside the log "to avoid log(0)": right to 1e-11 on typical scores, wrong where a correct-class probability is tiny (large weights).
import numpy as np
from random import shuffle
from past.builtins import xrange

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

  num_classes = W.shape[1]
  num_train = X.shape[0]
  for i in range(num_train):
    f = X[i].dot(W)
    f -= np.max(f)
    p = np.exp(f) / np.sum(np.exp(f))
    one_hot = np.zeros(num_classes)
    one_hot[y[i]] = 1
    loss -= np.log(np.sum(p * one_hot))
    dW += np.outer(X[i], p - one_hot)

  loss /= num_train
  dW /= num_train
  loss += reg * np.sum(W * W)
  dW += 2 * reg * W

  return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
  """
  Softmax loss function, vectorized version.

  Inputs and outputs are the same as softmax_loss_naive.
  """
  num_classes = W.shape[1]
  num_train = X.shape[0]

  f = X.dot(W)
  f -= np.max(f, axis=1)[:, np.newaxis]
  p = np.exp(f)
  p /= np.sum(p, axis=1, keepdims=True)

  Y = np.eye(num_classes)[y]            # one-hot labels, N x C
  correct_p = np.sum(p * Y, axis=1)
  loss = -np.sum(np.log(correct_p + 1e-12)) / num_train  # avoid log(0)
  loss += reg * np.sum(W * W)

  dW = X.T.dot(p - Y) / num_train
  dW += 2 * reg * W

  return loss, dW
