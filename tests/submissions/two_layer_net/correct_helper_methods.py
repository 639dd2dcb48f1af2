# Test fixture (correct_helper_methods): correct; helper methods _minibatch (unseeded default_rng().integers) and _sgd_step (out of place), histories in a dict.
# solution: helper methods, ReLU by mask multiplication, one-hot labels,
# log-sum-exp loss, `@`, integer iterations_per_epoch and a harmless np.int.
from __future__ import print_function
from builtins import range

import numpy as np
import matplotlib.pyplot as plt


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

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _affine(x, w, b):
        return x @ w + b

    @staticmethod
    def _log_softmax(scores):
        """Row-wise log softmax, computed with the log-sum-exp trick."""
        row_max = scores.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scores - row_max).sum(axis=1, keepdims=True))
        return scores - row_max - log_norm

    def _forward(self, X):
        """Return the scores and what the backward pass needs."""
        p = self.params
        pre_activation = self._affine(X, p['W1'], p['b1'])
        relu_mask = pre_activation > 0
        hidden = pre_activation * relu_mask
        scores = self._affine(hidden, p['W2'], p['b2'])
        return scores, (hidden, relu_mask)

    def _l2_penalty(self):
        return np.square(self.params['W1']).sum() + np.square(self.params['W2']).sum()

    # --------------------------------------------------------------- interface

    def loss(self, X, y=None, reg=0.0):
        """
        Compute the loss and gradients for a two layer fully connected neural
        network.

        Inputs:
        - X: Input data of shape (N, D). Each X[i] is a training sample.
        - y: Vector of training labels. y[i] is the label for X[i], and each y[i] is
          an integer in the range 0 <= y[i] < C. This parameter is optional; if it
          is not passed then we only return scores, and if it is passed then we
          instead return the loss and gradients.
        - reg: Regularization strength.

        Returns:
        If y is None, return a matrix scores of shape (N, C) where scores[i, c] is
        the score for class c on input X[i].

        If y is not None, instead return a tuple of:
        - loss: Loss (data loss and regularization loss) for this batch of training
          samples.
        - grads: Dictionary mapping parameter names to gradients of those parameters
          with respect to the loss function; has the same keys as self.params.
        """
        scores, (hidden, relu_mask) = self._forward(X)
        if y is None:
            return scores

        num_samples, num_classes = scores.shape
        labels = np.asarray(y, dtype=np.int)
        one_hot = np.zeros((num_samples, num_classes))
        one_hot[np.arange(num_samples), labels] = 1.0

        log_probs = self._log_softmax(scores)
        data_loss = -np.sum(one_hot * log_probs) / num_samples
        loss = data_loss + reg * self._l2_penalty()

        W1, W2 = self.params['W1'], self.params['W2']
        dscores = (np.exp(log_probs) - one_hot) / num_samples
        dhidden = (dscores @ W2.T) * relu_mask

        grads = {
            'W1': X.T @ dhidden + 2 * reg * W1,
            'b1': dhidden.sum(axis=0),
            'W2': hidden.T @ dscores + 2 * reg * W2,
            'b2': dscores.sum(axis=0),
        }
        return loss, grads

    def train(self, X, y, X_val, y_val,
              learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100,
              batch_size=200, verbose=False):
        """
        Train this neural network using stochastic gradient descent.

        Inputs:
        - X: A numpy array of shape (N, D) giving training data.
        - y: A numpy array f shape (N,) giving training labels; y[i] = c means that
          X[i] has label c, where 0 <= c < C.
        - X_val: A numpy array of shape (N_val, D) giving validation data.
        - y_val: A numpy array of shape (N_val,) giving validation labels.
        - learning_rate: Scalar giving learning rate for optimization.
        - learning_rate_decay: Scalar giving factor used to decay the learning rate
          after each epoch.
        - reg: Scalar giving regularization strength.
        - num_iters: Number of steps to take when optimizing.
        - batch_size: Number of training examples to use per step.
        - verbose: boolean; if true print progress during optimization.
        """
        num_train = X.shape[0]
        iterations_per_epoch = max(num_train / batch_size, 1)

        history = {'loss_history': [], 'train_acc_history': [], 'val_acc_history': []}

        for it in range(num_iters):
            X_batch, y_batch = self._minibatch(X, y, batch_size)

            loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
            history['loss_history'].append(loss)

            self._sgd_step(grads, learning_rate)

            if verbose and it % 100 == 0:
                print('iter {:5d}/{}: loss {:.6f}'.format(it, num_iters, loss))

            if it % iterations_per_epoch == 0:
                history['train_acc_history'].append(np.mean(self.predict(X_batch) == y_batch))
                history['val_acc_history'].append(np.mean(self.predict(X_val) == y_val))
                learning_rate *= learning_rate_decay

        return history

    def _minibatch(self, X, y, batch_size):
        idx = np.random.default_rng().integers(X.shape[0], size=batch_size)
        return X[idx], y[idx]

    def _sgd_step(self, grads, lr):
        for k in ('W1', 'b1', 'W2', 'b2'):
            self.params[k] = self.params[k] - lr * grads[k]

    def predict(self, X):
        """
        Use the trained weights of this two-layer network to predict labels for
        data points. For each data point we predict scores for each of the C
        classes, and assign each data point to the class with the highest score.

        Inputs:
        - X: A numpy array of shape (N, D) giving N D-dimensional data points to
          classify.

        Returns:
        - y_pred: A numpy array of shape (N,) giving predicted labels for each of
          the elements of X. For all i, y_pred[i] = c means that X[i] is predicted
          to have class c, where 0 <= c < C.
        """
        scores, _ = self._forward(X)
        return scores.argmax(axis=1).astype(np.int)
