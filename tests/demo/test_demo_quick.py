"""A shortened `i2pmae demo` end to end: data, table 1 (one seed), report and figures."""

import json

from i2pmae.cli.main import main


def test_demo_shortened(tmp_path, capsys):
    data = tmp_path / "data"
    out = tmp_path / "demo"
    code = main([
        "demo", "--out", str(out), "--device", "cpu",
        f"data.root={data}", f"data.dataset.root={data}/ShapeNet55-34",
        f"data.svm.root={data}/modelnet40_ply_hdf5_2048",
        "synth.per_class=6", "synth.test_per_class=3", "data.dataset.fraction=1.0",
        "data.unseen.size=26", "data.unseen.test_size=13", "data.unseen.npoints=256",  # 2 + 1 shapes per family
        "train.epochs=1", "train.batch_size=8", "train.eval_every=1", "--seeds", "0",
    ])
    assert code == 0
    summary = json.loads((out / "table1.json").read_text())
    for variant in ("random_init", "w/o_2d", "i2p-mae"):
        assert len(summary["accuracy"][variant]) == 1
        assert 0.0 <= summary["accuracy"][variant][0] <= 100.0
    for variant in ("random_init", "w/o_2d", "i2p-mae"):  # both probes, and the C the SVM chose
        assert 0.0 <= summary["knn"][variant][0] <= 100.0 and summary["C_chosen"][variant][0] in summary["grid"]
    report = (out / "report.md").read_text()
    assert f"{summary['mean']['i2p-mae']:.2f}" in report and "10-NN" in report and "SVM C per seed" in report
    assert f"{summary['unseen']['mean']['i2p-mae']:.2f}" in report and "unseen families: 10-NN" in report
    for png in ("table1.png", "curves.png", "figure5.png"):
        assert (out / png).stat().st_size > 10_000, png
    printed = capsys.readouterr().out
    assert "report:" in printed and "(c) I2P-MAE" in printed
