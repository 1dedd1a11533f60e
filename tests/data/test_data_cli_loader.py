"""`i2pmae data synth/check/layout` and build_loader (workers, epochs, distributed sampler)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from i2pmae.cli.main import main
from i2pmae.data import build_dataset, build_loader, set_loader_epoch


def test_cli_synth_then_check(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["data", "synth", "--out", str(out), "--per-class", "3", "--test-per-class", "1",
                 "--classes", "sphere,box,mug", "--seed", "4"]) == 0
    assert "9 train + 3 test" in capsys.readouterr().out
    assert main(["data", "check", str(out), "--format", "modelnet40_h5"]) == 0
    text = capsys.readouterr().out
    assert "train: 9 good, 0 bad" in text and "mug: 1 good" in text and text.strip().endswith("OK: 12 good, 0 bad")
    assert main(["data", "check", str(out), "--format", "shapenet55", "--split", "train"]) == 0
    assert "test:" not in capsys.readouterr().out

    victim = sorted((out / "ShapeNet55-34" / "shapenet_pc").glob("*.npy"))[1]
    victim.write_bytes(victim.read_bytes()[:500])
    assert main(["data", "check", str(out), "--format", "shapenet55"]) == 1
    text = capsys.readouterr().out
    assert victim.name in text and "truncated" in text and "FAILED: " in text and "1 bad" in text


def test_cli_check_missing_root_and_layout(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "none"), "--format", "scanobjectnn"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("i2pmae data check: error: scanobjectnn data") and "Expected layout" in err
    assert str(tmp_path / "none") in err and "Traceback" not in err
    assert main(["data", "layout", "shapenetpart"]) == 0
    assert "synsetoffset2category.txt" in capsys.readouterr().out


def test_cli_check_folder_with_options(tmp_path, fx, capsys):
    fx.write_folder(tmp_path / "mine")
    assert main(["data", "check", str(tmp_path / "mine"), "--format", "folder", "--npoints", "64",
                 "--set", "val_fraction=0.4"]) == 0
    text = capsys.readouterr().out
    assert "train: 7 good, 0 bad" in text and "test: 4 good, 0 bad" in text and "chairs: 2 good" in text


def _collect(loader) -> torch.Tensor:
    return torch.cat([b["points"] for b in loader])


def test_loader_reproducible_with_workers_and_epochs(tmp_path, fx):
    fx.write_shapenet55(tmp_path, per_class=3)
    ds = build_dataset({"format": "shapenet55", "root": tmp_path, "npoints": 64, "seed": 1}, "train")
    plain = build_loader(ds, batch_size=4, shuffle=True, num_workers=0, seed=5)
    workers = build_loader(ds, batch_size=4, shuffle=True, num_workers=2, seed=5)
    assert workers.persistent_workers and plain.pin_memory == torch.cuda.is_available()
    set_loader_epoch(workers, 0)
    a = _collect(workers)
    set_loader_epoch(plain, 0)
    b = _collect(plain)
    assert torch.equal(a, b)  # same order and same per-item draws, whichever process loads them
    set_loader_epoch(workers, 1)  # must reach the persistent workers
    c = _collect(workers)
    ds.set_epoch(1)
    expect = [ds[i]["points"] for i in range(len(ds))]
    rows = {tuple(x.flatten()[:6].tolist()) for x in expect}
    assert all(tuple(x.flatten()[:6].tolist()) in rows for x in c)
    assert not torch.equal(a, c)
    last = build_loader(ds, batch_size=4, drop_last=True)
    assert sum(1 for _ in last) == len(ds) // 4


def test_loader_uses_distributed_sampler_when_initialised(tmp_path, fx):
    import torch.distributed as dist

    fx.write_modelnet_h5(tmp_path)
    ds = build_dataset({"format": "modelnet40_h5", "root": tmp_path, "npoints": 16}, "train")
    assert not isinstance(build_loader(ds, 2).sampler, DistributedSampler)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        loader = build_loader(ds, 2, shuffle=True, seed=3)
        assert isinstance(loader.sampler, DistributedSampler) and loader.sampler.seed == 3
        set_loader_epoch(loader, 4)
        assert loader.sampler.epoch == 4 and ds.epoch == 4
        assert sorted(np.concatenate([b["label"].numpy() for b in loader]).tolist()) == sorted(ds.labels().tolist())
    finally:
        dist.destroy_process_group()


def test_fraction_keeps_a_seeded_subset(tmp_path, fx):
    fx.write_shapenet55(tmp_path, per_class=4)
    full = build_dataset({"format": "shapenet55", "root": tmp_path}, "train")
    cfg = {"format": "shapenet55", "root": tmp_path, "fraction": 0.5, "seed": 2}
    half, again = build_dataset(cfg, "train"), build_dataset(cfg, "train")
    assert len(half) == 6 and half.item_names() == again.item_names()
    assert set(half.item_names()) < set(full.item_names())
    with pytest.raises(ValueError, match="fraction"):
        build_dataset({**cfg, "fraction": 1.5}, "train")
