# Test fixture (correct_rng_helpers): correct; module-level helpers (relu, softmax), an unseeded default_rng() created in __init__ and rng.choice without replacement when possible, verbose prints, histories kept in a dict.
from __future__ import print_function

import numpy as np
import matplotlib.pyplot as plt
from builtins import range
from past.builtins import xrange


def relu(x):
  return np.maximum(0, x)


def softmax(scores):
  """Row-wise softmax with the max trick."""
  z = scores - np.amax(scores, axis=1, keepdims=True)
  ez = np.exp(z)
  return ez / np.sum(ez, axis=1, keepdims=True)


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
    self.rng = np.random.default_rng()

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
    h = relu(np.dot(X, W1) + b1)
    scores = np.dot(h, W2) + b2
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
    probs = softmax(scores)
    rows = range(N)
    loss = np.mean(-np.log(probs[rows, y]))
    loss += reg * np.sum(W1 * W1) + reg * np.sum(W2 * W2)
    #############################################################################
    #                              END OF YOUR CODE                             #
    #############################################################################

    # Backward pass: compute gradients
    grads = {}
    #############################################################################
    # TODO: Compute the backward pass.                                          #
    #############################################################################
    dscores = probs
    dscores[rows, y] -= 1
    dscores = dscores / N
    dh = np.dot(dscores, W2.T)
    dh[h == 0] = 0
    grads = {
      'W1': np.dot(X.T, dh) + 2 * reg * W1,
      'b1': dh.sum(axis=0),
      'W2': np.dot(h.T, dscores) + 2 * reg * W2,
      'b2': dscores.sum(axis=0),
    }
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
    stats = {'loss_history': [], 'train_acc_history': [], 'val_acc_history': []}

    for it in range(num_iters):
      X_batch = None
      y_batch = None

      #########################################################################
      # TODO: Create a random minibatch of training data and labels.          #
      #########################################################################
      chosen = self.rng.choice(num_train, size=batch_size,
                               replace=(batch_size > num_train))
      X_batch = X[chosen, :]
      y_batch = y[chosen]
      #########################################################################
      #                             END OF YOUR CODE                          #
      #########################################################################

      # Compute loss and gradients using the current minibatch
      loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
      stats['loss_history'].append(loss)

      #########################################################################
      # TODO: Use the gradients in the grads dictionary to update the         #
      # parameters of the network using stochastic gradient descent.          #
      #########################################################################
      self.params['W1'] += -learning_rate * grads['W1']
      self.params['b1'] += -learning_rate * grads['b1']
      self.params['W2'] += -learning_rate * grads['W2']
      self.params['b2'] += -learning_rate * grads['b2']
      #########################################################################
      #                             END OF YOUR CODE                          #
      #########################################################################

      if verbose:
        print('iteration %d / %d: loss %f' % (it, num_iters, loss))

      # Every epoch, check train and val accuracy and decay learning rate.
      if it % iterations_per_epoch == 0:
        # Check accuracy
        stats['train_acc_history'].append(np.mean(self.predict(X_batch) == y_batch))
        stats['val_acc_history'].append(np.mean(self.predict(X_val) == y_val))
        if verbose:
          print('  train acc %.4f  val acc %.4f'
                % (stats['train_acc_history'][-1], stats['val_acc_history'][-1]))

        # Decay learning rate
        learning_rate *= learning_rate_decay

    return stats

  def predict(self, X):
    """
    Use the trained weights of this two-layer network to predict labels for
    data points.
    """
    y_pred = None

    ###########################################################################
    # TODO: Implement this function; it should be VERY simple!                #
    ###########################################################################
    h = relu(X.dot(self.params['W1']) + self.params['b1'])
    y_pred = np.argmax(h.dot(self.params['W2']) + self.params['b2'], axis=1)
    ###########################################################################
    #                              END OF YOUR CODE                           #
    ###########################################################################

    return y_pred
