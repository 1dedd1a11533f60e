"""Config keys and types are checked against one schema: typos and wrong types fail early and say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from i2pmae.engine.config import load_config, shipped_configs
from i2pmae.engine.schema import SCHEMA, config_problems


@pytest.mark.parametrize("name", shipped_configs())
def test_every_shipped_config_loads(name):
    assert config_problems(load_config(name)) == []


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text("_base_: pretrain/i2p-mae\n" + text)
    return path


@pytest.mark.parametrize("text, key, closest", [
    ("train:\n  epoch: 3\n", "train.epoch", "epochs"),
    ("train:\n  bach_size: 8\n", "train.bach_size", "batch_size"),
    ("trian:\n  epochs: 3\n", "trian", "train"),
    ("model:\n  num_head: 3\n", "model.num_head", "num_heads"),
    ("data:\n  dataset: {npoint: 3}\n", "data.dataset.npoint", "npoints"),
    ("data:\n  unseen: {format: procedural, unseen: true, tset_size: 3}\n", "data.unseen.tset_size", "test_size"),
    ("teacher:\n  name: clipp\n", "teacher.name", "clip-rn50"),
    ("svm:\n  c: 0.1\n", "svm.c", "C"),
])
def test_unknown_key_in_a_file_names_key_file_and_closest(tmp_path, text, key, closest):
    path = _yaml(tmp_path, text)
    with pytest.raises(ValueError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg and key in msg
    assert f"did you mean {closest!r}" in msg


@pytest.mark.parametrize("override, key", [
    ("train.epochs=four", "train.epochs"), ("train.lr=abc", "train.lr"), ("train.epoch=3", "train.epoch"),
    ("train.amp=fp64", "train.amp"), ("train.lr_schedule=linear", "train.lr_schedule"), ("pretrained=3", "pretrained"),
    ("svm.bn_statistics=running", "svm.bn_statistics"),
])
def test_bad_override_names_the_override_and_the_file(override, key):
    with pytest.raises(ValueError) as err:
        load_config("pretrain/i2p-mae", [override])
    msg = str(err.value)
    assert f"override {override!r}" in msg and "i2p-mae.yaml" in msg and key in msg


def test_wrong_type_in_a_file(tmp_path):
    path = _yaml(tmp_path, "train:\n  epochs: four\n")
    with pytest.raises(ValueError, match=r"exp.yaml: 'train.epochs' must be an integer, got 'four'"):
        load_config(path)


def test_schema_types_are_all_understood():
    """Every type string of the schema parses (a typo in the schema itself would only fail at use)."""
    from i2pmae.engine.schema import _type_ok

    for section in SCHEMA.values():
        for spec in ([section] if isinstance(section, str) else section.values()):
            _type_ok(None, spec)
