"""Config loading: _base_ merging, overrides, shipped names, error messages."""

from pathlib import Path

import pytest
import yaml

from i2pmae.engine import config as cfgmod
from i2pmae.engine.config import apply_overrides, get, load_config, save_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_base_deep_merge_child_wins(tmp_path):
    write(tmp_path / "base" / "common.yaml", "train:\n  lr: 1.0e-3\n  epochs: 300\n  betas: [0.9, 0.99]\nmodel:\n  dims: [96, 192, 384]\n")
    child = write(tmp_path / "exp.yaml",
                  "_base_: base/common.yaml\ntrain:\n  lr: 5e-4\n  betas: [0.8]\nextra_key: 7\n")
    cfg = load_config(child, validate=False)  # toy keys: the schema is tested below
    assert cfg["train"] == {"lr": 5e-4, "epochs": 300, "betas": [0.8]}  # lists replaced, not merged
    assert cfg["model"]["dims"] == [96, 192, 384]
    assert cfg["extra_key"] == 7
    assert "_base_" not in cfg


def test_exponent_without_dot_is_a_float(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", "a: 5e-4\nb: 1E6\nc: '5e-4'\nd: 1_000\ne: .5\n"), validate=False)
    assert cfg["a"] == 5e-4 and isinstance(cfg["a"], float)
    assert cfg["b"] == 1e6 and isinstance(cfg["b"], float)
    assert cfg["c"] == "5e-4"  # quoted stays a string
    assert cfg["d"] == 1000 and isinstance(cfg["d"], int)
    assert cfg["e"] == 0.5


def test_multiple_and_chained_bases(tmp_path):
    write(tmp_path / "a.yaml", "x: 1\ny: {p: 1, q: 1}\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\ny: {q: 2}\n")
    write(tmp_path / "c.yaml", "z: 3\ny: {p: 3}\n")
    cfg = load_config(write(tmp_path / "d.yaml", "_base_: [b.yaml, c.yaml]\nx: 4\n"), validate=False)
    assert cfg == {"x": 4, "y": {"p": 3, "q": 2}, "z": 3}


def test_overrides_parse_yaml_values(tmp_path):
    path = write(tmp_path / "c.yaml", "train: {lr: 0.1, epochs: 3}\n")
    cfg = load_config(path, ["train.lr=1e-4", "train.epochs=10", "train.amp=false", "data.list=[1, 2]",
                             "new.deep.key=hello", "train.name=a=b"], validate=False)
    assert cfg["train"]["lr"] == 1e-4
    assert cfg["train"]["epochs"] == 10
    assert cfg["train"]["amp"] is False
    assert cfg["data"]["list"] == [1, 2]
    assert cfg["new"]["deep"]["key"] == "hello"
    assert cfg["train"]["name"] == "a=b"  # split at the first '='


def test_override_through_non_mapping_names_file_and_key(tmp_path):
    path = write(tmp_path / "c.yaml", "train: {lr: 0.1}\n")
    with pytest.raises(ValueError) as err:
        load_config(path, ["train.lr.x=1"])
    msg = str(err.value)
    assert str(path) in msg and "train.lr" in msg and "not a mapping" in msg


@pytest.mark.parametrize("bad", ["noequals", "=3", "a..b=1", ".a=1"])
def test_malformed_overrides(bad):
    with pytest.raises(ValueError):
        apply_overrides({}, [bad])


def test_error_messages_name_the_file(tmp_path):
    broken = write(tmp_path / "broken.yaml", "a: [1, 2\n")
    with pytest.raises(ValueError, match="broken.yaml"):
        load_config(broken)
    lst = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ValueError, match="list.yaml.*mapping"):
        load_config(lst)
    missing_base = write(tmp_path / "mb.yaml", "_base_: nope.yaml\n")
    with pytest.raises(FileNotFoundError, match="mb.yaml.*nope.yaml"):
        load_config(missing_base)
    bad_base = write(tmp_path / "bb.yaml", "_base_: {a: 1}\n")
    with pytest.raises(ValueError, match="bb.yaml.*_base_"):
        load_config(bad_base)
    with pytest.raises(FileNotFoundError, match="no/such/config"):
        load_config(tmp_path / "no" / "such" / "config.yaml")


def test_base_cycle_is_reported(tmp_path):
    write(tmp_path / "a.yaml", "_base_: b.yaml\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(ValueError, match="cycle"):
        load_config(tmp_path / "a.yaml")


def test_shipped_names_are_resolved(tmp_path, monkeypatch):
    shipped = tmp_path / "configs"
    write(shipped / "pretrain" / "_common.yaml", "train: {epochs: 300, lr: 1.0e-3}\n")
    write(shipped / "pretrain" / "i2p-mae.yaml", "_base_: _common.yaml\nmodel: {name: I2PMAE}\n")
    write(shipped / "quickstart.yml", "train: {epochs: 1}\n")
    monkeypatch.setattr(cfgmod, "_package_config_dirs", lambda: [shipped])
    cfg = load_config("pretrain/i2p-mae", ["train.epochs=2"])
    assert cfg == {"train": {"epochs": 2, "lr": 1e-3}, "model": {"name": "I2PMAE"}}
    assert load_config("quickstart")["train"]["epochs"] == 1
    assert "pretrain/i2p-mae" in cfgmod.shipped_configs()
    with pytest.raises(FileNotFoundError, match="quickstart"):  # the message lists what is shipped
        load_config("pretrain/unknown")


def test_shipped_configs_live_inside_the_package():
    """A wheel carries only the package, so the configs must be in it; ``configs/`` at the checkout's
    root is a link to the same folder, never a second copy."""
    pkg = Path(cfgmod.__file__).resolve().parents[1]
    assert cfgmod._package_config_dirs() == [pkg / "configs"]
    assert (pkg / "configs" / "quickstart.yaml").is_file()
    root_link = pkg.parent / "configs"
    if root_link.exists():
        assert root_link.resolve() == (pkg / "configs").resolve()


def test_save_config_round_trip_and_get(tmp_path):
    cfg = {"train": {"lr": 5e-4, "betas": (0.9, 0.999), "epochs": 300}, "data": {"root": tmp_path / "d"},
           "flag": None}
    save_config(cfg, tmp_path / "run" / "config.yaml")
    back = load_config(tmp_path / "run" / "config.yaml", validate=False)
    assert back == {"train": {"lr": 5e-4, "betas": [0.9, 0.999], "epochs": 300},
                    "data": {"root": str(tmp_path / "d")}, "flag": None}
    assert list(back["train"]) == ["lr", "betas", "epochs"]  # order kept
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["lr"] == 5e-4
    assert get(back, "train.lr") == 5e-4
    assert get(back, "train.lr.x", "dflt") == "dflt"
    assert get(back, "missing.key", 3) == 3
    assert get(back, "flag", 1) is None
    assert not list((tmp_path / "run").glob("*.tmp"))
