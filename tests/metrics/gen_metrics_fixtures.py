#!/usr/bin/env python3
"""Writes the reference values of the lb_metrics tests.

Each scenario is a fixed (y_true, y_pred) pair with training counts. The
scalar and per-class metrics come from scikit-learn (zero_division=0) and
imbalanced-learn (geometric_mean_score, multiclass); the shot accuracies and
S1/S2-F1, which neither library has, are assembled from scikit-learn's
per-class recall and F1 as metrics.h defines them.

Output: tests/data/metrics/<name>.txt and MANIFEST, in a whitespace text
format that tests/test_metrics.c reads with fscanf: `key value...` pairs in
a fixed order, floats written by repr() so they read back exactly, NaN as
`nan`.

Run from the repository root:
    /usr/bin/python3 tests/metrics/gen_metrics_fixtures.py
(needs python3-sklearn and python3-imblearn).
"""

import math
import os
import warnings

import numpy as np
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import (accuracy_score, balanced_accuracy_score,
                             f1_score, precision_recall_fscore_support)

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "data", "metrics")
FORMAT_HEADER = "lossbal-metrics-fixture 1"
GMEAN_CORRECTION = 0.001


def scenario_never_predicted():
    """Class 3 occurs in y_true but is never predicted."""
    y_true = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 0, 1, 2]
    y_pred = [0, 1, 0, 1, 1, 2, 2, 0, 0, 1, 2, 0, 1, 2]
    return 4, y_true, y_pred, [150, 60, 20, 5]


def scenario_never_true():
    """Class 2 is predicted but never a true label; class 4 is neither, so
    it is outside scikit-learn's label set."""
    y_true = [0, 0, 1, 1, 1, 3, 3, 3, 3, 0]
    y_pred = [0, 2, 1, 2, 1, 3, 0, 3, 2, 0]
    return 5, y_true, y_pred, [300, 40, 10, 101, 19]


def scenario_perfect():
    y_true = [0, 1, 2, 2, 1, 0, 2, 2]
    return 3, y_true, list(y_true), [100, 20, 19]


def scenario_all_one_class():
    """Every true label is class 1; the predictions stray to 0 and 2."""
    y_true = [1] * 12
    y_pred = [1, 1, 0, 1, 2, 1, 1, 1, 0, 1, 1, 1]
    return 3, y_true, y_pred, [50, 50, 50]


def scenario_imbalanced_9():
    """A long tail of 9 classes with a fair classifier biased to the head;
    the rarest classes get few or no correct predictions."""
    rng = np.random.default_rng(20240611)
    train = [2000, 900, 400, 180, 90, 40, 18, 8, 3]
    test_support = [400, 180, 80, 36, 18, 9, 5, 3, 2]
    y_true, y_pred = [], []
    for c, n in enumerate(test_support):
        keep = max(0.0, 0.9 - 0.1 * c)
        for _ in range(n):
            y_true.append(c)
            if rng.random() < keep:
                y_pred.append(c)
            else:  # a mistake leans to the head classes
                y_pred.append(int(min(8, rng.geometric(0.45) - 1)))
    return 9, y_true, y_pred, train


def scenario_random_20():
    """20 classes, uniform random labels and noisy predictions."""
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 20, size=500)
    noise = rng.integers(0, 20, size=500)
    y_pred = np.where(rng.random(500) < 0.6, y_true, noise)
    train = [int(x) for x in rng.integers(0, 250, size=20)]
    return 20, [int(v) for v in y_true], [int(v) for v in y_pred], train


SCENARIOS = {
    "never_predicted": scenario_never_predicted,
    "never_true": scenario_never_true,
    "perfect": scenario_perfect,
    "all_one_class": scenario_all_one_class,
    "imbalanced_9": scenario_imbalanced_9,
    "random_20": scenario_random_20,
}


def shot_accuracy(recall, support, train, in_group):
    """Mean recall over the classes of a group that occur as a true label."""
    values = [recall[c] for c in range(len(train))
              if in_group(train[c]) and support[c] > 0]
    return float(np.mean(values)) if values else math.nan


def smallest_train_classes(train):
    """Class indices by (training count, index): ties to the lower index."""
    return sorted(range(len(train)), key=lambda c: (train[c], c))


def compute(k, y_true, y_pred, train):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    everyone = list(range(k))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=everyone, average=None, zero_division=0)
    macro_p, macro_r, macro_f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="macro", zero_division=0)
    order = smallest_train_classes(train)
    return {
        "accuracy": accuracy_score(y_true, y_pred),
        "macro_precision": macro_p,
        "macro_recall": macro_r,
        "macro_f1": macro_f1,
        "weighted_f1": f1_score(y_true, y_pred, average="weighted",
                                zero_division=0),
        "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
        "gmean": geometric_mean_score(y_true, y_pred, average="multiclass"),
        "gmean_corrected": geometric_mean_score(
            y_true, y_pred, average="multiclass",
            correction=GMEAN_CORRECTION),
        "many_shot_accuracy": shot_accuracy(recall, support, train,
                                            lambda n: n > 100),
        "medium_shot_accuracy": shot_accuracy(recall, support, train,
                                              lambda n: 20 <= n <= 100),
        "few_shot_accuracy": shot_accuracy(recall, support, train,
                                           lambda n: n < 20),
        "s1_f1": f1[order[0]],
        "s2_f1": f1[order[1]],
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
    }


SCALAR_KEYS = ["accuracy", "macro_precision", "macro_recall", "macro_f1",
               "weighted_f1", "balanced_accuracy", "gmean", "gmean_corrected",
               "many_shot_accuracy", "medium_shot_accuracy",
               "few_shot_accuracy", "s1_f1", "s2_f1"]
CLASS_KEYS = ["precision", "recall", "f1"]


def ints(values):
    return " ".join(str(int(v)) for v in values)


def floats(values):
    return " ".join(repr(float(v)) for v in values)


def write_scenario(name, k, y_true, y_pred, train):
    values = compute(k, y_true, y_pred, train)
    lines = [
        FORMAT_HEADER,
        f"classes {k}",
        f"samples {len(y_true)}",
        f"labels {ints(y_true)}",
        f"predictions {ints(y_pred)}",
        f"train_counts {ints(train)}",
        f"gmean_correction {GMEAN_CORRECTION!r}",
    ]
    lines += [f"{key} {floats([values[key]])}" for key in SCALAR_KEYS]
    lines += [f"{key} {floats(values[key])}" for key in CLASS_KEYS]
    lines.append(f"support {ints(values['support'])}")
    lines.append("end")
    with open(os.path.join(OUT_DIR, name + ".txt"), "w") as out:
        out.write("\n".join(lines) + "\n")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    # scikit-learn warns about ill-defined ratios and labels absent from
    # y_true: both are what the scenarios are for.
    warnings.simplefilter("ignore")
    for name, make in SCENARIOS.items():
        write_scenario(name, *make())
    with open(os.path.join(OUT_DIR, "MANIFEST"), "w") as manifest:
        manifest.write("\n".join(SCENARIOS) + "\n")


if __name__ == "__main__":
    main()
