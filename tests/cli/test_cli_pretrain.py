"""`i2pmae pretrain` end to end: I2P-MAE (2D-guided) and w/o 2D guidance, run artefacts, resume."""

from __future__ import annotations

import pytest
import torch

from helpers_cli import pretrain_args, read_metrics, run_cli
from i2pmae.engine.config import load_config


def _check_run(run_dir, epochs: int) -> tuple[list[dict], dict, dict]:
    """The artefacts every finished pre-training run has; returns (metrics rows, last.pth, best.pth)."""
    for name in ("config.yaml", "log.txt", "metrics.jsonl", "last.pth", "best.pth"):
        assert (run_dir / name).is_file(), name
    rows = read_metrics(run_dir)
    train_rows = [r for r in rows if "loss" in r]
    evals = [r for r in rows if "eval/svm_acc" in r]
    assert train_rows and all(torch.isfinite(torch.tensor(r["loss"])) for r in train_rows)
    assert [r["epoch"] for r in evals] == list(range(epochs))  # the SVM monitor ran after every epoch
    assert all(0.0 <= r["eval/svm_acc"] <= 100.0 for r in evals)
    last = torch.load(run_dir / "last.pth", weights_only=True)
    best = torch.load(run_dir / "best.pth", weights_only=True)
    assert {"model", "optimizer", "scaler", "rng", "loop", "config"} <= set(last)
    assert "optimizer" not in best  # best.pth holds weights only
    assert last["loop"]["epoch"] == epochs
    assert best["loop"]["best"] == max(r["eval/svm_acc"] for r in evals)
    assert last["model"].keys() == best["model"].keys()
    return train_rows, last, best


def test_pretrain_i2p_mae_tiny_vit_random(pretrained_run):
    rows, last, _ = _check_run(pretrained_run, epochs=2)
    cfg = load_config(pretrained_run / "config.yaml")
    assert cfg["teacher"]["name"] == "tiny-vit" and cfg["teacher"]["weights"] == "random"  # --teacher flag wins
    assert cfg["model"]["masking"] == "2d_guided" and cfg["model"]["encoder_dims"] == [16, 32, 64]
    assert all(r["loss_2d"] > 0 for r in rows)  # the 2D-semantic reconstruction is trained
    assert all(abs(r["loss"] - r["loss_3d"] - r["loss_2d"]) < 1e-4 for r in rows)
    # 2D targets have the tiny teacher's width: 3 views x feature_dim 16 (teacher.arch_overrides) per point.
    assert last["model"]["rec_head_2d.weight"].shape[0] % 48 == 0
    assert not any(k.startswith("teacher.") for k in last["model"])  # the frozen teacher is not saved


def test_pretrain_without_2d_guidance(cli_data, tmp_path):
    out = tmp_path / "w-o-2d"
    assert run_cli(*pretrain_args(cli_data, "pretrain/w-o-2d", out, "train.epochs=1", "train.cosine_epochs=1")) == 0
    rows, last, _ = _check_run(out, epochs=1)
    assert all(r["loss_2d"] == 0 and r["loss"] == r["loss_3d"] for r in rows)
    assert not any("2d" in k for k in last["model"])  # no 2D head, no teacher: 3D-only baseline


PROCEDURAL = "data.dataset={format: procedural, npoints: 128, size: 8, seed: 3, classes: 4}"


@pytest.mark.parametrize("data", [(), (PROCEDURAL,)], ids=["fixed-files", "procedural-fresh-every-epoch"])
def test_pretrain_resume_through_cli_matches_uninterrupted(cli_data, tmp_path, data):
    """`pretrain ... train.max_steps=1` then `pretrain --resume RUN` finishes with the uninterrupted weights,
    also when the shapes are drawn anew every epoch (``format: procedural``)."""
    extra = ("data.svm=null", *data)  # no SVM monitor: only the weights matter here
    full, split = tmp_path / "full", tmp_path / "split"
    assert run_cli(*pretrain_args(cli_data, "pretrain/w-o-2d", full, *extra)) == 0
    assert run_cli(*pretrain_args(cli_data, "pretrain/w-o-2d", split, *extra, "train.max_steps=1")) == 0
    stopped = torch.load(split / "last.pth", weights_only=True)["loop"]
    assert stopped["global_step"] == 1 and stopped["epoch"] == 0
    assert run_cli("pretrain", "--resume", split, "--device", "cpu") == 0
    a = torch.load(full / "last.pth", weights_only=True)
    b = torch.load(split / "last.pth", weights_only=True)
    assert b["loop"]["epoch"] == 2 and b["loop"]["global_step"] == a["loop"]["global_step"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert "resumed from" in (split / "log.txt").read_text()
    assert ("format: procedural" in (split / "config.yaml").read_text()) == bool(data)
