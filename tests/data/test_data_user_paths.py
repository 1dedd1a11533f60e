"""Users' own data: caches and built-in data in the user cache, read-only datasets, text files that are not
clouds, the fraction log, early checks of configured data paths, hidden / ignored files."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from i2pmae.data import BadFileError, build_dataset
from i2pmae.data.paths import (builtin_data_root, check_data_paths, dataset_cache_dir, resolve_data_path,
                               user_cache_dir)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _set_writable(root: Path, writable: bool) -> None:
    for p in [root, *root.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_read_only_folder_dataset_caches_in_user_cache(tmp_path, fx, monkeypatch):
    cache = tmp_path / "usercache"
    monkeypatch.setenv("I2PMAE_CACHE", str(cache))
    root = tmp_path / "mine"
    fx.write_folder(root)
    before = _tree(root)
    _set_writable(root, False)
    try:
        cfg = {"format": "folder", "root": root, "npoints": 64}
        ds = build_dataset(cfg, "train")
        assert len(ds) == 11
        assert _tree(root) == before  # nothing written into the dataset (not even as root, who may write)
        cached = list(dataset_cache_dir(root, "folder").glob("train_*.npz"))
        assert len(cached) == 1 and cache in cached[0].parents

        import i2pmae.data.folder as fo

        monkeypatch.setattr(fo, "load_cloud", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-read")))
        again = build_dataset(cfg, "train")  # from the cache
        np.testing.assert_array_equal(again.points, ds.points)
    finally:
        _set_writable(root, True)


def test_cache_keyed_by_absolute_path_and_contents(tmp_path, fx, monkeypatch):
    monkeypatch.setenv("I2PMAE_CACHE", str(tmp_path / "c"))
    a, b = tmp_path / "a", tmp_path / "b"
    fx.write_folder(a)
    fx.write_folder(b)
    assert dataset_cache_dir(a, "folder") != dataset_cache_dir(b, "folder")
    monkeypatch.chdir(tmp_path)
    assert dataset_cache_dir("a", "folder") == dataset_cache_dir(a, "folder")  # relative = absolute
    cfg = {"format": "folder", "root": a, "npoints": 64}
    build_dataset(cfg, "train")
    victim = a / "mugs" / "a.npy"
    np.save(victim, np.random.default_rng(3).normal(size=(500, 3)).astype(np.float32))
    os.utime(victim, ns=(1, 1))
    build_dataset(cfg, "train")  # changed contents: a new cache, not the stale one
    assert len(list(dataset_cache_dir(a, "folder").glob("train_*.npz"))) == 2


def test_user_cache_dir_and_builtin_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("I2PMAE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "i2pmae"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert user_cache_dir() == Path.home() / ".cache" / "i2pmae"
    monkeypatch.setenv("I2PMAE_CACHE", str(tmp_path / "mine"))
    assert builtin_data_root() == tmp_path / "mine" / "procedural"
    assert resolve_data_path("$I2PMAE_CACHE/procedural/x") == tmp_path / "mine" / "procedural" / "x"
    assert resolve_data_path("${I2PMAE_CACHE}/p") == tmp_path / "mine" / "p"
    assert resolve_data_path("data/x") == Path("data/x")
    monkeypatch.delenv("I2PMAE_CACHE")  # unset: the default cache, not a literal '$I2PMAE_CACHE' folder
    assert resolve_data_path("$I2PMAE_CACHE/p") == Path.home() / ".cache" / "i2pmae" / "p"


def test_quickstart_data_generated_in_user_cache_not_cwd(tmp_path, monkeypatch):
    import json

    import i2pmae.data.synth as synth
    from i2pmae.engine.config import load_config
    from i2pmae.tasks.experiment import ensure_synthetic_data

    def fake_write(root, **kwargs):  # where the shapes would go is what matters here, not the shapes
        Path(root).mkdir(parents=True)
        (Path(root) / "synth.json").write_text(json.dumps(kwargs))
        return {"classes": ["box"], "train": 1, "test": 1}

    monkeypatch.setattr(synth, "write_synthetic", fake_write)
    monkeypatch.setenv("I2PMAE_CACHE", str(tmp_path / "cache"))
    cwd = tmp_path / "some_data_folder"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    cfg = load_config("quickstart")
    root = ensure_synthetic_data(cfg)
    assert root == builtin_data_root() == tmp_path / "cache" / "procedural" and (root / "synth.json").is_file()
    assert list(cwd.iterdir()) == []  # nothing generated in the working directory
    for key in ("dataset", "svm"):
        assert root in resolve_data_path(cfg["data"][key]["root"]).parents


def test_text_that_is_not_a_cloud_vs_a_truncated_cloud(tmp_path):
    from i2pmae.data._io import read_point_file

    licence = tmp_path / "LICENSE.txt"
    licence.write_text("MIT License\n\nCopyright (c) 2024 someone\nPermission is hereby granted, free of charge\n")
    with pytest.raises(BadFileError, match="not a point cloud: non-numeric text"):
        read_point_file(licence)
    truncated = tmp_path / "cut.txt"
    truncated.write_text("0 0 0\n1 0 0\n0 1 0\n0 0")
    with pytest.raises(BadFileError, match=r"rows have \[2, 3\] columns.*truncated"):
        read_point_file(truncated)
    header = tmp_path / "with_header.csv"
    header.write_text("x,y,z\n0,0,0\n1,0,0\n0,1,1\n")
    assert read_point_file(header).shape == (3, 3)


def test_fraction_below_one_is_logged(tmp_path, fx, caplog):
    fx.write_shapenet55(tmp_path, per_class=4)
    with caplog.at_level(logging.INFO, logger="i2pmae"):
        half = build_dataset({"format": "shapenet55", "root": tmp_path, "fraction": 0.5}, "train")
    assert len(half) == 6
    assert "using 50% of 12 shapes: 6 (data.dataset.fraction=0.5" in caplog.text


def test_check_data_paths_names_the_key_and_how_to_switch_off(tmp_path, fx, monkeypatch):
    fx.write_folder(tmp_path / "mine")
    monkeypatch.chdir(tmp_path)
    cfg = {"data": {"dataset": {"format": "folder", "root": str(tmp_path / "mine")},
                    "svm": {"format": "modelnet40_h5", "root": "data/procedural/modelnet40_ply_hdf5_2048"}}}
    with pytest.raises(FileNotFoundError) as err:
        check_data_paths(cfg)
    text = str(err.value)
    assert text.startswith("data.svm.root = data/procedural/modelnet40_ply_hdf5_2048 (relative to the working "
                           f"directory {tmp_path})")
    assert "data.svm=null" in text.splitlines()[0]
    with pytest.raises(FileNotFoundError, match="data.svm.root") as err:
        check_data_paths(cfg, optional=())
    assert "null" not in str(err.value)
    cfg["data"]["dataset"]["root"] = str(tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match="data.dataset.root"):
        check_data_paths(cfg, keys=("dataset",))
    cfg["data"]["svm"]["root"] = str(tmp_path / "mine")
    cfg["data"]["svm"]["format"] = "folder"
    check_data_paths(cfg, keys=("svm",))  # only the named section (`i2pmae svm` needs data.svm alone)
    cfg["data"]["dataset"]["root"] = str(tmp_path / "mine")
    cfg["data"]["svm"] = None
    check_data_paths(cfg)  # monitor off: nothing else to check
    cfg["data"]["dataset"]["format"] = "nope"
    with pytest.raises(ValueError, match="data.dataset: unknown data format"):
        check_data_paths(cfg)


def test_folder_hidden_files_and_ignored_loose_files(tmp_path, fx):
    from i2pmae.data.check import check_dataset

    root = tmp_path / "mine"
    fx.write_folder(root)
    rng = np.random.default_rng(0)
    np.save(root / "loose.npy", fx.rand_cloud(rng, 300))
    np.save(root / "chairs" / ".hidden.npy", fx.rand_cloud(rng, 300))
    (root / "chairs" / ".i2pmae_cache").mkdir()
    np.savez(root / "chairs" / ".i2pmae_cache" / "x.npz", names=np.array(["a"]))
    ds = build_dataset({"format": "folder", "root": root, "npoints": 64}, "train")
    assert len(ds) == 11 and not any(".hidden" in n or "cache" in n for n in ds.item_names())
    assert any("1 file(s) directly in" in n and "ignored" in n for n in ds.notes)
    report = check_dataset({"format": "folder", "root": root, "npoints": 64})
    assert any(line.startswith("warning: 1 file(s) directly in") for line in report.lines())
