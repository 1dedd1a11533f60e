"""Procedural shapes: deterministic, readable by the real readers, separable but not trivially."""

from __future__ import annotations

import time

import numpy as np
import pytest

from i2pmae.data import build_dataset
from i2pmae.data import synth


def test_deterministic_and_independent_of_class_selection():
    names, tr, te = synth.generate(per_class=3, test_per_class=2, seed=11, npoints=512)
    _, tr2, te2 = synth.generate(per_class=3, test_per_class=2, seed=11, npoints=512)
    assert names == synth.CLASSES and len(names) == 15
    assert np.array_equal(tr.points, tr2.points) and np.array_equal(te.labels, te2.labels)
    _, other, _ = synth.generate(per_class=3, test_per_class=2, seed=12, npoints=512)
    assert not np.allclose(tr.points, other.points)
    sub_names, sub, _ = synth.generate(classes="cone,torus", per_class=3, test_per_class=2, seed=11, npoints=512)
    assert sub_names == ["cone", "torus"]
    full_cone = tr.points[tr.labels == names.index("cone")]
    assert np.array_equal(sub.points[sub.labels == 0], full_cone)
    assert tr.points.dtype == np.float32 and tr.points.shape == (45, 512, 3)
    norms = np.linalg.norm(tr.points, axis=-1).max(-1)
    assert (norms > 0.9).all() and (norms < 1.1).all()  # normalised, plus noise
    with pytest.raises(ValueError, match="unknown"):
        synth.resolve_classes("cube,blob")


def _descriptor(p: np.ndarray) -> np.ndarray:
    """Sorted distance-to-centroid histogram + bounding-box extents + PCA eigenvalues (rotation-robust parts)."""
    c = p - p.mean(0)
    d = np.linalg.norm(c, axis=1)
    hist = np.histogram(d / d.max(), bins=16, range=(0, 1))[0] / len(p)
    extents = np.sort(np.ptp(c, axis=0))
    eig = np.sort(np.linalg.eigvalsh(np.cov(c.T)))
    return np.concatenate([hist, extents, eig, [d.mean(), d.std()]])


def test_classes_separable_by_a_simple_baseline():
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    names, tr, te = synth.generate(per_class=20, test_per_class=10, seed=0, npoints=1024)
    xtr = np.stack([_descriptor(p) for p in tr.points])
    xte = np.stack([_descriptor(p) for p in te.points])
    scaler = StandardScaler().fit(xtr)
    clf = LinearSVC(C=1.0, max_iter=20000).fit(scaler.transform(xtr), tr.labels)
    acc = (clf.predict(scaler.transform(xte)) == te.labels).mean()
    chance = 1 / len(names)
    assert acc > 3 * chance, acc
    assert acc < 1.0 or len(te.labels) < 50  # not trivially perfect


def test_written_layouts_run_through_the_real_readers(tmp_path):
    t0 = time.perf_counter()
    summary = synth.write_synthetic(tmp_path, per_class=10, test_per_class=2, seed=0)
    assert time.perf_counter() - t0 < 20  # 180 shapes of 8192 points: well under a second on a desktop
    assert (summary["train"], summary["test"]) == (150, 30)
    pc = tmp_path / "ShapeNet55-34" / "shapenet_pc"
    first = sorted(pc.glob("*.npy"))[0]
    arr = np.load(first)
    assert arr.shape == (8192, 3) and arr.dtype == np.float32 and "-" in first.stem
    pre = build_dataset({"format": "shapenet55", "root": tmp_path}, "train")
    assert len(pre) == 150 and pre[0]["points"].shape == (2048, 3) and len(pre.classes) == 15
    svm_tr = build_dataset({"format": "modelnet40_h5", "root": tmp_path}, "train")
    svm_te = build_dataset({"format": "modelnet40_h5", "root": tmp_path}, "test")
    assert (len(svm_tr), len(svm_te)) == (150, 30) and svm_tr.classes == synth.CLASSES
    assert svm_tr[0]["points"].shape == (1024, 3)
    assert np.bincount(svm_te.labels()).tolist() == [2] * 15
    import h5py

    with h5py.File(tmp_path / "modelnet40_ply_hdf5_2048" / "ply_data_train0.h5") as f:
        assert f["data"].shape == (150, 2048, 3) and f["data"].dtype == np.float32
        assert f["label"].shape == (150, 1)
    # the ShapeNet-layout test files are exactly the HDF5 test shapes (same split)
    test_names = (tmp_path / "ShapeNet55-34" / "ShapeNet-55" / "test.txt").read_text().split()
    assert len(test_names) == 30 and not set(test_names) & set(
        (tmp_path / "ShapeNet55-34" / "ShapeNet-55" / "train.txt").read_text().split())
    with h5py.File(tmp_path / "modelnet40_ply_hdf5_2048" / "ply_data_test0.h5") as f:
        np.testing.assert_array_equal(f["data"][0], np.load(pc / test_names[0])[:2048])
