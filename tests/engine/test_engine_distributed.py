"""Distributed helpers: single-process no-ops and a real 2-process gloo run."""

import socket
import sys
from pathlib import Path

import torch
import torch.multiprocessing as mp
from torch import nn

from i2pmae.engine import distributed as d


def test_single_process_defaults(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = d.init_distributed("cpu")
    assert (info.rank, info.world_size, info.local_rank, info.device, info.is_main) == (0, 1, 0, torch.device("cpu"), True)
    assert not info.distributed and not d.is_dist() and d.is_main_process()
    x = torch.randn(3, 2)
    assert d.all_gather_tensors(x) is x
    assert d.all_reduce_mean(x) is x
    assert d.reduce_dict({"b": torch.tensor(2.0), "a": 1}) == {"a": 1.0, "b": 2.0}
    d.barrier()
    model = nn.Linear(2, 2)
    assert d.wrap_ddp(model, info, sync_bn=True) is model
    d.cleanup()


def test_bad_environment_is_reported(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    try:
        d.init_distributed("cpu")
    except ValueError as exc:
        assert "RANK=5" in str(exc)
    else:
        raise AssertionError("expected a ValueError")
    monkeypatch.setenv("WORLD_SIZE", "two")
    try:
        d.init_distributed("cpu")
    except ValueError as exc:
        assert "WORLD_SIZE" in str(exc)
    else:
        raise AssertionError("expected a ValueError")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import engine_dist_worker

    mp.spawn(engine_dist_worker.worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    r = [torch.load(tmp_path / f"rank{i}.pt", weights_only=True) for i in range(2)]
    assert r[0]["info"] == (0, 2, 0, "cpu", True) and r[1]["info"] == (1, 2, 1, "cpu", False)
    assert r[0]["is_dist"] and r[0]["is_main"] and not r[1]["is_main"]
    # reference: what the ranks hold, concatenated in rank order
    shards = [torch.arange((3 + 2 * k) * 2, dtype=torch.float32).view(-1, 2) + 100 * k for k in range(2)]
    for res in r:
        assert torch.equal(res["gather"], torch.cat(shards))
        assert torch.equal(res["gather_long"], torch.tensor([0, 0, 1]))
        assert torch.equal(res["gather_bool"], torch.tensor([True, True, False, False, False]))
        assert torch.equal(res["gather_scalar"], torch.tensor([0.0, 1.0]))
        assert torch.equal(res["gather_empty"], torch.ones(2, 4))
        assert torch.allclose(res["mean"], torch.tensor([1.5, 5.0]))
        assert res["reduce_dict"] == {"a": 0.5, "b": 2.0} and res["reduce_sum"] == {"a": 3.0}
        feats, labels = res["feats"]
        pts = torch.arange(7 * 4 * 3, dtype=torch.float32).view(7, 4, 3)
        order = torch.tensor([0, 2, 4, 6, 1, 3, 5])  # rank 0's items, then rank 1's
        assert torch.equal(labels, order) and torch.allclose(feats, pts.sum(1)[order])
        assert res["wrapped"] == "DistributedDataParallel"
    assert torch.equal(r[0]["params"], r[1]["params"])
    assert torch.equal(r[0]["recal"], r[1]["recal"])  # one set of BatchNorm statistics for all ranks
    torch.manual_seed(0)
    from engine_dist_worker import _BatchNormNet

    net = _BatchNormNet()  # the same weights in one process: each rank's shard mean, averaged over ranks
    with torch.no_grad():
        shard_stats = []
        for rank in range(2):
            x = torch.stack([net.lin(torch.randn(5, 3, generator=torch.Generator().manual_seed(i))).max(0).values
                             for i in range(rank, 8, 2)])
            shard_stats.append(torch.cat([x.mean(0), x.var(0, unbiased=True)]))
    torch.testing.assert_close(r[0]["recal"], (shard_stats[0] + shard_stats[1]) / 2)
