import numpy as np


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
    dW = np.zeros(W.shape)
    num_train = X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W)
        margins = scores - scores[y[i]] + 1  # delta = 1
        margins[y[i]] = 0
        violated = margins > 0
        loss += np.sum(margins[violated])
        # every violated class j gets +x_i, the correct class gets -x_i once
        # per violated class
        dW[:, violated] += X[i][:, np.newaxis]
        dW[:, y[i]] -= np.sum(violated) * X[i]

    loss /= num_train
    dW /= num_train

    loss += reg * np.sum(W * W)
    dW += reg * W

    return loss, dW


def svm_loss_vectorized(W, X, y, reg):
    """
    Structured SVM loss function, vectorized implementation.

    Inputs and outputs are the same as svm_loss_naive.
    """
    num_train = X.shape[0]
    num_classes = W.shape[1]

    scores = X.dot(W)
    is_correct = np.arange(num_classes) == y[:, np.newaxis]  # (N, C) one-hot mask
    correct_class_scores = scores[is_correct].reshape(num_train, 1)
    margins = scores - correct_class_scores + 1
    violated = (margins > 0) & ~is_correct

    loss = np.sum(margins[violated]) / num_train
    loss += reg * np.sum(W * W)

    # binary matrix trick: +1 where the margin is violated, minus the number of
    # violations in the correct-class column
    binary = violated.astype(np.float64)
    binary[is_correct] = -np.sum(violated, axis=1)
    dW = X.T.dot(binary) / num_train
    dW += reg * W

    return loss, dW
