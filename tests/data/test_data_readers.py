"""Every reader on fixtures written in the real formats (docs/data.md §1)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from i2pmae.data import build_dataset


def _check_item(it: dict, n: int) -> None:
    assert it["points"].dtype == torch.float32 and it["points"].shape == (n, 3)
    assert isinstance(it["name"], str)
    if "label" in it:
        assert it["label"].dtype == torch.int64 and it["label"].dim() == 0


def _is_normalised(p: np.ndarray) -> bool:
    return np.allclose(p.mean(0), 0, atol=1e-5) and np.isclose(np.linalg.norm(p, axis=1).max(), 1, atol=1e-5)


def _same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    return np.allclose(a[np.lexsort(a.T)], b[np.lexsort(b.T)], atol=1e-6)


# --------------------------------------------------------------------------- ShapeNet-55


def test_shapenet55_random_subset_without_replacement_then_normalise(tmp_path, fx, ref):
    arrays = fx.write_shapenet55(tmp_path)
    ds = build_dataset({"format": "shapenet55", "root": tmp_path, "seed": 3}, "train")
    assert len(ds) == 6 and ds.classes == ["02691156", "02747177", "02773838"]
    ds.set_epoch(2)
    for i in range(len(ds)):
        it = ds[i]
        _check_item(it, 2048)
        src = arrays[it["name"] + ".npy"]
        # reference: (seed, epoch, index) seeds a draw of 2048 of 8192 rows without replacement, then normalise
        choice = np.random.default_rng([3, 2, i]).choice(8192, 2048, replace=False)
        np.testing.assert_allclose(it["points"].numpy(), ref.normalize(src[choice]), atol=1e-5)
        assert len(np.unique(choice)) == 2048
        assert it["label"].item() == ds.classes.index(it["name"].split("-")[0])
    same = ds[0]["points"]
    assert torch.equal(same, ds[0]["points"])  # reproducible within an epoch
    ds.set_epoch(3)
    assert not torch.equal(same, ds[0]["points"])  # new draws next epoch
    test = build_dataset({"format": "shapenet55", "root": tmp_path / "ShapeNet55-34"}, "test")
    assert len(test) == 3


# --------------------------------------------------------------------------- ModelNet40 .dat / text


@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL, 5])
def test_modelnet40_dat_pickle(tmp_path, fx, ref, protocol):
    stored = fx.write_modelnet_dat(tmp_path, npoints=64, protocol=protocol)
    test = build_dataset({"format": "modelnet40", "root": tmp_path, "npoints": 64}, "test")
    assert test.classes == fx.CLASSES3 and len(test) == 3
    for i in range(3):
        it = test[i]
        _check_item(it, 64)
        np.testing.assert_allclose(it["points"].numpy(), ref.normalize(stored["test"][0][i][:, :3]), atol=1e-5)
        assert it["label"].item() == int(stored["test"][1][i][0])
    assert test[0]["name"] == "airplane_0001"
    train = build_dataset({"format": "modelnet40", "root": tmp_path, "npoints": 64}, "train")
    for i in range(len(train)):
        pts = train[i]["points"].numpy()
        expect = ref.normalize(stored["train"][0][i][:, :3])
        assert not np.allclose(pts, expect)  # point order shuffled for train ...
        assert _same_rows(pts, expect)  # ... but the same points


def test_modelnet40_builds_npz_cache_from_text_once(tmp_path, fx, ref, monkeypatch):
    clouds = fx.write_modelnet_txt(tmp_path, n=200)
    cfg = {"format": "modelnet40", "root": tmp_path, "npoints": 32}
    test = build_dataset(cfg, "test")
    folder = tmp_path / "ModelNet" / "modelnet40_normal_resampled"
    from i2pmae.data.paths import dataset_cache_dir

    assert (dataset_cache_dir(folder, "modelnet40") / "modelnet40_test_32pts_fps.i2pmae.npz").is_file()
    assert not list(folder.glob("*.npz")) and not list(folder.glob("*.dat"))  # not in the data; not a pickle
    for i in range(len(test)):
        it = test[i]
        src = clouds[it["name"]][:, :3]
        np.testing.assert_allclose(it["points"].numpy(), ref.normalize(src[ref.fps(src, 32)]), atol=1e-5)
        assert test.classes[it["label"].item()] == it["name"].rsplit("_", 1)[0]

    import i2pmae.data.modelnet as mn

    def no_parse(*args, **kwargs):
        raise AssertionError("text files re-parsed although a cache exists")

    monkeypatch.setattr(mn, "read_text_points", no_parse)
    again = build_dataset(cfg, "test")
    assert torch.equal(again[1]["points"], test[1]["points"])


# --------------------------------------------------------------------------- ModelNet40 HDF5


def test_modelnet40_h5_first_points_in_stored_order(tmp_path, fx):
    stored = fx.write_modelnet_h5(tmp_path)
    ds = build_dataset({"format": "modelnet40_h5", "root": tmp_path}, "train")
    assert len(ds) == 7 and ds.classes == fx.CLASSES3
    expect = [(name, d, lab) for name, d, lab in sorted(stored["train"], key=lambda t: t[0])]
    flat = [(name, d[r], int(lab[r, 0]), r) for name, d, lab in expect for r in range(len(d))]
    for i, (name, cloud, label, row) in enumerate(flat):
        it = ds[i]
        _check_item(it, 1024)
        np.testing.assert_array_equal(it["points"].numpy(), cloud[:1024])  # no normalisation, no shuffle
        assert it["label"].item() == label and it["name"] == f"ply_data_{name}.h5[{row}]"
    full = build_dataset({"format": "modelnet40_h5", "root": tmp_path / "modelnet40_ply_hdf5_2048",
                          "npoints": 2048}, "test")
    assert len(full) == 3 and full[2]["points"].shape == (2048, 3)


# --------------------------------------------------------------------------- few-shot


@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL])
def test_modelnet40_fewshot_fold(tmp_path, fx, ref, protocol):
    data = fx.write_fewshot(tmp_path, way=3, shot=2, fold=4, protocol=protocol)
    names = ["n%02d" % k for k in range(40)]
    folder = tmp_path / "ModelNet" / "modelnet40_normal_resampled"
    folder.mkdir(parents=True)
    (folder / "modelnet40_shape_names.txt").write_text("\n".join(names) + "\n")
    cfg = {"format": "modelnet40_fewshot", "root": tmp_path, "way": 3, "shot": 2, "fold": 4}
    test = build_dataset(cfg, "test")
    assert len(test) == 6 and test.classes == ["n07", "n02", "n30"]
    for i in range(len(test)):
        it = test[i]
        _check_item(it, 64)
        np.testing.assert_allclose(it["points"].numpy(), ref.normalize(data["test"][i][0][:, :3]), atol=1e-5)
        assert it["label"].item() == data["test"][i][1]
    train = build_dataset(cfg, "train")
    assert len(train) == 6
    pts = train[0]["points"].numpy()
    expect = ref.normalize(data["train"][0][0][:, :3])
    assert _same_rows(pts, expect) and not np.allclose(pts, expect)


# --------------------------------------------------------------------------- ScanObjectNN


@pytest.mark.parametrize("variant", ["obj_bg", "obj_only", "pb_t50_rs", "OBJ-BG", "PB"])
def test_scanobjectnn_variants(tmp_path, fx, variant):
    stored = fx.write_scanobjectnn(tmp_path)
    canon = {"OBJ-BG": "obj_bg", "PB": "pb_t50_rs"}.get(variant, variant)
    test = build_dataset({"format": "scanobjectnn", "root": tmp_path, "variant": variant}, "test")
    data, label = stored[(canon, "test")]
    assert len(test) == 2 and len(test.classes) == 15 and test.classes[0] == "bag"
    for i in range(2):
        it = test[i]
        _check_item(it, 2048)
        np.testing.assert_array_equal(it["points"].numpy(), data[i])  # as stored, not normalised
        assert it["label"].item() == label[i]
    train = build_dataset({"format": "scanobjectnn", "root": tmp_path / "ScanObjectNN", "variant": variant}, "train")
    tdata, _ = stored[(canon, "train")]
    pts = train[1]["points"].numpy()
    assert _same_rows(pts, tdata[1]) and not np.array_equal(pts, tdata[1])


# --------------------------------------------------------------------------- ShapeNetPart


def test_shapenetpart_splits_and_labels(tmp_path, fx, ref):
    shapes = fx.write_shapenetpart(tmp_path)
    trainval = build_dataset({"format": "shapenetpart", "root": tmp_path, "seed": 1}, "trainval")
    test = build_dataset({"format": "shapenetpart", "root": tmp_path, "seed": 1}, "test")
    train = build_dataset({"format": "shapenetpart", "root": tmp_path}, "train")
    assert (len(trainval), len(test), len(train)) == (9, 3, 6)
    assert trainval.categories == ["Airplane", "Bag", "Cap"]
    for i in range(len(trainval)):
        it = trainval[i]
        _check_item(it, 2048)
        xyz, seg, cat = shapes[it["name"]]
        assert it["category"].item() == cat and it["seg"].shape == (2048,) and it["seg"].dtype == torch.int64
        pts = it["points"].numpy()
        # nearest source row of every returned point: the part label must follow the point
        d = ((pts[:, None, :] - ref.normalize(xyz)[None]) ** 2).sum(-1)
        nearest = d.argmin(1)
        assert d.min(1).max() < 1e-8
        np.testing.assert_array_equal(it["seg"].numpy(), seg[nearest])
        assert len(np.unique(nearest)) < 2048  # 2048 draws from 200 points: with replacement
    assert torch.equal(test[0]["seg"], test[0]["seg"])
    assert not (tmp_path / "shapenetcore_partanno_segmentation_benchmark_v0_normal" / ".i2pmae_cache").exists()


# --------------------------------------------------------------------------- users' own folders


def test_folder_every_suffix_labels_and_cache(tmp_path, fx, monkeypatch):
    files = fx.write_folder(tmp_path / "mine")
    cfg = {"format": "folder", "root": tmp_path / "mine", "npoints": 256, "seed": 0}
    ds = build_dataset(cfg, "train")
    assert ds.classes == ["chairs", "mugs"] and len(ds) == 11
    names = ds.item_names()
    for i in range(len(ds)):
        it = ds[i]
        _check_item(it, 256)
        assert _is_normalised(it["points"].numpy().astype(np.float64))
        cls, fname = it["name"].split("/")
        assert fname in files[cls] and ds.classes[it["label"].item()] == cls
    assert sorted(names) == sorted(f"{c}/{f}" for c, fs in files.items() for f in fs)
    from i2pmae.data.paths import dataset_cache_dir

    assert list(dataset_cache_dir(tmp_path / "mine", "folder").glob("train_*.npz"))
    assert not (tmp_path / "mine" / ".i2pmae_cache").exists()

    import i2pmae.data.folder as fo

    monkeypatch.setattr(fo, "load_cloud", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-read")))
    again = build_dataset(cfg, "train")
    assert _same_rows(again[3]["points"].numpy(), ds[3]["points"].numpy())
    with pytest.raises(ValueError, match="val_fraction"):
        build_dataset(cfg, "test")


def test_folder_val_fraction_and_train_test_subfolders(tmp_path, fx):
    fx.write_folder(tmp_path / "a")
    cfg = {"format": "folder", "root": tmp_path / "a", "npoints": 128, "val_fraction": 0.4, "seed": 5,
           "sampling": "random"}
    tr, va = build_dataset(cfg, "train"), build_dataset(cfg, "val")
    assert set(tr.item_names()).isdisjoint(va.item_names()) and len(tr) + len(va) == 11
    assert np.bincount(va.labels()).tolist() == [2, 2]  # per class: round(0.4 * 5), round(0.4 * 6)
    assert build_dataset(cfg, "val").item_names() == va.item_names()  # seeded

    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("x", "y"):
            d = tmp_path / "b" / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                np.save(d / f"{i}.npy", fx.rand_cloud(rng, 300))
    cfg = {"format": "folder", "root": tmp_path / "b", "npoints": 300}
    tr, te = build_dataset(cfg, "train"), build_dataset(cfg, "test")
    assert (len(tr), len(te), tr.classes, te.classes) == (6, 4, ["x", "y"], ["x", "y"])
    assert all(n.startswith("test/") for n in te.item_names())


def test_folder_unlabelled_and_load_cloud(tmp_path, fx, ref):
    rng = np.random.default_rng(1)
    (tmp_path / "u").mkdir()
    src = fx.rand_cloud(rng, 400)
    np.save(tmp_path / "u" / "one.npy", src)
    np.save(tmp_path / "u" / "two.npy", fx.rand_cloud(rng, 400))
    ds = build_dataset({"format": "folder", "root": tmp_path / "u", "npoints": 50, "shuffle_points": False}, "train")
    assert ds.classes == [] and ds[0]["label"].item() == -1 and ds.labels() is None

    from i2pmae.data.folder import load_cloud

    pts = load_cloud(tmp_path / "u" / "one.npy", 50)
    np.testing.assert_allclose(pts, ref.normalize(src[ref.fps(src, 50)]), atol=1e-5)
    np.testing.assert_allclose(ds[0]["points"].numpy(), pts, atol=1e-6)


def test_batched_numpy_fps_matches_brute_force(fx, ref):
    from i2pmae.data._io import fps_numpy

    rng = np.random.default_rng(4)
    clouds = np.stack([fx.rand_cloud(rng, 150) for _ in range(3)])
    got = fps_numpy(clouds, 40)
    for b in range(3):
        np.testing.assert_array_equal(got[b], ref.fps(clouds[b].astype(np.float64), 40))
    assert fps_numpy(clouds, 200).shape == (3, 150)


def test_numpy_fps_agrees_with_the_project_op(fx):
    """The cache builder uses numpy FPS on CPU and i2pmae.ops on CUDA: both must pick the same points."""
    from i2pmae.data._io import fps_numpy
    from i2pmae.ops import farthest_point_sample

    clouds = np.stack([fx.rand_cloud(np.random.default_rng(k), 300) for k in range(4)])
    np.testing.assert_array_equal(fps_numpy(clouds, 64), farthest_point_sample(torch.from_numpy(clouds), 64).numpy())
