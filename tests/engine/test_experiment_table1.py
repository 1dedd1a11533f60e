"""The miniature Table 1: worker processes give the same runs as one after another; re-runs reuse them."""

import json

import pytest
import torch

from i2pmae.cli.main import main
from i2pmae.engine.distributed import DistInfo
from i2pmae.engine.experiment import resolve_jobs


def _table1(out, data, jobs, *extra):
    """A tiny table 1 (one seed, one epoch, small clouds); ``extra`` overrides go last."""
    return main([
        "experiment", "table1", "--out", str(out), "--device", "cpu", "--seeds", "0", "--jobs", str(jobs), "--debug",
        f"data.root={data}", f"data.dataset.root={data}/ShapeNet55-34",
        f"data.svm.root={data}/modelnet40_ply_hdf5_2048", "synth.per_class=3", "synth.test_per_class=2",
        "data.dataset.fraction=1.0", "data.npoints=256", "data.dataset.npoints=256", "data.svm.npoints=256",
        "model.num_groups=[32,16,8]", "model.group_sizes=[8,4,4]",
        "train.epochs=1", "train.batch_size=16", "train.eval_every=1", *extra,
    ])


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
    assert seq["accuracy"] == par["accuracy"]
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


def test_rerun_reuses_finished_runs_and_refuses_another_recipe(tmp_path, caplog):
    data = tmp_path / "data"
    out = tmp_path / "t1"
    assert _table1(out, data, 2) == 0
    first = json.loads((out / "table1.json").read_text())
    stamp = (out / "runs" / "i2p-mae-seed0" / "last.pth").stat().st_mtime_ns
    with caplog.at_level("INFO", logger="i2pmae"):
        assert _table1(out, data, 1) == 0
    assert "already trained" in caplog.text
    assert (out / "runs" / "i2p-mae-seed0" / "last.pth").stat().st_mtime_ns == stamp  # not trained again
    assert json.loads((out / "table1.json").read_text())["accuracy"] == first["accuracy"]
    with pytest.raises(ValueError, match=r"another config \(train.lr: 0.0005 != 0.002"):
        _table1(out, data, 1, "train.lr=0.002")


def test_failed_worker_run_names_its_run_and_log(tmp_path):
    data = tmp_path / "data"
    with pytest.raises(RuntimeError, match=r"(?s)table 1 job failed \(seed 0, .*\).*see .*log\.txt"):
        _table1(tmp_path / "t1", data, 2, f"data.dataset.root={tmp_path}/missing")
