"""benchmarks/step_sweep.py: ``report`` computes one mark's table over seeds (means, per-seed values, paired
tests) from the score rows it is given, a missing variant is a clear error (issue 21); the sweep runs with the
real corpus's config and probe on a tiny corpus written here (issue 23)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from helpers_real_corpus import TINY_CONFIG, tiny_corpus
from helpers_scripts import load_benchmark, unload_benchmark


@pytest.fixture(scope="module")
def sweep():
    yield load_benchmark("step_sweep")
    unload_benchmark("step_sweep")


def _row(variant: str, seed: int, step: int, svm: float, knn: float) -> dict:
    return {"variant": variant, "seed": seed, "step": step, "svm_acc": svm, "knn_acc": knn, "C_at_edge": False}


def test_report_table_over_seeds(sweep, tmp_path):
    rng = np.random.default_rng(3)
    acc = {v: rng.uniform(60, 100, size=(3, 2)) for v in ("random_init", "w/o_2d-fresh", "i2p-mae-fresh")}
    rows = [_row("random_init", s, 0, *acc["random_init"][s]) for s in range(3)]
    for v in ("w/o_2d-fresh", "i2p-mae-fresh"):
        rows += [_row(v, s, 1152, *acc[v][s]) for s in range(3)]
        rows += [_row(v, s, 576, 0.0, 0.0) for s in range(3)]  # another mark: must not be picked up
    rows.append(_row("w/o_2d", 0, 1152, 0.0, 0.0))  # a fixed-draw run: not part of the fresh sweep
    (tmp_path / "scores_reported.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sweep.main(["report", "--out", str(tmp_path), "--draw", "reported", "--marks", "1152"])
    table = json.loads((tmp_path / "report_reported_step1152.json").read_text())
    assert table["test"]["seeds"] == [0, 1, 2] and "unseen" not in table
    c, b = acc["i2p-mae-fresh"][:, 0], acc["w/o_2d-fresh"][:, 0]
    assert table["test"]["values"]["i2p-mae"]["svm"] == pytest.approx(list(c))
    test = table["test"]["paired_tests"]["i2p-mae - w/o_2d"]["svm"]
    assert test["mean_diff"] == pytest.approx(float(np.mean(c - b)))
    assert test["p"] == pytest.approx(float(stats.ttest_rel(c, b).pvalue))
    md = (tmp_path / "report_reported_step1152.md").read_text()
    assert f"{np.mean(c):.2f}" in md and "step 1152" in md


def test_report_refuses_missing_rows_and_marks(sweep, tmp_path):
    rows = [_row("random_init", 0, 0, 80.0, 70.0), _row("w/o_2d-fresh", 0, 72, 82.0, 71.0)]
    (tmp_path / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(SystemExit, match="i2p-mae-fresh"):
        sweep.main(["report", "--out", str(tmp_path), "--marks", "72"])
    with pytest.raises(SystemExit, match="exactly one step mark"):
        sweep.main(["report", "--out", str(tmp_path)])


def test_real_corpus_report_over_the_seeds_each_variant_has(sweep, tmp_path):
    rng = np.random.default_rng(5)
    rows, acc = [], {}
    for name in ("eval-ufoai", "eval-kicad"):
        for v, seeds in (("random_init", (0, 1, 2)), ("real-corpus-w/o_2d", (0,)), ("real-corpus-i2p-mae", (0, 1, 2))):
            acc[name, v] = rng.uniform(30, 90, size=(len(seeds), 2))
            step = 0 if v == "random_init" else 2304
            rows += [{**_row(v, s, step, *acc[name, v][k]), "set": name} for k, s in enumerate(seeds)]
            if v != "random_init":
                rows += [{**_row(v, s, 1152, 0.0, 0.0), "set": name} for s in seeds]  # another mark
    (tmp_path / "scores_real_corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sweep.main(["report", "--probe", "real-corpus", "--out", str(tmp_path), "--marks", "2304"])
    table = json.loads((tmp_path / "report_real_corpus_step2304.json").read_text())
    for name in ("eval-ufoai", "eval-kicad"):
        a, c = acc[name, "random_init"][:, 0], acc[name, "real-corpus-i2p-mae"][:, 0]
        assert table[name]["values"]["i2p-mae"]["svm"] == pytest.approx(list(c))
        t = table[name]["paired_tests"]["i2p-mae - random_init"]
        assert t["seeds"] == [0, 1, 2] and t["svm"]["p"] == pytest.approx(float(stats.ttest_rel(c, a).pvalue))
        one = table[name]["paired_tests"]["w/o_2d - random_init"]  # (b) has seed 0 only: no p
        assert one["seeds"] == [0] and one["svm"]["p"] is None
        assert one["svm"]["mean_diff"] == pytest.approx(acc[name, "real-corpus-w/o_2d"][0, 0] - a[0])
    md = (tmp_path / "report_real_corpus_step2304.md").read_text()
    assert "eval-kicad:" in md and "p = n/a, one seed" in md
    b = acc["eval-kicad", "real-corpus-w/o_2d"][0, 0]
    assert f"| w/o_2d | 0 | {b:.2f} (one seed) | {b:.2f} |" in md  # no std over one seed
    with pytest.raises(SystemExit, match="lacks random_init or pre-trained rows at step 576"):
        sweep.main(["report", "--probe", "real-corpus", "--out", str(tmp_path), "--marks", "576"])


def test_real_corpus_sweep_trains_scores_and_plots(sweep, tmp_path):
    corpus = tmp_path / "corpus"
    tiny_corpus(corpus, per_class=6, sets=("pretrain", "eval-ufoai", "eval-kicad"))
    config = tmp_path / "real-corpus.yaml"  # the run names take the config's stem
    config.write_text(TINY_CONFIG.replace("data: {npoints: 128}", f"""train: {{batch_size: 4}}
