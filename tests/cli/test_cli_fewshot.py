"""`i2pmae fewshot` end to end: settings x folds, the mean +- std table, skipping finished folds."""

from __future__ import annotations

import json
import re

import numpy as np

from helpers_cli import FAST_TRAIN, TINY_ENCODER, run_cli


def test_fewshot_table_and_rerun_skips_finished_folds(cli_data, pretrained_run, tmp_path, capsys):
    out = tmp_path / "fewshot"
    argv = ["fewshot", "-c", "fewshot/modelnet40", "--pretrained", pretrained_run / "last.pth", "--out", out,
            "--device", "cpu", *TINY_ENCODER, "model.head_dim=16", *FAST_TRAIN, "train.epochs=1",
            "train.cosine_epochs=1", f"data.dataset.root={cli_data.fewshot}", "data.dataset.npoints=128",
            "data.npoints=128", "data.point_all=128", "fewshot.settings=[[2,2]]", "fewshot.folds=[0,1]"]
    assert run_cli(*argv) == 0
    folds = [out / "2way_2shot" / f"fold{f}" for f in (0, 1)]
    accs = [json.loads((d / "result.json").read_text())["best_acc"] for d in folds]
    assert all(0.0 <= a <= 100.0 for a in accs)
    table = (out / "fewshot.md").read_text()
    row = re.search(r"\| 2-way 2-shot \| ([\d.]+) ± ([\d.]+) \| 2 \|", table)
    assert row, table
    assert (row[1], row[2]) == (f"{np.mean(accs):.1f}", f"{np.std(accs):.1f}")  # population std over folds
    assert row[0] in capsys.readouterr().out
    for d in folds:  # every fold trained its own 2-way classifier
        assert (d / "best.pth").is_file() and (d / "metrics.jsonl").is_file()

    stamps = {d: ((d / "last.pth").stat().st_mtime_ns, (d / "metrics.jsonl").read_text()) for d in folds}
    assert run_cli(*argv) == 0
    assert {d: ((d / "last.pth").stat().st_mtime_ns, (d / "metrics.jsonl").read_text()) for d in folds} == stamps
    assert (out / "log.txt").read_text().count("already finished") == 2
    assert row[0] in (out / "fewshot.md").read_text()
