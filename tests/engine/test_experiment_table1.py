"""The miniature Table 1: worker processes give the same runs as one after another; re-runs reuse them."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from i2pmae.cli.main import main
from i2pmae.engine.distributed import DistInfo
from i2pmae.tasks.experiment import paired_test, resolve_jobs, table1_markdown


def _args(out, data, jobs, *extra, seeds="0"):
    return [
        "experiment", "table1", "--out", str(out), "--device", "cpu", "--seeds", seeds, "--jobs", str(jobs), "--debug",
        f"data.root={data}", f"data.dataset.root={data}/ShapeNet55-34",
        f"data.svm.root={data}/modelnet40_ply_hdf5_2048", "synth.per_class=3", "synth.test_per_class=2",
        "data.dataset.fraction=1.0", "data.npoints=256", "data.dataset.npoints=256", "data.svm.npoints=256",
        "model.num_groups=[32,16,8]", "model.group_sizes=[8,4,4]",
        "train.epochs=1", "train.batch_size=16", "train.eval_every=1", UNSEEN, *extra,
    ]


# the transfer test of families pre-training never sees: 2 training and 1 test shape per family
UNSEEN = "data.unseen={format: procedural, unseen: true, size: 26, test_size: 13, npoints: 256}"


def _table1(out, data, jobs, *extra, seeds="0"):
    """A tiny table 1 (one epoch, small clouds); ``extra`` overrides go last."""
    return main(_args(out, data, jobs, *extra, seeds=seeds))


def test_parallel_runs_equal_sequential_runs(tmp_path):
    data = tmp_path / "data"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers run one thread each: same arithmetic order
    try:
        assert _table1(tmp_path / "seq", data, 1) == 0
    finally:
        torch.set_num_threads(threads)
    assert _table1(tmp_path / "par", data, 2) == 0
    seq = json.loads((tmp_path / "seq" / "table1.json").read_text())
    par = json.loads((tmp_path / "par" / "table1.json").read_text())
    assert seq["accuracy"] == par["accuracy"] and seq["knn"] == par["knn"] and seq["C_chosen"] == par["C_chosen"]
    assert seq["unseen"] == par["unseen"]
    for key in ("random_init", "w/o_2d", "i2p-mae"):  # both probes and the SVM's C for every encoder
        assert 0 <= par["knn"][key][0] <= 100 and par["C_chosen"][key][0] > 0
        for probe in ("accuracy", "knn"):  # and both on the unseen families
            assert 0 <= par["unseen"][probe][key][0] <= 100
    assert 0 <= par["unseen"]["teacher_svm"] <= 100 and par["unseen"]["data"]["unseen"] is True
    md = (tmp_path / "par" / "table1.md").read_text()
    assert "unseen families: linear SVM (%)" in md and "unseen families: 10-NN (%)" in md
    for run in ("wo_2d-seed0", "i2p-mae-seed0"):
        a = torch.load(tmp_path / "seq" / "runs" / run / "last.pth", weights_only=True)["model"]
        b = torch.load(tmp_path / "par" / "runs" / run / "last.pth", weights_only=True)["model"]
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{run}: {k}")
        assert (tmp_path / "par" / "runs" / run / "log.txt").is_file()  # each worker logs to its own run


def test_resolve_jobs():
    cpu = DistInfo()
    assert resolve_jobs(3, cpu, runs=6) == 3
    assert resolve_jobs(8, cpu, runs=2) == 2  # never more processes than runs
    assert resolve_jobs(None, cpu, runs=6) >= 1
    assert resolve_jobs(4, DistInfo(device=torch.device("cuda")), runs=6) == 1
    assert resolve_jobs(4, DistInfo(world_size=2), runs=6) == 1
    with pytest.raises(ValueError, match="--jobs"):
        resolve_jobs(0, cpu, runs=6)


def test_rerun_reuses_finished_runs_and_refuses_another_recipe(tmp_path, capsys):
    data = tmp_path / "data"
    out = tmp_path / "t1"
    assert _table1(out, data, 2) == 0
    first = json.loads((out / "table1.json").read_text())
    stamp = (out / "runs" / "i2p-mae-seed0" / "last.pth").stat().st_mtime_ns
    capsys.readouterr()
    assert _table1(out, data, 1) == 0
    assert "already trained" in capsys.readouterr().err  # the command's console log
    assert (out / "runs" / "i2p-mae-seed0" / "last.pth").stat().st_mtime_ns == stamp  # not trained again
    assert json.loads((out / "table1.json").read_text())["accuracy"] == first["accuracy"]
    saved = (out / "config.yaml").read_text()
    with pytest.raises(ValueError, match=r"another config \(train.lr: 0.0005 != 0.002"):
        _table1(out, data, 1, "train.lr=0.002")
    assert (out / "config.yaml").read_text() == saved  # refused before anything was written


def test_failed_worker_run_names_its_run_and_log(tmp_path):
    data = tmp_path / "data"
    with pytest.raises(RuntimeError, match=r"(?s)table 1 job failed \(seed 0, .*\).*see .*log\.txt"):
        _table1(tmp_path / "t1", data, 2, f"data.dataset.root={tmp_path}/missing")


def test_paired_test_matches_the_t_statistic_by_hand():
    b, c = [90.0, 91.0, 92.5, 93.0], [91.0, 93.5, 92.0, 95.0]
    d = [y - x for x, y in zip(b, c)]
    mean = sum(d) / 4
    sd = (sum((x - mean) ** 2 for x in d) / 3) ** 0.5
    out = paired_test(b, c)
    assert out["mean_diff"] == pytest.approx(mean) and out["std_diff"] == pytest.approx(sd)
    assert out["t"] == pytest.approx(mean / (sd / 2))
    assert 0 < out["p"] < 1 and paired_test(b, b)["p"] == 1.0 and paired_test([1.0], [2.0])["p"] is None


def test_markdown_reports_both_probes_the_chosen_c_and_the_paired_test():
    keys = ("random_init", "w/o_2d", "i2p-mae")
    summary = {"seeds": [0, 1], "C": "cv", "grid": [0.01, 1.0, 100.0], "standardize": True, "knn_k": 10,
               "accuracy": {k: [50.0 + i, 60.0 + i] for i, k in enumerate(keys)},
               "knn": {k: [40.0 + i, 45.0 + i] for i, k in enumerate(keys)},
               "C_chosen": {k: [1.0, 100.0 if k == "i2p-mae" else 1.0] for k in keys},
               "C_at_edge": {k: [False, k == "i2p-mae"] for k in keys},
               "mean": {k: 55.0 + i for i, k in enumerate(keys)}, "std": {k: 5.0 for k in keys},
               "knn_mean": {k: 42.5 + i for i, k in enumerate(keys)}, "knn_std": {k: 2.5 for k in keys},
               "paired_c_vs_b": {"svm": paired_test([51.0, 61.0], [52.0, 62.5]),
                                 "knn": paired_test([41, 46], [42, 47])},
               "teacher": "tiny-vit", "teacher_svm": 70.0, "teacher_knn": 65.0, "teacher_C": 1.0}
    md = table1_markdown(summary)
    assert "10-NN" in md and "42.50 ± 2.50" in md and "1, 100" in md
    assert "at the grid's edge for i2p-mae seed 1" in md and "p = " in md and "standardised" in md
    assert "BatchNorm running statistics as saved in each checkpoint" in md  # a table from before the setting
    for how, words in (("debiased", "without their initial value's share (debiased)"),
                       ("recalibrated", "re-estimated on the training split's clouds")):
        assert words in table1_markdown({**summary, "bn_statistics": how})


def test_unseen_family_probe_leaves_the_test_split_probe_unchanged(tmp_path):
    """The unseen-family columns come after the test split's probe, which gives the very same numbers as
    without them; a random-init encoder (no training) keeps this quick."""
    from i2pmae.engine.config import load_config
    from i2pmae.tasks.experiment import ensure_synthetic_data, probe_run

    data = tmp_path / "data"
    overrides = [a for a in _args(tmp_path, data, 1) if "=" in a and not a.startswith(("--", "train."))]
    cfg = load_config("quickstart", overrides + ["data.unseen=null"])
    ensure_synthetic_data(cfg)
    plain = probe_run(cfg, "random_init", 0, None, DistInfo())
    with_unseen = probe_run(load_config("quickstart", overrides), "random_init", 0, None, DistInfo())
    unseen = with_unseen.pop("unseen")
    assert "unseen" not in plain and with_unseen == plain
    assert 0 <= unseen["svm_acc"] <= 100 and 0 <= unseen["knn_acc"] <= 100


def test_markdown_shows_the_unseen_family_columns_and_tests():
    keys = ("random_init", "w/o_2d", "i2p-mae")
    part = {"accuracy": {k: [30.0 + i, 40.0 + i] for i, k in enumerate(keys)},
            "knn": {k: [20.0 + i, 25.0 + i] for i, k in enumerate(keys)},
            "mean": {k: 35.0 + i for i, k in enumerate(keys)}, "std": {k: 5.0 for k in keys},
            "knn_mean": {k: 22.5 + i for i, k in enumerate(keys)}, "knn_std": {k: 2.5 for k in keys}}
    unseen = {**part, "data": {"format": "procedural", "unseen": True, "size": 1040},
              "paired": {"b_vs_a": {"svm": paired_test([30.0, 40.0], [31.0, 41.5]),
                                    "knn": paired_test([20, 25], [21, 26])}},
              "teacher_svm": 61.5, "teacher_knn": 55.0, "teacher_C": 1.0}
    summary = {"seeds": [0, 1], "C": 0.01, "knn_k": 10, **part, "teacher": "tiny-vit", "teacher_svm": 70.0,
               "teacher_knn": 65.0, "teacher_C": 1.0}
    plain = table1_markdown(summary)
    assert "unseen" not in plain
    md = table1_markdown({**summary, "unseen": unseen})
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert len({row.count("|") for row in rows}) == 1 and rows[0].count("|") == 11  # 10 columns in every row
    assert "| 36.00 ± 5.00 | 31.00, 41.00 | 23.50 ± 2.50 | 21.00, 26.00 |" in rows[3]  # (b): unseen SVM, 10-NN
    assert "| 61.50 | | 55.00 | |" in rows[-1]  # the teacher on the unseen families
    assert "Unseen families, (b) − (a): linear SVM +1.25 points" in md and "size: 1040" in md
    for old, new in zip(plain.splitlines()[2:5], md.splitlines()[2:5]):
        assert new.startswith(old)  # the test split's columns as before, the unseen families' added


def _children(pid):
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the worker processes")
def test_workers_die_with_a_killed_parent(tmp_path):
    data = tmp_path / "data"
    args = _args(tmp_path / "t1", data, 2, "train.epochs=200", seeds="0,1")
    proc = subprocess.Popen([sys.executable, "-m", "i2pmae", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline, workers = time.time() + 90, []
        while time.time() < deadline and proc.poll() is None:
            workers = [w for w in _children(proc.pid)
                       if b"spawn_main" in Path(f"/proc/{w}/cmdline").read_bytes()]
            if len(workers) == 2 and any((tmp_path / "t1" / "runs").glob("*/log.txt")):
                break
            time.sleep(0.3)
        assert len(workers) == 2, "the table never started its two worker processes"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 5
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "workers outlived their killed parent"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_worker_console_shows_tagged_progress_lines_only(tmp_path, monkeypatch, capsys):
    """Without a terminal, `make demo` must show the workers' progress (tagged by run), not their whole log."""
    import logging

    import torch

    from i2pmae.tasks import experiment
    from i2pmae.engine.logging import ProgressLog

    monkeypatch.setenv("I2PMAE_PROGRESS", "1")  # restored after the test (the worker sets it to 0)
    threads = torch.get_num_threads()
    logger = logging.getLogger("i2pmae")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    run = tmp_path / "wo_2d-seed3"
    run.mkdir()
    try:
        experiment._worker_setup(str(run), threads)
        logging.getLogger("i2pmae").info("details for log.txt only")
        ProgressLog("pretrain", total_steps=4).update(4, samples=8, loss=0.5)
        logging.getLogger("i2pmae").warning("a warning")
        err = capsys.readouterr().err
    finally:
        for handler in list(logger.handlers):  # the worker's handlers point at this test's stderr and tmp_path
            if handler not in saved[0]:
                logger.removeHandler(handler)
                handler.close()
        logger.handlers[:], logger.propagate, logger.level = saved
        torch.set_num_threads(threads)
    assert "[wo_2d-seed3] pretrain step 4/4: loss 0.5" in err and "a warning" in err
    assert "details for log.txt only" not in err
    logged = (run / "log.txt").read_text()
    assert "details for log.txt only" in logged and "step 4/4" in logged
