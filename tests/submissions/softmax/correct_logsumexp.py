import numpy as np
from scipy.special import logsumexp


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
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]

    for i in range(num_train):
        scores = X[i].dot(W)
        # log(sum(exp(s))) = m + log(sum(exp(s - m))), stable for any m = max(s)
        m = np.max(scores)
        log_sum_exp = m + np.log(np.sum(np.exp(scores - m)))
        # L_i = -log(e^{s_y} / sum_j e^{s_j}) = log_sum_exp - s_y
        loss += log_sum_exp - scores[y[i]]

        dscores = np.exp(scores - log_sum_exp)  # softmax probabilities
        dscores[y[i]] -= 1
        dW += np.outer(X[i], dscores)

    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
    """
    Softmax loss function, vectorized version.

    Inputs and outputs are the same as softmax_loss_naive.
    """
    num_train = X.shape[0]
    rows = np.arange(num_train)

    scores = X.dot(W)
    log_probs = scores - logsumexp(scores, axis=1, keepdims=True)
    loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)

    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dW = X.T.dot(dscores) / num_train + 2 * reg * W
    return loss, dW
