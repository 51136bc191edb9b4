#!/usr/bin/env python3
"""Trains the MLP in examples/digits.nn on scikit-learn's digits data and
writes its weights as .npy files next to this script.

  /usr/bin/python3 examples/digits/train.py

The data (1797 8x8 images, pixel values 0..16) ships with scikit-learn
(Debian: python3-sklearn). The split and the training are seeded, so a run
writes the same weights on the same scikit-learn version; the weights are
committed, so the tests never retrain. The network divides the pixels by 16
itself (a scaleshift layer), as the classifier was trained on pixels / 16.

Weights are written [units, inputs] (soma's layout: the transpose of
scikit-learn's coefs_), as little-endian float32.
"""
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
HIDDEN = (64, 32)
SEED = 0


def split():
    """The train/test split every script uses: 20% test, seeded, stratified."""
    d = load_digits()
    return train_test_split(d.data, d.target, test_size=0.2, random_state=SEED, stratify=d.target)


def main():
    x_train, x_test, y_train, y_test = split()
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, activation="relu", solver="adam",
                        alpha=1e-4, max_iter=300, random_state=SEED)
    clf.fit(x_train / 16.0, y_train)
    # Round to f32 first: soma computes with these values, and the tests
    # compare with predict_proba on the same rounded weights.
    names = ["fc1", "fc2", "out"]
    for name, w, b in zip(names, clf.coefs_, clf.intercepts_):
        np.save(os.path.join(HERE, name + "_weights.npy"), np.ascontiguousarray(w.T, dtype="<f4"))
        np.save(os.path.join(HERE, name + "_bias.npy"), np.asarray(b, dtype="<f4"))
    print("train accuracy %.4f, test accuracy %.4f, %d iterations" %
          (clf.score(x_train / 16.0, y_train), clf.score(x_test / 16.0, y_test), clf.n_iter_))


if __name__ == "__main__":
    main()
