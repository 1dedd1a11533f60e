"""Point files holding pickled objects are refused in our words, never with numpy's advice to load them with
``allow_pickle`` (issue 20; #14 removed the same advice for checkpoints)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from helpers_cli import run_cli
from i2pmae.data._io import load_npz, read_point_file
from i2pmae.data.errors import BadFileError

UNSAFE_ADVICE = ("allow_pickle", "pickle.load", "weights_only=False", "unsafely")


def _pickled_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (folder / "plain-pickle.npy").write_bytes(pickle.dumps([1.0, 2.0]))  # not even .npy: a bare pickle
    np.savez(folder / "objects.npz", points=np.array([{"a": 1}], dtype=object))
    return sorted(folder.glob("*.np*"))


def test_reader_names_the_file_and_gives_no_unsafe_advice(tmp_path):
    for path in _pickled_files(tmp_path / "bad"):
        with pytest.raises(BadFileError) as err:
            read_point_file(path)
        text = str(err.value)
        assert str(path) in text and "pickled Python objects, which i2pmae never loads" in text
        assert not any(a in text for a in UNSAFE_ADVICE), text
    junk = tmp_path / "junk.npy"  # numpy calls any header-less file "pickled data": it is just not a .npy
    junk.write_bytes(b"not a numpy file at all")
    with pytest.raises(BadFileError) as err:
        read_point_file(junk)
    assert "not a .npy file (no NumPy header)" in str(err.value) and "allow_pickle" not in str(err.value)
    with pytest.raises(ValueError) as err:  # our own caches, read the same way
        load_npz(tmp_path / "bad" / "objects.npz")
    assert "pickled Python objects" in str(err.value) and "allow_pickle" not in str(err.value)


def test_embed_skip_reports_pickled_files_without_unsafe_advice(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("I2PMAE_PROGRESS", "0")
    folder = tmp_path / "in"
    bad = _pickled_files(folder)
    np.save(folder / "good.npy", np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32))
    out = tmp_path / "f.npy"
    assert run_cli("embed", folder, "--random-init", "-c", "quickstart", "--npoints", "128", "--on-bad-file",
                   "skip", "--out", out, "--device", "cpu") == 0
    err = capsys.readouterr().err
    assert np.load(out).shape[0] == 1
    for path in bad:
        assert f"{path}: holds pickled Python objects" in err
    assert not any(a in err for a in UNSAFE_ADVICE), err