data: {{npoints: 128, dataset: {{root: {corpus}/pretrain, npoints: 128}}, svm: {{root: {corpus}/eval-ufoai, npoints: 128}}}}"""))
    out = tmp_path / "sweep"
    sweep.main(["train", "--config", str(config), "--variant", "w/o_2d", "--seed", "0", "--max-step", "3",
                "--out", str(out)])
    run = out / "runs" / "real-corpus-wo_2d-seed0"
    assert (run / "step3.pth").is_file() and not (run / "step36.pth").exists()
    import torch

    state = torch.load(run / "last.pth", weights_only=True)
    assert state["loop"]["global_step"] == 3
    assert state["config"]["train"]["epochs"] == 1  # 24 shapes / batch 4 = 6 steps an epoch cover the 3 steps
    sweep.main(["train", "--config", str(config), "--variant", "w/o_2d", "--seed", "0", "--max-step", "5",
                "--out", str(out)])  # a last mark off the doubling (as --max-step 5000), resumed from step 3
    assert torch.load(run / "step5.pth", weights_only=True)["loop"]["global_step"] == 5
    sweep.main(["score", "--probe", "real-corpus", "--config", str(config), "--corpus", str(corpus),
                "--folds", "2", "--seeds", "0", "--out", str(out)])
    rows = [json.loads(x) for x in (out / "scores_real_corpus.jsonl").read_text().splitlines()]
    assert {(r["variant"], r["step"], r["set"]) for r in rows} == {
        (v, s, n) for v, s in (("random_init", 0), ("real-corpus-w/o_2d", 3), ("real-corpus-w/o_2d", 5))
        for n in ("eval-ufoai", "eval-kicad")}
    assert all(r["folds"] == 2 and r["objects"] == 12 and 0 <= r["svm_acc"] <= 100 for r in rows)
    assert all(len(r["C"]) == 2 and isinstance(r["C_at_edge"], bool) for r in rows)
    sweep.main(["score", "--probe", "real-corpus", "--config", str(config), "--corpus", str(corpus),
                "--folds", "2", "--seeds", "0", "--out", str(out)])  # resumes: nothing left to score
    assert len((out / "scores_real_corpus.jsonl").read_text().splitlines()) == len(rows)
    sweep.main(["plot", "--out", str(out)])
    assert (out / "accuracy_vs_steps_eval-ufoai.png").is_file()
    assert "| 3 |" in (out / "accuracy_vs_steps_eval-kicad.md").read_text()  # the step-3 row of (b)
    assert "| 5 |" in (out / "accuracy_vs_steps_eval-kicad.md").read_text()
    with pytest.raises(ValueError, match="--folds must be >= 2, got 1"):  # the probe command's check, shared
        sweep.main(["score", "--probe", "real-corpus", "--config", str(config), "--corpus", str(corpus),
                    "--folds", "1", "--out", str(out)])
    with pytest.raises(SystemExit, match="quickstart config only"):
        sweep.main(["train", "--config", str(config), "--fresh", "--out", str(out)])


def test_plot_groups_runs_by_what_they_pretrained_on(sweep, tmp_path):
    assert sweep.split_variant("w/o_2d") == ("", "w/o_2d")
    assert sweep.split_variant("i2p-mae-fresh") == ("fresh", "i2p-mae")
    assert sweep.split_variant("real-corpus-w/o_2d") == ("real-corpus", "w/o_2d")
    assert sweep.split_variant("my-corpus-i2p-mae") == ("my-corpus", "i2p-mae")  # any config's stem
    rows = [_row("random_init", 0, 0, 70.0, 60.0), _row("w/o_2d-fresh", 0, 36, 71.5, 61.5),
            _row("my-corpus-w/o_2d", 0, 36, 80.0, 70.0), _row("my-corpus-i2p-mae", 0, 36, 85.0, 75.0)]
    (tmp_path / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sweep.main(["plot", "--out", str(tmp_path), "--seeds", "0"])
    fresh, mine = (tmp_path / "accuracy_vs_steps_fresh.md").read_text(), (tmp_path / "accuracy_vs_steps_my_corpus.md").read_text()
    assert "71.50" in fresh and "80.00" not in fresh and "85.00" not in fresh
    assert "80.00" in mine and "85.00" in mine and "71.50" not in mine
    assert not (tmp_path / "accuracy_vs_steps.md").exists()  # no fixed-draw runs, no fixed-draw figure


def test_score_makes_the_dev_draw_it_probes(sweep, tmp_path, monkeypatch):
    """A real-corpus sweep's OUT has no procedural data; scoring it on the dev split makes the dev draw there."""
    import i2pmae.tasks.experiment as experiment

    made = []

    def fake(cfg):
        made.append((cfg["data"]["root"], cfg["synth"]["seed"]))
        raise RuntimeError("stop here")

    monkeypatch.setattr(experiment, "ensure_synthetic_data", fake)
    with pytest.raises(RuntimeError, match="stop here"):
        sweep.main(["score", "--out", str(tmp_path / "sweep"), "--runs", "real-corpus-*"])
    assert made == [(str(tmp_path / "sweep" / "data"), 1)]


def test_reported_draw_is_the_quickstarts_own(sweep, tmp_path):
    """score --draw reported probes the quickstart's built-in draw (seed 0), the dev draw lives under OUT."""
    from i2pmae.engine.config import load_config

    quick = load_config("quickstart")
    dev = sweep.sweep_config(tmp_path, "w/o_2d", 0, 72, None, [])
    reported = sweep.sweep_config(tmp_path, "w/o_2d", 0, 72, None, [], draw="reported")
    assert dev["synth"]["seed"] == 1 and dev["data"]["unseen"]["seed"] == 1
    assert dev["data"]["svm"]["root"].startswith(str(tmp_path))
    assert reported["data"]["svm"] == quick["data"]["svm"] and reported["data"]["unseen"] == quick["data"]["unseen"]
    assert reported["synth"] == quick["synth"]
    assert reported["train"]["cosine_epochs"] == dev["train"]["cosine_epochs"] == 1000000  # the sweep's schedule
