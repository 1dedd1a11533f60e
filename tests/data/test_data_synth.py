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


# ---------------------------------------------------------------- the 2D-teacher corpus (issue #15)

from i2pmae.data import synth_corpus  # noqa: E402


def test_corpus_batches_are_deterministic_diverse_and_normalised():
    pts, labels = synth_corpus.corpus_batch(seed=0, index=3, batch_size=40, npoints=256)
    pts2, labels2 = synth_corpus.corpus_batch(seed=0, index=3, batch_size=40, npoints=256)
    assert np.array_equal(pts, pts2) and np.array_equal(labels, labels2)
    other, _ = synth_corpus.corpus_batch(seed=0, index=4, batch_size=40, npoints=256)
    assert not np.allclose(pts, other)  # every batch draws fresh shapes
    assert pts.shape == (40, 256, 3) and pts.dtype == np.float32 and labels.dtype == np.int64
    radius = np.linalg.norm(pts - pts.mean(1, keepdims=True), axis=2).max(1)
    assert np.all(radius < 1.1) and np.all(radius > 0.9)
    assert len(set(labels.tolist())) > 10 and labels.max() < len(synth_corpus.FAMILIES)


def test_corpus_has_more_families_than_the_evaluation_classes_and_every_family_samples():
    assert synth_corpus.FAMILIES[:15] == synth.CLASSES  # first 15 = the built-in classes, same order
    assert len(synth_corpus.FAMILIES) >= 25
    rng = np.random.default_rng(0)
    for family in synth_corpus.FAMILIES:
        cloud = synth_corpus.corpus_shape(family, rng, 128)
        assert cloud.shape == (128, 3) and np.all(np.isfinite(cloud)), family


def test_corpus_deformations_and_rotations_vary_a_family():
    """Two draws of one family differ by more than the built-in draws' pose (random rotations, deformations)."""
    rng = np.random.default_rng(1)
    a, b = (synth_corpus.random_rotation(rng) for _ in range(2))
    for r in (a, b):
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
    box = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
    shapes = [synth_corpus.deform(box.copy(), np.random.default_rng(s)) for s in range(20)]
    extents = np.array([s.max(0) - s.min(0) for s in shapes])
    assert extents.std(0).min() > 0.05  # anisotropic scale at least


def test_corpus_never_reproduces_the_builtin_draws():
    _, tr, _ = synth.generate(classes=["box"], per_class=2, test_per_class=1, seed=0, npoints=256)
    rng_like_builtin = np.random.default_rng([synth_corpus.CORPUS_TAG, 0, 0])
    assert not np.allclose(rng_like_builtin.random(4), np.random.default_rng([0, 1, 0]).random(4))
    pts, _ = synth_corpus.corpus_batch(0, 0, 8, 256)
    assert not any(np.allclose(p, q) for p in pts for q in tr.points)
