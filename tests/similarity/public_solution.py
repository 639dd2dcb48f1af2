# A solution posted on a public repository (cs231n assignment 1, linear_svm.py).
import numpy as np
from random import shuffle


def svm_loss_naive(W, X, y, reg):
    dW = np.zeros(W.shape)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W)
        correct_class_score = scores[y[i]]
        count = 0
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i].T
                count += 1
        dW[:, y[i]] += -count * X[i].T
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += reg * 2 * W
    return loss, dW


def svm_loss_vectorized(W, X, y, reg):
    loss = 0.0
    dW = np.zeros(W.shape)
    num_train = X.shape[0]
    scores = np.dot(X, W)
    correct_scores = np.choose(y, scores.T)
    margin_matrix = scores - correct_scores[:, np.newaxis] + 1
    margin_matrix[np.arange(num_train), y] = 0
    margin_matrix = margin_matrix * (margin_matrix > 0)
    loss = np.sum(margin_matrix) / num_train + reg * np.sum(W * W)
    counts = (margin_matrix > 0).astype(int)
    counts[np.arange(num_train), y] = -np.sum(counts, axis=1)
    dW = np.dot(X.T, counts) / num_train + 2 * reg * W
    return loss, dW
