"""Body of the 2-process gloo test (a plain module so spawned children can import it)."""

import os

import torch


class _BatchNormNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin, self.bn = torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)

    def extract_features(self, points: torch.Tensor) -> torch.Tensor:
        return self.bn(self.lin(points).max(dim=1).values)


def worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from i2pmae.engine import distributed as d
    from i2pmae.tasks.svm import extract_features

    info = d.init_distributed("cpu")
    try:
        res = {"info": (info.rank, info.world_size, info.local_rank, str(info.device), info.is_main),
               "is_dist": d.is_dist(), "is_main": d.is_main_process()}
        # uneven shards: rank r has 3 + 2r rows of (r * 100 + row index, ...)
        n = 3 + 2 * rank
        x = (torch.arange(n * 2, dtype=torch.float32).view(n, 2) + 100 * rank)
        res["gather"] = d.all_gather_tensors(x)
        res["gather_long"] = d.all_gather_tensors(torch.arange(rank + 1))
        res["gather_bool"] = d.all_gather_tensors(torch.tensor([rank == 0] * (rank + 2)))
        res["gather_scalar"] = d.all_gather_tensors(torch.tensor(float(rank)))
        empty = torch.zeros((0, 0)) if rank == 1 else torch.ones(2, 4)  # an empty last shard
        res["gather_empty"] = d.all_gather_tensors(empty)
        res["mean"] = d.all_reduce_mean(torch.tensor([1.0 + rank, 10.0 * rank]))
        res["reduce_dict"] = d.reduce_dict({"a": float(rank), "b": 2.0})
        res["reduce_sum"] = d.reduce_dict({"a": float(rank + 1)}, average=False)
        d.barrier()
        # features of an interleaved shard, gathered
        pts = torch.arange(7 * 4 * 3, dtype=torch.float32).view(7, 4, 3)
        mine = [(pts[i:i + 1], torch.tensor([i])) for i in range(rank, 7, world_size)]
        res["feats"] = extract_features(lambda p: p.sum(1), mine, "cpu")
        # DDP keeps replicas identical: different data per rank, same parameters after a step
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
        ddp = d.wrap_ddp(model, info, sync_bn=True)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        torch.manual_seed(rank + 1)
        ddp(torch.randn(8, 3)).pow(2).mean().backward()
        opt.step()
        res["params"] = torch.cat([p.detach().flatten() for p in model.parameters()])
        res["wrapped"] = type(ddp).__name__
        # BatchNorm statistics re-estimated on each rank's shard end up the same on every rank
        from i2pmae.tasks.svm_eval import recalibrate_batchnorm

        torch.manual_seed(0)
        net = _BatchNormNet()
        clouds = [{"points": torch.randn(5, 3, generator=torch.Generator().manual_seed(i)), "label": i % 2}
                  for i in range(8)]
        recalibrate_batchnorm(net, clouds, info, {"batch_size": 4})
        res["recal"] = torch.cat([net.bn.running_mean, net.bn.running_var])
        torch.save(res, os.path.join(out_dir, f"rank{rank}.pt"))
    except BaseException:
        d.cleanup(synchronize=False)
        raise
    d.cleanup()  # waits for the other rank before tearing gloo down
