"""`i2pmae segment` end to end on a 3-category ShapeNetPart fixture."""

from __future__ import annotations

import torch

from helpers_cli import FAST_TRAIN, TINY_ENCODER, read_metrics, run_cli

TINY_HEAD = ["model.propagation_dims=[32,32]", "model.label_dim=8", "model.head_dims=[32,16,16]"]


def test_segment_from_pretrained(cli_data, pretrained_run, tmp_path, capsys):
    run = tmp_path / "seg"
    code = run_cli("segment", "-c", "segmentation/shapenetpart", "--pretrained", pretrained_run / "last.pth",
                   "--out", run, "--device", "cpu", *TINY_ENCODER, *TINY_HEAD, *FAST_TRAIN, "train.epochs=1",
                   "train.cosine_epochs=1", f"data.dataset.root={cli_data.shapenetpart}", "data.dataset.npoints=128",
                   "evaluate.batch_size=2")
    assert code == 0
    rows = read_metrics(run)
    evals = [r for r in rows if "eval/instance_miou" in r]
    assert len(evals) == 1
    ev = evals[0]
    assert 0.0 < ev["eval/instance_miou"] <= 100.0 and 0.0 < ev["eval/class_miou"] <= 100.0
    # One test shape per category: the mean over shapes equals the mean over categories.
    assert abs(ev["eval/instance_miou"] - ev["eval/class_miou"]) < 1e-4
    log = (run / "log.txt").read_text()
    assert "9 training shapes, 3 test shapes" in log  # trainval = train + val of the 3 categories
    assert f"loaded pre-trained weights {pretrained_run / 'last.pth'}" in log
    best = torch.load(run / "best.pth", weights_only=True)
    assert best["loop"]["best"] == ev["eval/instance_miou"]
    pre = torch.load(pretrained_run / "last.pth", weights_only=True)["model"]
    assert any(k.startswith("h_encoder.") for k in best["model"])
    assert set(k for k in best["model"] if k.startswith("h_encoder.")) <= set(pre)  # encoder names match
    assert "best_class_miou" in capsys.readouterr().out


def test_segment_resume_keeps_best_class_miou_of_earlier_epochs(cli_data, tmp_path, capsys):
    """`segment ... train.max_steps=3` (stops in epoch 2), then `segment --resume`: the best class mIoU
    is a maximum over the whole run, including the epochs before the resume."""
    run = tmp_path / "seg"
    code = run_cli("segment", "--out", run, "--device", "cpu", *TINY_ENCODER, *TINY_HEAD, *FAST_TRAIN,
                   "train.epochs=2", "train.cosine_epochs=2", f"data.dataset.root={cli_data.shapenetpart}",
                   "data.dataset.npoints=128", "evaluate.batch_size=2", "train.max_steps=3")
    assert code == 0
    assert torch.load(run / "last.pth", weights_only=True)["loop"]["global_step"] == 3
    # Make the epoch before the interruption the best one by far (the fixture's mIoUs are close to each other).
    metrics = run / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    assert sum("eval/class_miou" in ln for ln in lines) == 1
    metrics.write_text("\n".join(ln.replace('"eval/class_miou": ', '"eval/class_miou": 99.5, "x": ')
                                 for ln in lines) + "\n")
    capsys.readouterr()
    assert run_cli("segment", "--resume", run, "--device", "cpu") == 0
    rows = read_metrics(run)
    assert rows[-1]["epoch"] == 1 and rows[-1]["eval/best_class_miou"] == 99.5
    assert "best_class_miou: 99.50" in capsys.readouterr().out
