#!/usr/bin/env python3
"""scikit-learn's side of the digits example (examples/digits.nn).

  digits_check.py reference DIR   writes DIR/x.npy (the test split's images,
                                  f32 [360, 64]), DIR/labels.npy and
                                  DIR/proba.npy: scikit-learn's predict_proba
                                  for the committed weights
  digits_check.py accuracy DIR/probs.npy
                                  prints the accuracy of soma's probabilities
                                  on the test split
  digits_check.py sparsity [DIR/h1.npy DIR/h2.npy]
                                  prints the fraction of zero activations after
                                  each ReLU on the test split: of the given
                                  arrays (soma's), or computed here in float64

The split is examples/digits/train.py's (imported from there). The classifier
is rebuilt from the committed .npy weights (rounded to f32, as soma reads
them) rather than retrained, so the test does not depend on training.
"""
import os
import sys

import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelBinarizer

DIGITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "digits")
sys.dont_write_bytecode = True  # no __pycache__ in examples/digits
sys.path.insert(0, DIGITS)
import train  # noqa: E402  (the split and the layer sizes)

LAYERS = ["fc1", "fc2", "out"]


def weights():
    """[(W [inputs, units], b)] in float64, scikit-learn's layout."""
    return [(np.load(os.path.join(DIGITS, n + "_weights.npy")).astype(np.float64).T,
             np.load(os.path.join(DIGITS, n + "_bias.npy")).astype(np.float64)) for n in LAYERS]


def classifier():
    """An MLPClassifier holding the committed weights, ready for predict_proba."""
    clf = MLPClassifier(hidden_layer_sizes=train.HIDDEN, activation="relu")
    ws = weights()
    clf.coefs_ = [w for w, _ in ws]
    clf.intercepts_ = [b for _, b in ws]
    clf.n_layers_ = len(ws) + 1
    clf.n_outputs_ = ws[-1][0].shape[1]
    clf.out_activation_ = "softmax"
    clf._label_binarizer = LabelBinarizer().fit(np.arange(10))
    clf.classes_ = clf._label_binarizer.classes_
    clf.n_features_in_ = ws[0][0].shape[0]
    return clf


def hidden(x):
    """The ReLU layers' outputs for raw images x, in float64."""
    h = x / 16.0
    out = []
    for w, b in weights()[:-1]:
        h = np.maximum(h @ w + b, 0.0)
        out.append(h)
    return out


def main():
    _, x_test, _, y_test = train.split()
    cmd = sys.argv[1]
    if cmd == "reference":
        d = sys.argv[2]
        np.save(os.path.join(d, "x.npy"), x_test.astype("<f4"))
        np.save(os.path.join(d, "labels.npy"), y_test.astype("<i8"))
        np.save(os.path.join(d, "proba.npy"), classifier().predict_proba(x_test / 16.0).astype("<f4"))
        print("wrote %d test images" % len(x_test))
    elif cmd == "accuracy":
        probs = np.load(sys.argv[2])
        print("soma test accuracy %.4f on %d images" % ((probs.argmax(axis=1) == y_test).mean(), len(y_test)))
        print("scikit-learn test accuracy %.4f" % classifier().score(x_test / 16.0, y_test))
    elif cmd == "sparsity":
        hs = [np.load(p) for p in sys.argv[2:]] if len(sys.argv) > 2 else hidden(x_test)
        for name, h in zip(LAYERS, hs):
            zero = (h == 0).mean()
            dead = (h == 0).all(axis=0).sum()
            print("%s: %.1f%% of activations zero (%d of %d); %d of %d neurons zero on every image"
                  % (name, 100 * zero, (h == 0).sum(), h.size, dead, h.shape[1]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
