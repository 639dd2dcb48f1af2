# Test fixture (correct_no_replace): correct; minibatches without replacement unless batch_size > num_train (replace=batch_size > num_train), one-hot labels, np.logaddexp.reduce, float32 ReLU mask, asserts over a fixed tuple of params, helper functions.
from __future__ import print_function

import numpy as np
import matplotlib.pyplot as plt
from past.builtins import xrange

class TwoLayerNet(object):
  """
  A two-layer fully-connected neural network. The net has an input dimension of
  N, a hidden layer dimension of H, and performs classification over C classes.
  We train the network with a softmax loss function and L2 regularization on the
  weight matrices. The network uses a ReLU nonlinearity after the first fully
  connected layer.

  In other words, the network has the following architecture:

  input - fully connected layer - ReLU - fully connected layer - softmax

  The outputs of the second fully-connected layer are the scores for each class.
  """

  def __init__(self, input_size, hidden_size, output_size, std=1e-4):
    """
    Initialize the model. Weights are initialized to small random values and
    biases are initialized to zero. Weights and biases are stored in the
    variable self.params, which is a dictionary with the following keys:

    W1: First layer weights; has shape (D, H)
    b1: First layer biases; has shape (H,)
    W2: Second layer weights; has shape (H, C)
    b2: Second layer biases; has shape (C,)

    Inputs:
    - input_size: The dimension D of the input data.
    - hidden_size: The number of neurons H in the hidden layer.
    - output_size: The number of classes C.
    """
    self.params = {}
    self.params['W1'] = std * np.random.randn(input_size, hidden_size)
    self.params['b1'] = np.zeros(hidden_size)
    self.params['W2'] = std * np.random.randn(hidden_size, output_size)
    self.params['b2'] = np.zeros(output_size)

  def _hidden(self, X):
    """Affine + ReLU. Returns the pre-activation too (needed for backprop)."""
    pre = X.dot(self.params['W1']) + self.params['b1']
    return pre, np.maximum(pre, 0)

  def _reg_term(self, reg):
    return reg * sum(np.sum(self.params[k] ** 2) for k in ('W1', 'W2'))

  def loss(self, X, y=None, reg=0.0):
    """
    Compute the loss and gradients for a two layer fully connected neural
    network.

    Returns:
    If y is None, return a matrix scores of shape (N, C).
    If y is not None, instead return a tuple (loss, grads).
    """
    # Unpack variables from the params dictionary
    W1, b1 = self.params['W1'], self.params['b1']
    W2, b2 = self.params['W2'], self.params['b2']
    N, D = X.shape
    for p in (W1, b1, W2, b2):
      assert np.all(np.isfinite(p)), 'parameters blew up'
    assert W1.shape[0] == D

    # Compute the forward pass
    scores = None
    #############################################################################
    # TODO: Perform the forward pass, computing the class scores for the input. #
    #############################################################################
    pre, hidden = self._hidden(X)
    scores = hidden.dot(W2) + b2
    #############################################################################
    #                              END OF YOUR CODE                             #
    #############################################################################

    # If the targets are not given then jump out, we're done
    if y is None:
      return scores

    # Compute the loss
    loss = None
    #############################################################################
    # TODO: Finish the forward pass, and compute the loss.                      #
    #############################################################################
    C = scores.shape[1]
    Y = np.zeros((N, C))
    Y[np.arange(N), y] = 1
    lse = np.logaddexp.reduce(scores, axis=1)        # log sum_j exp(s_j), stable
    log_probs = scores - lse[:, np.newaxis]
    loss = -np.sum(Y * log_probs) / N + self._reg_term(reg)
    #############################################################################
    #                              END OF YOUR CODE                             #
    #############################################################################

    # Backward pass: compute gradients
    grads = {}
    #############################################################################
    # TODO: Compute the backward pass.                                          #
    #############################################################################
    dscores = (np.exp(log_probs) - Y) / N
    grads['W2'] = hidden.T.dot(dscores) + 2 * reg * W2
    grads['b2'] = dscores.sum(axis=0)
    relu_mask = (pre > 0).astype(np.float32)   # 0/1 exactly, so float32 is fine
    dpre = dscores.dot(W2.T) * relu_mask
    grads['W1'] = X.T.dot(dpre) + 2 * reg * W1
    grads['b1'] = dpre.sum(axis=0)
    #############################################################################
    #                              END OF YOUR CODE                             #
    #############################################################################

    return loss, grads

  def train(self, X, y, X_val, y_val,
            learning_rate=1e-3, learning_rate_decay=0.95,
            reg=5e-6, num_iters=100,
            batch_size=200, verbose=False):
    """
    Train this neural network using stochastic gradient descent.
    """
    num_train = X.shape[0]
    iterations_per_epoch = max(num_train / batch_size, 1)

    # Use SGD to optimize the parameters in self.model
    loss_history = []
    train_acc_history = []
    val_acc_history = []

    for it in xrange(num_iters):
      X_batch = None
      y_batch = None

      #########################################################################
      # TODO: Create a random minibatch of training data and labels.          #
      #########################################################################
      # no duplicates inside a batch, unless there are not enough samples
      batch_idx = np.random.choice(num_train, batch_size,
                                   replace=batch_size > num_train)
      X_batch, y_batch = X[batch_idx], y[batch_idx]
      #########################################################################
      #                             END OF YOUR CODE                          #
      #########################################################################

      # Compute loss and gradients using the current minibatch
      loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
      loss_history.append(loss)

      #########################################################################
      # TODO: Use the gradients in the grads dictionary to update the         #
      # parameters of the network using stochastic gradient descent.          #
      #########################################################################
      for name in ('W1', 'b1', 'W2', 'b2'):
        self.params[name] -= learning_rate * grads[name]
      #########################################################################
      #                             END OF YOUR CODE                          #
      #########################################################################

      if verbose and it % 100 == 0:
        print('iteration %d / %d: loss %f' % (it, num_iters, loss))

      # Every epoch, check train and val accuracy and decay learning rate.
      if it % iterations_per_epoch == 0:
        # Check accuracy
        train_acc = (self.predict(X_batch) == y_batch).mean()
        val_acc = (self.predict(X_val) == y_val).mean()
        train_acc_history.append(train_acc)
        val_acc_history.append(val_acc)

        # Decay learning rate
        learning_rate *= learning_rate_decay

    return {
      'loss_history': loss_history,
      'train_acc_history': train_acc_history,
      'val_acc_history': val_acc_history,
    }

  def predict(self, X):
    """
    Use the trained weights of this two-layer network to predict labels for
    data points.
    """
    y_pred = None

    ###########################################################################
    # TODO: Implement this function; it should be VERY simple!                #
    ###########################################################################
    _, hidden = self._hidden(X)
    y_pred = np.argmax(hidden.dot(self.params['W2']) + self.params['b2'], axis=1)
    ###########################################################################
    #                              END OF YOUR CODE                           #
    ###########################################################################

    return y_pred
