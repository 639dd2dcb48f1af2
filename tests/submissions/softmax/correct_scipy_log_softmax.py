# Test fixture (correct_scipy_log_softmax): correct; scipy.special.log_softmax and softmax in the vectorized version, a one-hot from (y[:,None] == arange(C))
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


from scipy.special import log_softmax, softmax

def softmax_loss_vectorized(W, X, y, reg):
  num_train, num_classes = X.shape[0], W.shape[1]
  scores = X.dot(W)
  onehot = (y[:, None] == np.arange(num_classes)).astype(float)
  loss = -np.sum(log_softmax(scores, axis=1) * onehot) / num_train
  loss += reg * np.sum(W * W)
  dW = X.T.dot(softmax(scores, axis=1) - onehot) / num_train + 2 * reg * W
  return loss, dW
