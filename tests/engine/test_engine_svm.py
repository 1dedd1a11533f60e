"""Linear-SVM accuracy and feature extraction."""

import numpy as np
import pytest
import torch
from sklearn.svm import SVC
from torch.utils.data import DataLoader, Dataset

from i2pmae.tasks.svm import extract_features, linear_svm_accuracy


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


# ---------------------------------------------------------------- issue #15: a trustworthy probe

import logging  # noqa: E402

from i2pmae.tasks.svm import CV_GRID, knn_accuracy, linear_svm_probe, parse_svm_grid, standardize  # noqa: E402


def _collapsed(seed: int, n: int = 30):
    """Features like a pre-trained max-pool: a shared offset, class signal ~1% of it, and a large nuisance
    direction shared by two dimensions (only their difference separates the classes, so C matters)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n)
    z = 3 * rng.normal(size=3 * n)
    x = 0.2 * rng.normal(size=(3 * n, 4))
    x[:, 0] += y + z
    x[:, 1] += z
    return 0.8 + 0.01 * x, y


def test_knn_matches_a_brute_force_vote():
    x, y = blobs(12, 3, 4, spread=3.0, seed=0)
    xt, yt = blobs(9, 3, 4, spread=3.0, seed=1)
    mean = x.mean(0)
    a = (x - mean) / np.linalg.norm(x - mean, axis=1, keepdims=True)
    b = (xt - mean) / np.linalg.norm(xt - mean, axis=1, keepdims=True)
    pred = []
    for row in b @ a.T:
        top = np.argsort(-row)[:5]
        counts = np.bincount(y[top], minlength=3).astype(float)
        counts += 1e-6 * np.bincount(y[top], weights=row[top], minlength=3)
        pred.append(counts.argmax())
    assert knn_accuracy(x, y, xt, yt, k=5) == pytest.approx(100 * np.mean(np.array(pred) == yt))


def test_knn_ignores_a_shared_offset_and_scale():
    x, y = blobs(20, 3, 6, spread=8.0, seed=0)
    xt, yt = blobs(10, 3, 6, spread=8.0, seed=1)
    acc = knn_accuracy(x, y, xt, yt)
    assert 40 < acc < 100
    assert knn_accuracy(0.8 + 0.004 * x, y, 0.8 + 0.004 * xt, yt) == pytest.approx(acc)


def test_standardize_uses_training_statistics_only():
    x, _ = blobs(10, 2, 3, 1.0, 0)
    x[:, 1] = 5.0  # a constant dimension stays finite
    xt = x[:4] + 100.0
    a, b = standardize(x, xt)
    assert np.allclose(a[:, [0, 2]].mean(0), 0) and np.allclose(a[:, [0, 2]].std(0), 1)
    assert np.all(np.isfinite(a)) and np.allclose(b - a[:4], 100.0 / np.where(x.std(0) < 1e-12, 1, x.std(0)))


def test_cv_c_at_the_grid_edge_warns_naming_the_encoder(caplog):
    x, y = _collapsed(0)
    xt, yt = _collapsed(1, 10)
    with caplog.at_level(logging.WARNING, logger="i2pmae"):
        out = linear_svm_probe(x, y, xt, yt, "cv", grid=(1.0, 10.0, 100.0), name="seed 3 w/o_2d")
    assert out["C"] == 100.0 and out["C_at_edge"] and out["grid"] == [1.0, 10.0, 100.0]
    assert "seed 3 w/o_2d" in caplog.text and "C=100" in caplog.text and "edge" in caplog.text


def test_a_flat_plateau_reaching_the_edge_is_not_clipping(caplog):
    x, y = blobs(20, 3, 4, spread=0.1, seed=0)  # separable: every C scores 100% in CV
    with caplog.at_level(logging.WARNING, logger="i2pmae"):
        out = linear_svm_probe(x, y, x, y, "cv", grid=(1.0, 10.0, 100.0))
    assert out["C"] == 1.0 and not out["C_at_edge"] and "edge" not in caplog.text


def test_standardised_cv_picks_an_inner_c_on_collapsed_features(caplog):
    x, y = _collapsed(0)
    xt, yt = _collapsed(1, 10)
    narrow = linear_svm_probe(x, y, xt, yt, "cv", grid=(0.01, 0.1, 1.0, 10.0, 100.0))
    assert narrow["C"] == 100.0 and narrow["C_at_edge"]  # the old grid clips
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="i2pmae"):
        out = linear_svm_probe(x, y, xt, yt, "cv", standardize_features=True)
    assert CV_GRID[0] < out["C"] < CV_GRID[-1] and not out["C_at_edge"] and "edge" not in caplog.text
    assert out["svm_acc"] > narrow["svm_acc"] and out["standardize"]
    assert out["knn_acc"] == knn_accuracy(x, y, xt, yt)


def test_fixed_c_is_reported_as_given():
    x, y = blobs(10, 2, 3, 1.0, 0)
    out = linear_svm_probe(x, y, x, y, 0.01)
    assert out["C"] == 0.01 and out["grid"] is None and not out["C_at_edge"]


def test_parse_svm_grid():
    assert parse_svm_grid(None) == CV_GRID and parse_svm_grid([10, "0.1"]) == (0.1, 10.0)
    for bad in ([1.0], [0, 1], "x", [1, "a"]):
        with pytest.raises(ValueError, match="svm.grid"):
            parse_svm_grid(bad)


def test_probe_can_recalibrate_batchnorm_without_changing_the_model():
    from i2pmae.engine.distributed import DistInfo
    from i2pmae.tasks.svm_eval import probe_encoder, recalibrate_batchnorm

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 4)
            self.bn = torch.nn.BatchNorm1d(4)

        def extract_features(self, pts):
            return self.bn(self.lin(pts).max(dim=1).values)

    data = Clouds(12)
    net = Net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    plain = probe_encoder(net, data, data, {"C": 1.0, "bn_statistics": "saved"}, DistInfo())
    recal = probe_encoder(net, data, data, {"C": 1.0, "bn_statistics": "recalibrated"}, DistInfo())
    for k, v in net.state_dict().items():  # the probe put the running statistics back
        assert torch.equal(v, before[k]), k
    assert net.training and plain["C"] == recal["C"] == 1.0
    default = probe_encoder(net, data, data, {"C": 1.0}, DistInfo())  # debiased; a BatchNorm that saw no batch
    assert (default["svm_acc"], default["knn_acc"]) == (recal["svm_acc"], recal["knn_acc"])  # is re-estimated
    assert recalibrate_batchnorm(net, data, DistInfo()) == 1  # now really re-estimate them
    with torch.no_grad():
        raw = net.lin(data.points).max(dim=1).values
    torch.testing.assert_close(net.bn.running_mean, raw.mean(0))
    torch.testing.assert_close(net.bn.running_var, raw.var(0, unbiased=True))
    with pytest.raises(ValueError, match="svm.bn_statistics must be one of debiased, saved, recalibrated"):
        probe_encoder(net, data, data, {"C": 1.0, "bn_statistics": "yes"}, DistInfo())


def test_debiasing_leaves_the_moving_average_of_the_batches_seen():
    """After n updates from (0, 1), debiased running statistics are the momentum-weighted average of the n
    batches' own statistics alone; a BatchNorm that saw nothing, or a cumulative one, is left as it is."""
    from i2pmae.tasks.svm_eval import debias_batchnorm

    torch.manual_seed(0)
    bn, fresh, cumulative = torch.nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4, momentum=None)
    batches = [1e-2 * torch.randn(16, 4) + 0.01 * i for i in range(3)]  # variance ~1e-4 next to the residue 0.73
    for x in batches:
        bn(x)
        cumulative(x)
    m = bn.momentum
    weights = torch.tensor([m * (1 - m) ** (len(batches) - 1 - i) for i in range(len(batches))], dtype=torch.float64)
    weights /= weights.sum()
    mean = sum(w * x.double().mean(0) for w, x in zip(weights, batches))
    var = sum(w * x.double().var(0, unbiased=True) for w, x in zip(weights, batches))
    assert bn.running_var.min() > 0.7  # still mostly the initial 1
    net = torch.nn.ModuleList([bn, fresh, cumulative])
    kept = {k: v.clone() for k, v in cumulative.state_dict().items()}
    assert debias_batchnorm(net) == 1
    torch.testing.assert_close(bn.running_mean.double(), mean, rtol=1e-4, atol=1e-9)
    # float32 buffers store 0.73 + 0.27 * 1e-4 to ~6e-8: the variance comes back to ~0.2%
    torch.testing.assert_close(bn.running_var.double(), var, rtol=0.01, atol=1e-9)
    assert torch.equal(fresh.running_var, torch.ones(4)) and torch.equal(fresh.running_mean, torch.zeros(4))
    for k, v in cumulative.state_dict().items():
        assert torch.equal(v, kept[k]), k
    long = torch.nn.BatchNorm1d(4)
    for _ in range(400):  # the residue 0.9^400 is far below float32 resolution: nothing changes
        long(batches[0])
    before = long.running_var.clone()
    debias_batchnorm(long)
    assert torch.equal(long.running_var, before)


