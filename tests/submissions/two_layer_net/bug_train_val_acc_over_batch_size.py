# Test fixture (bug_train_val_acc_over_batch_size): the validation accuracy is the number of correct predictions divided by batch_size.
from __future__ import print_function

import numpy as np
import matplotlib.pyplot as plt
from past.builtins import xrange
from scipy.special import logsumexp

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

    # Compute the forward pass
    scores = None
    #############################################################################
    # TODO: Perform the forward pass, computing the class scores for the input. #
    #############################################################################
    layer1 = X @ W1 + b1
    relu1 = np.where(layer1 > 0, layer1, 0.0)
    scores = relu1 @ W2 + b2
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
    log_probs = scores - logsumexp(scores, axis=1, keepdims=True)
    picked = np.take_along_axis(log_probs, y[:, None], axis=1)   # (N, 1)
    loss = -picked.sum() / N
    loss += reg * (np.sum(np.square(W1)) + np.sum(np.square(W2)))
    #############################################################################
    #                              END OF YOUR CODE                             #
    #############################################################################

    # Backward pass: compute gradients
    grads = {}
    #############################################################################
    # TODO: Compute the backward pass.                                          #
    #############################################################################
    dscores = np.exp(log_probs)
    np.put_along_axis(dscores, y[:, None],
                      np.take_along_axis(dscores, y[:, None], axis=1) - 1, axis=1)
    dscores /= N
    grads['W2'] = relu1.T @ dscores + 2 * reg * W2
    grads['b2'] = dscores.sum(0)
    drelu1 = dscores @ W2.T
    dlayer1 = np.where(layer1 > 0, drelu1, 0.0)
    grads['W1'] = X.T @ dlayer1 + 2 * reg * W1
    grads['b1'] = dlayer1.sum(0)
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

    # shuffled queue of sample indices; refilled with a fresh permutation
    # whenever it runs low, so every sample is seen once per pass
    queue = np.array([], dtype=int)

    for it in xrange(num_iters):
      X_batch = None
      y_batch = None

      #########################################################################
      # TODO: Create a random minibatch of training data and labels.          #
      #########################################################################
      while queue.shape[0] < batch_size:
        queue = np.concatenate([queue, np.random.permutation(num_train)])
      batch_idx, queue = queue[:batch_size], queue[batch_size:]
      X_batch = X[batch_idx]
      y_batch = y[batch_idx]
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
      for param_name, grad in grads.items():
        self.params[param_name] -= learning_rate * grad
      #########################################################################
      #                             END OF YOUR CODE                          #
      #########################################################################

      if verbose and it % 100 == 0:
        print('iteration %d / %d: loss %f' % (it, num_iters, loss))

      # Every epoch, check train and val accuracy and decay learning rate.
      if it % iterations_per_epoch == 0:
        # Check accuracy
        train_acc = (self.predict(X_batch) == y_batch).mean()
        val_acc = (self.predict(X_val) == y_val).sum() / float(batch_size)
        train_acc_history.append(train_acc)
        val_acc_history.append(val_acc)
        if verbose:
          print('epoch %.1f: train_acc %f, val_acc %f, lr %e'
                % (it / iterations_per_epoch, train_acc, val_acc, learning_rate))

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
    scores = self.loss(X)
    y_pred = np.argmax(scores, axis=1)
    ###########################################################################
    #                              END OF YOUR CODE                           #
    ###########################################################################

    return y_pred
