"""Two gloo processes train like one process with the same global batch."""

import copy
import json
import os
import socket

import torch
import torch.multiprocessing as mp

from helpers_loop import tiny_pretrain_config, write_shapenet55


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, cfg: dict, run_dir: str, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from i2pmae.engine.distributed import cleanup, init_distributed
    from i2pmae.engine.pretrain import run_pretrain
    from i2pmae.engine.seeding import seed_everything

    dist = init_distributed("cpu")
    seed_everything(cfg["train"]["seed"])
    steps = []
    for max_steps in (1, 2, 3, 4):  # stop after every step: weights are compared across ranks each time
        step_cfg = copy.deepcopy(cfg)
        step_cfg["train"]["max_steps"] = max_steps
        from pathlib import Path
        summary = run_pretrain(step_cfg, Path(run_dir), dist, resume=max_steps > 1)
        params = {k: v.detach().clone() for k, v in summary_model_state(run_dir, dist).items()}
        steps.append(params)
    torch.save(steps, os.path.join(out_dir, f"rank{rank}.pt"))
    cleanup()


def summary_model_state(run_dir, dist):
    import torch.distributed as tdist

    tdist.barrier()  # rank 0 has written last.pth
    return torch.load(os.path.join(run_dir, "last.pth"), weights_only=True)["model"]


def test_ddp_two_ranks_match_single_process_accumulation(tmp_path):
    root = write_shapenet55(tmp_path / "data", n=16)
    # single process: 2 micro-batches of 2 per step == 2 ranks x batch 2
    single_cfg = tiny_pretrain_config(root, batch_size=2, accum_steps=2, epochs=1)
    ddp_cfg = tiny_pretrain_config(root, batch_size=2, accum_steps=1, epochs=1)

    from i2pmae.engine.distributed import init_distributed
    from i2pmae.engine.pretrain import run_pretrain
    from i2pmae.engine.seeding import seed_everything

    seed_everything(0)
    run_pretrain(copy.deepcopy(single_cfg), tmp_path / "single", init_distributed("cpu"))

    port = _free_port()
    mp.spawn(_worker, args=(2, port, ddp_cfg, str(tmp_path / "ddp"), str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert len(rank0) == 4
    for step0, step1 in zip(rank0, rank1):  # identical weights on both ranks after every step
        for key in step0:
            assert torch.equal(step0[key], step1[key]), key

    def losses(run):
        rows = [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        return [r["loss"] for r in rows if "loss" in r]

    single_losses, ddp_losses = losses("single"), losses("ddp")
    assert len(single_losses) == len(ddp_losses) == 4
    torch.testing.assert_close(torch.tensor(ddp_losses), torch.tensor(single_losses), rtol=1e-4, atol=1e-5)
    single_w = torch.load(tmp_path / "single" / "last.pth", weights_only=True)["model"]
    for key, value in single_w.items():
        if value.is_floating_point() and "running" not in key:
            torch.testing.assert_close(rank0[-1][key], value, rtol=1e-4, atol=1e-5, msg=key)
