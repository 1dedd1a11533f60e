"""Two gloo processes train like one process with the same global batch.

Float32 rounding differs between "mean of two ranks' gradients" and "two half-weighted micro-batches",
and max-pooling plus BatchNorm make training chaotic enough that such differences grow over steps. So
every step is compared from the *same* starting state: the single-process run resumes from the
checkpoint the DDP run wrote one step earlier, and the loss and weights after that step must agree.
"""

import copy
import json
import os
import shutil
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from helpers_loop import tiny_pretrain_config, write_shapenet55

STEPS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, cfg: dict, run_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as tdist

    from i2pmae.engine.distributed import cleanup, init_distributed
    from i2pmae.tasks.pretrain import run_pretrain
    from i2pmae.engine.seeding import seed_everything

    dist = init_distributed("cpu")
    seed_everything(cfg["train"]["seed"])
    run_dir = Path(run_dir)
    for step in range(1, STEPS + 1):  # stop (with a checkpoint) after every step, then resume
        step_cfg = copy.deepcopy(cfg)
        step_cfg["train"]["max_steps"] = step
        run_pretrain(step_cfg, run_dir, dist, resume=step > 1)
        tdist.barrier()  # rank 0 has written last.pth
        weights = torch.load(run_dir / "last.pth", weights_only=True)["model"]
        params = {k: v for k, v in weights.items() if v.is_floating_point()}
        torch.save(params, run_dir / f"rank{rank}-step{step}.pt")
        if rank == 0:
            shutil.copy(run_dir / "last.pth", run_dir / f"step{step}.pth")
        tdist.barrier()
    cleanup()


def _losses(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


# fresh shapes every epoch (data.dataset.format: procedural): 8 per epoch = 2 steps, so the 4 steps span 2 epochs
PROCEDURAL = {"format": "procedural", "npoints": 128, "size": 8, "seed": 3, "classes": 2}


@pytest.mark.parametrize("data", ["files", "procedural"])
def test_ddp_two_ranks_match_single_process_accumulation(tmp_path, data):
    root = write_shapenet55(tmp_path / "data", n=16)
    # SGD: the update is linear in the gradient (Adam would magnify rounding noise of tiny gradients).
    sgd = dict(optimizer="sgd", lr=0.05, epochs=1 if data == "files" else 2)
    ddp_cfg = tiny_pretrain_config(root, batch_size=2, accum_steps=1, **sgd)  # 2 ranks x 2
    single_cfg = tiny_pretrain_config(root, batch_size=2, accum_steps=2, **sgd)  # 1 process x 2 micro-batches x 2
    if data == "procedural":
        ddp_cfg["data"]["dataset"] = single_cfg["data"]["dataset"] = dict(PROCEDURAL)
    ddp_dir = tmp_path / "ddp"
    mp.spawn(_worker, args=(2, _free_port(), ddp_cfg, str(ddp_dir)), nprocs=2, join=True)
    ddp_losses = _losses(ddp_dir)
    assert len(ddp_losses) == STEPS

    from i2pmae.engine.distributed import init_distributed
    from i2pmae.tasks.pretrain import run_pretrain
    from i2pmae.engine.seeding import seed_everything

    for step in range(1, STEPS + 1):
        rank0 = torch.load(ddp_dir / f"rank0-step{step}.pt", weights_only=True)
        rank1 = torch.load(ddp_dir / f"rank1-step{step}.pt", weights_only=True)
        for key in rank0:  # both ranks hold identical weights after every step
            assert torch.equal(rank0[key], rank1[key]), (step, key)

        single_dir = tmp_path / f"single{step}"
        single_dir.mkdir()
        if step > 1:
            shutil.copy(ddp_dir / f"step{step - 1}.pth", single_dir / "last.pth")
        cfg = copy.deepcopy(single_cfg)
        cfg["train"]["max_steps"] = step
        seed_everything(0)
        run_pretrain(cfg, single_dir, init_distributed("cpu"), resume=step > 1)
        single_loss = _losses(single_dir)[-1]
        assert abs(single_loss - ddp_losses[step - 1]) <= 1e-5 * abs(single_loss) + 1e-6, step
        single_w = torch.load(single_dir / "last.pth", weights_only=True)["model"]
        for key, value in rank0.items():
            if "running" in key:  # BatchNorm statistics: DDP broadcasts rank 0's, not the batch's
                continue
            torch.testing.assert_close(value, single_w[key], rtol=1e-4, atol=5e-5, msg=f"step {step} {key}")
