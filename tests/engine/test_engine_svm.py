"""Linear-SVM accuracy and feature extraction."""

import numpy as np
import pytest
import torch
from sklearn.svm import SVC
from torch.utils.data import DataLoader, Dataset

from i2pmae.engine.svm import extract_features, linear_svm_accuracy


def blobs(n_per_class: int, n_classes: int, dim: int, spread: float, seed: int):
    """Gaussian blobs around class centres that are the same for every seed (train and test share them)."""
    centres = np.random.default_rng(1234).normal(size=(n_classes, dim)) * 5
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + spread * rng.normal(size=(n_per_class, dim)) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(n_classes), n_per_class)
    return x, y


def test_matches_sklearn_directly_on_overlapping_blobs():
    x, y = blobs(40, 4, 8, spread=4.0, seed=0)  # overlapping: accuracy well below 100
    xt, yt = blobs(25, 4, 8, spread=4.0, seed=1)
    c = 0.0093
    ref = SVC(kernel="linear", C=c).fit(x, y).score(xt, yt) * 100
    got = linear_svm_accuracy(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xt),
                              torch.from_numpy(yt)[:, None], c)  # labels (n, 1) as the h5 files store them
    assert got == ref
    assert 25 < got < 100


def test_separable_blobs_are_perfect_and_shuffled_labels_are_chance():
    x, y = blobs(30, 3, 5, spread=0.1, seed=2)
    xt, yt = blobs(10, 3, 5, spread=0.1, seed=5)
    assert linear_svm_accuracy(x, y, xt, yt, 1.0) == 100.0
    rng = np.random.default_rng(3)
    xr = rng.normal(size=(300, 5))
    yr = rng.integers(0, 3, 300)
    assert linear_svm_accuracy(xr[:200], yr[:200], xr[200:], yr[200:], 1.0) < 60


def test_input_errors():
    x, y = blobs(5, 2, 3, 0.1, 0)
    with pytest.raises(ValueError, match="length"):
        linear_svm_accuracy(x, y[:-1], x, y, 1.0)
    with pytest.raises(ValueError, match="dimension"):
        linear_svm_accuracy(x, y, x[:, :2], y, 1.0)
    with pytest.raises(ValueError, match="2 training classes"):
        linear_svm_accuracy(x, np.zeros_like(y), x, y, 1.0)
    with pytest.raises(ValueError, match="C"):
        linear_svm_accuracy(x, y, x, y, 0.0)


class Clouds(Dataset):
    def __init__(self, n):
        g = torch.Generator().manual_seed(0)
        self.points = torch.randn(n, 16, 3, generator=g)
        self.labels = torch.arange(n) % 3

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"points": self.points[i], "label": self.labels[i], "name": f"c{i}"}


def test_extract_features_batched_no_grad():
    data = Clouds(10)
    lin = torch.nn.Linear(3, 4)
    calls = []

    def fn(points):
        calls.append(points.shape[0])
        assert not torch.is_grad_enabled()
        return lin(points).max(dim=1).values

    feats, labels = extract_features(fn, DataLoader(data, batch_size=4), "cpu")
    assert calls == [4, 4, 2]
    assert feats.shape == (10, 4) and feats.dtype == torch.float32 and not feats.requires_grad
    assert torch.equal(labels, data.labels)
    with torch.no_grad():
        assert torch.allclose(feats, lin(data.points).max(dim=1).values)
    # (points, labels) tuple batches work too
    f2, l2 = extract_features(fn, [(data.points[:3], data.labels[:3])], torch.device("cpu"))
    assert torch.allclose(f2, feats[:3]) and torch.equal(l2, labels[:3])
