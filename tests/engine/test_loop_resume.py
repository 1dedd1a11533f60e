"""A killed run resumes to exactly the weights of an uninterrupted run (CPU, same seed)."""

import copy

import pytest
import torch
from torch import nn

from i2pmae.engine.distributed import init_distributed
from i2pmae.tasks.pretrain import run_pretrain
from i2pmae.engine.seeding import seed_everything

from helpers_loop import tiny_pretrain_config, write_shapenet55


def _run(cfg, run_dir, resume=False):
    seed_everything(cfg["train"]["seed"])
    return run_pretrain(copy.deepcopy(cfg), run_dir, init_distributed("cpu"), resume=resume)


def test_two_steps_plus_resume_two_equals_four_steps(tmp_path):
    root = write_shapenet55(tmp_path / "data", n=16)
    cfg = tiny_pretrain_config(root, epochs=1)  # 16 clouds / batch 4 = 4 steps
    full = _run(cfg, tmp_path / "full")
    assert full["global_step"] == 4

    interrupted = dict(cfg, train=dict(cfg["train"], max_steps=2))
    part = _run(interrupted, tmp_path / "split")
    assert part["stopped_early"] and part["global_step"] == 2
    torch.manual_seed(1234)  # the resumed process starts from a different RNG state
    resumed = _run(cfg, tmp_path / "split", resume=True)
    assert resumed["global_step"] == 4

    a = torch.load(tmp_path / "full" / "last.pth", weights_only=True)["model"]
    b = torch.load(tmp_path / "split" / "last.pth", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# fresh shapes every epoch (data.dataset.format: procedural): 8 per epoch, a pure function of (seed, epoch, index)
PROCEDURAL = {"format": "procedural", "npoints": 128, "size": 8, "seed": 3, "classes": 2}


@pytest.mark.parametrize("data", ["files", "procedural"])
def test_resume_across_epoch_boundary(tmp_path, data):
    root = write_shapenet55(tmp_path / "data", n=8)
    cfg = tiny_pretrain_config(root, epochs=3)  # 2 steps per epoch
    if data == "procedural":
        cfg["data"]["dataset"] = dict(PROCEDURAL)
    _run(cfg, tmp_path / "full")
    _run(dict(cfg, train=dict(cfg["train"], max_steps=3)), tmp_path / "split")
    _run(cfg, tmp_path / "split", resume=True)
    a = torch.load(tmp_path / "full" / "last.pth", weights_only=True)["model"]
    b = torch.load(tmp_path / "split" / "last.pth", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("workers", [0, 1])
def test_the_loop_sets_the_epoch_of_fresh_procedural_shapes(tmp_path, workers):
    """Every epoch of a run trains on that epoch's shapes (the loop's ``set_epoch`` reaches the dataset, also in
    DataLoader workers), and a resumed run replays the interrupted epoch's shapes."""
    from i2pmae.data import build_dataset
    from i2pmae.engine.loop import Task, train

    def run(run_dir, resume=False, max_steps=None):
        seen: list[str] = []

        def loss_fn(m, batch, gen):
            seen.extend(batch["name"])
            return m(batch["points"]).pow(2).mean(), {}

        cfg = tiny_pretrain_config(tmp_path, epochs=3, batch_size=2, num_workers=workers, max_steps=max_steps)
        ds = build_dataset(dict(PROCEDURAL, size=4), "train")
        torch.manual_seed(0)
        train(Task("t", nn.Linear(3, 1), ds, loss_fn), cfg, run_dir, init_distributed("cpu"), resume=resume)
        return seen

    full = run(tmp_path / "full")
    assert [sorted(full[4 * e:4 * e + 4]) for e in range(3)] == [[f"fresh{e}-{i}" for i in range(4)] for e in range(3)]
    part = run(tmp_path / "split", max_steps=3)  # stops in epoch 1, after its first step
    rest = run(tmp_path / "split", resume=True)
    assert part + rest == full
