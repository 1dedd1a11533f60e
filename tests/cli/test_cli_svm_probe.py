"""`i2pmae svm` with `svm.C=cv` prints and stores the C it chose (not "cv") and the 10-NN accuracy (issue #15)."""

from __future__ import annotations

import json

from helpers_cli import TINY_PRETRAIN, run_cli
from i2pmae.tasks.svm import CV_GRID


def test_svm_cv_reports_the_chosen_c_and_knn(cli_data, tmp_path, capsys):
    out = tmp_path / "svm"
    code = run_cli("svm", "-c", "svm/modelnet40", "--out", out, "--device", "cpu", *TINY_PRETRAIN,
                   f"data.svm.root={cli_data.modelnet_h5}", "data.svm.npoints=128", "svm.C=cv",
                   "svm.standardize=true")
    assert code == 0
    result = json.loads((out / "svm.json").read_text())
    assert result["C_setting"] == "cv" and result["C"] in CV_GRID and result["standardize"] is True
    assert 0.0 <= result["knn_acc"] <= 100.0 and result["knn_k"] == 10
    printed = capsys.readouterr().out
    assert f"  C: {result['C']:.4g}" in printed or f"  C: {result['C']:.2f}" in printed
    assert "C: cv" not in printed and "knn_acc" in printed
