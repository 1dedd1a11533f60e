"""Bad input: missing roots show the layout; bad files and rows are named; error vs skip policy."""

from __future__ import annotations

import logging
import os
import pickle

import h5py
import numpy as np
import pytest

from i2pmae.data import BadFileError, build_dataset
from i2pmae.data._io import safe_pickle_load

FORMATS = {
    "shapenet55": ("ShapeNet55-34", "shapenet_pc"),
    "modelnet40": ("modelnet40_normal_resampled", "modelnet40_shape_names.txt"),
    "modelnet40_h5": ("modelnet40_ply_hdf5_2048", "ply_data_train0.h5"),
    "modelnet40_fewshot": ("ModelNetFewshot", "5way_10shot"),
    "scanobjectnn": ("main_split_nobg", "training_objectdataset_augmentedrot_scale75.h5"),
    "shapenetpart": ("synsetoffset2category.txt", "shuffled_train_file_list.json"),
    "folder": ("train/<class>/<file>", ".glb"),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_missing_root_prints_expected_layout(tmp_path, fmt):
    for root in (tmp_path / "nope", tmp_path):  # absent, and present but empty
        with pytest.raises(FileNotFoundError) as info:
            build_dataset({"format": fmt, "root": root}, "train")
        msg = str(info.value)
        assert "Expected layout" in msg and str(root) in msg
        for piece in FORMATS[fmt]:
            assert piece in msg


def test_unknown_options_and_policy_are_rejected(tmp_path, fx):
    fx.write_modelnet_h5(tmp_path)
    with pytest.raises(ValueError, match="unknown option"):
        build_dataset({"format": "modelnet40_h5", "root": tmp_path, "npionts": 10}, "train")
    with pytest.raises(ValueError, match="on_bad_file"):
        build_dataset({"format": "modelnet40_h5", "root": tmp_path, "on_bad_file": "ignore"}, "train")
    with pytest.raises(ValueError, match="unknown data format"):
        build_dataset({"format": "modelnet41", "root": tmp_path}, "train")


def test_shapenet55_truncated_nan_and_missing_files(tmp_path, fx, caplog):
    arrays = fx.write_shapenet55(tmp_path)
    pc = tmp_path / "ShapeNet55-34" / "shapenet_pc"
    names = sorted(n for n in arrays if not n.endswith("0002abcd.npy"))  # the training files
    raw = (pc / names[0]).read_bytes()
    (pc / names[0]).write_bytes(raw[: len(raw) // 2])  # truncated
    bad = arrays[names[1]].copy()
    bad[5, 1] = np.nan
    np.save(pc / names[1], bad)
    np.save(pc / names[2], arrays[names[2]][:100])  # too few points for 2048
    (pc / names[3]).unlink()  # listed but missing
    with pytest.raises(BadFileError, match=names[3]):
        build_dataset({"format": "shapenet55", "root": tmp_path}, "train")
    (pc / names[3]).write_bytes(b"not a numpy file at all")
    ds = build_dataset({"format": "shapenet55", "root": tmp_path}, "train")
    problems = {}
    for i, name in enumerate(ds.item_names()):
        try:
            ds[i]
        except BadFileError as err:
            problems[name + ".npy"] = str(err)
    assert set(problems) == set(names[:4])
    assert "truncated" in problems[names[0]] and names[0] in problems[names[0]]
    assert "NaN/Inf" in problems[names[1]]
    assert "too few points: 100" in problems[names[2]]
    assert "unreadable" in problems[names[3]]

    skip = build_dataset({"format": "shapenet55", "root": tmp_path, "on_bad_file": "skip"}, "train")
    with caplog.at_level(logging.WARNING, logger="i2pmae"):
        items = [skip[i] for i in range(len(skip))]
    good = {n for n in arrays if n not in names[:4] and not n.endswith("0002abcd.npy")}
    assert {it["name"] + ".npy" for it in items} == good  # bad ones replaced by good items
    assert all(np.isfinite(it["points"].numpy()).all() for it in items)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert all(n in logged for n in names[:4])


def test_h5_bad_rows_named_by_container_and_index(tmp_path, fx, caplog):
    fx.write_modelnet_h5(tmp_path)
    path = tmp_path / "modelnet40_ply_hdf5_2048" / "ply_data_train0.h5"
    with h5py.File(path, "r+") as f:
        data = f["data"][:]
        data[2, 7, 0] = np.inf
        data[3] = 0.5  # every point identical
        f["data"][...] = data
    with pytest.raises(BadFileError, match=r"ply_data_train0\.h5\[2\].*NaN/Inf"):
        build_dataset({"format": "modelnet40_h5", "root": tmp_path}, "train")
    with caplog.at_level(logging.WARNING, logger="i2pmae"):
        ds = build_dataset({"format": "modelnet40_h5", "root": tmp_path, "on_bad_file": "skip"}, "train")
    assert len(ds) == 5 and "ply_data_train0.h5[2]" not in ds.item_names()
    logged = [r.getMessage() for r in caplog.records]
    assert any("ply_data_train0.h5[3]" in m and "coincide" in m for m in logged)
    assert any("skipped 2 bad" in m for m in logged)  # the count at the end

    # a truncated container names the file; skip drops the whole container
    with h5py.File(path, "r+") as f:
        f["data"][...] = np.random.default_rng(0).normal(size=data.shape)
    (tmp_path / "modelnet40_ply_hdf5_2048" / "ply_data_train1.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(BadFileError, match=r"ply_data_train1\.h5: unreadable or truncated HDF5"):
        build_dataset({"format": "modelnet40_h5", "root": tmp_path}, "train")
    ds = build_dataset({"format": "modelnet40_h5", "root": tmp_path, "on_bad_file": "skip"}, "train")
    assert len(ds) == 4 and all(n.startswith("ply_data_train0.h5") for n in ds.item_names())


def test_scanobjectnn_missing_key_and_bad_label(tmp_path, fx):
    fx.write_scanobjectnn(tmp_path)
    path = tmp_path / "ScanObjectNN" / "main_split" / "test_objectdataset.h5"
    with h5py.File(path, "r+") as f:
        f["label"][0] = 99
    with pytest.raises(BadFileError, match=r"test_objectdataset\.h5\[0\]: label 99"):
        build_dataset({"format": "scanobjectnn", "root": tmp_path}, "test")
    with h5py.File(path, "r+") as f:
        del f["label"]
    with pytest.raises(BadFileError, match="missing key 'label'"):
        build_dataset({"format": "scanobjectnn", "root": tmp_path}, "test")


def test_dat_and_fewshot_bad_rows_and_truncation(tmp_path, fx):
    stored = fx.write_modelnet_dat(tmp_path, npoints=64)
    folder = tmp_path / "ModelNet" / "modelnet40_normal_resampled"
    points, labels = stored["train"]
    points[1][3, 2] = np.nan
    points[4] = points[4][:10]
    with open(folder / "modelnet40_train_64pts_fps.dat", "wb") as f:
        pickle.dump([points, labels], f)
    with pytest.raises(BadFileError, match=r"modelnet40_train_64pts_fps\.dat\[1\]"):
        build_dataset({"format": "modelnet40", "root": tmp_path, "npoints": 64}, "train")
    ds = build_dataset({"format": "modelnet40", "root": tmp_path, "npoints": 64, "on_bad_file": "skip"}, "train")
    assert len(ds) == 4 and [w for w, _ in ds.policy.bad] == [f"{folder}/modelnet40_train_64pts_fps.dat[1]",
                                                            f"{folder}/modelnet40_train_64pts_fps.dat[4]"]
    raw = (folder / "modelnet40_test_64pts_fps.dat").read_bytes()
    (folder / "modelnet40_test_64pts_fps.dat").write_bytes(raw[:-200])
    with pytest.raises(BadFileError, match="unreadable or truncated pickle"):
        build_dataset({"format": "modelnet40", "root": tmp_path, "npoints": 64}, "test")

    fx.write_fewshot(tmp_path, way=3, shot=2)
    pkl = tmp_path / "ModelNetFewshot" / "3way_2shot" / "0.pkl"
    data = safe_pickle_load(pkl)
    data["train"][2] = (np.zeros((0, 6), np.float32), 1, 2)
    with open(pkl, "wb") as f:
        pickle.dump(data, f)
    cfg = {"format": "modelnet40_fewshot", "root": tmp_path, "way": 3, "shot": 2}
    with pytest.raises(BadFileError, match=r"0\.pkl\[2\]: empty point cloud"):
        build_dataset(cfg, "train")
    assert len(build_dataset({**cfg, "on_bad_file": "skip"}, "train")) == 5


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("fmt", ["modelnet40", "modelnet40_fewshot"])
def test_restricted_unpickler_refuses_code(tmp_path, fx, fmt):
    marker = tmp_path / "pwned"
    if fmt == "modelnet40":
        folder = tmp_path / "ModelNet" / "modelnet40_normal_resampled"
        fx.write_modelnet_dat(tmp_path, npoints=64)
        target = folder / "modelnet40_train_64pts_fps.dat"
        payload = [[_Evil(marker)], [np.array([0], np.int32)]]
        cfg = {"format": fmt, "root": tmp_path, "npoints": 64}
    else:
        target = tmp_path / "ModelNetFewshot" / "5way_10shot" / "0.pkl"
        target.parent.mkdir(parents=True)
        payload = {"train": [(_Evil(marker), 0, 0)], "test": []}
        cfg = {"format": fmt, "root": tmp_path}
    with open(target, "wb") as f:
        pickle.dump(payload, f)
    with pytest.raises(BadFileError) as info:
        build_dataset(cfg, "train")
    assert target.name in str(info.value) and "system" in str(info.value) and "refusing" in str(info.value)
    assert not marker.exists()


def test_text_mesh_and_folder_problems_name_the_file(tmp_path, fx, caplog):
    import trimesh

    root = tmp_path / "mine"
    fx.write_folder(root)
    (root / "mugs" / "empty.txt").write_text("# nothing here\n")
    (root / "mugs" / "ragged.xyz").write_text("0 0 0\n1 1 1\n2 2\n")
    (root / "mugs" / "words.pts").write_text("0 0 0\n1 x 1\n2 2 2\n")
    (root / "mugs" / "few.npy").write_bytes(b"")  # zero bytes
    flat = trimesh.Trimesh(vertices=[[0, 0, 0], [1, 0, 0], [2, 0, 0]], faces=[[0, 1, 2]], process=False)
    flat.export(root / "chairs" / "flat.off")
    (root / "chairs" / "junk.stl").write_bytes(b"solid junk\n facet what\n")
    (root / "chairs" / "junk.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage")
    cfg = {"format": "folder", "root": root, "npoints": 64}
    with pytest.raises(BadFileError):
        build_dataset(cfg, "train")
    with caplog.at_level(logging.WARNING, logger="i2pmae"):
        ds = build_dataset({**cfg, "on_bad_file": "skip"}, "train")
    assert len(ds) == 11
    bad = dict(ds.policy.bad)
    keys = {os.path.basename(k): v for k, v in bad.items()}
    assert set(keys) == {"empty.txt", "ragged.xyz", "words.pts", "few.npy", "flat.off", "junk.stl",
                         "junk.glb"}
    assert "empty point cloud" in keys["empty.txt"]
    assert "columns" in keys["ragged.xyz"] and "non-numeric" in keys["words.pts"]
    assert "unreadable or truncated .npy" in keys["few.npy"]
    assert "zero surface area" in keys["flat.off"]
    assert "no vertices and no faces" in keys["junk.stl"]
    assert "trimesh could not read" in keys["junk.glb"]
    assert any("skipped 7 bad" in r.getMessage() for r in caplog.records)
    # too few points in a cloud file unless upsampling is asked for
    np.save(root / "mugs" / "tiny.npy", fx.rand_cloud(np.random.default_rng(0), 20))
    small = build_dataset({**cfg, "on_bad_file": "skip"}, "train")
    assert any("too few points: 20" in p for _, p in small.policy.bad)
    up = build_dataset({**cfg, "on_bad_file": "skip", "upsample": True}, "train")
    assert len(up) == len(small) + 1


def test_modelnet_text_cache_skip_then_repair(tmp_path, fx):
    clouds = fx.write_modelnet_txt(tmp_path, n=100)
    folder = tmp_path / "ModelNet" / "modelnet40_normal_resampled"
    victim = folder / "bed" / "bed_0001.txt"
    victim.write_text("1,2,3,4,5,6\n1,2,3\n")
    cfg = {"format": "modelnet40", "root": tmp_path, "npoints": 16}
    with pytest.raises(BadFileError, match="bed_0001.txt"):
        build_dataset(cfg, "train")
    skip = build_dataset({**cfg, "on_bad_file": "skip"}, "train")
    assert len(skip) == 5 and "bed_0001" not in skip.item_names()
    with pytest.raises(BadFileError, match="bed_0001.txt"):  # the cache remembers the bad file
        build_dataset(cfg, "train")
    np.savetxt(victim, clouds["bed_0001"], fmt="%.6f", delimiter=",")  # repaired: the cache is rebuilt
    assert len(build_dataset(cfg, "train")) == 6
