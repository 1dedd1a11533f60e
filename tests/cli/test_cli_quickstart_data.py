"""`i2pmae pretrain -c quickstart` in a fresh environment makes the procedural shapes itself (issue 20),
as `demo` does; a missing dataset anywhere else is not generated, and its error says how to make one."""

from __future__ import annotations

import json

import torch

from helpers_cli import FAST_TRAIN, TINY_PRETRAIN, TINY_TEACHER, run_cli

# A small draw (15 classes x 2 shapes), the tiny network, one optimiser step (15 shapes // 8).
SMALL = ["synth.per_class=2", "synth.test_per_class=1", "train.epochs=1", *TINY_PRETRAIN, *TINY_TEACHER,
         *FAST_TRAIN, "train.batch_size=8"]


def test_quickstart_pretrain_generates_the_builtin_data(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    monkeypatch.setenv("I2PMAE_CACHE", str(cache))  # a fresh user cache: no procedural data yet
    out = tmp_path / "run"
    assert run_cli("pretrain", "-c", "quickstart", "--out", out, "--device", "cpu", *SMALL) == 0
    draw = json.loads((cache / "procedural" / "synth.json").read_text())
    assert draw["train"] == 30 and draw["test"] == 15  # the config's synth: section, with the overrides
    assert f"generating procedural shapes in {cache / 'procedural'}" in (out / "log.txt").read_text()
    assert torch.load(out / "last.pth", weights_only=True)["loop"]["global_step"] == 1
    capsys.readouterr()

    # A second run finds the draw and makes nothing.
    stamp = (cache / "procedural" / "synth.json").stat().st_mtime_ns
    again = tmp_path / "again"
    assert run_cli("pretrain", "-c", "quickstart", "--out", again, "--device", "cpu", *SMALL) == 0
    assert (cache / "procedural" / "synth.json").stat().st_mtime_ns == stamp
    assert "generating procedural shapes" not in (again / "log.txt").read_text()


def test_missing_data_elsewhere_is_not_generated_and_the_error_says_how(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("I2PMAE_CACHE", str(tmp_path / "cache"))
    mine = tmp_path / "mine"
    mine.mkdir()  # a user's folder without a draw: never written into
    overrides = [f"data.root={mine}", f"data.dataset.root={mine}/ShapeNet55-34", "data.svm=null"]
    assert run_cli("pretrain", "-c", "quickstart", "--out", tmp_path / "run", "--device", "cpu",
                   *SMALL, *overrides) == 1
    err = capsys.readouterr().err
    assert f"data.dataset.root = {mine}/ShapeNet55-34: no shapenet55 data there" in err
    assert f"`i2pmae data synth --out {mine}`" in err
    assert list(mine.iterdir()) == [] and not (tmp_path / "cache" / "procedural").exists()

    # The datasets read from another folder: the quickstart's data.root is not made either.
    other = tmp_path / "other"
    overrides = [f"data.dataset.root={other}", "data.svm=null"]
    assert run_cli("pretrain", "-c", "quickstart", "--out", tmp_path / "run2", "--device", "cpu",
                   *SMALL, *overrides) == 1
    assert f"`i2pmae data synth --out {other}`" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "procedural").exists()
