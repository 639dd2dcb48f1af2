"""Trusted reference for the CS231n 2017 two-layer net (``neural_net.py``).

The class ``TwoLayerNet`` is the 2017 starter with the solution filled in, using
the 2017 conventions: the loss is the mean softmax cross-entropy plus
``reg * (sum(W1 * W1) + sum(W2 * W2))``, the weight gradients include
``2 * reg * W`` and the biases are not regularised.

The module-level functions ``forward_scores`` and ``loss_and_grads`` compute the
same maths on a plain ``params`` dict. The grader calls them directly so that it
never depends on the state of a class instance. They never modify their inputs.
"""

import numpy as np

PARAM_NAMES = ('W1', 'b1', 'W2', 'b2')


def _forward(params, X):
    """Return ``(hidden, scores)`` for the affine - ReLU - affine network."""
    hidden = np.maximum(0, X.dot(params['W1']) + params['b1'])
    scores = hidden.dot(params['W2']) + params['b2']
    return hidden, scores


def forward_scores(params, X):
    """Class scores of shape (N, C) for inputs X of shape (N, D)."""
    return _forward(params, X)[1]


def loss_and_grads(params, X, y, reg):
    """Softmax loss with L2 regularisation, and its gradients.

    Inputs:
    - params: dict with W1 (D, H), b1 (H,), W2 (H, C), b2 (C,).
    - X: array of shape (N, D).
    - y: int array of shape (N,) with 0 <= y[i] < C.
    - reg: regularisation strength.

    Returns a tuple ``(loss, grads)``: ``loss`` is a float, ``grads`` a dict
    with the keys and shapes of ``params``.
    """
    W1, W2 = params['W1'], params['W2']
    N = X.shape[0]
    rows = np.arange(N)

    hidden, scores = _forward(params, X)

    # Shift by the row maximum so that exp never overflows.
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(shifted)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)

    data_loss = -np.sum(np.log(probs[rows, y])) / N
    reg_loss = reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    loss = float(data_loss + reg_loss)

    dscores = probs.copy()
    dscores[rows, y] -= 1
    dscores /= N

    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0

    grads = {
        'W1': X.T.dot(dhidden) + 2 * reg * W1,
        'b1': np.sum(dhidden, axis=0),
        'W2': hidden.T.dot(dscores) + 2 * reg * W2,
        'b2': np.sum(dscores, axis=0),
    }
    return loss, grads


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
        if y is None:
            return forward_scores(self.params, X)
        return loss_and_grads(self.params, X, y, reg)

    def train(self, X, y, X_val, y_val,
              learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100,
              batch_size=200, verbose=False):
        """
        Train this neural network using stochastic gradient descent.

        Inputs:
        - X: A numpy array of shape (N, D) giving training data.
        - y: A numpy array of shape (N,) giving training labels; y[i] = c means that
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

        # Use SGD to optimize the parameters in self.model
        loss_history = []
        train_acc_history = []
        val_acc_history = []

        for it in range(num_iters):
            batch_indices = np.random.choice(num_train, batch_size, replace=True)
            X_batch = X[batch_indices]
            y_batch = y[batch_indices]

            # Compute loss and gradients using the current minibatch
            loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
            loss_history.append(loss)

            for name in PARAM_NAMES:
                self.params[name] -= learning_rate * grads[name]

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
        return np.argmax(forward_scores(self.params, X), axis=1)
