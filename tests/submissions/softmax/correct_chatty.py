from __future__ import print_function
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

  #############################################################################
  # TODO: Compute the softmax loss and its gradient using explicit loops.     #
  # Store the loss in loss and the gradient in dW. If you are not careful     #
  # here, it is easy to run into numeric instability. Don't forget the        #
  # regularization!                                                           #
  #############################################################################
  num_classes = W.shape[1]
  num_train = X.shape[0]
  print('softmax_loss_naive: W', W.shape, 'X', X.shape, 'reg', reg)
  for i in xrange(num_train):
    scores = X[i].dot(W)
    print('sample %d: max score %f' % (i, np.max(scores)))
    scores -= np.max(scores)
    probs = np.exp(scores) / np.sum(np.exp(scores))
    print('  probs:', probs)
    loss_i = -np.log(probs[y[i]])
    print('  label %d, p(correct) = %f, loss_i = %f' % (y[i], probs[y[i]], loss_i))
    loss += loss_i
    for j in xrange(num_classes):
      dW[:, j] += (probs[j] - (j == y[i])) * X[i]

  loss /= num_train
  dW /= num_train
  print('data loss:', loss)

  loss += reg * np.sum(W * W)
  dW += 2 * reg * W
  print('total loss:', loss, 'dW norm:', np.linalg.norm(dW))
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
  print('softmax_loss_vectorized: W', W.shape, 'X', X.shape, 'reg', reg)
  scores = X.dot(W)
  scores -= np.max(scores, axis=1, keepdims=True)
  print('shifted scores: min %f' % np.min(scores))
  probs = np.exp(scores)
  probs /= np.sum(probs, axis=1, keepdims=True)
  print('probs:')
  print(np.array2string(probs, threshold=probs.size + 1, precision=4))
  loss = -np.sum(np.log(probs[np.arange(num_train), y])) / num_train
  loss += reg * np.sum(W * W)
  print('loss:', loss)

  dscores = probs.copy()
  dscores[np.arange(num_train), y] -= 1
  print('dW norm:', np.linalg.norm(X.T.dot(dscores) / num_train))
  dW = X.T.dot(dscores) / num_train
  dW += 2 * reg * W
  #############################################################################
  #                          END OF YOUR CODE                                 #
  #############################################################################

  return loss, dW
