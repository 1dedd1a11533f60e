"""`i2pmae finetune` and `i2pmae evaluate` end to end (ModelNet40 HDF5 and ScanObjectNN OBJ-BG fixtures)."""

from __future__ import annotations

import json

import torch

from helpers_cli import FAST_TRAIN, TINY_ENCODER, read_metrics, run_cli

TINY_CLASSIFIER = [*TINY_ENCODER, "model.head_dim=16", *FAST_TRAIN, "train.epochs=2", "train.cosine_epochs=2"]


def _modelnet_h5(cli_data) -> list[str]:
    return ["data.dataset.format=modelnet40_h5", f"data.dataset.root={cli_data.modelnet_h5}",
            "data.dataset.npoints=256", "data.npoints=128", "data.point_all=160", "model.num_classes=3"]


def _check_finetune_run(run_dir, epochs: int) -> list[dict]:
    for name in ("config.yaml", "metrics.jsonl", "last.pth", "best.pth"):
        assert (run_dir / name).is_file(), name
    rows = read_metrics(run_dir)
    evals = [r for r in rows if "eval/acc" in r]
    assert [r["epoch"] for r in evals] == list(range(epochs))
    assert all(0.0 <= r["eval/acc"] <= 100.0 for r in evals)
    assert any("train_acc" in r for r in rows)
    best = torch.load(run_dir / "best.pth", weights_only=True)
    assert best["loop"]["best"] == max(r["eval/acc"] for r in evals)
    assert "cls_head_finetune.8.weight" in best["model"]
    return evals


def test_finetune_modelnet40_from_pretrained_then_evaluate_with_votes(cli_data, pretrained_run, tmp_path, capsys):
    run = tmp_path / "ft"
    code = run_cli("finetune", "-c", "finetune/modelnet40", "--pretrained", pretrained_run / "last.pth",
                   "--out", run, "--device", "cpu", *TINY_CLASSIFIER, *_modelnet_h5(cli_data))
    assert code == 0
    evals = _check_finetune_run(run, epochs=2)
    log = (run / "log.txt").read_text()
    assert f"loaded pre-trained weights {pretrained_run / 'last.pth'}" in log
    assert "best acc" in capsys.readouterr().out

    # evaluate with the run's own config: plain accuracy = the best epoch's test accuracy (same FPS test set).
    code = run_cli("evaluate", "-c", run / "config.yaml", "--checkpoint", run / "best.pth", "--vote",
                   "--out", tmp_path / "eval", "--device", "cpu", "evaluate.vote_repeats=2", "evaluate.votes=2")
    assert code == 0
    out = capsys.readouterr().out
    assert "acc:" in out and "vote_acc:" in out
    result = json.loads((tmp_path / "eval" / "evaluate.json").read_text())
    assert abs(result["acc"] - max(r["eval/acc"] for r in evals)) < 1e-6
    assert 0.0 <= result["vote_acc_mean"] <= result["vote_acc"] <= 100.0


def test_finetune_from_scratch_modelnet40(cli_data, tmp_path):
    run = tmp_path / "scratch"
    code = run_cli("finetune", "-c", "finetune/modelnet40", "--out", run, "--device", "cpu",
                   *TINY_CLASSIFIER, "train.epochs=1", *_modelnet_h5(cli_data))
    assert code == 0
    _check_finetune_run(run, epochs=1)
    assert "loaded pre-trained" not in (run / "log.txt").read_text()


def test_finetune_scan_objbg(cli_data, pretrained_run, tmp_path):
    odd = tmp_path / "run #1: copy" / "last.pth"  # a flag's path is literal text, not YAML (' #' is no comment)
    odd.parent.mkdir()
    odd.write_bytes((pretrained_run / "last.pth").read_bytes())
    for name, flags in (("pre", ["--pretrained", odd]), ("scratch", [])):
        run = tmp_path / name
        code = run_cli("finetune", "-c", "finetune/scan_objbg", *flags, "--out", run, "--device", "cpu",
                       *TINY_CLASSIFIER, "train.epochs=1", f"data.dataset.root={cli_data.scanobjectnn}",
                       "data.npoints=128")
        assert code == 0
        _check_finetune_run(run, epochs=1)
        assert (f"loaded pre-trained weights {odd}" in (run / "log.txt").read_text()) == (name == "pre")
        best = torch.load(run / "best.pth", weights_only=True)["model"]
        assert best["cls_head_finetune.8.weight"].shape == (15, 16)  # ScanObjectNN's 15 classes
        assert best["cls_head_finetune.0.weight"].shape == (16, 128)  # concat pooling: 2 x 64
