"""A killed run resumes to exactly the weights of an uninterrupted run (CPU, same seed)."""

import copy

import torch

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


def test_resume_across_epoch_boundary(tmp_path):
    root = write_shapenet55(tmp_path / "data", n=8)
    cfg = tiny_pretrain_config(root, epochs=3)  # 2 steps per epoch
    _run(cfg, tmp_path / "full")
    _run(dict(cfg, train=dict(cfg["train"], max_steps=3)), tmp_path / "split")
    _run(cfg, tmp_path / "split", resume=True)
    a = torch.load(tmp_path / "full" / "last.pth", weights_only=True)["model"]
    b = torch.load(tmp_path / "split" / "last.pth", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
