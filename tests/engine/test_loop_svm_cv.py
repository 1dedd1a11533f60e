"""svm.C = "cv": C picked by stratified k-fold accuracy on the training split only."""

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.svm import SVC

from i2pmae.tasks.svm import CV_GRID, choose_c_by_cv, linear_svm_accuracy, parse_svm_c


def _blobs(n, seed, scale):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), n)
    x = (rng.normal(size=(4 * n, 16)) * 0.7 + np.eye(4, 16)[y] * 2.0) * scale
    return x, y


def test_cv_picks_the_grid_value_with_the_best_training_cv_score():
    x, y = _blobs(30, 0, 0.1)
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    scores = [cross_val_score(SVC(kernel="linear", C=c), x, y, cv=cv).mean() for c in CV_GRID]
    chosen = choose_c_by_cv(x, y)
    assert chosen == CV_GRID[int(np.argmax(scores))]

    xt, yt = _blobs(10, 1, 0.1)
    expected = SVC(kernel="linear", C=chosen).fit(x, y).score(xt, yt) * 100
    assert linear_svm_accuracy(x, y, xt, yt, "cv") == pytest.approx(expected)


def test_parse_svm_c():
    assert parse_svm_c("cv") == "cv" and parse_svm_c("CV") == "cv"
    assert parse_svm_c(0.0093) == 0.0093 and parse_svm_c("0.5") == 0.5
    for bad in (0, -1, "auto", None):
        with pytest.raises(ValueError, match="svm.C"):
            parse_svm_c(bad)