def test_recalibrated_probe_does_not_depend_on_the_saved_running_statistics():
    """Issue #15: re-estimated BatchNorm statistics (``svm.bn_statistics: recalibrated``) make two copies of
    one encoder whose running statistics differ give the same features; with the statistics as saved, they
    do not."""
    from i2pmae.engine.distributed import DistInfo
    from i2pmae.models import build_model
    from i2pmae.tasks.svm_eval import batchnorm_restored, encode_dataset, recalibrate_batchnorm

    torch.manual_seed(0)
    enc = build_model({"name": "I2PMAE", "num_groups": [16, 8, 4], "group_sizes": [4, 4, 4],
                       "encoder_dims": [16, 32, 32], "embed_widths": [8, 8, 16], "encoder_depths": [1, 1, 1],
                       "num_heads": 2, "decoder_dims": [32], "decoder_depths": [1], "masking": "random",
                       "fusion": "none"})
    data = Clouds(12)
    data.points = torch.randn(12, 64, 3, generator=torch.Generator().manual_seed(1)) * 0.5
    bns = [m for m in enc.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(bns) == 6

    def features(recalibrate: bool) -> torch.Tensor:
        with batchnorm_restored(enc):
            if recalibrate:
                recalibrate_batchnorm(enc, data, DistInfo(), {"batch_size": 5})
            return encode_dataset(enc, data, DistInfo(), {"batch_size": 5})[0]

    fresh_saved, fresh_recal = features(False), features(True)
    with torch.no_grad():  # three EMA updates' worth of drift: the state a 3-step checkpoint is saved with
        for bn in bns:
            bn.running_mean.add_(0.3 * torch.randn_like(bn.running_mean))
            bn.running_var.mul_(0.73)
    drifted_saved, drifted_recal = features(False), features(True)
    torch.testing.assert_close(drifted_recal, fresh_recal, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(drifted_saved, fresh_saved, rtol=1e-3, atol=1e-4)
